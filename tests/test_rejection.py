"""Judging a chunk without a model: verification by task, filters, de-duplication, keep policies, rows, counts."""

import pyarrow as pa
import pytest

from r1recipes.generation.output import ROW_SCHEMA
from r1recipes.generation.readability import check_filters
from r1recipes.generation.rejection import Chunk, JudgeSettings, Prompt, assistant_turn, judge_chunk
from r1recipes.generation.sampling import Sample

VERIFIERS = {"math": "accuracy", "countdown": "countdown"}
QUESTION = [{"role": "user", "content": "What is 6 * 7?"}]
TURN = "<think>\nsix times seven\n</think>\n\n\\boxed{42}"  # as R1's SFT data writes a completion


def settings(keep=4, policy="shortest", filters=None, seed=0) -> JudgeSettings:
    return JudgeSettings(VERIFIERS, {}, 1.0, check_filters(filters), keep, policy, seed)


def math_prompt(position: int, answer: str = "42", solution: str = "") -> Prompt:
    return Prompt(position, f"math-{position}", "math", QUESTION, {"answer": answer, "solution": solution})


def countdown_prompt(position: int) -> Prompt:
    messages = [{"role": "user", "content": "Make 6 from 1, 2, 3."}]
    return Prompt(position, f"countdown-{position}", "countdown", messages, {"nums": [1, 2, 3], "target": 6})


def boxed(answer: str, reasoning: str = "six times seven is forty two") -> str:
    return f"<think>\n{reasoning}\n</think>\n\nThe answer is \\boxed{{{answer}}}."


def expression(answer: str) -> str:
    return f"<think>\nadd them all up\n</think>\n\n<answer>{answer}</answer>"


def judge(prompts, samples, index=0, **kwargs):
    return judge_chunk(Chunk(index, prompts, samples), settings(**kwargs))


def kept(judged) -> list[int]:
    return [row["sample_index"] for row in judged.rows]


def test_verification_by_task_and_counts():
    prompts = [math_prompt(0), countdown_prompt(1), math_prompt(2, answer="", solution="no box here")]
    samples = [
        [Sample(boxed("42"), 10, False), Sample(boxed("41"), 8, False), Sample(boxed("42", "six sevens"), 12, True)],
        [Sample(expression("1 + 2 + 3"), 5, False), Sample(expression("1 * 2 + 3"), 7, False)],
        [Sample(boxed("42"), 4, False)],
    ]
    judged = judge(prompts, samples, index=3, keep=1)
    assert judged.index == 3
    assert [(row["prompt_id"], row["sample_index"], row["reward"]) for row in judged.rows] == [
        ("math-0", 0, 1.0),
        ("countdown-1", 0, 1.0),
    ]
    assert judged.stats == {
        "tasks/math/prompts": 2,
        "tasks/math/samples": 4,
        "tasks/math/sample_tokens": 34,
        "tasks/math/correct": 2,  # the truncated sample is correct, but rejected
        "tasks/math/accepted": 1,
        "tasks/math/kept": 1,
        "tasks/math/prompts_with_kept": 1,
        "tasks/math/kept_tokens": 10,
        "tasks/countdown/prompts": 1,
        "tasks/countdown/samples": 2,
        "tasks/countdown/sample_tokens": 12,
        "tasks/countdown/correct": 1,
        "tasks/countdown/accepted": 1,
        "tasks/countdown/kept": 1,
        "tasks/countdown/prompts_with_kept": 1,
        "tasks/countdown/kept_tokens": 5,
        "rejected/incorrect": 2,  # 41, and a countdown expression of the wrong value (score 0.1)
        "rejected/truncated": 1,
        "rejected/unverifiable": 1,  # no gold answer
        "dropped/duplicates": 0,
        "dropped/over_keep_per_prompt": 0,
    }


