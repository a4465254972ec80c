"""What `make` and the Slurm scripts call: run a stage, the whole pipeline, one recipe; fork; read a recipe.

    python -m r1recipes.pipeline run stage2 --model Qwen2.5-7B [--accelerate zero3] [--num_processes 8] \
        [--args "--learning_rate 1e-6"] [--report_to trackio]   # make stage2 MODEL=Qwen2.5-7B ACCELERATE=zero3 ...
    python -m r1recipes.pipeline run distill --model Qwen2.5-7B --student Qwen2.5-Math-1.5B
    python -m r1recipes.pipeline all --model SmolLM2-135M      # make pipeline: stages 1-4, then every student
    python -m r1recipes.pipeline all --model rl-demo [--eval_args "--max_problems 16"]   # make rl-demo
    python -m r1recipes.pipeline launch recipes/tiny/stage2_reasoning_grpo.yaml [--launch_args "..."] [--inputs_only]
    python -m r1recipes.pipeline plan --model tiny [--args "..."]   # one line per recipe, for slurm/pipeline.sh
    python -m r1recipes.pipeline get RECIPE use_vllm --default false   # a recipe value (or `runner`), for Slurm
    python -m r1recipes.pipeline fork --from Qwen2.5-3B --to my-countdown
    python -m r1recipes.pipeline clean --model SmolLM2-135M   # make demo-clean: runs/SmolLM2-135M, its built inputs
    python -m r1recipes.pipeline check --model Qwen2.5-7B [--gpus 8 --gpu_memory_gb 79.6] [--json]   # make check

Before anything starts, every recipe of the run is checked: its output must not overlap another recipe's,
and each input must be complete (the error names the make target that produces it), made earlier in this
run, built by the package (tiny/SmolLM2 models, synthetic data), or exist. `all` runs a folder's stages 1-4
and students, or every recipe of a folder without stage 1 (TinyZero's, the RL demo's), after the recipes of
other folders whose outputs they read (the RL demo starts from the SmolLM2 demo's stage 1); it skips recipes
whose `stage.json` exists, so a rerun after a failure continues where it stopped. When the folder has an
`eval.yaml` (evaluate's flags; `--eval_args` adds more), `all` also evaluates the starting model (the folder's
first recipe's), a student's own starting model before it is distilled (<output>_start) and each trained stage as
soon as it is trained, into runs/<run>/eval/<name>, and ends with runs/<run>/report.md (`make demo` is this, on
SmolLM2-135M; `make rl-demo` on rl-demo).
One process runs a recipe unless `--accelerate` or `--num_processes` (or more than one visible GPU: ddp) asks
for `accelerate launch`. `--report_to` (make's REPORT_TO) sets the trackers of every training recipe of the run
(not stage 3's generator, which has none); see `tracking.py`.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from r1recipes import RecipeError, notice
from r1recipes.config import hardware
from r1recipes.config.checks import (
    TRAINERS,
    accelerate_choice,
    accelerate_config,
    assign_overrides,
    check_evaluation,
    check_run,
)
from r1recipes.config.recipes import (
    BUILT_INPUTS,
    EVALUATION,
    START,
    RecipeFile,
    build_command,
    evaluation_for,
    folder_recipes,
    fork,
    model_folder,
    prerequisites,
    runner_of,
    stage_files,
    stage_recipes,
    start_evaluations,
)
from r1recipes.evaluation.benchmarks import benchmark_names
from r1recipes.evaluation.results import EVAL, ResultsDir
from r1recipes.sizing import check
from r1recipes.training import tracking


def _gpus() -> int:
    return hardware.machine().cuda_gpus


def launch_command(recipe: RecipeFile, accelerate: str | None, num_processes: int | None, launch_args: str) -> list:
    """`python -m r1recipes.<runner>` for one process, else `accelerate launch` with a config of the tree: the
    one asked for, else the recipe's `accelerate`, with one process per visible GPU unless told how many."""
    module = ["-m", f"r1recipes.{recipe.runner}", "--config", str(recipe.path), *recipe.overrides]
    accelerate = accelerate_choice(recipe, accelerate)
    if not (num_processes or launch_args) and not recipe.cpu_by_choice:
        gpus = _gpus()
        if gpus > 1 and not accelerate:
            accelerate = "ddp"
            notice(f"{gpus} GPUs: launching with accelerate_configs/ddp.yaml (ACCELERATE= to choose)")
        if gpus > 1 or (gpus and accelerate):
            num_processes = gpus
    if not accelerate and not launch_args and (num_processes or 1) == 1:
        return [sys.executable, *module]
    # without a GPU here, DDP over gloo in fp32: ddp.yaml's bf16 would stop a CPU recipe (Slurm's CPU nodes)
    config = accelerate_config(accelerate or ("ddp" if _gpus() else "cpu_ddp"))
    processes = ["--num_processes", str(num_processes)] if num_processes else []
    accelerate_bin = str(Path(sys.executable).parent / "accelerate")
    return [accelerate_bin, "launch", "--config_file", str(config), *processes, *shlex.split(launch_args), *module]


