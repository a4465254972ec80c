"""The SFT and GRPO stage runners on the tiny model: they train, save, mark completion, skip and resume."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import tiny_grpo_fields, tiny_sft_fields, write_recipe
from safetensors.torch import load_file
from transformers import TrainerCallback

from r1recipes import RecipeError, grpo, sft

ROOT = Path(__file__).resolve().parents[1]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def changed(before: dict, after: dict) -> bool:
    return any(not torch.equal(before[name], after[name]) for name in before)


def run(module, recipe: Path, *flags, callbacks=None):
    data_args, training_args, model_args, source = module.make_parser().parse(["--config", str(recipe), *flags])
    return module.main(data_args, training_args, model_args, source, callbacks=callbacks)


def test_sft_trains_saves_and_marks_the_stage_complete(tmp_path, tiny_model, arithmetic_file, capsys):
    out = tmp_path / "stage1"
    recipe = write_recipe(tmp_path / "stage1_cold_start_sft.yaml", **tiny_sft_fields(tiny_model, arithmetic_file, out))
    record = run(sft, recipe)
    assert changed(weights(tiny_model), weights(out))
    stage = json.loads((out / "stage.json").read_text())
    assert stage == json.loads(json.dumps(record))
    assert stage["stage"] == "stage1_cold_start_sft" and stage["runner"] == "sft"
    assert stage["global_step"] == 3 and stage["recipe"]["contents"] == recipe.read_text()
    assert stage["started_at"] <= stage["finished_at"] and "train_loss" in stage["metrics"]
    assert (out / "tokenizer.json").exists()

    assert run(sft, recipe) is None  # complete: a rerun skips
    assert "is complete" in capsys.readouterr().err
    before = (out / "stage.json").read_text()
    assert run(sft, recipe, "--start_over", "true", "--max_steps", "1")["global_step"] == 1
    assert (out / "stage.json").read_text() != before


def test_grpo_with_a_toy_reward_changes_the_weights(tmp_path, tiny_model, arithmetic_file):
    out = tmp_path / "stage2"
    recipe = write_recipe(tmp_path / "grpo.yaml", **tiny_grpo_fields(tiny_model, arithmetic_file, out))
    record = run(grpo, recipe)
    assert record["global_step"] == 2 and (out / "stage.json").exists()
    assert changed(weights(tiny_model), weights(out))
    assert "rewards/length_reward/mean" in record["final_log"]


def losses(folder: Path) -> list[float]:
    history = json.loads((folder / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


def test_sft_refuses_when_truncation_leaves_no_rows(tmp_path, tiny_model, arithmetic_file):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", **tiny_sft_fields(tiny_model, arithmetic_file, out, max_length=4))
    with pytest.raises(RecipeError, match=r"raise max_length \(4\)"):
        run(sft, recipe)
    assert not (out / "stage.json").exists()


def test_sft_with_lora_saves_an_adapter(tmp_path, tiny_model, arithmetic_file):
    out = tmp_path / "lora"
    fields = tiny_sft_fields(tiny_model, arithmetic_file, out, use_peft=True, lora_r=4, lora_target_modules=["q_proj"])
    record = run(sft, write_recipe(tmp_path / "lora.yaml", **fields))
    assert record["global_step"] == 3
    adapter = load_file(out / "adapter_model.safetensors")
    assert adapter and all("lora" in name and "q_proj" in name for name in adapter)


class Interrupt(TrainerCallback):
    """Stops the run like a kill would, right after the step-2 checkpoint is written."""

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise KeyboardInterrupt


class FirstStep(TrainerCallback):
    def __init__(self):
        self.first = None

    def on_step_end(self, args, state, control, **kwargs):
        self.first = self.first or state.global_step


def test_interrupted_sft_resumes_at_the_right_step(tmp_path, tiny_model, arithmetic_file, capsys):
    def recipe(out):
        fields = tiny_sft_fields(tiny_model, arithmetic_file, out, max_steps=4, save_strategy="steps", save_steps=2)
        return write_recipe(tmp_path / f"{out.name}.yaml", **fields)

    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run(sft, recipe(interrupted), callbacks=[Interrupt()])
    assert (interrupted / "checkpoint-2").is_dir() and not (interrupted / "stage.json").exists()

    first = FirstStep()
    record = run(sft, recipe(interrupted), callbacks=[first])
    assert record["resumed_from"].endswith("checkpoint-2") and "resuming from" in capsys.readouterr().err
    assert first.first == 3 and record["global_step"] == 4

    straight = tmp_path / "straight"
    run(sft, recipe(straight))
    # the resumed steps 3 and 4 see the same batches, so they match an uninterrupted run
    assert losses(interrupted)[-2:] == pytest.approx(losses(straight)[-2:], rel=1e-4)


@pytest.mark.parametrize("runner,fields_for", [("sft", tiny_sft_fields), ("grpo", tiny_grpo_fields)])
def test_two_process_data_parallel_on_cpu(runner, fields_for, tmp_path, tiny_model, arithmetic_file):
    out = tmp_path / runner
    recipe = write_recipe(tmp_path / f"{runner}.yaml", **fields_for(tiny_model, arithmetic_file, out, max_steps=2))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "recipes/accelerate_configs/cpu_ddp.yaml"),
        "-m", f"r1recipes.{runner}", "--config", str(recipe),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    stage = json.loads((out / "stage.json").read_text())
    assert stage["world_size"] == 2 and stage["global_step"] == 2
    assert changed(weights(tiny_model), weights(out))
