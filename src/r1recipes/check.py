"""`make check`: before a GPU hour is spent, whether each recipe of a folder fits, how long it takes, what it costs.

    python -m r1recipes.pipeline check --model Qwen2.5-7B [--gpus 8] [--nodes 1] [--gpu_memory_gb 80] \
        [--accelerate zero3] [--args "--key value"] [--gpu H100 | --peak_tflops N] [--train_tokens_per_s N] \
        [--generate_tokens_per_s N] [--price_per_gpu_hour 2.0] [--json]   # make check MODEL=Qwen2.5-7B GPUS=8

For every recipe of the folder: memory per GPU by item and phase (`estimate.py` says what each count assumes),
a verdict (fits, or not and the first single change that would make it fit), the work (steps, prompts,
completions, tokens), hours, GPU-hours and cost, and what this machine lacks for the run (packages, CUDA, disk;
online, the Hub ids). Models are read from their config.json: a local folder, a copy kept in `model_configs/` for
every model the recipes name, or the Hub. Exit status: 0 when every recipe fits, 1 when one does not, 2 for bad
input. `slurm/pipeline.sh` runs it before submitting anything.

A recipe that states no GPUs (`num_processes`) and no vLLM is a CPU recipe (the demo's): it is checked against
this machine's RAM, in fp32, and gets no time estimate.
"""

import dataclasses
import importlib
import importlib.util
import json
import math
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from r1recipes import RecipeError
from r1recipes.estimate import (
    ALLOCATOR_SLACK,
    GENERATE_MFU,
    GIB,
    PEAK_TFLOPS,
    TRAIN_MFU,
    MemoryPlan,
    ModelShape,
    Throughput,
    Training,
    Vllm,
    training_memory,
    transformers_generation,
    vllm_memory,
)
from r1recipes.paths import LOCAL_FORMATS, check_hub_id, hub_offline, looks_local
from r1recipes.recipes import (
    ACCELERATE_CONFIGS,
    RECIPES,
    RecipeFile,
    model_folder,
    pipeline_recipes,
    producers,
    stage_files,
)

MODEL_CONFIGS = Path(__file__).parent / "model_configs"  # <org>--<name>.json for each model the recipes name
# Models the package builds (recipes.BUILT_INPUTS): the config each is built from, and whether it has a reward head
BUILT_MODELS = {
    "runs/models/tiny": ("r1recipes/tiny", False),
    "runs/models/tiny-student": ("r1recipes/tiny", False),
    "runs/models/tiny-reward": ("r1recipes/tiny", True),
    "runs/models/SmolLM2-135M-Instruct": ("HuggingFaceTB/SmolLM2-135M-Instruct", False),
    "runs/models/SmolLM2-135M-reward": ("HuggingFaceTB/SmolLM2-135M-Instruct", True),
}
# Train rows of the Hub datasets the recipes read, to count epochs and stage 3's prompts (the cards' dataset_info;
# OpenR1-Math-220k's `default` is the source of Mixture-of-Thoughts' `math`, 93,733 rows, 93.7k on the viewer)
DATASET_ROWS = {
    ("open-r1/OpenR1-Math-220k", "default"): 93_733,
    ("open-r1/Mixture-of-Thoughts", "math"): 93_733,
    ("open-r1/Mixture-of-Thoughts", "all"): 349_317,
}
DEFAULT_PROMPT_TOKENS = 512  # a prompt's length when no vLLM context bounds it: our assumption
BYTES_PER_TOKEN_ON_DISK = 1.5  # stage 3's Parquet rows: ~4 characters a token, compressed ~2.7x: our assumption
RUNNERS = {"sft": "r1recipes.sft", "grpo": "r1recipes.grpo", "generate": "r1recipes.generate"}
ALL_PHASES = ("generate", "update", "step")


def read_model_config(model: str) -> dict:
    """config.json of a local folder, of a model the package builds, of a kept copy, or from the Hub."""
    folder = Path(os.path.expanduser(model))
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text())
    if model in BUILT_MODELS:
        base, reward = BUILT_MODELS[model]
        config = read_model_config(base)
        return {**config, "architectures": ["LlamaForSequenceClassification"], "num_labels": 1} if reward else config
    kept = MODEL_CONFIGS / (model.replace("/", "--") + ".json")
    if kept.is_file():
        return json.loads(kept.read_text())
    if looks_local(model, (".gguf", *LOCAL_FORMATS)):
        raise RecipeError(f"no config.json for {model}: give a model folder or a Hub id")
    if hub_offline():
        raise RecipeError(
            f"no config for '{model}' here (no copy in model_configs/) and HF_HUB_OFFLINE=1 forbids the Hub"
        )
    try:
        from huggingface_hub import hf_hub_download

        return json.loads(Path(hf_hub_download(model, "config.json")).read_text())
    except Exception as exc:  # not found, gated, no network: one line either way
        raise RecipeError(f"could not read config.json of '{model}' from the Hub ({exc.__class__.__name__})") from None


