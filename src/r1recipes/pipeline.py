"""What `make` and the Slurm scripts call: run a stage, the whole pipeline, one recipe; fork; read a recipe.

    python -m r1recipes.pipeline run stage2 --model Qwen2.5-7B [--accelerate zero3] [--num_processes 8] \
        [--args "--learning_rate 1e-6"]                  # make stage2 MODEL=Qwen2.5-7B ACCELERATE=zero3 ...
    python -m r1recipes.pipeline run distill --model Qwen2.5-7B --student Qwen2.5-Math-1.5B
    python -m r1recipes.pipeline all --model SmolLM2-135M      # make pipeline: stages 1-4, then every student
    python -m r1recipes.pipeline launch recipes/tiny/stage2_reasoning_grpo.yaml [--launch_args "..."]
    python -m r1recipes.pipeline plan --model tiny            # one line per recipe, for slurm/pipeline.sh
    python -m r1recipes.pipeline get RECIPE use_vllm --default false   # a recipe value (or `runner`), for Slurm
    python -m r1recipes.pipeline fork --from Qwen2.5-3B --to my-countdown

Before anything starts, every recipe of the run is checked: its output must not overlap another recipe's,
and each input must be complete (the error names the make target that produces it), made earlier in this
run, built by the package (tiny/SmolLM2 models, synthetic data), or exist. `all` skips recipes whose
`stage.json` exists, so a rerun after a failure continues where it stopped. One process runs a recipe
unless `--accelerate` or `--num_processes` (or more than one visible GPU: ddp) asks for `accelerate launch`.
"""

import argparse
import importlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from r1recipes import RecipeError, notice
from r1recipes.recipes import (
    ACCELERATE_CONFIGS,
    BUILT_INPUTS,
    RECIPES,
    RecipeFile,
    build_command,
    check_output,
    fork,
    missing_inputs,
    model_folder,
    pipeline_recipes,
    producers,
    stage_recipes,
)


def _gpus() -> int:
    import torch

    return torch.cuda.device_count()


def launch_command(recipe: RecipeFile, accelerate: str | None, num_processes: int | None, launch_args: str) -> list:
    """`python -m r1recipes.<runner>` for one process, else `accelerate launch` with a config of the tree."""
    module = ["-m", f"r1recipes.{recipe.runner}", "--config", str(recipe.path), *recipe.overrides]
    gpus = 0 if accelerate or num_processes or launch_args else _gpus()
    if gpus > 1:
        accelerate, num_processes = "ddp", gpus
        notice(f"{num_processes} GPUs: launching with accelerate_configs/ddp.yaml (ACCELERATE= to choose)")
    if not accelerate and not launch_args and (num_processes or 1) == 1:
        return [sys.executable, *module]
    config = RECIPES / ACCELERATE_CONFIGS / f"{accelerate or 'ddp'}.yaml"
    if not config.exists():
        names = sorted(p.stem for p in config.parent.glob("*.yaml"))
        raise RecipeError(f"unknown ACCELERATE '{accelerate}' (valid: {', '.join(names)})")
    processes = ["--num_processes", str(num_processes)] if num_processes else []
    accelerate_bin = str(Path(sys.executable).parent / "accelerate")
    return [accelerate_bin, "launch", "--config_file", str(config), *processes, *shlex.split(launch_args), *module]


def check_overrides(recipe: RecipeFile) -> None:
    """Each ARGS key must be a field of the recipe's runner, so a typo fails before any stage starts."""
    parser = importlib.import_module(f"r1recipes.{recipe.runner}").make_parser()
    for token in recipe.overrides:
        key = token[2:].partition("=")[0] if token.startswith("--") else None
        if key is not None and key not in parser.fields:
            raise RecipeError(f"ARGS: {recipe.path} has no key '{key}'{parser.suggest(key)}")


def check_run(recipes: list[RecipeFile]) -> list[str]:
    """Check every recipe of a run before any starts; return the inputs the package must build first."""
    owners = producers()
    to_build, made = [], set()
    for recipe in recipes:
        if recipe.overrides:
            check_overrides(recipe)
        check_output(recipe, owners)
        to_build += [p for p in missing_inputs(recipe, owners, made) if p not in to_build]
        made.add(recipe.output_dir)
    return [p for p in BUILT_INPUTS if p in to_build]  # build order: a reward model after its base


