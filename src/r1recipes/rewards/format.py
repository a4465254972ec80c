"""The R1 output layout: reasoning inside <think>...</think>, then the answer."""

import re

from r1recipes.rewards.text import completion_text

# The opening <think> is optional: an R1-Zero prompt already ends with it.
_WITH_ANSWER = re.compile(r"^\s*(?:<think>)?(?:(?!<think>).)*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)
_THINK_ONLY = re.compile(r"^\s*(?:<think>)?(?:(?!<think>).)*?</think>\s*\S.*$", re.DOTALL)


def format_reward(completions, *, require_answer_tags: bool = True, **kwargs) -> list[float]:
    """1.0 when the completion is `<think>reasoning</think>` followed by the answer, else 0.0.

    With `require_answer_tags` the answer must sit in one `<answer>...</answer>` block that ends the text;
    otherwise any non-empty text after `</think>` counts.
    """
    pattern = _WITH_ANSWER if require_answer_tags else _THINK_ONLY
    return [1.0 if pattern.match(completion_text(c)) else 0.0 for c in completions]
