"""Evaluation benchmarks by name: where each one's rows come from and how a row becomes a problem.

| name          | Hub source (default)                            | question, gold answer                         |
| ------------- | ----------------------------------------------- | --------------------------------------------- |
| math500       | HuggingFaceH4/MATH-500, test                    | problem, answer                               |
| aime24        | HuggingFaceH4/aime_2024, train                  | problem, answer                               |
| amc23         | math-ai/amc23, test                             | question, answer (`27.0` read as 27)          |
| gsm8k         | openai/gsm8k (main), test                       | question, the number after `####`             |
| minerva       | math-ai/minervamath, test                       | question, answer, else the solution's box     |
| olympiadbench | Hothan/OlympiadBench (OE_TO_maths_en_COMP)      | question, final_answer (a list: joined)       |
| gpqa_diamond  | Idavidrein/gpqa (gpqa_diamond), train; gated    | Question and four options, shuffled; a letter |
| livecodebench | livecodebench/code_generation_lite test4, test5 | question_content; the tests, run (`code`)     |
| countdown     | the package's generator (`synthetic.py`)        | problem; nums and target for the verifier     |
| arithmetic    | the package's generator: sums of three numbers  | problem, answer                               |
| word_problems | the generator: stories of two gains or losses   | problem, answer (the SmolLM2 demo's task)     |
| countdown3    | the generator: 3 numbers to 10, target to 30    | as countdown (the SmolLM2 demo's task)        |

GPQA-Diamond's options are put in a fixed order per question: sorted by the SHA-256 of `<Record ID>/<i>`, i = 0 for
the correct answer and 1-3 for the incorrect ones in column order, so a question's letters do not depend on its
position, `max_problems` or the Python version; `choice` scores the letter. LiveCodeBench keeps the problems
released (`contest_date`) in DeepSeek-R1's window, 2024-08-01 to 2025-01-31, from the Hub or a local file; every
test of a problem, public and private, must pass (`code` with `binary`), each run in the sandbox with
LiveCodeBench's 6 s per test. Its data files are read directly: the repository's loading script no longer runs in
`datasets` 4 and later.

A Hub benchmark can come from a local file instead (`.jsonl`, `.json`, `.parquet`, `.csv`, with the same
columns, or those of the Qwen2.5-Math evaluation files in `../shared/data/benchmarks/`). The generated
benchmarks are held out from the package's training data: another seed, and any problem among the first
`TRAIN_ROWS_EXCLUDED` rows the training seed generates is skipped.

Every benchmark row becomes `{id, problem, answer, solution, task}` (countdown adds `nums` and `target`;
livecodebench has `test_cases` instead of an answer): the columns a prompt is made from and the task's verifier
reads, the same the training data has.
"""

import ast
import base64
import binascii
import datetime
import functools
import hashlib
import io
import itertools
import json
import pickle
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from r1recipes import RecipeError
from r1recipes.data.synthetic import PRESETS, arithmetic_rows, countdown_rows, word_problem_rows
from r1recipes.rewards.choice import stated_choice
from r1recipes.rewards.code import last_python_block

TRAIN_SEED, TEST_SEED = 0, 1_000_003  # the generators' training default, and the held-out benchmarks'
TRAIN_ROWS_EXCLUDED = 2048  # more than any training file the package builds (512 rows at most)
GENERATED_ROWS = 500
SPARE_ROWS = 1500  # generated beyond GENERATED_ROWS to stand in for those skipped (a third of countdown3)


def _plain_number(answer) -> str:
    """AMC answers are stored as floats (`27.0`)."""
    text = str(answer).strip()
    try:
        return f"{float(text):g}" if "." in text else text
    except ValueError:
        return text


def _final_answer_list(answers) -> str:
    """OlympiadBench: a list (or the text of one) of answers, each possibly in `$...$`."""
    if isinstance(answers, str):
        answers = ast.literal_eval(answers) if answers.lstrip().startswith("[") else [answers]
    return ", ".join(str(a).strip().strip("$").strip() for a in answers)


def _solution_text(solution) -> str | None:
    if isinstance(solution, list):
        return "\n\n".join(map(str, solution))
    if isinstance(solution, str) and solution.lstrip().startswith("["):  # OlympiadBench: a list as text
        try:
            return "\n\n".join(map(str, ast.literal_eval(solution)))
        except (ValueError, SyntaxError):
            return solution
    return solution


