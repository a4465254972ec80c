"""`make gpu-smoke`: every runner for a few steps in bf16 on one CUDA GPU, the first thing to run on a new GPU node.

    python -m r1recipes.smoke        # make gpu-smoke; from the repository root, offline

It runs recipes/gpu-smoke/ on SmolLM2-135M-Instruct (built offline, as for the demo) on the first visible GPU:
stage 1's SFT is started, SIGKILLed once its first checkpoint is complete, and rerun, which must resume from it
(`resumed_from` in its stage.json); then stage 2's GRPO, sampling with transformers (no vLLM); then evaluation of
the base model and both stages, each in this process. It ends with a table: per run, the peak GPU memory torch's
allocator reserved (stage.json's `peak_gpu_memory_gib`; for an evaluation, this process's), `make check`'s
estimate for this GPU (its peak, and what it asks of the card with the allocator's and CUDA's margin), and tokens
per second: trained (TRL's logged `num_tokens` over `train_runtime`, of the run that finished the stage) or
generated (an evaluation's samples x mean length over its seconds, judging included). The table also goes to
runs/gpu-smoke/smoke.json with the card and the date. runs/gpu-smoke is removed first, so each run measures
afresh. Without a CUDA GPU it is one `error:` line, exit status 2, before anything is built or written.
"""

import argparse
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from r1recipes import RecipeError, notice
from r1recipes.config import hardware
from r1recipes.evaluation.results import RESULTS
from r1recipes.files import STAGE_FILE, write_json
from r1recipes.training import checkpoints

FOLDER = Path("recipes/gpu-smoke")
SFT, GRPO, EVALUATION = FOLDER / "stage1_sft.yaml", FOLDER / "stage2_grpo.yaml", FOLDER / "eval.yaml"
RUN = Path("runs/gpu-smoke")
BASE = "runs/models/SmolLM2-135M-Instruct"
CPU_HINT = "on a CPU, `make demo DEMO=tiny` runs the same runners"
CHECKPOINT_WAIT_S = 900  # for stage 1's first checkpoint, model loading and compilation included
GIB = 2**30
MEASURED = (
    "measured: the most torch's allocator reserved (the CUDA context not counted); make check's needed: its peak "
    "with its margin for the allocator and the CUDA context"
)


def launch(recipe: Path, *flags: str, own_group: bool = False) -> subprocess.Popen:
    """`python -m r1recipes.pipeline launch`; `own_group`: in a process group of its own, which a kill reaches
    whole (accelerate's launcher and the runner under it)."""
    command = [sys.executable, "-m", "r1recipes.pipeline", "launch", str(recipe), *flags]
    return subprocess.Popen(command, start_new_session=own_group)


def finish(process: subprocess.Popen, what: str) -> None:
    code = process.wait()
    if code:
        raise RecipeError(f"{what} failed with exit status {code} (its output is above)")


def killed_and_resumed(recipe: Path, output: Path) -> str:
    """Start a training recipe, SIGKILL it once its first checkpoint is complete, rerun it: the checkpoint the
    rerun resumed from (stage.json's `resumed_from`)."""
    finish(launch(recipe, "--inputs_only"), f"building the inputs of {recipe}")  # never killed halfway
    process, deadline = launch(recipe, own_group=True), time.monotonic() + CHECKPOINT_WAIT_S
    try:
        while checkpoints.newest_complete(output)[0] is None:
            if process.poll() is not None:
                raise RecipeError(f"{recipe} ended (exit status {process.returncode}) before its first checkpoint")
            if time.monotonic() > deadline:
                raise RecipeError(f"{recipe} wrote no checkpoint in {CHECKPOINT_WAIT_S} s")
            time.sleep(0.1)
    finally:  # the kill, and on any way out (Ctrl-C does not reach a group of its own)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if (output / STAGE_FILE).exists():
        raise RecipeError(f"{recipe} finished before it was killed: raise its max_steps")
    notice(f"killed {recipe} after {checkpoints.newest_complete(output)[0]}: running it again, to resume")
    finish(launch(recipe), f"{recipe}, rerun after the kill")
    resumed = json.loads((output / STAGE_FILE).read_text()).get("resumed_from")
    if not resumed:
        raise RecipeError(f"{output / STAGE_FILE}: the rerun after the kill did not resume (resumed_from is null)")
    return resumed


def trained_tokens_per_second(stage_dir: Path) -> float | None:
    """TRL's logged `num_tokens` over `train_runtime`, of the run that finished the stage (the rerun, after a kill).
    On resuming, SFT's count starts again at 0, while GRPO's (the trainer state's tokens seen) goes on from the
    checkpoint's: the count logged at the resumed step is subtracted where it went on."""
    record = json.loads((stage_dir / STAGE_FILE).read_text())
    history = json.loads((stage_dir / checkpoints.STATE).read_text()).get("log_history", [])
    resumed = record.get("resumed_from")
    start = int(checkpoints.CHECKPOINT.match(Path(resumed).name).group(1)) if resumed else 0
    runtime = next((e["train_runtime"] for e in reversed(history) if "train_runtime" in e), None)
    before = [e["num_tokens"] for e in history if "num_tokens" in e and e.get("step", 0) <= start]
    after = [e["num_tokens"] for e in history if "num_tokens" in e and e.get("step", 0) > start]
    if not runtime or not after:
        return None
    went_on = bool(before) and after[0] >= before[-1]
    return (after[-1] - (before[-1] if went_on else 0)) / runtime


