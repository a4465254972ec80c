"""GPQA-Diamond and LiveCodeBench from small local files in each benchmark's format (never the Hub): options in a
fixed order per question, LiveCodeBench's window and its private tests decoded without unpickling any class, the
gated dataset's one-line error, and samples scored through the evaluation runner by the registry's verifiers."""

import base64
import hashlib
import json
import os
import pickle
import zlib
from pathlib import Path

import datasets
import pytest

from r1recipes import RecipeError, evaluate
from r1recipes.evaluation.benchmarks import load_benchmark, private_tests
from r1recipes.generation import sampling
from r1recipes.generation.sampling import Sample
from r1recipes.rewards.code import code_reward, parse_test_cases

DATA = Path(__file__).parent / "data"
GPQA = DATA / "gpqa_diamond.csv"  # three rows with the Hub's columns (made-up questions: GPQA asks not to copy it)
FAST = {"timeout": 3.0, "max_workers": 2}


def hub_encoded(tests: list[dict]) -> str:
    """Private tests as code_generation_lite stores them: the base64 of the zlib of a pickle of the JSON text."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def lcb_row(question_id, date, tests, private, *, platform="atcoder", starter="", func_name=None) -> dict:
    return {
        "question_title": f"Problem {question_id}",
        "question_content": f"Problem {question_id}: see the examples.",
        "platform": platform,
        "question_id": question_id,
        "contest_id": "contest",
        "contest_date": date,
        "starter_code": starter,
        "difficulty": "easy",
        "public_test_cases": json.dumps(tests),
        "private_test_cases": hub_encoded(private),
        "metadata": json.dumps({"func_name": func_name} if func_name else {}),
    }


def stdin_test(stdin: str, stdout: str) -> dict:
    return {"input": stdin, "output": stdout, "testtype": "stdin"}


def call(arguments: list, expected) -> dict:
    return {"input": "\n".join(map(json.dumps, arguments)), "output": json.dumps(expected), "testtype": "functional"}


# A stdin problem (add two numbers), a functional one (the k largest, largest first) and one released before
# R1's window. Each wrong solution passes the public test and fails a private one, so the private tests count.
LCB_ROWS = [
    lcb_row(
        "abc370_a",
        "2024-09-07T00:00:00",
        [stdin_test("1 2\n", "3\n")],
        [stdin_test("10 -4\n", "6\n"), stdin_test("0 0\n", "0\n")],
    ),  # fmt: skip
    lcb_row(
        "3400",
        "2024-12-14T00:00:00",
        [call([[3, 1, 2], 1], [3])],
        [call([[5, 9, 1, 7], 3], [9, 7, 5]), call([[4], 1], [4])],
        platform="leetcode",
        starter="class Solution:\n    def largest(self, nums: List[int], k: int) -> List[int]:\n        ",
        func_name="largest",
    ),
    lcb_row("abc360_a", "2024-06-30T00:00:00", [stdin_test("1\n", "1\n")], [stdin_test("2\n", "2\n")]),
]
SOLUTIONS = {  # question_id -> (right, wrong); `List` unimported and a tuple returned, as LiveCodeBench allows
    "abc370_a": ("a, b = map(int, input().split())\nprint(a + b)", "print(3)"),
    "3400": (
        "class Solution:\n    def largest(self, nums: List[int], k: int) -> List[int]:\n"
        "        return tuple(sorted(nums, reverse=True)[:k])",
        "class Solution:\n    def largest(self, nums: List[int], k: int) -> List[int]:\n"
        "        return [max(nums)] * k",
    ),
}


@pytest.fixture
def lcb_file(tmp_path) -> Path:
    path = tmp_path / "livecodebench.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in LCB_ROWS))
    return path


def gpqa_letter(record_id: str) -> str:
    """The documented order: option indices (0 the correct answer) sorted by the SHA-256 of `<id>/<index>`."""
    order = sorted(range(4), key=lambda i: hashlib.sha256(f"{record_id}/{i}".encode()).digest())
    return "ABCD"[order.index(0)]


def options(problem: str) -> dict[str, str]:
    return {line[0]: line[3:] for line in problem.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")}


# --- GPQA-Diamond ---


def test_gpqa_options_are_shuffled_by_record_id_and_the_gold_is_a_letter():
    rows = load_benchmark("gpqa_diamond", str(GPQA))
    hub_rows = list(datasets.load_dataset("csv", data_files=str(GPQA), split="train"))
    assert [row["id"] for row in rows] == ["recTestPhoton01", "recTestCO2", "recTestOrganelle03"]
    for row, hub in zip(rows, hub_rows, strict=True):
        assert row["task"] == "science" and row["answer"] == gpqa_letter(hub["Record ID"])
        assert options(row["problem"])[row["answer"]] == hub["Correct Answer"]
        assert sorted(options(row["problem"]).values()) == sorted(
            hub[c] for c in ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
        )
        assert row["problem"].startswith(hub["Question"])
        assert row["problem"].endswith("Answer with the letter of the correct option.")
    assert [row["answer"] for row in rows] == ["D", "C", "B"]  # the shuffle moves the correct answer about


def test_gpqa_letters_do_not_depend_on_position_or_max_problems(tmp_path):
    lines = GPQA.read_text().splitlines(keepends=True)
    reversed_file = tmp_path / "gpqa_diamond.csv"
    reversed_file.write_text(lines[0] + "".join(reversed(lines[1:])))
    whole = {row["id"]: row for row in load_benchmark("gpqa_diamond", str(GPQA))}
    assert {row["id"]: row for row in load_benchmark("gpqa_diamond", str(reversed_file))} == whole
    assert load_benchmark("gpqa_diamond", str(reversed_file), max_problems=1)[0] == whole["recTestOrganelle03"]


def test_gpqa_without_access_to_the_gated_dataset_says_how_to_get_it_in_one_line(monkeypatch):
    def gated(*args, **kwargs):
        message = "Dataset 'Idavidrein/gpqa' is a gated dataset on the Hub. You must be authenticated to access it."
        raise datasets.exceptions.DatasetNotFoundError(message)

    monkeypatch.setattr(datasets, "load_dataset", gated)
    with pytest.raises(RecipeError) as raised:
        load_benchmark("gpqa_diamond")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("dataset 'Idavidrein/gpqa' could not be loaded: Dataset 'Idavidrein/gpqa' is a gated")
    assert message.endswith(
        "(Idavidrein/gpqa is gated: accept its terms at https://huggingface.co/datasets/Idavidrein/gpqa, then log "
        "in with `huggingface-cli login` or set HF_TOKEN; or read a local file: --data_file gpqa_diamond=PATH, "
        "or --data_dir DIR)"
    )


# --- LiveCodeBench ---


def test_livecodebench_rows_in_r1s_window_with_every_test(lcb_file):
    stdin, functional = load_benchmark("livecodebench", str(lcb_file))  # abc360_a (June 2024) is left out
    assert (stdin["id"], functional["id"]) == ("abc370_a", "3400")
    assert stdin["task"] == functional["task"] == "code"
    assert stdin["test_cases"] == [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "10 -4\n", "output": "6\n"},
        {"input": "0 0\n", "output": "0\n"},
    ]
    assert "standard input" in stdin["problem"] and "```python" in stdin["problem"]
    assert len(functional["test_cases"]) == 3 and all("Solution().largest(" in t for t in functional["test_cases"])
    assert "def largest(self, nums: List[int], k: int)" in functional["problem"]
    assert parse_test_cases(functional["test_cases"]) == functional["test_cases"]


def test_livecodebench_from_the_hub_reads_its_data_files_and_keeps_the_window(monkeypatch, lcb_file):
    asked, load_dataset = [], datasets.load_dataset

    def hub(path, **kwargs):
        asked.append((path, kwargs))
        return load_dataset("json", data_files=str(lcb_file), split="train")

    monkeypatch.setattr(datasets, "load_dataset", hub)
    rows = load_benchmark("livecodebench")
    assert [row["id"] for row in rows] == ["abc370_a", "3400"]
    prefix = "hf://datasets/livecodebench/code_generation_lite/"
    assert asked[0] == ("json", {"data_files": [f"{prefix}test4.jsonl", f"{prefix}test5.jsonl"], "split": "train"})


def test_livecodebench_outside_the_hub_offline_is_one_line():
    with pytest.raises(RecipeError) as raised:
        load_benchmark("livecodebench")
    assert str(raised.value).startswith("dataset 'livecodebench/code_generation_lite' (test4.jsonl, test5.jsonl)")
    assert str(raised.value).endswith("(or read a local file: --data_file livecodebench=PATH, or --data_dir DIR)")


class RunsAShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_private_tests_are_unpickled_without_any_class(tmp_path):
    tests = [stdin_test("1\n", "1\n")]
    assert private_tests(hub_encoded(tests)) == tests
    assert private_tests(json.dumps(tests)) == tests  # older files hold the JSON itself
    marker = tmp_path / "ran"
    payload = base64.b64encode(zlib.compress(pickle.dumps(RunsAShell(marker)))).decode()
    with pytest.raises(ValueError, match=r"refused: the pickle names posix\.system"):
        private_tests(payload)
    assert not marker.exists()
    with pytest.raises(ValueError, match="the pickle holds list, not JSON text"):
        private_tests(base64.b64encode(zlib.compress(pickle.dumps(tests))).decode())


def test_a_bad_livecodebench_row_fails_the_load_in_one_line(tmp_path):
    path, marker = tmp_path / "bad.jsonl", tmp_path / "ran"
    shell = base64.b64encode(zlib.compress(pickle.dumps(RunsAShell(marker)))).decode()
    path.write_text(json.dumps({**LCB_ROWS[0], "private_test_cases": shell}) + "\n")
    with pytest.raises(RecipeError, match=r"problem abc370_a: unreadable tests or metadata: UnpicklingError: refused"):
        load_benchmark("livecodebench", str(path))
    assert not marker.exists()
    no_name = {**LCB_ROWS[1], "metadata": "{}"}
    path.write_text(json.dumps(no_name) + "\n")
    with pytest.raises(RecipeError, match="expected stdin tests, or functional ones and a metadata func_name"):
        load_benchmark("livecodebench", str(path))


# --- the code verifier's additions ---


def test_a_list_of_assert_style_tests_is_one_run_each():
    program = "```python\ndef f(x):\n    return x + 1\n```"
    tests = ["assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 4"]
    assert code_reward([program], [tests], **FAST) == [pytest.approx(2 / 3)]
    assert code_reward([program], [tests], binary=True, **FAST) == [0.0]
    assert parse_test_cases(["assert True", " "]) is None


def test_common_imports_give_what_leetcode_code_assumes_and_keep_the_builtins():
    program = (
        "```python\nfrom __future__ import annotations\n"
        "def f(nums: List[int]) -> int:\n    return pow(3, 2, 5) + len(deque(nums))\n```"
    )
    assert code_reward([program], [["assert f([1, 2]) == 6"]], common_imports=True, **FAST) == [1.0]
    assert code_reward([program], [["assert f([1, 2]) == 6"]], **FAST) == [0.0]  # NameError: List
    with pytest.raises(RecipeError, match="reward_kwargs.code.common_imports: expected true or false"):
        code_reward([], common_imports="yes")


# --- through the runner ---


class PromptsAsIds:
    """A tokenizer's stand-in: a prompt's token ids are its index among the prompts seen."""

    def __init__(self):
        self.seen: list[str] = []

    def apply_chat_template(self, messages, **kwargs) -> dict:
        self.seen.append(messages[-1]["content"])
        return {"input_ids": [len(self.seen) - 1]}


class ScriptedSampler:
    """Two samples a problem: the right answer, then a wrong one."""

    def __init__(self, tokenizer: PromptsAsIds):
        self.tokenizer = tokenizer

    def generate(self, prompt_ids, positions, progress=lambda n: None, num_samples=None) -> list[list[Sample]]:
        answers = [self.answers(self.tokenizer.seen[ids[0]]) for ids in prompt_ids]
        progress(len(prompt_ids))
        return [[Sample(text, 20, False) for text in pair] for pair in answers]

    @staticmethod
    def answers(prompt: str) -> tuple[str, str]:
        for question_id, solutions in SOLUTIONS.items():
            if prompt.startswith(f"Problem {question_id}:"):
                return tuple(f"<think>easy</think>\n```python\n{code}\n```" for code in solutions)
        hub = next(r for r in datasets.load_dataset("csv", data_files=str(GPQA), split="train")
                   if prompt.startswith(r["Question"]))  # fmt: skip
        right = next(letter for letter, text in options(prompt).items() if text == hub["Correct Answer"])
        wrong = next(letter for letter in "ABCD" if letter != right)
        return f"It must be this one.\n\nAnswer: {right}", f"\\boxed{{{wrong}}}"


def test_the_runner_scores_right_solutions_1_and_wrong_ones_0(tmp_path, tiny_model, lcb_file, monkeypatch):
    tokenizer = PromptsAsIds()
    monkeypatch.setattr(sampling, "load_sampler", lambda *args: (tokenizer, ScriptedSampler(tokenizer)))
    argv = ["--model", str(tiny_model), "--output", str(tmp_path / "eval"), "--num_samples", "2",
            "--benchmarks", "gpqa_diamond,livecodebench", "--data_dir", str(DATA),
            "--data_file", f"livecodebench={lcb_file}"]  # fmt: skip
    results = evaluate.main(*evaluate.make_parser().parse(argv))

    records = [json.loads(line) for line in (tmp_path / "eval" / "samples.jsonl").read_text().splitlines()]
    verdicts = {(r["benchmark"], r["id"], r["sample"]): (r["score"], r["correct"]) for r in records}
    for question_id in ("abc370_a", "3400"):  # stdin tests, then functional ones
        assert verdicts[("livecodebench", question_id, 0)] == (1.0, True)
        assert verdicts[("livecodebench", question_id, 1)] == (0.0, False)
    for record_id in ("recTestPhoton01", "recTestCO2", "recTestOrganelle03"):
        assert verdicts[("gpqa_diamond", record_id, 0)] == (1.0, True)
        assert verdicts[("gpqa_diamond", record_id, 1)] == (0.0, False)
    gpqa = [r for r in records if r["benchmark"] == "gpqa_diamond"]
    assert all(r["gold"] == gpqa_letter(r["id"]) for r in gpqa)
    assert all(r["answer"] == r["gold"] for r in gpqa if r["sample"] == 0)  # the letter `choice` read, for maj@k
    lcb = [r for r in records if r["benchmark"] == "livecodebench"]
    assert {r["gold"] for r in lcb} == {"passes all 3 tests"} and all(r["answer"] for r in lcb)

    metrics = results["benchmarks"]
    assert metrics["livecodebench"]["problems"] == 2 and metrics["livecodebench"]["pass@1"] == 0.5
    assert metrics["livecodebench"]["source"] == f"{lcb_file}, released 2024-08-01 to 2025-01-31"
    assert metrics["livecodebench"]["verifier_kwargs"] == {
        "code": {"binary": True, "timeout": 6.0, "common_imports": True}
    }
    assert metrics["gpqa_diamond"]["source"] == str(GPQA) and metrics["gpqa_diamond"]["verifier"] == "choice"
    assert metrics["gpqa_diamond"]["pass@1"] == 0.5 and metrics["gpqa_diamond"]["maj@2"] == 1.0
