"""Published figures beside ours (`reference.py`): R1's Table 5 as data with its source, the verdict of each
figure against our interval on hand-made results.json files, the table the report and `compare` print, the row
picked from the model evaluated, and an unknown `--reference` refused."""

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_paired import one_sample, write_evaluation

from r1recipes import RecipeError
from r1recipes.evaluation import report
from r1recipes.evaluation.compare import main as compare_main
from r1recipes.evaluation.reference import ABOVE, BELOW, TABLE5, WITHIN, departures, lines_of, load, verdict

ROOT = Path(__file__).resolve().parents[1]
QWEN_1_5B = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
R1 = {"num_samples": 4, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 32768, "seed": 0, "max_problems": None}
SOURCE = (
    'Source: DeepSeek-AI, "DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via Reinforcement Learning" '
    '(2025), arXiv:2501.12948, Table 5: "Comparison of DeepSeek-R1 distilled models and other comparable models on '
    'reasoning-related benchmarks" (https://arxiv.org/abs/2501.12948). Its protocol: max_new_tokens 32768, '
    "temperature 0.6, top_p 0.95; pass@1 averaged over k samples per problem (k from 4 to 64 by test set size; the "
    "repository's README says 64), cons@64 a majority vote of 64 samples."
)
VALID = (
    "DeepSeek-R1-Distill-Qwen-1.5B, DeepSeek-R1-Distill-Qwen-7B, DeepSeek-R1-Distill-Qwen-14B, "
    "DeepSeek-R1-Distill-Qwen-32B, DeepSeek-R1-Distill-Llama-8B, DeepSeek-R1-Distill-Llama-70B"
)


def scores(pass1: float, ci: tuple, problems: int = 30, k: int = 4, **more) -> dict:
    """A benchmark's entry of results.json; `more`: other metrics as key=(value, ci), maj_64 for maj@64."""
    entry = {"problems": problems, "num_samples": k, "samples": problems * k, "pass@1": pass1, "ci95": {"pass@1": ci}}
    for key, (value, interval) in more.items():
        entry[key.replace("_", "@")] = value
        entry["ci95"][key.replace("_", "@")] = interval
    return {**entry, "mean_length": 1000, "truncated": 0.0, "no_answer": 0.0}


def results(model: str, benchmarks: dict, **config) -> dict:
    return {"model": model, "config": {**R1, **config}, "benchmarks": benchmarks}


def write(folder: Path, found: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(found))
    return folder


def test_the_table_is_r1s_table5_with_its_source_and_is_packaged():
    table = load()
    assert list(table.rows) == VALID.split(", ")
    qwen_1_5b, qwen_7b = table.rows["DeepSeek-R1-Distill-Qwen-1.5B"], table.rows["DeepSeek-R1-Distill-Qwen-7B"]
    assert qwen_1_5b.model == QWEN_1_5B and qwen_7b.model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert list(qwen_1_5b.figures.values()) == [28.9, 52.7, 83.9, 33.8, 16.9, 954]
    assert list(qwen_7b.figures.values()) == [55.5, 83.3, 92.8, 49.1, 37.6, 1189]
    assert list(table.rows["DeepSeek-R1-Distill-Llama-70B"].figures.values()) == [70.0, 86.7, 94.5, 65.2, 57.5, 1633]
    assert all(row.model == f"deepseek-ai/{name}" for name, row in table.rows.items())
    assert [(c.name, c.benchmark, c.metric) for c in table.columns] == [
        ("AIME 2024 pass@1", "aime24", "pass@1"),
        ("AIME 2024 cons@64", "aime24", "maj@64"),
        ("MATH-500 pass@1", "math500", "pass@1"),
        ("GPQA Diamond pass@1", "gpqa_diamond", "pass@1"),
        ("LiveCodeBench pass@1", "livecodebench", "pass@1"),
        ("CodeForces rating", None, None),
    ]
    assert table.settings == {"max_new_tokens": 32768, "temperature": 0.6, "top_p": 0.95}
    assert table.source_line() == SOURCE
    # a wheel carries it: setup.cfg's package data names it
    package_data = configparser.ConfigParser()
    package_data.read(ROOT / "setup.cfg")
    package = ROOT / "src" / "r1recipes" / "evaluation"
    patterns = package_data["options.package_data"]["r1recipes.evaluation"].split()
    assert TABLE5 in {path for pattern in patterns for path in package.glob(pattern)}


