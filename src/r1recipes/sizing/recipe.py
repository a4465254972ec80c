"""A recipe sized for a launch: its settings as its runner parses them, the GPUs and nodes it runs on, memory per
device by item and phase, the work (steps, prompts, completions, tokens) and the time, disk, and what this machine
lacks for it. Every count is `estimate.py`'s; this module reads recipes and launches into its terms.
"""

import importlib
import importlib.util
import json
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from r1recipes import RecipeError
from r1recipes.config.hardware import machine as this_machine
from r1recipes.config.hardware import sizing
from r1recipes.config.paths import LOCAL_FORMATS, check_hub_id, hub_offline, looks_local
from r1recipes.config.recipes import (
    ACCELERATE_CONFIGS,
    RECIPES,
    RecipeFile,
)
from r1recipes.sizing.estimate import (
    JUDGE_SAMPLES_PER_S,
    MODEL_CONFIGS,
    Decoding,
    MemoryPlan,
    ModelShape,
    Throughput,
    Training,
    Vllm,
    state_bytes,
    training_memory,
    transformers_generation,
    vllm_memory,
)

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
    ("open-r1/verifiable-coding-problems-python", None): 35_735,
    ("openlifescienceai/medmcqa", None): 182_822,  # the train split (dev 4,183, test 6,150)
}
DEFAULT_PROMPT_TOKENS = 512  # a prompt's length when no vLLM context bounds it: our assumption
BYTES_PER_TOKEN_ON_DISK = 1.5  # stage 3's Parquet rows: ~4 characters a token, compressed ~2.7x: our assumption
SERVER_UTILIZATION = 0.9  # `trl vllm-serve`'s default gpu_memory_utilization
# Cards to suggest, by the memory they show (nvidia-smi's MiB / 1024): an H100 80GB, an H200 (seen on the lent one)
CARDS_GIB = {"H100 80GB": 79.6, "H200": 140.4}
DEFAULT_GPU_MEMORY_GIB = CARDS_GIB["H100 80GB"]  # the card every GPU recipe here is sized for
ALL_PHASES = ("generate", "update", "step")
# PEFT's target modules for Llama and Qwen2 models when a recipe names none
PEFT_DEFAULT_TARGETS = ["q_proj", "v_proj"]
SAMPLERS = ("generate", "evaluate")  # runners that only sample: a vLLM engine or transformers, no training
SAMPLING = ("grpo", *SAMPLERS)  # runners whose completions are counted at their longest, and may have a mean
# GPUs an evaluation runs on, data parallel, unless GPUS= says: a node of the size the GPU recipes are sized for
# (slurm/pipeline.sh's R1_EVAL_GPUS)
EVALUATION_GPUS = 8


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


def model_shape(model: str, config: dict | None = None) -> ModelShape:
    try:
        return ModelShape.from_config(config or read_model_config(model), model)
    except ValueError as exc:
        raise RecipeError(str(exc)) from None


def starting_model(recipe: RecipeFile, owners: dict[str, Path]) -> str:
    """The model a recipe trains (an evaluation recipe: the `model` it is given); another recipe's output not made
    yet is followed back to where that started."""
    key = "model" if recipe.runner == "evaluate" else "model_name_or_path"
    model = recipe.config.get(key)
    if not isinstance(model, str) or not model:
        raise RecipeError(f"{recipe.path}: {key} is required")
    seen = set()
    while os.path.normpath(model) in owners and not (Path(model) / "config.json").is_file():
        source = owners[os.path.normpath(model)]
        if source in seen:
            break
        seen.add(source)
        model = RecipeFile.load(source).config.get("model_name_or_path", model)
    return model


class Settings(dict):
    """A recipe's values as its runner parsed them (its defaults and post-init checks applied)."""

    def int(self, key: str, fallback: int = 0) -> int:
        value = self.get(key)
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else fallback


