"""Worker processes that run a function on many items with a wall-clock limit per item.

Why not `concurrent.futures.ProcessPoolExecutor`: it cannot stop one task that runs too long. Sympy can spend
minutes in C-level big-integer arithmetic that no signal interrupts, and math-verify's own `signal.alarm`
timeout only works in a main thread. Here the parent watches every item's clock and kills the worker of an
item that overruns, then starts a new one, so the bound holds whichever thread calls and whatever the item does.

On Linux workers are forked from the calling process, so starting or replacing one takes milliseconds and
needs no `if __name__ == "__main__"` guard in the user's script (forkserver and spawn children re-import the
main module: a trainer script, seconds per worker). The children only run `func`, never torch, so the trainer's
threads do not matter to them. Elsewhere (macOS) they are spawned, the platform's safe default.

Memory is bounded too (sympy reached 3.3 GB in 5 s on `10^{10^{10^{10}}}`): on Linux a worker's address space
may grow by `memory_mb` past its size at start (its parent's, forked), so a larger allocation fails. An item
whose `MemoryError` reaches the worker fails as `OUT_OF_MEMORY` and the worker is replaced; math-verify swallows
some and computes on in little memory, until the time limit stops it.

Workers exit on their own when the process that started them is gone (`die_with_parent`), even after a kill -9.
"""

import atexit
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait

TIMED_OUT = "timed out"
CRASHED = "crashed"
OUT_OF_MEMORY = "out of memory"
DEFAULT_MEMORY_MB = 1024  # math-verify needs a few MB an answer; 8 workers could add 8 GiB at worst


def die_with_parent(parent: int, interval: float = 0.2) -> None:
    """Exit this process once `parent` (a pid) is no longer its parent, as after a kill -9 of it.

    A thread watching `os.getppid()`: portable, and unlike Linux's PR_SET_PDEATHSIG it does not fire when the
    parent's *thread* that started this process ends. A worker stuck in one long C call exits when it returns."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _cap_address_space(extra_mb: int) -> None:
    """Let this process's address space grow by `extra_mb` MiB at most (Linux): past that, allocations fail."""
    try:
        with open("/proc/self/statm") as handle:
            size = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: no bound
        return
    import resource

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    soft = size + (extra_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _serve(conn, func: Callable, parent: int, memory_mb: int | None) -> None:
    die_with_parent(parent)
    if memory_mb:
        _cap_address_space(memory_mb)
    while True:
        try:
            index, item = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send((index, True, func(item)))
        except MemoryError:  # the pool replaces this worker: its heap may stay fragmented
            conn.send((index, False, OUT_OF_MEMORY))
        except Exception as exc:  # the caller decides what a failed item is worth
            conn.send((index, False, f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, context, func: Callable, memory_mb: int | None):
        self.conn, child_conn = context.Pipe()
        args = (child_conn, func, os.getpid(), memory_mb)
        self.process = context.Process(target=_serve, args=args, daemon=True)
        self.process.start()
        child_conn.close()
        self.index: int | None = None
        self.deadline = 0.0

    def stop(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


class BoundedPool:
    """Runs `func(item)` for each item in `num_workers` processes, at most `timeout` seconds of wall clock each
    and, on Linux, at most `memory_mb` MiB of address space grown in a worker (None: unbounded).

    `map` returns one `(ok, value)` per item, in order: `(True, result)`, or `(False, reason)` where the reason is
    `TIMED_OUT`, `OUT_OF_MEMORY`, `CRASHED` or the exception's text. `func` must be a picklable module-level
    function.
    """

    def __init__(self, func: Callable, num_workers: int, timeout: float, memory_mb: int | None = DEFAULT_MEMORY_MB):
        if num_workers < 1 or timeout <= 0 or (memory_mb is not None and memory_mb < 1):
            raise ValueError(
                f"BoundedPool needs num_workers >= 1, timeout > 0 and memory_mb >= 1 or None, got {num_workers}, "
                f"{timeout}, {memory_mb}"
            )
        self.func, self.num_workers, self.timeout, self.memory_mb = func, num_workers, timeout, memory_mb
        self._context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._owner = os.getpid()
        atexit.register(self.close)

    def map(self, items: Sequence) -> list[tuple[bool, object]]:
        if not items:
            return []
        with self._lock:
            return self._map(items)

    def _map(self, items: Sequence) -> list[tuple[bool, object]]:
        while len(self._workers) < min(self.num_workers, len(items)):
            self._workers.append(_Worker(self._context, self.func, self.memory_mb))
        results: list[tuple[bool, object] | None] = [None] * len(items)
        waiting = deque(range(len(items)))
        idle = list(self._workers)
        busy: dict[object, _Worker] = {}
        while waiting or busy:
            while waiting and idle:
                worker = idle.pop()
                worker.index = waiting.popleft()
                worker.deadline = time.monotonic() + self.timeout
                worker.conn.send((worker.index, items[worker.index]))
                busy[worker.conn] = worker
            next_deadline = min(worker.deadline for worker in busy.values())
            for conn in wait(list(busy), timeout=max(0.0, next_deadline - time.monotonic())):
                worker = busy.pop(conn)
                try:
                    index, ok, value = conn.recv()
                    results[index] = (ok, value)
                    idle.append(worker if ok or value != OUT_OF_MEMORY else self._replace(worker))
                except (EOFError, OSError):
                    results[worker.index] = (False, CRASHED)
                    idle.append(self._replace(worker))
            now = time.monotonic()
            for conn, worker in list(busy.items()):
                if worker.deadline <= now:
                    del busy[conn]
                    results[worker.index] = (False, TIMED_OUT)
                    idle.append(self._replace(worker))
        return results

    def _replace(self, worker: _Worker) -> _Worker:
        worker.stop()
        fresh = _Worker(self._context, self.func, self.memory_mb)
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def close(self) -> None:
        if os.getpid() != self._owner:
            return  # a forked child does not own these processes
        for worker in self._workers:
            worker.stop()
        self._workers = []
