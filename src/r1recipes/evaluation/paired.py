"""Two evaluations of the same problems compared problem by problem: how much B differs from A, and how sure.

    python -m r1recipes.compare runs/SmolLM2-135M/eval/base runs/SmolLM2-135M/eval/stage2   (compare.py)

Most of the spread of pass@1 is between problems (some are easy for both models); pairing takes it out, where
two per-model intervals that overlap say little about the difference. Problems are paired by (benchmark, id),
and only those both evaluations hold are compared (another max_problems is fine); an id whose gold answer
differs between the two (other data under one name) is refused, as is a benchmark with no id in common.

One sample per problem in both (greedy evaluation, as the demo's):
- p-value: McNemar's exact test. Of the m problems exactly one model gets right, b only A and c only B; if
  the two models are alike, each is B's with probability 1/2, so p = min(1, 2 P(X <= min(b, c))) for
  X ~ Binomial(m, 1/2), summed exactly in integers (p = 1 when m = 0).
- interval of B - A: Newcombe's square-and-add interval for paired proportions (Newcombe 1998, with the
  corrected correlation of Fagerland, Lydersen & Laake 2017, ch. 8, whose worked example a test checks). It
  combines the two models' Wilson intervals (those of the evaluation table) with the correlation of their
  per-problem correctness, so it never has zero width and stays in [-1, 1] on a few problems, where a
  bootstrap of 0/1 differences is [0, 0] when the models never disagree.

Several samples per problem in either (pass@1 over k; k may differ between A and B):
- interval: a paired bootstrap over problems, each problem's pass@1 under B minus under A, problems drawn
  with replacement (10,000 resamples, seeded), the 2.5th and 97.5th percentiles of the mean.
- p-value: a sign-flip permutation test over problems. If the models are alike, each problem's difference
  (B's pass@1 minus A's) is as likely negative as positive; 10,000 random sign flips (seeded) give the null
  distribution of the mean difference, and p = (1 + #{|flipped| >= |observed|}) / (10,000 + 1). Problems are
  the random unit, as in the bootstrap, so both speak of problems like these rather than of these alone (a
  relabelling of samples within problems would test the latter). With one sample each it is McNemar's test
  (only discordant problems have a sign), computed exactly above; with k_A != k_B the symmetry it assumes is
  approximate. The bootstrap gives no p-value: its distribution is centred on the observation, not the null.

The interval and the p-value come from different procedures, so they can disagree near the 5% line: the exact
test is conservative (with few discordant problems it rejects less than 5% of the time), the interval aims at
95% coverage. In Fagerland et al.'s example (6 lost, 16 gained of 161) the interval is +6.2 [0.5, 11.9] points
and p = 0.0525. Read the interval for how large the change may be, the p-value for whether there is one.
"""

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r1recipes import RecipeError
from r1recipes.evaluation.metrics import wilson_interval
from r1recipes.evaluation.results import RESULTS, ResultsDir

RESAMPLES = 10_000
CHUNK = 2_000_000  # draws (resamples x problems) held in memory at once


@dataclass(frozen=True)
class Evaluation:
    """What pairing needs of an evaluation folder: benchmark -> problem id -> (gold answer, each sample's
    correctness)."""

    folder: Path
    problems: dict[str, dict[str, tuple[str | None, list[bool]]]]


@dataclass(frozen=True)
class Comparison:
    """B against A on one benchmark's paired problems; pass@1 and the difference as fractions."""

    benchmark: str
    problems: int  # paired
    only_a: int  # problems only A holds, left out
    only_b: int
    before: float  # A's pass@1 on the paired problems
    after: float  # B's
    difference: float  # after - before
    interval: tuple[float, float]  # 95%
    p_value: float
    test: str  # how p was computed
    interval_method: str
    lost: int  # problems on which B's pass@1 is lower than A's (b for one sample each)
    gained: int  # higher (c)


def read_evaluation(folder: str | Path) -> Evaluation:
    """Per-problem correctness from what `python -m r1recipes.evaluate` wrote in `folder`."""
    results_dir = ResultsDir(str(folder))
    if not (results_dir.path / RESULTS).is_file():
        raise RecipeError(f"{folder}: no {RESULTS}, not an evaluation folder (python -m r1recipes.evaluate)")
    problems: dict[str, dict[str, tuple[str | None, list[bool]]]] = {}
    for row in results_dir.sample_rows():
        _, correct = problems.setdefault(row["benchmark"], {}).setdefault(row["id"], (row["gold"], []))
        correct.append(bool(row["correct"]))
    missing = sorted(results_dir.finished() - set(problems))
    if missing:
        raise RecipeError(f"{folder}: {RESULTS} lists {missing[0]} but samples.jsonl has no sample of it")
    return Evaluation(results_dir.path, problems)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact p-value of McNemar's test: b problems only A gets right, c only B."""
    m = b + c
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**m)