def parse_recipe(recipe: RecipeFile, processes: int) -> Settings:
    """The recipe as its runner reads it when launched on `processes` processes elsewhere; a RecipeError when
    the runner would refuse it."""
    parser = importlib.import_module(f"r1recipes.{recipe.runner}").make_parser()
    with sizing(processes):
        *parts, _ = parser.parse(["--config", str(recipe.path), *recipe.overrides])
    return Settings({key: value for part in parts for key, value in vars(part).items()})


@dataclass(frozen=True)
class Hardware:
    gpus: int | None  # GPUs per node (GPUS=); None: each recipe's own num_processes
    gpu_memory_gib: float
    accelerate: str | None  # ACCELERATE=, for every recipe
    throughput: Throughput
    nodes: int = 1
    shards: int | None = None  # a generation recipe's Slurm array tasks (slurm/pipeline.sh --shards), one engine each
    # check's --mean_completion_tokens: every sampling recipe's mean completion (tokens), over the recipe's own
    mean_completion_tokens: int | None = None


def accelerate_config(name: str) -> dict:
    path = RECIPES / ACCELERATE_CONFIGS / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise RecipeError(f"unknown ACCELERATE '{name}' (valid: {', '.join(names)})")
    return yaml.safe_load(path.read_text()) or {}


def launch_config(name: str | None, gpus: int) -> tuple[str, bool, bool]:
    """(sharding, optimizer offloaded, parameters offloaded) of a config of recipes/accelerate_configs/."""
    config = accelerate_config(name) if name else {}
    if config.get("distributed_type") == "DEEPSPEED":
        ds = config.get("deepspeed_config") or {}
        offloaded = [ds.get(key) not in (None, "none") for key in ("offload_optimizer_device", "offload_param_device")]
        return f"zero{int(ds.get('zero_stage', 0))}", *offloaded
    if config.get("distributed_type") == "FSDP":
        return "fsdp", False, bool((config.get("fsdp_config") or {}).get("fsdp_offload_params"))
    return ("ddp" if gpus > 1 else "none"), False, False


@dataclass(frozen=True)
class Sized:
    """One recipe as the check sees it: parsed for the GPUs it would run on, and the model it trains."""

    recipe: RecipeFile
    settings: Settings
    model: str
    shape: ModelShape
    hardware: Hardware
    on_gpu: bool
    gpus: int  # training processes, or a generation recipe's GPUs
    server_gpus: int  # GPUs of the vLLM server's node (vllm_mode: server), else 0
    launch: tuple[str, bool, bool]  # (sharding, optimizer offloaded, parameters offloaded)
    model_dtype: str | None  # the dtype the model's config was saved in (`dtype: auto` loads it so)

    @property
    def runner(self) -> str:
        return self.recipe.runner

    @property
    def sharding(self) -> str:
        return self.launch[0]

    @property
    def vllm(self) -> bool:
        return bool(self.settings.get("use_vllm")) and self.on_gpu


def size(recipe: RecipeFile, hardware: Hardware, owners: dict[str, Path], extra: tuple[str, ...] = ()) -> Sized:
    """Lay the recipe out on the hardware (module docstring), then parse it for that many processes."""
    recipe = RecipeFile.load(recipe.path, [*recipe.overrides, *extra])
    config, chosen = recipe.config, hardware.accelerate or ""
    asks_gpu = config.get("num_processes") or config.get("use_vllm") or config.get("backend") == "vllm"
    on_gpu = not recipe.cpu_by_choice and not chosen.startswith("cpu_") and bool(hardware.gpus or chosen or asks_gpu)
    per_node = hardware.gpus or _whole(config, "num_processes", recipe.path)
    server_gpus = 0
    if not on_gpu:  # a CPU recipe: one process, or those of a cpu_* config
        gpus = _whole(accelerate_config(chosen), "num_processes", f"ACCELERATE={chosen}") if chosen else 1
    elif recipe.runner == "generate":  # engines of tensor_parallel_size GPUs: Slurm's shards, else GPUS per node
        engine = _whole(config, "tensor_parallel_size", recipe.path)
        gpus = engine * hardware.shards if hardware.shards else (hardware.gpus or engine) * hardware.nodes
    elif recipe.runner == "evaluate":  # data parallel over a node: GPUS, else the node the GPU recipes are sized for
        gpus = hardware.gpus or EVALUATION_GPUS
    elif config.get("use_vllm") and config.get("vllm_mode") == "server":
        server_gpus = per_node  # the last node serves; slurm/pipeline.sh gives such a recipe 2 nodes at least
        gpus = per_node * (max(hardware.nodes, 2) - 1)
        server_tensor_parallel(per_node)
    else:
        gpus = per_node * hardware.nodes
    settings = parse_recipe(recipe, gpus if recipe.runner not in SAMPLERS else 1)
    launch_name = (chosen or settings.get("accelerate")) if on_gpu else chosen or None
    model = starting_model(recipe, owners)
    model_config = read_model_config(model)  # read once: the shape and the dtype `auto` loads
    saved_dtype = model_config.get("torch_dtype") or model_config.get("dtype")
    return Sized(recipe, settings, model, model_shape(model, model_config), hardware, on_gpu, gpus, server_gpus,
                 launch_config(launch_name, gpus), saved_dtype)  # fmt: skip


