"""Stage 3 rejection sampling end to end on a tiny model: verified rows, a kill and a rerun, shards, SFT on the result.

The teacher (conftest.py) answers about a third of its sums right, so every run has correct and incorrect
samples to tell apart.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import datasets
import psutil
import pyarrow.parquet as pq
import pytest
from helpers import tiny_sft_fields, write_recipe
from test_rewards_pool import live_descendants_after_kill

from r1recipes import RecipeError, generate, sft
from r1recipes.config.arguments import DatasetSource
from r1recipes.data.loading import source_columns
from r1recipes.data.synthetic import arithmetic_rows, write_jsonl
from r1recipes.generation.output import OutputDir
from r1recipes.generation.readability import check_filters, failed_filters
from r1recipes.rewards.accuracy import accuracy_reward
from r1recipes.training.stage import run_cli

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
    ("start over and merge", {"start_over": True, "merge": True}, None, ["start_over would delete the chunks"]),
]


@pytest.mark.parametrize("case,overrides,data,words", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_clear_error_before_anything_starts(
    case, overrides, data, words, tmp_path, tiny_model, prompts, capsys, monkeypatch
):
    import r1recipes.generation.sampling

    def no_model_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the error")

    monkeypatch.setattr(r1recipes.generation.sampling, "load_sampler", no_model_load)
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


def test_a_killed_generator_leaves_no_process_behind(tmp_path, teacher):
    """Its verifier process, that process's accuracy workers and multiprocessing's resource tracker exit with it."""
    symbolic = write_jsonl([{**row, "answer": "x + 1"} for row in PROMPTS], tmp_path / "symbolic.jsonl")
    out = tmp_path / "out"
    fields = generate_fields(teacher, symbolic, out, prompts_per_file=2, verify_processes=1)
    recipe = write_recipe(tmp_path / "stage3.yaml", **fields)
    command = [sys.executable, "-m", "r1recipes.generate", "--config", str(recipe)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        generator, deadline = psutil.Process(process.pid), time.monotonic() + 120
        # a symbolic gold sends every stated answer to the accuracy workers, which the verifier process forks
        while not any(p.ppid() != process.pid for p in generator.children(recursive=True)):
            assert process.poll() is None and time.monotonic() < deadline, "the accuracy workers never started"
            time.sleep(0.05)
        assert live_descendants_after_kill(process) == []
    finally:
        process.kill()


def test_a_run_whose_model_fails_to_load_leaves_nothing_behind(tmp_path, teacher, prompts):
    """The rerun with the right model must not meet a folder recording the wrong one ("other settings")."""
    not_a_model, out = tmp_path / "empty", tmp_path / "out"
    not_a_model.mkdir()
    with pytest.raises(RecipeError, match="not a model folder"):
        run(write_recipe(tmp_path / "bad.yaml", **generate_fields(not_a_model, prompts, out)))
    assert not out.exists()
    assert run(write_recipe(tmp_path / "good.yaml", **generate_fields(teacher, prompts, out)))["prompts"] == 24


def parquet_row(prompt_id: str) -> dict:
    reply = {"role": "assistant", "content": "<think>\n1 + 1 = 2.\n</think>\n\n<answer>2</answer>"}
    return {"messages": [{"role": "user", "content": "1 + 1?"}, reply], "prompt_id": prompt_id, "task": "math"}


def test_each_chunk_records_its_file_and_a_damaged_chunk_is_redone(tmp_path, capsys):
    out = OutputDir(str(tmp_path))
    out.prepare(start_over=False)
    for index in range(6):
        out.write_chunk(index, [] if index == 1 else [parquet_row(str(index))], {"tasks/math/kept": int(index != 1)})
    first = out.data / "reasoning-000000.parquet"
    assert json.loads((out.chunks / "000000.json").read_text()) == {
        "counts": {"tasks/math/kept": 1},
        "file": {
            "name": first.name,
            "rows": 1,
            "bytes": first.stat().st_size,
            "sha256": hashlib.sha256(first.read_bytes()).hexdigest(),
        },
    }
    assert json.loads((out.chunks / "000001.json").read_text()) == {"counts": {"tasks/math/kept": 0}, "file": None}
    assert out.done() == set(range(6)) and out.totals() == {"tasks/math/kept": 5}

    (out.data / "reasoning-000001.parquet").write_bytes(first.read_bytes())  # a file where the chunk wrote none
    data = (out.data / "reasoning-000002.parquet").read_bytes()
    (out.data / "reasoning-000002.parquet").write_bytes(data[: len(data) // 2])
    (out.data / "reasoning-000003.parquet").unlink()
    (out.data / "reasoning-000004.parquet").write_bytes(data.replace(b"1 + 1", b"1 + 2"))  # same size
    (out.chunks / "000005.json").write_text('{"counts": {"tasks/math/ke')  # a marker cut short
    capsys.readouterr()
    assert out.done() == {0}
    assert capsys.readouterr().err.splitlines() == [
        "r1recipes: chunk 1 will be redone: data/reasoning-000001.parquet exists, but the chunk wrote no file",
        "r1recipes: chunk 2 will be redone: data/reasoning-000002.parquet is not the file it wrote (size or checksum)",
        "r1recipes: chunk 3 will be redone: data/reasoning-000003.parquet is missing",
        "r1recipes: chunk 4 will be redone: data/reasoning-000004.parquet is not the file it wrote (size or checksum)",
        "r1recipes: chunk 5 will be redone: chunks/000005.json is unreadable",
    ]
    assert out.done() == {0} and capsys.readouterr().err == ""  # said once


def test_a_copied_and_damaged_folder_resumes_to_the_rows_of_one_run(tmp_path, reference, capsys):
    """The location is not a setting: a copy is the same folder; its damaged chunks are redone."""
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    recipe = reference.parent / "stage3.yaml"
    assert run(recipe, "--output_dir", str(copy)) is None and "is complete" in capsys.readouterr().err
    for name in ("stage.json", "manifest.json"):
        (copy / name).unlink()
    damaged = sorted((copy / "data").glob("reasoning-*.parquet"))[1]
    damaged.write_bytes(damaged.read_bytes()[:100])
    (copy / "chunks" / "000000.json").write_text("{")
    manifest = run(recipe, "--output_dir", f"{copy}/")
    notes = [line for line in capsys.readouterr().err.splitlines() if "will be redone" in line]
    assert notes == [
        "r1recipes: chunk 0 will be redone: chunks/000000.json is unreadable",
        f"r1recipes: chunk {int(damaged.stem[-6:])} will be redone: data/{damaged.name} is not the file it wrote "
        "(size or checksum)",
    ]
    assert rows(copy) == rows(reference) and untimed(manifest) == untimed(
        json.loads((reference / "manifest.json").read_text())
    )


def test_the_manifest_lists_every_data_file(reference):
    manifest = json.loads((reference / "manifest.json").read_text())
    names = sorted(path.name for path in (reference / "data").iterdir())
    assert (
        sorted(manifest["files"]) == names and sum(f["rows"] for f in manifest["files"].values()) == manifest["rows"]
    )
    for name, record in manifest["files"].items():
        data = (reference / "data" / name).read_bytes()
        assert record == {
            "rows": len(pq.read_table(reference / "data" / name)),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


def damage_missing(data: Path) -> str:
    name = sorted(data.iterdir())[0].name
    (data / name).unlink()
    return f"data/{name} is missing"


def damage_extra(data: Path) -> str:
    shutil.copy(sorted(data.iterdir())[0], data / "extra.parquet")
    return "data/extra.parquet is not in its manifest.json"


def damage_truncated(data: Path) -> str:
    path = sorted(data.iterdir())[0]
    path.write_bytes(path.read_bytes()[:-1])
    return f"data/{path.name} is not the file the generator wrote (size or checksum differ)"


def damage_same_size(data: Path) -> str:
    path = sorted(data.iterdir())[0]
    content = path.read_bytes()
    path.write_bytes(content[:-9] + bytes([content[-9] ^ 1]) + content[-8:])
    return f"data/{path.name} is not the file the generator wrote (size or checksum differ)"


def damage_unfinished(data: Path) -> str:
    (data.parent / "stage.json").unlink()
    return "generation is not complete (no stage.json); finish or merge it"


@pytest.mark.parametrize(
    "damage", [damage_missing, damage_extra, damage_truncated, damage_same_size, damage_unfinished]
)
def test_a_damaged_output_is_refused_as_a_dataset_naming_the_file(tmp_path, reference, damage):
    assert_read_then_refused(tmp_path / "copy", reference, damage)


def test_a_copy_of_the_shared_files_reads_as_the_output_and_is_checked(tmp_path, reference):
    """What `share` uploads of stage 3 (data, manifest, stage.json; no chunks/ or config.json) is read as the
    generator's output, so it is checked against its manifest like the folder it came from."""
    assert_read_then_refused(tmp_path / "copy", reference, damage_extra, ignore=("chunks", "config.json"))


