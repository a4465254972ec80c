"""The recipe tree: which file is which stage, which runner reads it, and how stages chain through paths.

`recipes/<MODEL>/` holds one YAML per stage under fixed names (`STAGES`, plus `distill_<student>.yaml`).
Stages chain through the paths in their YAML: an input (`model_name_or_path`, `dataset_name`, a mixture's
`path`, `non_reasoning.path`, a reward model) that is another recipe's `output_dir` is that recipe's product,
ready once its `stage.json` exists. Inputs under `runs/models/` and `runs/data/` that the package itself
makes (tiny and SmolLM2 models, synthetic data) are built on first use (`BUILT_INPUTS`).
"""

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from r1recipes import RecipeError
from r1recipes.config.paths import LOCAL_FORMATS, looks_local
from r1recipes.files import STAGE_FILE

RECIPES = Path("recipes")  # relative to the repository root, where make runs
ACCELERATE_CONFIGS = "accelerate_configs"
STAGES = {
    "stage1": ("stage1_cold_start_sft",),
    "stage2": ("stage2_reasoning_grpo",),
    "stage3": ("stage3_rejection_sampling", "stage3_sft"),
    "stage4": ("stage4_all_scenario_grpo",),
    "zero": ("zero_grpo",),
    "tinyzero": ("tinyzero_countdown_grpo",),
}
PIPELINE = ("stage1", "stage2", "stage3", "stage4")  # then every distill_<student>
EVALUATION = "eval.yaml"  # a folder's evaluation settings: `make pipeline` evaluates every stage with them
# eval_<output>.yaml: the evaluation of one output of the folder instead (eval_zero.yaml: the R1-Zero run, whose
# prompts are R1-Zero's template); `make zero` and the other targets evaluate what such a file names
EVALUATION_FOR = "eval_{}.yaml"
DISTILL = "distill_"
TRAINERS = ("sft", "grpo")  # runners whose output is a model to evaluate
# eval/<output>_start: the starting model of a recipe that starts from neither the run's starting model nor another
# of its outputs (a student before distillation), evaluated by `make pipeline` so the recipe has its own baseline
START = "_start"

# Inputs the package makes itself, in build order (a reward model after its base): path -> `python -m` argv,
# to which `--output <path>` is added
BUILT_INPUTS = {
    "runs/models/tiny": ["r1recipes.models", "tiny"],
    "runs/models/tiny-student": ["r1recipes.models", "tiny", "--seed", "1"],
    "runs/models/tiny-reward": ["r1recipes.models", "reward", "--input", "runs/models/tiny"],
    "runs/models/SmolLM2-135M-Instruct": ["r1recipes.models", "smol"],
    "runs/models/SmolLM2-135M-reward": ["r1recipes.models", "reward", "--input", "runs/models/SmolLM2-135M-Instruct"],
    "runs/data/arithmetic.jsonl": ["r1recipes.synthetic", "arithmetic", "--num_rows", "256", "--max_value", "9"],
    "runs/data/countdown.jsonl": ["r1recipes.synthetic", "countdown", "--num_rows", "256"],
    # the SmolLM2 demo's tasks, the same settings as the `word_problems` and `countdown3` benchmarks
    "runs/data/word_problems.jsonl": ["r1recipes.synthetic", "word_problems", "--num_rows", "512"],
    "runs/data/countdown3.jsonl": ["r1recipes.synthetic", "countdown3", "--num_rows", "512"],
    "runs/data/general.jsonl": ["r1recipes.synthetic", "general", "--num_rows", "64"],
    "runs/data/code.jsonl": ["r1recipes.synthetic", "code", "--num_rows", "64"],
}


def build_command(path: str) -> list[str]:
    return [sys.executable, "-m", *BUILT_INPUTS[path], "--output", path]


def runner_of(path: Path) -> str:
    """The module that reads a recipe, from its file name."""
    if is_evaluation(path):
        return "evaluate"
    return "grpo" if "grpo" in path.stem else "generate" if "rejection_sampling" in path.stem else "sft"


def _norm(path: str) -> str:
    return os.path.normpath(path)


