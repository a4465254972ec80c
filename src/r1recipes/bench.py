"""Benchmarks that print figures (speed targets are checked here, never by timed tests).

    python -m r1recipes.bench rewards [--data ../shared/data/benchmarks/math500.jsonl] [--num_workers N]
    python -m r1recipes.bench generate [--num_samples N] [--processes P] [--data_dir ../shared/data/benchmarks]
        [--chunk_prompts 250] [--k 4]

`rewards`: every MATH-500 worked solution is scored as a completion against its own answer and against another
row's answer (2 x 500 = 1,000 completions), once with the `accuracy` reward and once with a plain
single-process loop that parses and verifies each completion with math-verify. It prints completions/s for
both, the speed-up, how often the two agree, and how many verdicts each gets wrong, where "right" means: true
for a solution's own answer, and for another row's answer only when the two answer strings are identical.

`generate`: stage 3's judging without a model: verification, readability filters and Parquet writing
(`rejection.judge_chunk`, `output.OutputDir`) on pre-generated completions. The problems of every benchmark file
are cycled through, k completions each, in R1's form `<think>\\nreasoning\\n</think>\\n\\n\\boxed{answer}`: the
worked solution with the gold answer, or with another problem's answer, or made unreadable (Chinese sentences,
a repetition loop, a code block, no `</think>`, truncated); a seeded mix, streamed chunk by chunk, never all in
memory. Each of N samples (default: 10,000, then 100,000) is judged once in the main process ("single") and
once by a spawn pool of P processes (default 2) with at most P + 1 chunks in flight, as `generate.py` does.
Each run is a fresh subprocess, so its peak RSS (VmHWM of the main process, and of the largest worker process:
the accuracy reward's verifier processes under "single", the pool's processes and theirs under "pool") is its own.
It prints samples/s (chunk building, pool start and writing included), peak RSS and kept rows, the pool's
speed-up, and whether both wrote identical Parquet tables.
"""

import argparse
import contextlib
import json
import multiprocessing
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
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


# The completions a sampled prompt gets, with their shares: mostly readable, some right, some wrong
KINDS = {"correct": 45, "wrong": 25, "chinese": 6, "loop": 6, "code": 6, "no_close": 6, "truncated": 6}
CHINESE = "让我们再仔细检查一下这个计算。所以这个结果应该是正确的。"
LOOP = "Wait, let me check that step again. "


def load_problems(data_dir: Path, seed: int = 0) -> list[tuple[str, str, str]]:
    """(question, worked solution, gold answer) of every benchmark row with an answer, read as evaluation reads
    it (`benchmarks.math_row`), shuffled so a chunk mixes benchmarks."""
    from r1recipes.evaluation.benchmarks import BENCHMARKS, math_row

    problems = []
    for benchmark in sorted((b for b in BENCHMARKS.values() if b.file), key=lambda b: b.file):
        path = data_dir / benchmark.file
        for line in path.read_text().splitlines() if path.exists() else []:
            row = math_row(benchmark.name, json.loads(line))
            question, answer = row["problem"], row["answer"]
            if answer is not None:
                # amc23 has no worked solutions
                solution = (
                    row["solution"] or f"We need to solve this.\n\n{question}\n\nWorking through it gives {answer}."
                )
                problems.append((question, solution.strip(), answer))
    random.Random(seed).shuffle(problems)
    return problems