def test_one_sample_counts_every_reason():
    text = "<think>\n" + "数学很好 " * 30  # truncated, Chinese, one long loop; its answer is never given
    judged = judge([math_prompt(0)], [[Sample(text, 300, True)]], filters={"paragraph_length": {"max_chars": 50}})
    reasons = {key: value for key, value in judged.stats.items() if key.startswith("rejected/")}
    assert reasons == {
        f"rejected/{name}": 1
        for name in ["truncated", "think_layout", "language", "paragraph_length", "repetition", "incorrect"]
    }
    assert judged.rows == [] and judged.stats["tasks/math/prompts_with_kept"] == 0
    assert "tasks/math/kept_tokens" not in judged.stats


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>six times seven</think>\\boxed{42}", TURN),
        ("six times seven\n</think>\\boxed{42}", TURN),  # the prompt opened <think>
        (" <think>\n\n six times seven \n</think>\n\n \\boxed{42} \n", TURN),
        (TURN, TURN),
        ("<think>a\n\nb</think>c", "<think>\na\n\nb\n</think>\n\nc"),  # inner whitespace stays
        ("  no tags, \\boxed{42}\n", "no tags, \\boxed{42}"),
    ],
)
def test_assistant_turn(text, expected):
    assert assistant_turn(text) == expected


def test_duplicates_are_kept_once():
    texts = [
        "<think>six times seven</think>\\boxed{42}",
        "<think>\n six times seven\n</think>\n\n\\boxed{42}  ",
        "six times seven</think>\n\\boxed{42}",  # the prompt opened <think>
        "<think>six  times seven</think>\\boxed{42}",  # inner whitespace differs: another turn
        "<think>six times seven</think>\\boxed{41}",
    ]
    judged = judge([math_prompt(0)], [[Sample(t, 9 - i, False) for i, t in enumerate(texts)]])
    assert kept(judged) == [2, 3]  # of the three identical turns, the one of fewest tokens (shortest policy)
    assert judged.stats["dropped/duplicates"] == 2
    assert judged.stats["tasks/math/accepted"] == 4
    assert judged.stats["tasks/math/kept"] == 2
    assert judged.stats["dropped/over_keep_per_prompt"] == 0


@pytest.mark.parametrize(
    "tokens, keep, expected, over",
    [
        ([9, 5, 7, 5], 2, [1, 3], 2),  # ties by index
        ([9, 5, 7, 5], 3, [1, 2, 3], 1),
        ([9, 5, 7, 5], 4, [0, 1, 2, 3], 0),
        ([9, 5, 7, 5], 9, [0, 1, 2, 3], 0),
        ([3, 3, 3, 3], 1, [0], 3),
    ],
)
def test_shortest(tokens, keep, expected, over):
    samples = [Sample(boxed("42", f"try number {i}"), n, False) for i, n in enumerate(tokens)]
    judged = judge([math_prompt(0)], [samples], keep=keep)
    assert kept(judged) == expected
    assert judged.stats["dropped/over_keep_per_prompt"] == over
    assert judged.stats["tasks/math/kept_tokens"] == sum(tokens[j] for j in expected)


def many(count: int) -> list[Sample]:
    return [Sample(boxed("42", f"try number {i}"), 10, False) for i in range(count)]


def test_random_is_seeded_by_prompt_position():
    alone = judge([math_prompt(7)], [many(6)], policy="random", keep=2)
    assert kept(alone) == [0, 5]  # random.Random("0/7") (seed/position) shuffles 0..5 to put 0 and 5 first
    assert alone.stats["dropped/over_keep_per_prompt"] == 4
    assert kept(judge([math_prompt(7)], [many(6)], policy="random", keep=2)) == [0, 5]
    bigger = judge(
        [math_prompt(5), countdown_prompt(6), math_prompt(7), math_prompt(8)],
        [many(3), [Sample(expression("1 + 2 + 3"), 5, False)], many(6), many(6)],
        index=1,
        policy="random",
        keep=2,
    )
    assert [row for row in bigger.rows if row["prompt_id"] == "math-7"] == alone.rows
    by_seed = {tuple(kept(judge([math_prompt(7)], [many(6)], policy="random", keep=2, seed=s))) for s in range(8)}
    assert len(by_seed) > 1  # the seed matters
    by_position = {tuple(kept(judge([math_prompt(p)], [many(6)], policy="random", keep=2))) for p in range(8)}
    assert len(by_position) > 1  # and so does the position


