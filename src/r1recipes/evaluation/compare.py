"""Compare two evaluations of the same problems, before (A) and after (B): pass@1 of each, the difference in
percentage points with its 95% interval, and the p-value of a paired test (`paired.py` says which and how).

    python -m r1recipes.compare runs/SmolLM2-135M/eval/base runs/SmolLM2-135M/eval/stage2 \
        [--benchmarks word_problems,countdown3] [--json] [--reference DeepSeek-R1-Distill-Qwen-1.5B]
    make compare A=runs/SmolLM2-135M/eval/base B=runs/SmolLM2-135M/eval/stage2 [REFERENCE=NAME]

A and B are folders `python -m r1recipes.evaluate` wrote (results.json and samples.jsonl). Published figures
(`reference.py`, R1's Table 5) follow the table: beside A or B when it evaluated one of the table's models, beside
both with `--reference NAME`; `--json` prints the comparisons alone, so it takes no `--reference`. Bad input (a
folder that is not an evaluation, no benchmark or no problem in common, one id naming two problems, an unknown
reference) is one `error:` line and exit status 2.
"""

import argparse
import dataclasses
import json
import sys

from r1recipes import RecipeError
from r1recipes.evaluation.paired import Comparison, compare, difference_cell
from r1recipes.evaluation.reference import load as load_reference
from r1recipes.evaluation.reference import reference_section
from r1recipes.evaluation.results import ResultsDir


def print_table(comparisons: list[Comparison]) -> None:
    header = f"{'benchmark':<14}{'paired':>7}{'before':>8}{'after':>8}  {'difference [95% CI] p':<30}test"
    lines = [header, "-" * (len(header) + 28)]
    for c in comparisons:
        left_out = f", {c.only_a} only in A, {c.only_b} only in B" if c.only_a or c.only_b else ""
        lines.append(
            f"{c.benchmark:<14}{c.problems:>7}{c.before:>8.1%}{c.after:>8.1%}  {difference_cell(c):<30}"
            f"{c.test}, {c.interval_method} interval ({c.lost} lost, {c.gained} gained{left_out})"
        )
    print("\n".join(lines), flush=True)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.compare", description=__doc__.split("\n")[0])
    parser.add_argument("a", help="the evaluation before, e.g. runs/SmolLM2-135M/eval/base")
    parser.add_argument("b", help="the evaluation after, e.g. runs/SmolLM2-135M/eval/stage2")
    parser.add_argument("--benchmarks", default=None, help="comma-separated (default: every one both evaluated)")
    parser.add_argument("--json", action="store_true", help="print the comparisons as JSON")
    parser.add_argument(
        "--reference",
        default=None,
        help="a row of R1's Table 5 to set beside A and B, e.g. DeepSeek-R1-Distill-Qwen-7B (default: beside an "
        "evaluation of one of the table's models, its own row)",
    )
    return parser


def main(argv: list[str] | None = None) -> list[Comparison]:
    args = make_parser().parse_args(argv)
    try:
        if not args.a or not args.b:  # `make compare` without A or B
            raise RecipeError("two evaluation folders are required: make compare A=runs/X/eval/base B=...")
        if args.reference and args.json:
            raise RecipeError("--reference sets a table beside the printed comparisons; --json prints them alone")
        if args.reference:
            load_reference().row(args.reference)  # an unknown name, before any work
        names = [name for name in args.benchmarks.split(",") if name] if args.benchmarks else None
        comparisons = compare(args.a, args.b, names)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in comparisons], indent=2))
    else:
        print(f"A (before): {args.a}\nB (after):  {args.b}")
        print_table(comparisons)
        published = reference_section(
            {"A": ResultsDir(args.a).results, "B": ResultsDir(args.b).results}, args.reference
        )
        if published:
            print("", *published, sep="\n")
    return comparisons
