"""Evaluation: k samples per problem of each benchmark, scored by the verifiers that reward training.

    python -m r1recipes.evaluate --model runs/SmolLM2-135M/stage2 --benchmarks math500,gsm8k,countdown \
        [--num_samples 4 --temperature 0.6 --top_p 0.95 --max_new_tokens 4096 --prompt_format chat] \
        [--data_dir ../shared/data/benchmarks] [--max_problems 50] [--output runs/SmolLM2-135M/eval/stage2]
    make eval MODEL_PATH=runs/SmolLM2-135M/stage2 BENCHMARKS=gsm8k,countdown [NUM_PROCESSES=8 ARGS="..."]
    torchrun --nproc_per_node 8 -m r1recipes.evaluate ...   # data parallel: each process a share of the problems

Benchmarks are named in `benchmarks.py` (Hub datasets, local files, the package's own tasks). Prompts are
made as in training (`prompt_format`, `system_prompt`, `prompt_template`: the recipe fields of the same names),
sampled with vLLM on GPUs or batched transformers `generate` (`sampling.py`: a sample
depends only on the seed, its problem's position and its index), and judged by the reward that verifies the
task in GRPO and rejection sampling (`rejection.verify`: `accuracy` for maths, `countdown`). A sample is correct
when that reward gives 1.0. Metrics (`metrics.py`): pass@1 over k samples, pass@k, maj@k, 95% intervals, mean
length in tokens, shares truncated and without an answer. Output (`eval_results.py`): results.json and
samples.jsonl; a rerun skips finished benchmarks. The unfinished ones are sampled in one pass, so batches fill
across benchmarks (on a CPU, one batch of 128 costs far less than two of 64).

Departures from the R1 report: R1 samples 4 to 64 times per problem with up to 32,768 tokens; the defaults
here are 4 samples and 4,096 tokens (raise `--max_new_tokens` for long chains of thought). Its answers are
checked by rules only, where R1 also used a model as judge for some formats.
"""

import os
import time

from r1recipes import RecipeError, notice
from r1recipes.config.arguments import PromptArguments
from r1recipes.config.parser import Recipe, RecipeParser
from r1recipes.config.paths import check_model_folder
from r1recipes.data.prompts import make_prompt
from r1recipes.evaluation.benchmarks import BENCHMARKS, load_benchmark, source_of
from r1recipes.evaluation.config import EVALUATE_RUNTIME_FIELDS, EvaluateConfig
from r1recipes.evaluation.metrics import Verdict, summarize
from r1recipes.evaluation.results import ResultsDir
from r1recipes.generation.rejection import Prompt, verify
from r1recipes.rewards.accuracy import normalize
from r1recipes.rewards.text import final_answers
from r1recipes.rewards.verifiers import DEFAULT_VERIFIERS
from r1recipes.training.stage import now_utc, provenance, run_cli


def this_process() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def stated_answer(text: str) -> str | None:
    answers = [a.strip() for a in final_answers(text) if a.strip()]
    return " ; ".join(answers) if answers else None


def gold_of(row: dict) -> str | None:
    if row["task"] == "countdown":
        return f"{row['target']} from {row['nums']}"
    if row["task"] == "code" and isinstance(row.get("test_cases"), list):
        return f"passes all {len(row['test_cases'])} tests"
    return row.get("answer")


def score(benchmark: str, rows: list[dict], prompts: list, samples: list[list], positions: list[int]) -> list[dict]:
    """One record per sample: what the model was asked and said, and the task verifier's score and verdict."""
    judged = []
    for p, row, prompt in zip(positions, rows, prompts, strict=True):
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        judged.append(Prompt(p, row["id"], row["task"], messages, row))
    scores = verify(DEFAULT_VERIFIERS, BENCHMARKS[benchmark].verifier_kwargs, judged, samples)
    stated = BENCHMARKS[benchmark].stated or stated_answer  # what a sample votes for in maj@k
    records = []
    for p, row, prompt, problem_samples, problem_scores in zip(positions, rows, prompts, samples, scores, strict=True):
        gold = gold_of(row)
        for j, (sample, value) in enumerate(zip(problem_samples, problem_scores, strict=True)):
            records.append(
                {
                    "benchmark": benchmark,
                    "id": row["id"],
                    "position": p,
                    "sample": j,
                    "prompt": prompt,
                    "completion": sample.text,
                    "answer": stated(sample.text),
                    "gold": gold,
                    "score": value,
                    "correct": value is not None and value >= 1.0,
                    "tokens": sample.num_tokens,
                    "truncated": sample.truncated,
                }
            )
    return records


def benchmark_metrics(rows: list[dict]) -> dict:
    """`metrics.summarize` over the merged sample records of one benchmark (sorted by problem, then sample)."""
    problems: dict[int, list[Verdict]] = {}
    for row in rows:
        key = normalize(row["answer"]) if row["answer"] is not None else None
        problems.setdefault(row["position"], []).append(Verdict(row["correct"], key, row["tokens"], row["truncated"]))
    metrics = summarize(list(problems.values()))
    metrics["unverifiable"] = round(sum(row["score"] is None for row in rows) / len(rows), 6)  # counted wrong
    return metrics


