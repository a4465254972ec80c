"""Procedural data the package writes itself, so tests and the demo never download a dataset.

    python -m r1recipes.synthetic arithmetic --num_rows 256 --seed 0 --output runs/data/arithmetic.jsonl
    python -m r1recipes.synthetic word_problems --num_rows 256 --seed 0 --output runs/data/word_problems.jsonl
    python -m r1recipes.synthetic countdown --num_rows 256 --seed 0 --output runs/data/countdown.jsonl
    python -m r1recipes.synthetic countdown3 --num_rows 512 --output runs/data/countdown3.jsonl   # a preset
    python -m r1recipes.synthetic general --num_rows 64 --seed 0 --output runs/data/general.jsonl
    python -m r1recipes.synthetic code --num_rows 64 --seed 0 --output runs/data/code.jsonl

Each row has `problem`, `answer`, `solution` (reasoning inside <think>, then <answer>) and `task`; countdown
rows also have the `nums` and `target` columns the `countdown` reward reads. General rows (stage 4's
prompts for the `reward_model` reward) have `problem`, `task: general` and an empty `answer`, so a mixture
with reasoning rows keeps the `answer` column the rule rewards read. Code rows have stdin/stdout `test_cases`
and a solution ending in a Python block.
"""

import argparse
import functools
import json
import math
import random
from pathlib import Path

from r1recipes.data.solvers import ATOM_PRECEDENCE, join, solve_countdown, word_problem_trace
from r1recipes.files import write_atomically


def solution_text(reasoning: list[str], answer) -> str:
    """A cold-start completion: the reasoning lines inside <think>, then the answer inside <answer>."""
    return "<think>\n" + "\n".join(reasoning) + f"\n</think>\n<answer>{answer}</answer>"


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
        "solution": solution_text(steps, total),
        "task": "math",
    }


def arithmetic_rows(num_rows: int, seed: int = 0, num_operands: int = 2, max_value: int = 99) -> list[dict]:
    rng = random.Random(seed)
    return [arithmetic_row(rng, num_operands, max_value) for _ in range(num_rows)]


COUNTDOWN_PROBLEM = (
    "Using the numbers {nums}, create an equation that equals {target}. "
    "You can use basic arithmetic operations (+, -, *, /) and each number can only be used once."
)
MAX_COUNTDOWN_ATTEMPTS = 10_000


def countdown_row(
    rng: random.Random,
    min_count: int = 3,
    max_count: int = 4,
    max_number: int = 99,
    max_target: int = 100,
    max_tries: int = 8,
) -> dict:
    """Solvable by construction: combine random pairs of random numbers with random operations, as in the
    game, until one expression is left; keep it when its exact value is an integer in 1..max_target and the
    solver (`solvers.solve_countdown`) reaches it within `max_tries` attempts, which write the reasoning."""
    from r1recipes.rewards.countdown import evaluate_expression  # here, so arithmetic data never loads the rewards

    count = rng.randint(min_count, max_count)  # drawn once, so larger problems are not rarer for being harder
    for _ in range(MAX_COUNTDOWN_ATTEMPTS):
        nums = [rng.randint(1, max_number) for _ in range(count)]
        pool = [(str(number), ATOM_PRECEDENCE, number) for number in nums]  # (expression, precedence, value)
        while len(pool) > 1:
            left, right = [pool.pop(rng.randrange(len(pool))) for _ in range(2)]
            operator = rng.choice("+-*/")
            text, precedence = join(left, operator, right)
            value = evaluate_expression(text)  # the reward's own evaluator
            if value is None:
                break  # division by zero
            pool.append((text, precedence, value))
        else:
            target = pool[0][2]
            if target.denominator != 1 or not 1 <= target <= max_target:
                continue
            solved = solve_countdown(nums, int(target), max_tries)
            if solved:
                reasoning, answer = solved
                assert evaluate_expression(answer) == target  # every answer the data holds scores as correct
                return {
                    "problem": COUNTDOWN_PROBLEM.format(nums=nums, target=int(target)),
                    "nums": nums,
                    "target": int(target),
                    "answer": answer,
                    "solution": solution_text(reasoning, answer),
                    "task": "countdown",
                }
    raise ValueError(
        f"no {count}-number countdown problem with a target in 1..{max_target} solved in {max_tries} tries found"
    )


def countdown_rows(
    num_rows: int,
    seed: int = 0,
    min_count: int = 3,
    max_count: int = 4,
    max_number: int = 99,
    max_target: int = 100,
    max_tries: int = 8,
) -> list[dict]:
    """Countdown problems like TinyZero's: `min_count` to `max_count` numbers in 1..max_number, a target in
    1..max_target, that the package's solver solves within `max_tries` attempts; the same seed gives the
    same rows."""
    if not 2 <= min_count <= max_count or max_number < 1 or max_target < 1 or max_tries < 1:
        raise ValueError(
            "countdown needs 2 <= min_count <= max_count, max_number >= 1, max_target >= 1 and max_tries >= 1"
        )
    rng = random.Random(seed)
    return [countdown_row(rng, min_count, max_count, max_number, max_target, max_tries) for _ in range(num_rows)]


NAMES = (("Mia", "She"), ("Leo", "He"), ("Ava", "She"), ("Sam", "He"), ("Zoe", "She"), ("Ben", "He"))
ITEMS = ("apples", "stickers", "marbles", "coins", "books", "stamps", "shells", "cards")
GAINS = ("finds {n} more", "buys {n} more", "gets {n} from a friend", "wins {n} more")
LOSSES = ("gives away {n}", "loses {n}", "sells {n}", "uses {n}")