def server_tensor_parallel(gpus: int) -> int:
    """train.slurm's R1_VLLM_TP: GPUs an engine of the vLLM server takes; a whole number dividing the node's."""
    value = os.environ.get("R1_VLLM_TP", "1")
    if not value.isdigit() or int(value) < 1 or gpus % int(value):
        raise RecipeError(f"R1_VLLM_TP must be a whole number >= 1 dividing the {gpus} GPUs of a node, got {value!r}")
    return int(value)


def _whole(config: dict, key: str, where) -> int:
    """A count from a recipe or accelerate config before the runner parses it (1 when unset)."""
    value = config.get(key)
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecipeError(f"{where}: {key} must be a whole number >= 1, got {value!r}")
    return value


def dtype_bytes(sized: Sized) -> int:
    """The runners train in fp32 on a CPU; on a GPU in the recipe's `dtype` (`auto`: the config's)."""
    if not sized.on_gpu:
        return 4
    dtype = sized.settings.get("dtype")
    if dtype in (None, "auto"):
        dtype = sized.model_dtype
    return 4 if dtype in (None, "float32", "fp32") else 2


def lora_params(shape: ModelShape, settings: Settings) -> int:
    """Trainable LoRA parameters: r x (inputs + outputs) of each adapted projection of every layer (a target is
    matched by its last name, `self_attn.q_proj` as `q_proj`)."""
    if not settings.get("use_peft"):
        return 0
    h, i = shape.hidden, shape.intermediate
    sizes = {
        "q_proj": (h, shape.q_dim), "k_proj": (h, shape.kv_dim), "v_proj": (h, shape.kv_dim),
        "o_proj": (shape.q_dim, h), "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h),
    }  # fmt: skip
    targets = settings.get("lora_target_modules") or PEFT_DEFAULT_TARGETS
    names = list(sizes) if targets == "all-linear" else [targets] if isinstance(targets, str) else list(targets)
    found = {name.rsplit(".", 1)[-1] for name in names} & set(sizes)
    if not found:
        raise RecipeError(f"lora_target_modules {targets!r}: no projection of a decoder layer ({', '.join(sizes)})")
    return shape.layers * sum(settings.int("lora_r", 16) * sum(sizes[name]) for name in found)


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
    """One process of a sft or grpo recipe (its batch already fitted to the processes by the runner's parser)."""
    s = sized.settings
    if (s.get("load_in_4bit") or s.get("load_in_8bit")) and not s.get("use_peft"):
        raise RecipeError(f"{sized.recipe.path}: load_in_4bit/load_in_8bit trains only through adapters: set use_peft")
    sequence, scored = lengths(sized)
    return Training(
        processes=sized.gpus,
        sharding=sized.sharding,
        dtype_bytes=dtype_bytes(sized),
        mixed_precision=sized.on_gpu and bool(s.get("bf16") or s.get("fp16")),
        micro_batch=s.int("per_device_train_batch_size", 8),
        sequence=sequence,
        scored=scored,
        checkpointing=bool(s.get("activation_checkpointing") or s.get("gradient_checkpointing")),
        accumulation=s.int("gradient_accumulation_steps", 1),
        optimizer=str(getattr(s.get("optim"), "value", s.get("optim"))),
        offload_optimizer=sized.launch[1],
        offload_params=sized.launch[2],
        lora_params=lora_params(sized.shape, s),
        load_in_4bit=bool(s.get("load_in_4bit")),
        reference_model=sized.runner == "grpo" and bool(s.get("beta")) and not s.get("use_peft"),
        generates=sized.runner == "grpo",
    )


