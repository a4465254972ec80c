"""Measured peak GPU memory of a few TRL training steps, to check `make check`'s estimates (estimate.py) against.

    python -m r1recipes.bench_memory --output memory.json [--only NAME ...] [--steps 3]
    python -m r1recipes.bench_memory --output smoke.json --cpu_smoke  # same code paths, tiny model, on the CPU
    python -m r1recipes.bench_memory --output memory.json --compare   # measured against `make check`'s estimates

Cases run one after another in this one process (SFT: Qwen2.5-0.5B/1.5B x max_length 1024/4096 and Llama-3.2-1B at
4096 x activation checkpointing on/off, 2 sequences a step; one sequence of 16k or 32k tokens, with gradients held
through accumulation; GRPO: 4 completions forced to exactly C tokens, beta 0 and 0.04). Models are random
(`from_config` of model_configs/, bf16, sdpa), the trainers keep their default optimizer (fused AdamW), and the
tokenizer is built in code, so nothing is downloaded. On a GPU, the run ends with the comparison. Each case records,
relative to the memory allocated before it: the weights, the memory after trainer init, the resident states after
the first optimizer step, the peak allocated (overall and per step); plus the peak reserved (absolute), seconds per
step (after the first), tokens per second and, for GRPO, the measured completion lengths. The JSON is rewritten
after every case, so a killed run keeps what finished; a failing case (OOM, say) keeps its error and the run goes on.
Measured on an H200 on 2026-12-04: tests/data/memory_h200.json (docs/check.md).
"""

import argparse
import gc
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

from r1recipes.sizing.estimate import MODEL_CONFIGS, ModelShape, Training, training_memory, transformers_generation

MODELS = {"0.5b": "Qwen--Qwen2.5-0.5B", "1.5b": "Qwen--Qwen2.5-1.5B", "llama1b": "meta-llama--Llama-3.2-1B"}
TINY = {  # --cpu_smoke only
    "model_type": "qwen2",
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 512,
    "tie_word_embeddings": True,
}


def model_config(name: str) -> dict:
    kept = json.loads((MODEL_CONFIGS / f"{MODELS[name]}.json").read_text())
    return {key: value for key, value in kept.items() if not key.startswith("_")}


ATTN_IMPLEMENTATION = "sdpa"  # flash-attn is not installed on the benchmark machine
TOKENIZER_VOCAB = 512  # smaller than the models' vocab: only the data ids must fit in it
PROMPT_TOKENS = 64
SFT_BATCH = 2
GRPO_BATCH = 4  # per_device_train_batch_size = num_generations: one prompt, 4 completions per step


def sft_cases(steps: int, cpu_smoke: bool) -> list[dict]:
    if cpu_smoke:
        matrix = [("tiny", TINY, length) for length in (64, 128)]
    else:  # two Qwen2 sizes at two lengths, and a Llama (another vocabulary and head layout) at the longer one
        matrix = [(size, model_config(size), length) for size in ("0.5b", "1.5b") for length in (1024, 4096)]
        matrix.append(("llama1b", model_config("llama1b"), 4096))
    cases = [
        {
            "name": f"sft-{size}-s{length}-{'ckpt' if ckpt else 'nockpt'}",
            "kind": "sft",
            "model": size,
            "config": config,
            "seq_len": length,
            "gradient_checkpointing": ckpt,
            "batch_size": SFT_BATCH,
            "accumulation": 1,
            "max_steps": steps,
        }
        for size, config, length in matrix
        for ckpt in (True, False)
    ]
    if not cpu_smoke:  # one sequence of the recipes' lengths (16k, 32k), gradients held through accumulation
        for size, length, ckpt, accumulation in (("1.5b", 16384, True, 2), ("1.5b", 32768, True, 1),
                                                 ("llama1b", 16384, False, 2)):  # fmt: skip
            cases.append({
                "name": f"sft-{size}-s{length}-{'ckpt' if ckpt else 'nockpt'}-b1-acc{accumulation}", "kind": "sft",
                "model": size, "config": model_config(size), "seq_len": length, "gradient_checkpointing": ckpt,
                "batch_size": 1, "accumulation": accumulation, "max_steps": 2,
            })  # fmt: skip
        # DeepSpeed's fp32 master weights, moments and buffers, as the GPU recipes launch it (here one process)
        for size, stage in (("1.5b", 2), ("1.5b", 3), ("llama1b", 2), ("0.5b", 3)):
            base = next(case for case in cases if case["name"] == f"sft-{size}-s4096-ckpt")
            cases.append({**base, "name": f"sft-{size}-s4096-ckpt-zero{stage}", "zero_stage": stage})
    return cases


