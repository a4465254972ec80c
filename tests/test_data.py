"""Sources by local file type and save_to_disk folder, weighted mixtures, renames and splits."""

import json

import datasets
import pytest

from r1recipes import RecipeError
from r1recipes.config.arguments import DataArguments, DatasetSource, SFTDataArguments
from r1recipes.data.loading import grpo_datasets, load_mixture, load_train_test, sft_datasets, stream_rows
from r1recipes.data.synthetic import arithmetic_rows, countdown_rows, general_rows

ROWS = arithmetic_rows(40, seed=3)


def write(tmp_path, kind: str, rows=ROWS) -> str:
    dataset = datasets.Dataset.from_list(rows)
    path = tmp_path / f"data.{kind}" if kind != "disk" else tmp_path / "data_folder"
    {
        "jsonl": lambda: dataset.to_json(path, lines=True),
        "json": lambda: dataset.to_json(path, lines=False),
        "parquet": lambda: dataset.to_parquet(path),
        "csv": lambda: dataset.to_csv(path, index=False),
        "disk": lambda: dataset.save_to_disk(path),
    }[kind]()
    return str(path)


def every_column(columns):
    return []


@pytest.mark.parametrize("kind", ["jsonl", "json", "parquet", "csv", "disk"])
def test_every_local_format_loads_the_same_rows(tmp_path, kind):
    train, test = load_train_test(DataArguments(dataset_name=write(tmp_path, kind)), every_column, seed=0)
    assert test is None
    assert sorted(map(str, train["answer"]), key=int) == sorted((r["answer"] for r in ROWS), key=int)


def test_weights_downsample_and_upsample(tmp_path):
    small = write(tmp_path, "jsonl", ROWS[:10])
    large_dir = tmp_path / "large"
    large_dir.mkdir()
    large = write(large_dir, "parquet", ROWS)
    data_args = DataArguments(dataset_mixture=[{"path": small, "weight": 2.5}, {"path": large, "weight": 0.25}])
    train, _ = load_train_test(data_args, every_column, seed=0)
    assert len(train) == 25 + 10
    small_problems = {r["problem"] for r in ROWS[:10]}
    assert sum(p in small_problems for p in train["problem"]) >= 25  # 2 full copies + 5 sampled


def test_rename_and_shared_columns(tmp_path):
    renamed = [{"question": r["problem"], "solution": r["solution"], "extra": 1} for r in ROWS[:5]]
    data_args = SFTDataArguments(
        dataset_mixture=[
            {"path": write(tmp_path, "jsonl", renamed), "rename": {"question": "problem"}},
            {"path": write(tmp_path, "parquet", ROWS[:5])},
        ]
    )
    train, _ = sft_datasets(data_args, seed=0)
    assert len(train) == 10 and train.column_names == ["prompt", "completion"]


def test_missing_rename_source_column_is_named(tmp_path):
    data_args = DataArguments(dataset_name=write(tmp_path, "jsonl"), rename_columns={"question": "problem"})
    with pytest.raises(RecipeError, match="cannot rename missing column 'question'"):
        grpo_datasets(data_args, seed=0)


def test_test_split_as_fraction_and_count_and_max_samples(tmp_path):
    path = write(tmp_path, "jsonl")
    train, test = load_train_test(DataArguments(dataset_name=path, test_split_size=0.25), every_column, seed=0)
    assert (len(train), len(test)) == (30, 10)
    train, test = load_train_test(
        DataArguments(dataset_name=path, test_split_size=4, max_samples=7), every_column, seed=0
    )
    assert (len(train), len(test)) == (7, 4)
    assert not set(train["problem"]) & set(test["problem"])


def test_grpo_rows_keep_columns_for_rewards(tmp_path):
    train, _ = grpo_datasets(DataArguments(dataset_name=write(tmp_path, "jsonl")), seed=0)
    assert {"prompt", "answer", "solution", "task"} <= set(train.column_names)
    assert train[0]["prompt"][-1]["role"] == "user"


def test_messages_data_is_used_as_is(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}] * 3
    train, _ = sft_datasets(SFTDataArguments(dataset_name=write(tmp_path, "jsonl", rows)), seed=0)
    assert train.column_names == ["messages"] and train[0]["messages"][1]["content"] == "yo"


def test_text_data_is_plain_language_modelling(tmp_path):
    rows = [{"text": f"Sum {i} and {i} is {2 * i}.", "source": "web"} for i in range(5)]
    train, _ = sft_datasets(SFTDataArguments(dataset_name=write(tmp_path, "jsonl", rows)), seed=0)
    assert train.column_names == ["text"] and sorted(train["text"]) == sorted(r["text"] for r in rows)
    with pytest.raises(RecipeError, match="has no column 'solution'"):  # a prompt column means pairs are meant
        sft_datasets(SFTDataArguments(dataset_name=write(tmp_path, "jsonl", [{"text": "x", "problem": "y"}])), seed=0)


