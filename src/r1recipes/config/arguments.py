"""The fields a recipe may set, as dataclasses for TRL's parser.

Fields shared by every stage live once: the data fields in `DataArguments`, the run-lifecycle and
no-GPU handling in `StageArguments`, the model fields in `ModelArguments` (TRL's `ModelConfig`).
`SFTConfig` and `GRPOConfig` are TRL's configs with those mixed in. Checks that involve several
fields sit in `__post_init__`, so they fail while the command line is parsed, before anything loads.
"""

import os
import string
from dataclasses import dataclass, field
from typing import Any

import trl
import yaml

from r1recipes import RecipeError, notice
from r1recipes.config import hardware
from r1recipes.config.paths import check_dataset_path, check_model_path
from r1recipes.files import check_writable
from r1recipes.rewards.verifiers import DEFAULT_VERIFIERS

PROMPT_FORMATS = ("r1_zero", "chat", "template")


def parse_structured(value: Any, key: str, kind: type = dict) -> Any:
    """A mapping or list field arrives as such from YAML, or as JSON/YAML text from the command line."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise RecipeError(f"{key}: not valid JSON or YAML: {exc.__class__.__name__}") from None
    if value is not None and not isinstance(value, kind):
        raise RecipeError(f"{key}: expected a {'mapping' if kind is dict else 'list'}, got {value!r}")
    return value


def check_room_for_prompt(config, context: str, completion: str) -> None:
    """A vLLM context window (tokens), when set, must hold a prompt besides the longest completion."""
    window, longest = getattr(config, context), getattr(config, completion)
    if window is not None and window <= longest:
        raise RecipeError(f"{context} ({window}) leaves no room for a prompt before {completion} ({longest}) tokens")


MEAN_COMPLETION_HELP = (
    "Tokens a completion is expected to have on average (say where the figure comes from in a comment). Read only "
    "by `make check`, for its expected time and cost; the run never uses it."
)


def mean_completion_field():
    """`mean_completion_tokens`, in every config that samples (GRPO, generation, evaluation)."""
    return field(default=None, metadata={"help": MEAN_COMPLETION_HELP})


def check_mean_completion(config, longest: str) -> None:
    """mean_completion_tokens, when set, must be a length a completion can have: 1 to the longest (tokens)."""
    mean, most = config.mean_completion_tokens, getattr(config, longest)
    if mean is not None and not 1 <= mean <= most:
        raise RecipeError(f"mean_completion_tokens must be from 1 to {longest} ({most}) tokens, got {mean}")


@dataclass
class DatasetSource:
    """One entry of `dataset_mixture`.

    `weight` multiplies the source's row count: 0.25 keeps a random quarter, 1 keeps every row,
    2.5 repeats every row twice plus a random half (upsampling a small, valuable source). `add_columns`
    gives every row of the source constant columns, e.g. `{task: general}` to route stage 4's rewards.
    `max_rows` keeps the source's first N rows (before weighting): how generation, which reads sources in
    order, takes some prompts of each. `format_columns` writes columns from the row's others (after `rename`), as
    `{problem: "{question}\n\nA. {opa}\nB. {opb}"}`: how sources with other layouts share one prompt column.
    """

    path: str
    name: str | None = None
    split: str = "train"
    weight: float = 1.0
    rename: dict[str, str] | None = None
    add_columns: dict[str, Any] | None = None
    max_rows: int | None = None
    format_columns: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, entry: Any, where: str) -> "DatasetSource":
        if not isinstance(entry, dict):
            raise RecipeError(f"{where}: expected a mapping with a 'path', got {entry!r}")
        allowed = cls.__dataclass_fields__.keys()
        unknown = sorted(set(entry) - set(allowed))
        if unknown:
            raise RecipeError(f"{where}: unknown key '{unknown[0]}' (valid keys: {', '.join(allowed)})")
        if "path" not in entry:
            raise RecipeError(f"{where}: 'path' is required")
        source = cls(**entry)
        if not isinstance(source.weight, (int, float)) or isinstance(source.weight, bool) or source.weight <= 0:
            raise RecipeError(f"{where}: weight must be a number > 0, got {source.weight!r}")
        if source.max_rows is not None and (not isinstance(source.max_rows, int) or source.max_rows < 1):
            raise RecipeError(f"{where}: max_rows must be a whole number >= 1, got {source.max_rows!r}")
        source.rename = parse_structured(source.rename, f"{where}.rename")
        source.add_columns = parse_structured(source.add_columns, f"{where}.add_columns")
        source.format_columns = parse_structured(source.format_columns, f"{where}.format_columns")
        for name, template in (source.format_columns or {}).items():
            if not isinstance(template, str) or not template_fields(template, f"{where}.format_columns.{name}"):
                raise RecipeError(f"{where}.format_columns.{name}: expected a text with {{column}} placeholders")
        return source


@dataclass
class PromptArguments:
    """How a row becomes a prompt: shared by training data, generation and evaluation, so a model is always
    asked the way it was trained."""

    prompt_format: str = field(
        default="chat",
        metadata={
            "help": "r1_zero: the DeepSeek-R1-Zero plain template for base models (the prompt opens <think>); "
            "chat: optional system prompt + user turn through the chat template; template: `prompt_template`.",
            "choices": list(PROMPT_FORMATS),
        },
    )
    prompt_column: str = field(default="problem", metadata={"help": "Column holding the question."})
    system_prompt: str | None = field(default=None, metadata={"help": "System turn for the chat format."})
    prompt_template: str | None = field(
        default=None,
        metadata={"help": "Plain-text prompt with {column} placeholders, for prompt_format: template."},
    )

    def __post_init__(self):
        if self.prompt_format not in PROMPT_FORMATS:
            raise RecipeError(f"unknown prompt_format '{self.prompt_format}' (valid: {', '.join(PROMPT_FORMATS)})")
        if (self.prompt_format == "template") != (self.prompt_template is not None):
            raise RecipeError("prompt_template is used with prompt_format: template, and that format needs one")
        if self.system_prompt is not None and self.prompt_format != "chat":
            raise RecipeError("system_prompt only applies to prompt_format: chat")
        _ = self.prompt_fields  # a malformed template fails now, not when the data loads

    @property
    def prompt_fields(self) -> list[str]:
        """Dataset columns the prompt is made from."""
        if self.prompt_template is None:
            return [self.prompt_column]
        names = template_fields(self.prompt_template, "prompt_template")
        if not names:
            raise RecipeError("prompt_template needs {column} placeholders naming dataset columns")
        return names


def template_fields(template: str, where: str) -> list[str]:
    """The columns a `{column}` template names, in order; one line when it is malformed."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise RecipeError(f"{where} is malformed: {exc}") from None
    if any(not n.isidentifier() for n in names):
        raise RecipeError(f"{where} needs {{column}} placeholders naming dataset columns")
    return list(dict.fromkeys(names))