def grpo_cases(cpu_smoke: bool) -> list[dict]:
    # HF generate runs a random 0.5B model at ~50-70 tokens/s per sequence: 1.5B cases get one step to stay in budget
    if cpu_smoke:
        matrix = [("tiny", 16, 0.0, 2), ("tiny", 16, 0.04, 2)]
    else:
        matrix = [("0.5b", 256, 0.0, 2), ("0.5b", 1024, 0.0, 2), ("1.5b", 1024, 0.0, 1), ("1.5b", 1024, 0.04, 1)]
    return [
        {
            "name": f"grpo-{size}-c{completion}-b{beta:g}",
            "kind": "grpo",
            "model": size,
            "config": TINY if cpu_smoke else model_config(size),
            "completion_len": completion,
            "prompt_len": PROMPT_TOKENS,
            "beta": beta,
            "gradient_checkpointing": True,
            "max_steps": steps,
        }
        for size, completion, beta, steps in matrix
    ]


def build_tokenizer():
    """A word-level tokenizer over "w0".."wN" with <pad>/<eos>/<unk>: one token per space-separated word."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<unk>"]
    words = [f"w{i}" for i in range(TOKENIZER_VOCAB - len(specials))]
    vocab = {token: i for i, token in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.chat_template = "{% for message in messages %}{{ message['content'] }} {% endfor %}"
    return tokenizer


def build_model(config_dict: dict, device: str):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = dict(config_dict)
    config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    # Built on the device itself: random init of 1.5B parameters on the CPU would take longer than the steps
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation=ATTN_IMPLEMENTATION)
    return model.to(device)  # a no-op, unless some buffer ignored the default device


class Memory:
    """CUDA allocator counters; on the CPU they read 0 (run_case records the process's peak RSS instead)."""

    def __init__(self, cuda: bool):
        import torch

        self.torch = torch
        self.cuda = cuda

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def allocated(self) -> int:
        return self.torch.cuda.memory_allocated() if self.cuda else 0

    def peak_allocated(self) -> int:
        return self.torch.cuda.max_memory_allocated() if self.cuda else 0

    def peak_reserved(self) -> int:
        return self.torch.cuda.max_memory_reserved() if self.cuda else 0


def probe_callback(memory: Memory, baseline: int, record: dict):
    from transformers import TrainerCallback

    class Probe(TrainerCallback):
        """Times each optimizer step and keeps its peak; the peak counters restart at each step's start."""

        def on_train_begin(self, args, state, control, **kwargs):
            memory.sync()
            record["setup_peak_allocated_bytes"] = memory.peak_allocated() - baseline
            record["setup_peak_reserved_bytes"] = memory.peak_reserved()

        def on_step_begin(self, args, state, control, **kwargs):
            memory.sync()
            memory.reset_peak()
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            memory.sync()
            record["step_times_s"].append(time.perf_counter() - self.start)
            record["step_peak_allocated_bytes"].append(memory.peak_allocated() - baseline)
            record["step_peak_reserved_bytes"].append(memory.peak_reserved())
            if state.global_step == 1:
                # weights + optimizer states (+ ref model, leaked buffers): what stays between steps
                record["after_first_step_bytes"] = memory.allocated() - baseline

    return Probe()


def quiet_run(cpu: bool) -> dict:
    """Trainer settings both trainers share: no reports, no checkpoints, a log line per step."""
    return {"report_to": "none", "save_strategy": "no", "logging_steps": 1, "dataloader_num_workers": 0,
            "disable_tqdm": True, "use_cpu": cpu, "seed": 0}  # fmt: skip


def train_sft(case: dict, model, tokenizer, output_dir: str, cpu: bool, probe):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rng = random.Random(0)
    rows = case["batch_size"] * case["accumulation"] * case["max_steps"]
    # Pre-tokenized rows (an `input_ids` column) skip tokenization; all exactly seq_len long, so no padding
    ids = [[rng.randrange(3, TOKENIZER_VOCAB) for _ in range(case["seq_len"])] for _ in range(rows)]
    deepspeed = None
    if case.get("zero_stage"):
        # one process of a DeepSpeed run: the Trainer's engine wants a process group, here of one
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="29517")
        deepspeed = {
            "zero_optimization": {"stage": case["zero_stage"]}, "bf16": {"enabled": True},
            "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
            "train_batch_size": "auto", "gradient_clipping": "auto",
        }  # fmt: skip
    args = SFTConfig(
        output_dir=output_dir,
        bf16=True,
        deepspeed=deepspeed,
        per_device_train_batch_size=case["batch_size"],
        gradient_accumulation_steps=case["accumulation"],
        max_length=case["seq_len"],
        gradient_checkpointing=case["gradient_checkpointing"],
        max_steps=case["max_steps"],
        learning_rate=1e-5,
        packing=False,
        padding_free=False,
        **quiet_run(cpu),
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"input_ids": ids}),
        processing_class=tokenizer,
        callbacks=[probe],
    )
    return trainer, case["batch_size"] * case["accumulation"] * case["seq_len"]


