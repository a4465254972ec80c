"""slurm/pipeline.sh, train.slurm and generate.slurm on a real single-node Slurm running on this machine.

The cluster is ../shared/tools/slurm-localhost.sh (`sudo bash ../shared/tools/slurm-localhost.sh start`);
without it, or with it stopped, these tests are skipped. The tiny pipeline runs in a temporary folder holding
a copy of recipes/tiny, so its runs/ is written there, not in the repository: about 3 minutes on 2 CPU cores
(the pipeline's own work, plus a Python start per job). Several nodes: tests/test_slurm_nodes.py. Not covered
here: GPUs (the local cluster has none).
"""

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import SLURM_LOCALHOST

from r1recipes.config.recipes import ACCELERATE_CONFIGS, model_folders

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
PIPELINE_SH = REPO / "slurm" / "pipeline.sh"
SHARDS = 2
WAIT_SECONDS = 1200  # the pipeline takes about 3 minutes here; more when other jobs hold the CPUs


def copy_tiny_recipes(folder: Path) -> Path:
    """recipes/tiny and the accelerate configs into `folder`; only these: a recipe being edited elsewhere cannot
    break the run."""
    for name in ("tiny", ACCELERATE_CONFIGS):
        shutil.copytree(REPO / "recipes" / name, folder / "recipes" / name)
    return folder


def pipeline_sh(folder: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(PIPELINE_SH), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )


def plan(folder: Path, env: dict) -> list[list[str]]:
    """`recipe runner output state` rows of the tiny pipeline in `folder` (the evaluations' among them)."""
    out = subprocess.run(
        [sys.executable, "-m", "r1recipes.pipeline", "plan", "--model", "tiny"],
        cwd=folder, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line.split("\t")[:4] for line in out.stdout.splitlines()]


