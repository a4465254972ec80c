"""The multiple-choice reward: does the completion's final answer name the gold option letter?

- Final answer part: the last `<answer>...</answer>` block; else the text after the last `</think>`; else the
  whole text (a completion without the tags, or one cut off while reasoning).
- Answer statements in it; the one that ends last decides (on a tie, the one that starts first):
  - a box, `\\boxed{...}` or `\\fbox{...}`, whatever it holds (`\\boxed{C}`, `\\boxed{\\text{C}}`, `$\\boxed{(C)}$`);
    a box that names no letter (`\\boxed{42}`) is a statement that names no option;
  - an answer phrase and the letter after it: `answer` followed by `:`, `=`, `is`, `are`, `would be`, ...
    (`Answer: C`, `ANSWER: C`, `The answer is (C).`, `**Answer:** C`, `Final answer: c`, `The correct answer is
    option C`), `correct`/`right`/`best`/`final` `option`/`choice` `is C`, and `option C is correct`;
  - a line that holds a letter and nothing else: `C`, `(C)`, `C)`, `C.`, `[C]`.
  Markdown emphasis (`*`), `$`, `\\(` `\\)` `\\[` `\\]` and `\\text{}`-like wrappers are read through.
- A letter: an uppercase letter that is not the start of a word or number (`Carbon` holds no C); a lowercase
  one only in brackets (`(c)`), in a box, or as all that is left of its line (`Final answer: c.`), so prose such
  as "the answer is a prime number" names no option.
- Hedging: a final statement naming several letters (`A or C`, `A, C`, `A/C`, `\\boxed{A} or \\boxed{C}`)
  scores 0.0, as does a completion without a statement or whose final statement names no letter.
- Gold: the row's `answer`, one letter A-Z (either case; spaces around it are ignored) or a 0-based integer
  index, as MMLU stores it (0 is A). Anything else (missing, option text, the digit string `"1"`, which ARC uses
  1-based) gives `None`, so the sample is left out, and adds to `choice/gold_unparsable`. Option text is not
  matched: a row whose gold is the text of an option needs its letter first.

Everything is linear-time scanning (a letter list is read for at most 26 letters), safe on any text.

Departures: R1 reports GPQA Diamond and MMLU scored with simple-evals, which asks for `Answer: $LETTER` and
takes the first match of that one pattern. Here the last statement of many forms counts, since a policy in
training is not held to one format, and a statement naming several letters is wrong instead of being read as
its first.
"""

import re
from numbers import Integral

from r1recipes.rewards.counts import count
from r1recipes.rewards.text import THINK_CLOSE, completion_text, last_answer_block

MAX_LETTERS = 26  # letters read in one list: enough to tell one option from several

_WRAPPER = re.compile(
    r"\\(?:text|textbf|textrm|textsf|texttt|textit|textnormal|mathrm|mathbf|mathit|mathsf|mbox|emph)\s*\{([^{}]*)\}"
)
_IGNORED = re.compile(r"\\[()\[\]]|[$*]")  # LaTeX's inline and display delimiters, `$`, Markdown emphasis
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_LETTER = re.compile(r"\s*([(\[]*)\s*([A-Za-z])(?![A-Za-z0-9])(?:\s*([)\]]+))?")
_SEPARATOR = re.compile(r"\s*(?:,\s*(?:(?:or|and)\b)?|/|&|\band/or\b|\bor\b|\band\b)\s*", re.IGNORECASE)
_END_OF_LINE = re.compile(r"[ \t]*[.!]?[ \t]*(?:\n|$)")
_PHRASE = re.compile(
    r"\banswers?[ \t]*(?:(?:is|are|would[ \t]+be|will[ \t]+be|should[ \t]+be|must[ \t]+be)\b[ \t]*:?|[:=])"
    r"|\b(?:correct|right|best|final)[ \t]+(?:option|choice)[ \t]*(?:is\b[ \t]*:?|[:=])",
    re.IGNORECASE,
)
_PHRASE_FILLER = re.compile(r"\s*(?:option|choice|letter)\b", re.IGNORECASE)  # "the answer is option C"
_OPTION_IS_CORRECT = re.compile(
    r"\b(?:option|choice)[ \t]+[(\[]?([A-Z])[)\]]?[ \t]+is[ \t]+(?:the[ \t]+)?(?:correct|right|best)\b", re.IGNORECASE
)
_LINE = re.compile(r"^[ \t]*[(\[]?([A-Za-z])[)\].]?[ \t]*$", re.MULTILINE)
_GOLD = re.compile(r"\s*([A-Za-z])\s*")


