"""Procedural data the package writes itself, so tests and the demo never download a dataset.

    python -m r1recipes.synthetic arithmetic --num_rows 256 --seed 0 --output runs/data/arithmetic.jsonl
    python -m r1recipes.synthetic countdown --num_rows 256 --seed 0 --output runs/data/countdown.jsonl
    python -m r1recipes.synthetic general --num_rows 64 --seed 0 --output runs/data/general.jsonl

Each row has `problem`, `answer`, `solution` (reasoning inside <think>, then <answer>) and `task`; countdown
rows also have the `nums` and `target` columns the `countdown` reward reads. General rows (stage 4's
prompts for the `reward_model` reward) have `problem`, `task: general` and an empty `answer`, so a mixture
with reasoning rows keeps the `answer` column the rule rewards read.
"""

import argparse
import json
import random
from pathlib import Path

from r1recipes.files import write_atomically


def arithmetic_row(rng: random.Random, num_operands: int = 2, max_value: int = 99) -> dict:
    numbers = [rng.randint(1, max_value) for _ in range(num_operands)]
    steps, total = [], numbers[0]
    for number in numbers[1:]:
        steps.append(f"{total} + {number} = {total + number}.")
        total += number
    expression = " + ".join(map(str, numbers))
    return {
        "problem": f"What is {expression}?",
        "answer": str(total),
        "solution": "<think>\n" + "\n".join(steps) + f"\n</think>\n<answer>{total}</answer>",
        "task": "math",
    }


def arithmetic_rows(num_rows: int, seed: int = 0, num_operands: int = 2, max_value: int = 99) -> list[dict]:
    rng = random.Random(seed)
    return [arithmetic_row(rng, num_operands, max_value) for _ in range(num_rows)]


COUNTDOWN_PROBLEM = (
    "Using the numbers {nums}, create an equation that equals {target}. "
    "You can use basic arithmetic operations (+, -, *, /) and each number can only be used once."
)
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_ATOM = 3  # a number or a parenthesized expression binds tighter than any operator
MAX_COUNTDOWN_ATTEMPTS = 10_000


def _operand(text: str, precedence: int, operator: str, on_right: bool) -> str:
    """Parentheses only where needed: a looser operand, or a right operand of `-` or `/` at the same level."""
    looser = precedence < _PRECEDENCE[operator]
    regrouped = on_right and precedence == _PRECEDENCE[operator] and operator in "-/"
    return f"({text})" if looser or regrouped else text


def _step_operand(value) -> str:
    """A negative intermediate value in parentheses, so the reasoning never writes `91 - -4`."""
    return f"({value})" if value < 0 else str(value)


def countdown_row(
    rng: random.Random, min_count: int = 3, max_count: int = 4, max_number: int = 99, max_target: int = 100
) -> dict:
    """Solvable by construction: combine random pairs of random numbers with random operations, as in the
    game, until one expression is left; keep it when its exact value is an integer in 1..max_target."""
    from r1recipes.rewards.countdown import evaluate_expression  # here, so arithmetic data never loads the rewards

    count = rng.randint(min_count, max_count)  # drawn once, so larger problems are not rarer for being harder
    for _ in range(MAX_COUNTDOWN_ATTEMPTS):
        nums = [rng.randint(1, max_number) for _ in range(count)]
        pool = [(str(number), _ATOM, number) for number in nums]  # (expression, precedence, value)
        steps = []
        while len(pool) > 1:
            (left_text, left_precedence, left_value), (right_text, right_precedence, right_value) = [
                pool.pop(rng.randrange(len(pool))) for _ in range(2)
            ]
            operator = rng.choice("+-*/")
            text = (
                f"{_operand(left_text, left_precedence, operator, False)} {operator} "
                f"{_operand(right_text, right_precedence, operator, True)}"
            )
            value = evaluate_expression(text)  # the reward's own evaluator, so every answer scores as correct
            if value is None:
                break  # division by zero
            steps.append(f"{_step_operand(left_value)} {operator} {_step_operand(right_value)} = {value}.")
            pool.append((text, _PRECEDENCE[operator], value))
        else:
            answer, _, target = pool[0]
            if target.denominator == 1 and 1 <= target <= max_target:
                target = int(target)
                reasoning = [f"I need {target} from {nums}, using each number once.", *steps, "That is the target."]
                return {
                    "problem": COUNTDOWN_PROBLEM.format(nums=nums, target=target),
                    "nums": nums,
                    "target": target,
                    "answer": answer,
                    "solution": "<think>\n" + "\n".join(reasoning) + f"\n</think>\n<answer>{answer}</answer>",
                    "task": "countdown",
                }
    raise ValueError(f"no {count}-number countdown problem with a target in 1..{max_target} found")


def countdown_rows(
    num_rows: int, seed: int = 0, min_count: int = 3, max_count: int = 4, max_number: int = 99, max_target: int = 100
) -> list[dict]:
    """Countdown problems like TinyZero's: `min_count` to `max_count` numbers in 1..max_number, a target in
    1..max_target; the same seed gives the same rows."""
    if not 2 <= min_count <= max_count or max_number < 1 or max_target < 1:
        raise ValueError("countdown needs 2 <= min_count <= max_count, max_number >= 1 and max_target >= 1")
    rng = random.Random(seed)
    return [countdown_row(rng, min_count, max_count, max_number, max_target) for _ in range(num_rows)]


GENERAL_REQUESTS = (
    "Write one sentence about {topic}.",
    "Give a short piece of advice about {topic}.",
    "Explain {topic} to a child in two sentences.",
    "Name three things people like about {topic}.",
)
GENERAL_TOPICS = ("the sea", "gardening", "trains", "music", "winter", "cooking", "friendship", "the moon")


def general_rows(num_rows: int, seed: int = 0) -> list[dict]:
    """Open-ended requests with no checkable answer: the prompts stage 4 scores with a reward model."""
    rng = random.Random(seed)
    return [
        {
            "problem": rng.choice(GENERAL_REQUESTS).format(topic=rng.choice(GENERAL_TOPICS)),
            "answer": "",
            "task": "general",
        }
        for _ in range(num_rows)
    ]


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: tmp.write_text("".join(json.dumps(row) + "\n" for row in rows)))
    return path


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=["arithmetic", "countdown", "general"])
    parser.add_argument("--num_rows", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_operands", type=int, default=2, help="arithmetic: numbers to add")
    parser.add_argument("--max_value", type=int, default=99, help="arithmetic: largest number")
    parser.add_argument("--min_count", type=int, default=3, help="countdown: fewest given numbers")
    parser.add_argument("--max_count", type=int, default=4, help="countdown: most given numbers")
    parser.add_argument("--max_number", type=int, default=99, help="countdown: largest given number")
    parser.add_argument("--max_target", type=int, default=100, help="countdown: largest target")
    parser.add_argument("--output", required=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    if args.task == "countdown":
        rows = countdown_rows(
            args.num_rows, args.seed, args.min_count, args.max_count, args.max_number, args.max_target
        )
    elif args.task == "general":
        rows = general_rows(args.num_rows, args.seed)
    else:
        rows = arithmetic_rows(args.num_rows, args.seed, args.num_operands, args.max_value)
    print(write_jsonl(rows, args.output))


if __name__ == "__main__":
    main()
