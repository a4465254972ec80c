"""A stage's life around `trainer.train()`: skip when complete, resume, save, and mark complete.

`output_dir/stage.json` is written last, atomically, after the final model and tokenizer: its presence
means the stage is complete, and the pipeline relies on that to skip finished stages on a rerun. A rerun resumes
from the newest complete checkpoint, and one saved at the last step only finishes (`checkpoints.py`). A stage that
would train 0 steps, or save over its own model, is refused before anything loads. With `push_to_hub: true` the
stage is pushed to the Hub with its card once `stage.json` is written, and never by transformers before (`share.py`).
"""

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from transformers import TrainerCallback

from r1recipes import RecipeError, notice
from r1recipes.config.parser import Recipe
from r1recipes.files import STAGE_FILE, write_json
from r1recipes.hub.share import push, take_over_push
from r1recipes.models.loading import load_policy
from r1recipes.training import checkpoints, tracking


def run_cli(main, make_parser, argv: list[str] | None = None) -> None:
    """Parse, then run `main`; bad input becomes one `error:` line and exit status 2."""
    try:
        main(*make_parser().parse(argv))
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        end_process_group()
        sys.exit(2)
    end_process_group()


def end_process_group() -> None:
    """Leave torch.distributed before the interpreter exits. Without it, gloo's worker threads were torn down
    during finalisation and a rank that had finished its stage aborted ('terminate called without an active
    exception', SIGABRT), failing the launch after stage.json was written (seen once in CI, ZeRO-3 on CPU)."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def train_stage(
    runner,
    trainer_class,
    make_datasets,
    data_args,
    training_args,
    model_args,
    recipe,
    callbacks,
    check_inputs=None,
    **trainer_kwargs,
) -> dict | None:
    """What every runner does: skip if complete, load data then model, train with TRL, mark complete.
    `check_inputs(train, tokenizer, model)`, when given, refuses rows the loaded model cannot take."""
    from trl import get_peft_config

    check_steps(training_args)
    check_not_the_input(training_args.output_dir, model_args.model_name_or_path)
    tracking.prepare(training_args, recipe)
    stage = Stage(runner, training_args, recipe)
    if stage.complete:
        return None
    hub = take_over_push(training_args)  # checked before anything loads, pushed once stage.json is written
    train, test = make_datasets(data_args, training_args.seed)
    tokenizer, model = load_policy(model_args, training_args.trust_remote_code)
    if check_inputs:
        check_inputs(train, tokenizer, model)
    trainer = trainer_class(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=test if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        callbacks=callbacks,
        **trainer_kwargs,
    )
    if training_args.report_to:
        tracking.record_source(trainer, source(runner, stage.recipe))
    if hasattr(trainer.train_dataset, "__len__") and len(trainer.train_dataset) == 0:
        # SFTTrainer silently drops rows whose completion was truncated away
        raise RecipeError(f"no training rows left after tokenization: raise max_length ({training_args.max_length})")
    record = stage.run(trainer)
    if hub and trainer.accelerator.is_main_process:
        push(training_args.output_dir, **hub)
    return record


def check_steps(training_args) -> None:
    """A stage that would train 0 steps must not start: it would be marked complete with an untrained model."""
    if training_args.max_steps <= 0 and training_args.num_train_epochs <= 0:
        raise RecipeError(
            f"num_train_epochs {training_args.num_train_epochs} and max_steps {training_args.max_steps} "
            "train 0 steps: set one of them above 0"
        )


def check_not_the_input(output_dir: str, model: str) -> None:
    """Saving into the folder the model is read from would overwrite its weights (`make` refuses it too)."""
    if Path(output_dir).expanduser().resolve() == Path(model).expanduser().resolve():
        raise RecipeError(f"output_dir {output_dir} is the model's own folder: saving would overwrite its weights")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def source(runner: str, recipe: Recipe) -> dict:
    """What ran, from which recipe and commit: the opening of `stage.json`, and a tracked run's config."""
    return {
        "stage": recipe.name or runner,
        "runner": runner,
        "recipe": {"path": recipe.path, "contents": recipe.text, "argv": recipe.argv},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
    }


