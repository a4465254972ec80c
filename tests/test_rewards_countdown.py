import json
import time
from fractions import Fraction

import pytest

from r1recipes.data.synthetic import countdown_rows, main
from r1recipes.rewards.countdown import (
    MAX_EXPRESSION_CHARS,
    MAX_NESTING_DEPTH,
    Verdict,
    check_countdown,
    countdown_reward,
    evaluate_expression,
)


def score(answer_text: str, nums: list[int], target: int, **settings) -> float | None:
    return countdown_reward([f"<think>work</think>\n<answer>{answer_text}</answer>"], [nums], [target], **settings)[0]


@pytest.mark.parametrize(
    "answer, nums, target, expected",
    [
        ("(44 - 19) * (3 + 1)", [3, 19, 44, 1], 100, 1.0),
        ("  44-19  ", [44, 19], 25, 1.0),
        ("(8 / 3) * 3", [8, 3, 3], 8, 1.0),  # 8/3 is exact with rationals
        ("8 / 3 * 3", [8, 3, 3], 8, 1.0),
        ("(1 + 2) / 3 = 1", [1, 2, 3], 1, 1.0),  # a stated result equal to the target
        ("(1 + 2) / 3", [1, 2, 3], 2, 0.1),  # right numbers, wrong value
        ("(1 + 2) / 3 = 2", [1, 2, 3], 2, 0.1),  # the stated result is false
        ("1 + 2 - 3 = 1", [1, 2, 3], 0, 0.1),  # true value is the target, stated result is not
        ("3 + 3 + 2", [1, 2, 3], 8, 0.1),  # 3 used twice, 1 missing
        ("1 + 2", [1, 2, 3], 3, 0.1),  # a number missing
        ("1 + 2 + 3 + 4", [1, 2, 3], 10, 0.1),  # an extra number
        ("12 + 3", [1, 2, 3], 15, 0.1),  # digits glued into another number
        ("5 / (3 - 3)", [5, 3, 3], 5, 0.1),  # division by zero
        # well formed but against the rules, even when the value is the target: the well-formed score
        ("-1 + 83 + 49", [1, 83, 49], 131, 0.1),  # a unary minus: binary operations only
        ("-3 + 5", [3, 5], 2, 0.1),
        ("5 - -3", [3, 5], 8, 0.1),
        ("5 - (-3)", [3, 5], 8, 0.1),
        ("+3 + 5", [3, 5], 8, 0.1),
        ("-(1 + 2) + 6", [1, 2, 6], 3, 0.1),
        ("-3 + 5 + 7", [1, 2], 9, 0.1),  # a broken rule is the verdict, whatever the numbers
        ("2 ** 3", [2, 3], 8, 0.1),  # no exponent
        ("2^3", [2, 3], 8, 0.1),
        ("9 ** 9 ** 9 ** 9", [9, 9, 9, 9], 1, 0.1),  # never computed
        ("2.5 * 2", [2, 2], 5, 0.1),  # no decimals
        ("2.0 + 1", [2, 1], 3, 0.1),
        ("07 + 1", [7, 1], 8, 0.1),  # the given numbers as written
        ("1 - 3 = -2", [1, 3], -2, 1.0),  # a negative stated result is a result, not a unary minus
        ("(1 + 2) = +3", [1, 2], 3, 1.0),
        # not arithmetic: nothing
        ("2(3 + 1)", [2, 3, 1], 8, 0.0),  # no implicit multiplication
        ("2..", [2], 2, 0.0),  # one full stop ends a sentence, two do not
        (".5 + 1", [1], 2, 0.0),
        ("- ", [1], 1, 0.0),
        ("1 + -", [1], 1, 0.0),
        ("(1 + 2", [1, 2], 3, 0.0),
        ("1 + 2)", [1, 2], 3, 0.0),
        ("", [1, 2], 3, 0.0),
        ("the answer is 3", [1, 2], 3, 0.0),
        ("__import__('os')", [1], 1, 0.0),
        ("1 + 2 = 3 = 3", [1, 2], 3, 0.0),
        ("1 + 2 =", [1, 2], 3, 0.0),
    ],
)
def test_scores(answer, nums, target, expected):
    assert score(answer, nums, target) == expected