def _value(text: str):
    """A command-line value as the recipe would hold it (the runner's own parser judges it later)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _overlap(a: str, b: str) -> bool:
    """The same folder, or one inside the other."""
    return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


@dataclass
class RecipeFile:
    """A recipe's YAML as a mapping, with the command-line overrides a run adds applied on top."""

    path: Path
    config: dict
    overrides: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, overrides: list[str] | None = None) -> "RecipeFile":
        if not Path(path).is_file():
            raise RecipeError(f"recipe not found: {path}")
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise RecipeError(f"{path}: not readable as YAML: {str(exc).splitlines()[0]}") from None
        return cls.from_text(path, text, overrides)

    @classmethod
    def from_text(cls, path: Path, text: str, overrides: list[str] | None = None) -> "RecipeFile":
        """A recipe from its contents (as `stage.json` records them), named `path`."""
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise RecipeError(f"{path}: not readable as YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(config, dict):
            raise RecipeError(f"{path}: expected a mapping of keys to values")
        overrides = list(overrides or [])
        for i, token in enumerate(overrides):  # `--key value` or `--key=value`, as the runners read them
            if token.startswith("--"):
                key, has_value, value = token[2:].partition("=")
                if has_value or i + 1 < len(overrides):
                    config[key] = _value(value if has_value else overrides[i + 1])
        return cls(Path(path), config, overrides)

    @property
    def runner(self) -> str:
        return runner_of(self.path)

    @property
    def output_dir(self) -> str:
        key = "output" if self.runner == "evaluate" else "output_dir"  # an evaluation's folder, given to it
        out = self.config.get(key)
        if not isinstance(out, str) or not out:
            raise RecipeError(f"{self.path}: {key} is required")
        return _norm(out)

    def _named_sources(self) -> dict[str, tuple[str, str]]:
        """key -> (path or Hub id, "model" or "dataset") for everything the recipe reads."""
        config = self.config
        found = {
            "model_name_or_path": (config.get("model_name_or_path"), "model"),
            "dataset_name": (config.get("dataset_name"), "dataset"),
        }
        mixture, rewards = config.get("dataset_mixture"), config.get("reward_kwargs")
        for i, source in enumerate(mixture if isinstance(mixture, list) else []):
            found[f"dataset_mixture[{i}].path"] = (isinstance(source, dict) and source.get("path"), "dataset")
        if isinstance(config.get("non_reasoning"), dict):
            found["non_reasoning.path"] = (config["non_reasoning"].get("path"), "dataset")
        for name, settings in (rewards if isinstance(rewards, dict) else {}).items():
            if isinstance(settings, dict):
                found[f"reward_kwargs.{name}.model_name_or_path"] = (settings.get("model_name_or_path"), "model")
        return {key: (value, kind) for key, (value, kind) in found.items() if isinstance(value, str) and value}

    @property
    def inputs(self) -> dict[str, str]:
        """The local paths the recipe reads, by the key that names them."""
        return {
            key: _norm(value)
            for key, (value, _) in self._named_sources().items()
            if looks_local(value, (".gguf", *LOCAL_FORMATS))
        }

    @property
    def hub_ids(self) -> dict[str, tuple[str, str]]:
        """The Hub ids the recipe reads, by the key that names them: (id, "model" or "dataset")."""
        return {
            key: (value, kind)
            for key, (value, kind) in self._named_sources().items()
            if not looks_local(value, (".gguf", *LOCAL_FORMATS))
        }

    @property
    def cpu_by_choice(self) -> bool:
        """`use_cpu: true` (or ARGS="--use_cpu true"): run on the CPU whatever the recipe asks of a GPU."""
        return self.config.get("use_cpu") is True

    @property
    def complete(self) -> bool:
        return (Path(self.output_dir) / STAGE_FILE).exists()


def is_evaluation(path: Path) -> bool:
    """eval.yaml or eval_<output>.yaml: evaluation settings, not a stage."""
    return Path(path).name == EVALUATION or Path(path).stem.startswith("eval_")


def evaluation_for(folder: Path, name: str, specific_only: bool = False) -> Path | None:
    """The evaluation recipe of a folder's output `name` (base, stage1, zero...): eval_<name>.yaml, else
    (unless `specific_only`) the folder's eval.yaml; None without either. `<output>_start` is evaluated as
    `<output>` is, so that the two are compared on the same settings."""
    specific = folder / EVALUATION_FOR.format(name.removesuffix(START))
    for path in (specific, None if specific_only else folder / EVALUATION):
        if path is not None and path.is_file():
            return path
    return None


def stage_files(root: Path = RECIPES) -> list[Path]:
    """Every stage recipe of the tree (the accelerate configs and evaluation settings are not stages)."""
    return sorted(
        p for p in root.rglob("*.yaml") if ACCELERATE_CONFIGS not in p.relative_to(root).parts and not is_evaluation(p)
    )


def model_folders(root: Path = RECIPES) -> list[str]:
    if not root.is_dir():
        raise RecipeError(f"no {root}/ folder here: run from the repository root")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != ACCELERATE_CONFIGS)