def provenance(runner: str, recipe: Recipe, started_at: str) -> dict:
    """The opening fields of every `stage.json`: what ran, from which recipe and commit, and when."""
    return {**source(runner, recipe), "started_at": started_at, "finished_at": now_utc()}


def mark_complete(output_dir: Path, record: dict, what: str) -> None:
    """Write `stage.json` atomically, last: from now on the stage counts as complete."""
    write_json(output_dir / STAGE_FILE, record)
    notice(f"{record['stage']} complete: {what} and {STAGE_FILE} in {output_dir}")


def peak_gpu_memory_gib() -> float | None:
    """The most GPU memory torch's allocator held in this process (the main one's, with several), in GiB; None
    without CUDA. `make gpu-smoke` prints it beside `make check`'s estimate."""
    import torch

    return round(torch.cuda.max_memory_reserved() / 2**30, 3) if torch.cuda.is_available() else None


class Stage:
    def __init__(self, runner: str, training_args, recipe: Recipe | None = None):
        self.runner = runner
        self.args = training_args
        self.recipe = recipe or Recipe()
        self.output_dir = Path(training_args.output_dir)
        self.started_at = now_utc()

    @property
    def complete(self) -> bool:
        """True (and says so) when stage.json exists and the run was not asked to start over."""
        done = (self.output_dir / STAGE_FILE).exists() and not self.args.start_over
        if done:
            notice(f"{self.output_dir} is complete ({STAGE_FILE} exists); pass --start_over true to train again")
        return done

    def _start_over(self, accelerator) -> None:
        if accelerator.is_main_process and self.output_dir.is_dir():
            old = [
                *self.output_dir.glob("checkpoint-*"),
                *self.output_dir.glob(f"{checkpoints.SET_ASIDE}checkpoint-*"),
            ]
            for path in [*old, self.output_dir / STAGE_FILE]:
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            notice(f"starting over: removed checkpoints and {STAGE_FILE} from {self.output_dir}")
        accelerator.wait_for_everyone()

    def _resume_point(self, accelerator) -> str | None:
        """The checkpoint given, else the newest complete one; newer incomplete ones are set aside (by the main
        process, once every process has chosen)."""
        if self.args.resume_from_checkpoint:
            return self.args.resume_from_checkpoint
        newest, incomplete = checkpoints.newest_complete(self.output_dir)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            for folder, why in incomplete:
                notice(f"set aside {folder.name} ({why}) as {checkpoints.set_aside(folder).name}")
        accelerator.wait_for_everyone()
        if newest:
            notice(f"resuming from {newest} (pass --start_over true to train from step 0)")
        return str(newest) if newest else None

    def run(self, trainer) -> dict:
        """Train (resuming when a checkpoint exists), save model and tokenizer, then write stage.json."""
        if self.args.start_over:
            self._start_over(trainer.accelerator)
        resumed_from = self._resume_point(trainer.accelerator)
        metrics = {}
        if resumed_from and checkpoints.finished(Path(resumed_from)):
            notice(f"{resumed_from} was saved at the last step: finishing from it, training nothing more")
            trainer.add_callback(StopBeforeAnotherStep())
        try:
            metrics = trainer.train(resume_from_checkpoint=resumed_from).metrics
        except NothingLeftToTrain:
            pass  # the checkpoint's model and state are loaded: save them as the final model
        trainer.save_model(str(self.output_dir))
        trainer.save_state()
        record = {
            **provenance(self.runner, self.recipe, self.started_at),
            "resumed_from": resumed_from,
            "global_step": trainer.state.global_step,
            "metrics": metrics,
            "final_log": next((e for e in reversed(trainer.state.log_history) if "loss" in e), {}),
            "world_size": trainer.accelerator.num_processes,
            "peak_gpu_memory_gib": peak_gpu_memory_gib(),
        }
        if trainer.accelerator.is_main_process:
            mark_complete(self.output_dir, record, "model")
        trainer.accelerator.wait_for_everyone()
        return record


class NothingLeftToTrain(Exception):
    """Raised on every process at once, before the step a finished checkpoint would add, to leave `train()`."""


class StopBeforeAnotherStep(TrainerCallback):
    """transformers runs a step before checking the step count when resumed at the last step: stop it first."""

    def on_step_begin(self, args, state, control, **kwargs):
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            raise NothingLeftToTrain