@dataclass
class DataArguments(PromptArguments):
    """Where the rows come from (and, from `PromptArguments`, how a row becomes a prompt)."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub dataset id, a local .jsonl/.json/.parquet/.csv file, or a save_to_disk folder."},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration name."})
    dataset_split: str = field(default="train", metadata={"help": "Split of `dataset_name` to train on."})
    dataset_mixture: list[dict] | str | None = field(
        default=None,
        metadata={
            "help": "Several sources instead of `dataset_name`: a list of {path, name, split, weight, rename, "
            "add_columns}. "
            "weight multiplies a source's row count (0.5 = a random half, 2 = every row twice)."
        },
    )
    rename_columns: dict[str, str] | str | None = field(
        default=None, metadata={"help": "Column renames for `dataset_name`, as {old: new}."}
    )
    test_split_size: float = field(
        default=0.0,
        metadata={"help": "Rows held out for evaluation: a fraction if < 1, a count if >= 1, none if 0."},
    )
    max_samples: int | None = field(
        default=None, metadata={"help": "Keep at most this many training rows (a seeded random subset)."}
    )

    def __post_init__(self):
        if self.dataset_name and self.dataset_mixture:
            raise RecipeError("set either dataset_name or dataset_mixture, not both")
        mixture = parse_structured(self.dataset_mixture, "dataset_mixture", list)
        self.rename_columns = parse_structured(self.rename_columns, "rename_columns")
        if mixture:
            self.sources = [DatasetSource.from_dict(e, f"dataset_mixture[{i}]") for i, e in enumerate(mixture)]
        elif self.dataset_name:
            self.sources = [
                DatasetSource(self.dataset_name, self.dataset_config, self.dataset_split, 1.0, self.rename_columns)
            ]
        else:
            raise RecipeError("no training data: set dataset_name or dataset_mixture")
        for source in self.sources:
            check_dataset_path(source.path)
        if self.test_split_size < 0 or (
            self.test_split_size >= 1 and self.test_split_size != int(self.test_split_size)
        ):
            raise RecipeError(
                f"test_split_size must be a fraction in [0, 1) or a whole count, got {self.test_split_size}"
            )
        if self.max_samples is not None and self.max_samples < 1:
            raise RecipeError(f"max_samples must be >= 1, got {self.max_samples}")
        super().__post_init__()


@dataclass
class SFTDataArguments(DataArguments):
    completion_column: str = field(
        default="solution",
        metadata={"help": "Column holding the target response (unused when the data has a `messages` column)."},
    )


@dataclass
class ModelArguments(trl.ModelConfig):
    """TRL's model fields; the path is checked here so a typo fails before any loading."""

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.lora_target_modules, str) and self.lora_target_modules != "all-linear":
            # TRL unwraps a one-item list into a string, which peft reads as a full-name regex: `[q_proj]`
            # would then match no module
            self.lora_target_modules = [self.lora_target_modules]
        if not self.model_name_or_path:
            raise RecipeError("model_name_or_path is required")
        if self.use_peft and self.lora_r < 1:
            raise RecipeError(f"lora_r must be >= 1, got {self.lora_r}")
        check_model_path(self.model_name_or_path)
        if (self.load_in_4bit or self.load_in_8bit) and not hardware.sizing_elsewhere() and not _has_cuda():
            raise RecipeError(
                "load_in_4bit/load_in_8bit (QLoRA) need a CUDA GPU: bitsandbytes quantizes on CUDA (the `quant` "
                "extra, make install-gpu)"
            )