def vllm_context(settings: Settings, shape: ModelShape) -> int:
    """vLLM's context (max_model_len): the recipe's, else the model's own maximum, as vLLM takes it."""
    return settings.int("vllm_max_model_length") or settings.int("max_model_length") or shape.max_positions


def sequences_per_rollout(sized: Sized, run: Training) -> int:
    """Completions one process generates per rollout (its share of TRL's generation batch)."""
    return run.micro_batch * (sized.settings.int("steps_per_generation") or run.accumulation)


def memory_plan(sized: Sized) -> MemoryPlan:
    """Memory per device of one recipe, by item and phase; vLLM's figures in plan.facts."""
    s, shape, gib = sized.settings, sized.shape, sized.hardware.gpu_memory_gib
    plan = MemoryPlan()
    if sized.runner in SAMPLERS:
        if s.get("backend") == "vllm" and sized.on_gpu:
            engine = Vllm(float(s["gpu_memory_utilization"]), vllm_context(s, shape), s.int("tensor_parallel_size", 1))
            plan.facts["vllm"] = vllm_memory(shape, engine, gib, plan)
        else:
            context = DEFAULT_PROMPT_TOKENS + s.int("max_new_tokens", 4096)
            plan.add("model weights", shape.params * dtype_bytes(sized), ("generate",))
            transformers_generation(shape, s.int("batch_size", 32), context, dtype_bytes(sized), plan)
        return plan
    run = training(sized)
    if sized.vllm and sized.server_gpus:
        server = MemoryPlan()
        tp = server_tensor_parallel(sized.server_gpus)  # train.slurm passes the server no max_model_len
        plan.facts["vllm_server"] = vllm_memory(shape, Vllm(SERVER_UTILIZATION, shape.max_positions, tp), gib, server)
        plan.problems += [f"the vLLM server's node: {problem}" for problem in server.problems]
    elif sized.vllm:
        engine = Vllm(float(s["vllm_gpu_memory_utilization"]), vllm_context(s, shape),
                      s.int("vllm_tensor_parallel_size", 1))  # fmt: skip
        phases = ("generate",) if s.get("vllm_enable_sleep_mode") else ALL_PHASES  # asleep: freed for the update
        facts = vllm_memory(shape, engine, gib, plan, phases)
        per_rollout = sequences_per_rollout(sized, run)
        facts.update(per_rollout=per_rollout, gib_for_all=round(per_rollout * facts["gib_per_sequence"], 1))
        plan.facts["vllm"] = facts
    training_memory(shape, run, plan)
    if sized.runner == "grpo" and not sized.vllm:
        # TRL gathers ZeRO-3's partitions to generate (ds3_gather_for_generation); FSDP2 generates sharded
        gathered = sized.sharding == "zero3" and sized.gpus > 1 and bool(s.get("ds3_gather_for_generation"))
        compute_bytes = 2 if run.mixed_precision else run.dtype_bytes
        transformers_generation(shape, sequences_per_rollout(sized, run), run.sequence, compute_bytes, plan, gathered)
    reward = (s.get("reward_kwargs") or {}).get("reward_model")
    if isinstance(reward, dict) and reward.get("model_name_or_path"):
        reward_shape = model_shape(reward["model_name_or_path"])
        plan.add("reward model (whole on every process)", reward_shape.params * run.dtype_bytes, ALL_PHASES)
    return plan