def model_folder(model: str | None, root: Path = RECIPES) -> Path:
    folders = model_folders(root)
    if not model:
        raise RecipeError(f"MODEL is required: one of {', '.join(folders)}")
    if model not in folders:
        raise RecipeError(f"unknown MODEL '{model}': {root}/ has {', '.join(folders)}")
    return root / model


def students(folder: Path) -> list[str]:
    return sorted(p.stem.removeprefix(DISTILL) for p in folder.glob(f"{DISTILL}*.yaml"))


def stage_recipes(folder: Path, stage: str, student: str | None = None) -> list[Path]:
    """The recipe files a make target runs, in order."""
    if stage == "distill":
        names = students(folder)
        if not student or student not in names:
            what = f"unknown STUDENT '{student}'" if student else "STUDENT is required"
            raise RecipeError(f"{what}: {folder} has {', '.join(names) or 'no distill_*.yaml'}")
        stems = (f"{DISTILL}{student}",)
    elif stage in STAGES:
        stems = STAGES[stage]
    else:
        raise RecipeError(f"unknown stage '{stage}' (valid: {', '.join([*STAGES, 'distill'])})")
    paths = [folder / f"{stem}.yaml" for stem in stems]
    for path in paths:
        if not path.exists():
            have = ", ".join(p.name for p in sorted(folder.glob("*.yaml")))
            raise RecipeError(f"{folder} has no {path.name} for `{stage}` (it has: {have})")
    return paths


def pipeline_recipes(folder: Path) -> list[Path]:
    """Stages 1-4, then every student."""
    stages = [p for stage in PIPELINE for p in stage_recipes(folder, stage)]
    return stages + [folder / f"{DISTILL}{s}.yaml" for s in students(folder)]


def folder_recipes(folder: Path) -> list[Path]:
    """What `make pipeline` runs of a folder, in order: stages 1-4 then every student; a folder without stage 1
    (TinyZero's, the RL demo's) runs each of its recipes, by name."""
    if (folder / f"{STAGES['stage1'][0]}.yaml").exists():
        return pipeline_recipes(folder)
    return stage_files(folder)


def starting_points(recipes: list[RecipeFile]) -> dict[str, tuple[str, str]]:
    """What each trained recipe of a run is compared with: its output's name -> (the evaluation's name, the model
    it evaluates). `recipes` are the run's, in pipeline order (`folder_recipes`, then any other recipe of the
    folder); the run's starting model is the first recipe's `model_name_or_path`, evaluated as `base`. The model a
    recipe starts from is
    - another output of the run: that output (stage 2 against stage 1, stage 4 against stage 3);
    - the run's starting model: `base` (stage 1; an R1-Zero or TinyZero run), except an SFT recipe that is not the
      first trained recipe: the first trained recipe's output (stage 3, SFT of the base on stage 2's verified
      samples, against stage 1, the base fine-tuned on the cold-start data alone: both start from the base, and
      whether the samples beat the cold start is what R1's design is about);
    - another model (a student before distillation): its own evaluation, `<output>_start`."""
    if not recipes:
        return {}
    base = str(recipes[0].config.get("model_name_or_path", ""))
    outputs = {recipe.output_dir: Path(recipe.output_dir).name for recipe in recipes}
    trained = [recipe for recipe in recipes if recipe.runner in TRAINERS]
    found = {}
    for recipe in trained:
        name, model = Path(recipe.output_dir).name, str(recipe.config.get("model_name_or_path", ""))
        if _norm(model) in outputs:
            found[name] = (outputs[_norm(model)], _norm(model))
        elif _norm(model) != _norm(base):
            found[name] = (name + START, model)
        elif recipe.runner == "sft" and recipe is not trained[0]:
            found[name] = (Path(trained[0].output_dir).name, trained[0].output_dir)
        else:
            found[name] = ("base", base)
    return found


