"""Metrics over k samples per problem, as reasoning models are reported.

- pass@1: the share of a problem's k samples that are correct, averaged over problems (the R1 report's
  pass@1, estimated from k samples at temperature > 0 rather than from one greedy answer).
- pass@k: the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k) for c correct of n samples,
  averaged over problems; reported for k = 2, 4, 8, ... up to n, and n.
- maj@n: a vote among the n samples' stated answers (samples that state none do not vote; a tie goes to the
  answer stated first); the problem counts as solved when the winning answer is correct. R1 reports cons@64.
- 95% confidence intervals: Wilson score intervals over problems, each problem's score (a share in [0, 1])
  taken as one observation. A [0, 1] variable with mean p has variance at most p(1 - p), so for k > 1 the
  interval is conservative; for k = 1 it is the usual Wilson interval. Unlike mean +- 1.96 standard errors it
  never has zero width, and stays inside [0, 1], on a handful of problems.
"""

import math
from collections import Counter
from dataclasses import dataclass

Z95 = 1.959964


@dataclass
class Verdict:
    """One sample's outcome, as far as the metrics care."""

    correct: bool
    answer: str | None  # the normalised stated answer it votes for; None when it stated none
    tokens: int
    truncated: bool


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))  # C(n-c, k) / C(n, k), without big numbers


def majority_correct(verdicts: list[Verdict]) -> bool:
    votes = Counter(v.answer for v in verdicts if v.answer is not None)
    if not votes:
        return False
    winner = max(votes, key=votes.__getitem__)  # max keeps the first of equal counts: the first stated
    return next(v.correct for v in verdicts if v.answer == winner)


def wilson_interval(mean: float, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    denominator = 1 + z * z / n
    centre = (mean + z * z / (2 * n)) / denominator
    half = z * math.sqrt(max(mean * (1 - mean), 0.0) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def ks_to_report(n: int) -> list[int]:
    """1, 2, 4, 8, ... below n, then n."""
    return [*(2**i for i in range(n.bit_length()) if 2**i < n), n]


def summarize(problems: list[list[Verdict]]) -> dict:
    """pass@k, maj@n, their 95% intervals, mean length and truncated share over problems of n samples each."""
    n = len(problems[0])
    if any(len(samples) != n for samples in problems):
        raise ValueError("every problem needs the same number of samples")
    scores = {}
    for k in ks_to_report(n):
        scores[f"pass@{k}"] = [pass_at_k(n, sum(v.correct for v in samples), k) for samples in problems]
    scores[f"maj@{n}"] = [float(majority_correct(samples)) for samples in problems]
    flat = [v for samples in problems for v in samples]
    metrics: dict = {"problems": len(problems), "num_samples": n, "samples": len(flat)}
    means = {name: sum(values) / len(values) for name, values in scores.items()}
    metrics.update({name: round(mean, 6) for name, mean in means.items()})
    metrics["ci95"] = {name: [round(x, 6) for x in wilson_interval(m, len(problems))] for name, m in means.items()}
    metrics["mean_length"] = round(sum(v.tokens for v in flat) / len(flat), 2)
    metrics["truncated"] = round(sum(v.truncated for v in flat) / len(flat), 6)
    metrics["no_answer"] = round(sum(v.answer is None for v in flat) / len(flat), 6)
    return metrics
