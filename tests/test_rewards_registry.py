"""The registry: names and dotted paths, grouped settings, task routing, column checks, and GRPO wiring."""

import json

import pytest
from helpers import tiny_grpo_fields, write_recipe
from test_runners import run

from r1recipes import RecipeError, grpo
from r1recipes.rewards import (
    REWARDS,
    Reward,
    RewardFailedError,
    check_reward_columns,
    check_reward_config,
    get_reward_funcs,
)
from r1recipes.rewards.counts import COUNTS
from r1recipes.training.stage import run_cli


def broken_reward(completions, **kwargs):
    """A reward whose service is down: it raises on every call (named by dotted path in the runs below)."""
    raise ConnectionError("reward server unreachable\n(a second line the one-line error leaves out)")


def test_names_and_dotted_paths_resolve_and_log_under_their_names():
    funcs = get_reward_funcs(["accuracy", "cosine", "toy_rewards.length_reward"], {"cosine": {"max_len": 64}})
    assert [f.__name__ for f in funcs] == ["accuracy", "cosine", "length_reward"]
    assert funcs[1].settings == {"max_len": 64} and funcs[2](["abc"]) == [3.0]


def test_unknown_names_and_settings_are_errors_listing_the_valid_ones():
    with pytest.raises(RecipeError) as error:
        get_reward_funcs(["acuracy"])
    assert all(name in str(error.value) for name in REWARDS)
    with pytest.raises(RecipeError, match=r"reward_kwargs.cosine: unknown setting 'maxlen' \(valid: .*max_len"):
        check_reward_config(["cosine"], {"cosine": {"maxlen": 1}}, None)
    with pytest.raises(RecipeError, match="reward_kwargs.format.tasks: expected a list of task names"):
        check_reward_config(["format"], {"format": {"tasks": "math"}}, None)
    with pytest.raises(RecipeError, match="reward_weights has 1 values for 2 reward_funcs"):
        check_reward_config(["format", "accuracy"], {}, [1.0])
    with pytest.raises(RecipeError, match="could not be imported"):
        get_reward_funcs(["no_such_module.reward"])


def test_tasks_route_rows_to_their_rewards():
    accuracy, countdown = get_reward_funcs(
        ["accuracy", "countdown"], {"accuracy": {"tasks": ["math"]}, "countdown": {"tasks": ["countdown"]}}
    )
    completions = ["<answer>4</answer>", "<answer>1 + 2</answer>", "<answer>hi</answer>", "<answer>5</answer>"]
    columns = dict(
        task=["math", "countdown", "general", "math"],
        answer=["4", None, None, "4"],
        nums=[None, [1, 2], None, None],
        target=[None, 3, None, None],
        completion_ids=[[1], [2, 2], [3], [4]],
    )
    assert accuracy(completions, **columns) == [1.0, None, None, 0.0]
    assert countdown(completions, **columns) == [None, 1.0, None, None]
    with pytest.raises(RecipeError, match="needs a 'task' column"):
        accuracy(completions, answer=columns["answer"])


def test_an_unexpected_exception_leaves_the_batch_out_instead_of_stopping_the_run():
    (broken,) = get_reward_funcs(["countdown"])
    before = COUNTS["countdown/errors"]
    broken.func = lambda completions, **kwargs: 1 / 0
    assert broken(["x", "y"]) == [None, None]
    assert COUNTS["countdown/errors"] == before + 1


def test_a_reward_failing_on_3_calls_in_a_row_stops_the_run_and_a_success_resets_the_count():
    assert Reward.max_failed_calls == 3
    (reward,) = get_reward_funcs(["countdown"])
    outcomes = iter([1, 0, 0, 1, 0, 0, 0])  # 1: a successful call, 0: one that raises
    reward.func = lambda completions, **kwargs: [0.5] * len(completions) if next(outcomes) else 1 / 0
    assert [reward(["x"]) for _ in range(6)] == [[0.5], [None], [None], [0.5], [None], [None]]
    with pytest.raises(RewardFailedError) as error:
        reward(["x"])
    assert str(error.value) == "reward countdown failed on its last 3 calls: ZeroDivisionError: division by zero"