def _has_cuda() -> bool:
    return hardware.machine().cuda_gpus > 0


@dataclass
class StageArguments:
    """Run-lifecycle fields shared by every stage, the hardware a recipe was sized for, and what happens
    without a GPU (`r1recipes.config.hardware`)."""

    start_over: bool = field(
        default=False,
        metadata={"help": "Delete this stage's checkpoints and stage.json in output_dir and train from step 0."},
    )
    num_processes: int | None = field(
        default=None,
        metadata={
            "help": "Processes (one per GPU) the recipe's batch is sized for; on another count, accumulation is "
            "rescaled to keep the global batch. Setting it makes the recipe a GPU recipe."
        },
    )
    accelerate: str | None = field(
        default=None,
        metadata={"help": "The config of recipes/accelerate_configs/ (no .yaml) make and Slurm launch it with."},
    )

    def __post_init__(self):
        if self.num_processes is not None and self.num_processes < 1:
            raise RecipeError(f"num_processes must be >= 1, got {self.num_processes}")
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise RecipeError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "weight_decay"):
            if not getattr(self, name) >= 0:  # NaN too; torch's optimizer would refuse it once the model is loaded
                raise RecipeError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.use_cpu:
            keep_vllm = getattr(self, "use_vllm", False) and hardware.vllm_on_cpu()
            if self.bf16 or self.fp16 or getattr(self, "use_vllm", False):
                sampler = f"vLLM's CPU build ({hardware.VLLM_ON_CPU}=1)" if keep_vllm else "transformers"
                notice(f"use_cpu: training on the CPU in fp32, sampling with {sampler} (bf16, fp16 off)")
            self.bf16, self.fp16 = False, False
            if hasattr(self, "use_vllm") and not keep_vllm:
                self.use_vllm = False
        elif not hardware.sizing_elsewhere():  # `make check` sizes a launch elsewhere
            features = hardware.gpu_features(vars(self)) + hardware.launched_features()
            hardware.require_gpu(features, vllm=hardware.wants_vllm(vars(self)))
            if not _has_accelerator():
                # use_cpu also makes accelerate pick gloo DDP when launched with several processes
                notice("no GPU found: training on the CPU in fp32")
                self.use_cpu, self.bf16, self.fp16 = True, False, False
        hardware.fit_batch(self, _world_size())
        self.check_batch()
        if hardware.sizing_elsewhere() and not self.use_cpu:
            # transformers refuses bf16 and tf32 where this machine lacks them; the launch sized has them. (Its
            # post-init also makes accelerate's CPU state for this process: `make check` never trains in it.)
            tf32, self.use_cpu, self.tf32 = self.tf32, True, None
            try:
                super().__post_init__()
            finally:
                self.use_cpu, self.tf32 = False, tf32
        else:
            super().__post_init__()
        if not hardware.sizing_elsewhere():  # the launch sized writes on its own machine
            check_writable(self.output_dir, "output_dir")

    def check_batch(self) -> None:
        """Checks of the batch once it fits the processes this run has (GRPO's groups)."""