def math_row(name: str, row: dict) -> dict:
    """A maths benchmark row as {problem, answer, solution}; the gold is the `answer` column read the way
    the benchmark writes it, else the last box of the worked solution."""
    from r1recipes.rewards.accuracy import gold_answer, gsm8k_parts

    problem = row.get("problem") or row.get("question")
    solution, answer = _solution_text(row.get("solution")), row.get("answer")
    if name == "gsm8k":
        solution, answer = gsm8k_parts(answer)
    elif name == "olympiadbench":
        answer = _final_answer_list(row["final_answer"])
    elif name == "amc23":
        answer = _plain_number(answer)
    return {"problem": str(problem or "").strip(), "answer": gold_answer(answer, solution), "solution": solution}


GPQA_OPTIONS = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
LETTERS = "ABCD"


def gpqa_order(key: str) -> list[int]:
    """The order a GPQA question's options are shown in: their indices (0 the correct answer, 1-3 the incorrect
    ones in column order) sorted by the SHA-256 of `<key>/<index>`, the key being the question's Record ID."""
    return sorted(range(len(GPQA_OPTIONS)), key=lambda i: hashlib.sha256(f"{key}/{i}".encode()).digest())


def gpqa_row(row: dict) -> dict:
    """A GPQA row as a four-option question, laid out as stage 3's MedMCQA prompts, and its gold letter."""
    question = str(row.get("Question") or "").strip()
    record = str(row.get("Record ID") or "").strip()
    options = [str(row.get(column) or "").strip() for column in GPQA_OPTIONS]
    order = gpqa_order(record or question)  # a file without ids: the question is as fixed a key
    listed = "\n".join(f"{letter}. {options[i]}" for letter, i in zip(LETTERS, order, strict=True))
    return {
        "id": record or None,
        "problem": f"{question}\n\n{listed}\n\nAnswer with the letter of the correct option." if question else "",
        "answer": LETTERS[order.index(0)],
        "solution": row.get("Explanation"),
    }


LIVECODEBENCH_WINDOW = (datetime.date(2024, 8, 1), datetime.date(2025, 1, 31))  # DeepSeek-R1's: "2024-08 - 2025-01"
LIVECODEBENCH_TIMEOUT = 6.0  # seconds per test: LiveCodeBench's default (its runner's `--timeout 6`)
LIVECODEBENCH_STDIN = (
    "Write a Python program that reads the input from standard input and writes the answer to standard output. "
    "It is run on hidden tests as well as on the examples.\n\n"
    "Give the complete program in one ```python code block at the end of your answer."
)
LIVECODEBENCH_FUNCTIONAL = (
    "Complete this code; the tests call the method on `Solution()` and compare the value it returns:\n\n"
    "```python\n{starter}\n```\n\n"
    "Give the complete code, the class included, in one ```python code block at the end of your answer."
)


class _PlainValuesUnpickler(pickle.Unpickler):
    """Reads a pickle of plain values (text, numbers, lists, dicts) and refuses any class or function it names:
    `pickle.loads` would import and call whatever a downloaded file's pickle names."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refused: the pickle names {module}.{name} where plain text was expected")


def private_tests(text: str) -> list:
    """LiveCodeBench's private tests: JSON text, or, as code_generation_lite stores them, the base64 of the zlib
    of a pickle of that JSON text (unpickled with every class refused). A ValueError when unreadable."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        packed = zlib.decompress(base64.b64decode(text, validate=True))
        inner = _PlainValuesUnpickler(io.BytesIO(packed)).load()
    except (binascii.Error, zlib.error) as exc:
        raise ValueError(f"neither JSON nor base64 of zlib data ({exc})") from None
    except Exception as exc:  # a bad pickle raises many types
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(inner, str):
        raise ValueError(f"the pickle holds {type(inner).__name__}, not JSON text")
    return json.loads(inner)


def call_test(method: str, arguments: str, expected: str) -> str:
    """Assert-style test code for one functional test: `Solution().<method>` called with the arguments (a JSON
    value a line) must return the expected value (JSON), a tuple read as a list, as LiveCodeBench compares them.
    The values are decoded in the sandbox, from the text."""
    return (
        "_json = __import__('json')\n"
        f"_got = Solution().{method}(*[_json.loads(_line) for _line in {arguments!r}.split('\\n') if _line.strip()])\n"
        f"assert (list(_got) if isinstance(_got, tuple) else _got) == _json.loads({expected!r})\n"
    )