def gold_letter(value) -> str | None:
    """The gold option as an uppercase letter: from a letter, or a 0-based integer index; else None."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return chr(ord("A") + int(value)) if 0 <= value < 26 else None
    match = _GOLD.fullmatch(value) if isinstance(value, str) else None
    return match[1].upper() if match else None


def final_part(text: str) -> str:
    """Where the final answer is: the last `<answer>` block, else what follows the last `</think>`, else all."""
    block = last_answer_block(text)
    if block is not None:
        return block
    return text.rpartition(THINK_CLOSE)[2]


def _normalize(text: str) -> str:
    for _ in range(2):  # `\textbf{\text{C}}`
        text = _WRAPPER.sub(r"\1", text)
    return _IGNORED.sub("", text)


def _unbox(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The text with each closed box written as its contents in brackets, `\\boxed{C}` as `(C)`, so that the
    letter reader reads a box as it reads `(C)`; and where each box now starts and ends."""
    pieces, spans, position, length = [], [], 0, 0
    while match := _BOX.search(text, position):
        depth, index = 1, match.end()
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        if depth:
            break  # unclosed: no later box can close either
        before, inside = text[position : match.start()], text[match.end() : index - 1]
        start = length + len(before)
        pieces += [before, "(", inside, ")"]
        length = start + len(inside) + 2
        spans.append((start, length))
        position = index
    pieces.append(text[position:])
    return "".join(pieces), spans


def _read_letters(
    text: str, position: int, *, boxed: bool = False, known: dict | None = None
) -> tuple[list[str], int]:
    """The letters listed from `position` (`C`, `(C)`, `A or C`, `A, B and D`), and where the list ends; with
    `boxed`, the first may be lowercase wherever it stands. A list that runs into a position in `known` takes
    what was read from there (boxes in a row are read once each, not once per box before them)."""
    letters, end = [], position
    while len(letters) < MAX_LETTERS:
        if letters and known and position in known:
            more, end = known[position]
            letters = (letters + more)[:MAX_LETTERS]
            break
        match = _LETTER.match(text, position)
        if match is None:
            break
        opened, letter, closed = match.groups()
        alone = _END_OF_LINE.match(text, match.end()) is not None
        if letter.islower() and not ((boxed and not letters) or (opened and closed) or alone):
            break
        letters.append(letter.upper())
        end = match.end()
        separator = _SEPARATOR.match(text, end)
        if separator is None:
            break
        position = separator.end()
    return letters, end


def stated_choice(text: str) -> str | None:
    """The one option letter a completion's final statement names, or None (no statement, no letter in it, or
    several letters); see the module docstring."""
    text, boxes = _unbox(_normalize(final_part(text)))
    statements: list[tuple[int, int, list[str]]] = []  # (end, -start, letters)
    read: dict[int, tuple[list[str], int]] = {}
    for start, box_end in reversed(boxes):
        letters, end = _read_letters(text, start, boxed=True, known=read)
        read[start] = letters, max(end, box_end)
        statements.append((max(end, box_end), -start, letters))
    for match in _PHRASE.finditer(text):
        filler = _PHRASE_FILLER.match(text, match.end())
        letters, end = _read_letters(text, filler.end() if filler else match.end())
        if letters:
            statements.append((end, -match.start(), letters))
    for match in _OPTION_IS_CORRECT.finditer(text):
        if match[1].isupper():
            statements.append((match.end(), -match.start(), [match[1]]))
    for match in _LINE.finditer(text):
        statements.append((match.end(), -match.start(), [match[1].upper()]))
    if not statements:
        return None
    letters = set(max(statements)[2])
    return letters.pop() if len(letters) == 1 else None


def choice_reward(completions, answer: list | None = None, **kwargs) -> list[float | None]:
    """1.0 when the final statement names the gold letter, 0.0 otherwise, None when the row has no gold letter."""
    golds = list(answer) if answer is not None else []
    scores: list[float | None] = []
    for index, completion in enumerate(completions):
        gold = gold_letter(golds[index]) if index < len(golds) else None
        if gold is None:
            count("choice/gold_unparsable")
            scores.append(None)
        else:
            scores.append(float(stated_choice(completion_text(completion)) == gold))
    return scores
