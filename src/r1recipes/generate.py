"""Stage 3 rejection sampling: k samples per prompt from an RL checkpoint, kept when verified and readable.

    python -m r1recipes.generate --config recipes/<MODEL>/stage3_rejection_sampling.yaml \
        [--num_shards N --shard_index I]
    accelerate launch --num_processes 8 -m r1recipes.generate --config ...   # each process one shard
    python -m r1recipes.generate --config ... --merge true   # after shards run separately: mix, manifest

Prompts stream from the dataset (never all in memory) and are formatted as in the GRPO stage; the model
samples with vLLM on GPUs, else transformers (`sampling.py`); worker processes verify and filter each chunk
(`rejection.py`) while the model samples the next; kept rows go to Parquet, chunk by chunk (`output.py`).
When every chunk is done, the non-reasoning source is mixed in and `manifest.json` and `stage.json` are written.

Calling `main` from a script of your own needs the `if __name__ == "__main__":` guard, as any code that starts
processes with spawn does (the verifier processes import the main module), or `verify_processes: 0`.

Departures from the R1 report: R1 sampled from the stage 2 checkpoint and kept correct samples "with
generative reward models" judging some answers by DeepSeek-V3; here rule verifiers judge by task (a task whose
answers rules cannot check can name `judge`: any model the samplers load, not DeepSeek-V3), and the readability
thresholds, which the report does not give, are ours (`readability.py`).
"""

import itertools
import math
import os
import time
from collections import Counter, deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import get_context

from r1recipes import RecipeError, notice
from r1recipes.config.arguments import GENERATE_RUNTIME_FIELDS, DataArguments, GenerateConfig, ModelArguments
from r1recipes.config.parser import Recipe, RecipeParser
from r1recipes.data.loading import check_columns, source_columns, stream_rows
from r1recipes.data.prompts import make_prompt
from r1recipes.files import STAGE_FILE, write_json
from r1recipes.generation.output import MANIFEST, OutputDir
from r1recipes.generation.rejection import Chunk, JudgeSettings, Prompt, judge_chunk
from r1recipes.rewards import check_reward_columns
from r1recipes.rewards.pool import die_with_parent
from r1recipes.training.stage import mark_complete, now_utc, provenance, run_cli


def this_shard(config: GenerateConfig) -> tuple[int, int]:
    """(index, count): under `accelerate launch` each process is a shard of the shard it was given."""
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    return config.shard_index * world + rank, config.num_shards * world


def task_of(row: dict, config: GenerateConfig) -> str:
    return str(row.get(config.task_column) or config.default_task)


def scan_prompts(data_args: DataArguments, config: GenerateConfig) -> dict:
    """Read the prompt source once, before any model loads: columns, every row's task, the number of prompts."""
    if data_args.test_split_size:
        raise RecipeError("test_split_size does not apply to generation: every prompt is sampled")
    if any(source.weight != 1 for source in data_args.sources):
        raise RecipeError("dataset_mixture weights do not apply to generation: its sources are read in order")
    extra = [config.id_column] if config.id_column else []
    columns = check_columns(data_args.sources, lambda columns: [*data_args.prompt_fields, *extra])
    tasks = Counter(task_of(row, config) for row in stream_rows(data_args.sources, data_args.max_samples))
    if not tasks:
        raise RecipeError("the prompt dataset is empty")
    for task, count in tasks.items():
        if task not in config.verifiers:
            raise RecipeError(
                f"task '{task}' ({count} prompts) has no verifier: add it to verifiers "
                f"(now {config.verifiers}), or set default_task for rows without a task"
            )
        if isinstance(config.keep_per_prompt, dict) and task not in config.keep_per_prompt:
            raise RecipeError(f"task '{task}' ({count} prompts) has no keep_per_prompt (now {config.keep_per_prompt})")
        verifier = config.verifiers[task]
        try:
            check_reward_columns([verifier], config.verifier_kwargs, columns)
        except RecipeError as exc:
            raise RecipeError(f"task '{task}': {exc}") from None
    source = config.non_reasoning
    if source is not None:
        mixed = source_columns(source.dataset_source)
        if "messages" not in mixed and not {"prompt", "response"} <= set(mixed):
            raise RecipeError(f"non_reasoning '{source.path}' needs a 'messages' column or 'prompt' and 'response'")
    return {"num_prompts": sum(tasks.values()), "tasks": dict(tasks)}


