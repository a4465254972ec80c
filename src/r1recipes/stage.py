"""A stage's life around `trainer.train()`: skip when complete, resume, save, and mark complete.

`output_dir/stage.json` is written last, atomically, after the final model and tokenizer: its presence
means the stage is complete, and the pipeline relies on that to skip finished stages on a rerun.
"""

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from transformers.trainer_utils import get_last_checkpoint

from r1recipes import RecipeError, notice
from r1recipes.files import STAGE_FILE, write_json
from r1recipes.models.loading import load_policy
from r1recipes.parser import Recipe


def run_cli(main, make_parser, argv: list[str] | None = None) -> None:
    """Parse, then run `main`; bad input becomes one `error:` line and exit status 2."""
    try:
        main(*make_parser().parse(argv))
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def train_stage(
    runner, trainer_class, make_datasets, data_args, training_args, model_args, recipe, callbacks, **trainer_kwargs
) -> dict | None:
    """What every runner does: skip if complete, load data then model, train with TRL, mark complete."""
    from trl import get_peft_config

    stage = Stage(runner, training_args, recipe)
    if stage.complete:
        return None
    train, test = make_datasets(data_args, training_args.seed)
    tokenizer, model = load_policy(model_args, training_args.trust_remote_code)
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
    if hasattr(trainer.train_dataset, "__len__") and len(trainer.train_dataset) == 0:
        # SFTTrainer silently drops rows whose completion was truncated away
        raise RecipeError(f"no training rows left after tokenization: raise max_length ({training_args.max_length})")
    return stage.run(trainer)


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


def provenance(runner: str, recipe: Recipe, started_at: str) -> dict:
    """The opening fields of every `stage.json`: what ran, from which recipe and commit, and when."""
    return {
        "stage": recipe.name or runner,
        "runner": runner,
        "recipe": {"path": recipe.path, "contents": recipe.text, "argv": recipe.argv},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "started_at": started_at,
        "finished_at": now_utc(),
    }


def mark_complete(output_dir: Path, record: dict, what: str) -> None:
    """Write `stage.json` atomically, last: from now on the stage counts as complete."""
    write_json(output_dir / STAGE_FILE, record)
    notice(f"{record['stage']} complete: {what} and {STAGE_FILE} in {output_dir}")


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
            for path in [*self.output_dir.glob("checkpoint-*"), self.output_dir / STAGE_FILE]:
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            notice(f"starting over: removed checkpoints and {STAGE_FILE} from {self.output_dir}")
        accelerator.wait_for_everyone()

    def _resume_point(self) -> str | None:
        if self.args.resume_from_checkpoint:
            return self.args.resume_from_checkpoint
        last = get_last_checkpoint(str(self.output_dir)) if self.output_dir.is_dir() else None
        if last:
            notice(f"resuming from {last} (pass --start_over true to train from step 0)")
        return last

    def run(self, trainer) -> dict:
        """Train (resuming when a checkpoint exists), save model and tokenizer, then write stage.json."""
        if self.args.start_over:
            self._start_over(trainer.accelerator)
        resumed_from = self._resume_point()
        result = trainer.train(resume_from_checkpoint=resumed_from)
        trainer.save_model(str(self.output_dir))
        trainer.save_state()
        record = {
            **provenance(self.runner, self.recipe, self.started_at),
            "resumed_from": resumed_from,
            "global_step": trainer.state.global_step,
            "metrics": result.metrics,
            "final_log": next((e for e in reversed(trainer.state.log_history) if "loss" in e), {}),
            "world_size": trainer.accelerator.num_processes,
        }
        if trainer.accelerator.is_main_process:
            mark_complete(self.output_dir, record, "model")
        trainer.accelerator.wait_for_everyone()
        return record
