"""`make gpu-smoke` (r1recipes.smoke): without a GPU one `error:` line before anything is written; its recipes parse
as one-GPU recipes and `make check` sizes them; its table reads peaks and tokens per second as the trainers log them;
the kill-and-resume it does on a GPU, done here on the CPU with the tiny recipe (slow); the whole smoke (gpu)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from r1recipes import RecipeError, evaluate, grpo, sft, smoke
from r1recipes.config.hardware import Machine
from r1recipes.config.recipes import RecipeFile
from r1recipes.files import STAGE_FILE
from r1recipes.pipeline import main as pipeline_main

ROOT = Path(__file__).resolve().parents[1]
ONE_GPU = Machine(cuda_gpus=1, torch_version="2.13.0", torch_cuda="13.0", vllm=False)
CPU_BUILD = Machine(cuda_gpus=0, torch_version="2.13.0+cpu", torch_cuda=None, vllm=False)


def smoke_in_copy(tmp_path: Path, timeout: int) -> subprocess.CompletedProcess:
    """`python -m r1recipes.smoke` in a copy of recipes/, so the tree's runs/ is never touched."""
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    command = [sys.executable, "-m", "r1recipes.smoke"]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


def test_without_a_gpu_it_is_one_error_line_and_writes_nothing(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = smoke_in_copy(tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: make gpu-smoke needs a CUDA GPU for bf16 ")
    assert "`make demo DEMO=tiny` runs the same runners" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipes"]  # no runs/, nothing built


def test_the_recipes_parse_as_one_gpu_recipes_in_bf16_without_vllm(tmp_path, monkeypatch):
    """On a one-GPU node both stages pass their runner's checks; on a CPU build they refuse, as GPU recipes do."""
    recipes = {path: RecipeFile.load(ROOT / path).config for path in (smoke.SFT, smoke.GRPO)}
    for path, config in recipes.items():
        assert config["bf16"] is True and config["dtype"] == "bfloat16" and config["num_processes"] == 1, path
        assert config["max_steps"] > config["save_steps"]
        for local in RecipeFile.load(ROOT / path).inputs.values():  # stand-ins for the built inputs and stage 1
            (tmp_path / local).mkdir(parents=True, exist_ok=True)
    assert recipes[smoke.GRPO]["use_vllm"] is False
    sft_config = recipes[smoke.SFT]
    assert sft_config["max_steps"] - sft_config["save_steps"] >= 20, "steps left after the first checkpoint, to kill"
    monkeypatch.chdir(tmp_path)
    for machine, refused in ((ONE_GPU, False), (CPU_BUILD, True)):
        monkeypatch.setattr("r1recipes.config.hardware.machine", lambda machine=machine: machine)
        for path, runner in ((smoke.SFT, sft), (smoke.GRPO, grpo)):
            if refused:
                with pytest.raises(RecipeError, match="needs a CUDA GPU for bf16"):
                    runner.make_parser().parse(["--config", str(ROOT / path)])
            else:
                runner.make_parser().parse(["--config", str(ROOT / path)])
    config, _, _ = evaluate.make_parser().parse(["--config", str(ROOT / smoke.EVALUATION), "--model", ".",
                                                 "--output", "."])  # fmt: skip
    assert config.backend == "transformers" and config.max_problems <= 64


def test_make_check_sizes_both_stages_for_one_gpu(monkeypatch, capsys):
    """`make check MODEL=gpu-smoke GPUS=1`: the estimates the smoke prints beside its measurements."""
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exit_info:
        pipeline_main(["check", "--model", "gpu-smoke", "--gpus", "1"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert "3 of 3 recipes fit" in out and out.count("1 x 79.6 GiB GPU") == 3  # both stages and the evaluation


def write_stage(folder: Path, resumed_from: str | None, history: list[dict], peak: float | None) -> Path:
    folder.mkdir(parents=True)
    (folder / STAGE_FILE).write_text(json.dumps({"resumed_from": resumed_from, "peak_gpu_memory_gib": peak}))
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    return folder


def logged(counts: dict[int, int], runtime: float) -> list[dict]:
    """log_history as transformers keeps it: a line per step with TRL's `num_tokens`, then the run's summary."""
    return [{"step": step, "loss": 1.0, "num_tokens": n} for step, n in counts.items()] + [
        {"step": max(counts), "train_runtime": runtime}
    ]


def test_tokens_per_second_count_only_the_run_that_finished_the_stage(tmp_path):
    # SFT's count starts again at 0 on resuming; GRPO's (the trainer state's tokens seen) goes on
    sft_resumed = write_stage(tmp_path / "sft", "runs/x/stage1/checkpoint-2",
                              logged({1: 100, 2: 200, 3: 100, 4: 200}, 4.0), 3.25)  # fmt: skip
    grpo_resumed = write_stage(tmp_path / "grpo", "runs/x/stage2/checkpoint-2",
                               logged({1: 100, 2: 200, 3: 300, 4: 400}, 4.0), 7.5)  # fmt: skip
    grpo = write_stage(tmp_path / "grpo-whole", None, logged({1: 100, 2: 200, 3: 300, 4: 400}, 8.0), None)
    unlogged = write_stage(tmp_path / "none", None, [{"step": 4, "train_runtime": 2.0}], None)
    assert smoke.trained_tokens_per_second(sft_resumed) == 50.0
    assert smoke.trained_tokens_per_second(grpo_resumed) == 50.0
    assert smoke.trained_tokens_per_second(grpo) == 50.0
    assert smoke.trained_tokens_per_second(unlogged) is None


def test_the_table_sets_measured_peaks_beside_the_estimates(tmp_path):
    class Plan:
        peak = 2.371

    class Estimate:
        plan, needed = Plan(), 3.504

    stage = write_stage(tmp_path / "stage1", None, logged({1: 1000, 2: 3000}, 0.5), 3.25)
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    benchmark = {"samples": 32, "mean_length": 100.0, "seconds": 8.0}
    (evaluation / "results.json").write_text(json.dumps({"benchmarks": {"word_problems": benchmark}}))
    assert smoke.generated_tokens_per_second(evaluation) == 400.0
    rows = [
        smoke.stage_row("sft: stage 1", stage, Estimate()),
        smoke.row("evaluate: base", 1.5, None, 400.0, "generated"),
    ]
    assert rows[0] == {"run": "sft: stage 1", "peak_gib": 3.25, "estimate_peak_gib": 2.37, "estimate_needed_gib": 3.5,
                       "tokens_per_s": 6000.0, "tokens": "trained"}  # fmt: skip
    lines = smoke.table(rows).splitlines()
    assert lines[3].split() == ["sft:", "stage", "1", "3.25", "2.37", "/", "3.50", "6,000", "trained"]
    assert lines[4].split() == ["evaluate:", "base", "1.50", "not", "sized", "400", "generated"]


@pytest.mark.slow
def test_a_stage_killed_after_its_first_checkpoint_resumes_from_it(tmp_path, monkeypatch):
    """The smoke's kill and resume, on the CPU with the tiny recipe (200 steps, a checkpoint every 100)."""
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    monkeypatch.chdir(tmp_path)
    output = Path("runs/tiny/stage1")
    resumed = smoke.killed_and_resumed(Path("recipes/tiny/stage1_cold_start_sft.yaml"), output)
    assert Path(resumed).name == "checkpoint-100"
    record = json.loads((output / STAGE_FILE).read_text())
    assert record["global_step"] == 200 and record["peak_gpu_memory_gib"] is None  # no CUDA here
    assert smoke.trained_tokens_per_second(output) > 0


@pytest.mark.gpu
def test_the_whole_smoke_runs_on_a_gpu(tmp_path):
    result = smoke_in_copy(tmp_path, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "runs/gpu-smoke/smoke.json").read_text())
    assert [row["run"].split(":")[0] for row in summary["rows"]] == ["sft", "grpo", *["evaluate"] * 3]
    assert "resumed from checkpoint-" in summary["rows"][0]["run"]
    for row in summary["rows"]:
        assert row["peak_gib"] > 0 and row["tokens_per_s"] > 0, row
    assert all(row["estimate_needed_gib"] > 0 for row in summary["rows"][:2])
    assert "make gpu-smoke on " in result.stdout
