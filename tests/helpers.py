"""Recipe builders shared by the runner tests, and a copy of the repository root to run make in."""

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_recipe(path: Path, **fields) -> Path:
    """A YAML recipe from keyword fields (JSON is valid YAML)."""
    path.write_text(json.dumps(fields, indent=1))
    return path


def tiny_fields(model, data, output_dir, **fields) -> dict:
    """What every tiny test run sets, then the runner's own fields and the test's overrides."""
    common = dict(
        model_name_or_path=str(model),
        dataset_name=str(data),
        prompt_format="chat",
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        logging_steps=1,
        save_strategy="no",
        activation_checkpointing=False,
        report_to="none",
        seed=0,
    )
    return {**common, **fields}


def tiny_sft_fields(model, data, output_dir, **overrides) -> dict:
    sft = dict(max_steps=3, learning_rate=1e-3, max_length=96)
    return tiny_fields(model, data, output_dir, **{**sft, **overrides})


def tiny_grpo_fields(model, data, output_dir, **overrides) -> dict:
    grpo = dict(
        reward_funcs=["toy_rewards.length_reward"],
        max_steps=2,
        num_generations=2,
        max_completion_length=12,
        learning_rate=1e-2,
    )
    return tiny_fields(model, data, output_dir, **{**grpo, **overrides})


def lora_b_moved(folder) -> dict[str, bool]:
    """For each LoRA B matrix of a saved adapter, whether training moved it off zero, where peft starts it (so that
    the adapter starts as a no-op)."""
    from safetensors.torch import load_file

    adapter = load_file(Path(folder) / "adapter_model.safetensors")
    return {name: bool(tensor.any()) for name, tensor in adapter.items() if "lora_B" in name}


def save_reward_model(tiny_model, folder, *, num_labels=1, chat_template=True):
    """A tiny random sequence-classification reward model with the tiny policy's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    if not chat_template:
        tokenizer.chat_template = None
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def clean_env(**extra: str) -> dict:
    """This process's environment (offline: conftest.py) without a calling make's or a cluster's variables."""
    dropped = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "R1_", "SLURM_", "SBATCH_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(dropped)}, "HF_HUB_OFFLINE": "1", **extra}


def make_ready(copy: Path) -> Path:
    """`copy` (a folder with recipes/ of its own) made a place to run make in: the Makefile and its install stamp's
    inputs copied (modification times kept, so `make install` stays a no-op), .venv, src and slurm linked."""
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy2(ROOT / name, copy / name)
    for name in (".venv", "src", "slurm"):
        (copy / name).symlink_to(ROOT / name)
    if subprocess.run(["make", "-q", "install"], cwd=copy, env=clean_env()).returncode != 0:
        raise AssertionError(
            "the venv is older than setup.cfg or pyproject.toml: run `make install` first (tests never install)"
        )
    return copy
