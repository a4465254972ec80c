"""Benchmarks by name: rows read from the shared benchmark files, generated held-out sets, and the gold check
the issue asks for (MATH-500's worked solutions, scored as model outputs by the evaluation's own scorer)."""

import json
from pathlib import Path

import pytest

from r1recipes import RecipeError
from r1recipes.config.recipes import BUILT_INPUTS
from r1recipes.data.synthetic import arithmetic_rows, countdown_rows
from r1recipes.data.synthetic import main as synthetic_main
from r1recipes.evaluate import benchmark_metrics, score
from r1recipes.evaluation.benchmarks import BENCHMARKS, TRAIN_ROWS_EXCLUDED, TRAIN_SEED, check_names, load_benchmark
from r1recipes.generation.sampling import Sample

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no {SHARED}")
MATH_FILES = [name for name, b in BENCHMARKS.items() if b.file and b.task == "math"]  # the Qwen2.5-Math files


def shared_file(name: str) -> str:
    return str(SHARED / BENCHMARKS[name].file)


def test_unknown_benchmark_lists_the_valid_ones():
    with pytest.raises(RecipeError, match=r"unknown benchmark 'math5000' \(valid: math500, aime24, .*countdown"):
        check_names(["math500", "math5000"])


@needs_shared
@pytest.mark.parametrize("name", MATH_FILES)
def test_every_shared_file_reads_as_problems_with_gold_answers(name):
    rows = load_benchmark(name, shared_file(name), max_problems=3)
    assert len(rows) == 3
    for row in rows:
        assert row["problem"] and row["answer"] and row["task"] == "math"
    assert len({row["id"] for row in rows}) == 3


@needs_shared
@pytest.mark.parametrize("name", MATH_FILES)
def test_every_gold_answer_boxed_verifies_against_itself(name):
    rows = load_benchmark(name, shared_file(name))
    samples = [[Sample(f"\\boxed{{{row['answer']}}}", 10, False)] for row in rows]
    metrics = benchmark_metrics(score(name, rows, [row["problem"] for row in rows], samples, list(range(len(rows)))))
    assert (metrics["pass@1"], metrics["unverifiable"]) == (1.0, 0.0)


@needs_shared
def test_gold_answers_are_read_the_way_each_benchmark_writes_them():
    assert load_benchmark("gsm8k", shared_file("gsm8k"), 1)[0]["answer"] == "18"  # after "####"
    assert load_benchmark("amc23", shared_file("amc23"), 1)[0]["answer"] == "27"  # stored as "27.0"
    assert load_benchmark("olympiadbench", shared_file("olympiadbench"), 1)[0]["answer"] == "2"  # "['2']"
    assert load_benchmark("minerva", shared_file("minerva"), 1)[0]["answer"]  # the solution's last box


def test_generated_benchmarks_are_fixed_and_held_out_from_the_training_data():
    countdown = load_benchmark("countdown")
    assert countdown == load_benchmark("countdown") and len(countdown) > 400
    assert all(row["task"] == "countdown" and row["nums"] and row["target"] for row in countdown)
    arithmetic = load_benchmark("arithmetic", max_problems=50)
    assert len(arithmetic) == 50 and arithmetic[0]["problem"].count("+") == 2
    # the package's training files (recipes.BUILT_INPUTS) use the generators' training seed
    assert not {r["problem"] for r in countdown} & {r["problem"] for r in countdown_rows(256, TRAIN_SEED)}
    trained = {r["problem"] for r in arithmetic_rows(2048, TRAIN_SEED, num_operands=3)}
    assert not {r["problem"] for r in load_benchmark("arithmetic")} & trained


@pytest.mark.parametrize("name", ["word_problems", "countdown3"])
def test_the_demo_benchmarks_are_the_distribution_of_the_demos_training_files(name, tmp_path):
    """The command that builds runs/data/<name>.jsonl writes exactly the benchmark generator's rows for the
    training seed, so the test set comes from the same distribution and skips every training problem."""
    command = BUILT_INPUTS[f"runs/data/{name}.jsonl"]
    assert command[0] == "r1recipes.synthetic"
    synthetic_main([*command[1:], "--output", str(tmp_path / "train.jsonl")])
    trained = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert trained == BENCHMARKS[name].generate(len(trained), TRAIN_SEED) and len(trained) <= TRAIN_ROWS_EXCLUDED
    held_out = load_benchmark(name)
    assert len(held_out) == 500 and held_out[0]["task"] == trained[0]["task"]
    assert not {r["problem"] for r in held_out} & {r["problem"] for r in trained}


def test_a_missing_or_empty_data_file_is_one_clear_error(tmp_path):
    with pytest.raises(RecipeError, match="dataset not found"):
        load_benchmark("math500", str(tmp_path / "nope.jsonl"))
    (tmp_path / "rows.jsonl").write_text('{"problem": "", "answer": "1"}\n')
    with pytest.raises(RecipeError, match="row 0 .* has no problem text"):
        load_benchmark("math500", str(tmp_path / "rows.jsonl"))


def judge_solutions(rows: list[dict], answers: list[str]) -> dict:
    """Each worked solution as the one sample of its problem, judged against `answers` by the evaluator."""
    rows = [{**row, "answer": answer} for row, answer in zip(rows, answers, strict=True)]
    samples = [[Sample(row["solution"], 100, False)] for row in rows]
    records = score("math500", rows, [row["problem"] for row in rows], samples, list(range(len(rows))))
    return benchmark_metrics(records)


@needs_shared
def test_math500_gold_solutions_score_at_least_99_percent_and_others_answers_do_not():
    rows = load_benchmark("math500", shared_file("math500"))
    assert len(rows) == 500
    assert judge_solutions(rows, [row["answer"] for row in rows])["pass@1"] >= 0.99
    shifted = [rows[(i + 1) % len(rows)]["answer"] for i in range(len(rows))]  # each against its neighbour's
    assert judge_solutions(rows, shifted)["pass@1"] < 0.05