def _world_size() -> int:
    """The processes of this launch (accelerate and torchrun set WORLD_SIZE), before the trainer starts them, or
    of the launch `make check` sizes."""
    return hardware.sizing_processes() or int(os.environ.get("WORLD_SIZE", "1"))


def _has_accelerator() -> bool:
    import torch

    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or torch.backends.mps.is_available() or bool(xpu and xpu.is_available())


@dataclass
class SFTConfig(StageArguments, trl.SFTConfig):
    pass


@dataclass
class GRPOConfig(StageArguments, trl.GRPOConfig):
    reward_funcs: list[str] = field(
        default_factory=list,
        metadata={"help": "Reward names from r1recipes.rewards, or dotted paths to your own functions."},
    )
    reward_kwargs: dict[str, dict] | str | None = field(
        default=None,
        metadata={"help": "Settings per reward, grouped by its name, e.g. {cosine: {max_len: 4096}}."},
    )
    mean_completion_tokens: int | None = mean_completion_field()

    def __post_init__(self):
        from r1recipes.rewards import check_reward_config

        self.reward_kwargs = parse_structured(self.reward_kwargs, "reward_kwargs") or {}
        check_reward_config(self.reward_funcs, self.reward_kwargs, self.reward_weights)
        counts = ("num_generations", "num_iterations", "max_completion_length", "vllm_tensor_parallel_size")
        for name in [*counts, *(["steps_per_generation"] if self.steps_per_generation is not None else [])]:
            if getattr(self, name) < 1:  # TRL divides by some of them
                raise RecipeError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_mean_completion(self, "max_completion_length")
        if self.use_vllm:
            check_room_for_prompt(self, "vllm_max_model_length", "max_completion_length")
            if self.vllm_enable_sleep_mode and hardware.vllm_on_cpu() and not _has_cuda():
                raise RecipeError(
                    "vllm_enable_sleep_mode: vLLM's CPU build has no sleep mode (its engine refuses to start: 'not "
                    "supported on current platform'); set it to false on a CPU"
                )
        super().__post_init__()

    def check_batch(self) -> None:
        world_size = _world_size()
        if self.generation_batch_size is None and self.num_generations:
            steps = self.steps_per_generation or self.gradient_accumulation_steps
            completions = self.per_device_train_batch_size * world_size * steps
            if completions % self.num_generations:
                raise RecipeError(
                    f"per_device_train_batch_size ({self.per_device_train_batch_size}) x processes ({world_size}) x "
                    f"steps_per_generation ({steps}) = {completions} completions per generation batch, "
                    f"which num_generations ({self.num_generations}) does not divide"
                )


# Fields that change how fast a run goes or which part of it this process does, never what it writes (or that only
# `make check` reads)
GENERATE_RUNTIME_FIELDS = (
    "backend", "batch_size", "tensor_parallel_size", "gpu_memory_utilization", "max_model_length", "verify_processes",
    "num_shards", "shard_index", "start_over", "merge", "mean_completion_tokens",
    "output_dir",  # where the folder is, not what is in it: a copy resumes
)  # fmt: skip


