import json
import logging
import os
import subprocess
import tempfile
import time
import uuid

import pytest

from r1recipes.rewards import sandbox
from r1recipes.rewards.code import code_reward, last_python_block, parse_test_cases
from r1recipes.rewards.counts import COUNTS
from r1recipes.rewards.sandbox import SandboxResult, namespace_isolation_available, run_untrusted

FAST = {"timeout": 3.0, "max_workers": 2}  # for programs that finish; ample on a loaded machine
SHORT = {"timeout": 1.0, "max_workers": 2}  # for programs that must be stopped
ECHO_SUM = "```python\nprint(sum(map(int, input().split())))\n```"
PAIRS = [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10"}]

needs_namespaces = pytest.mark.skipif(
    not namespace_isolation_available(), reason="Linux namespaces unavailable here: the sandbox runs unisolated"
)


def fenced(code: str) -> str:
    return f"Here it is.\n```python\n{code}\n```\n"


# --- finding the program and the test cases ---


def test_last_python_block_prefers_the_last_tagged_block():
    text = "```python\nprint(1)\n```\n```py\nprint(2)\n```\n```\n3\n```\n```bash\nls\n```"
    assert last_python_block(text) == "print(2)"


def test_last_python_block_falls_back_to_an_untagged_block_and_dedents():
    assert last_python_block("1. Code:\n   ```\n   x = 1\n   print(x)\n   ```\n") == "x = 1\nprint(x)"
    assert last_python_block("```bash\nls\n```") is None
    assert last_python_block("```python\nprint(1)\n") is None  # never closed


def test_parse_test_cases_forms():
    pairs = [("1\n", "1\n")]
    assert parse_test_cases([{"input": "1\n", "output": "1\n"}]) == pairs
    assert parse_test_cases(json.dumps([{"input": "1\n", "output": "1\n"}])) == pairs
    assert parse_test_cases({"input": ["1\n"], "output": ["1\n"]}) == pairs
    assert parse_test_cases("assert f(1) == 2") == "assert f(1) == 2"
    assert parse_test_cases(json.dumps("assert f(1) == 2")) == "assert f(1) == 2"
    for malformed in (None, "", "  ", [], "[]", [{"input": 1, "output": "1"}], [{"input": "1"}], 3, "3"):
        assert parse_test_cases(malformed) is None, malformed
    assert parse_test_cases({"input": ["1"], "output": []}) is None
    # open-r1's verifiable coding problems: `verification_info`; function-call cases are not scored
    typed = [{"fn_name": None, "input": "1\n", "output": "1\n", "type": "stdin_stdout"}]
    assert parse_test_cases({"language": "python", "test_cases": typed}) == pairs
    assert parse_test_cases(json.dumps({"language": "python", "test_cases": typed})) == pairs
    call = [{"fn_name": "f", "input": "[1]", "output": "[2]", "type": "function_call"}]
    assert parse_test_cases({"language": "python", "test_cases": call}) is None
    assert parse_test_cases({"language": "rust", "test_cases": typed}) is None


# --- scores ---


def test_stdin_stdout_pairs_all_pass_with_whitespace_tolerance():
    completion = fenced("print(sum(map(int, input().split())), '  ')\nprint()\n")
    assert code_reward([completion], [PAIRS], **FAST) == [1.0]


def test_one_of_two_pairs_passes():
    wrong = [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "11\n"}]
    assert code_reward([ECHO_SUM, ECHO_SUM], [wrong, PAIRS], **FAST) == [0.5, 1.0]
    assert code_reward([ECHO_SUM, ECHO_SUM], [wrong, PAIRS], binary=True, **FAST) == [0.0, 1.0]


def test_a_crash_after_the_right_output_fails():
    completion = fenced("print(3)\nraise SystemExit(1)")
    assert code_reward([completion], [[{"input": "", "output": "3"}]], **FAST) == [0.0]


def test_assert_style_tests():
    tests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"
    right = fenced("def add(a, b):\n    return a + b")
    wrong = fenced("def add(a, b):\n    return a - b")
    early_exit = fenced("import sys\ndef add(a, b):\n    return 0\nsys.exit(0)")
    scores = code_reward([right, wrong, early_exit], [tests] * 3, **FAST)
    assert scores == [1.0, 0.0, 0.0]


