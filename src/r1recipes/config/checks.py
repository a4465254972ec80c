"""What every recipe of a run passes before anything starts: the machine it asks for, its ARGS overrides, its
trackers, its output and inputs, its Hub ids, and the pipeline's evaluation recipe. `make` and Slurm (through
`pipeline.py`) and `make check` (`sizing/check.py`) run the same checks; a problem is one RecipeError line.
"""

import importlib
import shlex
from pathlib import Path

from r1recipes import RecipeError
from r1recipes.config import hardware
from r1recipes.config.paths import check_hub_id
from r1recipes.config.recipes import (
    ACCELERATE_CONFIGS,
    BUILT_INPUTS,
    RECIPES,
    RecipeFile,
    check_output,
    missing_inputs,
    producers,
)
from r1recipes.training import tracking

TRAINERS = ("sft", "grpo")  # runners whose output is a model to evaluate


def accelerate_choice(recipe: RecipeFile, accelerate: str | None) -> str | None:
    """ACCELERATE=, else the recipe's own `accelerate`, unless the recipe is run on the CPU by choice."""
    if accelerate:
        return accelerate
    value = recipe.config.get("accelerate")
    return value if isinstance(value, str) and value and not recipe.cpu_by_choice else None


def accelerate_config(name: str) -> Path:
    config = RECIPES / ACCELERATE_CONFIGS / f"{name}.yaml"
    if not config.exists():
        names = sorted(p.stem for p in config.parent.glob("*.yaml"))
        raise RecipeError(f"unknown ACCELERATE '{name}' (valid: {', '.join(names)})")
    return config


def check_hardware(recipe: RecipeFile, accelerate: str | None) -> None:
    """A recipe that asks for a GPU (or vLLM) this machine lacks stops the run before anything is built."""
    if recipe.cpu_by_choice:
        return
    features = hardware.gpu_features(recipe.config)
    chosen = accelerate_choice(recipe, accelerate)
    if chosen:
        features += hardware.accelerate_launch_features(accelerate_config(chosen))
    try:
        hint = hardware.CPU_HINT if recipe.runner in TRAINERS else hardware.SAMPLING_CPU_HINT
        hardware.require_gpu(features, vllm=hardware.wants_vllm(recipe.config), hint=hint)
    except RecipeError as exc:
        raise RecipeError(f"{recipe.path}: {exc}") from None


def check_hub_ids(recipe: RecipeFile) -> None:
    """Every Hub id the recipe reads exists (online), or is usable offline (models in the cache)."""
    for key, (name, kind) in recipe.hub_ids.items():
        try:
            check_hub_id(name, kind)
        except RecipeError as exc:
            raise RecipeError(f"{recipe.path}: {key}: {exc}") from None


def check_overrides(recipe: RecipeFile) -> None:
    """Each ARGS key must be a field of the recipe's runner, so a typo fails before any stage starts."""
    parser = importlib.import_module(f"r1recipes.{recipe.runner}").make_parser()
    for token in recipe.overrides:
        key = token[2:].partition("=")[0] if token.startswith("--") else None
        if key is not None and key not in parser.fields:
            raise RecipeError(f"ARGS: {recipe.path} has no key '{key}'{parser.suggest(key)}")


def check_trackers(recipe: RecipeFile) -> None:
    """The trackers a training recipe reports to (after REPORT_TO) are known and installed."""
    try:
        tracking.check_installed(tracking.trackers(recipe.config.get("report_to")))
    except RecipeError as exc:
        raise RecipeError(f"{recipe.path}: {exc}") from None


def check_run(recipes: list[RecipeFile], accelerate: str | None = None) -> list[str]:
    """Check every recipe of a run before any starts (the machine, overrides, outputs, inputs, Hub ids); return
    the inputs the package must build first."""
    owners = producers()
    to_build, made = [], set()
    for recipe in recipes:
        check_hardware(recipe, accelerate)
    for recipe in recipes:
        if recipe.runner in TRAINERS:
            check_trackers(recipe)
        if recipe.overrides:
            check_overrides(recipe)
        check_output(recipe, owners)
        to_build += [p for p in missing_inputs(recipe, owners, made) if p not in to_build]
        made.add(recipe.output_dir)
    for recipe in recipes:
        check_hub_ids(recipe)
    return [p for p in BUILT_INPUTS if p in to_build]  # build order: a reward model after its base


def check_evaluation(evaluation: Path, eval_args: str = "") -> None:
    """The pipeline's evaluation recipe, with EVAL_ARGS, parses as `python -m r1recipes.evaluate` reads it, and
    leaves the model and output folder to the pipeline."""
    recipe = RecipeFile.load(evaluation, shlex.split(eval_args))
    taken = [key for key in ("model", "output") if key in recipe.config]
    if taken:
        raise RecipeError(f"{evaluation}: '{taken[0]}' is set by the pipeline for each stage; remove it")
    parser = importlib.import_module("r1recipes.evaluate").make_parser()
    try:  # "." exists: no model check
        parser.parse(["--config", str(evaluation), "--model", ".", "--output", ".", *recipe.overrides])
    except RecipeError as exc:
        raise RecipeError(f"EVAL_ARGS: {exc}" if eval_args else str(exc)) from None
