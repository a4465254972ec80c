"""slurm/pipeline.sh's job requests, against a stand-in `sbatch` that records them (no cluster needed): GPUs per
node come from each recipe, and a run on more nodes keeps the one-node global batch. The jobs themselves run in
tests/test_slurm.py on a real single-node Slurm."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from r1recipes.config.hardware import fit_batch
from r1recipes.config.recipes import RecipeFile

ROOT = Path(__file__).resolve().parents[1]
FAKE_SBATCH = """#!/usr/bin/env bash
echo "$*" >> "$SBATCH_LOG"
n=$(wc -l < "$SBATCH_LOG")
echo $((1000 + n))
"""


def run_pipeline_sh(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    """`pipeline.sh` in a copy of recipes/ with nothing complete, against a stand-in `sbatch` that logs its calls."""
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "sbatch").chmod(0o755)
    log = tmp_path / "sbatch.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("R1_", "SLURM_", "SBATCH_"))}
    env = {
        **clean, **env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SBATCH_LOG": str(log),
        "R1_PYTHON": sys.executable, "R1_LOG_DIR": str(tmp_path / "logs"),
    }  # fmt: skip
    result = subprocess.run(
        ["bash", str(ROOT / "slurm/pipeline.sh"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, log


def submit(tmp_path: Path, *args: str, **env: str) -> list[dict]:
    """The sbatch calls of `pipeline.sh`, run in a copy of recipes/ with nothing complete, each as {option: value}
    plus `script` and `recipe`."""
    result, log = run_pipeline_sh(tmp_path, *args, **env)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^check: (\d+) of \1 recipes fit$", result.stderr, re.MULTILINE), result.stderr
    calls = []
    for line in log.read_text().splitlines():
        words = shlex.split(line)
        options = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
        positional = [w for w in words if not w.startswith("--")]
        calls.append({**options, "script": Path(positional[0]).name, "recipe": positional[1]})
    return calls


def test_a_recipe_that_does_not_fit_the_clusters_cards_submits_nothing(tmp_path):
    result, log = run_pipeline_sh(tmp_path / "small", "Qwen2.5-7B", R1_GPU_MEMORY_GB="40")
    assert result.returncode == 2
    assert "DOES NOT FIT" in result.stderr and "would fit with" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("pipeline.sh: error: a recipe does not fit 40 GiB GPUs")
    assert not log.exists() and result.stdout == ""
    forced, log = run_pipeline_sh(tmp_path / "forced", "Qwen2.5-7B", R1_GPU_MEMORY_GB="40", R1_CHECK="0")
    assert forced.returncode == 0, forced.stderr
    assert re.search(r"^check: [0-9] of 10 recipes fit; not: ", forced.stderr, re.MULTILINE), forced.stderr
    jobs = log.read_text().splitlines()  # 6 training jobs, stage 3's array and its merge, 9 evaluations
    assert len(jobs) == 17 and sum("evaluate.slurm --config recipes/Qwen2.5-7B/eval.yaml" in job for job in jobs) == 9


def test_two_nodes_keep_the_one_node_global_batch(tmp_path):
    calls = submit(tmp_path, "Qwen2.5-7B", "--nodes", "2")
    training = [c for c in calls if c["script"] == "train.slurm"]
    assert len(training) == 6  # stages 1, 2, 3 (SFT), 4 and two students
    for call in training:
        config = RecipeFile.load(tmp_path / call["recipe"]).config
        nodes, gpus = int(call["nodes"]), int(call["gpus-per-node"])
        assert (nodes, gpus) == (2, config["num_processes"])

        class Args:  # the recipe's batch, as the runner reads it, on the job's processes
            num_processes, per_device_train_batch_size = config["num_processes"], config["per_device_train_batch_size"]
            gradient_accumulation_steps = config["gradient_accumulation_steps"]
            steps_per_generation = config.get("steps_per_generation")

        fit_batch(Args, nodes * gpus)
        sized = config["num_processes"] * config["per_device_train_batch_size"] * config["gradient_accumulation_steps"]
        assert nodes * gpus * Args.per_device_train_batch_size * Args.gradient_accumulation_steps == sized
    generation = [c for c in calls if c["recipe"].endswith("stage3_rejection_sampling.yaml")]
    assert [c.get("gpus-per-node") for c in generation] == ["1", None]  # the array (one engine each); the merge


def test_a_gpu_count_set_for_the_cluster_wins_and_cpu_recipes_ask_for_none(tmp_path):
    calls = submit(tmp_path, "Qwen2.5-7B", R1_GPUS_PER_NODE="4", R1_GPU_MEMORY_GB="140")  # 80 is too small on 4
    assert {c["gpus-per-node"] for c in calls if "merge" not in c} == {"4"}
    (tmp_path / "tiny").mkdir()
    assert all("gpus-per-node" not in c for c in submit(tmp_path / "tiny", "tiny"))


def test_report_to_reaches_every_training_job_and_no_generation_job(tmp_path):
    result, log = run_pipeline_sh(tmp_path, "tiny", R1_REPORT_TO="tensorboard,trackio")
    assert result.returncode == 0, result.stderr
    jobs = [shlex.split(line) for line in log.read_text().splitlines()]
    training = [words for words in jobs if any(w.endswith("train.slurm") for w in words)]
    generation = [words for words in jobs if any(w.endswith("generate.slurm") for w in words)]
    assert len(training) == 5 and len(generation) == 2  # stages 1, 2, 3 (SFT), 4 and the student; array and merge
    assert all(words[-2:] == ["--report_to", "tensorboard,trackio"] for words in training)
    assert all("--report_to" not in words for words in generation)


def test_each_trained_model_is_evaluated_after_its_job_beside_the_chain(tmp_path):
    calls = submit(tmp_path, "Qwen2.5-7B")
    ids = {call["recipe"]: 1001 + i for i, call in enumerate(calls) if call["script"] == "train.slurm"}
    evaluations = [(i, call) for i, call in enumerate(calls) if call["script"] == "evaluate.slurm"]
    students = ["distill_Llama-3.1-8B", "distill_Qwen2.5-Math-1.5B"]
    names = ["base", *(f"{s}_start" for s in students), "stage1", "stage2", "stage3", "stage4", *students]
    assert [call["job-name"] for _, call in evaluations] == [f"r1-Qwen2.5-7B-eval-{name}" for name in names]
    assert all("dependency" not in call for _, call in evaluations[:3])  # the starting models at once
    stage1 = ids["recipes/Qwen2.5-7B/stage1_cold_start_sft.yaml"]
    assert evaluations[3][1]["dependency"] == f"afterok:{stage1}" and evaluations[3][1]["gpus-per-node"] == "8"
    stage2 = calls[evaluations[3][0] + 1]  # the next training job waits for stage 1, not for its evaluation
    assert stage2["recipe"].endswith("stage2_reasoning_grpo.yaml") and stage2["dependency"] == f"afterok:{stage1}"


def test_each_job_gets_its_recipes_share_of_the_overrides(tmp_path):
    result, log = run_pipeline_sh(tmp_path, "tiny", "--", "--learning_rate", "1e-4", "stage3_sft.seed=3")
    assert result.returncode == 0, result.stderr
    jobs = {}
    for line in log.read_text().splitlines():
        words = shlex.split(line)
        script = next(i for i, w in enumerate(words) if w.endswith(".slurm"))
        jobs.setdefault(Path(words[script + 1]).stem, []).append(words[script + 2 :])
    assert jobs["stage3_rejection_sampling"] == [[], ["--merge", "true"]]  # the array, then the merge: no key
    assert jobs["stage1_cold_start_sft"] == [["--learning_rate", "1e-4"]]
    assert jobs["stage3_sft"] == [["--learning_rate", "1e-4", "--seed=3"]]
    refused, log = run_pipeline_sh(tmp_path / "typo", "tiny", "--", "--learning_rat", "1e-4")
    assert refused.returncode == 2 and not log.exists()
    assert "no recipe of this run has key 'learning_rat'" in refused.stderr.strip().splitlines()[-1]


def test_an_unknown_tracker_submits_nothing(tmp_path):
    result, log = run_pipeline_sh(tmp_path, "tiny", "--report_to", "tensorbord")
    assert result.returncode == 2 and not log.exists() and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("error: report_to: unknown tracker 'tensorbord'")


STAND_IN_PYTHON = """#!/usr/bin/env bash
# `pipeline launch` is recorded, not run; `pipeline get` (a recipe's values) runs
if [[ $3 == launch ]]; then printf '%q ' "$@" >> "$LAUNCH_LOG"; echo >> "$LAUNCH_LOG"; exit 0; fi
exec "$REAL_PYTHON" "$@"
"""
STAND_IN_SCONTROL = """#!/usr/bin/env bash
printf 'node1\\nnode2\\n'
"""
STAND_IN_SRUN = """#!/usr/bin/env bash
while [[ $1 == --* ]]; do shift; done   # srun's own options; then the task, run here as node 0
SLURM_NODEID=0 exec "$@"
"""


@pytest.mark.parametrize("nodes", [1, 2])
def test_train_slurm_passes_r1_report_to_to_the_launch(tmp_path, nodes):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in [("python", STAND_IN_PYTHON), ("scontrol", STAND_IN_SCONTROL), ("srun", STAND_IN_SRUN)]:
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "launch.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("R1_", "SLURM_", "SBATCH_"))}
    env = {
        **clean, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "R1_PYTHON": str(bin_dir / "python"),
        "REAL_PYTHON": sys.executable, "LAUNCH_LOG": str(log), "R1_REPORT_TO": "trackio",
        "SLURM_NNODES": str(nodes), "SLURM_JOB_NODELIST": "node[1-2]",
    }  # fmt: skip
    result = subprocess.run(
        ["bash", str(ROOT / "slurm/train.slurm"), "recipes/tiny/stage1_cold_start_sft.yaml", "--max_steps", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    *before, launch = [shlex.split(line) for line in log.read_text().splitlines()]
    # several nodes: the inputs are built once, by the batch step, before a task on each node launches
    assert [line[-1] for line in before] == (["--inputs_only"] if nodes == 2 else [])
    assert launch[2:4] == ["launch", "recipes/tiny/stage1_cold_start_sft.yaml"]
    assert launch[launch.index("--report_to") + 1] == "trackio"
    assert shlex.split(launch[launch.index("--args") + 1]) == ["--max_steps", "2"]
    assert ("--launch_args" in launch) == (nodes == 2)  # the multi-node branch ran


def test_the_report_to_flag_wins_over_r1_report_to_and_is_given_once(tmp_path):
    result, log = run_pipeline_sh(tmp_path, "tiny", "--report_to", "trackio", R1_REPORT_TO="wandb")
    assert result.returncode == 0, result.stderr
    training = [shlex.split(line) for line in log.read_text().splitlines() if "train.slurm" in line]
    assert training and all(words.count("--report_to") == 1 and words[-1] == "trackio" for words in training)