def dataset_rows(settings: Settings, owners: dict[str, Path]) -> int | None:
    """Rows a recipe trains on or generates from: max_samples, a local JSONL file, stage 3's output (at most its
    keepable rows, `keepable_rows`), a Hub dataset of DATASET_ROWS, a generation recipe's sources; else None."""
    if "keep_per_prompt" in settings:  # a generation recipe: its prompts
        tasks = prompts_by_task(settings)
        return sum(tasks.values()) if tasks is not None else None
    if settings.int("max_samples"):
        return settings.int("max_samples")
    name = settings.get("dataset_name")
    if not isinstance(name, str):
        return None
    producer = owners.get(os.path.normpath(name))
    if producer is not None and RecipeFile.load(producer).runner == "generate":
        keepable = keepable_rows(parse_recipe(RecipeFile.load(producer), 1))
        return keepable["total"] if keepable else None
    if name.endswith(".jsonl") and Path(name).is_file():
        with open(name, "rb") as f:
            return sum(1 for line in f if line.strip())
    return DATASET_ROWS.get((name, settings.get("dataset_config")))


# Problems of each benchmark (r1recipes.evaluation.benchmarks; the package's own tasks generate GENERATED_ROWS)
BENCHMARK_PROBLEMS = {
    "aime24": 30, "amc23": 40, "math500": 500, "gsm8k": 1_319, "minerva": 272, "olympiadbench": 675,
    "gpqa_diamond": 198,
    # R1's window, August 2024 to January 2025: release_v5's 880 problems (May 2023 - Jan 2025) less release_v3's 612
    # (May 2023 - Jul 2024), the dataset card's counts
    "livecodebench": 268,
}  # fmt: skip


def benchmark_problems(name: str, max_problems: int | None) -> int | None:
    """Problems an evaluation of a benchmark samples: its size, at most max_problems; None when unknown."""
    from r1recipes.evaluation.benchmarks import BENCHMARKS, GENERATED_ROWS

    count = GENERATED_ROWS if BENCHMARKS[name].generate else BENCHMARK_PROBLEMS.get(name)
    if count is None:
        return max_problems
    return min(count, max_problems) if max_problems else count


def prompts_by_task(settings: Settings) -> dict[str, int] | None:
    """A generation recipe's prompts by task, source after source as generate.py reads them: a source's rows are
    a local JSONL file's (tasks read from its rows), DATASET_ROWS' or, uncounted, its `max_rows` (an upper bound);
    its task is the one its `add_columns` gives, else `default_task`. None when a source cannot be counted."""
    tasks: Counter = Counter()
    left = settings.int("max_samples") or math.inf
    task_column, default_task = settings.get("task_column", "task"), settings.get("default_task", "math")
    for source in settings.get("sources") or []:
        given = (source.add_columns or {}).get(task_column)
        if source.path.endswith(".jsonl") and Path(source.path).is_file():
            with open(source.path, "rb") as f:
                rows = [json.loads(line) for line in f if line.strip()][: source.max_rows]
            found = Counter(str(given or row.get(task_column) or default_task) for row in rows)
        else:
            count = DATASET_ROWS.get((source.path, source.name))
            count = min(count, source.max_rows) if count is not None and source.max_rows else count or source.max_rows
            if count is None:
                return None
            found = Counter({str(given or default_task): count})
        for task, count in found.items():
            taken = min(count, left)
            tasks[task] += taken
            left -= taken
    return dict(tasks)


