"""Worker processes that run a function on many items with a wall-clock limit per item.

Why not `concurrent.futures.ProcessPoolExecutor`: it cannot stop one task that runs too long. Sympy can spend
minutes in C-level big-integer arithmetic that no signal interrupts, and math-verify's own `signal.alarm`
timeout only works in a main thread. Here the parent watches every item's clock and kills the worker of an
item that overruns, then starts a new one, so the bound holds whichever thread calls and whatever the item does.

On Linux workers are forked from the calling process, so starting or replacing one takes milliseconds and
needs no `if __name__ == "__main__"` guard in the user's script (forkserver and spawn children re-import the
main module: a trainer script, seconds per worker). The children only run `func`, never torch, so the trainer's
threads do not matter to them. Elsewhere (macOS) they are spawned, the platform's safe default.
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


def _serve(conn, func: Callable) -> None:
    while True:
        try:
            index, item = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send((index, True, func(item)))
        except Exception as exc:  # the caller decides what a failed item is worth
            conn.send((index, False, f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, context, func: Callable):
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_conn, func), daemon=True)
        self.process.start()
        child_conn.close()
        self.index: int | None = None
        self.deadline = 0.0

    def stop(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


class BoundedPool:
    """Runs `func(item)` for each item in `num_workers` processes, at most `timeout` seconds of wall clock each.

    `map` returns one `(ok, value)` per item, in order: `(True, result)`, or `(False, reason)` where the reason is
    `TIMED_OUT`, `CRASHED` or the exception's text. `func` must be a picklable module-level function.
    """

    def __init__(self, func: Callable, num_workers: int, timeout: float):
        if num_workers < 1 or timeout <= 0:
            raise ValueError(f"BoundedPool needs num_workers >= 1 and timeout > 0, got {num_workers}, {timeout}")
        self.func, self.num_workers, self.timeout = func, num_workers, timeout
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
            self._workers.append(_Worker(self._context, self.func))
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
                    idle.append(worker)
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
        fresh = _Worker(self._context, self.func)
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def close(self) -> None:
        if os.getpid() != self._owner:
            return  # a forked child does not own these processes
        for worker in self._workers:
            worker.stop()
        self._workers = []
