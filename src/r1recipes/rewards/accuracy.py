"""The maths accuracy reward: is the completion's final answer equivalent to the gold answer?

The same function rewards GRPO, filters rejection samples and scores evaluations, so the three cannot drift.

- Final answer: what the completion's final part states (see `text.final_answers`): the last `<answer>` block
  (its `\\boxed{}` if it has one); else the boxes after `</think>`; else, without tags, the boxes of the
  paragraph holding the last box. Boxes before the final part are working, not answers. No answer scores 0.0.
- Gold: the row's `answer` (plain or LaTeX), else the `\\boxed{}` of its `solution`; several boxes stating
  different answers mean the collection of them (see `gold_answer`). A gold that cannot be parsed gives `None`,
  so TRL leaves the sample out, and adds to the `accuracy/gold_unparsable` tally.
- Equivalence: math-verify (LaTeX and plain forms, `x = 3` for 3, `50\\%` for 0.5 when the gold is a percentage,
  `\\text{Evelyn}`), after two shortcuts that settle most samples without sympy: identical normalised text
  counts as correct, and two plain numbers are compared exactly.
- Commas, one reading on both sides and in every position (box, `<answer>` block, prose): a comma between digits
  is a thousands separator only in a number grouped in threes (`14,916`, `14{,}916`, `1,000.5`); any other comma
  separates items (`2,74` and `0,111` are lists, as is `32, 349`). There is no decimal comma: English-language
  maths data writes lists without spaces (MATH-500's `-2,1`, OlympiadBench's `1,2` and `5,15`).
- Hedging: the final part must state one answer. Several different ones (`\\boxed{3} or \\boxed{5}`) score 0.0
  unless every one of them is right; for a gold that is a set or tuple the stated answers are read together.
- Bounds: each completion gets `timeout` seconds of wall clock in a worker process that is killed when it
  overruns (scoring 0.0 and adding to `accuracy/timeouts`), and on Linux `memory_mb` MiB of address space
  beyond the worker's start (an allocation past it fails; 0.0 and `accuracy/out_of_memory` when the
  `MemoryError` reaches the worker, else the time limit ends the item); answers over `MAX_ANSWER_CHARS` are
  not parsed.

Departure from the R1 report: R1 checks a boxed answer "in a specified format"; this also accepts an `<answer>`
block, which the R1-Zero template asks for.
"""

import functools
import logging
import math
import os
import re
from fractions import Fraction
from typing import NamedTuple

from r1recipes import RecipeError
from r1recipes.rewards.counts import count
from r1recipes.rewards.numeric import latex_number
from r1recipes.rewards.pool import DEFAULT_MEMORY_MB, OUT_OF_MEMORY, TIMED_OUT, BoundedPool
from r1recipes.rewards.settings import setting
from r1recipes.rewards.text import boxed_contents, completion_text, final_answers

MAX_ANSWER_CHARS = 2000  # a final answer longer than this is not an answer; parsing it could take minutes
MAX_GOLD_BOXES = 16  # different answers boxed in one gold solution (a multi-part problem has a few)

_SPACING = re.compile(r"\\[,!;: $]|\\left|\\right|\s+|\$")  # `\$` is a currency sign
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\{?\\circ\}?")
_ASSIGNMENT = re.compile(r"^[A-Za-z]\s*=\s*(?=[^=]+$)")
_PLAIN_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_GROUPED_NUMBER = re.compile(r"^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")  # `14,916`; `0,111` is not grouped
_LATEX_NUMBER = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")  # one number to math-verify's LaTeX reading
_SEPARATING_COMMA = re.compile(r",(?=\s|\\[ ,;:]|\\q?quad)")  # `32, 349` is two numbers, as math-verify reads it
_NUMBER_COMMAS = r"(?<![\d.,])-?\d+(?:\.\d+)?(?:(?:,|\{,\})(?:\\!)?\d+(?:\.\d+)?)+"  # `2,74`, `1,000.5`, `0,\!111`
_MATH_OR_NUMBER_COMMAS = re.compile(rf"(?P<switch>\$\$?|\\[()\[\]])|{_NUMBER_COMMAS}")
_BRACKETS = re.compile(r"^(?:\(|\[|\\\{)(.*)(?:\)|\]|\\\})$")  # a tuple, interval or set: `(1,2]`, `\{1,2\}`
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{[^{}]*\}")  # `pmatrix` is not a word of a sentence
_INTERVAL = re.compile(r"[(\[]([^,()\[\]]+),([^,()\[\]]+)[)\]]")  # normalised: no spaces
_FULL_STOP = re.compile(r"(?<!\.)\.\s*$")
_MATRIX = re.compile(r"\\begin\{[pbBvV]?matrix\}")
_INFINITIES = {"\\infty": math.inf, "+\\infty": math.inf, "-\\infty": -math.inf}  # interval ends
_MATH_DELIMITERS = ("$", "\\(", "\\[", "\\boxed")


