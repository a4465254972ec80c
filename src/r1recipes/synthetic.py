"""Procedural data the package writes itself, so tests and the demo never download a dataset.

    python -m r1recipes.synthetic arithmetic --num_rows 256 --seed 0 --output runs/data/arithmetic.jsonl

Each row has `problem`, `answer`, `solution` (reasoning inside <think>, then <answer>) and `task`.
"""

import argparse
import json
import random
from pathlib import Path


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


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tmp.replace(path)
    return path


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=["arithmetic"])
    parser.add_argument("--num_rows", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_operands", type=int, default=2)
    parser.add_argument("--max_value", type=int, default=99)
    parser.add_argument("--output", required=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    rows = arithmetic_rows(args.num_rows, args.seed, args.num_operands, args.max_value)
    print(write_jsonl(rows, args.output))


if __name__ == "__main__":
    main()
