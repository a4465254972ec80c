"""The SFT and GRPO stage runners on the tiny model: they train, save, mark completion, skip and resume."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import lora_b_moved, tiny_grpo_fields, tiny_sft_fields, write_recipe
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, TrainerCallback
from trl.trainer import grpo_trainer

from r1recipes import RecipeError, grpo, sft
from r1recipes.data.synthetic import arithmetic_rows, write_jsonl

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


def logged(folder: Path, key: str) -> list[float]:
    history = json.loads((folder / "trainer_state.json").read_text())["log_history"]
    return [entry[key] for entry in history if key in entry]


def losses(folder: Path) -> list[float]:
    return logged(folder, "loss")


def test_grpo_with_lora_trains_an_adapter_against_the_base_with_the_adapter_off(
    tmp_path, tiny_model, arithmetic_file, monkeypatch
):
    """With beta > 0, TRL takes the reference log-probs from the policy with its adapter disabled, so no second
    model loads; the stage saves the adapter alone, and the base folder stays as it was."""

    def second_model(*args, **kwargs):
        raise AssertionError("TRL loaded a separate reference model")

    monkeypatch.setattr(grpo_trainer, "create_model_from_path", second_model)
    base_files = {path.name: path.read_bytes() for path in tiny_model.iterdir()}
    out = tmp_path / "lora"
    fields = tiny_grpo_fields(tiny_model, arithmetic_file, out, max_steps=3, beta=0.04, use_peft=True, lora_r=4,
                              lora_alpha=8, lora_target_modules=["q_proj", "v_proj"])  # fmt: skip
    record = run(grpo, write_recipe(tmp_path / "lora_grpo.yaml", **fields))
    assert record["global_step"] == 3 and (out / "stage.json").exists() and not (out / "model.safetensors").exists()
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model) and config["r"] == 4
    assert set(config["target_modules"]) == {"q_proj", "v_proj"}
    moved = lora_b_moved(out)
    assert len(moved) == 2 * 2 and all(moved.values()), moved  # q_proj and v_proj of the tiny model's 2 layers
    assert {path.name: path.read_bytes() for path in tiny_model.iterdir()} == base_files

    # step 1 samples and scores with B = 0, the policy equal to the base: KL exactly 0; after that the adapter has
    # moved and the reference has not
    kl = logged(out, "kl")
    assert len(kl) == 3 and kl[0] == 0 and min(kl[1:]) > 0, kl

    ids = torch.tensor([[1, 5, 9, 13, 17, 21, 25, 29]])
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    with torch.no_grad():
        base_logits = base(ids).logits
        adapted_logits = PeftModel.from_pretrained(base, out).eval()(ids).logits
        as_next_stage = AutoModelForCausalLM.from_pretrained(out).eval()(ids).logits  # how a later stage reads it
    assert not torch.allclose(adapted_logits, base_logits, atol=1e-4)
    torch.testing.assert_close(as_next_stage, adapted_logits)


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


def interrupted_after_step_4(tmp_path, tiny_model, arithmetic_file):
    """A run of 4 steps, checkpointed every 2, stopped right after checkpoint-4 was written (before stage.json),
    with a constant learning rate so that an extra step would change the weights."""
    out = tmp_path / "interrupted"
    fields = tiny_sft_fields(
        tiny_model,
        arithmetic_file,
        out,
        max_steps=4,
        save_strategy="steps",
        save_steps=2,
        lr_scheduler_type="constant",
    )
    recipe = write_recipe(tmp_path / "interrupted.yaml", **fields)

    class StopAfterStep4(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 4:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(sft, recipe, callbacks=[StopAfterStep4()])
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-2", "checkpoint-4"}
    assert not (out / "stage.json").exists()
    return out, recipe


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage,why",
    [
        (lambda c: (c / "trainer_state.json").unlink(), "no trainer_state.json"),
        (lambda c: cut_short(c / "trainer_state.json"), "trainer_state.json is cut short"),
        (lambda c: cut_short(c / "model.safetensors"), "model.safetensors is cut short"),
    ],
    ids=["state-missing", "state-cut-short", "weights-cut-short"],
)
def test_a_checkpoint_left_half_written_is_set_aside_and_the_newest_complete_one_resumed(
    damage, why, tmp_path, tiny_model, arithmetic_file, capsys
):
    """A kill while checkpoint-4 was being written: the rerun trained on from checkpoint-2, not a traceback."""
    out, recipe = interrupted_after_step_4(tmp_path, tiny_model, arithmetic_file)
    damage(out / "checkpoint-4")
    first = FirstStep()
    record = run(sft, recipe, callbacks=[first])
    assert record["resumed_from"].endswith("checkpoint-2") and first.first == 3 and record["global_step"] == 4
    err = capsys.readouterr().err
    assert f"set aside checkpoint-4 ({why}" in err and "as incomplete-checkpoint-4" in err
    assert (out / "incomplete-checkpoint-4").is_dir() and (out / "stage.json").exists()


def test_a_run_killed_after_its_last_checkpoint_finishes_without_another_step(
    tmp_path, tiny_model, arithmetic_file, capsys
):
    out, recipe = interrupted_after_step_4(tmp_path, tiny_model, arithmetic_file)
    first = FirstStep()
    record = run(sft, recipe, callbacks=[first])
    assert first.first is None, "trained a step after the last one"
    assert record["global_step"] == 4 and record["resumed_from"].endswith("checkpoint-4")
    assert "saved at the last step: finishing from it" in capsys.readouterr().err
    final, saved = weights(out), weights(out / "checkpoint-4")
    assert final.keys() == saved.keys() and not changed(saved, final)
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 4


def test_a_stage_that_would_train_0_steps_is_refused_before_anything_is_written(tmp_path, tiny_model, arithmetic_file):
    out = tmp_path / "out"
    fields = tiny_sft_fields(tiny_model, arithmetic_file, out, max_steps=-1, num_train_epochs=0)
    with pytest.raises(RecipeError, match=r"num_train_epochs 0.0 and max_steps -1 train 0 steps"):
        run(sft, write_recipe(tmp_path / "epochs0.yaml", **fields))
    assert not out.exists()


def test_grpo_given_fewer_prompts_than_one_generation_batch_is_refused(tmp_path, tiny_model):
    """TRL's sampler drops a batch that is not full: 3 prompts against 4 a batch trained 0 steps, then stage.json
    was written and the next stage started from an untrained model."""
    data = write_jsonl(arithmetic_rows(3, seed=0), tmp_path / "three.jsonl")
    out = tmp_path / "out"
    fields = tiny_grpo_fields(tiny_model, data, out, per_device_train_batch_size=8, num_generations=2)
    with pytest.raises(RecipeError, match=r"3 training prompts, fewer than the 4 one generation batch takes"):
        run(grpo, write_recipe(tmp_path / "few.yaml", **fields))
    assert not out.exists()


def test_a_runner_refuses_to_save_over_its_own_model(tmp_path, tiny_model, arithmetic_file):
    before = (tiny_model / "model.safetensors").read_bytes()
    fields = tiny_sft_fields(tiny_model, arithmetic_file, f"{tiny_model}/../{tiny_model.name}")
    with pytest.raises(RecipeError, match=r"is the model's own folder: saving would overwrite its weights"):
        run(sft, write_recipe(tmp_path / "over.yaml", **fields))
    assert (tiny_model / "model.safetensors").read_bytes() == before and not (tiny_model / "stage.json").exists()


def test_grpo_refuses_prompts_that_leave_no_room_for_the_completion(tmp_path, tiny_model, arithmetic_file):
    """The tiny model's context is 2,048 tokens; TRL 1.16 does not truncate prompts."""
    rows = arithmetic_rows(8, seed=0)
    rows[5]["problem"] = "Add these: " + " + ".join(["1"] * 1500)
    data = write_jsonl(rows, tmp_path / "long.jsonl")
    out = tmp_path / "out"
    fields = tiny_grpo_fields(tiny_model, data, out, max_completion_length=48)
    with pytest.raises(RecipeError, match=r"1 of 8 prompts are longer than the 2,000 tokens that the model's context "
                       r"\(2,048\) leaves beside max_completion_length \(48\); the longest, [\d,]+ tokens, begins "
                       r"'Add these: 1 \+ 1"):  # fmt: skip
        run(grpo, write_recipe(tmp_path / "long.yaml", **fields))
    assert not out.exists()