def test_calls_without_rows_of_the_rewards_tasks_neither_count_nor_reset():
    (reward,) = get_reward_funcs(["countdown"], {"countdown": {"tasks": ["countdown"]}})
    reward.func = lambda completions, **kwargs: 1 / 0
    mine, other = dict(task=["countdown"]), dict(task=["math"])
    assert reward(["x"], **mine) == [None] and reward(["x"], **other) == [None] and reward(["x"], **mine) == [None]
    with pytest.raises(RewardFailedError, match="failed on its last 3 calls"):
        reward(["x"], **mine)


def test_prepare_runs_the_rewards_start_up_work_with_its_settings():
    calls = []

    def with_start_up(completions, **kwargs):
        return [1.0] * len(completions)

    with_start_up.prepare = lambda **settings: calls.append(settings)
    cosine, accuracy = get_reward_funcs(["cosine", "accuracy"], {"cosine": {"max_len": 64, "tasks": ["math"]}})
    cosine.func = with_start_up
    cosine.prepare()
    accuracy.prepare()  # no start-up work: nothing happens
    assert calls == [{"max_len": 64}]


def test_grpo_stops_with_one_line_when_a_reward_fails_on_every_step(tmp_path, tiny_model, arithmetic_file, capsys):
    fields = tiny_grpo_fields(
        tiny_model,
        arithmetic_file,
        tmp_path / "out",
        reward_funcs=["toy_rewards.length_reward", "test_rewards_registry.broken_reward"],
        max_steps=5,
    )
    with pytest.raises(SystemExit) as exit_status:
        run_cli(grpo.main, grpo.make_parser, ["--config", str(write_recipe(tmp_path / "grpo.yaml", **fields))])
    assert exit_status.value.code == 2
    last_line = capsys.readouterr().err.splitlines()[-1]  # after the progress bar, which ends in no newline
    assert last_line.endswith(
        "error: reward test_rewards_registry.broken_reward failed on its last 3 calls: "
        "ConnectionError: reward server unreachable"
    )
    assert not (tmp_path / "out" / "stage.json").exists()


def test_missing_columns_are_named_before_training():
    check_reward_columns(["accuracy", "format"], {}, ["prompt", "solution"])
    with pytest.raises(RecipeError, match=r"reward 'accuracy' needs the column 'answer' or 'solution'; the dataset"):
        check_reward_columns(["accuracy"], {}, ["prompt", "problem"])
    with pytest.raises(RecipeError, match="reward 'cosine' needs the column 'nums'"):
        check_reward_columns(["cosine"], {"cosine": {"verifier": "countdown"}}, ["prompt", "answer"])
    with pytest.raises(RecipeError, match="reward 'format' needs the column 'task'"):
        check_reward_columns(["format"], {"format": {"tasks": ["math"]}}, ["prompt"])


def test_grpo_with_registry_rewards_logs_them_and_the_tallies(tmp_path, tiny_model, arithmetic_file):
    rows = [json.loads(line) for line in arithmetic_file.read_text().splitlines()]
    rows[0]["answer"] = rows[0]["solution"] = ""  # a gold answer nothing can be read from
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows[:8]))
    fields = tiny_grpo_fields(
        tiny_model,
        data,
        tmp_path / "out",
        reward_funcs=["accuracy", "format", "cosine"],
        reward_weights=[1.0, 0.5, 0.5],
        reward_kwargs={"accuracy": {"tasks": ["math"]}, "cosine": {"max_len": 12}},
        per_device_train_batch_size=8,
        num_generations=8,
        max_steps=1,
        shuffle_dataset=False,
    )
    record = run(grpo, write_recipe(tmp_path / "grpo.yaml", **fields))
    log = record["final_log"]
    assert {"rewards/accuracy/mean", "rewards/format/mean", "rewards/cosine/mean"} <= set(log)
    assert log["rewards/accuracy/gold_unparsable"] >= 1


def test_grpo_refuses_a_dataset_without_the_reward_columns_before_loading_the_model(
    tmp_path, tiny_model, arithmetic_file, monkeypatch
):
    monkeypatch.setattr("r1recipes.training.stage.load_policy", lambda *a: pytest.fail("the model was loaded"))
    fields = tiny_grpo_fields(tiny_model, arithmetic_file, tmp_path / "out", reward_funcs=["countdown"])
    with pytest.raises(RecipeError, match="reward 'countdown' needs the column 'nums'"):
        run(grpo, write_recipe(tmp_path / "grpo.yaml", **fields))