@pytest.mark.parametrize(
    "answer, nums, target, expected",
    [
        # right answers in common and LaTeX notation are right
        ("43 + (6 × 36)", [43, 36, 6], 259, 1.0),
        ("43 + (6 ⋅ 36)", [43, 36, 6], 259, 1.0),
        ("43 + (6 · 36)", [43, 36, 6], 259, 1.0),
        (r"43 + (6 \times 36)", [43, 36, 6], 259, 1.0),
        (r"43+6\times36", [43, 36, 6], 259, 1.0),
        (r"43 + (6 \cdot 36)", [43, 36, 6], 259, 1.0),
        ("(8 ÷ 3) × 3", [8, 3, 3], 8, 1.0),
        (r"(8 \div 3) \times 3", [8, 3, 3], 8, 1.0),
        ("26 + (97 − 18)", [26, 97, 18], 105, 1.0),  # U+2212, the minus sign
        ("26 + (97 – 18)", [26, 97, 18], 105, 1.0),  # U+2013, an en dash
        (r"\left(97 - 18\right) + 26", [26, 97, 18], 105, 1.0),
        (r"\frac{8}{3} \times 3", [8, 3, 3], 8, 1.0),
        (r"\dfrac{8}{3} \cdot 3", [8, 3, 3], 8, 1.0),
        (r"\frac{\frac{96}{4}}{2} + 1", [96, 4, 2, 1], 13, 1.0),  # fractions nest
        ("$43 + (6 * 36)$", [43, 36, 6], 259, 1.0),
        ("$$43 + (6 * 36)$$", [43, 36, 6], 259, 1.0),
        (r"\(2 + (8 + 23)\)", [2, 8, 23], 33, 1.0),
        (r"\[ 2 + (8 + 23) \]", [2, 8, 23], 33, 1.0),
        (r"\boxed{2 + (8 + 23)}", [2, 8, 23], 33, 1.0),
        (r"\fbox{2 + (8 + 23)}", [2, 8, 23], 33, 1.0),
        ("26 + (97 - 18).", [26, 97, 18], 105, 1.0),  # a sentence's full stop
        ("2.", [2], 2, 1.0),
        (r"$\boxed{43 + 6 \times 36}$.", [43, 36, 6], 259, 1.0),
        (r"$43 + 6 \times 36.$", [43, 36, 6], 259, 1.0),  # the full stop inside the wrapper
        (r"\boxed{43 + 6 \times 36 = 259}", [43, 36, 6], 259, 1.0),
        ("43 + 6 × 36 = 259.", [43, 36, 6], 259, 1.0),  # a stated result, then a full stop
        ("1 − 3 = −2", [1, 3], -2, 1.0),
        # wrong in the new notation: the well-formed score, like wrong ASCII
        ("43 × (6 + 36)", [43, 36, 6], 259, 0.1),
        (r"$43 + (6 \times 36)$", [43, 36, 6], 260, 0.1),
        (r"\boxed{2 \times (8 + 23)}", [2, 8, 23], 33, 0.1),
        ("26 + (97 − 18) = 106.", [26, 97, 18], 105, 0.1),  # a false stated result
        (r"\frac{8}{3 - 3} \times 3", [8, 3, 3, 3], 8, 0.1),  # divides by zero
        (r"\boxed{43 + 6 \times 36}", [43, 36], 259, 0.1),  # wrong numbers
        ("−1 + 83 + 49", [1, 83, 49], 131, 0.1),  # a unary minus sign still breaks the rules
        (r"\frac{-8}{3} \times 3", [8, 3, 3], -8, 0.1),
        ("3.5.", [3], 3, 0.1),  # the full stop goes, the decimal stays
        ("2 × 3.5", [2, 3, 5], 7, 0.1),
        ("$2^3$", [2, 3], 8, 0.1),  # an exponent in LaTeX still breaks the rules
        # still not arithmetic
        (r"\boxed{}", [1, 2], 3, 0.0),
        ("$$", [1, 2], 3, 0.0),
        ("$1 + 2", [1, 2], 3, 0.0),
        (r"\(1 + 2\]", [1, 2], 3, 0.0),
        (r"\boxed{1} + \boxed{2}", [1, 2], 3, 0.0),
        (r"1 + 2 = \boxed{3}", [1, 2], 3, 0.0),  # a box around part of the answer
        (r"the answer is \boxed{1 + 2}", [1, 2], 3, 0.0),
        ("6 x 36 + 43", [43, 36, 6], 259, 0.0),  # the letter x is text
        ("2 ×× 3", [2, 3], 6, 0.0),  # two operators, not the exponent **
        (r"2 \times\times 3", [2, 3], 6, 0.0),
        (r"2 \timesx 3", [2, 3], 6, 0.0),  # another command
        (r"\frac12 + 1", [1, 2, 1], 2, 0.0),  # no braces: not read
        (r"\frac{8}{3 \times 3", [8, 3, 3], 8, 0.0),  # unclosed
        (r"\frac{8}", [8], 8, 0.0),
        (r"1 + 2 \right)", [1, 2], 3, 0.0),
        ("26 + (97 - 18)..", [26, 97, 18], 105, 0.0),
        (".", [1], 1, 0.0),
    ],
)
def test_common_notation(answer, nums, target, expected):
    assert score(answer, nums, target) == expected