def start_evaluations(recipes: list[RecipeFile]) -> dict[str, str]:
    """`<output>_start` -> the model, for each trained recipe of a run that starts from a model of its own (a
    student): the evaluations `make pipeline` adds so that such a recipe has a baseline (`starting_points`)."""
    return {start: model for start, model in starting_points(recipes).values() if start.endswith(START)}


def prerequisites(paths: list[Path], root: Path = RECIPES) -> list[Path]:
    """The recipes of other folders whose outputs `paths` read, each before its readers (the RL demo reads the
    SmolLM2 demo's stage 1): `make pipeline` runs those first, unless they are complete."""
    owners, found, seen = producers(root), [], set(paths)

    def visit(path: Path) -> None:
        for local in RecipeFile.load(path).inputs.values():
            owner = owners.get(local)
            if owner is not None and owner not in seen:  # seen before visiting: two recipes reading each other end
                seen.add(owner)
                visit(owner)
                found.append(owner)

    for path in paths:
        visit(path)
    return found


def make_command(path: Path) -> str:
    """The command that produces a recipe's output, for error messages."""
    model = path.parent.name
    for stage, stems in STAGES.items():
        if path.stem in stems:
            return f"make {stage} MODEL={model}"
    if path.stem.startswith(DISTILL):
        return f"make distill MODEL={model} STUDENT={path.stem.removeprefix(DISTILL)}"
    return f"python -m r1recipes.{runner_of(path)} --config {path}"


def producers(root: Path = RECIPES) -> dict[str, Path]:
    """output_dir -> the recipe that writes it; two recipes writing the same or nested folders is an error."""
    owners: dict[str, Path] = {}
    for path in stage_files(root):
        out = RecipeFile.load(path).output_dir
        for other, owner in owners.items():
            if _overlap(out, other):
                raise RecipeError(f"{path} and {owner} both write to {out if out == other else other}")
        owners[out] = path
    return owners


def check_output(recipe: RecipeFile, owners: dict[str, Path]) -> None:
    """A recipe (after overrides) must not write into another stage's output, nor into one of its inputs."""
    out = recipe.output_dir
    for other, owner in owners.items():
        if owner.resolve() != recipe.path.resolve() and _overlap(out, other):
            raise RecipeError(f"{recipe.path}: output_dir {out} would overwrite {other}, the output of {owner}")
    for key, path in recipe.inputs.items():
        if path == out:
            raise RecipeError(f"{recipe.path}: output_dir {out} is also its {key}")


def missing_inputs(recipe: RecipeFile, owners: dict[str, Path], made_before: set[str]) -> list[str]:
    """Inputs the package must build first; an input another stage makes must be complete (or be made by an
    earlier recipe of this run, `made_before`); any other input must exist."""
    to_build = []
    for key, path in recipe.inputs.items():
        owner = owners.get(path)
        if owner is not None:
            if path not in made_before and not (Path(path) / STAGE_FILE).exists():
                raise RecipeError(
                    f"{recipe.path}: {key} {path} is not complete (no {STAGE_FILE}): run `{make_command(owner)}` first"
                )
        elif path in BUILT_INPUTS:
            if not Path(path).exists():
                to_build.append(path)
        elif not Path(path).exists():
            raise RecipeError(f"{recipe.path}: {key} {path} does not exist and no recipe under recipes/ writes it")
    return to_build


def fork(source: str, target: str, root: Path = RECIPES) -> tuple[Path, int]:
    """Copy a model folder and point its outputs (and the chain between them) at `runs/<target>/`."""
    folder = model_folder(source, root)
    if not target or os.sep in target or target.startswith("."):
        raise RecipeError(f"TO must be a new folder name, got '{target}'")
    destination = root / target
    if destination.exists():
        raise RecipeError(f"{destination} already exists")
    replacements = {f"runs/{source}/": f"runs/{target}/", f"MODEL={source}": f"MODEL={target}"}
    replacements[f"recipes/{source}/"] = f"recipes/{target}/"
    written, rewritten = {}, 0
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text()
        for old, new in replacements.items():
            rewritten += text.count(old)
            text = text.replace(old, new)
        written[destination / path.name] = text
    destination.mkdir()
    try:
        for path, text in written.items():
            path.write_text(text)
        producers(root)  # the fork must not write where any recipe writes
    except RecipeError:
        shutil.rmtree(destination)
        raise
    return destination, rewritten