def word_problem_row(rng: random.Random, num_events: int = 2, max_value: int = 20) -> dict:
    """A story of gains and losses, e.g. `Mia has 14 stickers. She finds 8 more, then gives away 9. How many
    stickers does Mia have now?`; every count stays between 0 and the numbers drawn."""
    (name, pronoun), item = rng.choice(NAMES), rng.choice(ITEMS)
    start = total = rng.randint(1, max_value)
    events = []
    for _ in range(num_events):
        gain = total == 0 or rng.random() < 0.5
        change = rng.randint(1, max_value) if gain else rng.randint(1, total)
        words = rng.choice(GAINS if gain else LOSSES).format(n=change)
        events.append((words, change if gain else -change))
        total += events[-1][1]
    story = ", then ".join(words for words, _ in events)
    reasoning = word_problem_trace(name, pronoun, start, events, item)
    return {
        "problem": f"{name} has {start} {item}. {pronoun} {story}. How many {item} does {name} have now?",
        "answer": str(total),
        "solution": solution_text(reasoning, total),
        "task": "math",
    }


def word_problem_rows(num_rows: int, seed: int = 0, num_events: int = 2, max_value: int = 20) -> list[dict]:
    if num_events < 1 or max_value < 1:
        raise ValueError("word problems need num_events >= 1 and max_value >= 1")
    rng = random.Random(seed)
    return [word_problem_row(rng, num_events, max_value) for _ in range(num_rows)]


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


# Programs over stdin/stdout: (problem, reference program, an input drawn at random, the output the program prints
# for it); the `code` reward runs a completion's program against such tests in the sandbox
CODE_TASKS = (
    ("Write a Python program that reads two integers from one line of input and prints their sum.",
     "a, b = map(int, input().split())\nprint(a + b)",
     lambda rng: f"{rng.randint(-50, 50)} {rng.randint(-50, 50)}", lambda line: str(sum(map(int, line.split())))),
    ("Write a Python program that reads two integers from one line of input and prints their product.",
     "a, b = map(int, input().split())\nprint(a * b)",
     lambda rng: f"{rng.randint(-20, 20)} {rng.randint(-9, 9)}", lambda line: str(math.prod(map(int, line.split())))),
    ("Write a Python program that reads integers from one line of input and prints the largest.",
     "print(max(map(int, input().split())))",
     lambda rng: " ".join(str(rng.randint(0, 99)) for _ in range(4)), lambda line: str(max(map(int, line.split())))),
    ("Write a Python program that reads a word and prints it reversed.",
     "print(input()[::-1])",
     lambda rng: "".join(rng.choice("abcdefgh") for _ in range(5)), lambda line: line[::-1]),
)  # fmt: skip


def code_rows(num_rows: int, seed: int = 0, num_tests: int = 3) -> list[dict]:
    """Programming problems with stdin/stdout `test_cases` and a solution ending in the reference program."""
    rng = random.Random(seed)
    rows = []
    for _ in range(num_rows):
        problem, program, make_input, output = rng.choice(CODE_TASKS)
        tests = [
            {"input": f"{line}\n", "output": f"{output(line)}\n"}
            for line in (make_input(rng) for _ in range(num_tests))
        ]
        solution = f"<think>\nRead the input, compute, print.\n</think>\n```python\n{program}\n```"
        rows.append({"problem": problem, "test_cases": tests, "solution": solution, "answer": "", "task": "code"})
    return rows


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: tmp.write_text("".join(json.dumps(row) + "\n" for row in rows)))
    return path


# Named settings: the SmolLM2 demo trains on these and its held-out benchmarks of the same names test them,
# so the two cannot drift (`python -m r1recipes.synthetic countdown3` takes only --num_rows and --seed)
PRESETS = {
    "countdown3": functools.partial(
        countdown_rows, min_count=3, max_count=3, max_number=10, max_target=30, max_tries=3
    ),
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=["arithmetic", "word_problems", "countdown", "general", "code", *PRESETS])
    parser.add_argument("--num_rows", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_operands", type=int, default=2, help="arithmetic: numbers to add")
    parser.add_argument("--max_value", type=int, default=None, help="largest number: arithmetic 99, word_problems 20")
    parser.add_argument("--num_events", type=int, default=2, help="word_problems: gains and losses in the story")
    parser.add_argument("--min_count", type=int, default=3, help="countdown: fewest given numbers")
    parser.add_argument("--max_count", type=int, default=4, help="countdown: most given numbers")
    parser.add_argument("--max_number", type=int, default=99, help="countdown: largest given number")
    parser.add_argument("--max_target", type=int, default=100, help="countdown: largest target")
    parser.add_argument("--max_tries", type=int, default=8, help="countdown: most attempts the solver may write")
    parser.add_argument("--output", required=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    if args.task in PRESETS:
        rows = PRESETS[args.task](args.num_rows, args.seed)
    elif args.task == "countdown":
        rows = countdown_rows(
            args.num_rows, args.seed, args.min_count, args.max_count, args.max_number, args.max_target, args.max_tries
        )
    elif args.task == "general":
        rows = general_rows(args.num_rows, args.seed)
    elif args.task == "code":
        rows = code_rows(args.num_rows, args.seed)
    elif args.task == "word_problems":
        rows = word_problem_rows(args.num_rows, args.seed, args.num_events, args.max_value or 20)
    else:
        rows = arithmetic_rows(args.num_rows, args.seed, args.num_operands, args.max_value or 99)
    print(write_jsonl(rows, args.output))