def run(paths: list[Path], args, skip_complete: bool = False) -> None:
    recipes = [RecipeFile.load(p, shlex.split(args.args)) for p in paths]
    to_build = check_run(recipes)
    commands = [launch_command(r, args.accelerate, args.num_processes, args.launch_args) for r in recipes]
    for path in to_build:
        notice(f"building {path}")
        _call(build_command(path))
    for recipe, command in zip(recipes, commands, strict=True):
        if skip_complete and recipe.complete:
            notice(f"skip {recipe.path}: {recipe.output_dir} is complete")
            continue
        notice(f"== {recipe.path} ({recipe.runner}) -> {recipe.output_dir}\n   {shlex.join(command)}")
        _call(command)


def _call(command: list[str]) -> None:
    # the venv's bin first on PATH: DeepSpeed compiles its CPU ops with the `ninja` installed there
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    code = subprocess.call(command, env=env)
    if code:
        sys.exit(code)  # the runner has said what went wrong


def plan_lines(folder: Path) -> list[str]:
    """`recipe runner output_dir complete|todo`, one line per recipe of the pipeline, tab-separated."""
    lines = []
    for path in pipeline_recipes(folder):
        recipe = RecipeFile.load(path)
        lines.append(
            "\t".join([str(path), recipe.runner, recipe.output_dir, "complete" if recipe.complete else "todo"])
        )
    return lines


def get_value(path: Path, key: str, default: str | None = None) -> str:
    """A recipe value as text (JSON for non-strings); `default` when the recipe does not set the key."""
    recipe = RecipeFile.load(path)
    if key == "runner":
        return recipe.runner
    if key not in recipe.config:
        if default is not None:
            return default
        raise RecipeError(f"{path} does not set '{key}'")
    value = recipe.config[key]
    return value if isinstance(value, str) else json.dumps(value)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.pipeline", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    launching = argparse.ArgumentParser(add_help=False)
    launching.add_argument("--accelerate", default="", help="a config of recipes/accelerate_configs/ (no .yaml)")
    launching.add_argument("--num_processes", type=int, default=None, help="processes for accelerate launch")
    launching.add_argument("--args", default="", help='recipe overrides, e.g. "--learning_rate 1e-6"')
    launching.add_argument("--launch_args", default="", help="more accelerate launch flags (multi-node Slurm)")
    stage = commands.add_parser("run", parents=[launching], help="one make target: stage1-4, distill, zero, tinyzero")
    stage.add_argument("stage")
    stage.add_argument("--model", default="")
    stage.add_argument("--student", default="")
    whole = commands.add_parser("all", parents=[launching], help="stages 1-4 then every student, skipping complete")
    whole.add_argument("--model", default="")
    one = commands.add_parser("launch", parents=[launching], help="one recipe file")
    one.add_argument("recipe", type=Path)
    plan = commands.add_parser("plan", help="the pipeline's recipes, runners, outputs and states")
    plan.add_argument("--model", default="")
    get = commands.add_parser("get", help="print one value of a recipe")
    get.add_argument("recipe", type=Path)
    get.add_argument("key")
    get.add_argument("--default", help="printed when the recipe does not set the key (else an error)")
    copy = commands.add_parser("fork", help="copy a model folder, its outputs under runs/<TO>/")
    copy.add_argument("--from", dest="source", default="")
    copy.add_argument("--to", dest="target", default="")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    try:
        if args.command == "run":
            run(stage_recipes(model_folder(args.model), args.stage, args.student), args)
        elif args.command == "all":
            run(pipeline_recipes(model_folder(args.model)), args, skip_complete=True)
        elif args.command == "launch":
            run([args.recipe], args)
        elif args.command == "plan":
            print("\n".join(plan_lines(model_folder(args.model))))
        elif args.command == "get":
            print(get_value(args.recipe, args.key, args.default))
        else:
            destination, rewritten = fork(args.source, args.target)
            print(f"{destination}: forked from {args.source}, {rewritten} paths rewritten to runs/{args.target}/")
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
