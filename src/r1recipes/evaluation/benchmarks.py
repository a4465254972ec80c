"""Evaluation benchmarks by name: where each one's rows come from and how a row becomes a problem.

| name          | Hub source (default)                            | question, gold answer                         |
| ------------- | ----------------------------------------------- | --------------------------------------------- |
| math500       | HuggingFaceH4/MATH-500, test                    | problem, answer                               |
| aime24        | HuggingFaceH4/aime_2024, train                  | problem, answer                               |
| amc23         | math-ai/amc23, test                             | question, answer (`27.0` read as 27)          |
| gsm8k         | openai/gsm8k (main), test                       | question, the number after `####`             |
| minerva       | math-ai/minervamath, test                       | question, answer, else the solution's box     |
| olympiadbench | Hothan/OlympiadBench (OE_TO_maths_en_COMP)      | question, final_answer (a list: joined)       |
| countdown     | the package's generator (`synthetic.py`)        | problem; nums and target for the verifier     |
| arithmetic    | the package's generator: sums of three numbers  | problem, answer                               |
| word_problems | the generator: stories of two gains or losses   | problem, answer (the SmolLM2 demo's task)     |
| countdown3    | the generator: 3 numbers to 10, target to 30    | as countdown (the SmolLM2 demo's task)        |

A Hub benchmark can come from a local file instead (`.jsonl`, `.json`, `.parquet`, `.csv`, with the same
columns, or those of the Qwen2.5-Math evaluation files in `../shared/data/benchmarks/`). The generated
benchmarks are held out from the package's training data: another seed, and any problem among the first
`TRAIN_ROWS_EXCLUDED` rows the training seed generates is skipped.

Every benchmark row becomes `{id, problem, answer, solution, task}` (countdown adds `nums` and `target`):
the columns a prompt is made from and the task's verifier reads, the same the training data has.
"""

import ast
import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from r1recipes import RecipeError
from r1recipes.data.synthetic import PRESETS, arithmetic_rows, countdown_rows, word_problem_rows

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


def _after_hashes(answer: str) -> tuple[str, str]:
    """GSM8K: (worked solution, final number) from `... #### 1,234`."""
    solution, _, final = str(answer).rpartition("####")
    return solution.strip(), final.strip().replace(",", "")


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
    from r1recipes.rewards.accuracy import gold_answer

    problem = row.get("problem") or row.get("question")
    solution, answer = _solution_text(row.get("solution")), row.get("answer")
    if name == "gsm8k":
        solution, answer = _after_hashes(answer)
    elif name == "olympiadbench":
        answer = _final_answer_list(row["final_answer"])
    elif name == "amc23":
        answer = _plain_number(answer)
    return {"problem": str(problem or "").strip(), "answer": gold_answer(answer, solution), "solution": solution}


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
        Benchmark("countdown", "countdown", generate=countdown_rows),
        Benchmark("arithmetic", "math", generate=functools.partial(arithmetic_rows, num_operands=3, max_value=99)),
        Benchmark("word_problems", "math", generate=word_problem_rows),
        Benchmark("countdown3", "countdown", generate=PRESETS["countdown3"]),
    )
}


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
    if data_file:
        return data_file
    if benchmark.generate:
        return f"r1recipes.synthetic {benchmark.name}, seed {TEST_SEED}"
    dataset, config, split = benchmark.hub
    return f"{dataset}{f' ({config})' if config else ''}, {split}"


def load_benchmark(name: str, data_file: str | None = None, max_problems: int | None = None) -> list[dict]:
    """The first `max_problems` rows of a benchmark as {id, problem, answer, solution, task, ...}."""
    from r1recipes.config.arguments import DatasetSource
    from r1recipes.data.loading import stream_rows

    benchmark = BENCHMARKS[name]
    if benchmark.generate and not data_file:
        raw = held_out_rows(benchmark)
    else:
        path, config, split = (data_file, None, "train") if data_file else benchmark.hub
        raw = stream_rows([DatasetSource(path, config, split)])
    try:
        return _problems(benchmark, data_file, itertools.islice(raw, max_problems))
    except RecipeError as exc:
        from_hub = benchmark.hub and not data_file
        hint = f" (or read a local file: --data_file {name}=PATH, or --data_dir DIR)" if from_hub else ""
        raise RecipeError(f"{exc}{hint}") from None


def _problems(benchmark: Benchmark, data_file: str | None, raw) -> list[dict]:
    name = benchmark.name
    rows = []
    for position, row in enumerate(raw):
        missing = [columns for columns in benchmark.gold_columns if not set(columns) & set(row)]
        if missing:
            wanted = " or ".join(f"'{c}'" for c in missing[0])
            raise RecipeError(f"{name}: {source_of(benchmark, data_file)} has no gold column {wanted} "
                              f"(has: {', '.join(row)})")  # fmt: skip
        problem = dict(row) if benchmark.generate else math_row(name, row)
        problem.update(
            id=str(row.get("unique_id") or row.get("id") or row.get("idx") or position), task=benchmark.task
        )
        if not problem.get("problem"):
            raise RecipeError(f"{name}: row {position} of {source_of(benchmark, data_file)} has no problem text")
        rows.append(problem)
    if not rows:
        raise RecipeError(f"{name}: {source_of(benchmark, data_file)} has no rows")
    return rows