def assert_read_then_refused(copy: Path, reference: Path, damage, ignore: tuple[str, ...] = ()) -> None:
    """A copy of `reference` (less `ignore`) reads as a dataset; once damaged, it is refused naming the file."""
    shutil.copytree(reference, copy, ignore=shutil.ignore_patterns(*ignore))
    source = DatasetSource(path=str(copy))
    assert "messages" in source_columns(source)
    reason = damage(copy / "data")
    with pytest.raises(RecipeError) as error:
        source_columns(source)
    assert str(error.value) == f"{copy}: {reason}"


# --- a mixture of four families, judged by their verifiers (a scripted sampler: no model's luck involved) ---

MCQ = [{"question": f"Which organ pumps blood? ({i})", "opa": "Lung", "opb": "Heart", "opc": "Liver", "opd": "Skin",
        "cop": 1} for i in range(3)]  # fmt: skip


def scripted(row: dict, j: int) -> str:
    """Sample j of a prompt: 0 and 2 the same right answer, 1 a wrong one, 3 a right one in other words."""
    reasoning = "We work it out." if j != 3 else "Another way to see it."
    if row["task"] == "code":
        program = row["solution"].split("```python\n")[1].split("```")[0] if j != 1 else "print(0)\n"
        return f"<think>\n{reasoning}\n</think>\n\n```python\n{program}```"
    if row["task"] == "science":
        return f"<think>\n{reasoning}\n</think>\n\nAnswer: {'A' if j == 1 else 'B'}"
    if row["task"] == "countdown":
        answer = row["solution"].split("<answer>")[1].split("</answer>")[0] if j != 1 else "1 + 1"
        return f"<think>\n{reasoning}\n</think>\n\n<answer>{answer}</answer>"
    return f"<think>\n{reasoning}\n</think>\n\n\\boxed{{{row['answer'] if j != 1 else 'x'}}}"