def _livecodebench_tests(row: dict, where: str) -> tuple[list, str | None]:
    """A problem's tests, public then private, and its functional tests' method name (None for stdin tests)."""
    public, metadata = row.get("public_test_cases") or "[]", row.get("metadata") or "{}"
    try:
        public = public if isinstance(public, list) else json.loads(public)
        private = private_tests(row.get("private_test_cases") or "[]")
        metadata = metadata if isinstance(metadata, dict) else json.loads(metadata)
    except ValueError as exc:
        raise RecipeError(f"{where}: unreadable tests or metadata: {exc}") from None
    if not (isinstance(public, list) and isinstance(private, list) and isinstance(metadata, dict)):
        raise RecipeError(f"{where}: expected lists of tests and a metadata object")
    tests = public + private
    if not all(isinstance(t, dict) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str)
               for t in tests):  # fmt: skip
        raise RecipeError(f"{where}: a test is not an object of input and output text")
    kinds = sorted({str(test.get("testtype")) for test in tests})
    if kinds == ["stdin"]:
        return tests, None
    method = metadata.get("func_name")
    if kinds != ["functional"] or not (isinstance(method, str) and method.isidentifier()):
        got = f"tests of type {', '.join(kinds)}" if kinds else "no tests"
        raise RecipeError(f"{where}: expected stdin tests, or functional ones and a metadata func_name; got {got}"
                          f" and func_name {method!r}")  # fmt: skip
    for test in tests:  # checked here, so that bad data fails the load instead of every sample
        try:
            json.loads(test["output"])
            for line in test["input"].split("\n"):
                if line.strip():
                    json.loads(line)
        except ValueError as exc:
            raise RecipeError(f"{where}: a functional test's input or output is not JSON ({exc})") from None
    return tests, method


def livecodebench_row(row: dict) -> dict:
    """A LiveCodeBench problem: the question and how to answer it (with the starter code for LeetCode's
    functional problems), and its tests in the form the `code` verifier runs: stdin/stdout pairs, or one
    assert-style test each (`call_test`)."""
    question_id = str(row.get("question_id") or "").strip()
    tests, method = _livecodebench_tests(row, f"livecodebench problem {question_id or '(no question_id)'}")
    if method is None:
        test_cases: list = [{"input": test["input"], "output": test["output"]} for test in tests]
        instruction = LIVECODEBENCH_STDIN
    else:
        test_cases = [call_test(method, test["input"], test["output"]) for test in tests]
        instruction = LIVECODEBENCH_FUNCTIONAL.format(starter=str(row.get("starter_code") or "").rstrip())
    question = str(row.get("question_content") or "").strip()
    released = _release_date(row.get("contest_date"))
    return {
        "id": question_id or None,
        "problem": f"{question}\n\n{instruction}" if question else "",
        "test_cases": test_cases,
        "platform": row.get("platform"),
        "difficulty": row.get("difficulty"),
        "contest_date": released.isoformat() if released else None,
    }


