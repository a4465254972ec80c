"""Procedural solvers that write the cold-start reasoning of the package's own tasks, as a person would.

- Countdown: a depth-first search that tries combinations, closest to the target first, writes every attempt
  with its value, rejects the misses, and checks the one that works before answering.
- Word problems: one line per event of the story, then a check that works backwards to the start.

Departure from R1: its cold-start traces are long, model-written and human-refined; these are short and
templated, so a 135M model can learn the layout (<think> reasoning, a check, then <answer>) in minutes; sums
are written without spaces (`14+8=22`), as SmolLM2's tokenizer spends a token on each space before a digit.
"""

import operator as op

OPERATOR_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
OPERATIONS = {"+": op.add, "-": op.sub, "*": op.mul, "/": op.floordiv}  # on whole numbers, as the game allows
ATOM_PRECEDENCE = 3  # a number or a parenthesized expression binds tighter than any operator


def operand(text: str, precedence: int, operator: str, on_right: bool) -> str:
    """Parentheses only where needed: a looser operand, or a right operand of `-` or `/` at the same level."""
    looser = precedence < OPERATOR_PRECEDENCE[operator]
    regrouped = on_right and precedence == OPERATOR_PRECEDENCE[operator] and operator in "-/"
    return f"({text})" if looser or regrouped else text


def join(left: tuple, operator: str, right: tuple) -> tuple[str, int]:
    """The text and precedence of `left operator right`, each an (expression, precedence, value) item."""
    text = f"{operand(left[0], left[1], operator, False)} {operator} {operand(right[0], right[1], operator, True)}"
    return text, OPERATOR_PRECEDENCE[operator]


def _moves(pool: list[tuple]) -> list[tuple]:
    """Every way to combine two items into one as the game allows (positive whole numbers only), each as
    (step text, new pool); larger value first in `-` and `/`, so no step goes negative or fractional."""
    moves = []
    for i in range(len(pool)):
        for j in range(i + 1, len(pool)):
            big, small = sorted((pool[i], pool[j]), key=lambda item: item[2], reverse=True)
            rest = [item for k, item in enumerate(pool) if k not in (i, j)]
            for operator in "+-*/":
                if operator == "-" and big[2] == small[2]:
                    continue  # zero helps no one
                if operator == "/" and (big[2] % small[2] or small[2] == 1):
                    continue  # a fraction, or a division by one that changes nothing
                value = OPERATIONS[operator](big[2], small[2])
                text, precedence = join(big, operator, small)
                moves.append((f"{big[2]}{operator}{small[2]}={value}", [*rest, (text, precedence, value)]))
    return moves


def solve_countdown(nums: list[int], target: int, max_tries: int) -> tuple[list[str], str] | None:
    """(reasoning lines, answer expression), or None when `max_tries` attempts do not reach the target.

    Moves are tried closest to the target first. With two items left, only the closest result is written
    (if it misses, every other last step misses too), so each attempt is one line ending in a verdict."""
    lines = [f"I need {target} from {', '.join(map(str, nums))}."]

    def search(pool: list[tuple], steps: list[str]) -> str | None:
        moves = sorted(_moves(pool), key=lambda move: abs(move[1][-1][2] - target))
        if len(pool) == 2:
            moves = moves[:1]
        for step, new_pool in moves:
            if len(lines) > max_tries:
                return None
            if len(new_pool) > 1:
                found = search(new_pool, [*steps, step])
                if found:
                    return found
                continue
            value = new_pool[0][2]
            attempt = "Try " + ", ".join([*steps, step])
            if value == target:
                lines.append(f"{attempt}. Yes.")
                return new_pool[0][0]
            lines.append(f"{attempt}, not {target}.")
        return None

    answer = search([(str(n), ATOM_PRECEDENCE, n) for n in nums], [])
    answer = answer and answer.replace(" ", "")
    if answer is None:
        return None
    lines.append(f"Check: {answer}={target}, each number once.")
    return lines, answer


def word_problem_trace(name: str, pronoun: str, start: int, events: list[tuple[str, int]], item: str) -> list[str]:
    """Reasoning for a story: `start` items, then events (words, signed change); ends with a backwards check."""
    lines, total = [f"{name} starts with {start} {item}."], start
    for words, change in events:
        new_total = total + change
        lines.append(f"{pronoun} {words}: {total}{'+' if change >= 0 else '-'}{abs(change)}={new_total}.")
        total = new_total
    back, checks = total, []
    for _, change in reversed(events):
        checks.append(f"{back}{'-' if change >= 0 else '+'}{abs(change)}={back - change}")
        back -= change
    lines.append(f"Check: {', '.join(checks)}, the start.")
    return lines