def generated_tokens_per_second(eval_dir: Path) -> float | None:
    """An evaluation's samples x mean length (tokens) over the seconds it sampled and judged them."""
    benchmarks = json.loads((eval_dir / RESULTS).read_text())["benchmarks"].values()
    seconds = max((b["seconds"] for b in benchmarks), default=0)  # benchmarks sampled together share one time
    return sum(b["samples"] * b["mean_length"] for b in benchmarks) / seconds if seconds else None


def row(run: str, peak_gib: float | None, estimate, tokens_per_s: float | None, tokens: str) -> dict:
    """One line of the table; `estimate` is `make check`'s RecipeCheck of the recipe, None where it sizes none."""
    return {
        "run": run,
        "peak_gib": peak_gib,
        "estimate_peak_gib": round(estimate.plan.peak, 2) if estimate else None,
        "estimate_needed_gib": round(estimate.needed, 2) if estimate else None,
        "tokens_per_s": tokens_per_s,
        "tokens": tokens,
    }


def stage_row(run: str, stage_dir: Path, estimate) -> dict:
    peak = json.loads((stage_dir / STAGE_FILE).read_text()).get("peak_gpu_memory_gib")
    return row(run, peak, estimate, trained_tokens_per_second(stage_dir), "trained")


def table(rows: list[dict]) -> str:
    def number(value, form: str) -> str:
        return "-" if value is None else format(value, form)

    header = f"{'run':<42}{'peak GiB':>10}{'make check GiB':>22}{'tokens/s':>12}"
    lines = [header, f"{'':<42}{'measured':>10}{'peak / needed':>22}", "-" * len(header)]
    for entry in rows:
        estimate = f"{number(entry['estimate_peak_gib'], '.2f')} / {number(entry['estimate_needed_gib'], '.2f')}"
        if entry["estimate_peak_gib"] is None:
            estimate = "not sized"
        lines.append(f"{entry['run']:<42}{number(entry['peak_gib'], '.2f'):>10}{estimate:>22}"
                     f"{number(entry['tokens_per_s'], ',.0f'):>12} {entry['tokens']}")  # fmt: skip
    return "\n".join(lines)


def evaluate_here(model: str, output: Path) -> float:
    """Evaluate `model` with eval.yaml in this process: the peak GiB torch reserved meanwhile."""
    import torch

    from r1recipes import evaluate

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    evaluate.main(*evaluate.make_parser().parse(["--config", str(EVALUATION), "--model", model, "--output",
                                                 str(output)]))  # fmt: skip
    gc.collect()
    return round(torch.cuda.max_memory_reserved() / GIB, 3)


def first_gpu_only() -> None:
    """One GPU, whatever the node has: the recipes are sized for one process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = "0" if visible is None else visible.split(",")[0]


def smoke() -> list[dict]:
    if not FOLDER.is_dir():
        raise RecipeError(f"no {FOLDER}/ here: run from the repository root")
    first_gpu_only()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything it reads is built here
    try:
        hardware.require_gpu(["bf16 SFT, GRPO and evaluation"], hint=CPU_HINT)
    except RecipeError as exc:
        raise RecipeError(f"make gpu-smoke {exc}") from None
    import torch

    from r1recipes.sizing.estimate import Throughput
    from r1recipes.sizing.recipe import Hardware
    from r1recipes.sizing.verdict import check_folder

    card = torch.cuda.get_device_properties(0)
    sized = check_folder(FOLDER, Hardware(1, card.total_memory / GIB, None, Throughput()))
    estimates = {Path(r.sized.recipe.path): r for r in sized}
    shutil.rmtree(RUN, ignore_errors=True)
    started = time.monotonic()
    stage1, stage2 = RUN / "stage1", RUN / "stage2"
    resumed = killed_and_resumed(SFT, stage1)
    finish(launch(GRPO), str(GRPO))
    rows = [
        stage_row(f"sft: stage 1, resumed from {Path(resumed).name}", stage1, estimates.get(SFT)),
        stage_row("grpo: stage 2, no vLLM", stage2, estimates.get(GRPO)),
    ]
    for name, model in (("base", BASE), ("stage1", str(stage1)), ("stage2", str(stage2))):
        output = RUN / "eval" / name
        peak = evaluate_here(model, output)
        estimate = estimates.get(EVALUATION)  # sized for the largest model it evaluates: all three are one size
        rows.append(row(f"evaluate: {name}", peak, estimate, generated_tokens_per_second(output), "generated"))
    seconds = round(time.monotonic() - started)
    what = f"{card.name} ({card.total_memory / GIB:.1f} GiB), torch {torch.__version__}"
    print(f"\nmake gpu-smoke on {what}, {seconds} s\n{table(rows)}\n{MEASURED}")
    summary = {"card": card.name, "gpu_memory_gib": round(card.total_memory / GIB, 1), "torch": torch.__version__}
    write_json(RUN / "smoke.json", {**summary, "date": time.strftime("%Y-%m-%d"), "seconds": seconds, "rows": rows})
    notice(f"the table is in {RUN / 'smoke.json'}")
    return rows


def make_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="python -m r1recipes.smoke", description=__doc__.split("\n")[0])


def main(argv: list[str] | None = None) -> None:
    make_parser().parse_args(argv)
    try:
        smoke()
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