def _release_date(value) -> datetime.date | None:
    """`contest_date` as a date: text such as `2024-08-03T00:00:00`, or the datetime a file loader makes of it."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and value.strip():
        return datetime.date.fromisoformat(value.strip()[:10])
    return None


@dataclass(frozen=True)
class Benchmark:
    name: str
    task: str  # picks the verifier, as a training row's `task` column does
    hub: tuple[str, str | None, str] | None = None  # (dataset, config, split)
    file: str | None = None  # its file name in a folder like ../shared/data/benchmarks
    generate: Callable[[int, int], list[dict]] | None = None  # (rows, seed) -> rows, for the package's own tasks
    # Columns the gold answer is read from, each entry alternatives one of which a row must have; None: those the
    # task's verifier reads (`rewards.verifiers.COLUMNS`), the gold of rows taken as they are
    gold: tuple[tuple[str, ...], ...] | None = None
    convert: Callable[[dict], dict] | None = None  # a row -> a problem (with its `id` when it has one); None: math_row
    hub_files: tuple[str, ...] = ()  # data files read from the Hub repository `hub` names, instead of its configs
    gated: bool = False  # the Hub gives it only to users who accepted its terms: a failed load says how to get it
    window: tuple[datetime.date, datetime.date] | None = None  # release dates kept (`contest_date`), both included
    verifier_kwargs: dict = field(default_factory=dict)  # settings by verifier, as a stage 3 recipe's
    stated: Callable[[str], str | None] | None = None  # a sample's stated answer, for maj@k; None: boxes, <answer>

    @property
    def gold_columns(self) -> tuple[tuple[str, ...], ...]:
        from r1recipes.rewards.verifiers import COLUMNS, DEFAULT_VERIFIERS

        return self.gold if self.gold is not None else tuple(COLUMNS[DEFAULT_VERIFIERS[self.task]])


BENCHMARKS = {
    b.name: b
    for b in (
        Benchmark("math500", "math", ("HuggingFaceH4/MATH-500", None, "test"), "math500.jsonl"),
        Benchmark("aime24", "math", ("HuggingFaceH4/aime_2024", None, "train"), "aime24.jsonl"),
        Benchmark("amc23", "math", ("math-ai/amc23", None, "test"), "amc23.jsonl"),
        Benchmark("gsm8k", "math", ("openai/gsm8k", "main", "test"), "gsm8k.jsonl", gold=(("answer",),)),
        Benchmark("minerva", "math", ("math-ai/minervamath", None, "test"), "minerva_math.jsonl"),
        Benchmark(
            "olympiadbench",
            "math",
            ("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train"),
            "olympiadbench.jsonl",
            gold=(("final_answer",),),
        ),
        Benchmark(
            "gpqa_diamond",
            "science",
            ("Idavidrein/gpqa", "gpqa_diamond", "train"),
            "gpqa_diamond.csv",
            gold=tuple((column,) for column in GPQA_OPTIONS),
            convert=gpqa_row,
            gated=True,
            stated=stated_choice,
        ),
        Benchmark(
            "livecodebench",
            "code",
            ("livecodebench/code_generation_lite", None, "test"),
            "livecodebench.jsonl",
            gold=(("public_test_cases", "private_test_cases"),),
            convert=livecodebench_row,
            hub_files=("test4.jsonl", "test5.jsonl"),  # added by release_v4 and _v5: Jul 2024 to Jan 2025
            window=LIVECODEBENCH_WINDOW,
            verifier_kwargs={"code": {"binary": True, "timeout": LIVECODEBENCH_TIMEOUT, "common_imports": True}},
            stated=last_python_block,
        ),
        Benchmark("countdown", "countdown", generate=countdown_rows),
        Benchmark("arithmetic", "math", generate=functools.partial(arithmetic_rows, num_operands=3, max_value=99)),
        Benchmark("word_problems", "math", generate=word_problem_rows),
        Benchmark("countdown3", "countdown", generate=PRESETS["countdown3"]),
    )
}


DEFAULT_BENCHMARKS = "math500,aime24,amc23,gsm8k"


def benchmark_names(benchmarks) -> list[str]:
    """`benchmarks` as written (a,b or a list; None: the defaults) as a list of names, each once."""
    # the command line's parser gives None for a union with list when the flag is absent
    benchmarks = DEFAULT_BENCHMARKS if benchmarks is None else benchmarks
    names = [benchmarks] if isinstance(benchmarks, str) else benchmarks
    names = [name.strip() for item in names for name in str(item).split(",") if name.strip()]  # a,b or a b
    return list(dict.fromkeys(names))


def check_names(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        what = f"unknown benchmark '{unknown[0]}'" if unknown else "no benchmarks named"
        raise RecipeError(f"{what} (valid: {', '.join(BENCHMARKS)})")
    return names


def held_out_rows(benchmark: Benchmark) -> Iterator[dict]:
    """A generated benchmark's rows, skipping any problem the training seed also generates."""
    seen = {row["problem"] for row in benchmark.generate(TRAIN_ROWS_EXCLUDED, TRAIN_SEED)}
    rows = (row for row in benchmark.generate(GENERATED_ROWS + SPARE_ROWS, TEST_SEED) if row["problem"] not in seen)
    return itertools.islice(rows, GENERATED_ROWS)


def source_of(benchmark: Benchmark, data_file: str | None) -> str:
    """Where the rows come from, in words for results.json."""
    if benchmark.generate and not data_file:
        return f"r1recipes.synthetic {benchmark.name}, seed {TEST_SEED}"
    if data_file:
        where = data_file
    elif benchmark.hub_files:
        where = f"{benchmark.hub[0]} ({', '.join(benchmark.hub_files)})"
    else:
        dataset, config, split = benchmark.hub
        where = f"{dataset}{f' ({config})' if config else ''}, {split}"
    if benchmark.window:
        where += f", released {benchmark.window[0]} to {benchmark.window[1]}"
    return where


