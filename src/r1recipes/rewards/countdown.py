r"""The Countdown task from TinyZero: reach a target with an arithmetic expression that uses each given number once.

The answer is the last `<answer>...</answer>` block of the completion. Its expression is read by a small
recursive-descent parser over exact rationals (`fractions.Fraction`), never by `eval`. The parser reads
arithmetic as people write it:

    answer     := expression ("=" ["-" | "+"] NUMBER)?
    expression := term (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := ("-" | "+") factor | primary (("^" | "**") factor)?
    primary    := NUMBER | "(" expression ")"

NUMBER is a run of ASCII digits, with an optional decimal part; whitespace may sit between tokens. Countdown
allows less: the given numbers as written (no leading zero, no decimal point) combined by the four binary
operations. An expression that parses but uses more (a unary sign, as in `-1 + 83 + 49`, an exponent, a
decimal, `07`) is well formed but breaks the rules; its value is never computed, so `9 ** 9 ** 9` costs
nothing. A stated result `= N` may follow the expression, as in `(8 / 3) * 3 = 8`; it must then equal the
target as well.

Models write arithmetic in common and LaTeX notation too, so before it is parsed the answer is brought to the
parser's ASCII by one function, `ascii_arithmetic`; a right answer then scores as the arithmetic it is:

- wrappers around the whole answer come off, outermost first: `$...$` (so `$$...$$`), `\(...\)`, `\[...\]`,
  `\boxed{...}` and `\fbox{...}`, as in `$\boxed{43 + 6 \times 36}$`;
- one full stop ending the answer, outside or inside those wrappers, ends a sentence and is dropped
  (`26 + (97 - 18).`, `1 + 2 = 3.`); any other point is a decimal point, so `3.5` is still a decimal;
- `×`, `·`, `⋅`, `\times` and `\cdot` are `*`; `÷` and `\div` are `/`; the minus sign `−` (U+2212) and the en
  dash `–` are `-`; `\left(` and `\right)` are brackets. Each becomes its ASCII with a space either side, so
  `2 ×× 3` stays two operators (malformed) and never turns into the exponent `**`;
- `\frac{A}{B}` (or `\dfrac`, `\tfrac`) is `((A)/(B))`, innermost first, so fractions may nest.

Not read, so not arithmetic: the letter `x` as a product (a letter is text, and in `2x + 3` an unknown, so
`6 x 36` is words like any other), `\frac12` without braces, and a box around part of the answer
(`43 + 6 \times 36 = \boxed{259}`).

Answers longer than MAX_EXPRESSION_CHARS as written (counted before the notation is read, which at most triples
the length) or nested deeper than MAX_NESTING_DEPTH (parentheses, a fraction's included, unary signs and
exponents all nest) are malformed, so scoring any text takes bounded time.

Scores follow TinyZero's `compute_score` (1.0 correct, 0.1 format score, 0 without an answer), with these
departures: TinyZero evaluates with Python's `eval` on floats (tolerance 1e-5), so it scores `-3 + 5` and
`2 ** 3` as correct when they hit the target, and it gives its format score to anything inside answer tags,
garbage included; here values are exact rationals, a rule-breaking expression earns only the well-formed
score, and text that does not parse as arithmetic earns nothing. TinyZero reads ASCII only (digits, `+-*/().` and
whitespace): a right answer in the notations above, or ending with a full stop, gets its format score; here it
is correct.
"""

import enum
import re
from collections.abc import Callable
from fractions import Fraction
from numbers import Integral

from r1recipes.rewards.text import completion_text, last_answer_block

MAX_EXPRESSION_CHARS = 500  # a 6-number answer needs about 40; longer text is not an answer
MAX_NESTING_DEPTH = 32  # parentheses, unary signs and exponents; also bounds the parser's recursion

_ALLOWED_CHARS = re.compile(r"[0-9+\-*/^().=\s]*")
_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)?|\*\*|\S")
_WRAPPED = re.compile(r"\$(.*)\$|\\\((.*)\\\)|\\\[(.*)\\\]|\\(?:boxed|fbox)\s*\{(.*)\}", re.DOTALL)
_FRACTION = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_NOTATION = [  # (what people and LaTeX write, the parser's ASCII); a LaTeX command ends where its letters do
    (re.compile(r"[×·⋅]|\\(?:times|cdot)(?![A-Za-z])"), " * "),
    (re.compile(r"÷|\\div(?![A-Za-z])"), " / "),
    (re.compile(r"[−–]"), " - "),
    (re.compile(r"\\left\s*\("), " ( "),
    (re.compile(r"\\right\s*\)"), " ) "),
]


