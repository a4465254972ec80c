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
    # results.json alone (no samples.jsonl): nothing to pair, so no interval or p; the plain difference of pass@1
    # in points, and why. Without recipes/run/, R1's chain by name: stage 1 against base, stage 2 against stage 1
    unreadable = "{}: results.json lists {} but samples.jsonl has no sample of it"
    stage1 = "- stage1 against base: pass@1 math500 +10.0 points, not paired: "
    stage2 = "- stage2 against stage1: pass@1 math500 +15.0 points, not paired: "
    assert f"Not paired:\n{stage1}{unreadable.format(run_dir / 'eval' / 'base', 'countdown')}\n" in text
    assert f"{stage2}{unreadable.format(run_dir / 'eval' / 'stage1', 'math500')}\n" in text and " p=" not in text
    assert f"{stage2}{unreadable.format(run_dir / 'eval' / 'stage1', 'math500')}" in out

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
    for name, model in [("base", tiny_model), ("stage1", run_dir / "stage1")]:
        argv = ["--model", str(model), "--output", str(run_dir / "eval" / name), "--max_new_tokens", "8",
                "--benchmarks", "countdown,arithmetic", "--max_problems", "2", "--num_samples", "2"]  # fmt: skip
        evaluate.main(*evaluate.make_parser().parse(argv))
    capsys.readouterr()
    out = render(run_dir, capsys)
    text = (run_dir / "report.md").read_text()
    assert "| stage | arithmetic | countdown |" in out
    for name in ("base", "stage1"):
        results = json.loads((run_dir / "eval" / name / "results.json").read_text())["benchmarks"]
        cells = []
        for benchmark in ("arithmetic", "countdown"):
            m = results[benchmark]
            low, high = m["ci95"]["pass@1"]
            cells.append(f"{100 * m['pass@1']:.1f}% [{100 * low:.1f}, {100 * high:.1f}] · {m['mean_length']:.0f} tok")
        assert f"| {name} | {' | '.join(cells)} |" in text
    assert "K=2 samples per problem, temperature 0.6, max_new_tokens 8." in text
    assert "- Not evaluated (no `eval/<name>/results.json`): stage2\n" in text
    paired = compare(run_dir / "eval" / "base", run_dir / "eval" / "stage1")
    assert [c.test for c in paired] == ["sign-flip permutation"] * 2  # two samples per problem
    assert f"| stage1 | base | {' | '.join(difference_cell(c) for c in paired)} |" in out
    assert re.search(r"\| stage1 \| base \| [+-]\d+\.\d \[-?\d+\.\d, -?\d+\.\d\] p=[0-9.e-]+ \|", text)
    assert "Not paired" not in text
    check_png(run_dir / "plots" / "pass_at_1.png")


def paired_cell(both: int, lost: int, gained: int, neither: int, p: float) -> str:
    """The report's cell for one greedy sample per problem: Newcombe's interval (test_paired checks it) and p."""
    low, high = newcombe_interval(both, lost, gained, neither)
    difference = (gained - lost) / (both + lost + gained + neither)
    return f"{100 * difference:+.1f} [{100 * low:.1f}, {100 * high:.1f}] p={p:.3g}"


def test_each_stage_is_compared_with_the_model_it_starts_from_problem_by_problem(run_dir, capsys):
    """One greedy sample per problem: McNemar's exact test and Newcombe's interval, worked out in test_paired;
    without a recipe folder of the run's name, stage 2 is set against stage 1 (R1's chain by name)."""
    write_evaluation(run_dir / "eval" / "base", {"countdown": one_sample("0" * 8), "sums": one_sample("10")})
    write_evaluation(run_dir / "eval" / "stage1", {"countdown": one_sample("11111000"), "sums": one_sample("10")})
    write_evaluation(run_dir / "eval" / "stage2", {"countdown": one_sample("00000000")})
    out = render(run_dir, capsys)
    assert "| stage | against | countdown | sums |" in out
    assert f"| stage1 | base | {paired_cell(0, 0, 5, 3, 2 / 2**5)} | +0.0 [" in out  # 5 gained, none lost
    assert f"| stage2 | stage1 | {paired_cell(0, 5, 0, 3, 2 / 2**5)} | – |" in out  # the same 5 lost
    assert "Not paired" not in out


