import os
import time

import pytest

from r1recipes.rewards.pool import CRASHED, TIMED_OUT, BoundedPool


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