def test_rows():
    prompts = [math_prompt(0), countdown_prompt(1)]
    samples = [
        [Sample("six times seven\n</think>\n\n\\boxed{42}", 11, False)],
        [Sample("1 plus 2 plus 3 is six\n\n</think> <answer>1 + 2 + 3</answer>", 13, False)],
    ]
    judged = judge(prompts, samples)
    assert judged.rows == [
        {
            "messages": [
                *QUESTION,
                {"role": "assistant", "content": "<think>\nsix times seven\n</think>\n\n\\boxed{42}"},
            ],
            "prompt_id": "math-0",
            "task": "math",
            "sample_index": 0,
            "num_correct": 1,
            "completion_tokens": 11,
            "reward": 1.0,
            "verifier": "accuracy",
            "language_share": 1.0,
            "repeated_share": 0.0,
            "longest_paragraph": 32,  # "<think>\nsix times seven\n</think>", of the stored reply
        },
        {
            "messages": [
                *prompts[1].messages,
                {
                    "role": "assistant",
                    "content": "<think>\n1 plus 2 plus 3 is six\n</think>\n\n<answer>1 + 2 + 3</answer>",
                },
            ],
            "prompt_id": "countdown-1",
            "task": "countdown",
            "sample_index": 0,
            "num_correct": 1,
            "completion_tokens": 13,
            "reward": 1.0,
            "verifier": "countdown",
            "language_share": 1.0,  # plus, plus, is, six
            "repeated_share": 0.0,
            "longest_paragraph": 39,  # "<think>\n1 plus 2 plus 3 is six\n</think>", of the stored reply
        },
    ]
    assert prompts[0].messages == QUESTION  # the prompt's own list is left alone
    table = pa.Table.from_pylist(judged.rows, schema=ROW_SCHEMA)
    assert table.num_rows == 2 and table.schema == ROW_SCHEMA


@pytest.mark.parametrize(
    "sample, name",
    [
        (Sample(boxed("42", "六乘以七等于四十二"), 10, False), "language"),
        (Sample(boxed("42"), 10, True), "truncated"),
        (Sample(boxed("42", "let me check\n```\nprint(6 * 7)\n```"), 10, False), "code_in_reasoning"),
        (Sample(boxed("42", "again and again " * 20), 10, False), "repetition"),
        (Sample("it is \\boxed{42}", 10, False), "think_layout"),
        (Sample(boxed("42", "x" * 3001), 10, False), "paragraph_length"),
    ],
)
def test_filters_switched_off_let_samples_through(sample, name):
    strict = judge([math_prompt(0)], [[sample]])
    assert strict.rows == [] and strict.stats[f"rejected/{name}"] == 1
    lenient = judge([math_prompt(0)], [[sample]], filters={name: False})
    assert kept(lenient) == [0] and f"rejected/{name}" not in lenient.stats
    assert lenient.rows[0]["messages"][-1]["content"] == assistant_turn(sample.text)
    pa.Table.from_pylist(lenient.rows, schema=ROW_SCHEMA)


def test_maths_only_reasoning_has_no_language_share():
    judged = judge([math_prompt(0)], [[Sample(boxed("42", "$6 \\times 7 = 42$"), 10, False)]])
    assert judged.rows[0]["language_share"] is None
    assert pa.Table.from_pylist(judged.rows, schema=ROW_SCHEMA).column("language_share").to_pylist() == [None]
