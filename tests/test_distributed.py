"""The DeepSpeed accelerate configs here: two CPU processes train under ZeRO-2/ZeRO-3 and save a normal folder.

The first DeepSpeed run on a machine JIT-compiles DeepSpeed's shared-memory all-reduce op (deepspeed_shm_comm,
a minute or two on 2 cores; it needs a C++ compiler and ninja) into ~/.cache/torch_extensions; later runs load it.
Every run here takes 12-20 s even then, so they are all slow tests.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import tiny_grpo_fields, tiny_sft_fields, write_recipe
from test_runners import changed, weights
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not importlib.util.find_spec("deepspeed"), reason="needs deepspeed (the dev extra)"),
]


def launch(config: str, runner: str, recipe: Path) -> subprocess.CompletedProcess:
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
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize(
    "runner,config,zero_stage",
    [("sft", "cpu_zero2.yaml", 2), ("sft", "cpu_zero3.yaml", 3), ("grpo", "cpu_zero3.yaml", 3)],
)
def test_deepspeed_on_two_cpu_processes(runner, config, zero_stage, tmp_path, tiny_model, arithmetic_file):
    fields_for = {"sft": tiny_sft_fields, "grpo": tiny_grpo_fields}[runner]
    out = tmp_path / runner
    recipe = write_recipe(tmp_path / f"{runner}.yaml", **fields_for(tiny_model, arithmetic_file, out, max_steps=2))
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
