"""The procedural solvers that write cold-start traces, and the word-problem generator they serve."""

import json
import re

import pytest

from r1recipes.data.solvers import solve_countdown, word_problem_trace
from r1recipes.data.synthetic import countdown_rows, main, word_problem_rows
from r1recipes.rewards.accuracy import accuracy_reward
from r1recipes.rewards.countdown import countdown_reward
from r1recipes.rewards.format import format_reward


def test_countdown_tries_closest_first_and_checks_the_answer():
    lines, answer = solve_countdown([45, 27, 12], 30, max_tries=8)
    assert lines == [
        "I need 30 from 45, 27, 12.",
        "Try 45-12=33, 33-27=6, not 30.",  # 33 is the first step closest to 30
        "Try 27+12=39, 45-39=6, not 30.",
        "Try 45-27=18, 18+12=30. Yes.",
        "Check: 45-27+12=30, each number once.",
    ]
    assert answer == "45-27+12"


def test_countdown_parenthesizes_only_where_needed_and_searches_deeper_pools():
    assert solve_countdown([4, 6, 5], 10, max_tries=8)[1] == "5*(6-4)"
    lines, answer = solve_countdown([1, 2, 3, 4], 24, max_tries=8)
    assert lines[1] == "Try 4*3=12, 12*2=24, 24*1=24. Yes." and answer == "4*3*2*1"


def test_countdown_gives_up_after_max_tries_or_when_unsolvable():
    assert solve_countdown([45, 27, 12], 30, max_tries=3)[1] == "45-27+12"
    assert solve_countdown([45, 27, 12], 30, max_tries=2) is None  # the third try would have found it
    assert solve_countdown([2, 3, 5], 100, max_tries=100) is None  # 2 * 3 * 5 = 30 is the most there is


def test_countdown_rows_are_solved_within_their_tries_and_score_as_correct():
    rows = countdown_rows(200, seed=3, min_count=3, max_count=3, max_number=10, max_target=30, max_tries=4)
    nums, targets = [r["nums"] for r in rows], [r["target"] for r in rows]
    assert countdown_reward([r["solution"] for r in rows], nums, targets) == [1.0] * 200
    assert format_reward([r["solution"] for r in rows]) == [1.0] * 200
    tries = [r["solution"].count("\nTry ") for r in rows]
    assert min(tries) == 1 and max(tries) <= 4 and len(set(tries)) > 1  # some rows show failed attempts
    assert all(len(n) == 3 and max(n) <= 10 and 1 <= t <= 30 for n, t in zip(nums, targets, strict=True))


def test_word_problem_trace_works_forwards_then_checks_backwards():
    events = [("finds 8 more", 8), ("gives away 9", -9)]
    assert word_problem_trace("Mia", "She", 14, events, "stickers") == [
        "Mia starts with 14 stickers.",
        "She finds 8 more: 14+8=22.",
        "She gives away 9: 22-9=13.",
        "Check: 13+9=22, 22-8=14, the start.",
    ]


def test_word_problems_are_right_by_their_own_trace_and_never_go_negative():
    rows = word_problem_rows(300, seed=1)
    assert rows == word_problem_rows(300, seed=1) and rows != word_problem_rows(300, seed=2)
    solutions = [r["solution"] for r in rows]
    assert accuracy_reward(solutions, answer=[r["answer"] for r in rows]) == [1.0] * 300
    for row in rows:
        counts = [int(n) for n in re.findall(r"=(\d+)\.", row["solution"])]
        assert len(counts) == 2 and all(n >= 0 for n in counts) and str(counts[-1]) == row["answer"]
        start = int(re.search(r"has (\d+) ", row["problem"]).group(1))
        assert 1 <= start <= 20 and row["solution"].count(f"={start}, the start.") == 1
    losses = sum("gives away" in r["problem"] or "loses" in r["problem"] for r in rows)
    assert 0 < losses < len(rows)
    longer = word_problem_rows(5, seed=1, num_events=4, max_value=99)
    event = re.compile(r"^(He|She) .+: \d+[+-]\d+=\d+\.$", re.MULTILINE)
    assert all(len(event.findall(r["solution"])) == 4 for r in longer)
    with pytest.raises(ValueError):
        word_problem_rows(1, num_events=0)


def test_cli_writes_word_problems(tmp_path):
    output = tmp_path / "word_problems.jsonl"
    main(["word_problems", "--num_rows", "4", "--seed", "5", "--output", str(output)])
    assert [json.loads(line) for line in output.read_text().splitlines()] == word_problem_rows(4, 5)
