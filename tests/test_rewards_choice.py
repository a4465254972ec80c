"""The multiple-choice reward: which statement names the option, which letters count, hedging, and the gold."""

import time

import numpy as np
import pytest
from test_rewards_style import ADVERSARIAL

from r1recipes.rewards import get_reward_funcs
from r1recipes.rewards.choice import choice_reward, gold_letter, stated_choice
from r1recipes.rewards.counts import COUNTS
from r1recipes.rewards.verifiers import COLUMNS, DEFAULT_VERIFIERS, VERIFIERS

# (completion, the letter it states or None)
STATED = [
    # boxes
    (r"\boxed{C}", "C"),
    (r"\boxed{\text{C}}", "C"),
    (r"$\boxed{(C)}$", "C"),
    (r"The final answer is $\boxed{\textbf{(C)}}$.", "C"),
    (r"\fbox{C}", "C"),
    (r"\boxed{c}", "C"),
    (r"\boxed{C) 3.2 eV}", "C"),
    (r"\boxed{42}", None),  # a box is a statement: this one names no option
    (r"\boxed{\text{Carbon}}", None),
    (r"\boxed{C", None),  # unclosed
    # answer phrases
    ("Answer: C", "C"),
    ("ANSWER: C", "C"),
    ("answer:C", "C"),
    ("The answer is (C).", "C"),
    ("**Answer:** C", "C"),
    ("Answer: **C**", "C"),
    ("**Final Answer: (C)**", "C"),
    ("Final answer: c", "C"),
    ("Final answer: c.", "C"),
    ("The answer is [D]", "D"),
    ("The correct answer is option C.", "C"),
    ("Therefore, the answer is choice (B).", "B"),
    ("The answer is:\n\nC", "C"),
    (r"The answer is $\text{C}$.", "C"),
    (r"The answer is \(C\).", "C"),
    ("The correct option is (B).", "B"),
    ("The best choice: D", "D"),
    ("Option D is correct.", "D"),
    ("Choice (A) is the right one.", "A"),
    ("Choice (A) is tempting.", None),  # not "is correct", "is right" or "is best"
    ("Answer: C, because A ignores friction.", "C"),
    ("Answer: C. A is wrong.", "C"),
    ("Answer: C\nExplanation: B double counts.", "C"),
    # a letter alone on a line
    ("(C)", "C"),
    ("C)", "C"),
    ("C.", "C"),
    ("C", "C"),
    ("  [C]  ", "C"),
    ("After weighing them all:\nB\n", "B"),
    ("c", "C"),
    # letters that are not options
    ("The answer is a prime number.", None),  # "a" in prose
    ("The answer is clearly B.", None),  # "clearly" is not a letter; no statement
    ("A good answer is C", "C"),
    ("I think the answer is C", "C"),
    ("The answer is Carbon.", None),
    ("The answer is not A.", None),
    ("In answer to this, C holds.", None),  # no connector after "answer"
    ("Choice A is wrong.", None),
    ("Options A and C are both tempting.", None),
    ("The answer is C-12.", "C"),  # uppercase and not part of a word: a letter
    ("The answer is a.", "A"),  # lowercase, but all that is left of its line
    # the last statement counts
    ("The answer is B.\n\nWait, no: the answer is C.", "C"),
    ("<think>The answer is B.</think>\nThe answer is C.", "C"),
    ("<think>So (B) it is.</think>\n\\boxed{C}", "C"),
    ("<think>Answer: B</think>", None),  # nothing after </think>
    ("<think>Answer: B", "B"),  # no </think>: the whole text
    ("<think>B?</think>\n<answer> D </answer>", "D"),
    ("<answer>B</answer>\nAnswer: C", "B"),  # an answer block is the final answer
    ("Answer: C\n\nA\n", "A"),
    ("\\boxed{B}\n\nSo the answer is C.", "C"),
    ("The answer is C.\n\\boxed{42}", None),
    # several letters in the last statement
    ("The answer is A or C.", None),
    ("Answer: A, C", None),
    ("Answer: A/C", None),
    ("Answer: A and D", None),
    ("The answer is (A) or (C).", None),
    (r"\boxed{A, C}", None),
    (r"\boxed{A \text{ or } C}", None),
    (r"The answer is \boxed{A} or \boxed{C}.", None),
    (r"\boxed{A} or \boxed{C}", None),
    ("The answer is C, or maybe A.", "C"),  # "maybe" ends the list
    ("Answer: A or C\n\nFinal answer: C", "C"),
    ("Answer: C and C", "C"),  # one letter named twice
    # nothing stated
    ("", None),
    ("I am not sure.", None),
    ("<think>reasoning</think>", None),
]


@pytest.mark.parametrize("completion,letter", STATED, ids=[repr(c[0]) for c in STATED])
def test_the_letter_the_last_statement_names(completion, letter):
    assert stated_choice(completion) == letter


GOLDS = [
    ("C", "C"),
    (" c ", "C"),
    (0, "A"),
    (3, "D"),
    (25, "Z"),
    (np.int64(2), "C"),
    (26, None),
    (-1, None),
    (True, None),
    ("1", None),  # ARC writes some keys as digits, 1-based
    ("(C)", None),
    ("CD", None),
    ("3.2 eV", None),
    ("", None),
    (None, None),
    (2.0, None),
]


@pytest.mark.parametrize("gold,letter", GOLDS, ids=[repr(g[0]) for g in GOLDS])
def test_the_gold_is_a_letter_or_a_zero_based_index(gold, letter):
    assert gold_letter(gold) == letter


def test_scores_exactly_and_leaves_out_rows_without_a_gold_letter():
    before = COUNTS["choice/gold_unparsable"]
    completions = [
        "<think>B looks right... no.</think>\nThe answer is (C).",
        "The answer is (C).",
        "The answer is A or C.",
        [{"role": "assistant", "content": "Answer: c"}],
        "Answer: B",
        "Answer: C",
        "Answer: C",
    ]
    golds = ["C", "D", "C", 2, 1, "3.2 eV", None]
    assert choice_reward(completions, answer=golds) == [1.0, 0.0, 0.0, 1.0, 1.0, None, None]
    assert COUNTS["choice/gold_unparsable"] == before + 2
    assert choice_reward(["Answer: C"]) == [None]  # no answer column
    assert choice_reward([]) == []


@pytest.mark.parametrize(
    "text", [*ADVERSARIAL, "\\boxed{A} or " * 15_000, "Answer: A, " * 20_000, "answer: " * 25_000, "a\n" * 100_000]
)
def test_huge_adversarial_texts_stay_fast(text):
    start = time.perf_counter()
    assert choice_reward([text], answer=["A"]) in ([0.0], [1.0])
    assert time.perf_counter() - start < 5.0


def test_it_is_a_registered_verifier_for_science_rows():
    assert VERIFIERS["choice"] is choice_reward
    assert DEFAULT_VERIFIERS["science"] == "choice"
    assert COLUMNS["choice"] == [("answer",)]
    (reward,) = get_reward_funcs(["choice"], {"choice": {"tasks": ["science"]}})
    assert reward(["Answer: B", "Answer: B"], answer=["B", "B"], task=["science", "math"]) == [1.0, None]