def train_grpo(case: dict, model, tokenizer, output_dir: str, cpu: bool, probe, record: dict):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    rng = random.Random(0)
    prompts = [" ".join(f"w{rng.randrange(TOKENIZER_VOCAB - 3)}" for _ in range(PROMPT_TOKENS)) for _ in range(16)]
    record["completion_lengths"] = []
    record["prompt_len_measured"] = len(tokenizer(prompts[0])["input_ids"])
    scores = random.Random(1)

    def random_reward(completions, completion_ids, **kwargs):
        # Random scores keep the advantages non-zero, so the loss and its backward pass are real
        record["completion_lengths"].extend(len(ids) for ids in completion_ids)
        return [scores.random() for _ in completions]

    if case["beta"] > 0:
        # GRPOTrainer loads its reference model from the policy's `_name_or_path`: save the random policy there
        model.save_pretrained(output_dir)
        model.config._name_or_path = output_dir
    args = GRPOConfig(
        output_dir=output_dir,
        bf16=True,
        use_vllm=False,
        num_generations=GRPO_BATCH,
        per_device_train_batch_size=GRPO_BATCH,
        gradient_accumulation_steps=1,
        max_completion_length=case["completion_len"],
        # min_new_tokens = max_new_tokens suppresses EOS: every completion is exactly completion_len tokens
        generation_kwargs={"min_new_tokens": case["completion_len"]},
        gradient_checkpointing=True,
        beta=case["beta"],
        max_steps=case["max_steps"],
        **quiet_run(cpu),
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=random_reward,
        args=args,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
        callbacks=[probe],
    )
    return trainer, GRPO_BATCH * (PROMPT_TOKENS + case["completion_len"])


def train(case: dict, record: dict, memory: Memory, baseline: int, cpu: bool) -> None:
    """Build, train and measure one case; the model and trainer die with this frame."""
    import datasets

    datasets.disable_progress_bars()  # one bar per map() call would drown the log
    tokenizer = build_tokenizer()
    model = build_model(case["config"], "cpu" if cpu else "cuda")
    memory.sync()
    record["weights_bytes"] = memory.allocated() - baseline
    record["num_parameters"] = sum(p.numel() for p in model.parameters())
    probe = probe_callback(memory, baseline, record)
    with tempfile.TemporaryDirectory(prefix=f"bench_memory_{case['name']}_") as output_dir:
        if case["kind"] == "sft":
            trainer, tokens_per_step = train_sft(case, model, tokenizer, output_dir, cpu, probe)
        else:
            trainer, tokens_per_step = train_grpo(case, model, tokenizer, output_dir, cpu, probe, record)
        record["optim"] = str(trainer.args.optim.value)  # the trainers' default, as in the recipes
        memory.sync()
        record["after_trainer_init_bytes"] = memory.allocated() - baseline  # + the reference model when beta > 0
        started = time.perf_counter()
        trainer.train()
        record["train_s"] = time.perf_counter() - started
        # Trainer's own logs: loss, grad_norm, and for GRPO reward_std (non-zero advantages) and kl (beta > 0)
        record["logs"] = [
            {key: value for key, value in log.items() if isinstance(value, int | float)}
            for log in trainer.state.log_history
        ]
        trainer.accelerator.free_memory()  # drops the accelerator's references to the model and optimizer
    times = record["step_times_s"]
    # The first step also allocates the optimizer states (and warms kernels up): time the steps after it
    timed = times[1:] or times
    record["timed_steps"] = "after_first" if len(times) > 1 else "first_only"
    record["step_time_s"] = sum(timed) / len(timed) if timed else None
    if case["kind"] == "grpo":
        lengths = record["completion_lengths"]
        record["completion_length"] = sum(lengths) / len(lengths) if lengths else None
        tokens_per_step = sum(PROMPT_TOKENS + n for n in lengths) / max(1, len(times))
    record["tokens_per_step"] = tokens_per_step
    record["tokens_per_s"] = tokens_per_step / record["step_time_s"] if record["step_time_s"] else None


