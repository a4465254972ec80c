"""Evaluation metrics: the pass@k estimator against brute force, majority voting, intervals, summaries."""

import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from r1recipes.evaluation.metrics import Verdict, ks_to_report, majority_correct, pass_at_k, summarize, wilson_interval


def brute_force_pass_at_k(n: int, c: int, k: int) -> Fraction:
    """The share of all k-subsets of n samples (the first c correct) holding at least one correct sample."""
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(i < c for i in subset) for subset in subsets), len(subsets))


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_brute_force_on_every_small_case(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(brute_force_pass_at_k(n, c, k)), abs=1e-12), (n, c, k)


def test_pass_at_1_is_the_share_correct_and_pass_at_n_whether_any_is():
    assert pass_at_k(16, 5, 1) == pytest.approx(5 / 16)
    assert pass_at_k(16, 1, 16) == 1.0
    assert pass_at_k(16, 0, 16) == 0.0


@pytest.mark.parametrize(("n", "c", "k"), [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_refuses_impossible_counts(n, c, k):
    with pytest.raises(ValueError, match="need 0 <= c <= n"):
        pass_at_k(n, c, k)


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_grows_with_k_and_with_correct_samples(case):
    n, c, k = case
    value = pass_at_k(n, c, k)
    assert 0.0 <= value <= 1.0
    if k < n:
        assert pass_at_k(n, c, k + 1) >= value
    if c < n:
        assert pass_at_k(n, c + 1, k) >= value


def v(correct: bool, answer: str | None, tokens: int = 10, truncated: bool = False) -> Verdict:
    return Verdict(correct, answer, tokens, truncated)


def test_majority_vote_ignores_silent_samples_and_breaks_ties_by_first_stated():
    assert majority_correct([v(False, "3"), v(True, "4"), v(True, "4"), v(False, None), v(False, None)])
    assert not majority_correct([v(False, "3"), v(False, "3"), v(True, "4")])
    assert not majority_correct([v(False, "3"), v(True, "4")])  # a tie: 3 was stated first
    assert majority_correct([v(True, "4"), v(False, "3")])
    assert not majority_correct([v(False, None), v(False, None)])


def test_wilson_interval_known_values():
    low, high = wilson_interval(0.5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson_interval(0.0, 3)  # all wrong on three problems: still an interval, not [0, 0]
    assert low == 0.0 and high == pytest.approx(0.5615, abs=1e-4)
    assert wilson_interval(1.0, 3) == pytest.approx((1 - 0.5615, 1.0), abs=1e-4)


def test_ks_to_report():
    assert ks_to_report(1) == [1]
    assert ks_to_report(4) == [1, 2, 4]
    assert ks_to_report(6) == [1, 2, 4, 6]
    assert ks_to_report(64) == [1, 2, 4, 8, 16, 32, 64]


def test_summary_of_two_problems_worked_by_hand():
    problems = [
        [v(True, "5", 10), v(False, "6", 20), v(False, "6", 30, True), v(False, None, 40, True)],  # 1 of 4
        [v(True, "7", 10), v(True, "7", 10), v(True, "7", 10), v(True, "7", 10)],  # 4 of 4
    ]
    m = summarize(problems)
    assert (m["problems"], m["num_samples"], m["samples"]) == (2, 4, 8)
    assert m["pass@1"] == pytest.approx((1 / 4 + 1) / 2)
    assert m["pass@2"] == pytest.approx(((1 - 3 / 6) + 1) / 2)  # C(3,2)/C(4,2) = 3/6 misses the one correct
    assert m["pass@4"] == 1.0
    assert m["maj@4"] == 0.5  # "6" outvotes "5" in the first problem
    assert m["mean_length"] == 17.5
    assert m["truncated"] == 0.25 and m["no_answer"] == 0.125
    assert m["ci95"]["pass@1"] == pytest.approx(list(wilson_interval(0.625, 2)), abs=1e-6)


def test_summary_needs_the_same_number_of_samples_per_problem():
    with pytest.raises(ValueError, match="same number of samples"):
        summarize([[v(True, "1")], [v(True, "1"), v(True, "1")]])