class _Broken(enum.Enum):
    """The value of an expression that breaks a rule: never computed."""

    BROKEN = "broken"


_BROKEN = _Broken.BROKEN
_Value = Fraction | None | _Broken  # None: undefined (a division by zero)


class Verdict(enum.Enum):
    """What an answer to a Countdown problem amounts to, from best to worst."""

    CORRECT = "correct"  # each given number once, and the value is the target
    WRONG_VALUE = "wrong_value"  # each given number once, but another value (or a false `= N`)
    UNDEFINED = "undefined"  # each given number once, but it divides by zero
    WRONG_NUMBERS = "wrong_numbers"  # follows the rules, but the numbers are not the given multiset
    BREAKS_RULES = "breaks_rules"  # well formed, but with a unary sign, an exponent, a decimal or a leading zero
    MALFORMED = "malformed"  # not arithmetic, too long or too deeply nested
    MISSING = "missing"  # no <answer>...</answer> block

    @property
    def well_formed(self) -> bool:
        return self not in (Verdict.MALFORMED, Verdict.MISSING)


class _Malformed(Exception):
    pass


def ascii_arithmetic(text: str) -> str:
    """The answer brought to the parser's ASCII (the module docstring lists what is read); text it does not read
    is left as it is, for the parser to find malformed."""
    full_stop_left = True
    while True:
        text = text.strip()
        if full_stop_left and text.endswith("."):
            text, full_stop_left = text[:-1], False
        elif wrapped := _WRAPPED.fullmatch(text):
            text = next(inside for inside in wrapped.groups() if inside is not None)
        else:
            break
    for notation, ascii_text in _NOTATION:
        text = notation.sub(ascii_text, text)
    count = 1
    while count:  # each pass reads the innermost fractions, whose parts hold no braces
        text, count = _FRACTION.subn(r"((\1)/(\2))", text)
    return text


def _combine(operator: str, left: _Value, right: _Value) -> _Value:
    """None stands for an undefined value (a division by zero) and stays undefined; a broken rule wins over it."""
    if left is _BROKEN or right is _BROKEN or operator in ("^", "**"):
        return _BROKEN
    if left is None or right is None or (operator == "/" and right == 0):
        return None
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    if operator == "*":
        return left * right
    return left / right


class _Parser:
    """Evaluates while it parses; reads every token before a verdict, so `1/0 +` is malformed, not undefined."""

    def __init__(self, text: str):
        if len(text) > MAX_EXPRESSION_CHARS:
            raise _Malformed
        text = ascii_arithmetic(text)
        if not _ALLOWED_CHARS.fullmatch(text):
            raise _Malformed
        self.tokens = _TOKEN.findall(text)
        self.position = 0
        self.depth = 0
        self.numbers: list[int] = []
        self.stated: Fraction | None = None  # N of a trailing `= N`

    def parse(self) -> _Value:
        value = self.expression()
        if self.peek() == "=":
            self.take()
            sign = self.take() if self.peek() in ("-", "+") else "+"
            stated = self.number(self.take())
            self.stated = -stated if sign == "-" else stated
        if self.position != len(self.tokens):
            raise _Malformed
        return value

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.position += 1
        return token

    def nested(self, read: Callable[[], _Value]) -> _Value:
        """`read()` one level deeper: parentheses, unary signs and exponents nest."""
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise _Malformed
        value = read()
        self.depth -= 1
        return value

    def expression(self) -> _Value:
        value = self.term()
        while self.peek() in ("+", "-"):
            operator = self.take()
            value = _combine(operator, value, self.term())
        return value

    def term(self) -> _Value:
        value = self.factor()
        while self.peek() in ("*", "/"):
            operator = self.take()
            value = _combine(operator, value, self.factor())
        return value

    def factor(self) -> _Value:
        if self.peek() in ("-", "+"):  # a unary sign: Countdown has binary operations only
            self.take()
            self.nested(self.factor)
            return _BROKEN
        value = self.primary()
        if self.peek() in ("^", "**"):
            operator = self.take()
            value = _combine(operator, value, self.nested(self.factor))
        return value

    def primary(self) -> _Value:
        token = self.take()
        if token == "(":
            value = self.nested(self.expression)
            if self.take() != ")":
                raise _Malformed
            return value
        number = self.number(token)
        if "." in token or (token.startswith("0") and token != "0"):
            return _BROKEN  # a decimal, or a number not written as given
        self.numbers.append(int(number))
        return number

    @staticmethod
    def number(token: str | None) -> Fraction:
        if token is None or not token[0].isdigit():
            raise _Malformed
        return Fraction(token)