def run_benchmarks(names, problems, prompt_args, backend, tokenizer, sampler, config, out) -> list[dict | None]:
    """Sample this process's share of every benchmark in one pass (so batches fill across benchmarks), judge
    each into its shard, then merge each benchmark whose shares are all done."""
    from tqdm.auto import tqdm

    from r1recipes.generation.sampling import prompt_token_ids

    rank, world = this_process()
    start = time.perf_counter()
    shares = {}  # benchmark -> (positions, rows, prompts) not yet sampled by this process
    for name in names:
        if not out.shard_path(name, rank, world).exists():  # else sampled by a run stopped before the merge
            share = list(range(rank, len(problems[name]), world))
            mine = [problems[name][p] for p in share]
            shares[name] = share, mine, [make_prompt(row, prompt_args) for row in mine]
    for k in dict.fromkeys(config.samples_for(name) for name in shares):  # benchmarks of one k sampled together
        group = {name: share for name, share in shares.items() if config.samples_for(name) == k}
        prompts = [prompt for _, _, share in group.values() for prompt in share]
        positions = [p for share, _, _ in group.values() for p in share]
        desc = f"{', '.join(group)} (k = {k})"
        bar = tqdm(total=len(prompts), unit="problem", desc=desc, dynamic_ncols=True, disable=rank != 0)
        ids = prompt_token_ids(tokenizer, prompts)
        samples = iter(sampler.generate(ids, positions, progress=bar.update, num_samples=k))
        bar.close()
        for name, (share, mine, share_prompts) in group.items():
            mine_samples = [next(samples) for _ in share]
            out.write_shard(name, rank, world, score(name, mine, share_prompts, mine_samples, share))
    seconds = round(time.perf_counter() - start, 1)  # this process's, for every benchmark it sampled together
    merged = []
    for name in names:
        benchmark = BENCHMARKS[name]
        info = {
            "source": source_of(benchmark, config.data_file.get(name)),
            "task": benchmark.task,
            "verifier": DEFAULT_VERIFIERS[benchmark.task],
            "verifier_kwargs": benchmark.verifier_kwargs,
            "backend": backend,
            "seconds": seconds,
            "finished_at": now_utc(),
        }
        merged.append(out.merge(name, world, lambda rows, info=info: {**benchmark_metrics(rows), **info}))
    return merged


def print_table(results: dict, names: list[str]) -> None:
    """pass@1 with its interval, then pass@k and maj@k (cons@k) at each benchmark's own k."""
    header = f"{'benchmark':<14}{'problems':>9}{'k':>4}{'pass@1':>9}{'95% CI':>16}{'pass@k':>9}{'maj@k':>9}"
    lines = [header + f"{'tokens':>8}{'trunc.':>8}", "-" * (len(header) + 16)]
    for name in names:
        m = results["benchmarks"][name]
        k = m.get("num_samples", results["config"]["num_samples"])
        low, high = m["ci95"]["pass@1"]
        lines.append(
            f"{name:<14}{m['problems']:>9}{k:>4}{m['pass@1']:>9.1%}{f'[{low:.1%}, {high:.1%}]':>16}"
            f"{m[f'pass@{k}']:>9.1%}{m[f'maj@{k}']:>9.1%}{m['mean_length']:>8.0f}{m['truncated']:>8.1%}"
        )
    print("\n".join(lines), flush=True)


def main(config: EvaluateConfig, prompt_args: PromptArguments, recipe: Recipe | None = None) -> dict:
    """results.json's contents once this process's benchmarks are done."""
    from r1recipes.config.arguments import ModelArguments
    from r1recipes.generation.sampling import load_sampler, pick_backend

    check_model_folder(config.model)  # parsing checked only that it exists; results.json is written before it loads
    world = this_process()[1]
    if config.start_over and world > 1:
        raise RecipeError("start_over with several processes would let one delete another's work: run it alone")
    settings = {k: v for k, v in vars(config).items() if k not in EVALUATE_RUNTIME_FIELDS and k != "model"}
    settings.update(vars(prompt_args))
    out = ResultsDir(config.output)
    origin = provenance("evaluate", recipe or Recipe(), now_utc())
    header = {"model": config.model, "config": settings, "created_at": origin["started_at"]}
    header.update({key: origin[key] for key in ("git_commit", "git_dirty", "recipe")})
    out.check(header, config.start_over)
    finished = set() if config.start_over else out.finished()
    todo, merged = [name for name in config.benchmarks if name not in finished], []
    if todo:
        backend = pick_backend(config.backend)
        problems = {name: load_benchmark(name, config.data_file.get(name), config.max_problems) for name in todo}
        missing = [
            c for c in prompt_args.prompt_fields if any(c not in row for rows in problems.values() for row in rows)
        ]
        if missing:
            raise RecipeError(f"the prompt needs a column '{missing[0]}' that benchmark rows lack (they have "
                              f"{', '.join(next(iter(problems.values()))[0])})")  # fmt: skip
        out.prepare(header, config.start_over)
        ks = ", ".join(f"{name} {config.samples_for(name)}" for name in todo)
        notice(f"evaluating {config.model} with {backend}, samples per problem: {ks}")
        # dtype None: the checkpoint's own on a GPU (TRL's ModelConfig defaults to float32), float32 on a CPU
        model_args = ModelArguments(model_name_or_path=config.model, dtype=None)
        tokenizer, sampler = load_sampler(model_args, config, backend)
        merged = run_benchmarks(todo, problems, prompt_args, backend, tokenizer, sampler, config, out)
    else:
        notice(f"{out.path}: every benchmark asked for is finished (--start_over true to evaluate again)")
    results = out.results
    done = [name for name in config.benchmarks if name in results["benchmarks"]]
    if len(done) == len(config.benchmarks) and (world == 1 or any(merged)):  # once, by the last to merge
        print_table(results, done)
    return results


def make_parser() -> RecipeParser:
    return RecipeParser((EvaluateConfig, PromptArguments), prog="python -m r1recipes.evaluate")


if __name__ == "__main__":
    run_cli(main, make_parser)
