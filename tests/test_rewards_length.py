import math

import pytest

from r1recipes import RecipeError
from r1recipes.rewards.length import cosine_reward, length_reward

RIGHT, WRONG = "<answer>4</answer>", "<answer>5</answer>"


def ids(*lengths):
    return [[7] * n for n in lengths]


def test_kimi_length_penalty_within_each_prompt_group():
    completions = [RIGHT, RIGHT, WRONG, WRONG, RIGHT, RIGHT]
    prompts = ["p1"] * 4 + ["p2"] * 2
    scores = length_reward(completions, ids(10, 30, 10, 20, 5, 5), prompts, answer=["4"] * 6)
    # group p1: min 10, max 30 tokens; lambda = 0.5 - (len - 10) / 20
    # right & shortest 0.5; right & longest -0.5; wrong & shortest min(0, 0.5) = 0; wrong at 20: min(0, 0) = 0
    # group p2: every length equal, so 0.0 for both
    assert scores == [0.5, -0.5, 0.0, 0.0, 0.0, 0.0]


def test_kimi_never_rewards_a_short_wrong_answer_and_leaves_unjudged_rows_out():
    scores = length_reward([WRONG, RIGHT, RIGHT], ids(1, 11, 21), ["p"] * 3, answer=["4", "4", ""], solution=[""] * 3)
    assert scores == [0.0, 0.0, None]  # lambda: 0.5, 0.0, -0.5; the third row has no gold answer


def test_kimi_without_prompts_treats_the_call_as_one_group():
    assert length_reward([RIGHT, RIGHT, RIGHT], ids(0, 5, 10), answer=["4"] * 3) == [0.5, 0.0, -0.5]


def test_cosine_values_at_the_boundaries():
    completions = [RIGHT, RIGHT, RIGHT, WRONG, WRONG, WRONG, RIGHT, WRONG]
    scores = cosine_reward(completions, ids(0, 50, 99, 0, 50, 99, 100, 150), max_len=100, answer=["4"] * 8)
    half = math.cos(math.pi * 99 / 100)
    assert scores == pytest.approx(
        [
            1.0,  # correct at length 0: correct_at_zero
            0.75,  # halfway: the mean of 1.0 and 0.5
            0.5 + 0.25 * (1 + half),  # just under the limit, close to correct_at_max
            -0.5,  # wrong at length 0: wrong_at_zero
            -0.25,
            -0.25 * (1 + half),
            -1.0,  # hit the limit: exceed_penalty, right or wrong
            -1.0,
        ]
    )
    # the orderings the paper asks for
    assert scores[0] > scores[1] > scores[2] > scores[5] > scores[4] > scores[3]


def test_cosine_settings_and_other_verifiers():
    scores = cosine_reward(
        ["<answer>1 + 2</answer>", "<answer>1 * 2</answer>"],
        ids(0, 0),
        max_len=10,
        correct_at_zero=2.0,
        wrong_at_zero=-10.0,
        verifier="countdown",
        nums=[[1, 2]] * 2,
        target=[3] * 2,
    )
    assert scores == [2.0, -10.0]
    with pytest.raises(RecipeError, match="max_len"):
        cosine_reward([RIGHT], ids(1), max_len=0, answer=["4"])
    with pytest.raises(RecipeError, match="'length' scores length"):
        cosine_reward([], verifier="length")
    with pytest.raises(RecipeError, match="unknown reward 'acc'"):
        length_reward([], verifier="acc")


def test_length_rewards_need_token_ids():
    with pytest.raises(RecipeError, match="completion_ids"):
        cosine_reward([RIGHT], answer=["4"])
    with pytest.raises(RecipeError, match="completion_ids"):
        length_reward([RIGHT, RIGHT], ids(1), answer=["4"] * 2)
