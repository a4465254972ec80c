"""Language consistency: the share of the reasoning written in the target language's script.

The R1 report (section 2.3.2) adds "the proportion of target language words in the CoT" as a reward, against
the language mixing R1-Zero showed. We measure it by Unicode script, with no language model:

    reward = target units / all units of the reasoning (0.0 when it has none)

- Units: each Han, Hiragana or Katakana character is one unit (those scripts put no spaces between words, and
  one character is about a word); elsewhere a unit is a word, a run of letters (with their combining marks).
  One-letter words are skipped: in reasoning they are mostly variables (x, n, π), and skipping them does not
  move a share much in any language.
- A word counts for the target when all its letters are in the target's script; mixed-script words count
  against. Digits, punctuation and symbols are no units.
- Not counted at all: maths and code, i.e. `$$...$$`, `$...$` (within a line), `\\[...\\]`, `\\(...\\)`,
  fenced and inline code; LaTeX commands (`\\frac`) outside them; tags such as `<think>`.
- The reasoning is the text inside `<think>` (see `reasoning_text`), or the whole text when there are no tags.

Scripts are not languages: `en` accepts any Latin-script text (French too), `ja` any Han text (Chinese too,
as Japanese writes with Han characters). It tells Chinese from English, which is the mixing R1 fought.
The report does not say how R1 counted words or what it did with maths; these choices are ours.
"""

import re
import unicodedata

from r1recipes import RecipeError
from r1recipes.rewards.text import completion_text, reasoning_text

_HAN = (
    "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
)
_KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f\U0001b000-\U0001b16f"
# Characters of scripts written without spaces between words: one unit each, in this reward and in `repetition`.
UNSPACED_CHARS = _HAN + _KANA

SCRIPTS = {
    "latin": "A-Za-z\u00aa\u00ba\u00c0-\u024f\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff\uff21-\uff3a\uff41-\uff5a",
    "cyrillic": "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f",
    "arabic": "\u0600-\u06ff\u0750-\u077f\u0870-\u08ff\ufb50-\ufdff\ufe70-\ufeff",
    "hangul": "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff\uffa0-\uffdc",
    "greek": "\u0370-\u03ff\u1f00-\u1fff",
    "hebrew": "\u0590-\u05ff\ufb1d-\ufb4f",
    "devanagari": "\u0900-\u097f\ua8e0-\ua8ff",
    "han": _HAN,
    "han_kana": _HAN + _KANA,
}
LANGUAGES = {
    "en": "latin",
    "zh": "han",
    "ja": "han_kana",
    "ko": "hangul",
    "ru": "cyrillic",
    "ar": "arabic",
    "el": "greek",
    "he": "hebrew",
    "hi": "devanagari",
}


def _marks() -> str:
    """A character class of the combining marks (Hindi vowel signs, Arabic vowels...), which are no letters
    to `str.isalpha` but belong inside words. Built once from the blocks that hold them."""
    blocks = [(0x0300, 0x1E00), (0x20D0, 0x2100), (0x302A, 0x3030), (0x3099, 0x309B), (0xA600, 0xAB00)]
    blocks.append((0xFE00, 0xFE30))
    marks = [c for lo, hi in blocks for c in range(lo, hi) if unicodedata.category(chr(c)).startswith("M")]
    ranges, start = [], None
    for i, c in enumerate(marks):
        start = c if start is None else start
        if i + 1 == len(marks) or marks[i + 1] != c + 1:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(c))}" if c > start else re.escape(chr(c)))
            start = None
    return "".join(ranges)


_MARKS = _marks()
_UNIT = re.compile(rf"[{UNSPACED_CHARS}]|(?P<word>(?:(?![{UNSPACED_CHARS}])[^\W\d_]|[{_MARKS}])+)")
_IN_SCRIPT = {name: re.compile(rf"(?:[{chars}]|[{_MARKS}])+") for name, chars in SCRIPTS.items()}
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9_-]{0,30}>")
# Maths and code first, the longest delimiters before those they contain; `$` spans stay within a line.
_SPANS = [("```", "```", False), ("$$", "$$", False), ("\\[", "\\]", False), ("\\(", "\\)", False)]
_SPANS += [("$", "$", True), ("`", "`", True)]


def _drop_spans(text: str, opener: str, closer: str, one_line: bool) -> str:
    """`text` without its `opener ... closer` spans; an opener that is never closed is kept as text.

    str.find from left to right: linear in the text, where a lazy regex would rescan the rest of the text
    from every unclosed opener."""
    kept, at = [], 0
    while (start := text.find(opener, at)) >= 0:
        end = text.find(closer, start + len(opener))
        if end < 0:
            break
        if one_line and "\n" in text[start:end]:
            kept.append(text[at : start + len(opener)])
            at = start + len(opener)
            continue
        kept.append(text[at:start])
        kept.append(" ")  # the span separated what was around it
        at = end + len(closer)
    kept.append(text[at:])
    return "".join(kept)


def language_script(language: str) -> str:
    script = LANGUAGES.get(language.strip().lower()) if isinstance(language, str) else None
    if script is None:
        raise RecipeError(f"unknown language {language!r} (valid: {', '.join(LANGUAGES)})")
    return script


def language_share(text: str, language: str) -> float:
    """The share of `text`'s units in `language`'s script, in [0, 1]; 0.0 when it has no units.

    `text` is taken whole (pass the reasoning part yourself); see the module doc for units and what is left out.
    Raises RecipeError for a language not in LANGUAGES."""
    target, total = language_units(text, language)
    return target / total if total else 0.0


def language_units(text: str, language: str) -> tuple[int, int]:
    """(units in `language`'s script, all units) of `text`; see `language_share`."""
    in_script = _IN_SCRIPT[language_script(language)]
    for opener, closer, one_line in _SPANS:
        text = _drop_spans(text, opener, closer, one_line)
    text = _TAG.sub(" ", _LATEX_COMMAND.sub(" ", text))
    total = target = 0
    for match in _UNIT.finditer(text):
        if match["word"] is not None and len(match["word"]) < 2:
            continue  # a one-letter word: a variable, most likely
        total += 1
        target += in_script.fullmatch(match.group()) is not None
    return target, total


def language_reward(completions, *, language: str = "en", **kwargs) -> list[float]:
    """The share of each completion's reasoning written in `language`'s script (default "en", Latin script).

    Languages: en (Latin), zh (Han), ja (Han, Hiragana, Katakana), ko (Hangul), ru (Cyrillic), ar (Arabic),
    el (Greek), he (Hebrew), hi (Devanagari)."""
    try:
        language_script(language)
    except RecipeError as exc:
        raise RecipeError(f"reward_kwargs.language.language: {exc}") from None
    return [language_share(reasoning_text(completion_text(c)), language) for c in completions]