@dataclass
class SamplingArguments:
    """How completions are sampled, for stage 3 generation and for evaluation (`sampling.py`)."""

    num_samples: int = field(default=4, metadata={"help": "Completions sampled per prompt (k)."})
    temperature: float = field(default=0.6, metadata={"help": "Sampling temperature (0 = greedy)."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling mass."})
    max_new_tokens: int = field(default=4096, metadata={"help": "Tokens per completion at most."})
    seed: int = field(default=0, metadata={"help": "Seed; a prompt's samples depend on it and its position only."})
    backend: str = field(
        default="auto",
        metadata={
            "help": "vllm (needs the vllm extra and a GPU), transformers, or auto: vllm when it can run.",
            "choices": ["auto", "vllm", "transformers"],
        },
    )
    batch_size: int = field(default=32, metadata={"help": "transformers backend: completions generated together."})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vllm backend: GPUs per model replica."})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "vllm backend: share of GPU memory."})
    max_model_length: int | None = field(
        default=None,
        metadata={
            "help": "vllm backend: context window in tokens (prompt + max_new_tokens); unset, vLLM sizes its KV "
            "cache for the model's whole context."
        },
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Run the model repository's own code."})
    mean_completion_tokens: int | None = mean_completion_field()

    def __post_init__(self):
        for name in ("num_samples", "max_new_tokens", "batch_size", "tensor_parallel_size"):
            if getattr(self, name) < 1:
                raise RecipeError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_mean_completion(self, "max_new_tokens")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise RecipeError(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature} and {self.top_p}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise RecipeError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        check_room_for_prompt(self, "max_model_length", "max_new_tokens")
        if self.backend == "vllm" and not hardware.sizing_elsewhere():
            hardware.require_gpu(["vLLM (backend: vllm)"], vllm=True, hint=hardware.SAMPLING_CPU_HINT)


@dataclass
class GenerateConfig(SamplingArguments):
    """Stage 3 rejection sampling: sample k completions per prompt, keep the verified, readable ones."""

    output_dir: str | None = field(default=None, metadata={"help": "Folder for the Parquet data and manifest."})
    keep_per_prompt: int | dict[str, int] | str = field(
        default=1,
        metadata={"help": "Accepted completions kept per prompt at most (m); or m by task, as {task: m}."},
    )
    keep_policy: str = field(
        default="random",
        metadata={
            "help": "Which accepted completions to keep: random or shortest.",
            "choices": ["random", "shortest"],
        },
    )
    verifiers: dict[str, str] | str | None = field(
        default=None,
        metadata={"help": f"Reward that verifies each task, as {{task: reward}} (default {DEFAULT_VERIFIERS})."},
    )
    verifier_kwargs: dict[str, dict] | str | None = field(
        default=None, metadata={"help": "Settings per verifying reward, grouped by its name, as reward_kwargs."}
    )
    min_score: float = field(default=1.0, metadata={"help": "A sample is correct when its verifier gives >= this."})
    task_column: str = field(default="task", metadata={"help": "Column naming each prompt's task."})
    default_task: str = field(default="math", metadata={"help": "Task of prompts without a task column."})
    id_column: str | None = field(
        default=None, metadata={"help": "Column with a prompt id for provenance (default: its position)."}
    )
    filters: dict[str, Any] | str | None = field(
        default=None,
        metadata={"help": "Readability filter settings by name, or false to switch one off (all on by default)."},
    )
    non_reasoning: dict[str, Any] | str | None = field(
        default=None,
        metadata={"help": "General data mixed in: {path, name, split, rename, task, count or ratio}."},
    )
    prompts_per_file: int = field(
        default=1000, metadata={"help": "Prompts per Parquet file: the unit of resuming and sharding."}
    )
    verify_processes: int = field(
        default=1,
        metadata={"help": "Processes verifying while the model generates; 0 verifies here, between chunks."},
    )
    num_shards: int = field(default=1, metadata={"help": "Split the prompts into this many independent shards."})
    shard_index: int = field(default=0, metadata={"help": "The shard this run generates (0-based)."})
    start_over: bool = field(default=False, metadata={"help": "Delete output_dir's generated data first."})
    merge: bool = field(
        default=False,
        metadata={"help": "Generate nothing: check every shard is done, then mix and write the manifest."},
    )

    def keep_for(self, task: str) -> int:
        """m for a task's prompts (scan_prompts checks that a mapping names every task of the data)."""
        return self.keep_per_prompt if isinstance(self.keep_per_prompt, int) else self.keep_per_prompt[task]

    def __post_init__(self):
        from r1recipes.generation.readability import check_filters
        from r1recipes.rewards import check_reward_config

        if not self.output_dir:
            raise RecipeError("output_dir is required")
        super().__post_init__()
        for name in ("prompts_per_file", "num_shards"):
            if getattr(self, name) < 1:
                raise RecipeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.verify_processes < 0:
            raise RecipeError(f"verify_processes must be >= 0, got {self.verify_processes}")
        keep = yaml.safe_load(self.keep_per_prompt) if isinstance(self.keep_per_prompt, str) else self.keep_per_prompt
        values = list(keep.values()) if isinstance(keep, dict) else [keep]
        if not values or not all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in values):
            raise RecipeError(f"keep_per_prompt: expected a whole number >= 1 or {{task: number}}, got {keep!r}")
        if max(values) > self.num_samples:
            raise RecipeError(f"keep_per_prompt ({max(values)}) exceeds num_samples ({self.num_samples})")
        self.keep_per_prompt = keep
        if not 0 <= self.shard_index < self.num_shards:
            raise RecipeError(f"shard_index must be in 0..{self.num_shards - 1}, got {self.shard_index}")
        if self.start_over and self.merge:  # the merge would find nothing left to merge
            raise RecipeError("start_over would delete the chunks merge is to mix: use one or the other")
        self.verifiers = parse_structured(self.verifiers, "verifiers") or dict(DEFAULT_VERIFIERS)
        if isinstance(self.keep_per_prompt, dict) and set(self.keep_per_prompt) - set(self.verifiers):
            unknown = sorted(set(self.keep_per_prompt) - set(self.verifiers))[0]
            raise RecipeError(f"keep_per_prompt names task '{unknown}', which verifiers does not ({self.verifiers})")
        self.verifier_kwargs = parse_structured(self.verifier_kwargs, "verifier_kwargs") or {}
        if not self.verifiers or not all(isinstance(v, str) for v in self.verifiers.values()):
            raise RecipeError(f"verifiers: expected a mapping of task names to reward names, got {self.verifiers!r}")
        try:
            check_reward_config(sorted(set(self.verifiers.values())), self.verifier_kwargs, None)
        except RecipeError as exc:
            raise RecipeError(f"verifiers: {str(exc).replace('reward_kwargs', 'verifier_kwargs')}") from None
        self.filters = check_filters(parse_structured(self.filters, "filters"))
        self.non_reasoning = parse_structured(self.non_reasoning, "non_reasoning")
        if self.non_reasoning is not None:
            self.non_reasoning = NonReasoningSource.from_dict(self.non_reasoning)


@dataclass
class NonReasoningSource:
    """`non_reasoning`: general data (writing, QA, chat) mixed into the SFT set, as R1 mixed ~200k samples.

    Rows need a `messages` column, or `prompt` and `response` columns (after `rename`). `count` takes the
    first rows; `ratio` takes that many per kept reasoning row (R1: about 200k per 600k, 0.33)."""

    path: str
    name: str | None = None
    split: str = "train"
    rename: dict[str, str] | None = None
    task: str = "general"
    count: int | None = None
    ratio: float | None = None

    @classmethod
    def from_dict(cls, entry: dict) -> "NonReasoningSource":
        allowed = cls.__dataclass_fields__.keys()
        unknown = sorted(set(entry) - set(allowed))
        if unknown:
            raise RecipeError(f"non_reasoning: unknown key '{unknown[0]}' (valid keys: {', '.join(allowed)})")
        if "path" not in entry:
            raise RecipeError("non_reasoning: 'path' is required")
        source = cls(**entry)
        if (source.count is None) == (source.ratio is None):
            raise RecipeError("non_reasoning: set exactly one of 'count' (rows) and 'ratio' (rows per kept sample)")
        amount = source.count if source.count is not None else source.ratio
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise RecipeError(f"non_reasoning: count/ratio must be a number >= 0, got {amount!r}")
        if source.count is not None and not isinstance(source.count, int):
            raise RecipeError(f"non_reasoning: count must be a whole number, got {source.count!r}")
        source.rename = parse_structured(source.rename, "non_reasoning.rename")
        check_dataset_path(source.path)
        return source

    @property
    def dataset_source(self) -> DatasetSource:
        return DatasetSource(self.path, self.name, self.split, 1.0, self.rename)
