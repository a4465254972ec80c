"""A sequence-classification reward model's score, for the general-purpose RL of R1's stage 4.

R1 (section 2.3.4) judges helpfulness on the final summary only and harmlessness on the whole response,
reasoning included; `mode` picks which. The model (a local folder or a Hub id) must have a single output
(`num_labels == 1`): that logit is the reward. It is loaded once per process and device, in eval mode.

In GRPO the model is loaded whole (not partitioned, even under DeepSpeed ZeRO-3) on every process at start-up
(`prepare`, before training). Under ZeRO-3 a model partitioned across the ranks runs only when every rank runs it,
but a rank scores only its batch's rows of this reward's `tasks`, which another rank's batch may lack: a
partitioned reward model left the ranks waiting for each other for ever. A whole copy per process costs the
model's full size on every GPU (the Qwen2.5-7B stage 4 recipe budgets ~16 GB for an 8B one) and needs no
collective. Elsewhere (evaluation, rejection sampling) it loads, just as whole, at first use.

Departures and choices:
- The paper names no reward model; any `AutoModelForSequenceClassification` with one label will do.
- Helpfulness scores the text after the last `</think>`. A completion without `</think>` has no summary, so
  its answer part is empty and the model scores the prompt with an empty response; scoring its whole text
  instead would let a policy skip the reasoning block to be judged on its reasoning.
- With a chat template the model sees the conversation (prompt turns, then the response as the assistant
  turn); without one, the prompt text followed directly by the response, as the policy produced it.
- Inputs longer than `max_length` tokens keep their end (the response, and the last token the classifier
  reads) and lose the start of the prompt.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from r1recipes import RecipeError
from r1recipes.config.paths import check_model_path
from r1recipes.rewards.text import completion_text, valid_unicode

if TYPE_CHECKING:  # torch and transformers load at first use, so importing the reward registry stays quick
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MODES = ("helpfulness", "harmlessness")


def _check_path(model_name_or_path: str) -> None:
    try:
        check_model_path(model_name_or_path)
    except RecipeError as error:
        raise RecipeError(f"reward_model: {error}") from None


@functools.lru_cache(maxsize=4)
def load_reward_model(model_name_or_path: str, device: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """(tokenizer, model) padding on the right and truncating on the left; cached per path and device."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from r1recipes.models.loading import outside_zero3_init, pick_dtype

    _check_path(model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
    tokenizer.padding_side, tokenizer.truncation_side = "right", "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token is None:
        raise RecipeError(f"reward_model: the tokenizer of {model_name_or_path} has no pad or EOS token to pad with")
    with outside_zero3_init():  # whole on every process: see the module docstring
        model = AutoModelForSequenceClassification.from_pretrained(model_name_or_path, dtype=pick_dtype(None))
    if model.config.num_labels != 1:
        raise RecipeError(
            f"reward_model: {model_name_or_path} has {model.config.num_labels} labels; a reward model has one"
        )
    # the classifier reads each row's last non-pad token, which it can only find with a pad id
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model.to(device).eval()


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def prepare(*, model_name_or_path: str, device: str | None = None, **scoring_settings) -> None:
    """Load the model at start-up, so that scoring never loads it (the registry's `Reward.prepare` calls this);
    the settings that only scoring reads (mode, batch_size, max_length) do not matter here."""
    load_reward_model(model_name_or_path, _device(device))


def _response(completion, mode: str) -> str:
    text = completion_text(completion)
    if mode == "harmlessness":
        return text
    _, think_end, summary = text.rpartition("</think>")
    return summary.strip() if think_end else ""


def _model_input(tokenizer: PreTrainedTokenizerBase, prompt, response: str) -> str:
    if tokenizer.chat_template:
        turns = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt or "")}]
        return tokenizer.apply_chat_template([*turns, {"role": "assistant", "content": response}], tokenize=False)
    prompt_text = "\n".join(str(turn.get("content") or "") for turn in prompt) if isinstance(prompt, list) else prompt
    return str(prompt_text or "") + response


def reward_model_reward(
    completions,
    prompts=None,
    *,
    model_name_or_path: str,
    mode: str = "helpfulness",
    batch_size: int = 8,
    max_length: int = 4096,
    device: str | None = None,
    **kwargs,
) -> list[float | None]:
    """The reward model's logit for each (prompt, response).

    - `model_name_or_path`: the reward model, a local folder or a Hub id.
    - `mode`: "helpfulness" (default) scores the text after the last `</think>`, stripped; "harmlessness" the
      whole completion.
    - `batch_size` (8): sequences per forward pass.
    - `max_length` (4096): tokens per sequence; longer ones keep their end.
    - `device`: where the model runs; None means CUDA when available, else the CPU.

    `prompts` is TRL's prompt list (strings or conversations); without it each response is scored alone. A
    sequence that tokenizes to nothing (empty prompt and response, no template) gets None.
    """
    import torch

    if mode not in MODES:
        raise RecipeError(f"reward_model: unknown mode '{mode}' (valid: {', '.join(MODES)})")
    if batch_size < 1 or max_length < 1:
        raise RecipeError("reward_model: batch_size and max_length must be at least 1")
    if not completions:  # how the registry checks settings when a recipe is parsed: no model load
        _check_path(model_name_or_path)
        return []
    device = _device(device)
    tokenizer, model = load_reward_model(model_name_or_path, device)
    prompts = prompts if prompts is not None else [""] * len(completions)
    texts = [_model_input(tokenizer, p, _response(c, mode)) for p, c in zip(prompts, completions, strict=True)]
    texts = [valid_unicode(text) for text in texts]
    # a chat template writes its own special tokens
    token_ids = tokenizer(
        texts, truncation=True, max_length=max_length, add_special_tokens=not tokenizer.chat_template
    )["input_ids"]
    scorable = [index for index, ids in enumerate(token_ids) if ids]
    scores: list[float | None] = [None] * len(texts)
    for start in range(0, len(scorable), batch_size):
        indices = scorable[start : start + batch_size]
        batch = tokenizer.pad({"input_ids": [token_ids[i] for i in indices]}, return_tensors="pt").to(device)
        with torch.inference_mode():
            logits = model(**batch).logits[:, 0].float().tolist()
        for index, logit in zip(indices, logits, strict=True):
            scores[index] = logit
    return scores


reward_model_reward.prepare = prepare