def completion(problems: list, position: int, j: int, seed: int = 0):
    """Sample j of the prompt at `position`: its kind drawn (seeded) from KINDS; unreadable ones are correct."""
    from r1recipes.generation.sampling import Sample

    rng = random.Random(f"{seed}/{position}/{j}")
    kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    _, reasoning, answer = problems[position % len(problems)]
    if kind == "wrong":
        answer = rng.choice(problems)[2]
    elif kind == "chinese":
        paragraphs = reasoning.split("\n\n")
        reasoning = "\n\n".join(p + (CHINESE * 2 if i % 2 == 0 else "") for i, p in enumerate(paragraphs))
    elif kind == "loop":  # longer than the reasoning, as a model stuck in a loop writes
        reasoning += "\n\n" + LOOP * (20 + len(reasoning.split()) // 4)
    elif kind == "code":
        reasoning += "\n\n```python\nprint(sum(range(10)))\n```"
    text = f"<think>\n{reasoning}\n</think>\n\n\\boxed{{{answer}}}"
    if kind == "no_close":
        text = text.replace("</think>", "")
    elif kind == "truncated":
        text = text[: len(text) // 2]
    return Sample(text, len(text) // 4 + 1, kind == "truncated")  # ~4 characters a token


def chunk_stream(problems: list, num_samples: int, chunk_prompts: int, k: int):
    """Chunks of `chunk_prompts` consecutive prompts (distinct problems), k samples each, made when asked for."""
    from r1recipes.generation.rejection import Chunk, Prompt

    num_prompts = num_samples // k
    for index, start in enumerate(range(0, num_prompts, chunk_prompts)):
        positions = range(start, min(start + chunk_prompts, num_prompts))
        prompts = []
        for position in positions:
            question, _, answer = problems[position % len(problems)]
            messages = [{"role": "user", "content": question}]
            prompts.append(Prompt(position, str(position), "math", messages, {"answer": answer}))
        yield Chunk(index, prompts, [[completion(problems, p, j) for j in range(k)] for p in positions])


def peak_rss(pid: int | str = "self") -> float:
    """A live process's peak RSS in MB (VmHWM). Not ru_maxrss: Linux carries that across exec, so a process
    started by a bigger one would report the bigger one's peak."""
    return int(Path(f"/proc/{pid}/status").read_text().split("VmHWM:")[1].split()[0]) / 1024


def workers_peak_rss() -> float:
    """The largest peak RSS among this process's descendants: pool processes, accuracy reward verifiers."""
    import psutil

    peaks = [0.0]
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(OSError):  # it has just exited
            peaks.append(peak_rss(child.pid))
    return max(peaks)


def measure(args) -> dict:
    """Judge and write every chunk in this process (`single`) or in a pool; runs in a fresh subprocess."""
    from r1recipes.generation.output import OutputDir
    from r1recipes.generation.readability import check_filters
    from r1recipes.generation.rejection import JudgeSettings, judge_chunk

    # generate.py's defaults: accuracy verifies maths, every filter on, one kept per prompt at random
    settings = JudgeSettings({"math": "accuracy"}, {}, 1.0, check_filters(None), 1, "random", 0)
    out = OutputDir(args.out)
    out.prepare(start_over=False)
    stream = chunk_stream(load_problems(args.data_dir), args.num_samples, args.chunk_prompts, args.k)
    kept = 0

    def write(judged) -> None:
        nonlocal kept
        out.write_chunk(judged.index, judged.rows, judged.stats)
        kept += len(judged.rows)

    start = time.perf_counter()
    if args.measure == "single":
        for chunk in stream:
            write(judge_chunk(chunk, settings))
        seconds, rss_workers = time.perf_counter() - start, workers_peak_rss()
    else:
        pending = deque()
        with ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn")) as executor:
            for chunk in stream:
                pending.append(executor.submit(judge_chunk, chunk, settings))
                while pending and (pending[0].done() or len(pending) > args.processes):
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
            seconds, rss_workers = time.perf_counter() - start, workers_peak_rss()  # while the workers live
    samples = args.num_samples // args.k * args.k
    return {"seconds": seconds, "samples": samples, "kept": kept, "rss_main": peak_rss(), "rss_workers": rss_workers}


def same_output(a: Path, b: Path) -> tuple[bool, int]:
    """Whether two output folders hold identical Parquet tables and counts, file by file; and their files."""
    import pyarrow.parquet as pq

    files = sorted(p.name for p in (a / "data").glob("*.parquet"))
    if files != sorted(p.name for p in (b / "data").glob("*.parquet")):
        return False, len(files)
    tables = all(pq.read_table(a / "data" / f).equals(pq.read_table(b / "data" / f)) for f in files)
    counts = all((a / "chunks" / f.name).read_text() == f.read_text() for f in (b / "chunks").glob("*.json"))
    return tables and counts, len(files)


def run_measure(args, mode: str, num_samples: int, out: str) -> dict:
    """`measure` in a fresh interpreter: its peak RSS figures are its own, not an earlier run's high-water mark."""
    child = [sys.executable, "-m", "r1recipes.bench", "generate", "--measure", mode, "--out", out]
    for name in ("processes", "data_dir", "chunk_prompts", "k"):
        child += [f"--{name}", str(getattr(args, name))]
    child += ["--num_samples", str(num_samples)]
    return json.loads(subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout)


def bench_generate(args) -> None:
    problems = len(load_problems(args.data_dir))
    if not 1 <= args.chunk_prompts <= problems:
        raise SystemExit(f"error: --chunk_prompts must be 1..{problems}: a chunk's prompts are distinct problems")
    if args.processes < 1 or args.k < 1 or (args.num_samples is not None and args.num_samples < args.k):
        raise SystemExit("error: --processes and --k must be >= 1, and --num_samples at least --k")
    print(f"{problems} problems from {args.data_dir}; k = {args.k}, {args.chunk_prompts} prompts a chunk")
    header = f"{'mode':<8}{'samples':>9}{'seconds':>9}{'samples/s':>11}{'RSS main MB':>13}{'RSS worker MB':>15}"
    print(f"{header}{'kept':>8}\n" + "-" * (len(header) + 8), flush=True)
    with tempfile.TemporaryDirectory(prefix="r1recipes-bench-") as tmp:
        for n in [args.num_samples] if args.num_samples else [10_000, 100_000]:
            results = {}
            for mode in ("single", "pool"):
                r = results[mode] = run_measure(args, mode, n, f"{tmp}/{n}-{mode}")
                name = mode if mode == "single" else f"pool x{args.processes}"
                print(
                    f"{name:<8}{r['samples']:>9}{r['seconds']:>9.1f}{r['samples'] / r['seconds']:>11.0f}"
                    f"{r['rss_main']:>13.0f}{r['rss_workers']:>15.0f}{r['kept']:>8}",
                    flush=True,
                )
            same, files = same_output(Path(tmp, f"{n}-single"), Path(tmp, f"{n}-pool"))
            speedup = results["single"]["seconds"] / results["pool"]["seconds"]
            agreement = "identical rows" if same else "DIFFERENT rows"
            print(f"  {n} samples: pool speed-up {speedup:.2f}x; single and pool wrote {agreement} ({files} files)")
            for mode in results:  # the 100k run need not share the disk with the 10k one
                shutil.rmtree(f"{tmp}/{n}-{mode}")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    rewards = sub.add_parser("rewards", help="accuracy reward vs a plain math-verify loop on MATH-500")
    rewards.add_argument("--data", type=Path, default=DEFAULT_DATA)
    rewards.add_argument("--num_workers", type=int, default=None)
    generate = sub.add_parser("generate", help="stage 3 judging and writing throughput and memory, no model")
    generate.add_argument("--num_samples", type=int, default=None, help="default: 10000, then 100000")
    generate.add_argument("--processes", type=int, default=2)
    generate.add_argument("--data_dir", type=Path, default=DEFAULT_DATA.parent)
    generate.add_argument("--chunk_prompts", type=int, default=250)
    generate.add_argument("--k", type=int, default=4)
    generate.add_argument("--measure", choices=["single", "pool"], help=argparse.SUPPRESS)  # one run, in a child
    generate.add_argument("--out", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    data = args.data if args.bench == "rewards" else args.data_dir
    if not (data.is_file() if args.bench == "rewards" else data.is_dir()):
        raise SystemExit(f"error: {data} not found (the shared benchmarks folder sits beside the project)")
    if args.bench == "rewards":
        bench_rewards(args.data, args.num_workers)
    elif args.measure:
        print(json.dumps(measure(args)))
    else:
        bench_generate(args)


if __name__ == "__main__":
    main()