def normalize(answer: str) -> str:
    """Cheap canonical text of an answer: no spacing commands, `\\text{}` wrappers, degrees, `x =` prefix.

    A number written with thousands separators (`14,916`, LaTeX's `14{,}916`, MATH's `14,\\!916`) becomes its
    digits, so any comma left in the text separates items; a comma followed by a space always does (`32, 349`
    is a list, as math-verify reads it, not 32349)."""
    answer = _TEXT_WRAPPER.sub(r"\1", answer.strip().rstrip(".").strip())
    answer = _ASSIGNMENT.sub("", answer).replace("{,}", ",")  # `{,}` is a comma without LaTeX's list spacing
    compact = _DEGREES.sub("", _SPACING.sub("", answer))
    if _GROUPED_NUMBER.match(compact) and not _SEPARATING_COMMA.search(answer):
        compact = compact.replace(",", "")
    return compact.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").rstrip(".")


class _Reading(NamedTuple):
    """What text alone tells of an answer."""

    text: str  # normalised
    value: float | None  # of a simple number (see `numeric.latex_number`)
    several: bool  # a matrix, or items separated by commas: read a completion's several boxes together
    numbers: bool  # surely several numbers (a matrix, or different numbers in brackets or after `, `)


def _item_value(item: str) -> float | None:
    return _INFINITIES.get(item) or latex_number(item)


def _several_numbers(text: str) -> bool:
    """Whether a normalised text with commas is surely not one number: intervals (`(2,\\infty)`,
    `(0,9)\\cup(9,36)`), or a list of different numbers, bare or in brackets (`1,22`: a number's thousands
    separators are gone, so the comma separates). Prose with commas, and `{2, 2}` (the set {2}), are left to
    math-verify."""
    intervals = [_INTERVAL.fullmatch(part) for part in text.split("\\cup")]
    if all(intervals):
        ends = [(_item_value(interval[1]), _item_value(interval[2])) for interval in intervals]
        return all(None not in pair and pair[0] != pair[1] for pair in ends)
    inner = _BRACKETS.match(text)
    values = [_item_value(item) for item in (inner.group(1) if inner else text).split(",")]
    return None not in values and len(set(values)) > 1


@functools.lru_cache(maxsize=8192)
def _read(answer: str) -> _Reading:
    """Cached, since a gold answer is read once per completion of its group."""
    text = normalize(answer)
    matrix, listed = _MATRIX.search(text) is not None, "," in text  # a number's thousands separators are gone
    numbers = matrix or (listed and _several_numbers(text))
    return _Reading(text, latex_number(text), matrix or listed, numbers)


def _quick_verdict(answer: str, gold: str) -> float | None:
    """1.0 or 0.0 when text alone settles it, else None (sympy must decide).

    Identical text is right; two plain numbers compare exactly; two simple LaTeX numbers compare as floats,
    decided only when clearly equal or clearly apart (math-verify rounds, so near misses go to it); a number
    against a tuple, set or matrix of numbers is wrong."""
    answer_reading, gold_reading = _read(answer), _read(gold)
    answer, gold = answer_reading.text, gold_reading.text
    if answer == gold:
        return 1.0
    if _PLAIN_NUMBER.match(answer) and _PLAIN_NUMBER.match(gold):
        return float(Fraction(answer) == Fraction(gold))
    if answer_reading.value is not None and gold_reading.value is not None:
        if math.isclose(answer_reading.value, gold_reading.value, rel_tol=1e-9, abs_tol=1e-12):
            return 1.0
        if not math.isclose(answer_reading.value, gold_reading.value, rel_tol=1e-4, abs_tol=1e-6):
            return 0.0
        return None
    if (answer_reading.value is not None and gold_reading.numbers) or (
        gold_reading.value is not None and answer_reading.numbers
    ):
        return 0.0
    return None