def keepable_rows(settings: Settings) -> dict | None:
    """The most rows a generation recipe can keep: by task, its prompts x the m kept per prompt (`keep_per_prompt`),
    every kept one verified; then the non-reasoning rows mixed in (a count, or a ratio of the kept rows)."""
    prompts = prompts_by_task(settings)
    if prompts is None:
        return None
    keep = settings.get("keep_per_prompt", 1)
    by_task = {
        task: {"prompts": n, "keep_per_prompt": keep if isinstance(keep, int) else keep.get(task, 0)}
        for task, n in prompts.items()
    }
    for task in by_task.values():
        task["rows"] = task["prompts"] * task["keep_per_prompt"]
    reasoning = sum(t["rows"] for t in by_task.values())
    source = settings.get("non_reasoning")
    general = 0
    if source is not None:
        general = source.count if source.count is not None else round(source.ratio * reasoning)
    return {"tasks": by_task, "reasoning": reasoning, "general": general, "total": reasoning + general}


def longest_completion(sized: Sized) -> tuple[str, int]:
    """(the key, its tokens) of a recipe's longest completion: a sampler's `max_new_tokens`, else the trainer's
    completion (`lengths`: GRPO's `max_completion_length`; an SFT sequence)."""
    if sized.runner in SAMPLERS:
        return "max_new_tokens", sized.settings.int("max_new_tokens", 4096)
    return "max_completion_length", lengths(sized)[1]


def decoding(sized: Sized, plan: MemoryPlan) -> Decoding | None:
    """How many full-length sequences a vLLM engine holds at once, and their mean context while decoding."""
    facts = plan.facts.get("vllm") or plan.facts.get("vllm_server")
    if not facts:
        return None
    s = sized.settings
    completion = longest_completion(sized)[1]
    context = vllm_context(s, sized.shape)
    tp = s.int("tensor_parallel_size" if sized.runner in SAMPLERS else "vllm_tensor_parallel_size", 1)
    if "vllm_server" in plan.facts:
        tp = server_tensor_parallel(sized.server_gpus)
    return Decoding(facts["concurrent"], max(context - completion, 0) + completion / 2, tp)