def run_case(case: dict, memory: Memory, cpu: bool) -> dict:
    record = {
        **case,
        "dtype": "bfloat16",
        "attn_implementation": ATTN_IMPLEMENTATION,
        "batch_size": case.get("batch_size", GRPO_BATCH),
        "step_times_s": [],
        "step_peak_allocated_bytes": [],
        "step_peak_reserved_bytes": [],
        "error": None,
    }
    memory.free()
    memory.reset_peak()
    baseline = memory.allocated()
    record["baseline_bytes"] = baseline
    started = time.perf_counter()
    try:
        train(case, record, memory, baseline, cpu)
    except Exception as exc:  # an OOM or a broken case is a result too
        lines = str(exc).strip().splitlines()
        record["error"] = f"{type(exc).__name__}: {lines[0] if lines else ''}"
        record["traceback"] = traceback.format_exc().splitlines()[-12:]
        traceback.print_exc()
    # The counters restart at each step: the case's peak is the largest of setup's, the steps' and (after a
    # failure) the failing step's, still in the counters (host-side stats: no sync, which a CUDA error would break)
    record["peak_allocated_bytes"] = max(
        [record.get("setup_peak_allocated_bytes", 0), *record["step_peak_allocated_bytes"]]
        + ([memory.peak_allocated() - baseline] if record["error"] else [])
    )
    record["peak_reserved_bytes"] = max(
        [record.get("setup_peak_reserved_bytes", 0), *record["step_peak_reserved_bytes"]]
        + ([memory.peak_reserved()] if record["error"] else [])
    )
    # Outside the except block: the traceback's frames (holding the model) are gone, so the memory can be freed
    record["wall_s"] = time.perf_counter() - started
    record["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # process-wide, Linux KiB
    try:
        memory.free()
        record["allocated_after_cleanup_bytes"] = memory.allocated()
    except Exception as exc:  # a CUDA error poisons the context: keep this record, the next cases will fail too
        record["cleanup_error"] = f"{type(exc).__name__}: {exc}"
    return record


def environment(cuda: bool) -> dict:
    import accelerate
    import datasets
    import torch
    import transformers
    import trl

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "datasets": datasets.__version__,
        "accelerate": accelerate.__version__,
        "device": "cuda" if cuda else "cpu",
    }
    if cuda:
        properties = torch.cuda.get_device_properties(0)
        env.update(gpu=properties.name, gpu_total_memory_bytes=properties.total_memory)
    return env


def estimate(record: dict):
    """`make check`'s estimate (r1recipes.sizing.estimate) of a case, as one process on one GPU."""
    shape = ModelShape.from_config(record["config"], record["name"])
    grpo = record["kind"] == "grpo"
    sequence = record["prompt_len"] + record["completion_len"] if grpo else record["seq_len"]
    sharding = f"zero{record['zero_stage']}" if record.get("zero_stage") else "none"
    run = Training(
        processes=1, sharding=sharding, dtype_bytes=2, mixed_precision=True, micro_batch=record["batch_size"],
        sequence=sequence, scored=record["completion_len"] if grpo else sequence,
        checkpointing=record["gradient_checkpointing"], optimizer=record.get("optim") or "adamw_torch_fused",
        accumulation=record.get("accumulation", 1),
        reference_model=grpo and record["beta"] > 0, generates=grpo,
    )  # fmt: skip
    plan = training_memory(shape, run)
    if grpo:
        transformers_generation(shape, record["batch_size"], sequence, 2, plan)  # one GPU: nothing gathered
    return plan


