"""Tallies of what rewards could not judge (unparsable gold answers, verifier timeouts) in this process.

A reward returns `None` or 0.0 for such a sample and adds to a tally here instead of printing once per sample;
the GRPO runner logs the tallies with the trainer's metrics, evaluation and rejection sampling report them.
"""

from collections import Counter

COUNTS: Counter = Counter()


def count(key: str, amount: int = 1) -> None:
    if amount:
        COUNTS[key] += amount
