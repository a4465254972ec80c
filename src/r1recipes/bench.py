"""Benchmarks that print figures (speed targets are checked here, never by timed tests).

    python -m r1recipes.bench rewards [--data ../shared/data/benchmarks/math500.jsonl] [--num_workers N]
    python -m r1recipes.bench generate [--num_samples N ...] [--processes P] [--data_dir ../shared/data/benchmarks]
        [--chunk_prompts 250] [--k 4]
    python -m r1recipes.bench generate --shards S [--num_samples N ...] [--processes P] [--chunk_prompts 1000]

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

`generate --shards S`: the same completions the whole way through stage 3's own code, for N samples (default:
100,000, then 1,000,000). The bench writes a stage 3 recipe, its prompts (the problems cycled, N / k rows) and a
general-data file for `non_reasoning: {ratio: 0.33}`. Then, each part in fresh processes:
1. judge, filter, write: S shard processes at once, each `generate.generate_chunks` on its chunks (c % S == I)
   with a stand-in sampler that returns the completions above instead of loading a model; `verify_processes` P
   spawned verifiers judge while it "samples" (default P: this machine's cores / S, one a core);
2. merge: `generate.main` with `--merge true`, as the job after a Slurm array runs it: every prompt scanned,
   every chunk's file checked against its marker, the general rows mixed in, manifest.json and stage.json;
3. load as SFT: `data.loading.sft_datasets` on the folder, as stage 3's SFT recipe names it (the folder
   checked against its manifest, read by `datasets`, rows formatted), then every row read once.
It prints each part's seconds, samples/s (the run's samples over the part's seconds), rows and peak RSS (the
largest shard's, and of the largest verifier process), the ratio of each peak between the largest and the
smallest N, and checks that the manifest's rows, the SFT rows and the chunks' kept plus the general rows agree.
"""

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
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


def peak_rss(pid: int | str = "self", field: str = "VmHWM") -> float:
    """A live process's peak RSS in MB (VmHWM; `field` RssAnon: its anonymous memory now, without the pages of
    files it maps). Not ru_maxrss: Linux carries that across exec, so a process started by a bigger one would
    report the bigger one's peak."""
    return int(Path(f"/proc/{pid}/status").read_text().split(f"{field}:")[1].split()[0]) / 1024


def workers_peak_rss() -> float:
    """The largest peak RSS among this process's descendants: pool processes, accuracy reward verifiers."""
    import psutil

    peaks = [0.0]
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(OSError):  # it has just exited
            peaks.append(peak_rss(child.pid))
    return max(peaks)


class WorkerPeaks:
    """`workers_peak_rss`, polled while the block runs: a pool made and shut down inside a function is gone, and
    its processes' peaks with it, by the time the function returns. Also the largest anonymous memory of this
    process (`anon`): its peak RSS counts the pages of the files it maps, which `datasets` does with its Arrow
    files, and which the kernel drops when memory is short."""

    def __init__(self, every: float = 0.5):
        self.peak = self.anon = 0.0
        self._every, self._stop = every, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(self._every):
            self.peak = max(self.peak, workers_peak_rss())
            self.anon = max(self.anon, peak_rss(field="RssAnon"))

    def __enter__(self) -> "WorkerPeaks":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.anon = max(self.anon, peak_rss(field="RssAnon"))