def newcombe_interval(both: int, only_a: int, only_b: int, neither: int) -> tuple[float, float]:
    """95% interval of B's accuracy minus A's on paired problems, by Newcombe's square-and-add method."""
    n = both + only_a + only_b + neither
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    (low_a, high_a), (low_b, high_b) = wilson_interval(p_a, n), wilson_interval(p_b, n)
    margins = (both + only_a) * (neither + only_b) * (both + only_b) * (neither + only_a)
    cross = both * neither - only_a * only_b
    # the correlation of the two models' correctness, shrunk by n/2 when positive (Newcombe's correction)
    psi = 0.0 if margins == 0 else (cross - n / 2 if cross > n / 2 else min(cross, 0)) / math.sqrt(margins)
    difference = p_b - p_a
    down = math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2 - 2 * psi * (p_b - low_b) * (high_a - p_a))
    up = math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2 - 2 * psi * (high_b - p_b) * (p_a - low_a))
    return difference - down, difference + up


def _draws(resamples: int, problems: int):
    """Resample counts per chunk, so a chunk holds about CHUNK draws."""
    size = max(1, CHUNK // problems)
    for start in range(0, resamples, size):
        yield min(size, resamples - start)


def bootstrap_interval(differences: np.ndarray, rng: np.random.Generator, resamples: int) -> tuple[float, float]:
    """Percentile 95% interval of the mean of per-problem differences, problems drawn with replacement."""
    n = len(differences)
    means = [differences[rng.integers(0, n, size=(m, n))].mean(axis=1) for m in _draws(resamples, n)]
    low, high = np.percentile(np.concatenate(means), [2.5, 97.5])
    return float(low), float(high)


def sign_flip_p(differences: np.ndarray, rng: np.random.Generator, resamples: int) -> float:
    """Two-sided p-value of "the per-problem differences are symmetric about 0", by random sign flips."""
    n, observed = len(differences), abs(differences.mean())
    extreme = 0
    for m in _draws(resamples, n):
        flipped = (differences * rng.choice((-1.0, 1.0), size=(m, n))).mean(axis=1)
        extreme += int(np.sum(np.abs(flipped) >= observed - 1e-12))  # ties count: the distribution is discrete
    return (1 + extreme) / (1 + resamples)


def compare_problems(
    benchmark: str, a: list[list[bool]], b: list[list[bool]], seed: int = 0, resamples: int = RESAMPLES
) -> Comparison:
    """B against A on paired problems (the same problem at the same index), each a list of samples' correctness."""
    k_a, k_b = (np.array([len(samples) for samples in side]) for side in (a, b))
    correct_a, correct_b = (np.array([sum(samples) for samples in side]) for side in (a, b))
    before, after = correct_a / k_a, correct_b / k_b
    lost, gained = int(np.sum(after < before)), int(np.sum(after > before))
    if np.all(k_a == 1) and np.all(k_b == 1):
        both = int(np.sum(before * after))
        interval = newcombe_interval(both, lost, gained, len(a) - both - lost - gained)
        p_value, test, method = mcnemar_exact(lost, gained), "McNemar exact", "Newcombe"
    else:
        rng = np.random.default_rng(seed)
        interval = bootstrap_interval(after - before, rng, resamples)
        p_value, test, method = sign_flip_p(after - before, rng, resamples), "sign-flip permutation", "bootstrap"
    return Comparison(
        benchmark, len(a), 0, 0, float(before.mean()), float(after.mean()), float(np.mean(after - before)),
        interval, p_value, test, method, lost, gained,
    )  # fmt: skip


def compare(
    a: Evaluation | str | Path,
    b: Evaluation | str | Path,
    benchmarks: list[str] | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> list[Comparison]:
    """B against A on each benchmark both evaluated (or on `benchmarks`), on the problems both hold."""
    a, b = (side if isinstance(side, Evaluation) else read_evaluation(side) for side in (a, b))
    common = [name for name in a.problems if name in b.problems]
    for name in benchmarks or []:
        for side in (a, b):
            if name not in side.problems:
                raise RecipeError(f"{side.folder} has no results of {name} (it has: {', '.join(side.problems)})")
    if not common:
        raise RecipeError(f"{a.folder} ({', '.join(a.problems)}) and {b.folder} ({', '.join(b.problems)}) "
                          "evaluated no benchmark in common")  # fmt: skip
    comparisons = []
    for name in benchmarks or common:
        ids = [i for i in a.problems[name] if i in b.problems[name]]
        if not ids:
            raise RecipeError(f"{name}: no problem id in both {a.folder} and {b.folder} (other data files?)")
        for i in ids:
            gold_a, gold_b = a.problems[name][i][0], b.problems[name][i][0]
            if gold_a != gold_b:
                raise RecipeError(f"{name}: problem {i} has gold answer {gold_a!r} in {a.folder} and {gold_b!r} "
                                  f"in {b.folder}: they evaluated other problems under one id")  # fmt: skip
        samples = ([side.problems[name][i][1] for i in ids] for side in (a, b))
        found = compare_problems(name, *samples, seed=seed, resamples=resamples)
        only_a, only_b = (len(side.problems[name]) - len(ids) for side in (a, b))
        comparisons.append(dataclasses.replace(found, only_a=only_a, only_b=only_b))
    return comparisons


def format_p(p: float) -> str:
    return f"p={p:.3g}"


def difference_cell(comparison: Comparison) -> str:
    """`+4.2 [-1.0, 9.4] p=0.12`: the difference in percentage points, its 95% interval and the p-value."""
    low, high = comparison.interval
    return f"{100 * comparison.difference:+.1f} [{100 * low:.1f}, {100 * high:.1f}] {format_p(comparison.p_value)}"
