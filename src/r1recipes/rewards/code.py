"""The code reward: run the completion's last Python block against the row's test cases, in the sandbox.

- Program: the last fenced block tagged `python`, `py`, `python3` or `py3`; when there is none, the last
  untagged block (models often omit the tag, while a block tagged otherwise is a shell session or sample
  output). Only closed blocks count; their lines are dedented. No program scores 0.0.
- Test cases: the row's `test_cases`, or else its `verification_info` (`{"language": "python", "test_cases":
  [...]}`, as open-r1's verifiable coding problems hold them), JSON text decoded first (datasets often store it
  so), as either
  - stdin/stdout pairs: a list of `{"input": str, "output": str}` (a `type` other than `stdin_stdout`, such as a
    function call, makes the row unscorable), or the columnar form datasets gives a
    sequence of such records, `{"input": [str, ...], "output": [str, ...]}`. A pair passes when the program
    exits 0 and its stdout equals the output once each line's trailing whitespace and trailing blank lines
    are dropped; or
  - assert-style: a string of Python appended to the program. It passes when the program exits 0 having run to
    its end: a marker printed after the tests must appear, so a `sys.exit(0)` before them does not pass.
    It counts as one test case (1.0 or 0.0): counting individual asserts would mean rewriting the test code.
    A list of such strings is that many test cases, each its own run with its own timeout (LiveCodeBench's
    functional tests, one call of the solution's method each: `evaluation/benchmarks.py`).
  Missing, empty or malformed test cases give `None` (the row cannot be scored) and add to `code/unscorable`.
- Score: the fraction of test cases passed; with `binary`, 1.0 when all pass and else 0.0 (a completion's
  remaining runs are skipped after its first failure).
- Bounds: every run is a sandboxed process (see `sandbox.py`) with a wall-clock `timeout` in seconds (runs
  that hit it add to `code/timeouts`); `max_workers` run at once, so a batch takes at most about
  ceil(runs / max_workers) * timeout.
- `common_imports`: run the program after `COMMON_IMPORTS`, the standard modules and names competitive programs
  use unimported (LeetCode's starter code names `List` without importing it), as LiveCodeBench runs programs.

Departures: the R1 report checks code with test cases through a compiler but gives no harness; open-r1 sends
programs to a remote sandbox service (E2B, Piston) and scores the fraction passed. This runs them locally in
Linux namespaces, and adds the end-of-tests marker against programs that exit early. open-r1 compares only the
lines both outputs have, each stripped, so output that stops early or is indented passes; here the whole output
counts, leading whitespace included: a program that stops early did not solve the problem, and a pattern's
indentation can be the answer.
"""

import json
import secrets
import textwrap
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from r1recipes import RecipeError
from r1recipes.rewards.counts import count
from r1recipes.rewards.sandbox import (
    DEFAULT_FILE_SIZE_MB,
    DEFAULT_MAX_PROCESSES,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    run_untrusted,
)
from r1recipes.rewards.settings import flag
from r1recipes.rewards.text import completion_text

DEFAULT_MAX_WORKERS = 4  # sandboxed runs at once; more than the free cores makes wall-clock timeouts noisy

_PYTHON_TAGS = frozenset({"python", "py", "python3", "py3"})

TestCases = list[tuple[str, str]] | list[str] | str  # stdin/stdout pairs, or assert-style test code

_STAR_IMPORTED = (
    "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random", "statistics", "itertools",
    "functools", "operator", "io", "sys", "json",
)  # fmt: skip
COMMON_IMPORTS = (
    "".join(f"from {module} import *\n" for module in _STAR_IMPORTED)
    + "from builtins import *\n"  # back to the builtins the star imports shadow (pow, open, compile, ...)
    + "from typing import *\n"
    + f"import {', '.join(_STAR_IMPORTED)}\n"
    + "sys.setrecursionlimit(50000)\n"
)


def with_common_imports(program: str) -> str:
    """The program after `COMMON_IMPORTS`; its `from __future__` imports, which must come first, before them."""
    lines = program.splitlines()
    future = [line for line in lines if line.startswith("from __future__ import")]
    rest = [line for line in lines if not line.startswith("from __future__ import")]
    return "\n".join([*future, COMMON_IMPORTS, *rest])


def last_python_block(text: str) -> str | None:
    """The program in a completion (see the module docstring), or None. One pass over the lines."""
    tagged = untagged = None
    tag, body = None, []  # tag is None outside a block, "" inside an untagged one
    for line in text.splitlines():
        fence = line.strip()
        if tag is None:
            if fence.startswith("```"):
                info = fence.lstrip("`").split()
                tag, body = (info[0].lower() if info else ""), []
        elif fence.startswith("```") and not fence.strip("`"):  # a closing fence is backticks only
            block = textwrap.dedent("\n".join(body))
            if tag in _PYTHON_TAGS:
                tagged = block
            elif not tag:
                untagged = block
            tag = None
        else:
            body.append(line)
    return tagged if tagged is not None else untagged


