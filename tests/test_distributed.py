"""The DeepSpeed accelerate configs here: two CPU processes train under ZeRO-2/ZeRO-3 and save a normal folder;
under ZeRO-3 a reward only one rank calls (stage 4's reward model) or one that fails on one rank leaves no rank
waiting for ever. A run still going after its timeout fails the test, its processes ended.

The first DeepSpeed run on a machine JIT-compiles DeepSpeed's shared-memory all-reduce op (deepspeed_shm_comm,
a minute or two on 2 cores; it needs a C++ compiler and ninja) into ~/.cache/torch_extensions; later runs load it.
Every run here takes 12-20 s even then, so they are all slow tests.
"""

import contextlib
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import torch
from helpers import tiny_grpo_fields, tiny_sft_fields, write_recipe
from test_runners import changed, weights
from transformers import AutoModelForCausalLM

from r1recipes.data.synthetic import arithmetic_rows, general_rows, write_jsonl

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not importlib.util.find_spec("deepspeed"), reason="needs deepspeed (the dev extra)"),
]


def launch(config: str, runner: str, recipe: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`accelerate launch` a runner under one of recipes/accelerate_configs, on a free port, offline."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "HF_HUB_OFFLINE": "1"}
    # the venv's bin first: the op build runs `ninja` from PATH, and the venv has it (a deepspeed dependency)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "recipes/accelerate_configs" / config),
        "--main_process_port", "0",  # a free port: 29500 may be taken by another run
        "-m", f"r1recipes.{runner}", "--config", str(recipe),
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # torch's launcher starts each worker in a session of its own: end them one by one, by id
            launcher = psutil.Process(process.pid)
            for running in [*launcher.children(recursive=True), launcher]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    running.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"still running after {timeout} s: {' '.join(command)}\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize(
    "runner,config,zero_stage",
    [("sft", "cpu_zero2.yaml", 2), ("sft", "cpu_zero3.yaml", 3), ("grpo", "cpu_zero3.yaml", 3)],
)
def test_deepspeed_on_two_cpu_processes(runner, config, zero_stage, tmp_path, tiny_model, arithmetic_file):
    fields_for = {"sft": tiny_sft_fields, "grpo": tiny_grpo_fields}[runner]
    out = tmp_path / runner
    fields = fields_for(tiny_model, arithmetic_file, out, max_steps=2)
    recipe = write_recipe(tmp_path / f"{runner}.yaml", **fields)
    result = launch(config, runner, recipe)
    assert result.returncode == 0, result.stderr[-3000:]

    stage = json.loads((out / "stage.json").read_text())
    assert stage["world_size"] == 2 and stage["global_step"] == 2
    args = torch.load(out / "training_args.bin", weights_only=False)
    assert args.deepspeed_plugin is not None and args.deepspeed_plugin.zero_stage == zero_stage

    # a full fp32 state dict (ZeRO-3 without the 16-bit gather would save empty tensors), trained; ZeRO-2 saves
    # a clone of the state dict, so the tied lm_head.weight is written too, as a copy of embed_tokens
    base, trained = weights(tiny_model), weights(out)
    assert base.keys() <= trained.keys() <= base.keys() | {"lm_head.weight"}
    assert all(trained[name].shape == base[name].shape and trained[name].dtype == base[name].dtype for name in base)
    assert changed(base, trained)
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info.get(key) for key in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert torch.equal(model.state_dict()["model.embed_tokens.weight"], trained["model.embed_tokens.weight"])


def test_stage4_reward_model_under_zero3_when_one_rank_has_no_general_prompts(tmp_path, tiny_model, tiny_reward_model):
    """Each step's 4 prompts are split 2 per rank in order (no shuffling): rank 0 gets the general prompts,
    which only the reward model scores, and rank 1 the math ones. A reward model loaded at first use under
    ZeRO-3 was partitioned, so rank 0 waited in a broadcast for rank 1, which waited in the rewards' gather."""
    rows = general_rows(2, seed=0) + arithmetic_rows(2, seed=1)
    data = write_jsonl(rows * 2, tmp_path / "mixed.jsonl")
    out = tmp_path / "stage4"
    fields = tiny_grpo_fields(
        tiny_model,
        data,
        out,
        reward_funcs=["accuracy", "reward_model"],
        reward_kwargs={
            "accuracy": {"tasks": ["math"]},
            "reward_model": {"model_name_or_path": tiny_reward_model, "tasks": ["general"], "max_length": 128},
        },
        shuffle_dataset=False,
        max_steps=2,
    )
    result = launch("cpu_zero3.yaml", "grpo", write_recipe(tmp_path / "stage4.yaml", **fields), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    logs = json.loads((out / "trainer_state.json").read_text())["log_history"]
    scores = [entry["rewards/reward_model/mean"] for entry in logs if "rewards/reward_model/mean" in entry]
    assert len(scores) == 2 and all(math.isfinite(score) for score in scores)


def failing_on_the_first_process(completions, **kwargs):
    """A reward that works on rank 1 and raises on rank 0 (named by dotted path in the run below)."""
    if os.environ.get("RANK") == "0":
        raise ConnectionError("reward server unreachable")
    return [0.0] * len(completions)


def test_a_reward_failing_on_one_rank_stops_every_rank(tmp_path, tiny_model, arithmetic_file):
    """Rank 0 raises after its 3rd failed call; torch's launcher then ends rank 1, waiting in the rewards' gather."""
    fields = tiny_grpo_fields(
        tiny_model,
        arithmetic_file,
        tmp_path / "out",
        reward_funcs=["toy_rewards.length_reward", "test_distributed.failing_on_the_first_process"],
        max_steps=6,
    )
    result = launch("cpu_zero3.yaml", "grpo", write_recipe(tmp_path / "grpo.yaml", **fields), timeout=300)
    assert result.returncode != 0
    assert (
        "error: reward test_distributed.failing_on_the_first_process failed on its last 3 calls: "
        "ConnectionError: reward server unreachable\n" in result.stderr
    )
    assert not (tmp_path / "out" / "stage.json").exists()


def test_zero3_run_stopped_after_its_last_checkpoint_finishes_from_it(tmp_path, tiny_model, arithmetic_file):
    """A run that saved checkpoint-2 at its last step and lost stage.json (as a kill just before it would): the
    rerun loads the DeepSpeed checkpoint on both ranks, trains no step 3, and saves checkpoint-2's weights."""
    out = tmp_path / "sft"
    fields = tiny_sft_fields(tiny_model, arithmetic_file, out, max_steps=2, save_strategy="steps", save_steps=2)
    recipe = write_recipe(tmp_path / "sft.yaml", **fields)
    assert launch("cpu_zero3.yaml", "sft", recipe).returncode == 0
    (out / "stage.json").unlink()
    result = launch("cpu_zero3.yaml", "sft", recipe)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "saved at the last step: finishing from it" in result.stderr
    stage = json.loads((out / "stage.json").read_text())
    assert stage["global_step"] == 2 and stage["resumed_from"].endswith("checkpoint-2")
    assert not changed(weights(out / "checkpoint-2"), weights(out))
