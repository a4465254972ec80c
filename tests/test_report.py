"""`python -m r1recipes.report`: a real tiny SFT and GRPO stage, evaluation results, missing pieces, bad input."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import tiny_grpo_fields, tiny_sft_fields, write_recipe
from matplotlib.image import imread
from test_paired import one_sample, write_evaluation

from r1recipes import evaluate, grpo, sft
from r1recipes.data.synthetic import arithmetic_rows, write_jsonl
from r1recipes.evaluation import report
from r1recipes.evaluation.paired import compare, difference_cell, newcombe_interval

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def train(module, recipe: Path) -> None:
    module.main(*module.make_parser().parse(["--config", str(recipe)]))


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory) -> Path:
    """A run folder with a real 2-step SFT stage 1 and a real 3-step GRPO stage 2, trained once for the module."""
    root = tmp_path_factory.mktemp("trained")
    data = write_jsonl(arithmetic_rows(32, seed=1), root / "arithmetic.jsonl")
    run = root / "run"
    train(sft, write_recipe(root / "sft.yaml", **tiny_sft_fields(tiny_model, data, run / "stage1", max_steps=2)))
    fields = tiny_grpo_fields(tiny_model, data, run / "stage2", max_steps=3)
    train(grpo, write_recipe(root / "grpo.yaml", **fields))
    return run


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    """A copy of the trained run that a test may add to or break."""
    return shutil.copytree(trained, tmp_path / "run")


def write_results(run: Path, name: str, scores: dict[str, tuple], temperature: float = 0.6) -> None:
    """eval/<name>/results.json as `r1recipes.evaluate` writes it; scores: benchmark -> (pass@1, ci95, length)."""
    benchmarks = {
        benchmark: {
            "task": "math",
            "problems": 3,
            "num_samples": 4,
            "samples": 12,
            **{"pass@1": p, "pass@2": p, "pass@4": p, "maj@4": p},
            "ci95": {key: list(ci) for key in ("pass@1", "pass@2", "pass@4", "maj@4")},
            "mean_length": length,
            "truncated": 0.25,
            "no_answer": 0.5,
        }
        for benchmark, (p, ci, length) in scores.items()
    }
    config = {"num_samples": 4, "temperature": temperature, "top_p": 0.95, "max_new_tokens": 512, "seed": 0}
    (run / "eval" / name).mkdir(parents=True)
    results = {"model": str(run / name), "config": config, "benchmarks": benchmarks}
    (run / "eval" / name / "results.json").write_text(json.dumps(results))


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1024, path
    height, width = imread(path).shape[:2]
    assert height > 100 and width > 100, path


def render(run: Path, capsys, *flags) -> str:
    report.main([str(run), *flags])
    return capsys.readouterr().out


def test_report_of_a_trained_evaluated_run(run_dir, capsys):
    write_results(run_dir, "stage2", {"math500": (0.25, (0.05, 0.6), 37.4), "countdown": (0.5, (0.2, 0.8), 12)})
    write_results(run_dir, "base", {"math500": (0.0, (0.0, 0.3), 90), "countdown": (0.125, (0.0, 0.5), 80)})
    write_results(run_dir, "stage1", {"math500": (0.1, (0.0, 0.4), 50)})
    (run_dir / "stage3_data").mkdir()  # rejection sampling: a manifest, no trainer log
    manifest = {"prompts": 8, "samples": 32, "kept": 5, "rows": 6}
    times = {"started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:01:30+00:00"}
    stage3_data = {"stage": "stage3_rejection_sampling", "runner": "generate", **times, "manifest": manifest}
    (run_dir / "stage3_data" / "stage.json").write_text(json.dumps(stage3_data))

    out = render(run_dir, capsys)
    text = (run_dir / "report.md").read_text()
    lines = text.splitlines()
    header = lines.index("| stage | countdown | math500 |")
    assert [line.split(" | ")[0] for line in lines[header + 2 : header + 5]] == ["| base", "| stage1", "| stage2"]
    assert lines[header + 4] == "| stage2 | 50.0% [20.0, 80.0] · 12 tok | 25.0% [5.0, 60.0] · 37 tok |"
    assert lines[header + 3] == "| stage1 | – | 10.0% [0.0, 40.0] · 50 tok |"
    assert "K=4 samples per problem, temperature 0.6, max_new_tokens 512." in text
    assert out.splitlines()[0] == str(run_dir / "report.md") and lines[header + 4] in out.splitlines()

    rows = {line.split(" | ")[0][2:]: line.strip("| ").split(" | ") for line in lines[header + 5 :] if "|" in line}
    for name, runner, steps in [("stage1", "sft", 2), ("stage2", "grpo", 3)]:
        stage = json.loads((run_dir / name / "stage.json").read_text())
        assert stage["global_step"] == steps and rows[name][1:3] == [runner, str(steps)]
        assert rows[name][4] == f"{stage['final_log']['loss']:.4g}"
    log = json.loads((run_dir / "stage2" / "trainer_state.json").read_text())["log_history"]
    assert rows["stage2"][5] == f"{[entry['reward'] for entry in log if 'reward' in entry][-1]:.4g}"
    assert rows["stage1"][5] == "–"
    assert "| stage3_data | generate | 8 prompts, 32 samples, 5 kept, 6 rows | 1 min 30 s |" in text
    assert "- Missing or not complete (no `stage.json`): stage3, stage4\n" in text
    assert "Not evaluated" not in text

    rewards = [entry for entry in log if "reward" in entry]  # 3 steps: a fifth rounds to 1
    first, last = rewards[0]["reward"], rewards[-1]["reward"]
    signal = f"- stage2: mean total reward {first:.3f} over its first 1 of 3 logged steps, {last:.3f} over its last 1 "
    name = "length_reward"
    assert signal + f"({last - first:+.3f}); {name} {rewards[0][f'rewards/{name}/mean']:.3f} → " in text
    assert "| stage1 | – | +10.0 |\n| stage2 | +37.5 | +25.0 |" in text  # pass@1 against base, in points
    assert "| stage2 | +37.5 | +25.0 |" in out
    # results.json alone (no samples.jsonl): nothing to pair, so no interval or p, and the report says why
    assert "Not paired (the difference of the table's pass@1 only):\n- base: " in text and " p=" not in text
    assert f"{run_dir / 'eval' / 'base'}: results.json lists countdown but samples.jsonl has no sample of it" in out

    plots = sorted(p.name for p in (run_dir / "plots").iterdir())
    assert plots == ["pass_at_1.png", "stage1.png", "stage2.png"]
    for name in plots:
        check_png(run_dir / "plots" / name)
        assert f"](plots/{name})" in text


def test_the_reward_trend_compares_the_first_and_last_fifth_of_the_steps():
    log = [{"loss": 1.0}] + [
        {"reward": r, "rewards/accuracy/mean": r / 2, "step": i} for i, r in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    ]
    assert report.reward_trend(log) == (2, {"reward": (0.5, 8.5), "rewards/accuracy/mean": (0.25, 4.25)})
    assert report.reward_trend(log[:3]) == (1, {"reward": (0, 1), "rewards/accuracy/mean": (0, 0.5)})
    assert report.reward_trend(log[:2]) is None  # one step has no first and last
    log[1]["rewards/accuracy/mean"], log[-1]["rewards/accuracy/mean"] = None, float("nan")  # no maths rows there
    assert report.reward_trend(log)[1]["rewards/accuracy/mean"] == (0.5, 4.0)


def test_report_of_what_evaluate_wrote(run_dir, tiny_model, capsys):
    for name, model in [("base", tiny_model), ("stage2", run_dir / "stage2")]:
        argv = ["--model", str(model), "--output", str(run_dir / "eval" / name), "--max_new_tokens", "8",
                "--benchmarks", "countdown,arithmetic", "--max_problems", "2", "--num_samples", "2"]  # fmt: skip
        evaluate.main(*evaluate.make_parser().parse(argv))
    capsys.readouterr()
    out = render(run_dir, capsys)
    text = (run_dir / "report.md").read_text()
    assert "| stage | arithmetic | countdown |" in out
    for name in ("base", "stage2"):
        results = json.loads((run_dir / "eval" / name / "results.json").read_text())["benchmarks"]
        cells = []
        for benchmark in ("arithmetic", "countdown"):
            m = results[benchmark]
            low, high = m["ci95"]["pass@1"]
            cells.append(f"{100 * m['pass@1']:.1f}% [{100 * low:.1f}, {100 * high:.1f}] · {m['mean_length']:.0f} tok")
        assert f"| {name} | {' | '.join(cells)} |" in text
    assert "K=2 samples per problem, temperature 0.6, max_new_tokens 8." in text
    assert "- Not evaluated (no `eval/<name>/results.json`): stage1\n" in text
    paired = compare(run_dir / "eval" / "base", run_dir / "eval" / "stage2")
    assert [c.test for c in paired] == ["sign-flip permutation"] * 2  # two samples per problem
    assert f"| stage2 | {' | '.join(difference_cell(c) for c in paired)} |" in out
    assert re.search(r"\| stage2 \| [+-]\d+\.\d \[-?\d+\.\d, -?\d+\.\d\] p=[0-9.e-]+ \|", text)
    assert "Not paired" not in text
    check_png(run_dir / "plots" / "pass_at_1.png")


def test_stages_are_compared_with_the_base_model_problem_by_problem(run_dir, capsys):
    """One greedy sample per problem: McNemar's exact test and Newcombe's interval, worked out in test_paired."""
    write_evaluation(run_dir / "eval" / "base", {"countdown": one_sample("0" * 8), "sums": one_sample("10")})
    write_evaluation(run_dir / "eval" / "stage1", {"countdown": one_sample("11111000"), "sums": one_sample("10")})
    write_evaluation(run_dir / "eval" / "stage2", {"countdown": one_sample("00000000")})
    out = render(run_dir, capsys)
    low, high = newcombe_interval(0, 0, 5, 3)  # none both right, none lost, 5 gained, 3 neither
    assert f"| stage1 | +62.5 [{100 * low:.1f}, {100 * high:.1f}] p=0.0625 | +0.0 [" in out  # p = 2 / 2**5
    assert "| stage2 | +0.0 [-32.4, 32.4] p=1 | – |" in out  # 0 of 8 both: +-z^2 / (8 + z^2)
    assert "Not paired" not in out


def test_without_results_or_trainer_state_the_report_says_so(run_dir, capsys):
    (run_dir / "stage1" / "trainer_state.json").unlink()
    out = render(run_dir, capsys)
    text = (run_dir / "report.md").read_text()
    assert f"No evaluation results in `{run_dir / 'eval'}`." in out and "| stage | " not in out
    assert "- Not evaluated (no `eval/<name>/results.json`): base, stage1, stage2\n" in text
    assert "- No training log (no `trainer_state.json`, so no plot): stage1\n" in text
    assert "| stage1 | sft | 2 |" in text  # the row comes from stage.json
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == ["stage2.png"]
    check_png(run_dir / "plots" / "stage2.png")


def test_results_without_any_stage_render_every_stage_missing(tmp_path, capsys):
    run = tmp_path / "run"
    write_results(run, "stage2", {"math500": (0.5, (0.1, 0.9), 20)}, temperature=1.0)
    write_results(run, "base", {"math500": (0.25, (0.0, 0.7), 30)})
    out = render(run, capsys, "--output", str(tmp_path / "elsewhere" / "r.md"))
    text = (tmp_path / "elsewhere" / "r.md").read_text()
    assert out.splitlines()[0] == str(tmp_path / "elsewhere" / "r.md")
    assert "- Missing or not complete (no `stage.json`): stage1, stage2, stage3, stage4\n" in text
    assert "Sampling differs between stages: base: K=4 samples per problem, temperature 0.6" in text
    assert "stage2: K=4 samples per problem, temperature 1.0" in text and "No complete stage." in text
    check_png(tmp_path / "elsewhere" / "plots" / "pass_at_1.png")
    assert not (run / "report.md").exists() and not (run / "plots").exists()


def test_expected_stages_come_from_the_recipe_folder_of_the_same_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # recipes/tiny/ lists stage3_data and the student besides stages 1-4
    run = tmp_path / "tiny"
    write_results(run, "base", {"math500": (0.25, (0.0, 0.7), 30)})
    render(run, capsys)
    missing = "stage1, stage2, stage3_data, stage3, stage4, distill_tiny-student"
    assert f"- Missing or not complete (no `stage.json`): {missing}\n" in (run / "report.md").read_text()


@pytest.mark.parametrize("make", ["missing", "file", "empty", "unnamed"])
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, make):
    run = tmp_path / "run"
    if make == "file":
        run.write_text("not a folder")
    elif make == "empty":
        (run / "stage1").mkdir(parents=True)  # a stage folder, but nothing complete and no results
    before = sorted(tmp_path.rglob("*"))
    result = subprocess.run(
        [sys.executable, "-m", "r1recipes.report", "" if make == "unnamed" else "run"],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), result.stderr
    assert sorted(tmp_path.rglob("*")) == before