def test_no_code_block_scores_zero_and_missing_test_cases_none():
    completions = ["The answer is 3.", ECHO_SUM, ECHO_SUM, ECHO_SUM, "no code"]
    cases = [PAIRS, None, [], '[{"input": 1}]', None]
    before = COUNTS["code/unscorable"]
    assert code_reward(completions, cases, **FAST) == [0.0, None, None, None, None]
    assert code_reward([ECHO_SUM], **FAST) == [None]  # the dataset has no test_cases column
    assert COUNTS["code/unscorable"] - before == 5


def test_verification_info_is_read_when_there_is_no_test_cases_column():
    info = {"language": "python", "test_cases": [{**case, "type": "stdin_stdout"} for case in PAIRS]}
    assert code_reward([ECHO_SUM, "```python\nprint(0)\n```"], verification_info=[info, info], **FAST) == [1.0, 0.0]


def test_conversational_completions_and_json_test_cases():
    conversation = [{"role": "assistant", "content": ECHO_SUM}]
    scores = code_reward([conversation], [json.dumps(PAIRS)], prompts=["p"], completion_ids=[[1]], **FAST)
    assert scores == [1.0]


def test_never_raises_on_odd_completions():
    odd = [None, 7, [{"role": "assistant"}], fenced("\x00"), fenced("print('\ud800')"), fenced("def (")]
    assert code_reward(odd, [PAIRS] * len(odd), **FAST) == [0.0] * len(odd)


# --- containment: each attack is stopped, scores 0, leaves no process and no work directory ---


