import json
import math
import threading
import time
from pathlib import Path

import pytest

from r1recipes import RecipeError
from r1recipes.rewards.accuracy import accuracy_reward, gold_answer, normalize
from r1recipes.rewards.counts import COUNTS
from r1recipes.rewards.numeric import latex_number
from r1recipes.rewards.text import boxed_contents, final_answers, last_answer_block

MATH500 = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks" / "math500.jsonl"


@pytest.mark.parametrize(
    "completion, gold, expected",
    [
        ("<think>6 * 7</think>\n<answer>42</answer>", "42", 1.0),
        ("<think>6 * 7</think>\n<answer>41</answer>", "42", 0.0),
        ("The answer is \\boxed{\\frac12}.", "1/2", 1.0),
        ("<answer>x = 3</answer>", "3", 1.0),
        ("<answer>0.5</answer>", "50\\%", 1.0),
        ("<answer>\\boxed{Evelyn}</answer>", "\\text{Evelyn}", 1.0),
        ("<answer>\\boxed{Evelyn}</answer>", "\\text{Bob}", 0.0),
        ("<answer>The answer is 42.</answer>", "42", 1.0),
        ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", 1.0),
        ("\\boxed{1,000}", "1000", 1.0),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "(3, \\frac{\\pi}{2})", 1.0),
        ("\\boxed{(3, 4)}", "3", 0.0),
        ("no final answer at all: 42", "42", 0.0),
        ("", "42", 0.0),
        # hedging: several different final answers for one scalar question
        ("\\boxed{3} or maybe \\boxed{4}", "3", 0.0),
        ("<answer>3 or 4</answer>", "3", 0.0),
        ("<answer>\\boxed{3}, \\boxed{4}</answer>", "4", 0.0),
        # the same answer stated twice is not hedging, and a set gold reads several boxes as one answer
        ("\\boxed{2} so again \\boxed{2}", "2", 1.0),
        ("\\boxed{3}, \\boxed{4}", "3, 4", 1.0),
        # the answer block wins over boxes in the reasoning; the reasoning's last box is used without one
        ("<think>\\boxed{5}</think><answer>6</answer>", "6", 1.0),
        ("<think>so \\boxed{5}</think> done", "5", 1.0),
        ("<think>\\boxed{4} no, \\boxed{5}</think> so \\boxed{4}", "4", 1.0),
    ],
)
def test_accuracy_exact_values(completion, gold, expected):
    assert accuracy_reward([completion], answer=[gold]) == [expected]


def test_conversational_completions_and_gold_from_the_solution():
    completions = [[{"role": "assistant", "content": "<answer>\\frac{3}{4}</answer>"}], "\\boxed{0.75}", "\\boxed{1}"]
    solutions = ["... so it is \\boxed{\\dfrac{3}{4}}."] * 3
    assert accuracy_reward(completions, solution=solutions) == [1.0, 1.0, 0.0]
    # the answer column wins; an empty answer falls back to the solution of that row
    assert accuracy_reward(["\\boxed{2}", "\\boxed{2}"], answer=["2", ""], solution=["\\boxed{3}"] * 2) == [1.0, 0.0]


def test_unparsable_gold_gives_none_and_is_tallied():
    before = COUNTS["accuracy/gold_unparsable"]
    scores = accuracy_reward(["\\boxed{1}"] * 3, answer=["", "   ", "1"], solution=["no box", None, None])
    assert scores == [None, None, 1.0]
    assert COUNTS["accuracy/gold_unparsable"] == before + 2


def test_settings_are_checked_even_on_an_empty_batch():
    assert accuracy_reward([]) == []
    with pytest.raises(RecipeError, match="reward_kwargs.accuracy.num_workers"):
        accuracy_reward([], num_workers=0)
    with pytest.raises(RecipeError, match="reward_kwargs.accuracy.timeout"):
        accuracy_reward([], timeout=0)


def test_a_dataset_without_gold_columns_is_a_clear_error():
    with pytest.raises(RecipeError, match="'answer' or 'solution' column"):
        accuracy_reward(["\\boxed{1}"], problem=["1?"])


