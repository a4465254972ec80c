"""Training across two Slurm nodes: `slurm/pipeline.sh tiny --nodes 2` on the local cluster's emulated nodes.

The cluster must have two nodes or more (`SLURM_LOCAL_NODES=2 bash ../shared/tools/slurm-localhost.sh start`,
as .ci/run starts it); with one node these tests skip. Both nodes run on this machine and share its folders, as
a real cluster's nodes share a network file system: accelerate launches one process a node, machine rank 0's
node is the rendezvous, and gloo carries the all-reduce.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from conftest import SLURM_LOCALHOST
from test_slurm import copy_tiny_recipes, logs, pipeline_sh, plan

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
NODES = 2
STAGE1 = "recipes/tiny/stage1_cold_start_sft.yaml"


def wait(env: dict, seconds: int, *jobs: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SLURM_LOCALHOST), "wait", "-t", str(seconds), *jobs], env=env,
                          capture_output=True, text=True)  # fmt: skip


@pytest.fixture(scope="module")
def two_nodes(slurm_env):
    out = subprocess.run(["sinfo", "-h", "-o", "%D"], env=slurm_env, capture_output=True, text=True)
    if sum(int(n) for n in out.stdout.split() if n.isdigit()) < NODES:
        pytest.skip(f"the local Slurm has fewer than {NODES} nodes: start it with SLURM_LOCAL_NODES={NODES}")
    return slurm_env


@pytest.fixture(scope="module")
def two_node_run(two_nodes, tmp_path_factory):
    folder = copy_tiny_recipes(tmp_path_factory.mktemp("slurm-two-nodes"))
    planned = plan(folder, two_nodes)
    submitted = pipeline_sh(folder, two_nodes, "tiny", "--nodes", str(NODES), "--shards", "2")
    assert submitted.returncode == 0, submitted.stderr
    jobs = [line.split(" ", 1) for line in submitted.stdout.splitlines()]
    waited = wait(two_nodes, 1200, *(job for job, _ in jobs))
    yield {"folder": folder, "planned": planned, "jobs": jobs, "waited": waited}
    if waited.returncode != 0:
        subprocess.run(["scancel", *(job for job, _ in jobs)], env=two_nodes, capture_output=True)


def test_the_tiny_pipeline_trains_across_two_nodes_with_the_one_node_batch(two_node_run):
    folder, waited = two_node_run["folder"], two_node_run["waited"]
    assert waited.returncode == 0, f"{waited.stdout}{waited.stderr}\n{logs(folder)}"
    training = [(recipe, out) for recipe, runner, out, _ in two_node_run["planned"] if runner in ("sft", "grpo")]
    train_logs = {recipe: next((folder / "runs" / "slurm").glob(f"r1-tiny-{Path(recipe).stem}-*.log"))
                  for recipe, _ in training}  # fmt: skip
    for recipe, out in training:
        log = train_logs[recipe].read_text(errors="replace")
        assert "on 2 node(s)" in log, log[-2000:]
        stage = json.loads((folder / out / "stage.json").read_text())
        assert stage["world_size"] == NODES
        # the global batch is the recipe's as written, which one node runs in one process
        written = yaml.safe_load((folder / recipe).read_text())
        args = torch.load(folder / out / "training_args.bin", weights_only=False)
        one_node = written["per_device_train_batch_size"] * written.get("gradient_accumulation_steps", 1)
        assert args.per_device_train_batch_size * args.gradient_accumulation_steps * NODES == one_node, recipe
        assert f"sized for 1 processes, running on {NODES}" in log
        # written once: one rank saves, and stage.json is marked complete once
        assert log.count(f"complete: model and stage.json in {out}") == 1, recipe
    # the package's inputs were built once, by the batch step, not by a task on each node
    built = "".join(path.read_text(errors="replace") for path in train_logs.values())
    assert built.count("building runs/models/tiny\n") == 1 and built.count("building runs/data/arithmetic.jsonl") == 1


def runner_processes(job: str, node_id: str, module: str) -> list[psutil.Process]:
    """The training workers (torchrun's children) of a job's task on one node."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            environ = process.environ()
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        cmdline = " ".join(process.info["cmdline"] or [])
        if (environ.get("SLURM_JOB_ID") == job and environ.get("SLURM_NODEID") == node_id
                and "LOCAL_RANK" in environ and f"-m {module}" in cmdline):  # fmt: skip
            found.append(process)
    return found


def test_a_killed_node_fails_the_job_at_once_and_a_resubmission_resumes(two_nodes, tmp_path_factory):
    folder = copy_tiny_recipes(tmp_path_factory.mktemp("slurm-kill"))
    (folder / "runs" / "slurm").mkdir(parents=True)
    out = folder / "runs" / "kill" / "stage1"
    overrides = ["--output_dir", "runs/kill/stage1", "--max_steps", "600", "--save_steps", "50"]
    env = {**two_nodes, "R1_PYTHON": sys.executable}
    command = ["sbatch", "--parsable", "--nodes", str(NODES), str(REPO / "slurm" / "train.slurm"), STAGE1, *overrides]
    job = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=True).stdout.strip()
    deadline = time.monotonic() + 300
    while not list(out.glob("checkpoint-*/trainer_state.json")):
        assert time.monotonic() < deadline, f"no checkpoint after 300 s\n{logs(folder)}"
        time.sleep(0.5)
    workers = runner_processes(job, "1", "r1recipes.sft")
    assert workers, f"no worker of job {job} found on the second node\n{logs(folder)}"
    killed = time.monotonic()
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
    ended = wait(two_nodes, 180, job)
    assert " FAILED " in f" {ended.stdout} ", f"{ended.stdout}{ended.stderr}\n{logs(folder)}"
    assert time.monotonic() - killed < 120  # srun ends the other node's task: no wait for a collective's timeout
    assert not (out / "stage.json").exists()

    again = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=True).stdout.strip()
    resumed = wait(two_nodes, 600, again)
    assert " COMPLETED " in f" {resumed.stdout} ", f"{resumed.stdout}{resumed.stderr}\n{logs(folder)}"
    stage = json.loads((out / "stage.json").read_text())
    assert stage["global_step"] == 600 and stage["world_size"] == NODES
    assert stage["resumed_from"] and Path(stage["resumed_from"]).name.startswith("checkpoint-")