@pytest.fixture
def tracked(monkeypatch, tmp_path):
    """Runs' supervisors (session leaders) and their temporary directories, checked clean after the test."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    supervisors = []

    class RecordingPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            supervisors.append(self.pid)

    monkeypatch.setattr(sandbox.subprocess, "Popen", RecordingPopen)
    yield supervisors
    assert supervisors
    assert os.listdir(scratch) == []
    assert _live_processes(lambda stat, _: stat[2] in supervisors or stat[3] in supervisors) == []


def _live_processes(match) -> list[int]:
    """Pids of processes (not zombies) for which `match(stat fields after the name, cmdline)` holds, after
    giving killed ones a moment to die."""
    deadline = time.monotonic() + 2.0
    while True:
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as stat_file, open(f"/proc/{entry}/cmdline", "rb") as cmd_file:
                    fields = stat_file.read().rpartition(")")[2].split()
                    cmdline = cmd_file.read()
            except (OSError, ValueError):
                continue  # not a process, or gone
            stat = [fields[0]] + [int(field) for field in fields[1:4]]  # state, ppid, pgrp, session
            if stat[0] not in "ZX" and match(stat, cmdline):
                found.append(int(entry))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@needs_namespaces
def test_network_is_a_private_namespace(tracked):
    probe = (
        "import socket\nprint(sorted(name for _, name in socket.if_nameindex()))\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=0.5)\n    print('connected')\n"
        "except OSError:\n    print('blocked')\n"
    )
    assert run_untrusted(probe, timeout=2.0).stdout == "['lo']\nblocked\n"
    assert code_reward([fenced(probe)], [[{"input": "", "output": "['lo']\nconnected"}]], **FAST) == [0.0]


@needs_namespaces
def test_writes_outside_the_work_directory_do_not_reach_the_host(tracked, tmp_path):
    host_tmp = f"/tmp/r1recipes-escape-{uuid.uuid4().hex}"
    target = tmp_path / "escape.txt"
    attack = (
        f"open({host_tmp!r}, 'w').write('x')\nopen('here.txt', 'w').write('x')\nprint('in sandbox')\n"
        f"open({str(target)!r}, 'w').write('x')\nprint('escaped')"
    )
    result = run_untrusted(attack, timeout=2.0)
    assert (result.stdout, result.returncode) == ("in sandbox\n", 1)
    assert "FileNotFoundError" in result.stderr
    assert code_reward([fenced(attack)], [[{"input": "", "output": "in sandbox\nescaped"}]], **FAST) == [0.0]
    assert not os.path.exists(host_tmp) and not target.exists()


@pytest.mark.skipif(
    not namespace_isolation_available() and os.geteuid() == 0,
    reason="without a user namespace root is exempt from RLIMIT_NPROC: a fork bomb would run free",
)
def test_fork_bomb_is_bounded_and_killed(tracked):
    bomb = (
        "import os, time\nchildren = 0\nwhile True:\n    try:\n        pid = os.fork()\n"
        "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
        "    children += 1\nprint(children, flush=True)\nwhile True:\n    try:\n        os.fork()\n"
        "    except OSError:\n        pass\n"
    )
    result = run_untrusted(bomb, timeout=1.0, max_processes=4)
    assert result.timed_out and result.returncode is None
    if result.isolated:
        assert result.stdout == "3\n"  # the main process and three children make max_processes
    assert code_reward([fenced(bomb)], [[{"input": "", "output": "3"}]], **SHORT, max_processes=4) == [0.0]


def test_memory_bomb_fails_fast(tracked):
    bomb = "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))"
    result = run_untrusted(bomb, timeout=5.0, memory_mb=128)
    assert (result.returncode, result.timed_out) == (1, False)
    assert result.stderr.rstrip().endswith("MemoryError")
    assert code_reward([fenced(bomb)], [[{"input": "", "output": ""}]], **FAST, memory_mb=128) == [0.0]


def test_endless_loop_is_stopped_at_the_timeout(tracked):
    start = time.monotonic()
    result = run_untrusted("while True:\n    pass", timeout=0.5)
    assert (result.timed_out, result.returncode, result.error) == (True, None, None)
    assert time.monotonic() - start < 2.5
    before = COUNTS["code/timeouts"]
    assert code_reward([fenced("while True:\n    pass")], [[{"input": "", "output": ""}]], **SHORT) == [0.0]
    assert COUNTS["code/timeouts"] - before == 1


@needs_namespaces  # without a PID namespace a process that calls setsid() outlives the run
def test_escaped_processes_die_with_the_run(tracked):
    marker = f"{uuid.uuid4().int % 10**8}.25"  # a unique `sleep` argument, to find it among the host's processes
    escape = (
        f"import os, subprocess, time\nif os.fork() == 0:\n    os.setsid()\n"
        f"    subprocess.Popen(['sleep', '{marker}'])\n    time.sleep(60)\ntime.sleep(0.3)\nprint('done')"
    )
    result = run_untrusted(escape, timeout=2.0)
    assert result.ok and result.stdout == "done\n" and result.isolated
    assert _live_processes(lambda _, cmdline: cmdline == f"sleep\0{marker}\0".encode()) == []


def test_without_namespaces_limits_timeout_and_group_kill_still_hold(tracked):
    limits = {"timeout": 0.5, "cpu_seconds": 1, "memory_mb": 256, "file_size_mb": 1, "max_processes": 64}
    echo = sandbox._run("print(input()[::-1])", "abc\n", isolate=False, limits=limits)
    assert (echo.stdout, echo.returncode, echo.isolated) == ("cba\n", 0, False)
    orphans = (
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        time.sleep(60)\nwhile True:\n    pass"
    )
    looping = sandbox._run(orphans, "", isolate=False, limits=limits)
    assert (looping.timed_out, looping.returncode) == (True, None)


def test_unavailable_namespaces_log_one_warning(monkeypatch, caplog):
    failed = SandboxResult("", "", None, False, True, error="OSError: unshare: Operation not permitted")
    monkeypatch.setattr(sandbox, "_run", lambda *args, **kwargs: failed)
    sandbox._probe_isolation.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=sandbox.__name__):
            assert [namespace_isolation_available() for _ in range(3)] == [False] * 3
    finally:
        sandbox._probe_isolation.cache_clear()
    assert [record.getMessage().split(";")[0] for record in caplog.records] == [
        "sandbox: Linux namespaces are unavailable here (OSError: unshare: Operation not permitted)"
    ]
