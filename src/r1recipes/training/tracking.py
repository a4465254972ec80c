"""Experiment tracking: which trackers a training run reports to, how a pipeline's runs are grouped, what they record.

A thin layer over transformers' own integrations (`report_to`, `run_name`, `project`; `TensorBoardCallback`,
`TrackioCallback`, `WandbCallback`), which log the metrics, from the main process only. This module adds:
- a strict `report_to`: only the trackers below, each installed, else one `error:` line before the model loads;
- grouping, where the run has not set its own: the project is the recipe's folder (`r1recipes-Qwen2.5-7B`), the
  run name the stage's output folder (`stage2`), so a pipeline's stages sit side by side;
- the run's source in each tracker's record: the recipe (file and contents), the command-line flags and the git
  commit, the fields `stage.json` opens with (`stage.source`);
- `runner_env`: the pipeline keeps trackio's databases in runs/trackio/, with the runs, not in the home directory.

TensorBoard writes where transformers puts it, `<output_dir>/runs/<date>_<host>/`, so `tensorboard --logdir
runs/<MODEL>` shows each stage (and each relaunch of it) as a run of its own. See docs/tracking.md.
"""

import importlib.util
import os
import shlex
from pathlib import Path

from r1recipes import RecipeError, flatten

# tracker -> (module that must import, how to install it)
TRACKERS = {
    "tensorboard": ("tensorboard", "make install-gpu, or .venv/bin/pip install -e '.[track]'"),
    "trackio": ("trackio", "make install-gpu, or .venv/bin/pip install -e '.[track]'"),
    "wandb": ("wandb", ".venv/bin/pip install wandb, then wandb login (or WANDB_MODE=offline)"),
}
NONE = "none"
PROJECT_PREFIX = "r1recipes-"
DEFAULT_PROJECT = "huggingface"  # TrainingArguments.project's default: the run has not chosen one
# Beside runs/models and runs/eval, on the runs' own storage, not in the home directory; not inside runs/<MODEL>,
# where the report would take it for a stage. One database per project (recipe folder).
TRACKIO_DIR = "runs/trackio"


def trackers(report_to) -> list[str]:
    """The trackers a `report_to` value names: none, one, a comma-separated list or a list; an unknown name is
    one error naming the valid ones."""
    values = [report_to] if report_to is None or isinstance(report_to, str) else list(report_to)
    names = [name.strip() for value in values if value for name in str(value).split(",") if name.strip()]
    names = list(dict.fromkeys(name for name in names if name != NONE))
    for name in names:
        if name not in TRACKERS:
            raise RecipeError(f"report_to: unknown tracker '{name}' (valid: {NONE}, {', '.join(TRACKERS)})")
    return names


def check_installed(names: list[str]) -> None:
    for name in names:
        module, install = TRACKERS[name]
        if importlib.util.find_spec(module) is None:
            raise RecipeError(f"report_to {name}: the {module} package is not installed: {install}")


def project_of(recipe_path: str) -> str:
    """A recipe folder's project: its stages are the project's runs."""
    return PROJECT_PREFIX + Path(recipe_path).resolve().parent.name


def prepare(training_args, recipe) -> None:
    """Before anything loads: check the trackers, then name the run and its project where the run has not."""
    try:
        training_args.report_to = trackers(training_args.report_to)
        check_installed(training_args.report_to)
    except RecipeError as exc:
        raise RecipeError(f"{recipe.path if recipe is not None and recipe.path else 'command line'}: {exc}") from None
    if not training_args.report_to:
        return
    if training_args.run_name is None:
        training_args.run_name = Path(training_args.output_dir).name
    if training_args.project == DEFAULT_PROJECT and recipe is not None and recipe.path:
        training_args.project = project_of(recipe.path)
    if "wandb" in training_args.report_to:
        os.environ.setdefault("WANDB_PROJECT", training_args.project)  # transformers reads W&B's project from here


def runner_env(report_to_values: list) -> dict[str, str]:
    """What the pipeline adds to its runners' environment: trackio's storage in runs/trackio/, unless TRACKIO_DIR
    is set. trackio reads TRACKIO_DIR once, when imported (TRL's GRPO module imports it), so the runner's parent
    sets it."""
    if "TRACKIO_DIR" in os.environ or not any("trackio" in trackers(value) for value in report_to_values):
        return {}
    return {"TRACKIO_DIR": str(Path(TRACKIO_DIR).resolve())}


def record_source(trainer, source: dict) -> None:
    """Add the run's source to every tracker the trainer reports to, once each has started: after transformers'
    integration callbacks, whose `on_train_begin` opens the writer or run it writes to."""
    from transformers import TrainerCallback  # imported here: the pipeline imports this module and must start fast

    integrations = list(trainer.callback_handler.callbacks)

    class RunSource(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                log_source(source, integrations)

    trainer.add_callback(RunSource())


def log_source(source: dict, callbacks: list) -> None:
    """The recipe, its flags and the git commit as the run's config, in each started tracker of `callbacks`."""
    from transformers.integrations import TensorBoardCallback, TrackioCallback, WandbCallback

    for callback in callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.tb_writer is not None:
            for key, value in flatten(source, "/").items():
                text = shlex.join(value) if isinstance(value, list) else str(value)
                if "\n" in text:  # TensorBoard renders text as Markdown: an indented code block keeps YAML's lines
                    text = "    " + text.replace("\n", "\n    ")
                callback.tb_writer.add_text(f"r1recipes/{key}", text)
            callback.tb_writer.flush()
        elif isinstance(callback, TrackioCallback):
            import trackio

            trackio.config.update(flatten(source, "/"))
        elif isinstance(callback, WandbCallback):
            import wandb

            if wandb.run is not None:
                wandb.config.update(source, allow_val_change=True)