def test_common_notation_verdicts():
    assert check_countdown(r"$\boxed{43 + 6 \times 36}$.", [43, 36, 6], 259) is Verdict.CORRECT
    assert check_countdown(r"\(2 + (8 + 23)\)", [2, 8, 23], 33) is Verdict.CORRECT
    assert check_countdown("26 + (97 - 18).", [26, 97, 18], 105) is Verdict.CORRECT
    assert check_countdown("26 + (97 - 18) = 105.", [26, 97, 18], 105) is Verdict.CORRECT
    assert check_countdown("26 + (97 - 18) = 104.", [26, 97, 18], 105) is Verdict.WRONG_VALUE
    assert check_countdown("43 × (6 + 36)", [43, 36, 6], 259) is Verdict.WRONG_VALUE
    assert check_countdown(r"\frac{8}{3 - 3}", [8, 3, 3], 8) is Verdict.UNDEFINED
    assert check_countdown("3 × 4", [3, 4, 5], 12) is Verdict.WRONG_NUMBERS
    assert check_countdown("−1 + 83 + 49", [1, 83, 49], 131) is Verdict.BREAKS_RULES
    assert check_countdown("1 + 2 = 3.5.", [1, 2], 3) is Verdict.WRONG_VALUE  # a stated decimal stays a decimal
    assert check_countdown(r"\boxed{}", [1, 2], 3) is Verdict.MALFORMED
    assert check_countdown("6 x 36 + 43", [43, 36, 6], 259) is Verdict.MALFORMED
    assert evaluate_expression("7 ÷ 2") == Fraction(7, 2)
    assert evaluate_expression(r"\frac{8}{3} \times 3") == Fraction(8)
    assert evaluate_expression("$1 − 2 − 3$.") == Fraction(-4)


def test_settings_change_the_three_levels():
    settings = {"correct": 2.0, "well_formed": 0.5, "malformed": -1.0}
    assert [score(a, [1, 2], 3, **settings) for a in ["1 + 2", "1 * 2", "1 +"]] == [2.0, 0.5, -1.0]


def test_verdicts():
    assert check_countdown("1 + 2", [1, 2], 3) is Verdict.CORRECT
    assert check_countdown("1 * 2", [1, 2], 3) is Verdict.WRONG_VALUE
    assert check_countdown("2 / (1 - 1)", [2, 1, 1], 3) is Verdict.UNDEFINED
    assert check_countdown("2 / (1 - 1)", [2, 1], 3) is Verdict.WRONG_NUMBERS
    assert check_countdown("1 +", [1, 2], 3) is Verdict.MALFORMED
    assert check_countdown("1 / 0 +", [1, 0], 3) is Verdict.MALFORMED  # the whole text is read first
    assert check_countdown(None, [1, 2], 3) is Verdict.MISSING
    assert check_countdown("-1 + 83 + 49", [1, 83, 49], 131) is Verdict.BREAKS_RULES
    assert check_countdown("2 ** 3 / (1 - 1)", [2, 3, 1, 1], 8) is Verdict.BREAKS_RULES
    assert check_countdown("- (1 / 0) +", [1, 0], 3) is Verdict.MALFORMED
    assert check_countdown("(1 + 2) = 3.0", [1, 2], 3) is Verdict.CORRECT  # the stated result is a value
    assert [v.well_formed for v in Verdict] == [True] * 5 + [False] * 2
    with pytest.raises(ValueError, match="not a countdown problem"):
        check_countdown("1 + 2", "1, 2", 3)


