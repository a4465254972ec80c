"""A reward model for offline runs: a causal LM's body with a new one-output scoring head.

The head is randomly initialised (seeded) and untrained, so its scores carry no preference signal: it lets
stage 4's routing of general prompts to the `reward_model` reward run end to end on a machine with no Hub.
Real recipes name a trained reward model from the Hub instead.
"""

from pathlib import Path

from r1recipes.models.loading import load_tokenizer


def build_reward_model(base: str, output_dir: str | Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_tokenizer(base)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return Path(output_dir)
