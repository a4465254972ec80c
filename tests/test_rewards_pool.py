import os
import subprocess
import sys
import time

import psutil
import pytest

from r1recipes.rewards.pool import CRASHED, OUT_OF_MEMORY, TIMED_OUT, BoundedPool


def behave(item):
    if item == "sleep":
        time.sleep(60)
    if item == "crash":
        os._exit(3)
    if item == "raise":
        raise ValueError("bad item")
    return item * 2


def test_each_item_is_bounded_and_the_pool_recovers():
    pool = BoundedPool(behave, num_workers=2, timeout=0.5)
    try:
        start = time.monotonic()
        results = pool.map([1, "sleep", 2, "crash", "raise", 3])
        assert time.monotonic() - start < 5
        assert results == [
            (True, 2),
            (False, TIMED_OUT),
            (True, 4),
            (False, CRASHED),
            (False, "ValueError: bad item"),
            (True, 6),
        ]
        pids = [worker.process.pid for worker in pool._workers]
        assert pool.map([5, 6, 7]) == [(True, 10), (True, 12), (True, 14)]  # the replaced workers serve
        assert [worker.process.pid for worker in pool._workers] == pids
        workers = list(pool._workers)
    finally:
        pool.close()
    assert workers and not any(worker.process.is_alive() for worker in workers)


def test_bad_pool_settings():
    with pytest.raises(ValueError, match="num_workers >= 1"):
        BoundedPool(behave, num_workers=0, timeout=1)


def live_descendants_after_kill(process: subprocess.Popen, wait_seconds: float = 5.0) -> list[str]:
    """Kill -9 `process` and give its descendants `wait_seconds` to exit; those left, as `pid name` lines."""
    descendants = psutil.Process(process.pid).children(recursive=True)
    assert descendants, "the process started no workers: nothing to check"
    process.kill()
    process.wait()
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and any(alive(child) for child in descendants):
        time.sleep(0.1)
    survivors = [child for child in descendants if alive(child)]
    for child in survivors:  # not left running after a failure
        child.kill()
    return [f"{child.pid} {child.name()}" for child in survivors]


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


POOL_IN_A_THREAD = """
import threading, time
from r1recipes.rewards.pool import BoundedPool

def start():
    pool = BoundedPool(abs, num_workers=2, timeout=5)
    print(pool.map([-1, -2]), flush=True)

thread = threading.Thread(target=start)
thread.start()
thread.join()  # the thread that forked the workers is gone: they serve on, and die with the process
time.sleep(600)
"""


def test_workers_die_with_their_process_whatever_thread_started_them():
    process = subprocess.Popen([sys.executable, "-c", POOL_IN_A_THREAD], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "[(True, 1), (True, 2)]"
        time.sleep(0.5)
        assert [child.name() for child in psutil.Process(process.pid).children(recursive=True)] == ["python"] * 2
        assert live_descendants_after_kill(process) == []
    finally:
        process.kill()


def test_an_item_over_the_memory_bound_fails_and_the_pool_recovers():
    pool = BoundedPool(bytearray, num_workers=1, timeout=10, memory_mb=256)
    try:
        assert pool.map([1 << 20, 1 << 30, 3]) == [
            (True, bytearray(1 << 20)),
            (False, OUT_OF_MEMORY),
            (True, bytearray(3)),
        ]  # refused at the allocation, not stopped by the 10 s limit
    finally:
        pool.close()
