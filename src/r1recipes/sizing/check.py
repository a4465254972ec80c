"""`make check`: before a GPU hour is spent, whether each recipe of a folder fits, how long it takes, what it costs.

    python -m r1recipes.pipeline check --model Qwen2.5-7B [--gpus 8] [--nodes 1] [--gpu_memory_gb 79.6] \
        [--accelerate zero3] [--args "--key value"] [--gpu H100 | --peak_tflops N --memory_tbs N] \
        [--train_tokens_per_s N] [--generate_tokens_per_s N] [--price_per_gpu_hour 2.0] \
        [--mean_completion_tokens N] [--json]
    make check MODEL=Qwen2.5-7B [GPUS=8 NODES=1 GPU_MEMORY_GB=79.6 ARGS="..." CHECK_ARGS="--json"]

Every recipe of the folder is parsed by its runner as it would be when launched on those GPUs (every value and
cross-field check, the batch rescaled to the process count or refused), without the checks of this machine and of
inputs that do not exist yet. Then, for each: memory per GPU by item and phase (`estimate.py` says what each count
assumes), a verdict (fits, or not and the first single change that would make it fit), the work (steps, prompts,
completions, tokens), hours, GPU-hours and cost (upper bounds, every completion at its longest; for a recipe that
samples, also the expected figures at a mean completion length), and what this machine lacks for the run
(packages, CUDA, disk; online, the Hub ids). Models are read from their config.json: a local folder, a copy kept
in `model_configs/` for every model the recipes name, or the Hub. Exit status: 0 when every recipe fits, 1 when
one does not, 2 for bad input. `slurm/pipeline.sh` runs it before submitting anything.

The GPUs are laid out as the launchers lay them out: a training recipe runs `num_processes` (or GPUS) processes
on each of NODES nodes, except that a GRPO recipe with `vllm_mode: server` trains on all nodes but the last,
which serves generation (`slurm/train.slurm`: R1_VLLM_TP GPUs an engine, the model's whole context); a
generation recipe runs engines of `tensor_parallel_size` GPUs. A recipe that states no GPUs and no vLLM is a CPU
recipe (the demo's): it is checked against this machine's RAM, in fp32, with the processes of a cpu_* accelerate
config sharing it, and gets no time estimate.
"""

import dataclasses
import json
import math
import shlex
import shutil

from r1recipes import RecipeError
from r1recipes.config.recipes import (
    model_folder,
)
from r1recipes.sizing.estimate import (
    GENERATE_MFU,
    MEMORY_TBS,
    PEAK_TFLOPS,
    TRAIN_MFU,
    Throughput,
)
from r1recipes.sizing.recipe import ALL_PHASES, SAMPLING, Hardware, accelerate_config, free_disk_at
from r1recipes.sizing.verdict import RecipeCheck, available, check_folder