def model_shape(model: str) -> ModelShape:
    try:
        return ModelShape.from_config(read_model_config(model), model)
    except ValueError as exc:
        raise RecipeError(str(exc)) from None


def starting_model(recipe: RecipeFile, owners: dict[str, Path]) -> str:
    """The model a recipe trains; another recipe's output not made yet is followed back to where that started."""
    model = recipe.config.get("model_name_or_path")
    if not isinstance(model, str) or not model:
        raise RecipeError(f"{recipe.path}: model_name_or_path is required")
    seen = set()
    while os.path.normpath(model) in owners and not (Path(model) / "config.json").is_file():
        source = owners[os.path.normpath(model)]
        if source in seen:
            break
        seen.add(source)
        model = RecipeFile.load(source).config.get("model_name_or_path", model)
    return model


def runner_defaults(runner: str) -> dict:
    """Every field the runner reads, with its default (TRL's own, for the trainers)."""
    defaults = {}
    for name, (f, _) in importlib.import_module(RUNNERS[runner]).make_parser().fields.items():
        if f.default is not dataclasses.MISSING:
            defaults[name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[name] = f.default_factory()
    return defaults


class Settings(dict):
    """A recipe's values over its runner's defaults."""

    def int(self, key: str, fallback: int = 0) -> int:
        value = self.get(key)
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else fallback

    def flag(self, key: str, fallback: bool = False) -> bool:
        value = self.get(key)
        return fallback if value is None else bool(value)


@dataclass(frozen=True)
class Hardware:
    gpus: int | None  # GPUs per node (GPUS=); None: each recipe's own num_processes
    gpu_memory_gib: float
    accelerate: str | None  # ACCELERATE=, for every recipe
    throughput: Throughput
    nodes: int = 1


@dataclass(frozen=True)
class Sized:
    """One recipe as the check sees it: its settings, the model it trains, and the hardware it would run on."""

    recipe: RecipeFile
    settings: Settings
    model: str
    hardware: Hardware

    @property
    def runner(self) -> str:
        return self.recipe.runner

    @property
    def shape(self) -> ModelShape:
        return model_shape(self.model)

    @property
    def on_gpu(self) -> bool:
        """GPU recipes state the GPUs they are sized for (num_processes) or use vLLM; the demo's run on the CPU."""
        s, accelerate = self.settings, self.hardware.accelerate
        if self.recipe.cpu_by_choice:
            return False
        gpu_launch = bool(accelerate) and not accelerate.startswith("cpu_")
        return bool(self.hardware.gpus or gpu_launch or s.get("num_processes") or s.get("use_vllm")
                    or s.get("backend") == "vllm")  # fmt: skip

    @property
    def gpus(self) -> int:
        """GPUs of the run: a generation recipe's one engine, a training recipe's processes on every node."""
        if not self.on_gpu:
            return 1
        if self.runner == "generate":  # GPUS=8: eight GPUs, as engines of tensor_parallel_size each
            return (self.hardware.gpus or self.settings.int("tensor_parallel_size", 1)) * self.hardware.nodes
        return (self.hardware.gpus or self.settings.int("num_processes", 1)) * self.hardware.nodes

    @property
    def launch(self) -> tuple[str, bool, bool]:
        """(sharding, optimizer offloaded, parameters offloaded) of the accelerate config the run would use."""
        name = (self.hardware.accelerate or self.settings.get("accelerate")) if self.on_gpu else None
        return launch_config(name, self.gpus)

    @property
    def sharding(self) -> str:
        """none, ddp, zero1-3 or fsdp."""
        return self.launch[0]

    def rescaled(self, key: str) -> int:
        """gradient_accumulation_steps or steps_per_generation as the runners rescale them on another number of
        processes than `num_processes`, so the global batch stays the recipe's (0 when the recipe leaves it unset)."""
        sized_for = self.settings.int("num_processes") or self.gpus
        return max(1, self.settings.int(key) * sized_for // self.gpus) if self.settings.int(key) else 0

    def changed(self, settings: dict, hardware: dict) -> "Sized":
        return dataclasses.replace(
            self,
            settings=Settings({**self.settings, **settings}),
            hardware=dataclasses.replace(self.hardware, **hardware),
        )


def launch_config(name: str | None, gpus: int) -> tuple[str, bool, bool]:
    """(sharding, optimizer offloaded, parameters offloaded) of a config of recipes/accelerate_configs/."""
    if not name:
        return ("ddp" if gpus > 1 else "none"), False, False
    path = RECIPES / ACCELERATE_CONFIGS / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise RecipeError(f"unknown ACCELERATE '{name}' (valid: {', '.join(names)})")
    config = yaml.safe_load(path.read_text()) or {}
    if config.get("distributed_type") == "DEEPSPEED":
        ds = config.get("deepspeed_config") or {}
        offloaded = [ds.get(key) not in (None, "none") for key in ("offload_optimizer_device", "offload_param_device")]
        return f"zero{int(ds.get('zero_stage', 0))}", *offloaded
    if config.get("distributed_type") == "FSDP":
        return "fsdp", False, bool((config.get("fsdp_config") or {}).get("fsdp_offload_params"))
    return ("ddp" if gpus > 1 else "none"), False, False


def dtype_bytes(sized: Sized) -> int:
    """The runners train in fp32 on a CPU; on a GPU in the recipe's `dtype` (`auto`: the config's)."""
    if not sized.on_gpu:
        return 4
    dtype = sized.settings.get("dtype")
    if dtype in (None, "auto"):
        config = read_model_config(sized.model)
        dtype = config.get("torch_dtype") or config.get("dtype")
    return 4 if dtype in (None, "float32", "fp32") else 2


def lora_params(shape: ModelShape, settings: Settings) -> int:
    """Trainable LoRA parameters: r x (inputs + outputs) of each adapted projection of every layer."""
    if not settings.flag("use_peft"):
        return 0
    h, i = shape.hidden, shape.intermediate
    sizes = {
        "q_proj": (h, shape.q_dim), "k_proj": (h, shape.kv_dim), "v_proj": (h, shape.kv_dim),
        "o_proj": (shape.q_dim, h), "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h),
    }  # fmt: skip
    targets = settings.get("lora_target_modules") or "all-linear"
    names = list(sizes) if targets == "all-linear" else [targets] if isinstance(targets, str) else targets
    return shape.layers * sum(settings.int("lora_r", 16) * sum(sizes[name]) for name in names if name in sizes)


def lengths(sized: Sized) -> tuple[int, int]:
    """(tokens a training sequence holds, tokens of it the loss scores): SFT's max_length; GRPO's prompt (what
    the vLLM context leaves, else an assumed 512) plus its completion, of which the completion is scored."""
    s = sized.settings
    if sized.runner != "grpo":
        return s.int("max_length", 1024), s.int("max_length", 1024)
    completion = s.int("max_completion_length", 512)
    window = s.int("vllm_max_model_length")
    return (window if window > completion else DEFAULT_PROMPT_TOKENS + completion), completion


def training(sized: Sized) -> Training:
    """One process of a sft or grpo recipe; accumulation rescaled as the runners keep the global batch."""
    s, gpus = sized.settings, sized.gpus
    sharding, offload_optimizer, offload_params = sized.launch
    sequence, scored = lengths(sized)
    checkpointing = s.get("activation_checkpointing")
    if checkpointing is None:
        checkpointing = s.flag("gradient_checkpointing", True)  # TRL's default, for both trainers
    return Training(
        processes=gpus,
        sharding=sharding,
        dtype_bytes=dtype_bytes(sized),
        mixed_precision=sized.on_gpu and (s.get("bf16") is not False or s.flag("fp16")),
        micro_batch=s.int("per_device_train_batch_size", 8),
        sequence=sequence,
        scored=scored,
        checkpointing=bool(checkpointing),
        accumulation=sized.rescaled("gradient_accumulation_steps") or 1,
        optimizer=str(s.get("optim") or "adamw_torch_fused"),
        offload_optimizer=offload_optimizer,
        offload_params=offload_params,
        lora_params=lora_params(sized.shape, s),
        load_in_4bit=s.flag("load_in_4bit"),
        reference_model=sized.runner == "grpo" and bool(s.get("beta")) and not s.flag("use_peft"),
        generates=sized.runner == "grpo",
    )


def context(settings: Settings) -> int:
    """Tokens of vLLM's (or transformers') context: the recipe's bound, else the assumed prompt + completion."""
    for key in ("vllm_max_model_length", "max_model_length"):
        if settings.int(key):
            return settings.int(key)
    return DEFAULT_PROMPT_TOKENS + (settings.int("max_completion_length") or settings.int("max_new_tokens", 4096))


def memory_plan(sized: Sized) -> MemoryPlan:
    """Memory per device of one recipe, by item and phase."""
    s, shape, gib = sized.settings, sized.shape, sized.hardware.gpu_memory_gib
    plan = MemoryPlan()
    if sized.runner == "generate":
        if s.get("backend") == "vllm" and sized.on_gpu:
            engine = Vllm(float(s.get("gpu_memory_utilization") or 0.9), context(s), s.int("tensor_parallel_size", 1))
            vllm_memory(shape, engine, gib, plan)
        else:
            plan.add("model weights", shape.params * dtype_bytes(sized), ("generate",))
            transformers_generation(shape, s.int("batch_size", 32), context(s), dtype_bytes(sized), plan)
        return plan
    run = training(sized)
    vllm = bool(s.get("use_vllm")) and sized.on_gpu
    if vllm and s.get("vllm_mode", "colocate") == "colocate":
        engine = Vllm(float(s.get("vllm_gpu_memory_utilization") or 0.3), context(s),
                      s.int("vllm_tensor_parallel_size", 1))  # fmt: skip
        phases = ("generate",) if s.flag("vllm_enable_sleep_mode") else ALL_PHASES  # asleep: freed for the update
        vllm_memory(shape, engine, gib, plan, phases)
        per_rollout = run.micro_batch * (sized.rescaled("steps_per_generation") or run.accumulation)  # this GPU's
        plan.facts.update(vllm_sequences_per_rollout=per_rollout,
                          vllm_kv_gib_for_all=round(per_rollout * plan.facts["vllm_gib_per_sequence"], 1))  # fmt: skip
    elif vllm:  # server mode: `trl vllm-serve` on a node of its own (its default share 0.9; R1_VLLM_TP GPUs)
        server = MemoryPlan()
        vllm_memory(shape, Vllm(0.9, context(s), s.int("vllm_tensor_parallel_size", 1)), gib, server)
        plan.problems += [f"the vLLM server's node: {problem}" for problem in server.problems]
        plan.facts.update({f"server_{key}": value for key, value in server.facts.items()})
    training_memory(shape, run, plan)
    if sized.runner == "grpo" and not vllm:
        sequences = run.micro_batch * (sized.rescaled("steps_per_generation") or run.accumulation)
        transformers_generation(shape, sequences, run.sequence, 2 if run.mixed_precision else run.dtype_bytes, plan)
    reward = (s.get("reward_kwargs") or {}).get("reward_model") if isinstance(s.get("reward_kwargs"), dict) else None
    if isinstance(reward, dict) and reward.get("model_name_or_path"):
        reward_shape = model_shape(reward["model_name_or_path"])
        plan.add("reward model (whole on every process)", reward_shape.params * run.dtype_bytes, ALL_PHASES)
    return plan


def dataset_rows(settings: Settings, owners: dict[str, Path]) -> int | None:
    """Rows a recipe trains on or generates from: max_samples, a local JSONL file, stage 3's output (at most its
    prompts x keep_per_prompt, plus the non-reasoning share), or a Hub dataset of DATASET_ROWS; else None."""
    if settings.int("max_samples"):
        return settings.int("max_samples")
    name = settings.get("dataset_name")
    if not isinstance(name, str):
        return None
    producer = owners.get(os.path.normpath(name))
    if producer is not None and RecipeFile.load(producer).runner == "generate":
        generator = Settings({**runner_defaults("generate"), **RecipeFile.load(producer).config})
        prompts = dataset_rows(generator, owners)
        if prompts is None:
            return None
        ratio = float((generator.get("non_reasoning") or {}).get("ratio") or 0)
        return round(prompts * generator.int("keep_per_prompt", 1) * (1 + ratio))
    if name.endswith(".jsonl") and Path(name).is_file():
        with open(name, "rb") as f:
            return sum(1 for line in f if line.strip())
    return DATASET_ROWS.get((name, settings.get("dataset_config")))


def work_and_time(sized: Sized, owners: dict[str, Path]) -> tuple[dict, dict]:
    """(work, time): steps, prompts, completions and tokens (upper bounds: every completion at its maximum
    length), then hours, GPU-hours and cost at the throughputs given or assumed."""
    s, shape, gpus, speed = sized.settings, sized.shape, sized.gpus, sized.hardware.throughput
    rows = dataset_rows(s, owners)
    work: dict = {"rows": rows}
    generated = trained = None
    passes, sequence = 0, 0
    if sized.runner == "generate":
        completions = rows * s.int("num_samples", 4) if rows is not None else None
        generated = completions * s.int("max_new_tokens", 4096) if completions is not None else None
        work.update(prompts=rows, completions=completions, generated_tokens=generated)
    else:
        run = training(sized)
        per_step = run.micro_batch * run.accumulation * gpus  # sequences (completions) per optimizer step
        repeats = s.int("num_generations", 8) if sized.runner == "grpo" else 1
        steps, epochs = s.int("max_steps", -1), float(s.get("num_train_epochs") or 1)
        if steps > 0:
            epochs = round(steps * per_step / (rows * repeats), 2) if rows else None
        else:
            steps = math.ceil(rows * repeats / per_step * epochs) if rows else None
        work.update(
            optimizer_steps=steps, epochs=epochs, sequences_per_step=per_step, tokens_per_sequence=run.sequence
        )
        passes, sequence = 4 if run.checkpointing else 3, run.sequence
        if sized.runner == "grpo":
            iterations = s.int("num_iterations", 1)
            per_rollout = run.micro_batch * gpus * (sized.rescaled("steps_per_generation") or run.accumulation)
            passes += run.reference_model + (per_rollout > per_step or iterations > 1)  # extra forward passes
            completions = steps * per_step // iterations if steps else None
            generated = completions * run.scored if completions else None
            work.update(
                prompts_per_step=per_step // repeats,
                completions_per_step=per_step,
                completions_per_rollout=per_rollout,
                rollouts=math.ceil(completions / per_rollout) if completions else None,
                completions=completions,
                generated_tokens=generated,
            )
        trained = steps * per_step * run.sequence if steps else None
        work["trained_tokens"] = trained
    seconds_generating = generated / (speed.generate_rate(shape) * gpus) if generated else 0.0
    seconds_training = trained / (speed.train_rate(shape, passes, sequence) * gpus) if trained else 0.0
    known = sized.on_gpu and (generated or trained)
    hours = (seconds_generating + seconds_training) / 3600

    def rounded(value: float, digits: int = 2):
        return round(value, digits) if known else None

    time = {
        "gpus": gpus,
        "hours": rounded(hours),
        "generation_hours": rounded(seconds_generating / 3600),
        "training_hours": rounded(seconds_training / 3600),
        "gpu_hours": rounded(hours * gpus, 1),
        "cost_usd": rounded(hours * gpus * speed.price_per_gpu_hour, 0),
        "generate_tokens_per_s_per_gpu": round(speed.generate_rate(shape)),
        "train_tokens_per_s_per_gpu": round(speed.train_rate(shape, passes, sequence)) if passes else None,
    }
    return work, time


def disk_bytes(sized: Sized, owners: dict[str, Path]) -> float:
    """What a run writes: checkpoints kept (weights and optimizer states) and the final model; stage 3's rows."""
    s, shape = sized.settings, sized.shape
    if sized.runner == "generate":
        rows = dataset_rows(s, owners)
        return (
            rows * s.int("max_new_tokens", 4096) * s.int("keep_per_prompt", 1) * BYTES_PER_TOKEN_ON_DISK if rows else 0
        )
    adapters = lora_params(shape, s)
    checkpoint = adapters * 12 if adapters else shape.params * 14  # bf16 weights + fp32 master weights and moments
    kept = s.int("save_total_limit")
    if not kept:  # every checkpoint stays
        steps, every = s.int("max_steps", 0), s.int("save_steps", 500)
        kept = max(1, steps // every) if steps > 0 and s.get("save_strategy", "steps") == "steps" else 3
    return shape.params * 2 + kept * checkpoint


def missing_here(sized: Sized, owners: dict[str, Path]) -> list[str]:
    """What this machine lacks for the run: packages, CUDA, disk; online, the Hub ids that do not exist."""
    from r1recipes import hardware

    s, missing = sized.settings, []
    if sized.on_gpu:
        wanted = {
            "vllm": s.get("use_vllm") or s.get("backend") == "vllm",
            "deepspeed": sized.sharding.startswith("zero"),
            "bitsandbytes": s.flag("load_in_4bit") or s.flag("load_in_8bit"),
        }
        missing += [f"package {name} (make install-gpu)" for name, needed in wanted.items()
                    if needed and importlib.util.find_spec(name) is None]  # fmt: skip
        if not hardware.machine().cuda_gpus:
            missing.append("a CUDA GPU (none visible here)")
    where = Path(sized.recipe.output_dir).absolute()
    while not where.exists():
        where = where.parent
    need, free = disk_bytes(sized, owners), shutil.disk_usage(where).free
    if need > free:
        missing.append(
            f"disk: ~{need / 1e9:,.0f} GB for {sized.recipe.output_dir}, {free / 1e9:,.0f} GB free at {where}"
        )
    if not hub_offline():
        for key, (name, kind) in sized.recipe.hub_ids.items():
            try:
                check_hub_id(name, kind)
            except RecipeError as exc:
                missing.append(f"{key}: {exc}")
    return missing


def candidates(sized: Sized, plan: MemoryPlan):
    """Single changes to try when a recipe does not fit, in order: (description, settings, hardware)."""
    s, hardware, gpus = sized.settings, sized.hardware, sized.gpus
    if sized.runner != "generate":
        yield "activation_checkpointing: true", {"activation_checkpointing": True}, {}
        batch = s.int("per_device_train_batch_size", 8)
        if batch > 1:
            accumulation = s.int("gradient_accumulation_steps", 1) * batch
            yield (f"per_device_train_batch_size: 1, gradient_accumulation_steps: {accumulation} (the same batch)",
                   {"per_device_train_batch_size": 1, "gradient_accumulation_steps": accumulation}, {})  # fmt: skip
    if s.get("use_vllm") and not s.flag("vllm_enable_sleep_mode"):
        yield "vllm_enable_sleep_mode: true", {"vllm_enable_sleep_mode": True}, {}
    utilization = "vllm_gpu_memory_utilization" if sized.runner == "grpo" else "gpu_memory_utilization"
    if plan.problems and (s.get("use_vllm") or s.get("backend") == "vllm"):
        for share in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            if share > float(s.get(utilization) or 0):
                yield f"{utilization}: {share}", {utilization: share}, {}
    if sized.runner == "generate" and s.get("backend") == "vllm":
        for tp in (2, 4, 8):
            if tp > s.int("tensor_parallel_size", 1):
                yield f"tensor_parallel_size: {tp}", {"tensor_parallel_size": tp}, {}
    if sized.runner != "generate" and gpus > 1 and sized.sharding not in ("zero3", "fsdp"):
        yield "ACCELERATE=zero3", {}, {"accelerate": "zero3"}
    if sized.runner != "generate":
        per_node = hardware.gpus or s.int("num_processes", 1)
        for more in (2, 4, 8):
            if per_node < more:
                yield f"GPUS={more}", {}, {"gpus": more}
        for nodes in (2, 4, 8):
            total = hardware.nodes * nodes
            yield f"NODES={total} ({total} nodes of {per_node} GPU{'s' * (per_node > 1)})", {}, {"nodes": total}
    for size in (94, 141, 192):
        if size > hardware.gpu_memory_gib:
            yield f"GPU_MEMORY_GB={size}", {}, {"gpu_memory_gib": size}


def suggest(sized: Sized, plan: MemoryPlan) -> str:
    """The first single change, of the candidates, with which the recipe fits."""
    for description, settings, hardware in candidates(sized, plan):
        trial = sized.changed(settings, hardware)
        trial_plan = memory_plan(trial)
        if not trial_plan.problems and trial_plan.needed <= available(trial):
            return f"{description} (needs {trial_plan.needed:.1f} GiB)"
    return "no single change: shorten the sequences (max_length, max_completion_length) or take a smaller model"


def available(sized: Sized) -> float:
    """GiB of one GPU, or of this machine's RAM for a CPU recipe."""
    if sized.on_gpu:
        return sized.hardware.gpu_memory_gib
    import psutil

    return psutil.virtual_memory().total / GIB


@dataclass
class RecipeCheck:
    """What `check` finds for one recipe."""

    sized: Sized
    plan: MemoryPlan
    work: dict
    time: dict
    missing: list[str] = field(default_factory=list)
    suggestion: str = ""

    @property
    def fits(self) -> bool:
        return not self.plan.problems and self.plan.needed <= available(self.sized)

    @property
    def device(self) -> str:
        sized = self.sized
        if not sized.on_gpu:
            return f"CPU, {available(sized):.0f} GiB RAM (a CPU recipe: no num_processes)"
        launch = sized.sharding
        if sized.runner == "generate":
            backend = sized.settings.get("backend")
            tp = sized.settings.int("tensor_parallel_size", 1)
            launch = f"vLLM engines of {tp} GPU{'s' * (tp > 1)}" if backend == "vllm" else f"{backend} backend"
        return f"{sized.gpus} x {sized.hardware.gpu_memory_gib:g} GiB GPU, {launch}"

    def as_json(self) -> dict:
        plan = self.plan
        return {
            "recipe": str(self.sized.recipe.path),
            "runner": self.sized.runner,
            "model": self.sized.model,
            "parameters": self.sized.shape.params,
            "device": self.device,
            "available_gib": round(available(self.sized), 2),
            "fits": self.fits,
            "peak_gib": round(plan.peak, 2),
            "needed_gib": round(plan.needed, 2),
            "peak_phase": plan.peak_phase if plan.items else None,
            "largest_item": plan.largest().name if plan.items else None,
            "problems": plan.problems,
            "suggestion": self.suggestion,
            "items": [
                {"name": i.name, "gib": round(i.gib, 3), "phases": list(i.phases), "note": i.note} for i in plan.items
            ],  # fmt: skip
            "facts": plan.facts,
            "work": self.work,
            "time": self.time,
            "missing": self.missing,
        }


def check_recipe(recipe: RecipeFile, hardware: Hardware, owners: dict[str, Path]) -> RecipeCheck:
    from r1recipes.pipeline import check_overrides

    if recipe.overrides:
        check_overrides(recipe)
    settings = Settings({**runner_defaults(recipe.runner), **recipe.config})
    sized = Sized(recipe, settings, starting_model(recipe, owners), hardware)
    plan = memory_plan(sized)
    work, time = work_and_time(sized, owners)
    result = RecipeCheck(sized, plan, work, time, missing_here(sized, owners))
    if not result.fits:
        result.suggestion = suggest(sized, plan)
    return result


def check_folder(folder: Path, hardware: Hardware, overrides: list[str] | None = None) -> list[RecipeCheck]:
    """Every recipe of a model folder: the pipeline's in order (stages, students), then any other."""
    listed = pipeline_recipes(folder) if (folder / "stage1_cold_start_sft.yaml").exists() else []
    paths = listed + [p for p in stage_files(folder) if p not in listed]
    owners = producers()
    return [check_recipe(RecipeFile.load(p, overrides), hardware, owners) for p in paths]


def _count(value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    for size, unit in ((1e9, "B"), (1e6, "M")):
        if value >= size:
            return f"{value / size:,.1f}{unit}"
    return f"{value:,}"


def format_check(result: RecipeCheck) -> str:
    """One recipe's check as the terminal shows it: the memory table, the verdict, the work, the time, what lacks."""
    sized, plan, w, t = result.sized, result.plan, result.work, result.time
    lines = [f"{sized.recipe.path} ({sized.runner}): {sized.model}, {_count(sized.shape.params)} parameters, "
             f"{result.device}"]  # fmt: skip
    phases = [p for p in ALL_PHASES if p in plan.phases]
    lines.append(f"  {'memory per device, GiB':<46}" + "".join(f"{p:>10}" for p in phases))
    for item in plan.items:
        cells = "".join(f"{item.gib:>10.2f}" if p in item.phases else " " * 10 for p in phases)
        lines.append(f"    {item.name:<44}{cells}" + (f"   {item.note}" if item.note else ""))
    lines.append(f"    {'total':<44}" + "".join(f"{plan.total(p):>10.2f}" for p in phases))
    for prefix, where in (("vllm_", "vLLM"), ("server_vllm_", "the vLLM server")):
        facts = {key.removeprefix(prefix): value for key, value in plan.facts.items() if key.startswith(prefix)}
        if "concurrent_sequences" in facts:
            line = (f"    {where}'s KV cache: {facts['kv_cache_gib']:.1f} GiB, {facts['concurrent_sequences']:,} "
                    "full-length sequences at once")  # fmt: skip
            if "sequences_per_rollout" in facts:
                line += (f", of the {facts['sequences_per_rollout']:,} each GPU generates per rollout (all at once: "
                         f"{facts['kv_gib_for_all']:,} GiB)")  # fmt: skip
            lines.append(line)
    needed = (f"needs {plan.needed:.1f} of {available(sized):.1f} GiB (the {plan.peak_phase} phase's "
              f"{plan.peak:.1f}, +{ALLOCATOR_SLACK:.0%} allocator slack and the CUDA context); largest item: "
              f"{plan.largest().name}")  # fmt: skip
    if result.fits:
        lines.append(f"  FITS: {needed}")
    else:
        lines.append(f"  DOES NOT FIT: {'; '.join(plan.problems) or needed}")
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
    else:
        lines.append(f"  work: {_count(w['prompts'])} prompts, {_count(w['completions'])} completions, "
                     f"tokens <= {_count(w['generated_tokens'])}")  # fmt: skip
    if not sized.on_gpu:
        lines.append("  time: not estimated for a CPU recipe (the throughputs are GPU figures)")
    elif t["hours"] is None:
        lines.append("  time: unknown, the number of rows is (set max_steps or max_samples)")
    else:
        price = sized.hardware.throughput.price_per_gpu_hour
        gpus = f"{t['gpus']} GPU" + ("s" if t["gpus"] > 1 else "")
        lines.append(f"  time: <= {t['hours']:,.1f} h on {gpus} ({t['generation_hours']:,.1f} h generating, "
                     f"{t['training_hours']:,.1f} h training) = {t['gpu_hours']:,.0f} GPU-h, "
                     f"~${t['cost_usd']:,.0f} at ${price:g}/GPU-h")  # fmt: skip
    lines += [f"  missing here: {item}" for item in result.missing]
    return "\n".join(lines)


def assumptions(throughput: Throughput) -> str:
    given = [key for key in ("train_tokens_per_s", "generate_tokens_per_s") if getattr(throughput, key)]
    assumed = (f"training at {TRAIN_MFU:.0%} and generation at {GENERATE_MFU:.0%} of {throughput.peak_tflops:g} "
               "bf16 TFLOP/s per GPU")  # fmt: skip
    return (f"throughputs: {'given ' + ', '.join(given) + '; otherwise ' if given else ''}{assumed}; every "
            "completion at its maximum length (upper bounds)")  # fmt: skip


def main(args) -> int:
    """The `check` command: every recipe's check, as tables or --json; the exit status says whether all fit."""
    for name, value in (("GPUS", args.gpus), ("--nodes", args.nodes)):
        if value is not None and value < 1:
            raise RecipeError(f"{name} must be a whole number >= 1, got {value}")
    if args.gpu_memory_gb <= 0:
        raise RecipeError(f"GPU_MEMORY_GB must be > 0, got {args.gpu_memory_gb}")
    if args.peak_tflops is None and args.gpu not in PEAK_TFLOPS:
        raise RecipeError(f"unknown --gpu '{args.gpu}' (known: {', '.join(PEAK_TFLOPS)}); or give --peak_tflops")
    throughput = Throughput(args.train_tokens_per_s, args.generate_tokens_per_s,
                            args.peak_tflops or PEAK_TFLOPS[args.gpu], args.price_per_gpu_hour)  # fmt: skip
    if args.accelerate:
        launch_config(args.accelerate, 1)  # an unknown name is bad input, whatever the recipes
    hardware = Hardware(args.gpus, args.gpu_memory_gb, args.accelerate or None, throughput, args.nodes)
    results = check_folder(model_folder(args.model), hardware, shlex.split(args.args))
    if args.json:
        report = {"recipes": [r.as_json() for r in results], "throughput": dataclasses.asdict(throughput)}
        print(json.dumps(report, indent=1))
    else:
        print("\n\n".join(format_check(r) for r in results) + f"\n\n{assumptions(throughput)}")
        bad = [str(r.sized.recipe.path) for r in results if not r.fits]
        print(f"{len(results) - len(bad)} of {len(results)} recipes fit" + (f"; not: {', '.join(bad)}" if bad else ""))
    return 0 if all(r.fits for r in results) else 1