def test_evaluate_expression():
    assert evaluate_expression("(8 / 3) * 3") == Fraction(8)
    assert evaluate_expression("1 - 2 - 3") == Fraction(-4)  # left-associative
    assert evaluate_expression("12 / 4 / 3") == Fraction(1)
    assert evaluate_expression("2 + 3 * 4") == Fraction(14)
    assert evaluate_expression("7 / 2") == Fraction(7, 2)
    assert evaluate_expression("1 / 0") is None
    assert evaluate_expression("1 + 2 = 3") is None  # a bare expression, no stated result
    assert evaluate_expression("1 +") is None
    assert evaluate_expression("-1 + 2") is None  # breaks a rule: no value
    assert evaluate_expression("2 ** 3") is None


def test_the_last_answer_block_is_scored():
    completions = [
        "<answer>1 * 2</answer> no, <answer> 1 + 2 </answer> done",
        "<answer>1 + 2</answer> no, <answer>1 * 2</answer>",
        "<answer>1 * 2 <answer>1 + 2</answer>",  # the innermost opening tag starts the block
        "<answer>1 + 2",
        "1 + 2</answer>",
        "I think it is 1 + 2",
    ]
    assert countdown_reward(completions, [[1, 2]] * 6, [3] * 6) == [1.0, 0.1, 1.0, 0.0, 0.0, 0.0]


def test_conversational_completions():
    completions = [
        [{"role": "assistant", "content": "<think>1+2</think><answer>1 + 2</answer>"}],
        [{"role": "assistant", "content": "<answer>2 - 1</answer>"}],
        [{"role": "assistant", "content": None}],
        [],
    ]
    assert countdown_reward(completions, [[1, 2]] * 4, [3] * 4) == [1.0, 0.1, 0.0, 0.0]


def test_malformed_rows_are_left_out():
    completions = ["<answer>1 + 2</answer>"] * 8
    nums = [[1, 2], None, [], "1 2", [1, "2"], [1, True], [1, -2], [1, 2]]
    target = [3, 3, 3, 3, 3, 3, 3, "3"]
    assert countdown_reward(completions, nums, target) == [1.0] + [None] * 7
    assert countdown_reward(completions[:2]) == [None, None]  # no columns at all
    assert countdown_reward(completions[:3], [[1, 2]], [3]) == [1.0, None, None]  # short columns


def test_each_row_is_read_once(monkeypatch):
    """`nums` is checked and sorted once per row, not again for its verdict."""
    import r1recipes.rewards.countdown as countdown

    calls, real = [], countdown.countdown_problem
    monkeypatch.setattr(countdown, "countdown_problem", lambda *args: calls.append(args) or real(*args))
    rows = 5
    assert countdown_reward(["<answer>1 + 2</answer>"] * rows, [[2, 1]] * rows, [3] * rows) == [1.0] * rows
    assert len(calls) == rows