def measure(args) -> dict:
    """Judge and write every chunk in this process (`single`) or in a pool; runs in a fresh subprocess."""
    from r1recipes.generation.output import OutputDir
    from r1recipes.generation.readability import check_filters
    from r1recipes.generation.rejection import JudgeSettings, judge_chunk

    # generate.py's defaults: accuracy verifies maths, every filter on, one kept per prompt at random
    settings = JudgeSettings({"math": "accuracy"}, {}, 1.0, check_filters(None), 1, "random", 0)
    out = OutputDir(args.out)
    out.prepare(start_over=False)
    (num_samples,) = args.num_samples  # one size a child
    stream = chunk_stream(load_problems(args.data_dir), num_samples, args.chunk_prompts, args.k)
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
    samples = num_samples // args.k * args.k
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
    """`generate`: single against pool, or with --shards the whole way (module docstring)."""
    end_to_end = args.shards is not None
    if args.chunk_prompts is None:
        args.chunk_prompts = 1000 if end_to_end else 250  # 1000: the recipes' prompts_per_file
    if args.processes is None:
        args.processes = max(1, (os.cpu_count() or 1) // args.shards) if end_to_end else 2
    problems = len(load_problems(args.data_dir))
    if not 1 <= args.chunk_prompts <= problems:
        raise SystemExit(f"error: --chunk_prompts must be 1..{problems}: a chunk's prompts are distinct problems")
    if args.processes < (0 if end_to_end else 1) or args.k < 1 or (end_to_end and args.shards < 1):
        raise SystemExit("error: --k, --shards and --processes must be >= 1 (--processes 0 with --shards)")
    if any(n < args.k for n in args.num_samples or []):
        raise SystemExit("error: --num_samples must be at least --k")
    print(f"{problems} problems from {args.data_dir}; k = {args.k}, {args.chunk_prompts} prompts a chunk")
    if end_to_end:
        bench_end_to_end(args)
        return
    header = f"{'mode':<8}{'samples':>9}{'seconds':>9}{'samples/s':>11}{'RSS main MB':>13}{'RSS worker MB':>15}"
    print(f"{header}{'kept':>8}\n" + "-" * (len(header) + 8), flush=True)
    with tempfile.TemporaryDirectory(prefix="r1recipes-bench-") as tmp:
        for n in args.num_samples or [10_000, 100_000]:
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


NON_REASONING_RATIO = 0.33  # general rows per kept row, as R1 (~200k per ~600k) and the recipes mix them


class StandInTokenizer:
    """What `sampling.prompt_token_ids` asks of a tokenizer; the stand-in sampler reads no token ids."""

    def apply_chat_template(self, messages, **kwargs) -> dict:
        return {"input_ids": []}


class StandInSampler:
    """generate.py's sampler without a model: sample j of the prompt at position p is `completion(problems, p, j)`,
    the completions the single and pool runs judge."""

    def __init__(self, problems: list, k: int):
        self.problems, self.k = problems, k

    def generate(self, prompt_ids, positions, progress=lambda n: None) -> list:
        samples = [[completion(self.problems, p, j) for j in range(self.k)] for p in positions]
        progress(len(positions))
        return samples


def write_stage3_inputs(folder: Path, problems: list, num_prompts: int, k: int, chunk_prompts: int, processes: int):
    """A stage 3 recipe in `folder` and what it reads: prompts (the problems cycled, so prompt p is the one the
    stand-in sampler answers), general rows (one for each prompt, at most, is more than the ratio takes) and an
    empty folder as the model, which is never loaded. Returns the recipe's path."""
    import yaml

    with open(folder / "prompts.jsonl", "w") as prompts:
        for position in range(num_prompts):
            question, _, answer = problems[position % len(problems)]
            prompts.write(json.dumps({"problem": question, "answer": answer}) + "\n")
    with open(folder / "general.jsonl", "w") as general:
        for i in range(math.ceil(NON_REASONING_RATIO * num_prompts)):
            question, solution, _ = problems[i % len(problems)]
            general.write(json.dumps({"prompt": question, "response": solution}) + "\n")
    (folder / "model").mkdir()
    recipe = {
        "model_name_or_path": str(folder / "model"),
        "dataset_name": str(folder / "prompts.jsonl"),
        "prompt_format": "chat",
        "prompt_column": "problem",
        "num_samples": k,
        "keep_per_prompt": 1,
        "keep_policy": "random",
        "seed": 0,
        "non_reasoning": {"path": str(folder / "general.jsonl"), "ratio": NON_REASONING_RATIO},
        "output_dir": str(folder / "out"),
        "prompts_per_file": chunk_prompts,
        "verify_processes": processes,
    }
    (folder / "stage3.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return folder / "stage3.yaml"


def run_shard(recipe: Path, shards: int, shard_index: int, data_dir: Path) -> dict:
    """Shard `shard_index` of `shards`: `generate_chunks` on its chunks, as `generate.main` gives them to it, with
    the stand-in sampler; the merge is left to `run_merge`."""
    from r1recipes import generate
    from r1recipes.generation.output import OutputDir

    flags = ["--num_shards", str(shards), "--shard_index", str(shard_index)]
    data_args, config, model_args, _ = generate.make_parser().parse(["--config", str(recipe), *flags])
    shard, shards = generate.this_shard(config)
    num_prompts = generate.scan_prompts(data_args, config)["num_prompts"]  # each shard reads them once first
    size = config.prompts_per_file
    todo = [c for c in range(math.ceil(num_prompts / size)) if c % shards == shard]
    plan = {**generate.output_plan(data_args, config, model_args), "num_prompts": num_prompts}
    stand_in = ("a stand-in sampler", StandInTokenizer(), StandInSampler(load_problems(data_dir), config.num_samples))
    start = time.perf_counter()
    if todo:  # as in `generate.main`
        generate.generate_chunks(
            data_args, config, model_args, OutputDir(config.output_dir), todo, num_prompts, plan, stand_in
        )
    samples = sum(min(size, num_prompts - c * size) for c in todo) * config.num_samples
    return {"seconds": time.perf_counter() - start, "samples": samples}


def run_merge(recipe: Path) -> dict:
    """`python -m r1recipes.generate --config RECIPE --merge true`, its summary table sent to stderr."""
    from r1recipes import generate

    data_args, config, model_args, parsed = generate.make_parser().parse(["--config", str(recipe), "--merge", "true"])
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the measurement
        summary = generate.main(data_args, config, model_args, parsed)
    seconds = time.perf_counter() - start
    task = summary["tasks"]["math"]
    return {
        "seconds": seconds,
        "samples": summary["samples"],
        "kept": summary["kept"],
        "rows": summary["rows"],
        "non_reasoning_rows": summary["non_reasoning_rows"],
        "mean_sample_tokens": task["mean_sample_tokens"],
    }


def run_load(folder: Path) -> dict:
    """The folder as stage 3's SFT recipe loads it (`dataset_name: FOLDER`), every row read once."""
    from r1recipes.config.arguments import SFTDataArguments
    from r1recipes.data.loading import sft_datasets

    start = time.perf_counter()
    train, _ = sft_datasets(SFTDataArguments(dataset_name=str(folder)), seed=0)
    rows = sum(1 for row in train if row["messages"])
    return {"seconds": time.perf_counter() - start, "rows": rows}


def measure_part(args) -> dict:
    """One part of the end-to-end run, in a fresh subprocess: its figures and its peak RSS."""
    with WorkerPeaks() as workers:
        if args.measure == "shard":
            result = run_shard(args.recipe, args.shards, args.shard_index, args.data_dir)
        elif args.measure == "merge":
            result = run_merge(args.recipe)
        else:
            result = run_load(args.recipe.parent / "out")
    return {**result, "rss_main": peak_rss(), "rss_anon": workers.anon, "rss_workers": workers.peak}


def part_command(args, part: str, recipe: Path, *flags: str) -> list[str]:
    child = [sys.executable, "-m", "r1recipes.bench", "generate", "--measure", part, "--recipe", str(recipe)]
    return [*child, "--data_dir", str(args.data_dir), *flags]


def run_parts(commands: list[list[str]], env: dict) -> list[dict]:
    """Run the commands at once (shards run side by side, as `accelerate launch` starts them); their results."""
    children = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in commands
    ]
    outputs = [child.communicate() for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        if child.returncode:
            raise SystemExit(f"error: {' '.join(child.args[3:6])} failed:\n{err[-3000:]}")
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def end_to_end(args, num_samples: int, tmp: Path) -> dict:
    """Every part for `num_samples` samples (module docstring); the folder is removed afterwards."""
    folder = tmp / str(num_samples)
    folder.mkdir()
    recipe = write_stage3_inputs(
        folder, load_problems(args.data_dir), num_samples // args.k, args.k, args.chunk_prompts, args.processes
    )
    # datasets' Arrow cache of the loaded folder goes with it; no progress bars in the children's captured stderr
    env = {**os.environ, "HF_DATASETS_CACHE": str(folder / "datasets-cache"), "TQDM_DISABLE": "1"}
    shards = run_parts(
        [part_command(args, "shard", recipe, "--shards", str(args.shards), "--shard_index", str(i))
         for i in range(args.shards)], env
    )  # fmt: skip
    judge = {
        "seconds": max(r["seconds"] for r in shards),  # they ran side by side
        "samples": sum(r["samples"] for r in shards),
        "rss_main": max(r["rss_main"] for r in shards),
        "rss_anon": max(r["rss_anon"] for r in shards),
        "rss_workers": max(r["rss_workers"] for r in shards),
    }
    merge = run_parts([part_command(args, "merge", recipe)], env)[0]
    load = run_parts([part_command(args, "load", recipe)], env)[0]
    judge["rows"] = merge["kept"]
    shutil.rmtree(folder)
    return {"judge": judge, "merge": merge, "load": load}


E2E_PARTS = {"judge": "judge, filter, write", "merge": "merge (--merge true)", "load": "load as SFT"}


def bench_end_to_end(args) -> None:
    sizes = args.num_samples or [100_000, 1_000_000]
    verifiers = args.shards * max(args.processes, 1)
    print(
        f"{args.shards} shards x {args.processes} verify processes ({os.cpu_count()} cores); k = {args.k}, "
        f"{args.chunk_prompts} prompts a chunk; general rows mixed in at {NON_REASONING_RATIO} a kept row"
    )
    header = f"{'part':<22}{'samples':>10}{'seconds':>9}{'samples/s':>11}{'rows':>9}{'RSS main MB':>13}"
    header += f"{'anon MB':>9}{'RSS worker MB':>15}"
    print(f"{header}\n" + "-" * len(header), flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="r1recipes-bench-") as tmp:
        for n in sizes:
            results[n] = run = end_to_end(args, n, Path(tmp))
            samples = run["merge"]["samples"]
            for part, name in E2E_PARTS.items():
                r = run[part]
                workers = f"{r['rss_workers']:>15.0f}" if part == "judge" else ""
                print(
                    f"{name:<22}{samples:>10}{r['seconds']:>9.1f}{samples / r['seconds']:>11.0f}{r['rows']:>9}"
                    f"{r['rss_main']:>13.0f}{r['rss_anon']:>9.0f}{workers}",
                    flush=True,
                )
            merge, per_verifier = run["merge"], samples / run["judge"]["seconds"] / verifiers
            agree = merge["rows"] == run["load"]["rows"] == merge["kept"] + merge["non_reasoning_rows"]
            print(
                f"  {samples} samples: {merge['kept']} kept + {merge['non_reasoning_rows']} general = "
                f"{merge['rows']} rows in the manifest, {run['load']['rows']} read as SFT: "
                f"{'they agree' if agree else 'THEY DIFFER'}; judging {per_verifier:.0f} samples/s a verify "
                f"process; mean sample {merge['mean_sample_tokens']:.0f} tokens; load average "
                f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min) at the end",
                flush=True,
            )
    if len(sizes) > 1:
        small, large = results[min(sizes)], results[max(sizes)]
        print(f"peak RSS at {max(sizes)} samples / at {min(sizes)}:")
        for part, name in E2E_PARTS.items():
            other = "workers" if part == "judge" else "anon"
            key = "rss_workers" if part == "judge" else "rss_anon"
            print(f"  {name:<22}main {large[part]['rss_main'] / small[part]['rss_main']:.2f}x, "
                  f"{other} {large[part][key] / small[part][key]:.2f}x")  # fmt: skip


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    rewards = sub.add_parser("rewards", help="accuracy reward vs a plain math-verify loop on MATH-500")
    rewards.add_argument("--data", type=Path, default=DEFAULT_DATA)
    rewards.add_argument("--num_workers", type=int, default=None)
    generate = sub.add_parser("generate", help="stage 3 judging and writing throughput and memory, no model")
    generate.add_argument(
        "--num_samples", type=int, nargs="+", help="default: 10000 100000; with --shards 100000 1000000"
    )
    generate.add_argument("--processes", type=int, help="default: 2; with --shards, cores / shards")
    generate.add_argument("--data_dir", type=Path, default=DEFAULT_DATA.parent)
    generate.add_argument("--chunk_prompts", type=int, help="default: 250; with --shards 1000 (prompts_per_file)")
    generate.add_argument("--k", type=int, default=4)
    generate.add_argument("--shards", type=int, help="the whole way through stage 3's code, in this many shards")
    # one run or part, in a child process
    generate.add_argument("--measure", choices=["single", "pool", "shard", "merge", "load"], help=argparse.SUPPRESS)
    generate.add_argument("--out", help=argparse.SUPPRESS)
    generate.add_argument("--recipe", type=Path, help=argparse.SUPPRESS)
    generate.add_argument("--shard_index", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    data = args.data if args.bench == "rewards" else args.data_dir
    if not (data.is_file() if args.bench == "rewards" else data.is_dir()):
        raise SystemExit(f"error: {data} not found (the shared benchmarks folder sits beside the project)")
    if args.bench == "rewards":
        bench_rewards(args.data, args.num_workers)
    elif args.measure in ("single", "pool"):
        print(json.dumps(measure(args)))
    elif args.measure:
        print(json.dumps(measure_part(args)))
    else:
        bench_generate(args)


if __name__ == "__main__":
    main()