def work_and_time(
    sized: Sized, plan: MemoryPlan, owners: dict[str, Path], completion: int | None = None
) -> tuple[dict, dict]:
    """(work, time): steps, prompts, completions and tokens, then hours, GPU-hours and cost at the throughputs
    given or assumed. Every completion is `completion` tokens long (a GRPO sequence: its prompt and that), by
    default its maximum length (upper bounds); the decoding rate stays that of full-length sequences."""
    s, shape, gpus, speed = sized.settings, sized.shape, sized.gpus, sized.hardware.throughput
    rows = dataset_rows(s, owners)
    work: dict = {"rows": rows}
    generated = trained = None
    passes = sequence = 0
    generating_gpus = sized.server_gpus or gpus
    length = completion or longest_completion(sized)[1]
    if sized.runner == "generate":
        completions = rows * s.int("num_samples", 4) if rows is not None else None
        generated = completions * length if completions is not None else None
        work.update(prompts=rows, completions=completions, generated_tokens=generated, keepable=keepable_rows(s))
    elif sized.runner == "evaluate":
        problems = {name: benchmark_problems(name, s.int("max_problems") or None) for name in s["benchmarks"]}
        samples = {name: s["benchmark_samples"].get(name, s.int("num_samples", 4)) for name in problems}
        known = all(n is not None for n in problems.values())
        completions = sum(problems[name] * samples[name] for name in problems) if known else None
        generated = completions * length if completions else None
        work.update(benchmarks={name: {"problems": problems[name], "samples": samples[name]} for name in problems},
                    prompts=sum(problems.values()) if known else None, completions=completions,
                    generated_tokens=generated)  # fmt: skip
    else:
        run = training(sized)
        sequence = run.sequence - run.scored + length  # GRPO: its prompt and completion
        per_step = run.micro_batch * run.accumulation * gpus  # sequences (completions) per optimizer step
        repeats = s.int("num_generations", 8) if sized.runner == "grpo" else 1
        iterations = s.int("num_iterations", 1) if sized.runner == "grpo" else 1  # updates per rollout
        steps = s.int("max_steps", -1)
        if steps <= 0:
            epochs = float(s.get("num_train_epochs") or 1)
            steps = math.ceil(rows * repeats * iterations / per_step * epochs) if rows else None
        epochs = round(steps * per_step / iterations / (rows * repeats), 2) if rows and steps else None
        work.update(optimizer_steps=steps, epochs=epochs, sequences_per_step=per_step, tokens_per_sequence=sequence)
        passes = 4 if run.checkpointing else 3
        if sized.runner == "grpo":
            per_rollout = sequences_per_rollout(sized, run) * gpus
            generate_every = s.int("steps_per_generation", 1) * iterations  # TRL's test for old log-probs
            old_logps = run.accumulation % generate_every != 0 or (
                sized.vllm and bool(s.get("vllm_importance_sampling_correction"))
            )
            reference = bool(s.get("beta"))  # the reference model's forward (LoRA: the adapters turned off)
            passes += (reference + old_logps) / iterations  # extra forward passes, once a rollout
            completions = steps * per_step // iterations if steps else None
            generated = completions * length if completions else None
            work.update(
                prompts_per_step=per_step // repeats,
                completions_per_step=per_step,
                completions_per_rollout=per_rollout,
                rollouts=math.ceil(completions / per_rollout) if completions else None,
                completions=completions,
                generated_tokens=generated,
            )
        trained = steps * per_step * sequence if steps else None
        work["trained_tokens"] = trained
    generate_rate = speed.generate_rate(shape, decoding(sized, plan))
    seconds_generating = generated / (generate_rate * generating_gpus) if generated else 0.0
    seconds_training = trained / (speed.train_rate(shape, passes, sequence) * gpus) if trained else 0.0
    known = sized.on_gpu and bool(generated or trained)
    hours = (seconds_generating + seconds_training) / 3600  # TRL alternates generating and training
    held = gpus + sized.server_gpus

    def rounded(value: float, digits: int = 2):
        return round(value, digits) if known else None

    time = {
        "gpus": held,
        "hours": rounded(hours),
        "generation_hours": rounded(seconds_generating / 3600),
        "training_hours": rounded(seconds_training / 3600),
        "gpu_hours": rounded(hours * held, 1),
        "cost_usd": rounded(hours * held * speed.price_per_gpu_hour),
        "generate_tokens_per_s_per_gpu": round(generate_rate) if generated else None,
        "train_tokens_per_s_per_gpu": round(speed.train_rate(shape, passes, sequence)) if trained else None,
        **judging_time(sized, work.get("completions"), rounded(seconds_generating / 3600)),
    }
    return work, time


def mean_completion(sized: Sized) -> tuple[int | None, str | None]:
    """A sampling recipe's mean completion (tokens) and where it comes from: check's --mean_completion_tokens,
    capped at the recipe's longest completion, else the recipe's `mean_completion_tokens`; (None, None) unknown."""
    (longest_key, longest), given = longest_completion(sized), sized.hardware.mean_completion_tokens
    if given is not None and given > longest:
        return longest, f"--mean_completion_tokens {given:,} capped at {longest_key} {longest:,}"
    if given is not None:
        return given, "--mean_completion_tokens"
    own = sized.settings.get("mean_completion_tokens")
    return (own, "recipe: mean_completion_tokens") if own is not None else (None, None)


def expected_time(sized: Sized, plan: MemoryPlan, owners: dict[str, Path]) -> dict:
    """A sampling recipe's expected hours, GPU-hours and cost: `work_and_time` with every completion of the mean
    length (`mean_completion`) instead of its longest; None where no mean is known, or no time (a CPU recipe).
    Nothing for other runners. Training lies between this and the upper bound, as TRL pads a micro-batch to its
    longest completion; the decoding rate is kept as for full-length sequences."""
    if sized.runner not in SAMPLING:
        return {}
    mean, source = mean_completion(sized)
    time = work_and_time(sized, plan, owners, mean)[1] if mean is not None else {}
    return {
        "mean_completion_tokens": mean,
        "mean_source": source,
        "expected_hours": time.get("hours"),
        "expected_gpu_hours": time.get("gpu_hours"),
        "expected_cost_usd": time.get("cost_usd"),
    }


