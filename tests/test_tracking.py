"""Experiment tracking on the tiny model: TensorBoard and trackio record the losses and the run's source where
docs/tracking.md says, grouped by recipe folder and stage; a bad or missing tracker is one line before loading."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import tiny_grpo_fields, tiny_sft_fields, write_recipe
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from r1recipes import RecipeError, grpo, sft
from r1recipes.training import tracking
from r1recipes.training.stage import run_cli

TRACKIO_CLI = str(Path(sys.executable).parent / "trackio")


def recipe_in_folder(tmp_path: Path, name: str, fields: dict) -> Path:
    """A recipe in its own folder, recipes/mine/, as a pipeline's recipes are."""
    folder = tmp_path / "recipes" / "mine"
    folder.mkdir(parents=True, exist_ok=True)
    return write_recipe(folder / name, **fields)


def run(module, recipe: Path, *flags):
    return module.main(*module.make_parser().parse(["--config", str(recipe), *flags]))


def logged_losses(output_dir: Path) -> list[tuple[int, float]]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [(entry["step"], entry["loss"]) for entry in history if "loss" in entry]


def tensorboard_run(output_dir: Path) -> EventAccumulator:
    """The one TensorBoard run of a stage, read with TensorBoard's own reader."""
    runs = [p for p in (output_dir / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    events = EventAccumulator(str(runs[0]), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def text(events: EventAccumulator, tag: str) -> str:
    return tensor_util.make_ndarray(events.Tensors(f"{tag}/text_summary")[0].tensor_proto).item().decode()


def test_sft_with_tensorboard_writes_its_losses_and_its_source_in_the_stage_folder(
    tmp_path, tiny_model, arithmetic_file, monkeypatch
):
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    out = tmp_path / "runs" / "mine" / "stage1"
    recipe = recipe_in_folder(
        tmp_path, "stage1_cold_start_sft.yaml", tiny_sft_fields(tiny_model, arithmetic_file, out)
    )
    flags = ["--report_to", "tensorboard", "--learning_rate", "2e-3"]
    record = run(sft, recipe, *flags)

    events = tensorboard_run(out)
    losses = [(event.step, event.value) for event in events.Scalars("train/loss")]
    assert [step for step, _ in losses] == [1, 2, 3]
    assert losses == [(step, pytest.approx(loss, rel=1e-6)) for step, loss in logged_losses(out)]
    assert text(events, "r1recipes/recipe/path") == str(recipe)
    assert text(events, "r1recipes/recipe/contents") == "    " + recipe.read_text().replace("\n", "\n    ")
    assert text(events, "r1recipes/recipe/argv") == shlex.join(["--config", str(recipe), *flags])
    assert text(events, "r1recipes/git_commit") == str(record["git_commit"])  # what stage.json says
    assert text(events, "r1recipes/git_dirty") == str(record["git_dirty"])
    args = json.loads(text(events, "args"))
    assert (args["run_name"], args["project"], args["learning_rate"]) == ("stage1", "r1recipes-mine", 2e-3)


def test_grpo_with_tensorboard_logs_its_rewards(tmp_path, tiny_model, arithmetic_file, monkeypatch):
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    out = tmp_path / "runs" / "mine" / "stage2"
    fields = tiny_grpo_fields(tiny_model, arithmetic_file, out, report_to="tensorboard")
    run(grpo, recipe_in_folder(tmp_path, "stage2_reasoning_grpo.yaml", fields))
    events = tensorboard_run(out)
    rewards = events.Scalars("train/rewards/length_reward/mean")
    assert [event.step for event in rewards] == [1, 2]
    assert text(events, "r1recipes/runner") == "grpo" and text(events, "r1recipes/stage") == "stage2_reasoning_grpo"


def trackio(*args: str, store: Path) -> dict:
    env = {**os.environ, "TRACKIO_DIR": str(store)}
    result = subprocess.run([TRACKIO_CLI, *args, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_trackio_through_the_pipeline_stores_the_run_under_its_project_and_stage_in_runs(
    tmp_path, tiny_model, arithmetic_file
):
    """`make stage1 ... REPORT_TO=trackio`'s launch: trackio's database lands in runs/trackio/ of the working
    directory (not the home directory), the run is `stage1` of project `r1recipes-mine`, with the losses and the
    source. Offline: no Space, no server (HF_HUB_OFFLINE=1 from conftest, trackio's remote settings removed)."""
    out = tmp_path / "runs" / "mine" / "stage1"
    recipe = recipe_in_folder(
        tmp_path, "stage1_cold_start_sft.yaml", tiny_sft_fields(tiny_model, arithmetic_file, out)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKIO_")}
    env["HF_HOME"] = str(tmp_path / "home")  # trackio's default store is HF_HOME/trackio
    command = [sys.executable, "-m", "r1recipes.pipeline", "launch", str(recipe), "--report_to", "trackio"]
    result = subprocess.run(
        [*command, "--args", "--learning_rate 2e-3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "home" / "trackio").exists()

    store = tmp_path / "runs" / "trackio"
    stage = json.loads((out / "stage.json").read_text())
    found = trackio("get", "run", "--project", "r1recipes-mine", "--run", "stage1", store=store)
    config = found["config"]
    assert config["recipe/path"] == str(recipe) and config["recipe/contents"] == recipe.read_text()
    assert config["recipe/argv"] == ["--config", str(recipe), "--learning_rate", "2e-3", "--report_to", "trackio"]
    assert (config["git_commit"], config["git_dirty"]) == (stage["git_commit"], stage["git_dirty"])
    assert config["learning_rate"] == 2e-3
    metric = trackio(
        "get", "metric", "--project", "r1recipes-mine", "--run", "stage1", "--metric", "train/loss", store=store
    )
    assert [pytest.approx(v["value"], rel=1e-6) for v in metric["values"]] == [loss for _, loss in logged_losses(out)]


def parse_sft(recipe: Path, *flags: str):
    _, training_args, _, source = sft.make_parser().parse(["--config", str(recipe), *flags])
    return training_args, source


def test_runs_are_named_after_their_stage_and_recipe_folder_unless_the_run_names_them(
    tmp_path, tiny_model, arithmetic_file
):
    fields = tiny_sft_fields(tiny_model, arithmetic_file, tmp_path / "runs" / "mine" / "stage3")
    recipe = recipe_in_folder(tmp_path, "stage3_sft.yaml", fields)
    args, source = parse_sft(recipe, "--report_to", "tensorboard,trackio")
    tracking.prepare(args, source)
    assert (args.report_to, args.run_name, args.project) == (["tensorboard", "trackio"], "stage3", "r1recipes-mine")
    args, source = parse_sft(recipe, "--report_to", "trackio", "--run_name", "lr-sweep-1", "--project", "sweeps")
    tracking.prepare(args, source)
    assert (args.run_name, args.project) == ("lr-sweep-1", "sweeps")
    args, source = parse_sft(recipe)  # report_to: none names nothing
    tracking.prepare(args, source)
    assert (args.report_to, args.run_name, args.project) == ([], None, tracking.DEFAULT_PROJECT)


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("none", []),
        (None, []),
        ("tensorboard", ["tensorboard"]),
        ("trackio, tensorboard,trackio", ["trackio", "tensorboard"]),
        (["wandb", "none"], ["wandb"]),
    ],
)
def test_report_to_values(value, names):
    assert tracking.trackers(value) == names


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("tensorbord", "report_to: unknown tracker 'tensorbord' (valid: none, tensorboard, trackio, wandb)"),
        ("tensorboard", "report_to tensorboard: the tensorboard package is not installed: make install-gpu, or "),
        ("trackio", "report_to trackio: the trackio package is not installed: make install-gpu, or "),
    ],
)
def test_a_bad_or_missing_tracker_is_one_line_before_the_data_or_model_loads(
    tmp_path, tiny_model, arithmetic_file, monkeypatch, capsys, flag, message
):
    for package in ("tensorboard", "trackio"):
        monkeypatch.setitem(sys.modules, package, None)  # as if not installed: importlib finds no spec
    loaded = []
    monkeypatch.setattr("r1recipes.training.stage.load_policy", lambda *args: loaded.append(args))
    monkeypatch.setattr("r1recipes.sft.sft_datasets", lambda *args: loaded.append(args))
    out = tmp_path / "runs" / "mine" / "stage1"
    recipe = recipe_in_folder(
        tmp_path, "stage1_cold_start_sft.yaml", tiny_sft_fields(tiny_model, arithmetic_file, out)
    )
    with pytest.raises(SystemExit) as exit_info:
        run_cli(sft.main, sft.make_parser, ["--config", str(recipe), "--report_to", flag])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {recipe}: {message}"), errors
    assert loaded == [] and not out.exists()


def test_wandb_missing_names_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(
        RecipeError, match=r"^report_to wandb: the wandb package is not installed: .*pip install wandb"
    ):
        tracking.check_installed(tracking.trackers("wandb"))
