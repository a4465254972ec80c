"""Stage 3 rejection sampling end to end on a tiny model: verified rows, a kill and a rerun, shards, SFT on the result.

The teacher (conftest.py) answers about a third of its sums right, so every run has correct and incorrect
samples to tell apart.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import datasets
import pytest
from helpers import tiny_sft_fields, write_recipe

from r1recipes import RecipeError, generate, sft
from r1recipes.output import OutputDir
from r1recipes.readability import check_filters, failed_filters
from r1recipes.rewards.accuracy import accuracy_reward
from r1recipes.stage import run_cli
from r1recipes.synthetic import arithmetic_rows, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = arithmetic_rows(24, seed=5, max_value=4)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    return write_jsonl(PROMPTS, tmp_path_factory.mktemp("prompts") / "prompts.jsonl")


def generate_fields(model, data, output_dir, **overrides) -> dict:
    fields = dict(
        model_name_or_path=str(model),
        dataset_name=str(data),
        output_dir=str(output_dir),
        num_samples=4,
        keep_per_prompt=2,
        max_new_tokens=40,
        temperature=1.0,
        prompts_per_file=5,
        batch_size=16,
        verify_processes=0,
    )
    return {**fields, **overrides}


def run(recipe: Path, *flags):
    return generate.main(*generate.make_parser().parse(["--config", str(recipe), *flags]))


def rows(output_dir: Path) -> list[dict]:
    data = datasets.load_dataset("parquet", data_dir=str(output_dir / "data"), split="train")
    return sorted(data.to_list(), key=lambda row: (row["task"], row["prompt_id"], row["sample_index"] or 0))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, teacher, prompts) -> Path:
    """One uninterrupted run, verifying in a worker process as a real run does."""
    folder = tmp_path_factory.mktemp("reference")
    fields = generate_fields(teacher, prompts, folder / "out", verify_processes=1)
    recipe = write_recipe(folder / "stage3.yaml", **fields)
    run(recipe)
    return folder / "out"


def test_kept_rows_are_correct_readable_and_counted(reference, capsys):
    kept = rows(reference)
    manifest = json.loads((reference / "manifest.json").read_text())
    math = manifest["tasks"]["math"]
    assert (manifest["prompts"], manifest["samples"]) == (24, 96) and manifest["samples_per_second"] > 0
    assert 0 < math["correct"] < 96 and manifest["rejected"]["incorrect"] == 96 - math["correct"]
    assert manifest["kept"] == len(kept) == math["kept"] <= 2 * 24
    assert math["prompts_with_kept"] == len({row["prompt_id"] for row in kept})
    answers = [PROMPTS[int(row["prompt_id"])]["answer"] for row in kept]
    replies = [row["messages"][-1]["content"] for row in kept]
    assert accuracy_reward(replies, answer=answers) == [1.0] * len(kept)
    assert all(failed_filters(reply, "math", False, check_filters({})) == [] for reply in replies)
    for row in kept:
        user, assistant = row["messages"]
        assert user == {"role": "user", "content": PROMPTS[int(row["prompt_id"])]["problem"]}
        assert assistant["role"] == "assistant" and assistant["content"].startswith("<think>\n")
        assert row["verifier"] == "accuracy" and row["reward"] == 1.0 and 1 <= row["num_correct"] <= 4
    assert len({(row["prompt_id"], row["sample_index"]) for row in kept}) == len(kept)
    stage = json.loads((reference / "stage.json").read_text())
    assert stage["runner"] == "generate" and stage["manifest"] == manifest

    assert run(reference.parent / "stage3.yaml") is None  # complete: a rerun does nothing
    assert "is complete" in capsys.readouterr().err


def test_a_killed_run_resumes_and_writes_what_an_uninterrupted_run_writes(tmp_path, teacher, prompts, reference):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "stage3.yaml", **generate_fields(teacher, prompts, out, prompts_per_file=2))
    command = [sys.executable, "-m", "r1recipes.generate", "--config", str(recipe)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "chunks" / "000001.json").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = {path.name: path.stat().st_mtime_ns for path in (out / "chunks").glob("*.json")}
    assert 2 <= len(done) < 12 and not (out / "stage.json").exists()

    run(recipe)
    assert {name: (out / "chunks" / name).stat().st_mtime_ns for name in done} == done  # finished chunks kept
    assert rows(out) == rows(reference)


def untimed(manifest: dict) -> dict:
    return {key: value for key, value in manifest.items() if key not in ("sampling_seconds", "samples_per_second")}


def test_shards_merge_to_the_rows_of_one_run(tmp_path, teacher, prompts, reference, capsys):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "stage3.yaml", **generate_fields(teacher, prompts, out, batch_size=5))
    assert run(recipe, "--num_shards", "2", "--shard_index", "1") is None
    assert "run with --merge true once they are done" in capsys.readouterr().err
    with pytest.raises(RecipeError, match="cannot merge: 3 of 5 chunks not done yet"):
        run(recipe, "--merge", "true")
    manifest = run(recipe, "--num_shards", "2", "--shard_index", "0")  # the last shard to finish merges
    assert untimed(manifest) == untimed(json.loads((reference / "manifest.json").read_text()))
    assert rows(out) == rows(reference)


def test_shards_finishing_together_take_turns_at_the_merge(tmp_path):
    out, order = OutputDir(str(tmp_path)), []

    def other_shard():
        with out.finishing():
            order.append("other")

    with out.finishing():
        thread = threading.Thread(target=other_shard)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(timeout=10)
    assert order == ["first", "other"]


def test_a_rerun_with_other_settings_is_refused(reference):
    with pytest.raises(RecipeError, match=r"generate\.temperature differ"):
        run(reference.parent / "stage3.yaml", "--temperature", "0.5")


def test_non_reasoning_rows_are_mixed_in_by_ratio(tmp_path, teacher, prompts, reference):
    general = [{"prompt": f"Say hello {i}", "response": f"Hello {i}!"} for i in range(100)]
    source = {"path": str(write_jsonl(general, tmp_path / "chat.jsonl")), "ratio": 0.5}
    out = tmp_path / "out"
    run(write_recipe(tmp_path / "stage3.yaml", **generate_fields(teacher, prompts, out, non_reasoning=source)))
    manifest = json.loads((out / "manifest.json").read_text())
    mixed = [row for row in rows(out) if row["task"] == "general"]
    assert manifest["non_reasoning_rows"] == len(mixed) == round(0.5 * manifest["kept"]) > 0
    assert mixed[0]["messages"] == [
        {"role": "user", "content": "Say hello 0"},
        {"role": "assistant", "content": "Hello 0!"},
    ]
    assert manifest["rows"] == len(rows(out)) == manifest["kept"] + len(mixed)


def test_the_output_trains_with_sft(tmp_path, tiny_model, reference):
    fields = tiny_sft_fields(tiny_model, reference, tmp_path / "sft", max_steps=1, max_length=128)
    record = sft.main(*sft.make_parser().parse(["--config", str(write_recipe(tmp_path / "sft.yaml", **fields))]))
    assert record["global_step"] == 1 and (tmp_path / "sft" / "stage.json").exists()


def test_bad_input_stops_in_one_line_from_the_command_line(tmp_path, tiny_model, prompts):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "stage3.yaml", **generate_fields(tiny_model, prompts, out, num_samples=0))
    result = subprocess.run(
        [sys.executable, "-m", "r1recipes.generate", "--config", str(recipe)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=False,
    )
    assert result.returncode == 2 and result.stderr.strip() == f"error: {recipe}: num_samples must be >= 1, got 0"
    assert not out.exists()


def rows_without(column: str) -> list[dict]:
    return [{key: value for key, value in row.items() if key != column} for row in PROMPTS]


# (case, recipe overrides, prompt rows or None for the standard ones, words the one error line must contain)
BAD_INPUT = [
    ("missing prompt column", {"prompt_column": "question"}, None, ["no column 'question'", "problem"]),
    ("missing answer column", {}, [{"problem": "1 + 1?"}], ["task 'math'", "'answer' or 'solution'"]),
    ("task without verifier", {}, [{**PROMPTS[0], "task": "poetry"}], ["task 'poetry' (1 prompts) has no verifier"]),
    ("no samples", {"num_samples": 0}, None, ["num_samples must be >= 1"]),
    ("keep more than sampled", {"keep_per_prompt": 5}, None, ["keep_per_prompt (5) exceeds num_samples (4)"]),
    ("unknown verifier", {"verifiers": {"math": "acuracy"}}, None, ["unknown reward 'acuracy'"]),
    ("unknown filter", {"filters": {"langauge": False}}, None, ["unknown filter 'langauge'"]),
    ("missing model", {"model_name_or_path": "runs/no/model"}, None, ["model not found: runs/no/model"]),
    ("non-reasoning without amount", {"non_reasoning": {"path": "x.jsonl"}}, None, ["exactly one of 'count'"]),
    ("test split", {"test_split_size": 0.1}, None, ["test_split_size does not apply"]),
]


@pytest.mark.parametrize("case,overrides,data,words", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_clear_error_before_anything_starts(
    case, overrides, data, words, tmp_path, tiny_model, prompts, capsys, monkeypatch
):
    import r1recipes.sampling

    def no_model_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the error")

    monkeypatch.setattr(r1recipes.sampling, "load_sampler", no_model_load)
    source = prompts if data is None else write_jsonl(data, tmp_path / "rows.jsonl")
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "stage3.yaml", **generate_fields(tiny_model, source, out, **overrides))
    with pytest.raises(SystemExit) as exit_info:
        run_cli(generate.main, generate.make_parser, ["--config", str(recipe)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and all(word in error for word in words), error
    assert not out.exists()


def test_an_unwritable_output_dir_fails_before_the_model_loads(tmp_path, tiny_model, prompts):
    blocker = tmp_path / "file"
    blocker.write_text("")
    recipe = write_recipe(tmp_path / "stage3.yaml", **generate_fields(tiny_model, prompts, blocker / "out"))
    with pytest.raises(RecipeError, match=r"output_dir .*/file/out is not writable \(.*: not a directory\)"):
        run(recipe)
