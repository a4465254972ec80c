"""Recipe builders shared by the runner tests."""

import json
from pathlib import Path


def write_recipe(path: Path, **fields) -> Path:
    """A YAML recipe from keyword fields (JSON is valid YAML)."""
    path.write_text(json.dumps(fields, indent=1))
    return path


def tiny_sft_fields(model, data, output_dir, **overrides) -> dict:
    fields = dict(
        model_name_or_path=str(model),
        dataset_name=str(data),
        prompt_format="chat",
        output_dir=str(output_dir),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_length=96,
        logging_steps=1,
        save_strategy="no",
        activation_checkpointing=False,
        report_to="none",
        seed=0,
    )
    fields.update(overrides)
    return fields


def tiny_grpo_fields(model, data, output_dir, **overrides) -> dict:
    fields = dict(
        model_name_or_path=str(model),
        dataset_name=str(data),
        prompt_format="chat",
        reward_funcs=["toy_rewards.length_reward"],
        output_dir=str(output_dir),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=12,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        activation_checkpointing=False,
        report_to="none",
        seed=0,
    )
    fields.update(overrides)
    return fields