@functools.lru_cache(maxsize=8192)
def parse_answer(text: str) -> list:
    """math-verify's candidates for one answer (sympy object and string); [] when nothing parses.

    Bare LaTeX (`\\frac12`) is parsed as if boxed; an answer written as a sentence ("The answer is 42") is left
    to math-verify's own extraction, since boxing it would read the words as products of symbols. Digits and
    commas that are no number grouped in threes reach it as a list (see `_separate_items`)."""
    from math_verify import parse

    if _PLAIN_NUMBER.match(number := normalize(text)):
        text = number  # the number the short cuts read (`x = 14{,}916`, `1\,234`, `\$5.`), not a set
    # `\$` is a currency sign, not maths; math-verify stops reading `$1 - \frac{1}{\mathrm{e}}$` at `\mathrm{e}`,
    # and misreads a sentence's full stop (`\frac12.`), which the short cuts drop
    text = _FULL_STOP.sub("", text.replace("\\$", "").replace("\\mathrm{e}", "e"))
    words = _WORD.findall(_ENVIRONMENT.sub("", _TEXT_WRAPPER.sub("", text)))
    if len(words) < 2 and not any(d in text for d in _MATH_DELIMITERS):
        text = "\\boxed{" + _separate_items(text, prose=False) + "}"
    else:
        text = _separate_items(text, prose="\\boxed" not in text and "\\fbox" not in text)
    return parse(text, parsing_timeout=None)


def _separate_items(text: str, prose: bool) -> str:
    """Digits and commas that are not a number grouped in threes, as the list they are (see `normalize`).

    math-verify's LaTeX reading already takes `2,74` for a list, but `0,111` (and `-0,111`, `012,345`) for one
    number: those become `0, 111`. Its prose reading takes `2,74` for 2.74: in prose (outside `$...$`,
    `\\(...\\)`, `\\[...\\]`) such a list becomes maths, `$2, 74$`, since its prose extraction would take the
    first number of `2, 74` alone. A text with a box is read as maths throughout."""
    in_math = not prose

    def rewrite(match: re.Match) -> str:
        nonlocal in_math
        if match["switch"]:
            if prose:
                in_math = match[0] in ("\\(", "\\[") or (match[0][0] == "$" and not in_math)
            return match[0]
        number = match[0].replace("{,}", ",").replace("\\!", "")
        if _GROUPED_NUMBER.match(number) or (in_math and not _LATEX_NUMBER.match(number)):
            return match[0]  # a number, or in maths a list math-verify already reads as a list
        items = ", ".join(number.split(","))
        return items if in_math else f"${items}$"

    return _MATH_OR_NUMBER_COMMAS.sub(rewrite, text)


def verify_answers(item: tuple[tuple[str, ...], str]) -> float | None:
    """1.0 when every stated answer is equivalent to the gold, 0.0 when not, None when the gold does not parse.

    Runs in a worker process: the pool, not math-verify's signal alarm, bounds its time."""
    from math_verify import verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns that its own timeout is off: ours is on
    answers, gold = item
    gold_parsed = parse_answer(gold)
    if not gold_parsed:
        return None
    return float(all(verify(gold_parsed, parse_answer(a), timeout_seconds=None) for a in answers))


def _default_workers() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0))))


@functools.cache
def _pool(num_workers: int, timeout: float, memory_mb: int) -> BoundedPool:
    verify_answers((("\\frac{1}{2}",), "0.5"))  # forked workers inherit math-verify imported and its regexes built
    return BoundedPool(verify_answers, num_workers, timeout, memory_mb)


GSM8K_MARK = "####"  # GSM8K's `answer`: the worked solution, then `#### ` and the final number


def gsm8k_parts(answer: str) -> tuple[str, str]:
    """(worked solution, final number) of a GSM8K `answer`, `... #### 1,234` (the thousands comma dropped)."""
    solution, _, final = str(answer).rpartition(GSM8K_MARK)
    return solution.strip(), final.strip().replace(",", "")