def test_a_table_file_with_an_unknown_key_or_a_missing_figure_is_refused(tmp_path):
    text = TABLE5.read_text()
    bad = tmp_path / "unknown.yaml"
    bad.write_text(text.replace("metric: pass@1, problems: 30}", "metric: pass@1, problem: 30}", 1))
    with pytest.raises(RecipeError, match=r"columns\[0\]: unknown key 'problem' \(valid keys: name, benchmark"):
        load(bad)
    bad = tmp_path / "short.yaml"
    bad.write_text(text.replace("[28.9, 52.7, 83.9, 33.8, 16.9, 954]", "[28.9, 52.7, 83.9, 33.8, 16.9]"))
    with pytest.raises(RecipeError, match="rows.DeepSeek-R1-Distill-Qwen-1.5B has 5 figures for 6 columns"):
        load(bad)


@pytest.mark.parametrize(
    "interval, expected",
    [
        ((0.166, 0.479), WITHIN),
        ((0.2886, 0.40), WITHIN),  # 28.9 as shown: the verdict is at the table's precision, 0.1 points
        ((0.10, 0.289), WITHIN),
        ((0.10, 0.2884), ABOVE),  # shown as 28.8
        ((0.2951, 0.50), BELOW),  # 29.5
        (None, "no 95% interval in results.json"),
    ],
)
def test_the_papers_figure_against_our_interval(interval, expected):
    assert verdict(28.9, interval, []) == expected


def test_verdicts_of_an_evaluation_on_each_column_it_shares_with_the_row():
    table = load()
    row = table.rows["DeepSeek-R1-Distill-Qwen-1.5B"]
    found = results(QWEN_1_5B, {
        "aime24": scores(0.30, (0.166, 0.479), k=64, maj_64=(0.5, (0.332, 0.668))),  # inside, inside
        "math500": scores(0.80, (0.763, 0.832), problems=500),  # 83.9 above
        "gpqa_diamond": scores(0.45, (0.38, 0.52), problems=198),  # 33.8 below
        "gsm8k": scores(0.9, (0.8, 0.95), problems=1319),  # not in the table: no line
    })  # fmt: skip
    lines = lines_of(table, row, {"hub": found})
    assert [(ln.column.name, ln.ours, ln.interval, ln.paper, ln.verdict) for ln in lines] == [
        ("AIME 2024 pass@1", 0.30, (0.166, 0.479), 28.9, WITHIN),
        ("AIME 2024 cons@64", 0.5, (0.332, 0.668), 52.7, WITHIN),
        ("MATH-500 pass@1", 0.80, (0.763, 0.832), 83.9, ABOVE),
        ("GPQA Diamond pass@1", 0.45, (0.38, 0.52), 33.8, BELOW),
    ]


def test_a_departure_from_the_papers_protocol_is_not_compared_and_named():
    table = load()
    row = table.rows["DeepSeek-R1-Distill-Qwen-1.5B"]
    found = results(QWEN_1_5B, {
        "aime24": scores(0.30, (0.166, 0.479), maj_4=(0.4, (0.2, 0.6))),  # 4 samples: no maj@64
        "math500": scores(0.5, (0.2, 0.8), problems=8),  # a subset of the 500
        "livecodebench": scores(0.2, (0.1, 0.3), problems=10),  # no count in the table: max_problems says
    }, max_new_tokens=4096, temperature=1.0, max_problems=10)  # fmt: skip
    settings = "max_new_tokens 4096 (the paper's 32768), temperature 1.0 (the paper's 0.6)"
    assert [(ln.column.name, ln.ours, ln.verdict) for ln in lines_of(table, row, {"ours": found})] == [
        ("AIME 2024 pass@1", 0.30, f"not comparable: {settings}"),
        ("AIME 2024 cons@64", None, f"not comparable: {settings}, 4 samples per problem (the paper's 64)"),
        ("MATH-500 pass@1", 0.5, f"not comparable: {settings}, 8 problems (the paper's 500)"),
        ("LiveCodeBench pass@1", 0.2, f"not comparable: {settings}, max_problems 10 (the paper's every problem)"),
    ]
    # with R1's settings only the count of samples or problems is left
    same = results(QWEN_1_5B, {"aime24": scores(0.3, (0.2, 0.4), problems=29, k=4)})
    aime, cons = table.columns[:2]
    assert departures(same, "aime24", aime, table.settings) == ["29 problems (the paper's 30)"]
    assert departures(same, "aime24", cons, table.settings) == [
        "29 problems (the paper's 30)", "4 samples per problem (the paper's 64)"
    ]  # fmt: skip