def test_the_pairs_follow_the_recipes_each_stage_against_the_model_it_starts_from(monkeypatch):
    monkeypatch.chdir(ROOT)
    r1 = {"stage1": "base", "stage2": "stage1", "stage3": "stage1", "stage4": "stage3"}  # 3 and 1 both SFT the base
    for folder in ("tiny", "SmolLM2-135M"):
        student = "distill_tiny-student"  # from runs/models/tiny-student, not the run's starting model
        assert report.compared_with(Path(folder)) == {**r1, student: f"{student}_start"}
    students = {f"distill_{s}": f"distill_{s}_start" for s in ("Llama-3.1-8B", "Qwen2.5-Math-1.5B")}
    assert report.compared_with(Path("Qwen2.5-7B")) == {**r1, **students, "zero": "base"}  # zero_grpo.yaml too
    assert report.compared_with(Path("Qwen2.5-1.5B")) == {"tinyzero": "base", "zero": "base"}
    assert report.compared_with(Path("rl-demo")) == {"stage2": "base"}  # its base: the SmolLM2 demo's stage 1
    assert report.compared_with(Path("no-such-folder")) == r1


def test_a_tiny_run_reports_each_stage_against_its_start_or_names_the_start_missing(tmp_path, capsys, monkeypatch):
    """The layout `make demo DEMO=tiny` writes (recipes/tiny/): five trained stages, each paired with the
    evaluation of the model it starts from; the student's own starting model is eval/distill_tiny-student_start."""
    monkeypatch.chdir(ROOT)
    run = tmp_path / "tiny"
    correct = {  # word_problems and countdown3, one greedy sample each on 8 problems
        "base": ("00000000", "00000000"),
        "stage1": ("11110000", "11000000"),
        "stage2": ("11111100", "10000000"),
        "stage3": ("11000000", "10000000"),
        "stage4": ("11100000", "00000000"),
        "distill_tiny-student_start": ("00000000", "00000000"),
        "distill_tiny-student": ("10000000", "00000000"),
    }
    for name, (words, puzzles) in correct.items():
        write_evaluation(run / "eval" / name, {"word_problems": one_sample(words), "countdown3": one_sample(puzzles)})
    for name in report.expected_stages(run):
        (run / name).mkdir(parents=True)
        (run / name / "stage.json").write_text(json.dumps({"runner": "generate" if name == "stage3_data" else "sft"}))
    out = render(run, capsys)
    lines = out.splitlines()
    header = lines.index("| stage | against | countdown3 | word_problems |")
    assert lines[header + 2 : header + 7] == [  # (both right, lost, gained, neither) of 8, p = 2 P(X <= lost)
        f"| stage1 | base | {paired_cell(0, 0, 2, 6, 0.5)} | {paired_cell(0, 0, 4, 4, 0.125)} |",
        f"| stage2 | stage1 | {paired_cell(1, 1, 0, 6, 1)} | {paired_cell(4, 0, 2, 2, 0.5)} |",
        f"| stage3 | stage1 | {paired_cell(1, 1, 0, 6, 1)} | {paired_cell(2, 2, 0, 4, 0.5)} |",  # not +25 (base)
        f"| stage4 | stage3 | {paired_cell(0, 1, 0, 7, 1)} | {paired_cell(2, 0, 1, 5, 1)} |",
        f"| distill_tiny-student | distill_tiny-student_start | {paired_cell(0, 0, 0, 8, 1)} | "
        f"{paired_cell(0, 0, 1, 7, 1)} |",
    ]
    assert "Not paired" not in out and "Not evaluated" not in (run / "report.md").read_text()
    table = [line.split(" | ")[0][2:] for line in lines[lines.index("| stage | countdown3 | word_problems |") :]]
    assert table[2:9] == list(correct)  # the student before distillation just before the student

    shutil.rmtree(run / "eval" / "distill_tiny-student_start")
    out = render(run, capsys)
    missing = "distill_tiny-student against distill_tiny-student_start: not evaluated"
    assert f"Not paired:\n- {missing} (no `eval/distill_tiny-student_start/results.json`)" in out
    assert "| distill_tiny-student |" not in out.split("| against |")[1]  # no row for it
    text = (run / "report.md").read_text()
    assert "- Not evaluated (no `eval/<name>/results.json`): distill_tiny-student_start\n" in text


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