def compare(results: dict) -> list[dict]:
    """Measured against estimated, per case: the weights, what stays between steps (the items held in every phase:
    weights, optimizer states, a reference model, DeepSpeed's buffers) and the peak allocated, in GiB, with the
    estimate's error."""
    rows = []
    for record in results["cases"]:
        if record.get("error") or not record.get("peak_allocated_bytes"):
            continue
        plan = estimate(record)
        # held in every phase; gradients are freed after each step (ZeRO-3's flat partition, named apart, is kept)
        resident = [i.gib for i in plan.items if set(plan.phases) <= set(i.phases) and i.name != "gradients"]
        pairs = {
            "weights": (record["weights_bytes"], sum(i.gib for i in plan.items if i.name == "policy weights")),
            "between_steps": (record["after_first_step_bytes"], sum(resident)),
            "peak": (record["peak_allocated_bytes"], plan.peak),
        }
        row = {"case": record["name"], "peak_phase": plan.peak_phase}
        for key, (measured, estimated) in pairs.items():
            row[f"{key}_measured_gib"] = round(measured / 2**30, 3)
            row[f"{key}_estimated_gib"] = round(estimated, 3)
            row[f"{key}_error"] = round(estimated * 2**30 / measured - 1, 4) if measured else None
        rows.append(row)
    return rows


def print_comparison(rows: list[dict]) -> None:
    print(f"{'case':<26}{'weights':>18}{'between steps':>22}{'peak':>24}  (GiB measured / estimated, error)")
    for row in rows:
        cells = "".join(
            f"{row[f'{k}_measured_gib']:>9.2f} /{row[f'{k}_estimated_gib']:>6.2f} {row[f'{k}_error']:>+5.0%}"
            for k in ("weights", "between_steps", "peak")
        )
        print(f"{row['case']:<26}{cells}  [{row['peak_phase']}]")


def write(path: Path, results: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(partial, path)  # never a half-written file, even if the run is killed mid-write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="JSON file, rewritten after every case")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these cases (default: all)")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per SFT case (GRPO: 1 or 2, fixed)")
    parser.add_argument("--cpu_smoke", action="store_true", help="tiny model on the CPU, to test the code paths")
    parser.add_argument("--compare", action="store_true", help="only print --output's cases against the estimates")
    args = parser.parse_args(argv)
    if args.compare:
        print_comparison(compare(json.loads(args.output.read_text())))
        return 0

    cases = sft_cases(args.steps, args.cpu_smoke) + grpo_cases(args.cpu_smoke)
    names = [case["name"] for case in cases]
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from: {', '.join(names)}")
    if args.only:
        cases = [case for case in cases if case["name"] in args.only]

    import torch

    cuda = not args.cpu_smoke
    if cuda and not torch.cuda.is_available():
        parser.error("no CUDA device: pass --cpu_smoke to run the tiny matrix on the CPU")
    memory = Memory(cuda)
    # On the CPU the byte counters stay 0 and only peak_rss_bytes (process-wide) means anything
    results = {"environment": environment(cuda), "cpu_smoke": args.cpu_smoke, "sft_steps": args.steps, "cases": []}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write(args.output, results)
    for case in cases:
        print(f"bench_memory: {case['name']}", file=sys.stderr, flush=True)
        record = run_case(case, memory, cpu=not cuda)
        results["cases"].append(record)
        write(args.output, results)
        gib = 2**30
        print(
            f"bench_memory: {case['name']}: peak {record.get('peak_allocated_bytes', 0) / gib:.2f} GiB, "
            f"weights {record.get('weights_bytes', 0) / gib:.2f} GiB, step {record.get('step_time_s') or 0:.2f} s, "
            f"wall {record['wall_s']:.1f} s, error {record['error']}",
            file=sys.stderr,
            flush=True,
        )
    if cuda:
        results["comparison"] = compare(results)
        write(args.output, results)
        print_comparison(results["comparison"])
    return 0