@pytest.mark.parametrize(
    "completion",
    [
        "\\boxed{10^{10^{10^{10}}}}",  # C-level big integer arithmetic that no signal interrupts
        "\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}",
        "\\boxed{\\frac{" * 300 + "1" + "}{2}" * 300 + "}",
    ],
)
def test_pathological_latex_returns_within_the_limit(completion):
    before = COUNTS["accuracy/timeouts"] + COUNTS["accuracy/errors"]
    start = time.monotonic()
    assert accuracy_reward([completion], answer=["7"], timeout=1.0) == [0.0]
    assert time.monotonic() - start < 4.0
    assert COUNTS["accuracy/timeouts"] + COUNTS["accuracy/errors"] >= before


def test_the_time_limit_holds_outside_the_main_thread():
    """math-verify's own signal.alarm limit raises in a thread; the worker pool's limit does not care."""
    result = {}

    def score():
        start = time.monotonic()
        result["scores"] = accuracy_reward(["\\boxed{10^{10^{10^{10}}}}", "\\boxed{\\sqrt{x^2}}"], answer=["3", "|x|"])
        result["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=score)
    thread.start()
    thread.join(timeout=30)
    assert result["scores"][0] == 0.0 and result["scores"][1] in (0.0, 1.0)
    assert result["seconds"] < 12


def test_text_helpers():
    assert boxed_contents("a \\boxed{\\frac{1}{2}} b \\fbox{3} \\boxed{unclosed") == ["\\frac{1}{2}", "3"]
    assert last_answer_block("<answer>1</answer> <answer> 2 </answer>") == " 2 "
    assert last_answer_block("<answer>" * 50_000) is None
    assert final_answers("<answer>\\boxed{1} and \\boxed{2}</answer>") == ["1", "2"]
    assert final_answers("<answer> </answer>") == []
    assert normalize("x = \\dfrac{1}{2}.") == "\\frac{1}{2}"
    assert normalize("\\left( 1, 2 \\right)") == "(1,2)"
    assert normalize("90^\\circ") == "90"
    assert gold_answer(None, "so \\boxed{1} then \\boxed{ 2 }") == "2"
    assert gold_answer(3, None) == "3"


@pytest.mark.parametrize(
    "text, value",
    [
        ("42", 42.0),
        ("-\\frac{\\sqrt{3}}{2}", -math.sqrt(3) / 2),
        ("\\frac12", 0.5),
        ("3\\sqrt{13}", 3 * math.sqrt(13)),
        ("2\\pi", 2 * math.pi),
        ("2^{10}", 1024.0),
        (".5", 0.5),
        ("1/3", 1 / 3),
        ("(1+2)*3", 9.0),
        ("2^10", None),  # LaTeX reads 2^1 then 0: left to math-verify
        ("3\\frac{1}{2}", None),  # a mixed number: left to math-verify
        ("1,000", None),
        ("\\sqrt{-1}", None),
        ("\\frac{1}{0}", None),
        ("10^{10^{10}}", None),
        ("x+1", None),
        ("1" * 200, None),
    ],
)
def test_latex_number(text, value):
    assert latex_number(text) == (pytest.approx(value) if value is not None else None)


@pytest.mark.skipif(not MATH500.is_file(), reason="../shared/data/benchmarks/math500.jsonl is not present")
def test_math500_solutions_verify_against_their_own_answer_and_not_others():
    rows = [json.loads(line) for line in MATH500.read_text().splitlines()]
    own = accuracy_reward([r["solution"] for r in rows], answer=[r["answer"] for r in rows])
    assert sum(score == 1.0 for score in own) >= 0.99 * len(rows)
    shifted = rows[1:] + rows[:1]
    other = accuracy_reward([r["solution"] for r in rows], answer=[r["answer"] for r in shifted])
    for row, next_row, score in zip(rows, shifted, other, strict=True):
        same = normalize(row["answer"]) == normalize(next_row["answer"])  # "5" and "x=5" are one answer
        assert score == float(same), (row["answer"], next_row["answer"])
