"""What every recipe of a run passes before anything starts: the machine it asks for, its ARGS overrides, its
trackers, its output and inputs, its Hub ids, and the pipeline's evaluation recipe. `make` and Slurm (through
`pipeline.py`) and `make check` (`sizing/check.py`) run the same checks; a problem is one RecipeError line.
"""

import difflib
import functools
import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from r1recipes import RecipeError
from r1recipes.config import hardware
from r1recipes.config.paths import check_hub_id
from r1recipes.config.recipes import (
    ACCELERATE_CONFIGS,
    BUILT_INPUTS,
    RECIPES,
    TRAINERS,
    RecipeFile,
    check_output,
    missing_inputs,
    producers,
    runner_of,
)
from r1recipes.training import tracking


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


@functools.cache
def runner_parser(runner: str):
    """The parser of a runner (`sft`, `grpo`, `generate`, `evaluate`): its fields say which keys it takes."""
    return importlib.import_module(f"r1recipes.{runner}").make_parser()


def check_overrides(recipe: RecipeFile) -> None:
    """Each ARGS key must be a field of the recipe's runner, so a typo fails before any stage starts."""
    parser = runner_parser(recipe.runner)
    for token in recipe.overrides:
        key = token[2:].partition("=")[0] if token.startswith("--") else None
        if key is not None and key not in parser.fields:
            raise RecipeError(f"ARGS: {recipe.path} has no key '{key}'{parser.suggest(key)}")


@dataclass
class Override:
    """One ARGS override: `--key value`, `--key=value`, a flag `--key`, or aimed at one recipe of the run by its
    file name, `stage3_sft.key=value` (also `--stage3_sft.key value`)."""

    text: str  # as written, for messages
    key: str
    tokens: list[str]  # as the runner reads them
    recipe: str | None = None  # a recipe's file name without .yaml


_AIMED = re.compile(r"^(?:--)?([A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)\.([A-Za-z_][A-Za-z0-9_]*)(=.*)?$", re.S)


def parse_overrides(tokens: list[str]) -> list[Override]:
    """ARGS split into overrides (a value never starts with `--`; an aimed `name.key=value` is never a value)."""
    overrides, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        aimed = _AIMED.match(token)
        if not token.startswith("--") and not (aimed and aimed.group(3)):
            raise RecipeError(f"ARGS: expected --key value, --key=value or recipe.key=value, got '{token}'")
        name, has_value, value = token.lstrip("-").partition("=")
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        takes_next = not has_value and nxt is not None and not nxt.startswith("--")
        if takes_next and _AIMED.match(nxt) and _AIMED.match(nxt).group(3):
            takes_next = False
        text = " ".join(tokens[i : i + 1 + takes_next])
        recipe = None
        if aimed:  # `name.key`: a dot is in no runner's field names
            recipe, name = aimed.group(1), aimed.group(2)
        flag = f"--{name}"
        parts = [f"{flag}={value}"] if has_value else [flag, *([nxt] if takes_next else [])]
        overrides.append(Override(text, name, parts, recipe))
        i += 1 + takes_next
    return overrides


def assign_overrides(paths: list[Path], tokens: list[str]) -> dict[Path, list[str]]:
    """Each recipe's share of ARGS: a plain override goes to every recipe of the run whose runner has the key
    (`--learning_rate` to the trainers, not to stage 3's generator); one aimed at a recipe goes to it alone and is
    put last, so it wins over a plain one. Refused, in one line: a key no recipe of the run has, an aimed override
    whose recipe is not in the run or lacks the key."""
    shares: dict[Path, list[str]] = {path: [] for path in paths}
    aimed: dict[Path, list[str]] = {path: [] for path in paths}
    by_name = {Path(path).stem: path for path in paths}
    fields = {path: runner_parser(runner_of(path)).fields for path in paths}
    for override in parse_overrides(tokens):
        if override.recipe is not None:
            path = by_name.get(override.recipe)
            if path is None:
                names = ", ".join(by_name) or "none"
                raise RecipeError(f"ARGS: '{override.text}' names no recipe of this run (its recipes: {names})")
            if override.key not in fields[path]:
                suggestion = runner_parser(runner_of(path)).suggest(override.key)
                raise RecipeError(f"ARGS: {path} has no key '{override.key}'{suggestion}")
            aimed[path] += override.tokens
            continue
        takers = [path for path in paths if override.key in fields[path]]
        if not takers and len(paths) == 1:
            suggestion = runner_parser(runner_of(paths[0])).suggest(override.key)
            raise RecipeError(f"ARGS: {paths[0]} has no key '{override.key}'{suggestion}")
        if not takers:
            close = difflib.get_close_matches(override.key, {k for f in fields.values() for k in f}, n=1)
            suggestion = f" (did you mean '{close[0]}'?)" if close else ""
            names = ", ".join(by_name)
            raise RecipeError(
                f"ARGS: no recipe of this run has key '{override.key}'{suggestion} (its recipes: {names})"
            )
        for path in takers:
            shares[path] += override.tokens
    return {path: shares[path] + aimed[path] for path in paths}


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
