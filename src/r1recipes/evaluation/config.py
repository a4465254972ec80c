"""Evaluation's settings: the sampling fields every sampler shares, the model, the benchmarks and where their files
and the results are. It sits with evaluation, not with the runners' arguments in `config/`, because it checks
benchmark names against the benchmark table, which reads data through `config/`."""

import os
from dataclasses import dataclass, field

from r1recipes import RecipeError
from r1recipes.config.arguments import SamplingArguments, parse_structured
from r1recipes.config.paths import check_model_path, looks_local
from r1recipes.evaluation.benchmarks import BENCHMARKS, DEFAULT_BENCHMARKS, benchmark_names, check_names
from r1recipes.evaluation.results import EVAL

# Fields that change how fast an evaluation goes, or what else it covers, never a benchmark's results (or that only
# `make check` reads)
EVALUATE_RUNTIME_FIELDS = (
    "backend", "batch_size", "tensor_parallel_size", "gpu_memory_utilization", "max_model_length", "benchmarks",
    "data_file", "data_dir", "output", "start_over", "mean_completion_tokens",
)  # fmt: skip


@dataclass
class EvaluateConfig(SamplingArguments):
    """Evaluation: k samples per benchmark problem, scored by the verifiers that reward training."""

    model: str | None = field(default=None, metadata={"help": "Model folder, .gguf file or Hub id."})
    benchmarks: list[str] | str | None = field(
        default=DEFAULT_BENCHMARKS,
        metadata={"help": "Benchmark names, comma-separated (see r1recipes.evaluation.benchmarks)."},
    )
    output: str | None = field(
        default=None,
        metadata={"help": "Folder for results.json and samples.jsonl (default: runs/<run>/eval/<stage> for a "
                  "model in runs/<run>/<stage>, else runs/eval/<model name>)."},
    )  # fmt: skip
    data_file: dict[str, str] | str | None = field(
        default=None,
        metadata={"help": "Local files instead of the Hub: {benchmark: path}, or one path for one benchmark."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": "A folder of benchmark files named as in ../shared/data/benchmarks (math500.jsonl, ...)."},
    )
    max_problems: int | None = field(default=None, metadata={"help": "Evaluate the first N problems of each."})
    benchmark_samples: dict[str, int] | str | None = field(
        default=None,
        metadata={"help": "Samples per problem by benchmark, as {aime24: 64, math500: 4}; others take num_samples."},
    )
    start_over: bool = field(default=False, metadata={"help": "Delete output's results and samples first."})

    def samples_for(self, benchmark: str) -> int:
        """k, the samples per problem of a benchmark: benchmark_samples', else num_samples."""
        return self.benchmark_samples.get(benchmark, self.num_samples)

    def __post_init__(self):
        super().__post_init__()
        if not self.model:
            raise RecipeError("--model is required (a model folder, .gguf file or Hub id)")
        check_model_path(self.model)
        self.benchmarks = check_names(benchmark_names(self.benchmarks))
        if self.max_problems is not None and self.max_problems < 1:
            raise RecipeError(f"max_problems must be >= 1, got {self.max_problems}")
        ks = parse_structured(self.benchmark_samples, "benchmark_samples") or {}
        for name, k in ks.items():  # a benchmark not evaluated this time may be named (a recipe's, with --benchmarks)
            if name not in BENCHMARKS:
                raise RecipeError(f"benchmark_samples: unknown benchmark '{name}' (valid: {', '.join(BENCHMARKS)})")
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise RecipeError(f"benchmark_samples.{name}: expected a whole number >= 1, got {k!r}")
        self.benchmark_samples = ks
        files = self.data_file
        if isinstance(files, str) and "=" not in files and not files.lstrip().startswith("{"):
            if len(self.benchmarks) != 1:
                raise RecipeError("data_file: one path fits one benchmark; name each: {math500: a.jsonl, ...}")
            files = {self.benchmarks[0]: files}
        elif isinstance(files, str) and not files.lstrip().startswith("{"):  # math500=a.jsonl,gsm8k=b.jsonl
            files = dict(pair.split("=", 1) for pair in files.split(","))
        files = parse_structured(files, "data_file") or {}
        unknown = [name for name in files if name not in self.benchmarks]
        if unknown:
            raise RecipeError(f"data_file: '{unknown[0]}' is not one of --benchmarks ({', '.join(self.benchmarks)})")
        if self.data_dir:
            if not os.path.isdir(self.data_dir):
                raise RecipeError(f"data_dir not found: {self.data_dir}")
            for name in self.benchmarks:
                path = os.path.join(self.data_dir, BENCHMARKS[name].file or "")
                if BENCHMARKS[name].file and os.path.isfile(path):
                    files.setdefault(name, path)
        for name, path in files.items():
            if not os.path.isfile(path):
                raise RecipeError(f"data_file for {name} not found: {path}")
        self.data_file = files
        if self.output is None:
            self.output = default_output(self.model)


def default_output(model: str) -> str:
    """runs/<run>/eval/<stage> for a model in runs/<run>/<stage>; else runs/eval/<model name>."""
    parts = os.path.normpath(model).split(os.sep)
    if len(parts) >= 3 and parts[-3] == "runs" and parts[-2] != "models":
        return os.path.join(*parts[:-1], EVAL, parts[-1])
    name = os.path.basename(os.path.normpath(model)).removesuffix(".gguf") if looks_local(model) else model
    return os.path.join("runs", EVAL, name.replace("/", "__"))  # a Hub id: Qwen__Qwen2.5-7B