def gold_answer(
    answer: str | None,
    solution: str | None,
    *,
    timeout: float = 5.0,
    num_workers: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> str | None:
    """The row's `answer`, else what its `solution` boxes: one answer, or the collection of several.

    Boxes that state one answer in other forms (`025` and `25`, `50\\%` and `0.5`, `x^2-1` and `(x-1)(x+1)`, as
    AIME and MATH solutions do) count once, in the form first boxed; different ones are joined as a list
    (`$x=\\boxed{3}$ or $x=\\boxed{-1}$` gives `3, -1`), which a completion must state whole. More than
    MAX_GOLD_BOXES different answers is a solution boxing its steps, not a gold: None. An `answer` in GSM8K's
    layout (the worked solution, then `#### 72`) gives the number after the marks, so its train split trains as
    its test split is scored."""
    if answer is not None and str(answer).strip():
        text = str(answer).strip()
        return gsm8k_parts(text)[1] if GSM8K_MARK in text else text
    if not isinstance(solution, str):
        return None
    return _gold_from_solution(solution, timeout, num_workers or _default_workers(), memory_mb)


@functools.lru_cache(maxsize=4096)
def _gold_from_solution(solution: str, timeout: float, num_workers: int, memory_mb: int) -> str | None:
    """Cached: a row's gold is read once per completion of its group. The text short cuts merge boxes first
    (linear in boxes, at most MAX_GOLD_BOXES kept); math-verify, in the worker pool, then merges what they could
    not settle, counting a pair it times out on as two answers."""
    distinct: list[str] = []
    for box in map(str.strip, boxed_contents(solution)):
        if box and not any(_quick_verdict(box, seen) == 1.0 for seen in distinct):
            distinct.append(box)
            if len(distinct) > MAX_GOLD_BOXES:
                return None
    pairs = [((later,), earlier) for i, earlier in enumerate(distinct) for later in distinct[i + 1 :]]
    if pairs:
        verdicts = _pool(num_workers, timeout, memory_mb).map(pairs)
        same = {pair for pair, (ok, value) in zip(pairs, verdicts, strict=True) if ok and value}
        distinct = [box for j, box in enumerate(distinct) if not any(((box,), e) in same for e in distinct[:j])]
    return ", ".join(distinct) or None


_recent_verdicts: dict[tuple, float | None] = {}  # cosine and length re-verify what accuracy just did


def clear_caches() -> None:
    """Forget remembered verdicts and parses in this process (benchmarks start cold)."""
    _recent_verdicts.clear()
    _gold_from_solution.cache_clear()
    parse_answer.cache_clear()
    _read.cache_clear()


def score_answers(
    texts: list[str],
    golds: list[str | None],
    *,
    timeout: float = 5.0,
    num_workers: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> list[float | None]:
    """The verdict for each completion text against its gold answer; see the module docstring."""
    scores: list[float | None] = [None] * len(texts)
    pending = {}
    for i, (text, gold) in enumerate(zip(texts, golds, strict=True)):
        if gold is None:
            count("accuracy/gold_unparsable")
            continue
        answers = tuple({normalize(a): a.strip() for a in final_answers(text) if a.strip()}.values())
        if not answers or any(len(a) > MAX_ANSWER_CHARS for a in answers):
            scores[i] = 0.0
            continue
        if len(answers) > 1 and _read(gold).several:
            answers = (", ".join(answers),)  # `\boxed{3}, \boxed{4}` for the set {3, 4}
        if (answers, gold) in _recent_verdicts:
            scores[i] = _recent_verdicts[(answers, gold)]
            if scores[i] is None:
                count("accuracy/gold_unparsable")
            continue
        quick = [_quick_verdict(a, gold) for a in answers]
        if 0.0 in quick:
            scores[i] = 0.0
        elif all(v == 1.0 for v in quick):
            scores[i] = 1.0
        else:
            pending[i] = (answers, gold)
    unique = list(dict.fromkeys(pending.values()))  # a GRPO group often repeats an answer
    if not unique:
        return scores
    pool = _pool(num_workers or _default_workers(), timeout, memory_mb)
    outcomes = dict(zip(unique, pool.map(unique), strict=True))
    failures = {TIMED_OUT: "accuracy/timeouts", OUT_OF_MEMORY: "accuracy/out_of_memory"}
    for item, (ok, value) in outcomes.items():
        if not ok:
            count(failures.get(value, "accuracy/errors"))
        if len(_recent_verdicts) >= 65536:
            _recent_verdicts.clear()
        _recent_verdicts[item] = value if ok else 0.0  # a second look would burn the same time again
    for i, item in pending.items():
        ok, value = outcomes[item]
        if ok and value is None:
            count("accuracy/gold_unparsable")
        scores[i] = value if ok else 0.0
    return scores


def accuracy_reward(
    completions,
    answer: list | None = None,
    solution: list | None = None,
    *,
    timeout: float = 5.0,
    num_workers: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    **kwargs,
) -> list[float | None]:
    """1.0 for a correct final answer, 0.0 otherwise, None when the row's gold answer cannot be parsed.

    Settings: `timeout`, wall-clock seconds per completion (default 5); `num_workers`, verifier processes
    (default: the CPUs this process may use, at most 8); `memory_mb`, MiB each may grow by (default 1024)."""
    setting("accuracy", "timeout", timeout, minimum=0.01)
    setting("accuracy", "memory_mb", memory_mb, minimum=64, integer=True)
    if num_workers is not None:
        setting("accuracy", "num_workers", num_workers, minimum=1, integer=True)
    if answer is None and solution is None and completions:
        raise RecipeError("the accuracy reward needs an 'answer' or 'solution' column in the dataset")
    answers = answer if answer is not None else [None] * len(completions)
    solutions = solution if solution is not None else [None] * len(completions)
    bounds = {"timeout": timeout, "num_workers": num_workers, "memory_mb": memory_mb}
    golds = [gold_answer(a, s, **bounds) for a, s in zip(answers, solutions, strict=True)]
    texts = [completion_text(c) for c in completions]
    return score_answers(texts, golds, **bounds)