def parse_test_cases(value) -> TestCases | None:
    """A row's test cases (see the module docstring), or None when they are missing, empty or malformed."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass  # not JSON: assert-style test code
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list | tuple) and value and all(isinstance(case, str) for case in value):
        return list(value) if all(case.strip() for case in value) else None  # several assert-style tests
    if isinstance(value, Mapping) and "test_cases" in value:  # `verification_info`: {language, test_cases}
        if value.get("language", "python") != "python":
            return None
        return parse_test_cases(value["test_cases"])
    if isinstance(value, Mapping):  # the columnar form
        inputs, outputs = value.get("input"), value.get("output")
        if not (isinstance(inputs, list | tuple) and isinstance(outputs, list | tuple)) or len(inputs) != len(outputs):
            return None
        pairs = list(zip(inputs, outputs, strict=True))
    elif isinstance(value, list | tuple) and all(isinstance(case, Mapping) for case in value):
        if any(case.get("type", "stdin_stdout") != "stdin_stdout" for case in value):
            return None  # function-call cases (`fn_name`) need a harness that calls the function: not scored
        pairs = [(case.get("input"), case.get("output")) for case in value]
    else:
        return None
    if not pairs or not all(isinstance(stdin, str) and isinstance(stdout, str) for stdin, stdout in pairs):
        return None
    return pairs


def _output_lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _passes(program: str, case: tuple[str, str] | str, limits: dict) -> bool:
    if isinstance(case, str):
        marker = f"tests-finished-{secrets.token_hex(16)}"
        # Written to fd 1 after a flush, so neither a redefined `print` nor buffering can hide or misplace it.
        ending = f"__import__('sys').stdout.flush()\n__import__('os').write(1, b'\\n{marker}\\n')\n"
        result = run_untrusted(f"{program}\n\n{case}\n\n{ending}", **limits)
        passed = result.ok and marker in result.stdout.splitlines()
    else:
        stdin, expected = case
        result = run_untrusted(program, stdin, **limits)
        passed = result.ok and _output_lines(result.stdout) == _output_lines(expected)
    if result.timed_out:
        count("code/timeouts")
    if result.error:
        count("code/sandbox_errors")
    return passed


def code_reward(
    completions,
    test_cases=None,
    verification_info=None,
    *,
    binary: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    file_size_mb: int = DEFAULT_FILE_SIZE_MB,
    max_processes: int = DEFAULT_MAX_PROCESSES,
    max_workers: int = DEFAULT_MAX_WORKERS,
    common_imports: bool = False,
    **kwargs,
) -> list[float | None]:
    """Fraction of the row's test cases the completion's last Python block passes (see the module docstring).

    Settings: `timeout` seconds of wall clock per run (5.0), `memory_mb` of address space per process (1024),
    `file_size_mb` for any file, stdout included, and the work directory (16), `max_processes` processes and
    threads (16), `max_workers` runs at once (4), `common_imports` before the program (false).
    """
    if timeout <= 0 or min(memory_mb, file_size_mb, max_processes, max_workers) < 1:
        raise RecipeError(
            "reward_kwargs.code: timeout must be > 0 and memory_mb, file_size_mb, max_processes, max_workers >= 1"
        )
    flag("code", "common_imports", common_imports)
    limits = {"timeout": timeout, "memory_mb": memory_mb, "file_size_mb": file_size_mb, "max_processes": max_processes}
    column = test_cases if test_cases is not None else verification_info
    rows = list(column) if column is not None else []
    scores: list[float | None] = [None] * len(completions)
    runs: list[tuple[int, str, tuple[str, str] | str]] = []
    num_cases: dict[int, int] = {}
    for index, completion in enumerate(completions):
        cases = parse_test_cases(rows[index]) if index < len(rows) else None
        if cases is None:
            count("code/unscorable")
            continue
        program = last_python_block(completion_text(completion))
        if program is None:
            scores[index] = 0.0
            continue
        if common_imports:
            program = with_common_imports(program)
        cases = [cases] if isinstance(cases, str) else cases
        num_cases[index] = len(cases)
        runs.extend((index, program, case) for case in cases)

    failed: set[int] = set()  # completions with a failed run; binary mode skips their remaining runs

    def run(index: int, program: str, case) -> bool:
        if binary and index in failed:
            return False
        passed = _passes(program, case, limits)
        if not passed:
            failed.add(index)
        return passed

    passed = dict.fromkeys(num_cases, 0)
    if runs:
        with ThreadPoolExecutor(max_workers=min(max_workers, len(runs))) as pool:
            for (index, _, _), ok in zip(runs, pool.map(lambda job: run(*job), runs), strict=True):
                passed[index] += ok
    for index, total in num_cases.items():
        scores[index] = float(passed[index] == total) if binary else passed[index] / total
    return scores
