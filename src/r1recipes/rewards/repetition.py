"""A penalty for repeating the same n-grams, against the loops long reasoning falls into.

    penalty = (1 - distinct n-grams / all n-grams) * max_penalty, in [max_penalty, 0]

0.0 when every n-gram is new, near max_penalty when the text is one n-gram over and over; 0.0 for a text of
fewer than `ngram_size` units. From "Demystifying Long Chain-of-Thought Reasoning in LLMs" (Yeo et al., 2025),
as open-r1 implements it (`get_repetition_penalty_reward`), over the whole completion, lowercased.

Departs from open-r1 in the units: open-r1 splits on whitespace, or segments Chinese with jieba when told the
language. Here one rule serves every language with no extra dependency: each Han, Hiragana or Katakana
character is one unit (those scripts put no spaces between words) and any other run of non-space characters is
one unit (a word, punctuation attached). English is counted in words, Chinese and Japanese in characters, and
mixed text in both, with no language setting. Korean, which spaces its words, is counted in words.
"""

import re

from r1recipes.rewards.language import UNSPACED_CHARS
from r1recipes.rewards.settings import setting
from r1recipes.rewards.text import completion_text

_UNIT = re.compile(rf"[{UNSPACED_CHARS}]|[^\s{UNSPACED_CHARS}]+")


def repetition_penalty(text: str, ngram_size: int = 3, max_penalty: float = -1.0) -> float:
    """The penalty for one text; see the module doc. Settings are not checked here."""
    units = _UNIT.findall(text.lower())
    total = len(units) - ngram_size + 1
    if total <= 0:
        return 0.0
    distinct = len(set(zip(*(units[i:] for i in range(ngram_size)), strict=False)))
    return (1 - distinct / total) * max_penalty + 0.0  # + 0.0 turns -0.0 into 0.0


def repetition_reward(completions, *, ngram_size: int = 3, max_penalty: float = -1.0, **kwargs) -> list[float]:
    """(1 - distinct/all n-grams) * max_penalty per completion, 0.0 below `ngram_size` units.

    `ngram_size` (default 3) is in units: words, or characters of Chinese and Japanese text. `max_penalty`
    (default -1.0) is the penalty for pure repetition and must be <= 0."""
    ngram_size = setting("repetition", "ngram_size", ngram_size, minimum=1, integer=True)
    max_penalty = setting("repetition", "max_penalty", max_penalty, maximum=0)
    return [repetition_penalty(completion_text(c), ngram_size, max_penalty) for c in completions]