def tracker_flags(path: Path, report_to: str) -> list[str]:
    """REPORT_TO as an override of a training recipe; the generator has no trainer to report."""
    return ["--report_to", report_to] if report_to and runner_of(Path(path)) in TRAINERS else []


def _minutes(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


def evaluate_command(evaluation: Path, model: str, output: Path, eval_args: str = "") -> list[str]:
    """The evaluation of one model; data parallel over this node's GPUs (one process each, torchrun) when it
    has several."""
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(_gpus())] if _gpus() > 1 else []
    return [sys.executable, *launcher, "-m", "r1recipes.evaluate", "--config", str(evaluation), "--model", model,
            "--output", str(output), *shlex.split(eval_args)]  # fmt: skip


def evaluations(recipes: list[RecipeFile], evaluation: Path | None) -> dict[str, Path]:
    """The evaluation recipe of each model a run makes or starts from, by name: with the folder's `evaluation`
    (make pipeline), eval_<name>.yaml or else it for the starting model (`base`), each student's starting model
    (`<output>_start`, evaluated as its output is: `start_evaluations`) and each trained stage; without (a stage
    target), only the trained stages that have an eval_<name>.yaml (eval_zero.yaml)."""
    folder = recipes[0].path.parent
    names = ["base", *start_evaluations(recipes)] if evaluation else []
    names += [Path(r.output_dir).name for r in recipes if r.runner in TRAINERS]
    found = {name: evaluation_for(folder, name, specific_only=evaluation is None) for name in names}
    return {name: path for name, path in found.items() if path is not None}


def plan_steps(
    recipes: list[RecipeFile],
    to_build: list[str],
    args,
    skip_complete: bool,
    evaluation: Path | None,
    before: list[RecipeFile] = (),
):
    """(what, command, already done) in order: builds, the recipes of other folders the run reads (`before`,
    skipped when complete), then each recipe; with `evaluation`, the starting model (the first recipe's) is
    evaluated first, a student's starting model just before its recipe runs (into <run>/eval/<output>_start),
    each trained stage after it runs, into <run>/eval/<name>, and the report comes last."""
    run_dir = Path(recipes[0].output_dir).parent
    eval_args = getattr(args, "eval_args", "")
    recipe_of = evaluations(recipes, evaluation)
    starts = {name: model for name, model in start_evaluations(recipes).items() if name in recipe_of}

    def launch(recipe: RecipeFile, skip: bool) -> tuple:
        command = launch_command(recipe, args.accelerate, args.num_processes, args.launch_args)
        return f"{recipe.path} ({recipe.runner}) -> {recipe.output_dir}", command, skip and recipe.complete

    def evaluate(what: str, model: str, name: str) -> tuple:
        return what, evaluate_command(recipe_of[name], model, run_dir / EVAL / name, eval_args), False

    steps = [(f"building {path}", build_command(path), False) for path in to_build]
    steps += [launch(recipe, True) for recipe in before]
    if "base" in recipe_of:
        base = str(recipes[0].config.get("model_name_or_path", ""))
        steps.append(evaluate(f"evaluating the starting model {base}", base, "base"))
    for recipe in recipes:
        output = Path(recipe.output_dir)
        if output.name + START in starts:
            start = starts[output.name + START]
            steps.append(evaluate(f"evaluating {start}, the starting model of {output}", start, output.name + START))
        steps.append(launch(recipe, skip_complete))
        if recipe.runner in TRAINERS and output.name in recipe_of:
            steps.append(evaluate(f"evaluating {output}", str(output), output.name))
    if evaluation:
        report = [sys.executable, "-m", "r1recipes.report", str(run_dir)]
        steps.append((f"writing {run_dir / 'report.md'}", report, False))
    return steps