def _count(value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    for unit, name in ((1e9, "B"), (1e6, "M")):
        if value >= unit:
            return f"{value / unit:,.1f}{name}"
    return f"{value:,}"


def _usd(value: float) -> str:
    """Dollars to the cent below $10 (a one-card run's evaluation), whole above."""
    return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"


def _gpu_hours(value: float) -> str:
    return f"{value:,.1f}" if value < 10 else f"{value:,.0f}"


def format_check(result: RecipeCheck) -> str:
    """One recipe's check as the terminal shows it: the memory table, the verdict, the work, the time, what lacks."""
    sized, plan, w, t = result.sized, result.plan, result.work, result.time
    lines = [f"{sized.recipe.path} ({sized.runner}): {sized.model}, {_count(sized.shape.params)} parameters, "
             f"{result.device}"]  # fmt: skip
    phases = [p for p in ALL_PHASES if p in plan.phases]
    lines.append(f"  {'memory per device, GiB':<46}" + "".join(f"{p:>10}" for p in phases))
    for item in plan.items:
        cells = "".join(f"{item.gib:>10.2f}" if p in item.phases else " " * 10 for p in phases)
        lines.append((f"    {item.name:<44}{cells}" + (f"   {item.note}" if item.note else "")).rstrip())
    lines.append(f"    {'total':<44}" + "".join(f"{plan.total(p):>10.2f}" for p in phases))
    for key, where in (("vllm", "vLLM's KV cache"), ("vllm_server", "the vLLM server's KV cache, an engine")):
        facts = plan.facts.get(key)
        if facts:
            line = f"    {where}: {facts['kv_cache_gib']:.1f} GiB, {facts['concurrent']:,} full-length "
            line += "sequences at once"
            if "per_rollout" in facts:
                line += (f", of the {facts['per_rollout']:,} each GPU generates per rollout (all at once: "
                         f"{facts['gib_for_all']:,} GiB)")  # fmt: skip
            lines.append(line)
    if not sized.on_gpu:
        slack = f" +{plan.slack:.0%} margin" + (f", x {sized.gpus} processes" if sized.gpus > 1 else "")
    elif any(i.allocator for i in plan.items if plan.peak_phase in i.phases):
        slack = f" +{plan.slack:.0%} margin for the allocator and the CUDA context"
    else:
        slack = " vLLM's fixed share"
    need = (f"needs {result.needed:.1f} of {available(sized):.1f} GiB (the {plan.peak_phase} phase's "
            f"{plan.peak:.1f},{slack}); largest item: {plan.largest().name}")  # fmt: skip
    if result.fits:
        lines.append(f"  FITS: {need}")
    else:
        lines.append(f"  DOES NOT FIT: {'; '.join(plan.problems) or need}")
        lines.append(f"    would fit with: {result.suggestion}")
    if sized.runner == "grpo":
        lines.append(f"  work: {_count(w['optimizer_steps'])} steps x {w['completions_per_step']} completions "
                     f"({w['prompts_per_step']} prompts), {_count(w['epochs'])} epochs; {_count(w['rollouts'])} "
                     f"rollouts of {w['completions_per_rollout']}; tokens <= {_count(w['generated_tokens'])} "
                     f"generated, {_count(w['trained_tokens'])} trained")  # fmt: skip
    elif sized.runner == "sft":
        lines.append(f"  work: {_count(w['rows'])} rows, {_count(w['epochs'])} epochs, "
                     f"{_count(w['optimizer_steps'])} steps x {w['sequences_per_step']} sequences of <= "
                     f"{w['tokens_per_sequence']} tokens; tokens <= {_count(w['trained_tokens'])}")  # fmt: skip
    elif sized.runner == "evaluate":
        each = ", ".join(f"{name} {_count(b['problems'])} x {b['samples']}" for name, b in w["benchmarks"].items())
        lines.append(f"  work: {each} = {_count(w['completions'])} completions, tokens <= "
                     f"{_count(w['generated_tokens'])}; one model of the {w['models']} evaluated, "
                     f"sized for the largest")  # fmt: skip
    else:
        lines.append(f"  work: {_count(w['prompts'])} prompts, {_count(w['completions'])} completions, "
                     f"tokens <= {_count(w['generated_tokens'])}")  # fmt: skip
        lines.append(keepable_line(w.get("keepable")))
    if not sized.on_gpu:
        lines.append("  time: not estimated for a CPU recipe (the throughputs are GPU figures)")
    elif t["hours"] is None:
        lines.append("  time: unknown, the number of rows is (set max_steps or max_samples)")
    else:
        price = sized.hardware.throughput.price_per_gpu_hour
        gpus = f"{t['gpus']} GPU" + ("s" if t["gpus"] > 1 else "")
        rates = ", ".join(f"{t[key]:,} tokens/s a GPU {what}" for key, what in
                          (("generate_tokens_per_s_per_gpu", "generating"), ("train_tokens_per_s_per_gpu", "training"))
                          if t[key])  # fmt: skip
        lines.append(f"  time: <= {t['hours']:,.1f} h on {gpus} ({t['generation_hours']:,.1f} h generating, "
                     f"{t['training_hours']:,.1f} h training; {rates}) = {_gpu_hours(t['gpu_hours'])} GPU-h, "
                     f"~${_usd(t['cost_usd'])} at ${price:g}/GPU-h")  # fmt: skip
        if sized.runner in SAMPLING:
            lines.append(expected_line(sized.runner, t, gpus, price))
    if t.get("gpu_hours_all") is not None:
        every = f"  all {w['models']} evaluations: {_gpu_hours(t['gpu_hours_all'])} GPU-h, ~${_usd(t['cost_usd_all'])}"
        if t.get("expected_gpu_hours_all") is not None:
            every += (
                f"; expected {_gpu_hours(t['expected_gpu_hours_all'])} GPU-h, ~${_usd(t['expected_cost_usd_all'])}"
            )
        lines.append(every)
    if t.get("judge_hours") is not None:  # stage 3's CPU side, at the rate the benchmark measured
        verifiers = sized.settings.int("verify_processes")
        if not verifiers:
            fate = "verify_processes 0: judged between chunks, adding to the sampling time"
        elif t["judge_hidden"] is None:
            fate = "the sampling time is not estimated"
        elif t["judge_hidden"]:
            fate = f"hidden behind the {t['generation_hours']:,.1f} h of sampling (judged while the model samples)"
        else:
            fate = f"NOT hidden: longer than the {t['generation_hours']:,.1f} h of sampling; raise verify_processes"
        lines.append(f"  judging (CPU): {t['judge_hours']:,.2f} h = {_count(w['completions'])} completions / "
                     f"({t['judge_processes']} processes x {t['judge_samples_per_s']:,} a second, measured on "
                     f"maths samples); {fate}")  # fmt: skip
    lines.append(f"  disk: ~{result.disk_bytes / 1e9:,.0f} GB in {sized.recipe.output_dir}")
    lines += [f"  missing here: {item}" for item in result.missing]
    return "\n".join(lines)


def expected_line(runner: str, t: dict, gpus: str, price: float) -> str:
    """The expected time and cost at the mean completion length, or how to get them."""
    if t.get("expected_hours") is None:
        return ("  expected: give a typical completion length (mean_completion_tokens in the recipe, or "
                "--mean_completion_tokens N) for an expected figure")  # fmt: skip
    line = (f"  expected: ~{t['expected_hours']:,.1f} h on {gpus} = {_gpu_hours(t['expected_gpu_hours'])} GPU-h, "
            f"~${_usd(t['expected_cost_usd'])} at ${price:g}/GPU-h, completions of {t['mean_completion_tokens']:,} "
            f"tokens on average ({t['mean_source']})")  # fmt: skip
    if runner == "grpo":  # the padding: a micro-batch trains at its longest completion's length
        line += "; training lies between this and the bound, as TRL pads a micro-batch to its longest completion"
    return line


def keepable_line(keepable: dict | None) -> str:
    """A generation recipe's most keepable rows, with the arithmetic: prompts x m by task, plus the general rows."""
    if keepable is None:
        return "  rows kept: unknown (a source's rows are not counted: set its max_rows)"
    parts = [
        f"{task} {t['rows']:,} = {t['prompts']:,} x {t['keep_per_prompt']}" for task, t in keepable["tasks"].items()
    ]
    return (f"  rows kept: <= {keepable['total']:,} = {keepable['reasoning']:,} verified ({'; '.join(parts)}) + "
            f"{keepable['general']:,} general")  # fmt: skip


def assumptions(throughput: Throughput) -> str:
    given = [key for key in ("train_tokens_per_s", "generate_tokens_per_s") if getattr(throughput, key) is not None]
    assumed = (
        f"training at {TRAIN_MFU:.0%} of {throughput.peak_tflops:g} bf16 TFLOP/s per GPU, generation at "
        f"{GENERATE_MFU:.0%} of it or, with few sequences at once, bound by {throughput.memory_tbs:g} TB/s"
    )
    return (f"throughputs: {'given ' + ', '.join(given) + '; otherwise ' if given else ''}{assumed}; every "
            "completion at its maximum length (upper bounds); expected: every completion at the mean length given, "
            "a GRPO sequence its prompt and that (TRL pads a micro-batch to its longest completion, so training "
            "lies between the two), decoding at the rate of full-length ones (shorter are no slower)")  # fmt: skip


def folder_disk_line(results: list[RecipeCheck]) -> str | None:
    """The whole folder's writes against the free space where its outputs go (one file system assumed)."""
    total = sum(r.disk_bytes for r in results)
    if not results or not total:
        return None
    where = free_disk_at(str(results[0].sized.recipe.output_dir))
    free = shutil.disk_usage(where).free
    verdict = "enough" if total <= free else "NOT enough"
    return f"disk for every recipe: ~{total / 1e9:,.0f} GB; {free / 1e9:,.0f} GB free at {where}: {verdict}"


def main(args) -> int:
    """The `check` command: every recipe's check, as tables or --json; the exit status says whether all fit."""
    whole = {"GPUS": args.gpus, "--nodes": args.nodes, "--shards": args.shards,
             "--mean_completion_tokens": args.mean_completion_tokens}  # fmt: skip
    for name, value in whole.items():
        if value is not None and value < 1:
            raise RecipeError(f"{name} must be a whole number >= 1, got {value}")
    numbers = {"GPU_MEMORY_GB": args.gpu_memory_gb, "--peak_tflops": args.peak_tflops,
               "--memory_tbs": args.memory_tbs, "--train_tokens_per_s": args.train_tokens_per_s,
               "--generate_tokens_per_s": args.generate_tokens_per_s}  # fmt: skip
    for name, value in numbers.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise RecipeError(f"{name} must be a number > 0, got {value}")
    if not (math.isfinite(args.price_per_gpu_hour) and args.price_per_gpu_hour >= 0):
        raise RecipeError(f"--price_per_gpu_hour must be a number >= 0, got {args.price_per_gpu_hour}")
    if args.gpu not in PEAK_TFLOPS and not (args.peak_tflops and args.memory_tbs):
        known = ", ".join(PEAK_TFLOPS)
        raise RecipeError(f"unknown --gpu '{args.gpu}' (known: {known}); or give --peak_tflops and --memory_tbs")
    if args.accelerate:
        accelerate_config(args.accelerate)  # an unknown name is bad input, whatever the recipes
    throughput = Throughput(
        args.train_tokens_per_s, args.generate_tokens_per_s, args.peak_tflops or PEAK_TFLOPS[args.gpu],
        args.memory_tbs or MEMORY_TBS[args.gpu], args.price_per_gpu_hour,
    )  # fmt: skip
    hardware = Hardware(args.gpus, args.gpu_memory_gb, args.accelerate or None, throughput, args.nodes, args.shards,
                        args.mean_completion_tokens)  # fmt: skip
    results = check_folder(model_folder(args.model), hardware, shlex.split(args.args))
    if args.json:
        report = {"recipes": [r.as_json() for r in results], "throughput": dataclasses.asdict(throughput)}
        print(json.dumps(report, indent=1))
    else:
        print("\n\n".join(format_check(r) for r in results) + f"\n\n{assumptions(throughput)}")
        disk = folder_disk_line(results)
        if disk:
            print(disk)
        bad = [str(r.sized.recipe.path) for r in results if not r.fits]
        print(f"{len(results) - len(bad)} of {len(results)} recipes fit" + (f"; not: {', '.join(bad)}" if bad else ""))
    return 0 if all(r.fits for r in results) else 1