def jobs_in(folder: Path, env: dict) -> set[str]:
    """Ids of the jobs Slurm knows (ended ones included) that run or ran in `folder`."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], env=env, capture_output=True, text=True, check=True)
    return {
        re.search(r"\bJobId=(\d+)", line)[1] for line in out.stdout.splitlines() if f" WorkDir={folder} " in f"{line} "
    }


def logs(folder: Path) -> str:
    """The end of every job log, for a failure message."""
    return "\n".join(
        f"==> {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
        for path in sorted((folder / "runs" / "slurm").glob("*.log"))
    )


@pytest.fixture(scope="module")
def tiny_run(slurm_env, tmp_path_factory):
    """`slurm/pipeline.sh tiny --shards 2` in a folder of its own, waited for until every job has ended."""
    folder = copy_tiny_recipes(tmp_path_factory.mktemp("slurm-tiny"))
    planned = plan(folder, slurm_env)
    submitted = pipeline_sh(folder, slurm_env, "tiny", "--shards", str(SHARDS))
    assert submitted.returncode == 0, submitted.stderr
    jobs = [line.split(" ")[:2] for line in submitted.stdout.splitlines()]  # an evaluation's line adds its output
    waited = subprocess.run(
        ["bash", str(SLURM_LOCALHOST), "wait", "-t", str(WAIT_SECONDS), *(job for job, _ in jobs)],
        env=slurm_env, capture_output=True, text=True,
    )  # fmt: skip
    yield {"folder": folder, "planned": planned, "jobs": jobs, "waited": waited}
    if waited.returncode != 0:  # leave nothing queued behind a failure or a timeout
        subprocess.run(["scancel", *(job for job, _ in jobs)], env=slurm_env, capture_output=True)


def test_pipeline_runs_every_stage_with_stage3_as_an_array(tiny_run, slurm_env):
    folder, jobs, waited = tiny_run["folder"], tiny_run["jobs"], tiny_run["waited"]
    recipes = [recipe for recipe, _, _, _ in tiny_run["planned"]]
    generation = [recipe for recipe, runner, _, _ in tiny_run["planned"] if runner == "generate"]
    assert [state for *_, state in tiny_run["planned"]] == ["todo"] * len(recipes)
    assert generation == ["recipes/tiny/stage3_rejection_sampling.yaml"]
    # one job per recipe, in the pipeline's order; the generation recipe has two: its array, then the merge
    expected = [r for recipe in recipes for r in ([recipe] * (2 if recipe in generation else 1))]
    assert [recipe for _, recipe in jobs] == expected
    assert waited.returncode == 0, f"{waited.stdout}{waited.stderr}\n{logs(folder)}"

    ended = [line.split() for line in waited.stdout.splitlines()]  # "<id> <jobid> <state> exit=<code>"
    array, merge = (job for job, recipe in jobs if recipe in generation)
    tasks = [line for line in ended if line[0] == array]
    assert len(tasks) == SHARDS and all(state == "COMPLETED" for _, _, state, _ in tasks)
    assert [state for job, _, state, _ in ended if job == merge] == ["COMPLETED"]

    for recipe, runner, output_dir, _ in tiny_run["planned"]:
        done = "results.json" if runner == "evaluate" else "stage.json"  # the starting model and every stage
        assert (folder / output_dir / done).exists(), f"{recipe}: no {done} in {output_dir}\n{logs(folder)}"
    assert all(state == "complete" for *_, state in plan(folder, slurm_env))

    # every shard sampled its own chunks (c % N == I) into the one output_dir; the merge, which never samples,
    # found them all done: the manifest counts every prompt of the set
    for index in range(SHARDS):
        log = (folder / "runs" / "slurm" / f"r1-tiny-stage3_rejection_sampling-{array}_{index}.log").read_text()
        assert f"--num_shards {SHARDS} --shard_index {index}" in log
        assert f"shard {index} of {SHARDS}:" in log
    assert (folder / "runs" / "slurm" / f"r1-tiny-stage3_rejection_sampling-merge-{merge}.log").exists()
    settings = yaml.safe_load((folder / generation[0]).read_text())
    prompts = sum(  # the mixture's sources, each its first max_rows
        len((folder / source["path"]).read_text().splitlines()[: source.get("max_rows")])
        for source in settings["dataset_mixture"]
    )
    output = folder / settings["output_dir"]
    assert json.loads((output / "manifest.json").read_text())["prompts"] == prompts
    chunks = math.ceil(prompts / settings["prompts_per_file"])
    assert chunks >= SHARDS and len(list((output / "chunks").glob("*.json"))) == chunks


def test_rerun_after_completion_submits_nothing(tiny_run, slurm_env):
    folder = tiny_run["folder"]
    assert tiny_run["waited"].returncode == 0, "the first run failed"
    before = jobs_in(folder, slurm_env)
    rerun = pipeline_sh(folder, slurm_env, "tiny", "--shards", str(SHARDS))
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout == ""
    assert "nothing to submit: every recipe of tiny is complete" in rerun.stderr
    assert jobs_in(folder, slurm_env) == before


def test_unknown_model_is_an_error_and_submits_nothing(slurm_env, tmp_path):
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    result = pipeline_sh(tmp_path, slurm_env, "nope")
    assert result.returncode != 0
    assert result.stdout == ""
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: unknown MODEL 'nope'")
    folders = model_folders(tmp_path / "recipes")
    assert "tiny" in folders and all(name in error for name in folders)
    assert not (tmp_path / "runs").exists()
    assert jobs_in(tmp_path, slurm_env) == set()


def test_evaluate_job_writes_the_results_of_a_stage(tiny_run, slurm_env):
    folder = tiny_run["folder"]
    assert tiny_run["waited"].returncode == 0, "the pipeline run failed"
    args = [
        "--model",
        "runs/tiny/stage2",
        "--benchmarks",
        "countdown,arithmetic",
        "--max_problems",
        "2",
        "--max_new_tokens",
        "16",
        "--output",
        "runs/tiny/eval/stage2-by-hand",
    ]  # beside the pipeline's own
    submitted = subprocess.run(
        ["sbatch", "--parsable", str(REPO / "slurm" / "evaluate.slurm"), *args],
        cwd=folder, env={**slurm_env, "R1_PYTHON": sys.executable}, capture_output=True, text=True,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    waited = subprocess.run(["bash", str(SLURM_LOCALHOST), "wait", "-t", "600", job], env=slurm_env,
                            capture_output=True, text=True)  # fmt: skip
    assert waited.returncode == 0 and " COMPLETED " in f" {waited.stdout} ", f"{waited.stdout}\n{logs(folder)}"
    results = json.loads((folder / "runs" / "tiny" / "eval" / "stage2-by-hand" / "results.json").read_text())
    assert list(results["benchmarks"]) == ["countdown", "arithmetic"]
    assert all(m["problems"] == 2 for m in results["benchmarks"].values())
    assert "pass@1" in (folder / "runs" / "slurm" / f"r1-evaluate-{job}.log").read_text()  # the summary table
