"""Readability filters for rejection sampling (R1 report, section 2.3.3): which correct samples are worth keeping.

R1 "filtered out chain-of-thought with mixed languages, long paragraphs, and code blocks"; the report gives no
thresholds. Each filter here is switchable and counted, and reuses a reward's measure so filtering and RL
agree on what, say, language mixing is:

- `truncated`: the sample hit `max_new_tokens` before the end-of-turn token.
- `think_layout`: it lacks the `format` reward's layout (`[<think>] reasoning </think>` then an answer; with
  `require_answer_tags`, default false, the answer in `<answer>` tags), or its reasoning is empty.
- `language`: under `min_share` (0.95) of its reasoning is in `language`'s (en) script, the `language`
  reward's measure; reasoning without words (only maths) passes.
- `paragraph_length`: a paragraph (text between blank lines) is longer than `max_chars` (3000).
- `code_in_reasoning`: its reasoning holds a fenced code block and its task is not in `code_tasks` ([code]).
- `repetition`: over `max_repeated` (0.5) of its `ngram_size`-grams (4) are repeats, the `repetition`
  reward's measure.

Our thresholds: the longest paragraph of a MATH-500 worked solution is 1,829 characters and its most repetitive
solution repeats 46% of its 4-grams; a model stuck in a loop repeats over 90%.
A recipe sets `filters: {name: {setting: value}}` to change settings and `filters: {name: false}` to switch
one off; filters it does not name run with their defaults.
"""

import copy
import re

from r1recipes import RecipeError
from r1recipes.rewards.format import has_layout
from r1recipes.rewards.language import language_script, language_units
from r1recipes.rewards.repetition import repetition_penalty
from r1recipes.rewards.settings import flag, setting
from r1recipes.rewards.text import reasoning_text

DEFAULT_SETTINGS: dict[str, dict] = {
    "truncated": {},
    "think_layout": {"require_answer_tags": False},
    "language": {"language": "en", "min_share": 0.95},
    "paragraph_length": {"max_chars": 3000},
    "code_in_reasoning": {"code_tasks": ["code"]},
    "repetition": {"ngram_size": 4, "max_repeated": 0.5},
}
_PARAGRAPH_BREAK = re.compile(r"\r?\n(?:[ \t]*\r?\n)+")  # a blank line, or several
_FENCE = re.compile(r"^[ \t]*```", re.MULTILINE)


def check_filters(filters: dict | None) -> dict[str, dict]:
    """The filters to run, each with its full settings: the defaults, updated by the recipe's `filters`."""
    filters = {} if filters is None else filters
    if not isinstance(filters, dict):
        raise RecipeError(f"filters: expected a mapping of filter names to settings, got {filters!r}")
    enabled = {}
    for name in filters:
        if name not in DEFAULT_SETTINGS:
            raise RecipeError(f"filters: unknown filter '{name}' (valid: {', '.join(DEFAULT_SETTINGS)})")
    for name, defaults in DEFAULT_SETTINGS.items():
        given = filters.get(name, {})
        if given is False:
            continue
        if given is True or given is None:
            given = {}
        if not isinstance(given, dict):
            raise RecipeError(f"filters.{name}: expected a mapping of settings, true or false, got {given!r}")
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            valid = ", ".join(defaults) or "none"
            raise RecipeError(f"filters.{name}: unknown setting '{unknown[0]}' (valid: {valid})")
        enabled[name] = _checked(name, copy.deepcopy({**defaults, **given}))
    return enabled


def _checked(name: str, settings: dict) -> dict:
    def number(key, **bounds):
        setting(name, key, settings[key], section="filters", **bounds)

    if name == "think_layout":
        flag(name, "require_answer_tags", settings["require_answer_tags"], section="filters")
    elif name == "language":
        try:
            language_script(settings["language"])
        except RecipeError as exc:
            raise RecipeError(f"filters.language.language: {exc}") from None
        number("min_share", minimum=0, maximum=1)
    elif name == "paragraph_length":
        number("max_chars", minimum=1, integer=True)
    elif name == "code_in_reasoning":
        tasks = settings["code_tasks"]
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise RecipeError(f"filters.code_in_reasoning.code_tasks: expected a list of task names, got {tasks!r}")
    elif name == "repetition":
        number("ngram_size", minimum=1, integer=True)
        number("max_repeated", minimum=0, maximum=1)
    return settings


def longest_paragraph(text: str) -> int:
    """Characters of the longest paragraph (blank lines separate paragraphs; their edges' spaces not counted)."""
    return max(len(paragraph.strip()) for paragraph in _PARAGRAPH_BREAK.split(text))


def measure(text: str, language: str = "en", ngram_size: int = 4) -> dict[str, float | None]:
    """What the filters look at, for the output's provenance columns: the share of the reasoning in
    `language`'s script (None when it has no words), the share of repeated n-grams, the longest paragraph."""
    target, total = language_units(reasoning_text(text), language)
    return {
        "language_share": target / total if total else None,
        "repeated_share": -repetition_penalty(text, ngram_size, -1.0) + 0.0,
        "longest_paragraph": longest_paragraph(text),
    }


def failed_filters(text: str, task: str, truncated: bool, filters: dict[str, dict]) -> list[str]:
    """The names of the enabled `filters` (from `check_filters`) that reject this completion text."""
    failed = []
    if "truncated" in filters and truncated:
        failed.append("truncated")
    if "think_layout" in filters:
        settings = filters["think_layout"]
        if not (has_layout(text, settings["require_answer_tags"]) and reasoning_text(text).strip()):
            failed.append("think_layout")
    if "language" in filters:
        settings = filters["language"]
        target, total = language_units(reasoning_text(text), settings["language"])
        if total and target / total < settings["min_share"]:
            failed.append("language")
    if "paragraph_length" in filters:
        if longest_paragraph(text) > filters["paragraph_length"]["max_chars"]:
            failed.append("paragraph_length")
    if "code_in_reasoning" in filters:
        if task not in filters["code_in_reasoning"]["code_tasks"] and _FENCE.search(reasoning_text(text)):
            failed.append("code_in_reasoning")
    if "repetition" in filters:
        settings = filters["repetition"]
        if -repetition_penalty(text, settings["ngram_size"], -1.0) > settings["max_repeated"]:
            failed.append("repetition")
    return failed