def test_a_mixture_of_families_is_verified_by_task_kept_m_by_task_and_read_as_sft_data(
    tmp_path, tiny_model, monkeypatch
):
    import r1recipes.generation.sampling as sampling
    from r1recipes.config.arguments import SFTDataArguments
    from r1recipes.data.loading import sft_datasets, stream_rows
    from r1recipes.data.synthetic import code_rows, countdown_rows
    from r1recipes.models.loading import load_tokenizer

    files = {
        "math": write_jsonl(arithmetic_rows(3, seed=1), tmp_path / "math.jsonl"),
        "countdown": write_jsonl(countdown_rows(3, seed=1), tmp_path / "countdown.jsonl"),
        "code": write_jsonl(code_rows(3, seed=1), tmp_path / "code.jsonl"),
        "science": write_jsonl(MCQ, tmp_path / "mcq.jsonl"),
    }
    mixture = [{"path": str(files[name])} for name in ("math", "countdown", "code")] + [
        {"path": str(files["science"]), "rename": {"cop": "answer"}, "add_columns": {"task": "science"},
         "format_columns": {"problem": "{question}\nA. {opa}\nB. {opb}\nC. {opc}\nD. {opd}"}}
    ]  # fmt: skip
    fields = generate_fields(tiny_model, None, tmp_path / "out", keep_per_prompt={"math": 2, "countdown": 1,
                             "code": 2, "science": 1}, dataset_mixture=mixture, prompts_per_file=4)  # fmt: skip
    del fields["dataset_name"]
    fields["verifiers"] = {"math": "accuracy", "countdown": "countdown", "code": "code", "science": "choice"}
    fields["filters"] = {"code_in_reasoning": {"code_tasks": ["code"]}}
    recipe = write_recipe(tmp_path / "stage3.yaml", **fields)
    data_args, config, model_args, _ = generate.make_parser().parse(["--config", str(recipe)])
    rows = list(stream_rows(data_args.sources))
    assert [row["task"] for row in rows] == ["math"] * 3 + ["countdown"] * 3 + ["code"] * 3 + ["science"] * 3
    assert rows[-1]["problem"].endswith("B. Heart\nC. Liver\nD. Skin")

    class Scripted:
        def generate(self, prompt_ids, positions, progress=lambda n: None):
            progress(len(positions))
            return [[sampling.Sample(scripted(rows[p], j), 20, False) for j in range(4)] for p in positions]

    tokenizer = load_tokenizer(str(tiny_model))
    monkeypatch.setattr(sampling, "load_sampler", lambda *args: (tokenizer, Scripted()))
    manifest = generate.main(data_args, config, model_args)

    assert {task: t["correct"] for task, t in manifest["tasks"].items()} == dict.fromkeys(files, 9)  # 3 x 3 right
    assert {task: t["kept"] for task, t in manifest["tasks"].items()} == {  # m of the 2 distinct right ones
        "math": 6, "countdown": 3, "code": 6, "science": 3
    }  # fmt: skip
    assert "unverifiable" not in manifest["rejected"]  # every code sample ran against its tests
    train, _ = sft_datasets(SFTDataArguments(dataset_name=str(tmp_path / "out")), seed=0)
    assert len(train) == manifest["rows"] == 18
    assert sorted({m[-1]["content"].split("</think>")[0] for m in train["messages"]}) == [
        "<think>\nAnother way to see it.\n",
        "<think>\nWe work it out.\n",
    ]