def to_prompt(position: int, row: dict, data_args: DataArguments, config: GenerateConfig) -> tuple[Prompt, object]:
    """The judge's view of a row, and what the model sees (the GRPO stage's prompt)."""
    model_prompt = make_prompt(row, data_args)
    if isinstance(model_prompt, list):
        messages = model_prompt
    else:  # the plain R1-Zero template wraps the question; the SFT row asks the question itself
        text = row[data_args.prompt_column] if data_args.prompt_format == "r1_zero" else model_prompt
        messages = [{"role": "user", "content": str(text).strip()}]
    prompt_id = str(row[config.id_column]) if config.id_column else str(position)
    return Prompt(position, prompt_id, task_of(row, config), messages, row), model_prompt


def chunks_to_do(data_args, config, todo: list[int]):
    """(chunk index, [(prompt, model prompt)]) for the chunks in `todo`, streamed in order."""
    wanted = set(todo)
    rows = enumerate(stream_rows(data_args.sources, data_args.max_samples))
    for index, group in itertools.groupby(rows, key=lambda item: item[0] // config.prompts_per_file):
        if index > todo[-1]:
            return
        if index in wanted:
            yield index, [to_prompt(position, row, data_args, config) for position, row in group]


def generate_chunks(
    data_args, config, model_args, out: OutputDir, todo: list[int], num_prompts: int, plan: dict, stand_in=None
) -> None:
    """Sample, judge and write the chunks in `todo`. `stand_in`: (name, tokenizer, sampler) used instead of
    loading the model, the benchmark's sampler of pre-written completions (`bench.py`)."""
    from tqdm.auto import tqdm

    from r1recipes.generation.sampling import load_sampler, pick_backend, prompt_token_ids

    if stand_in is None:
        backend = pick_backend(config.backend)
        tokenizer, sampler = load_sampler(model_args, config, backend)
    else:
        backend, tokenizer, sampler = stand_in
    # the first write: a run refused before (a model that does not load) leaves no folder, no config to trip on
    out.prepare(config.start_over)
    out.check_config(plan)
    notice(f"sampling {config.num_samples} per prompt with {backend}; {len(todo)} chunks to do")
    judge = JudgeSettings.from_config(config)
    size = config.prompts_per_file
    total = sum(min(size, num_prompts - c * size) for c in todo)
    counts: Counter = Counter()
    bar = tqdm(total=total, unit="prompt", desc="generate", dynamic_ncols=True)
    pending = deque()

    def collect(block: bool) -> None:
        while pending and (block or pending[0][1].done() or len(pending) > config.verify_processes):
            sampling_seconds, future = pending.popleft()
            judged = future.result()
            judged.stats["seconds/sampling"] = sampling_seconds
            out.write_chunk(judged.index, judged.rows, judged.stats)
            counts.update(judged.stats)
            samples = sum(v for k, v in counts.items() if k.endswith("/samples"))
            kept = sum(v for k, v in counts.items() if k.endswith("/kept"))
            bar.set_postfix(kept=kept, kept_per_sample=f"{kept / max(samples, 1):.2f}")

    # spawn, not fork: the model's threads (and vLLM's) must not be copied into the verifiers; and they exit
    # when this process is killed, which a process pool's workers do not do on their own
    workers, this_process = config.verify_processes, os.getpid()
    with (
        ProcessPoolExecutor(workers, get_context("spawn"), initializer=die_with_parent, initargs=(this_process,))
        if workers
        else InlineExecutor()
    ) as executor:
        for index, chunk in chunks_to_do(data_args, config, todo):
            prompts = [prompt for prompt, _ in chunk]
            ids = prompt_token_ids(tokenizer, [model_prompt for _, model_prompt in chunk])
            start = time.perf_counter()
            samples = sampler.generate(ids, [p.position for p in prompts], progress=bar.update)
            seconds = round(time.perf_counter() - start, 3)
            pending.append((seconds, executor.submit(judge_chunk, Chunk(index, prompts, samples), judge)))
            collect(block=False)
        collect(block=True)
    bar.close()


class InlineExecutor(Executor):
    """`verify_processes: 0`: judge each chunk right here, before the next is sampled."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def manifest(out: OutputDir, scan: dict, non_reasoning_rows: int) -> dict:
    totals = out.totals()
    tasks = {}
    for task in scan["tasks"]:
        t = {
            key: totals.get(f"tasks/{task}/{key}", 0) for key in ("prompts", "samples", "correct", "accepted", "kept")
        }
        t["prompts_with_kept"] = totals.get(f"tasks/{task}/prompts_with_kept", 0)
        t["correct_rate"] = _rate(t["correct"], t["samples"])
        t["acceptance_rate"] = _rate(t["accepted"], t["samples"])
        t["prompt_yield"] = _rate(t["prompts_with_kept"], t["prompts"])
        t["mean_sample_tokens"] = _rate(totals.get(f"tasks/{task}/sample_tokens", 0), t["samples"])
        t["mean_kept_tokens"] = _rate(totals.get(f"tasks/{task}/kept_tokens", 0), t["kept"])
        tasks[task] = t
    kept = sum(t["kept"] for t in tasks.values())
    samples, seconds = sum(t["samples"] for t in tasks.values()), totals.get("seconds/sampling", 0)
    return {
        "prompts": sum(t["prompts"] for t in tasks.values()),
        "samples": samples,
        "sampling_seconds": round(seconds, 1),  # summed over shards: process-seconds
        "samples_per_second": round(samples / seconds, 2) if seconds else None,  # per sampling process
        "accepted": sum(t["accepted"] for t in tasks.values()),
        "kept": kept,
        "non_reasoning_rows": non_reasoning_rows,
        "rows": kept + non_reasoning_rows,
        "rejected": {k.split("/", 1)[1]: v for k, v in sorted(totals.items()) if k.startswith("rejected/")},
        "dropped": {k.split("/", 1)[1]: v for k, v in sorted(totals.items()) if k.startswith("dropped/")},
        "tasks": tasks,
        "files": out.files(),  # what a reader checks the folder against (`OutputDir.verify`)
    }


def non_reasoning_rows(source, count: int):
    for index, row in enumerate(stream_rows([source.dataset_source], count)):
        if "messages" in row:
            messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        else:
            messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["response"]}]
        yield {"messages": messages, "prompt_id": f"{source.path}:{index}", "task": source.task}


def finish(out: OutputDir, config: GenerateConfig, scan: dict, recipe: Recipe, started_at: str) -> dict:
    """Mix in the non-reasoning rows, then write the manifest and mark the stage complete."""
    out.remove_temporary_files()
    source, mixed = config.non_reasoning, 0
    if source is not None:
        kept = sum(v for k, v in out.totals().items() if k.endswith("/kept"))
        wanted = source.count if source.count is not None else round(source.ratio * kept)
        mixed = out.write_non_reasoning(non_reasoning_rows(source, wanted), config.prompts_per_file)
        if mixed < wanted:
            notice(f"non_reasoning '{source.path}' has {mixed} rows, fewer than the {wanted} asked for")
    summary = manifest(out, scan, mixed)
    write_json(out.path / MANIFEST, summary)
    record = {**provenance("generate", recipe, started_at), "manifest": summary}
    mark_complete(out.path, record, f"{summary['rows']} rows in data/,")
    print_summary(summary)
    if not summary["rows"]:
        notice("no rows kept: see the rejected counts above (a stronger model, more samples, looser filters)")
    return summary


def print_summary(summary: dict) -> None:
    header = (
        f"{'task':<12}{'prompts':>9}{'samples':>9}{'correct':>9}{'accepted':>9}{'kept':>8}{'yield':>7}{'tokens':>8}"
    )
    lines = [header, "-" * len(header)]
    for task, t in summary["tasks"].items():
        yield_ = f"{t['prompt_yield']:.0%}" if t["prompt_yield"] is not None else "-"
        tokens = f"{t['mean_kept_tokens']:.0f}" if t["mean_kept_tokens"] is not None else "-"
        lines.append(
            f"{task:<12}{t['prompts']:>9}{t['samples']:>9}{t['correct']:>9}{t['accepted']:>9}{t['kept']:>8}"
            f"{yield_:>7}{tokens:>8}"
        )
    rejected = ", ".join(f"{name} {n}" for name, n in summary["rejected"].items()) or "none"
    lines.append(f"rejected samples (a sample may fail several): {rejected}")
    lines.append(f"non-reasoning rows mixed in: {summary['non_reasoning_rows']}; rows written: {summary['rows']}")
    print("\n".join(lines), flush=True)


def output_plan(data_args, config, model_args) -> dict:
    """What shapes the output folder: a rerun, another shard and the merge must have the same (`check_config`)."""
    return {
        "model": model_args.model_name_or_path,
        "data": {k: v for k, v in vars(data_args).items() if k != "sources"},
        "generate": {k: v for k, v in vars(config).items() if k not in GENERATE_RUNTIME_FIELDS},
    }


def main(data_args, config, model_args, recipe: Recipe | None = None) -> dict | None:
    """The manifest when this run completes the set; None when other shards still have chunks to do."""
    recipe = recipe or Recipe()
    started_at = now_utc()
    shard, shards = this_shard(config)
    if config.start_over and shards > 1:
        raise RecipeError("start_over with several shards would let one delete another's work: run it alone first")
    out = OutputDir(config.output_dir)
    plan = output_plan(data_args, config, model_args)
    if not config.start_over:
        out.check_config(plan, record=False)
        if out.complete:
            notice(f"{out.path} is complete ({STAGE_FILE} exists); pass --start_over true to generate again")
            return None
    out.check_writable()
    scan = scan_prompts(data_args, config)
    plan["num_prompts"] = scan["num_prompts"]
    if not config.start_over:
        out.check_config(plan, record=False)
    num_chunks = math.ceil(scan["num_prompts"] / config.prompts_per_file)
    done = set() if config.start_over else out.done()
    todo = [c for c in range(num_chunks) if c % shards == shard and c not in done]
    if todo and not config.merge:
        start = time.perf_counter()
        generate_chunks(data_args, config, model_args, out, todo, scan["num_prompts"], plan)
        notice(f"shard {shard} of {shards}: {len(todo)} chunks in {time.perf_counter() - start:.0f} s")
    missing = sorted(set(range(num_chunks)) - out.done())
    if missing:
        message = f"{len(missing)} of {num_chunks} chunks not done yet (first: {missing[0]})"
        if config.merge:
            raise RecipeError(f"cannot merge: {message}; run the shards that own them")
        notice(f"{message}: other shards own them; run with --merge true once they are done")
        return None
    with out.finishing():
        if out.complete:
            notice(f"{out.path} was completed by another shard")
            return None
        return finish(out, config, scan, recipe, started_at)


def make_parser() -> RecipeParser:
    return RecipeParser((DataArguments, GenerateConfig, ModelArguments), prog="python -m r1recipes.generate")


if __name__ == "__main__":
    run_cli(main, make_parser)