def evaluate_expression(text: str) -> Fraction | None:
    """The exact value of an expression that follows Countdown's rules (no `= N`); None when it does not, or
    when it is malformed or divides by zero."""
    try:
        parser = _Parser(text)
        value = parser.parse()
    except _Malformed:
        return None
    return value if parser.stated is None and isinstance(value, Fraction) else None


def _stripped(block: str | None) -> str | None:
    return block.strip() if block is not None else None


def countdown_problem(nums, target) -> tuple[list[int], int] | None:
    """(sorted nums, target) as plain ints when they make a problem: non-negative integers and an integer target.
    Sorted, so that a verdict compares the numbers used with them as they are."""

    def is_int(value) -> bool:
        return isinstance(value, Integral) and not isinstance(value, bool)

    if not isinstance(nums, list | tuple) or not nums or not is_int(target):
        return None
    if not all(is_int(number) and number >= 0 for number in nums):
        return None
    return sorted(int(number) for number in nums), int(target)


def _judge(answer_text: str | None, sorted_nums: list[int], target: int) -> Verdict:
    if answer_text is None:
        return Verdict.MISSING
    try:
        parser = _Parser(answer_text)
        value = parser.parse()
    except _Malformed:
        return Verdict.MALFORMED
    if value is _BROKEN:
        return Verdict.BREAKS_RULES
    if sorted(parser.numbers) != sorted_nums:
        return Verdict.WRONG_NUMBERS
    if value is None:
        return Verdict.UNDEFINED
    if value != target or parser.stated not in (None, target):
        return Verdict.WRONG_VALUE
    return Verdict.CORRECT


def check_countdown(answer_text: str | None, nums, target) -> Verdict:
    """The verdict on an answer (the expression, optionally `= N`; None for no answer at all).

    Raises ValueError when `nums`/`target` are not a problem (see `countdown_problem`)."""
    problem = countdown_problem(nums, target)
    if problem is None:
        raise ValueError(f"not a countdown problem: nums={nums!r}, target={target!r}")
    return _judge(answer_text, *problem)


def _column_entry(column, index: int):
    return column[index] if isinstance(column, list | tuple) and index < len(column) else None


def countdown_reward(
    completions,
    nums=None,
    target=None,
    *,
    correct: float = 1.0,
    well_formed: float = 0.1,
    malformed: float = 0.0,
    **kwargs,
) -> list[float | None]:
    """Score each completion's last `<answer>` block against its row's `nums` and `target` columns.

    - `correct` (1.0): the expression uses each number of `nums` exactly once (as a multiset) and equals
      `target` exactly, in ASCII or the common and LaTeX notation the module docstring lists (`6 × 36`,
      `$\\boxed{6 \\times 36}$.`).
    - `well_formed` (0.1): the expression parses, but uses other numbers (one twice, one missing, an extra
      one), has another value, states a false `= N`, divides by zero, or breaks a rule (a unary sign, an
      exponent, a decimal, a leading zero). TinyZero's format score.
    - `malformed` (0.0): no answer block, or one that is not arithmetic (words, other symbols, implicit
      products, unbalanced brackets, too long, too deeply nested).
    - None: the row's `nums`/`target` are missing or not integers, so the sample is left out.

    The think/answer layout itself is the `format` reward's concern, not this one's.
    """
    scores: list[float | None] = []
    for index, completion in enumerate(completions):
        problem = countdown_problem(_column_entry(nums, index), _column_entry(target, index))
        if problem is None:
            scores.append(None)
            continue
        verdict = _judge(_stripped(last_answer_block(completion_text(completion))), *problem)
        scores.append(correct if verdict is Verdict.CORRECT else well_formed if verdict.well_formed else malformed)
    return scores
