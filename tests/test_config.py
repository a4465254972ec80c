"""Recipe parsing: YAML as defaults, flags override, and every kind of bad input as one clear error line."""

import json
import subprocess
import sys

import pytest
from helpers import tiny_grpo_fields, tiny_sft_fields, write_recipe

from r1recipes import RecipeError, grpo, sft
from r1recipes.training import stage
from r1recipes.training.stage import run_cli


def parse_sft(recipe, *flags):
    return sft.make_parser().parse(["--config", str(recipe), *flags])


def test_yaml_sets_values_and_flags_override(tmp_path, tiny_model, arithmetic_file):
    recipe = write_recipe(tmp_path / "r.yaml", **tiny_sft_fields(tiny_model, arithmetic_file, tmp_path / "out"))
    data, train, model, source = parse_sft(recipe, "--learning_rate", "0.5", "--max_steps", "7")
    assert (train.learning_rate, train.max_steps, train.per_device_train_batch_size) == (0.5, 7, 4)
    assert data.sources[0].path == str(arithmetic_file)
    assert model.model_name_or_path == str(tiny_model)
    assert source.path == str(recipe) and "max_steps" in source.text


def test_yaml_exponent_without_dot_is_a_float(tmp_path, tiny_model, arithmetic_file):
    # YAML 1.1 reads 1e-5 as a string; the recipe author meant a number
    fields = tiny_sft_fields(tiny_model, arithmetic_file, tmp_path / "out")
    recipe = tmp_path / "r.yaml"
    lines = [f"{key}: {json.dumps(value)}" for key, value in fields.items() if key != "learning_rate"]
    recipe.write_text("\n".join(lines) + "\nlearning_rate: 1e-5\n")
    assert parse_sft(recipe)[1].learning_rate == 1e-5


def test_grpo_reward_settings_are_grouped_by_name(tmp_path, tiny_model, arithmetic_file):
    fields = tiny_grpo_fields(tiny_model, arithmetic_file, tmp_path / "out", reward_funcs=["format"])
    fields["reward_kwargs"] = {"format": {"require_answer_tags": False}}
    _, train, _, _ = grpo.make_parser().parse(["--config", str(write_recipe(tmp_path / "g.yaml", **fields))])
    assert train.reward_kwargs == {"format": {"require_answer_tags": False}}


def test_mixture_and_renames_parse(tmp_path, tiny_model, arithmetic_file):
    mixture = [{"path": str(arithmetic_file), "weight": 0.5, "rename": {"problem": "question"}}]
    fields = tiny_sft_fields(tiny_model, None, tmp_path / "out", dataset_mixture=mixture, prompt_column="question")
    del fields["dataset_name"]
    data = parse_sft(write_recipe(tmp_path / "r.yaml", **fields))[0]
    assert (data.sources[0].weight, data.sources[0].rename) == (0.5, {"problem": "question"})


# (case name, runner, recipe overrides, command-line flags, words the one error line must contain)
BAD_INPUT = [
    ("unknown yaml key", "sft", {"learning_rat": 0.1}, [], ["unknown key 'learning_rat'", "learning_rate", "r.yaml"]),
    ("unknown flag", "sft", {}, ["--max_step", "3"], ["unknown argument '--max_step'", "max_steps"]),
    ("wrong yaml type", "sft", {"max_steps": 2.5}, [], ["max_steps", "an integer", "r.yaml"]),
    ("wrong flag type", "sft", {}, ["--max_steps", "many"], ["--max_steps", "many"]),
    ("yaml no is a bool", "sft", {"save_strategy": False}, [], ["save_strategy", "quote it"]),
    ("not a choice", "sft", {"dtype": "float8"}, [], ["dtype", "float8"]),
    ("unknown prompt format", "sft", {"prompt_format": "alpaca"}, [], ["prompt_format", "alpaca"]),
    ("missing dataset file", "sft", {"dataset_name": "no/such/file.jsonl"}, [], ["dataset not found", "file.jsonl"]),
    ("missing column", "sft", {"prompt_column": "question"}, [], ["no column 'question'", "problem"]),
    (
        "missing model",
        "sft",
        {"model_name_or_path": "runs/nothing/here"},
        [],
        ["model not found", "runs/nothing/here"],
    ),
    ("template placeholder", "sft", {"prompt_format": "template", "prompt_template": "Q: {query}"}, [], ["'query'"]),
    ("unknown reward", "grpo", {"reward_funcs": ["acuracy"]}, [], ["unknown reward 'acuracy'", "format"]),
    (
        "unknown reward setting",
        "grpo",
        {"reward_funcs": ["format"], "reward_kwargs": {"format": {"strict": 1}}},
        [],
        ["strict", "format"],
    ),
    (
        "bad reward setting value",
        "grpo",
        {"reward_funcs": ["repetition"], "reward_kwargs": {"repetition": {"max_penalty": 0.5}}},
        [],
        ["reward_kwargs.repetition.max_penalty", "0.5"],
    ),
    (
        "missing reward model",
        "grpo",
        {"reward_funcs": ["reward_model"], "reward_kwargs": {"reward_model": {"model_name_or_path": "runs/no/rm"}}},
        [],
        ["reward_model", "runs/no/rm"],
    ),
    ("reward model path unset", "grpo", {"reward_funcs": ["reward_model"]}, [], ["missing setting", "model_name"]),
    ("batch vs generations", "grpo", {"per_device_train_batch_size": 3}, [], ["3 completions", "num_generations (2)"]),
]


@pytest.mark.parametrize("case,runner,overrides,flags,words", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_error_line_and_nothing_is_written(
    case, runner, overrides, flags, words, tmp_path, tiny_model, arithmetic_file, capsys, monkeypatch
):
    module = {"sft": sft, "grpo": grpo}[runner]
    fields_for = {"sft": tiny_sft_fields, "grpo": tiny_grpo_fields}[runner]
    output_dir = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", **fields_for(tiny_model, arithmetic_file, output_dir, **overrides))

    def no_model_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the error")

    monkeypatch.setattr(stage, "load_policy", no_model_load)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(module.main, module.make_parser, ["--config", str(recipe), *flags])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and all(line.startswith("r1recipes: ") for line in lines if line not in errors)
    for word in words:
        assert word in errors[0]
    assert not output_dir.exists()


def test_grpo_with_kl_refuses_a_gguf_model_before_loading(tmp_path, tiny_model, arithmetic_file, capsys):
    gguf_file = tmp_path / "model.gguf"
    gguf_file.write_bytes(b"GGUF")  # never read: the check comes first
    fields = tiny_grpo_fields(gguf_file, arithmetic_file, tmp_path / "out", beta=0.1)
    with pytest.raises(SystemExit):
        run_cli(grpo.main, grpo.make_parser, ["--config", str(write_recipe(tmp_path / "g.yaml", **fields))])
    assert "python -m r1recipes.models convert --input" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_recipe_file_names_it():
    with pytest.raises(RecipeError, match="recipe not readable: nope.yaml"):
        sft.make_parser().parse(["--config", "nope.yaml"])


def test_cli_prints_one_error_line_and_exits_2(tmp_path, tiny_model, arithmetic_file):
    fields = tiny_sft_fields(tiny_model, arithmetic_file, tmp_path / "out", lerning_rate=0.1)
    recipe = write_recipe(tmp_path / "r.yaml", **fields)
    result = subprocess.run(
        [sys.executable, "-m", "r1recipes.sft", "--config", str(recipe)], capture_output=True, text=True
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {recipe}: unknown key 'lerning_rate' (did you mean 'learning_rate'?)"]
    assert not (tmp_path / "out").exists()