def run(
    paths: list[Path],
    args,
    skip_complete: bool = False,
    evaluation: Path | None = None,
    before: list[Path] = (),
) -> None:
    """Run `paths` in order (after `before`, other folders' recipes they read, as those recipes stand: ARGS are
    for the run's own recipes)."""
    start = time.monotonic()
    earlier = [RecipeFile.load(p, tracker_flags(p, args.report_to)) for p in before]
    shares = assign_overrides(paths, shlex.split(args.args))
    recipes = [RecipeFile.load(p, [*shares[p], *tracker_flags(p, args.report_to)]) for p in paths]
    to_build = check_run([*earlier, *recipes], args.accelerate)
    env = tracking.runner_env([r.config.get("report_to") for r in [*earlier, *recipes] if r.runner in TRAINERS])
    for path in dict.fromkeys(evaluations(recipes, evaluation).values()):
        check_evaluation(path, getattr(args, "eval_args", ""))
    steps = plan_steps(recipes, to_build, args, skip_complete, evaluation, earlier)
    if getattr(args, "inputs_only", False):
        steps = steps[: len(to_build)]  # plan_steps puts the builds first
    for number, (what, command, done) in enumerate(steps, 1):
        if done:
            notice(f"[{number}/{len(steps)}] skip {what}: complete")
            continue
        notice(f"[{number}/{len(steps)}] {what}\n   {shlex.join(command)}")
        _call(command, env)
    notice(f"done in {_minutes(time.monotonic() - start)}")


def _call(command: list[str], extra_env: dict[str, str] | None = None) -> None:
    # the venv's bin first on PATH: DeepSpeed compiles its CPU ops with the `ninja` installed there
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, **(extra_env or {}), "PATH": path}
    code = subprocess.call(command, env=env)
    if code:
        sys.exit(code)  # the runner has said what went wrong


def plan_lines(folder: Path, overrides: list[str] = ()) -> list[str]:
    """`recipe runner output complete|todo arguments`, one line per step of `make pipeline`, tab-separated: each
    recipe, its share of `overrides` (`assign_overrides`) last, quoted for a shell; with an evaluation recipe,
    the evaluations too (the starting model's first, then each student's starting model, so that slurm/pipeline.sh
    submits them at once; one the package builds and has not built yet goes after the recipe whose job builds it,
    the first recipe for the starting model, the student's own for a student's; each trained stage's after it),
    their last field the evaluation's `--model` and `--output`."""
    paths = folder_recipes(folder)
    shares = assign_overrides(paths, list(overrides))
    recipes = [RecipeFile.load(path, shares[path]) for path in paths]
    evaluation = folder / EVALUATION if (folder / EVALUATION).exists() else None
    recipe_of = evaluations(recipes, evaluation) if recipes else {}
    run_dir = Path(recipes[0].output_dir).parent if recipes else None

    def evaluated(name: str, model: str) -> str:
        output = run_dir / EVAL / name
        benchmarks = benchmark_names(RecipeFile.load(recipe_of[name]).config.get("benchmarks"))
        state = "complete" if set(benchmarks) <= ResultsDir(str(output)).finished() else "todo"
        arguments = shlex.join(["--model", model, "--output", str(output)])
        return "\t".join([str(recipe_of[name]), "evaluate", str(output), state, arguments])

    def unbuilt(model: str) -> bool:  # the first job that reads it builds it (slurm/pipeline.sh)
        return model in BUILT_INPUTS and not os.path.exists(model)

    base = str(recipes[0].config.get("model_name_or_path", "")) if recipes else ""
    starting = {"base": base} if "base" in recipe_of else {}
    starting.update((name, model) for name, model in start_evaluations(recipes).items() if name in recipe_of)
    lines = [evaluated(name, model) for name, model in starting.items() if not unbuilt(model)]
    for path, recipe in zip(paths, recipes, strict=True):
        state = "complete" if recipe.complete else "todo"
        lines.append("\t".join([str(path), recipe.runner, recipe.output_dir, state, shlex.join(shares[path])]))
        name = Path(recipe.output_dir).name
        waiting = (["base"] if path == paths[0] else []) + [name + START]
        lines += [evaluated(n, starting[n]) for n in waiting if n in starting and unbuilt(starting[n])]
        if recipe.runner in TRAINERS and name in recipe_of:
            lines.append(evaluated(name, recipe.output_dir))
    return lines