def test_add_columns_routes_a_general_source_beside_a_reasoning_one(tmp_path):
    math_file = write(tmp_path, "jsonl", ROWS[:6])
    (tmp_path / "general").mkdir()
    general_file = write(
        tmp_path / "general", "jsonl", [{"question": r["problem"], "answer": ""} for r in general_rows(4)]
    )
    mixture = [
        {"path": math_file, "add_columns": {"source": "maths"}},
        {
            "path": general_file,
            "rename": {"question": "problem"},
            "add_columns": {"task": "general", "source": "chat"},
        },
    ]
    args = DataArguments(dataset_mixture=mixture)
    train, _ = grpo_datasets(args, seed=0)
    assert sorted(train.column_names) == ["answer", "problem", "prompt", "solution", "source", "task"]
    assert train["solution"].count(None) == 4  # general rows have no solution
    assert (
        sorted(zip(train["task"], train["source"], strict=True)) == [("general", "chat")] * 4 + [("math", "maths")] * 6
    )
    streamed = list(stream_rows(args.sources))
    assert [row["task"] for row in streamed] == ["math"] * 6 + ["general"] * 4
    assert streamed[-1]["source"] == "chat" and "question" not in streamed[-1]


def test_a_column_only_some_sources_have_is_kept_empty_in_the_others(tmp_path):
    """Countdown rows carry `nums` and `target` that word problems lack; the countdown reward reads them."""
    (tmp_path / "countdown").mkdir()
    countdown = write(tmp_path / "countdown", "jsonl", countdown_rows(3, seed=1, max_count=3))
    mixture = [{"path": write(tmp_path, "jsonl", ROWS[:2])}, {"path": countdown}]
    train, _ = grpo_datasets(DataArguments(dataset_mixture=mixture), seed=0)
    assert train.column_names == ["problem", "answer", "solution", "task", "nums", "target", "prompt"]
    assert train["nums"][:2] == [None, None] and all(len(n) == 3 for n in train["nums"][2:])
    assert train["task"] == ["math"] * 2 + ["countdown"] * 3
    sft, _ = sft_datasets(SFTDataArguments(dataset_mixture=mixture), seed=0)
    assert len(sft) == 5 and sft.column_names == ["prompt", "completion"]


def test_max_rows_takes_the_first_rows_of_a_source_loaded_or_streamed(tmp_path):
    (tmp_path / "countdown").mkdir()
    countdown = countdown_rows(5, seed=1, max_count=3)
    mixture = [
        {"path": write(tmp_path, "jsonl", ROWS), "max_rows": 3},
        {"path": write(tmp_path / "countdown", "jsonl", countdown), "max_rows": 2},
    ]
    args = DataArguments(dataset_mixture=mixture)
    streamed = [row["problem"] for row in stream_rows(args.sources)]
    assert streamed == [r["problem"] for r in ROWS[:3] + countdown[:2]]
    train, _ = load_train_test(args, every_column, seed=0)
    assert sorted(train["problem"]) == sorted(streamed)
    args = DataArguments(dataset_mixture=[{"path": mixture[0]["path"], "max_rows": 10, "weight": 0.5}])
    assert set(load_train_test(args, every_column, seed=0)[0]["problem"]) < {r["problem"] for r in ROWS[:10]}


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("x")
    with pytest.raises(RecipeError, match="unsupported file type"):
        grpo_datasets(DataArguments(dataset_name=str(path)), seed=0)


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"weight": 1}, "'path' is required"),
        ({"path": "a.jsonl", "wieght": 1}, "unknown key 'wieght'"),
        ({"path": "a.jsonl", "weight": 0}, "weight must be a number > 0"),
        ({"path": "a.jsonl", "max_rows": 0}, "max_rows must be a whole number >= 1, got 0"),
    ],
)
def test_bad_mixture_entries(entry, message):
    with pytest.raises(RecipeError, match=message):
        DataArguments(dataset_mixture=[entry])


def test_a_corrupt_jsonl_line_is_named_whether_streamed_or_loaded(tmp_path):
    lines = [json.dumps(row) for row in ROWS[:6]]
    lines[3] = lines[3][:25]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    message = rf"dataset '{path}': line 4 is not valid JSON: Unterminated string"
    with pytest.raises(RecipeError, match=message):
        list(stream_rows([DatasetSource(str(path))]))
    with pytest.raises(RecipeError, match=message):  # the whole file, read after its first rows were checked
        load_mixture([DatasetSource(str(path))], ["problem"], seed=0)


def test_an_unreadable_file_gives_the_reason_not_the_wrapper(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(RecipeError, match=r"rows.csv' could not be loaded: .*Expected 2 fields in line 3, saw 4"):
        load_mixture([DatasetSource(str(path))], ["a"], seed=0)
