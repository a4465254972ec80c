"""The mid-training recipe's learning-rate schedule, run through the SFT runner on the tiny model and plain text.

The recipe's warmup-stable-decay settings (decay shape, minimum ratio, peak LR) and its packing are kept; only
the step counts and sizes shrink, so the run takes seconds: 2 warmup, 6 stable and 4 decay steps out of 12.
"""

import json
import math
from pathlib import Path

import pytest
import yaml
from transformers import TrainerCallback

from r1recipes import sft
from r1recipes.data.synthetic import arithmetic_rows, write_jsonl

RECIPE = Path(__file__).resolve().parents[1] / "recipes/midtrain/Llama-3.2-3B_stable_decay.yaml"
STEPS, WARMUP, DECAY = 12, 2, 4
STABLE = STEPS - WARMUP - DECAY

# The decay shapes of transformers' warmup_stable_decay, as functions of the decay's progress p in [0, 1)
DECAY_SHAPES = {
    "linear": lambda p: 1.0 - p,
    "cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * p)),
    "1-sqrt": lambda p: 1.0 - math.sqrt(p),
}


def wsd_factor(step: int, decay_type: str, min_ratio: float) -> float:
    """The LR multiplier after `step` optimizer steps: linear warmup from `min_ratio`, 1 while stable, then the
    decay shape rescaled to end at `min_ratio`, which holds from the last step on."""
    if step < WARMUP:
        return min_ratio + (1 - min_ratio) * step / WARMUP
    if step < WARMUP + STABLE:
        return 1.0
    if step < STEPS:
        return min_ratio + (1 - min_ratio) * DECAY_SHAPES[decay_type]((step - WARMUP - STABLE) / DECAY)
    return min_ratio


class FinalLR(TrainerCallback):
    """The scheduler's LR after the last step, which no log entry holds."""

    def on_train_end(self, args, state, control, lr_scheduler=None, **kwargs):
        self.lr = lr_scheduler.get_last_lr()[0]


def test_midtrain_recipe_warms_up_holds_the_peak_then_decays_to_the_minimum(tmp_path, tiny_model):
    recipe = yaml.safe_load(RECIPE.read_text())
    assert recipe["lr_scheduler_type"] == "warmup_stable_decay"
    schedule = {**recipe["lr_scheduler_kwargs"], "num_decay_steps": DECAY}
    peak, decay_type, min_ratio = recipe["learning_rate"], schedule["decay_type"], schedule["min_lr_ratio"]
    assert schedule.get("warmup_type", "linear") == "linear" and 0 < min_ratio < 1

    documents = [{"text": row["solution"]} for row in arithmetic_rows(32, seed=3)]
    text = write_jsonl(documents, tmp_path / "text.jsonl")
    out = tmp_path / "midtrain"
    overrides = {
        "model_name_or_path": tiny_model, "dataset_name": text, "output_dir": out,
        "max_steps": STEPS, "warmup_steps": WARMUP, "lr_scheduler_kwargs": json.dumps(schedule),
        "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "max_length": 64,
        "dataset_num_proc": 1, "activation_checkpointing": "false", "report_to": "none",
        "save_strategy": "no", "logging_steps": 1,
        "use_cpu": "true", "num_processes": 1,  # a GPU recipe, on this CPU by choice, its batch as written here
    }  # fmt: skip
    flags = [item for name, value in overrides.items() for item in (f"--{name}", str(value))]
    data_args, training_args, model_args, source = sft.make_parser().parse(["--config", str(RECIPE), *flags])
    final = FinalLR()
    record = sft.main(data_args, training_args, model_args, source, callbacks=[final])
    assert record["global_step"] == STEPS

    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    logged = {entry["step"]: entry["learning_rate"] for entry in history if "learning_rate" in entry}
    assert sorted(logged) == list(range(1, STEPS + 1))
    # packed: each 64-token row holds several documents, so a step of 2 rows covers more than 2 of them
    assert history[0]["epoch"] > 2 / len(documents)
    lrs = [logged[step] for step in range(1, STEPS + 1)]
    # step s logs the LR it trained with, the one the scheduler set after step s - 1
    assert lrs == pytest.approx([peak * wsd_factor(step - 1, decay_type, min_ratio) for step in range(1, STEPS + 1)])
    assert lrs[0] == pytest.approx(peak * min_ratio) and lrs[0] < lrs[1] < peak  # warming up from the floor
    assert lrs[WARMUP : WARMUP + STABLE + 1] == pytest.approx([peak] * (STABLE + 1))  # the peak, held
    decaying = lrs[WARMUP + STABLE :]  # from the peak (the decay's first factor is 1) down
    assert len(decaying) == DECAY
    assert all(later < earlier for earlier, later in zip(decaying, decaying[1:], strict=False))
    assert final.lr == pytest.approx(peak * min_ratio)  # the floor, reached after the last step