def clean(folder: Path) -> list[str]:
    """Remove what `make pipeline` writes for a recipe folder: its run folders (stages, evaluations, report) and
    the inputs the package built for it; return the paths removed."""
    recipes = [RecipeFile.load(p) for p in stage_files(folder)]
    runs = {str(Path(r.output_dir).parent) for r in recipes}
    built = {path for r in recipes for path in r.inputs.values() if path in BUILT_INPUTS}
    removed = [path for path in [*sorted(runs), *sorted(built)] if os.path.lexists(path)]
    for path in removed:
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    return removed


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
    overrides = 'recipe overrides: "--learning_rate 1e-6" (every recipe with the key), "stage3_sft.learning_rate=1e-6"'
    launching.add_argument("--args", default="", help=overrides)
    launching.add_argument("--launch_args", default="", help="more accelerate launch flags (multi-node Slurm)")
    trackers = "trackers of every training recipe: none, tensorboard, trackio, wandb (comma-separated for several)"
    launching.add_argument("--report_to", default="", help=trackers)
    stage = commands.add_parser("run", parents=[launching], help="one make target: stage1-4, distill, zero, tinyzero")
    stage.add_argument("stage")
    stage.add_argument("--model", default="")
    stage.add_argument("--student", default="")
    whole = commands.add_parser("all", parents=[launching], help="stages 1-4 then every student, skipping complete")
    whole.add_argument("--model", default="")
    whole.add_argument("--eval_args", default="", help='evaluation overrides, e.g. "--max_problems 8"')
    one = commands.add_parser("launch", parents=[launching], help="one recipe file")
    one.add_argument("recipe", type=Path)
    one.add_argument(
        "--inputs_only", action="store_true",
        help="check the recipe, build the inputs the package makes, and stop (train.slurm, once before its tasks)",
    )  # fmt: skip
    plan = commands.add_parser("plan", help="the pipeline's recipes, runners, outputs and states")
    plan.add_argument("--model", default="")
    plan.add_argument("--report_to", default="", help="checked (known and installed) for slurm/pipeline.sh")
    plan.add_argument("--args", default="", help="recipe overrides, as for run: each line ends with its recipe's")
    get = commands.add_parser("get", help="print one value of a recipe")
    get.add_argument("recipe", type=Path)
    get.add_argument("key")
    get.add_argument("--default", help="printed when the recipe does not set the key (else an error)")
    remove = commands.add_parser("clean", help="remove a folder's run outputs and the inputs built for it")
    remove.add_argument("--model", default="")
    sizing = commands.add_parser("check", help="memory per GPU, time and cost of every recipe of a folder")
    sizing.add_argument("--model", default="")
    sizing.add_argument("--gpus", type=int, default=None, help="GPUs per node of each run; default: the recipe's")
    sizing.add_argument("--nodes", type=int, default=1, help="nodes of each training run")
    memory = "one GPU's memory in GiB as nvidia-smi shows it (H100 80GB: 79.6, H200: 140.4)"
    sizing.add_argument("--gpu_memory_gb", type=float, default=79.6, help=memory)
    sizing.add_argument("--shards", type=int, default=None, help="a generation recipe's Slurm shards (engines)")
    sizing.add_argument("--accelerate", default="", help="a config of recipes/accelerate_configs/ for every recipe")
    sizing.add_argument("--args", default="", help="recipe overrides, as for run")
    sizing.add_argument("--gpu", default="H100", help="the card whose dense bf16 peak sets the assumed throughputs")
    sizing.add_argument("--peak_tflops", type=float, default=None, help="that peak, for a card not known by name")
    sizing.add_argument("--memory_tbs", type=float, default=None, help="its memory bandwidth in TB/s, likewise")
    sizing.add_argument("--train_tokens_per_s", type=float, default=None, help="measured training tokens/s per GPU")
    sizing.add_argument(
        "--generate_tokens_per_s", type=float, default=None, help="measured generation tokens/s per GPU"
    )
    sizing.add_argument("--price_per_gpu_hour", type=float, default=2.0, help="USD per GPU-hour")
    sizing.add_argument(
        "--mean_completion_tokens",
        type=int,
        default=None,
        help="the mean completion (tokens) of every recipe that samples, over its own, for the expected time and "
        "cost; capped at each recipe's longest",
    )
    sizing.add_argument("--json", action="store_true", help="one JSON document instead of the tables")
    copy = commands.add_parser("fork", help="copy a model folder, its outputs under runs/<TO>/")
    copy.add_argument("--from", dest="source", default="")
    copy.add_argument("--to", dest="target", default="")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    try:
        tracking.check_installed(tracking.trackers(getattr(args, "report_to", "")))
        if args.command == "run":
            run(stage_recipes(model_folder(args.model), args.stage, args.student), args)
        elif args.command == "all":
            folder = model_folder(args.model)
            evaluation = folder / EVALUATION if (folder / EVALUATION).exists() else None
            paths = folder_recipes(folder)
            run(paths, args, skip_complete=True, evaluation=evaluation, before=prerequisites(paths))
        elif args.command == "launch":
            run([args.recipe], args)
        elif args.command == "plan":
            print("\n".join(plan_lines(model_folder(args.model), shlex.split(args.args))))
        elif args.command == "clean":
            removed = clean(model_folder(args.model))
            print("\n".join(f"removed {path}" for path in removed) or "nothing to remove")
        elif args.command == "check":
            sys.exit(check.main(args))
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