def judging_time(sized: Sized, completions: int | None, generation_hours: float | None) -> dict:
    """Stage 3's CPU side (nothing for other runners): hours to judge every completion at the measured
    JUDGE_SAMPLES_PER_S a verify process, with `verify_processes` of them beside each engine, and whether that
    hides behind the sampling (generate.py judges a chunk while the model samples the next; with
    `verify_processes: 0` it judges between chunks, so the hours add up). None where a count is unknown."""
    if sized.runner != "generate":
        return {}
    s = sized.settings
    engines = sized.gpus // s.int("tensor_parallel_size", 1) if sized.on_gpu else sized.gpus
    verifiers = s.int("verify_processes")
    processes = engines * max(verifiers, 1)  # verify_processes 0: the engine's own process judges
    hours = completions / (JUDGE_SAMPLES_PER_S * processes) / 3600 if completions else None
    hidden = None if hours is None or generation_hours is None else bool(verifiers) and hours <= generation_hours
    return {
        "judge_processes": processes,
        "judge_samples_per_s": JUDGE_SAMPLES_PER_S,
        "judge_hours": round(hours, 2) if hours is not None else None,
        "judge_hidden": hidden,
    }


def checkpoints_kept(settings: Settings, steps: int | None) -> int:
    """Checkpoints a run leaves: none with save_strategy no; else one per save (epoch or save_steps), at most
    save_total_limit."""
    strategy = str(getattr(settings.get("save_strategy"), "value", settings.get("save_strategy")))
    if strategy == "no":
        return 0
    epochs = math.ceil(float(settings.get("num_train_epochs") or 1))
    every = settings.get("save_steps") or 500
    every = every if every >= 1 else max(1, round(every * (steps or 1)))  # a fraction of the steps
    saves = epochs if strategy == "epoch" else math.ceil((steps or every) / every)
    limit = settings.int("save_total_limit")
    return min(saves, limit) if limit else saves


def disk_bytes(sized: Sized, work: dict) -> float:
    """What a run writes: checkpoints kept (the weights as trained, the optimizer's states: fp32 master weights and
    moments, or 8-bit moments) and the final model; stage 3's rows."""
    s, shape = sized.settings, sized.shape
    if sized.runner == "generate":
        kept = (work.get("keepable") or {}).get("reasoning")
        return kept * s.int("max_new_tokens", 4096) * BYTES_PER_TOKEN_ON_DISK if kept else 0
    if sized.runner == "evaluate":  # samples.jsonl: every completion as text, ~4 characters a token
        return (work.get("generated_tokens") or 0) * 4
    adapters = lora_params(shape, s)
    weights, _, states = state_bytes(training(sized))
    checkpoint = (adapters or shape.params) * (weights + states)
    final = adapters * 4 if adapters else shape.params * dtype_bytes(sized)
    return final + checkpoints_kept(s, work.get("optimizer_steps")) * checkpoint


def missing_here(sized: Sized, need: float) -> list[str]:
    """What this machine lacks for the run: packages, CUDA, disk; online, the Hub ids that do not exist."""
    s, missing = sized.settings, []
    if sized.on_gpu:
        wanted = {
            "vllm": s.get("use_vllm") or s.get("backend") == "vllm",
            "deepspeed": sized.sharding.startswith("zero"),
            "bitsandbytes": s.get("load_in_4bit") or s.get("load_in_8bit"),
        }
        missing += [f"package {name} (make install-gpu)" for name, needed in wanted.items()
                    if needed and importlib.util.find_spec(name) is None]  # fmt: skip
        if not this_machine().cuda_gpus:
            missing.append("a CUDA GPU (none visible here)")
    where = free_disk_at(sized.recipe.output_dir)
    free = shutil.disk_usage(where).free
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


def free_disk_at(output_dir: str) -> Path:
    """The nearest existing folder of an output path, whose file system it would be written to."""
    where = Path(output_dir).absolute()
    while not where.exists():
        where = where.parent
    return where