def test_the_row_is_picked_from_the_model_evaluated():
    table = load()
    assert table.row_of(QWEN_1_5B).name == "DeepSeek-R1-Distill-Qwen-1.5B"
    assert table.row_of("DEEPSEEK-AI/deepseek-r1-distill-qwen-7b").name == "DeepSeek-R1-Distill-Qwen-7B"
    assert table.row_of("runs/models/DeepSeek-R1-Distill-Llama-8B/").name == "DeepSeek-R1-Distill-Llama-8B"
    for other in ("Qwen/Qwen2.5-Math-1.5B", "runs/Qwen2.5-7B/distill_Qwen2.5-Math-1.5B", ""):
        assert table.row_of(other) is None
    assert table.row("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B").name == "DeepSeek-R1-Distill-Qwen-32B"
    with pytest.raises(RecipeError) as error:
        table.row("DeepSeek-R1-Distill-Qwen-3B")
    assert str(error.value) == f"unknown reference 'DeepSeek-R1-Distill-Qwen-3B' (valid: {VALID})"


def test_the_report_of_an_evaluation_of_a_tables_model_sets_its_row_beside(tmp_path, capsys):
    found = results(QWEN_1_5B, {
        "aime24": scores(0.30, (0.166, 0.479), k=64, maj_64=(0.5, (0.332, 0.668))),
        "math500": scores(0.80, (0.763, 0.832), problems=500),
        "gsm8k": scores(0.9, (0.8, 0.95), problems=1319),
    })  # fmt: skip
    folder = write(tmp_path / "runs" / "eval" / "deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B",
                   {**found, "git_commit": "0123456789abcdef"})  # fmt: skip
    report.main([str(folder)])
    out = capsys.readouterr().out
    text = (folder / "report.md").read_text()
    name = folder.name
    published = [
        f"DeepSeek-R1-Distill-Qwen-1.5B (`{QWEN_1_5B}`) in DeepSeek-R1's Table 5, the row of the model evaluated:",
        "",
        "| evaluation | benchmark (metric) | paper's column | ours [95% CI] | paper | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {name} | aime24 (pass@1) | AIME 2024 pass@1 | 30.0% [16.6, 47.9] | 28.9% | within our 95% interval |",
        f"| {name} | aime24 (maj@64) | AIME 2024 cons@64 | 50.0% [33.2, 66.8] | 52.7% | within our 95% interval |",
        f"| {name} | math500 (pass@1) | MATH-500 pass@1 | 80.0% [76.3, 83.2] | 83.9% | above our 95% interval |",
        "",
        SOURCE,
        "The row's other columns: GPQA Diamond pass@1 33.8 (gpqa_diamond not evaluated); LiveCodeBench pass@1 16.9 "
        "(livecodebench not evaluated); CodeForces rating 954 (no benchmark here).",
        "Not in Table 5: gsm8k.",
    ]
    assert "\n".join(["## Published figures", "", *published, ""]) in text
    assert "\n".join(published) in out
    # one evaluation folder: its evaluation, the published figures and the plot; no stages
    assert text.startswith(f"# Report: {name}\n\nEvaluation folder `{folder}` of `{QWEN_1_5B}`, report generated ")
    assert "evaluated at git commit 0123456789ab." in text
    assert (
        f"| evaluation | aime24 | gsm8k | math500 |\n| --- | --- | --- | --- |\n| {name} | 30.0% [16.6, 47.9]" in text
    )
    assert "K=64 (aime24), 4 (gsm8k, math500) samples per problem, temperature 0.6, max_new_tokens 32768." in text
    assert [h for h in text.splitlines() if h.startswith("## ")] == ["## Evaluation", "## Published figures",
                                                                   "## Plots"]  # fmt: skip
    assert (folder / "plots" / "pass_at_1.png").is_file()


