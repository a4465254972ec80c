"""Bad input through the runners' entry points (issue 17): one `error:` line naming the file or field, exit
status 2, before the model loads, and nothing written."""

import json
import os
from pathlib import Path

import pytest
from helpers import tiny_grpo_fields, tiny_sft_fields, write_recipe

from r1recipes import evaluate, grpo, sft
from r1recipes.config.hardware import Machine
from r1recipes.config.paths import check_model_folder, check_model_path
from r1recipes.data.synthetic import arithmetic_rows
from r1recipes.models import loading
from r1recipes.training.stage import run_cli


def text_file(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def corrupt_jsonl(tmp: Path) -> str:
    """Eight rows, the fourth cut off mid-string (as by a full disk)."""
    lines = [json.dumps(row) for row in arithmetic_rows(8, seed=0)]
    lines[3] = lines[3][:30]
    return text_file(tmp / "corrupt.jsonl", "\n".join(lines) + "\n")


def not_an_object(tmp: Path) -> str:
    return text_file(tmp / "list.jsonl", '{"problem": "1 + 1"}\n[1, 2]\n')


def gguf_folder(tmp: Path) -> str:
    """A folder holding a .gguf file, given instead of the file."""
    return folder(tmp / "gguf", "m.gguf")


def folder(path: Path, *files: str) -> str:
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_text("not a model\n")
    return str(path)


class NoModelLoad:
    @staticmethod
    def from_pretrained(*args, **kwargs):
        raise AssertionError("the model was read before the error")


def run_refused(runner, argv: list[str], capfd, monkeypatch) -> str:
    """The one error line of a run that must stop before any of the model is read."""
    monkeypatch.setattr(loading, "AutoTokenizer", NoModelLoad)
    monkeypatch.setattr(loading, "AutoModelForCausalLM", NoModelLoad)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(runner.main, runner.make_parser, argv)
    assert exit_info.value.code == 2
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert not any("Traceback" in line for line in lines), lines  # notices and progress bars at most
    return errors[0]


def under_a_file(tmp: Path) -> str:
    return str(Path(text_file(tmp / "file.txt", "x")) / "sub")


# (case, runner, field, its bad value (made in the test's folder), words the error line must contain besides the value)
TRAINING = [
    ("negative learning rate", "sft", "learning_rate", lambda tmp: -0.1, ["learning_rate must be >= 0", "r.yaml"]),
    ("negative learning rate grpo", "grpo", "learning_rate", lambda tmp: -1e-6, ["learning_rate must be >= 0"]),
    ("negative weight decay", "sft", "weight_decay", lambda tmp: -0.1, ["weight_decay must be >= 0"]),
    ("no completion tokens", "grpo", "max_completion_length", lambda tmp: 0, ["max_completion_length must be >= 1"]),
    ("empty dataset file", "sft", "dataset_name", lambda tmp: text_file(tmp / "e.jsonl", ""), ["is empty"]),
    ("blank dataset file", "grpo", "dataset_name", lambda tmp: text_file(tmp / "b.jsonl", "\n\n"), ["is empty"]),
    ("empty csv file", "sft", "dataset_name", lambda tmp: text_file(tmp / "e.csv", ""), ["is empty"]),
    ("corrupt jsonl line", "sft", "dataset_name", corrupt_jsonl, ["line 4 is not valid JSON"]),
    ("jsonl line not an object", "grpo", "dataset_name", not_an_object, ["line 2 is not a JSON object"]),
    ("dataset folder without data", "sft", "dataset_name", lambda tmp: folder(tmp / "d"), ["data files"]),
    ("empty folder as model", "sft", "model_name_or_path", lambda tmp: folder(tmp / "m"), ["no config.json"]),
    ("text files as model", "grpo", "model_name_or_path", lambda tmp: folder(tmp / "m", "a.txt"), ["not a model"]),
    ("folder of a gguf file as model", "sft", "model_name_or_path", gguf_folder, ["give its .gguf file instead"]),
    ("data file as model", "sft", "model_name_or_path", lambda tmp: text_file(tmp / "r.jsonl", "{}"), [".gguf"]),
    ("output_dir is a file", "sft", "output_dir", lambda tmp: text_file(tmp / "f", "x"), ["not a directory"]),
    ("output_dir under a file", "grpo", "output_dir", under_a_file, ["output_dir", "not a directory"]),
]


@pytest.mark.parametrize("case,runner,field,make,words", TRAINING, ids=[c[0] for c in TRAINING])
def test_training_refuses_bad_input_in_one_line(
    case, runner, field, make, words, tmp_path, tiny_model, arithmetic_file, capfd, monkeypatch
):
    module = {"sft": sft, "grpo": grpo}[runner]
    fields_for = {"sft": tiny_sft_fields, "grpo": tiny_grpo_fields}[runner]
    output_dir, bad = tmp_path / "out", tmp_path / "bad"
    value = make(bad)
    fields = {**fields_for(tiny_model, arithmetic_file, output_dir), field: value}
    before = sorted(bad.rglob("*")) if bad.exists() else []
    error = run_refused(module, ["--config", str(write_recipe(tmp_path / "r.yaml", **fields))], capfd, monkeypatch)
    for word in [str(value), *words]:
        assert word in error, error
    assert not output_dir.exists()
    assert (sorted(bad.rglob("*")) if bad.exists() else []) == before  # nothing written beside the bad input


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_dir_is_refused(tmp_path, tiny_model, arithmetic_file, capfd, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    recipe = write_recipe(tmp_path / "r.yaml", **tiny_sft_fields(tiny_model, arithmetic_file, locked / "out"))
    error = run_refused(sft, ["--config", str(recipe)], capfd, monkeypatch)
    assert "output_dir" in error and "permission denied" in error
    assert not (locked / "out").exists()


@pytest.mark.parametrize("runner,flag", [("grpo", "--load_in_4bit"), ("sft", "--load_in_8bit")])
def test_qlora_without_a_cuda_gpu_is_refused_in_one_line(
    runner, flag, tmp_path, tiny_model, arithmetic_file, capfd, monkeypatch
):
    """bitsandbytes' 4- and 8-bit layers need CUDA: on a CPU the run stops before the model loads, not in
    bitsandbytes mid-load."""
    monkeypatch.setattr("r1recipes.config.hardware.machine", lambda: Machine(0, "2.13.0+cpu", None, False))
    module, fields_for = {"sft": (sft, tiny_sft_fields), "grpo": (grpo, tiny_grpo_fields)}[runner]
    output_dir = tmp_path / "out"
    recipe = write_recipe(tmp_path / "qlora.yaml", **fields_for(tiny_model, arithmetic_file, output_dir))
    argv = ["--config", str(recipe), "--use_peft", "true", flag, "true"]
    error = run_refused(module, argv, capfd, monkeypatch)
    assert error.startswith(f"error: {recipe}: ") and flag[2:] in error and "need a CUDA GPU" in error, error
    assert not output_dir.exists()


# (case, benchmark, its data file's rows, words the error line must contain)
NO_GOLD = [
    ("math500", "math500", [{"problem": "What is 1 + 1?"}], ["math500", "'answer' or 'solution'"]),
    ("minerva", "minerva", [{"problem": "x?", "answer_key": "2"}], ["minerva", "'answer' or 'solution'"]),
    ("gsm8k", "gsm8k", [{"question": "What is 1 + 1?", "solution": "2"}], ["gsm8k", "'answer'"]),
    ("olympiadbench", "olympiadbench", [{"question": "1 + 1?", "answer": "2"}], ["'final_answer'"]),
    ("arithmetic", "arithmetic", [{"problem": "What is 1 + 1?"}], ["arithmetic", "'answer' or 'solution'"]),
    ("countdown", "countdown", [{"problem": "Make 10", "nums": [5, 5]}], ["countdown", "'target'"]),
]


@pytest.mark.parametrize("case,benchmark,rows,words", NO_GOLD, ids=[c[0] for c in NO_GOLD])
def test_an_evaluation_file_without_its_gold_column_is_refused(
    case, benchmark, rows, words, tmp_path, tiny_model, capfd, monkeypatch
):
    data = text_file(tmp_path / "bench.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "out"
    argv = ["--model", str(tiny_model), "--benchmarks", benchmark, "--data_file", data, "--output", str(output)]
    error = run_refused(evaluate, argv, capfd, monkeypatch)
    for word in [*words, data, "gold"]:
        assert word in error, error
    assert not output.exists()


@pytest.mark.parametrize(
    "make,words",
    [
        (lambda tmp: ["--model", text_file(tmp / "rows.jsonl", "{}\n")], ["not a model", "rows.jsonl"]),
        (lambda tmp: ["--model", folder(tmp / "nomodel")], ["not a model folder", "nomodel"]),
        (lambda tmp: ["--output", str(Path(text_file(tmp / "file.txt", "x")) / "sub")], ["output", "file.txt/sub"]),
    ],
    ids=["data file as model", "empty folder as model", "output under a file"],
)
def test_evaluation_refuses_a_bad_model_or_output_in_one_line(make, words, tmp_path, tiny_model, capfd, monkeypatch):
    output = tmp_path / "out"
    argv = ["--model", str(tiny_model), "--benchmarks", "arithmetic", "--max_problems", "2", "--output", str(output)]
    error = run_refused(evaluate, [*argv, *make(tmp_path / "bad")], capfd, monkeypatch)
    for word in words:
        assert word in error, error
    assert not output.exists()


def test_what_loads_as_a_model_passes_the_cheap_checks(tmp_path, tiny_model):
    for model in [
        str(tiny_model),
        folder(tmp_path / "lora", "adapter_config.json"),  # a LoRA stage's output: transformers loads it
        text_file(tmp_path / "model.gguf", "GGUF"),
    ]:
        check_model_path(model)
        check_model_folder(model)