def load_benchmark(name: str, data_file: str | None = None, max_problems: int | None = None) -> list[dict]:
    """The first `max_problems` problems of a benchmark as {id, problem, answer, solution, task, ...}."""
    from r1recipes.config.arguments import DatasetSource
    from r1recipes.data.loading import stream_rows

    benchmark = BENCHMARKS[name]
    if benchmark.generate and not data_file:
        raw = held_out_rows(benchmark)
    elif benchmark.hub_files and not data_file:
        raw = hub_file_rows(benchmark)
    else:
        path, config, split = (data_file, None, "train") if data_file else benchmark.hub
        raw = stream_rows([DatasetSource(path, config, split)])
    try:
        rows = list(itertools.islice(_problems(benchmark, data_file, raw), max_problems))
        if not rows:
            raise RecipeError(f"{name}: {source_of(benchmark, data_file)} has no rows")
        return rows
    except RecipeError as exc:
        raise RecipeError(f"{exc}{elsewhere(benchmark, data_file)}") from None


def elsewhere(benchmark: Benchmark, data_file: str | None) -> str:
    """What to do when the Hub will not give a benchmark's rows: for a gated one, how to get access."""
    if not benchmark.hub or data_file:
        return ""
    local = f"--data_file {benchmark.name}=PATH, or --data_dir DIR"
    if benchmark.gated:
        dataset = benchmark.hub[0]
        return (f" ({dataset} is gated: accept its terms at https://huggingface.co/datasets/{dataset}, then log in "
                f"with `huggingface-cli login` or set HF_TOKEN; or read a local file: {local})")  # fmt: skip
    return f" (or read a local file: {local})"


def hub_file_rows(benchmark: Benchmark) -> Iterator[dict]:
    """The rows of a benchmark's `hub_files`, read by `datasets`' JSON loader through `hf://` paths (downloaded
    once into the Hub cache). LiveCodeBench's repository picks its files with a loading script, which `datasets`
    no longer runs."""
    import datasets

    dataset = benchmark.hub[0]
    try:
        rows = datasets.load_dataset(
            "json", data_files=[f"hf://datasets/{dataset}/{name}" for name in benchmark.hub_files], split="train"
        )
    except Exception as exc:  # datasets raises many types; the user needs one line, not a trace
        while exc.__cause__ is not None:
            exc = exc.__cause__
        reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        files = ", ".join(benchmark.hub_files)
        raise RecipeError(f"dataset '{dataset}' ({files}) could not be loaded: {reason}") from None
    yield from rows


def _problems(benchmark: Benchmark, data_file: str | None, raw) -> Iterator[dict]:
    name = benchmark.name
    for position, row in enumerate(raw):
        missing = [columns for columns in benchmark.gold_columns if not set(columns) & set(row)]
        if missing:
            wanted = " or ".join(f"'{c}'" for c in missing[0])
            raise RecipeError(f"{name}: {source_of(benchmark, data_file)} has no gold column {wanted} "
                              f"(has: {', '.join(row)})")  # fmt: skip
        if benchmark.window and not _in_window(benchmark, row, f"row {position} of {source_of(benchmark, data_file)}"):
            continue
        if benchmark.convert:
            problem = benchmark.convert(row)
            own_id = problem.pop("id", None)
        else:
            problem, own_id = (dict(row) if benchmark.generate else math_row(name, row)), None
        row_id = own_id or row.get("unique_id") or row.get("id") or row.get("idx") or position
        problem.update(id=str(row_id), task=benchmark.task)
        if not problem.get("problem"):
            raise RecipeError(f"{name}: row {position} of {source_of(benchmark, data_file)} has no problem text")
        yield problem


def _in_window(benchmark: Benchmark, row: dict, where: str) -> bool:
    """Whether a row was released in the benchmark's window; a row without a release date is kept."""
    try:
        released = _release_date(row.get("contest_date"))
    except ValueError:
        raise RecipeError(f"{benchmark.name}: {where}: contest_date {row['contest_date']!r} is not a date") from None
    return released is None or benchmark.window[0] <= released <= benchmark.window[1]