def test_a_named_reference_goes_beside_every_evaluation_of_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    write(run / "eval" / "base", results("Qwen/Qwen2.5-Math-7B", {"aime24": scores(0.1, (0.03, 0.26))}))
    write(run / "eval" / "stage2", results("run/stage2", {"aime24": scores(0.6, (0.42, 0.75))}, temperature=1.0))
    report.main([str(run)])
    assert "## Published figures" not in (run / "report.md").read_text()  # no model of the table's
    capsys.readouterr()
    report.main([str(run), "--reference", "DeepSeek-R1-Distill-Qwen-7B"])
    out = capsys.readouterr().out
    assert "DeepSeek-R1-Distill-Qwen-7B (`deepseek-ai/DeepSeek-R1-Distill-Qwen-7B`) in DeepSeek-R1's Table 5, " \
           "named with --reference:" in out  # fmt: skip
    assert "| base | aime24 (pass@1) | AIME 2024 pass@1 | 10.0% [3.0, 26.0] | 55.5% | above our 95% interval |" in out
    assert ("| stage2 | aime24 (pass@1) | AIME 2024 pass@1 | 60.0% [42.0, 75.0] | 55.5% | not comparable: "
            "temperature 1.0 (the paper's 0.6) |") in out  # fmt: skip
    assert "| base | aime24 (maj@64) | AIME 2024 cons@64 | – | 83.3% | not comparable: 4 samples per problem" in out
    assert SOURCE in (run / "report.md").read_text()
    assert "## Learning signal" in (run / "report.md").read_text()  # a run's report keeps its other sections


def test_compare_sets_the_reference_beside_a_and_b(tmp_path, capsys):
    a = write_evaluation(tmp_path / "a", {"aime24": one_sample("1" * 3 + "0" * 7)})
    b = write_evaluation(tmp_path / "b", {"aime24": one_sample("1" * 6 + "0" * 4)})
    compare_main([str(a), str(b)])
    assert "Table 5" not in capsys.readouterr().out  # the folders' models are not the table's
    compare_main([str(a), str(b), "--reference", "DeepSeek-R1-Distill-Qwen-1.5B"])
    out = capsys.readouterr().out.splitlines()
    departed = ("not comparable: max_new_tokens 8 (the paper's 32768), top_p None (the paper's 0.95), 10 problems "
                "(the paper's 30)")  # fmt: skip
    assert f"| A | aime24 (pass@1) | AIME 2024 pass@1 | 30.0% [10.8, 60.3] | 28.9% | {departed} |" in out
    assert f"| B | aime24 (pass@1) | AIME 2024 pass@1 | 60.0% [31.3, 83.2] | 28.9% | {departed} |" in out
    assert SOURCE in out


@pytest.mark.parametrize("command", ["report", "compare", "compare --json"])
def test_an_unknown_reference_or_one_with_json_is_one_error_line(tmp_path, command):
    """An unknown name is refused with the valid ones, before anything is read or written."""
    folder = write(tmp_path / "eval", results(QWEN_1_5B, {"aime24": scores(0.3, (0.2, 0.4))}))
    module, *flags = command.split()
    folders = [str(folder)] * (2 if module == "compare" else 1)
    before = sorted(tmp_path.rglob("*"))
    result = subprocess.run(
        [sys.executable, "-m", f"r1recipes.{module}", *folders, *flags, "--reference", "R1-Distill-Qwen-1.5B"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stdout == ""
    if flags:
        expected = "error: --reference sets a table beside the printed comparisons; --json prints them alone"
    else:
        expected = f"error: unknown reference 'R1-Distill-Qwen-1.5B' (valid: {VALID})"
    assert result.stderr.splitlines() == [expected]
    assert sorted(tmp_path.rglob("*")) == before