def test_pathological_input_is_bounded():
    deep = "(" * (MAX_NESTING_DEPTH + 1) + "1" + ")" * (MAX_NESTING_DEPTH + 1)
    allowed_depth = "(" * MAX_NESTING_DEPTH + "1" + ")" * MAX_NESTING_DEPTH
    assert check_countdown(deep, [1], 1) is Verdict.MALFORMED
    assert check_countdown(allowed_depth, [1], 1) is Verdict.CORRECT
    assert check_countdown("-" * MAX_NESTING_DEPTH + "1", [1], 1) is Verdict.BREAKS_RULES
    assert check_countdown("-" * (MAX_NESTING_DEPTH + 1) + "1", [1], 1) is Verdict.MALFORMED
    assert check_countdown("2" + "**2" * (MAX_NESTING_DEPTH + 1), [2], 1) is Verdict.MALFORMED
    long_sum = "+".join(["1"] * (MAX_EXPRESSION_CHARS // 2 + 1))
    assert len(long_sum) > MAX_EXPRESSION_CHARS
    assert check_countdown(long_sum, [1] * (MAX_EXPRESSION_CHARS // 2 + 1), 1) is Verdict.MALFORMED
    short_sum = "+".join(["1"] * (MAX_EXPRESSION_CHARS // 2))  # the limit counts the answer as written
    assert check_countdown(short_sum, [1] * (MAX_EXPRESSION_CHARS // 2), MAX_EXPRESSION_CHARS // 2) is Verdict.CORRECT
    assert check_countdown(f"${short_sum}$", [1] * (MAX_EXPRESSION_CHARS // 2), 1) is Verdict.MALFORMED
    # a fraction nests its parts two deep: 16 fractions reach MAX_NESTING_DEPTH
    assert check_countdown("\\frac{" * 16 + "1" + "}{1}" * 16, [1] * 17, 1) is Verdict.CORRECT
    assert check_countdown("\\frac{" * 17 + "1" + "}{1}" * 17, [1] * 18, 1) is Verdict.MALFORMED
    huge = "9" * 5000  # more digits than int() converts
    start = time.perf_counter()
    completions = [
        f"<answer>{huge}</answer>",
        f"<answer>1 + 2 = {huge}</answer>",
        "<answer>" * 200_000 + "</answer>",
        "<answer>" * 200_000,  # unclosed tags, quadratic for a lazy regex
        "<answer>" + "(" * 100_000 + "</answer>",
        "<answer>" + "9*" * 249 + "9</answer>",  # the longest product allowed stays fast with exact values
        "<answer>" + "9×" * 249 + "9</answer>",  # its notation triples in length when read
        "<answer>" + "$" * MAX_EXPRESSION_CHARS + "</answer>",  # a wrapper taken off 250 times
        "<answer>" + "\\boxed{" * 62 + "}" * 62 + "</answer>",
        "<answer>" + "\\frac{" * 83 + "</answer>",
        "<answer>" + "\\frac{}{}" * 55 + "</answer>",
    ]
    assert countdown_reward(completions, [[1, 2]] * 11, [3] * 11) == [0.0] * 5 + [0.1, 0.1] + [0.0] * 4
    assert time.perf_counter() - start < 1.0


def test_generated_rows_are_solvable_and_deterministic():
    rows = countdown_rows(500, seed=7)
    assert rows == countdown_rows(500, seed=7)
    assert rows != countdown_rows(500, seed=8)
    scores = countdown_reward(
        [row["solution"] for row in rows], [row["nums"] for row in rows], [row["target"] for row in rows]
    )
    assert scores == [1.0] * 500
    for row in rows:
        assert row["task"] == "countdown"
        assert 3 <= len(row["nums"]) <= 4 and all(1 <= n <= 99 for n in row["nums"])
        assert 1 <= row["target"] <= 100
        assert evaluate_expression(row["answer"]) == row["target"]
        assert row["solution"].endswith(f"</think>\n<answer>{row['answer']}</answer>")
        assert row["problem"] == (
            f"Using the numbers {row['nums']}, create an equation that equals {row['target']}. You can use basic "
            "arithmetic operations (+, -, *, /) and each number can only be used once."
        )
    assert {len(row["nums"]) for row in rows} == {3, 4}


def test_generator_settings_and_cli(tmp_path):
    rows = countdown_rows(20, seed=1, min_count=2, max_count=2, max_number=9, max_target=20)
    assert all(len(row["nums"]) == 2 and max(row["nums"]) <= 9 and row["target"] <= 20 for row in rows)
    with pytest.raises(ValueError):
        countdown_rows(1, min_count=1)
    output = tmp_path / "countdown.jsonl"
    main(["countdown", "--num_rows", "5", "--seed", "3", "--max_count", "5", "--output", str(output)])
    assert [json.loads(line) for line in output.read_text().splitlines()] == countdown_rows(5, 3, max_count=5)
    main(["arithmetic", "--num_rows", "3", "--output", str(tmp_path / "arithmetic.jsonl")])
    assert json.loads((tmp_path / "arithmetic.jsonl").read_text().splitlines()[0])["task"] == "math"
