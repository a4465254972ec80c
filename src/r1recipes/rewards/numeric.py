"""The numeric value of a simple LaTeX answer (`-\\frac{\\sqrt{3}}{2}`, `3\\pi`, `0.35625`), without sympy.

Most final answers in maths data are numbers. Evaluating both sides in microseconds settles most comparisons
before math-verify's sympy path (milliseconds each) is needed. Anything outside this small grammar gives `None`
and is left to math-verify:

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "\\cdot" | "\\times" | "/") factor | implicit factor)*
    factor := ("-" | "+") factor | atom ("^" atom)?
    atom   := number | "\\frac" arg arg | "\\sqrt" arg | "\\pi" | "(" expr ")" | "{" expr "}"
    arg    := "{" expr "}" | digit

An implicit product is `3\\sqrt{2}` or `2\\pi`: a number followed by `\\sqrt`, `\\pi` or a brace. A number
followed by `\\frac` is not read inside an expression, where math-verify's reading depends on what surrounds it
(`3\\frac{1}{2}^2` is 3/4 to it, `2\\frac{0}{3}` is 0); a whole answer that is a mixed number,
`-15\\frac{39}{40}` with a numerator other than 0, is read as math-verify reads it: -639/40.
"""

import math
import re

MAX_CHARS = 120
_TOKEN = re.compile(r"\s*(\d+\.?\d*|\.\d+|\\[a-zA-Z]+|[-+*/^(){}])")
_IMPLICIT = ("\\sqrt", "\\pi", "{")  # not `(`: math-verify reads `2(3)` and `3(\frac12)` its own ways
_MIXED_NUMBER = re.compile(r"\s*(-?)\s*(\d+)\s*\\[dt]?frac\s*\{\s*([1-9]\d*)\s*\}\s*\{\s*(\d+)\s*\}\s*")


class _Unsupported(Exception):
    pass


class _Parser:
    def __init__(self, text: str):
        self.tokens, position = [], 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match:
                if text[position:].strip():
                    raise _Unsupported
                break
            self.tokens.append(match.group(1))
            position = match.end()
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unsupported
        self.index += 1
        return token

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> float:
        value = self.factor()
        while True:
            token = self.peek()
            if token in ("*", "\\cdot", "\\times"):
                self.take()
                value *= self.factor()
            elif token == "/":
                self.take()
                value /= self.factor()
            elif token in _IMPLICIT:
                value *= self.factor()
            else:
                return value

    def factor(self) -> float:
        if self.peek() in ("-", "+"):
            return -self.factor() if self.take() == "-" else self.factor()
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        if (self.peek() or "").isdigit() and len(self.peek()) > 1:
            raise _Unsupported  # `2^10` is 2^1 then 0 in LaTeX: leave such oddities to math-verify
        exponent = self.atom()
        if abs(exponent) > 64 or abs(base) > 1e6:
            raise _Unsupported  # keeps every value a float far from overflow
        return base**exponent

    def atom(self) -> float:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return float(token)
        if token == "\\pi":
            return math.pi
        if token in ("\\frac", "\\dfrac", "\\tfrac"):
            return self.arg() / self.arg()
        if token == "\\sqrt":
            return math.sqrt(self.arg())
        if token in ("(", "{"):
            value = self.expr()
            self.take(")" if token == "(" else "}")
            return value
        raise _Unsupported

    def arg(self) -> float:
        """A braced argument, or the single digit of `\\frac12`."""
        token = self.peek()
        if token == "{":
            return self.atom()
        if token is not None and token.isdigit():
            digits = self.take()
            if len(digits) > 1:  # `\frac12` is 1/2: split the run of digits after the first
                self.tokens.insert(self.index, digits[1:])
            return float(digits[0])
        raise _Unsupported


def latex_number(text: str) -> float | None:
    """The value of `text` when it is a real number in the grammar above, else None."""
    if len(text) > MAX_CHARS:
        return None
    if mixed := _MIXED_NUMBER.fullmatch(text):
        sign, whole, numerator, denominator = mixed.groups()
        if int(denominator) == 0:
            return None
        value = int(whole) + int(numerator) / int(denominator)
        return -value if sign else value
    try:
        parser = _Parser(text)
        value = parser.expr()
        if parser.peek() is not None:
            return None
    except (_Unsupported, ZeroDivisionError, ValueError, OverflowError):
        return None
    return value if isinstance(value, float) and math.isfinite(value) else None
