"""Benchmarks that print figures (speed targets are checked here, never by timed tests).

    python -m r1recipes.bench rewards [--data ../shared/data/benchmarks/math500.jsonl] [--num_workers N]

`rewards`: every MATH-500 worked solution is scored as a completion against its own answer and against another
row's answer (2 x 500 = 1,000 completions), once with the `accuracy` reward and once with a plain
single-process loop that parses and verifies each completion with math-verify. It prints completions/s for
both, the speed-up, how often the two agree, and how many verdicts each gets wrong, where "right" means: true
for a solution's own answer, and for another row's answer only when the two answer strings are identical.
"""

import argparse
import json
import random
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmarks" / "math500.jsonl"


def math500_pairs(path: Path, seed: int = 0) -> list[tuple[str, str, bool]]:
    """(completion, gold answer, expected verdict): each solution with its own answer, then another row's."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    others = list(range(len(rows)))
    random.Random(seed).shuffle(others)
    pairs = [(row["solution"], row["answer"], True) for row in rows]
    for row, j in zip(rows, others, strict=True):
        pairs.append((row["solution"], rows[j]["answer"], row["answer"].strip() == rows[j]["answer"].strip()))
    return pairs


def plain_loop(pairs) -> list[bool]:
    """What a recipe without this library does: parse both sides and verify, one completion after another."""
    from math_verify import parse, verify

    return [verify(parse("\\boxed{" + gold + "}"), parse(completion)) for completion, gold, _ in pairs]


def bench_rewards(data: Path, num_workers: int | None) -> None:
    from r1recipes.rewards import accuracy

    pairs = math500_pairs(data)
    completions, golds = [p[0] for p in pairs], [p[1] for p in pairs]
    expected = [p[2] for p in pairs]

    start = time.perf_counter()
    # a pair only sympy can settle, so the worker pool starts here
    accuracy.accuracy_reward(["\\boxed{x+1}"], answer=["1+x"], num_workers=num_workers)
    print(f"worker pool start: {time.perf_counter() - start:.2f} s (once per process, not counted below)")
    accuracy.clear_caches()

    start = time.perf_counter()
    ours = [score == 1.0 for score in accuracy.accuracy_reward(completions, answer=golds, num_workers=num_workers)]
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    plain = plain_loop(pairs)
    plain_s = time.perf_counter() - start

    n = len(pairs)
    agree = sum(a == b for a, b in zip(ours, plain, strict=True))
    print(f"completions: {n} (MATH-500 solutions vs own and vs another row's answer)")
    print(f"accuracy reward: {n / ours_s:8.1f} completions/s ({ours_s:.2f} s)")
    print(f"plain loop:      {n / plain_s:8.1f} completions/s ({plain_s:.2f} s)")
    print(f"speed-up: {plain_s / ours_s:.2f}x   agreement: {agree}/{n}")
    for name, verdicts in (("accuracy reward", ours), ("plain loop", plain)):
        wrong = [i for i, (v, e) in enumerate(zip(verdicts, expected, strict=True)) if v != e]
        print(f"{name} verdicts against the expected: {len(wrong)} wrong (rows {[i % (n // 2) for i in wrong]})")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    rewards = sub.add_parser("rewards", help="accuracy reward vs a plain math-verify loop on MATH-500")
    rewards.add_argument("--data", type=Path, default=DEFAULT_DATA)
    rewards.add_argument("--num_workers", type=int, default=None)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    if not args.data.is_file():
        raise SystemExit(f"error: {args.data} not found (the shared benchmarks folder sits beside the project)")
    bench_rewards(args.data, args.num_workers)


if __name__ == "__main__":
    main()
