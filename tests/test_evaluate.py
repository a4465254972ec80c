"""`python -m r1recipes.evaluate` on tiny models: every benchmark, metrics that match the samples, resuming,
data-parallel shards, and bad input stopped in one line before the model loads."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_benchmarks import SHARED, needs_shared

from r1recipes import RecipeError, evaluate
from r1recipes.data.synthetic import arithmetic_rows, write_jsonl
from r1recipes.evaluation.benchmarks import BENCHMARKS
from r1recipes.evaluation.config import default_output

K = 4


def run(model, output, *args: str, env: dict | None = None, monkeypatch=None) -> dict:
    argv = ["--model", str(model), "--output", str(output), "--num_samples", str(K), "--max_new_tokens", "24", *args]
    if env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
    return evaluate.main(*evaluate.make_parser().parse(argv))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def sums(tmp_path_factory) -> Path:
    """Sums the teacher (conftest.py) was trained on the like of: it gets some of them right."""
    return write_jsonl(arithmetic_rows(6, seed=5, max_value=4), tmp_path_factory.mktemp("sums") / "sums.jsonl")


@needs_shared
def test_every_benchmark_on_three_problems(tmp_path, tiny_model, capsys):
    from test_benchmarks_science_code import GPQA, LCB_ROWS

    lcb = tmp_path / "livecodebench.jsonl"  # the science and code benchmarks have no file in ../shared
    lcb.write_text("".join(json.dumps(row) + "\n" for row in LCB_ROWS))  # 2 of its 3 rows are in R1's window
    results = run(tiny_model, tmp_path / "eval", "--benchmarks", ",".join(BENCHMARKS), "--data_dir", str(SHARED),
                  "--data_file", f"gpqa_diamond={GPQA},livecodebench={lcb}", "--max_problems", "3")  # fmt: skip
    assert list(results["benchmarks"]) == list(BENCHMARKS)
    samples = lines(tmp_path / "eval" / "samples.jsonl")
    assert len(samples) == (len(BENCHMARKS) * 3 - 1) * K
    for name, metrics in results["benchmarks"].items():
        problems = 2 if name == "livecodebench" else 3
        assert (metrics["problems"], metrics["samples"]) == (problems, problems * K)
        assert {"pass@1", "pass@2", f"pass@{K}", f"maj@{K}", "mean_length", "truncated", "no_answer"} <= set(metrics)
        assert (BENCHMARKS[name].file or "seed 1000003") in metrics["source"]  # LiveCodeBench's adds its window
        mine = [s for s in samples if s["benchmark"] == name]
        assert metrics["mean_length"] == pytest.approx(sum(s["tokens"] for s in mine) / len(mine), abs=0.01)
    assert samples[0].keys() >= {"prompt", "completion", "answer", "gold", "score", "correct", "tokens", "truncated"}
    assert results["config"]["num_samples"] == K and results["git_commit"]
    table = capsys.readouterr().out
    assert "olympiadbench" in table and "maj@k" in table
    math500 = [line.split()[:3] for line in table.splitlines() if line.startswith("math500")]
    assert math500 == [["math500", "3", str(K)]]  # problems, then k


def test_metrics_match_the_samples_and_a_rerun_only_adds_what_is_new(tmp_path, teacher, sums, capsys):
    first = run(teacher, tmp_path, "--benchmarks", "arithmetic", "--data_file", str(sums), "--temperature", "1.0",
                "--max_problems", "6")  # fmt: skip
    samples = lines(tmp_path / "samples.jsonl")
    correct = [s["correct"] for s in samples]
    assert 0 < sum(correct) < len(correct), "the teacher should get some sums right and some wrong"
    assert all(s["correct"] == (s["answer"] == s["gold"]) for s in samples)  # plain integers here
    assert first["benchmarks"]["arithmetic"]["pass@1"] == pytest.approx(sum(correct) / len(correct), abs=1e-6)
    before = (tmp_path / "samples.jsonl").read_text()

    (tmp_path / "samples.jsonl").open("a").write('{"left by": "a merge killed before results.json"}\n')
    second = run(teacher, tmp_path, "--benchmarks", "arithmetic,countdown", "--data_file", f"arithmetic={sums}",
                 "--temperature", "1.0", "--max_problems", "6")  # fmt: skip
    assert second["benchmarks"]["arithmetic"] == first["benchmarks"]["arithmetic"]  # not evaluated again
    after = (tmp_path / "samples.jsonl").read_text()
    assert after.startswith(before) and "left by" not in after
    assert len(lines(tmp_path / "samples.jsonl")) == len(samples) + 6 * K
    assert second["samples_bytes"] == len(after.encode())


def test_a_rerun_with_other_settings_is_refused(tmp_path, tiny_model):
    run(tiny_model, tmp_path, "--benchmarks", "countdown", "--max_problems", "1")
    with pytest.raises(RecipeError, match=r"other settings \(num_samples differ\)"):
        evaluate.main(*evaluate.make_parser().parse(
            ["--model", str(tiny_model), "--output", str(tmp_path), "--num_samples", "2", "--max_new_tokens", "24",
             "--benchmarks", "countdown", "--max_problems", "1"]
        ))  # fmt: skip


def test_shards_of_two_processes_merge_to_the_samples_of_one(tmp_path, teacher, sums, monkeypatch):
    args = ("--benchmarks", "arithmetic", "--data_file", str(sums), "--temperature", "1.0")
    whole = run(teacher, tmp_path / "one", *args)
    first = run(teacher, tmp_path / "two", *args, env={"RANK": "0", "WORLD_SIZE": "2"}, monkeypatch=monkeypatch)
    assert first["benchmarks"] == {}  # the other process's share is not done yet
    second = run(teacher, tmp_path / "two", *args, env={"RANK": "1", "WORLD_SIZE": "2"}, monkeypatch=monkeypatch)
    assert lines(tmp_path / "two" / "samples.jsonl") == lines(tmp_path / "one" / "samples.jsonl")
    assert {k: v for k, v in second["benchmarks"]["arithmetic"].items() if k not in ("seconds", "finished_at")} == {
        k: v for k, v in whole["benchmarks"]["arithmetic"].items() if k not in ("seconds", "finished_at")
    }
    assert not list((tmp_path / "two" / ".shards").iterdir())


def test_prompts_are_made_as_in_training(tmp_path, tiny_model):
    template = "Numbers {nums}, target {target}. Answer in <answer></answer>."
    run(tiny_model, tmp_path, "--benchmarks", "countdown", "--max_problems", "2", "--prompt_format", "template",
        "--prompt_template", template)  # fmt: skip
    first = lines(tmp_path / "samples.jsonl")[0]
    assert first["prompt"].startswith("Numbers [") and "target" in first["prompt"]
    assert first["gold"].split(" from ")[0] in first["prompt"]
    with pytest.raises(RecipeError, match="prompt needs a column 'difficulty'"):
        run(tiny_model, tmp_path / "other", "--benchmarks", "countdown", "--prompt_format", "template",
            "--prompt_template", "{difficulty}")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmarks", "math5000"], "unknown benchmark 'math5000' (valid: math500, aime24, amc23, gsm8k"),
        (["--model", "runs/no/such/model"], "model not found: runs/no/such/model"),
        (["--num_samples", "0"], "num_samples must be >= 1, got 0"),
        (["--data_file", "x.jsonl", "--benchmarks", "countdown,arithmetic"], "one path fits one benchmark"),
        (["--data_file", "gsm8k=missing.jsonl", "--benchmarks", "gsm8k"], "data_file for gsm8k not found"),
        (["--num_sample", "2"], "unknown argument '--num_sample' (did you mean 'num_samples'?)"),
    ],
)
def test_bad_input_is_refused_while_parsing(tmp_path, tiny_model, args, message):
    argv = ["--model", str(tiny_model), "--output", str(tmp_path / "out"), "--benchmarks", "countdown", *args]
    with pytest.raises(RecipeError) as raised:
        evaluate.make_parser().parse(argv)
    assert message in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_a_benchmark_the_hub_cannot_give_offline_stops_before_anything_is_written(tmp_path, tiny_model):
    with pytest.raises(RecipeError, match=r"HuggingFaceH4/MATH-500.*\(or read a local file: --data_file math500=PATH"):
        run(tiny_model, tmp_path / "out", "--benchmarks", "countdown,math500")
    assert not (tmp_path / "out").exists()


def test_bad_input_is_one_error_line_from_the_command_line(tmp_path, tiny_model):
    command = [sys.executable, "-m", "r1recipes.evaluate", "--model", str(tiny_model), "--benchmarks", "math5000"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: command line: unknown benchmark 'math5000' (valid: {', '.join(BENCHMARKS)})"
    ]
    assert not list(tmp_path.iterdir())


def test_default_output_folder():
    assert default_output("runs/SmolLM2-135M/stage2") == "runs/SmolLM2-135M/eval/stage2"
    assert default_output("runs/models/tiny") == "runs/eval/tiny"
    assert default_output("Qwen/Qwen2.5-7B") == "runs/eval/Qwen__Qwen2.5-7B"


@pytest.mark.gpu
def test_the_vllm_backend_evaluates_on_a_gpu(tmp_path, teacher, sums):
    pytest.importorskip("vllm")
    results = run(teacher, tmp_path, "--benchmarks", "arithmetic", "--data_file", str(sums), "--backend", "vllm",
                  "--gpu_memory_utilization", "0.3", "--max_problems", "6")  # fmt: skip
    metrics = results["benchmarks"]["arithmetic"]
    assert metrics["backend"] == "vllm" and metrics["samples"] == 6 * K
    samples = lines(tmp_path / "samples.jsonl")
    assert all(s["correct"] == (s["answer"] == s["gold"]) and s["tokens"] <= 24 for s in samples)


@needs_shared
def test_the_r1_protocol_recipe_runs_on_this_cpu_with_each_benchmarks_own_samples(tmp_path, tiny_model, capsys):
    """recipes/Qwen2.5-7B/eval.yaml end to end on a tiny model and a problem of each benchmark, through
    transformers: every benchmark is sampled k times as the recipe says (AIME 64, so cons@64 is maj@64)."""
    from test_benchmarks_science_code import GPQA, LCB_ROWS

    from r1recipes.config.recipes import RecipeFile

    recipe = Path(__file__).resolve().parents[1] / "recipes/Qwen2.5-7B/eval.yaml"
    lcb = tmp_path / "livecodebench.jsonl"
    lcb.write_text("".join(json.dumps(row) + "\n" for row in LCB_ROWS))
    argv = ["--config", str(recipe), "--model", str(tiny_model), "--output", str(tmp_path / "eval"),
            "--backend", "transformers", "--max_problems", "1", "--max_new_tokens", "8", "--batch_size", "96",
            "--data_dir", str(SHARED), "--data_file", f"gpqa_diamond={GPQA},livecodebench={lcb}"]  # fmt: skip
    results = evaluate.main(*evaluate.make_parser().parse(argv))
    wanted = RecipeFile.load(recipe).config["benchmark_samples"]
    assert {name: m["num_samples"] for name, m in results["benchmarks"].items()} == wanted
    assert {name: m["samples"] for name, m in results["benchmarks"].items()} == wanted  # one problem each
    assert "maj@64" in results["benchmarks"]["aime24"] and results["config"]["temperature"] == 0.6
    table = capsys.readouterr().out
    assert [line.split()[:3] for line in table.splitlines()[2:]] == [[name, "1", str(k)] for name, k in wanted.items()]
