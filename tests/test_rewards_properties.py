"""Every registered reward on random and adversarial text: no exception, one score per completion, bounded time.

160 examples of 7 or 8 completions each: every reward sees at least 1,120 texts."""

import time

import pytest
from helpers import save_reward_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1recipes.rewards import REWARDS, get_reward_funcs

FRAGMENTS = [
    "<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "\\fbox{", "{", "}", "\\frac", "\\sqrt", "^", "_",
    "10^{10^{10}}", "\\left(", "\\right)", "(", ")", "[", ",", "x = ", "1", "42", "-", "+", "*", "/", "=", "%", "$",
    "\\", "\n", " ", "\t", "中文推理", "ひらがな", "Привет", "Step 1:", "First, ", "Finally, ", "1. ", "- ",
    "```python\nprint(1)\n```", "```", "\x00", "\ud800", "🙂", "the the the the ",
]  # fmt: skip

texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join),
    st.builds(lambda part, times: part * times, st.sampled_from(FRAGMENTS), st.integers(1, 5000)),
)
completions = st.lists(
    st.one_of(texts, texts.map(lambda text: [{"role": "assistant", "content": text}])), min_size=7, max_size=8
)

# Settings that keep the per-completion limits short; a call may take 5 s plus its limit per completion.
SETTINGS = {
    "accuracy": {"timeout": 1.0},
    "code": {"timeout": 1.0},
    "cosine": {"max_len": 64},
    "overlong": {"max_length": 64, "buffer": 16},
}


@pytest.fixture(scope="module")
def rewards(tiny_model, tmp_path_factory):
    model = save_reward_model(tiny_model, tmp_path_factory.mktemp("reward_model"))
    # the judge reads prompts of up to 256 tokens and says 2 tokens: its verdicts are noise, its bounds are tested
    judge = dict(model_name_or_path=str(tiny_model), backend="transformers", max_new_tokens=2, max_prompt_tokens=256)
    kwargs = {**SETTINGS, "reward_model": {"model_name_or_path": model, "max_length": 64}, "judge": judge}
    return get_reward_funcs(sorted(REWARDS), kwargs)


def columns(n: int, batch) -> dict:
    return dict(
        prompts=["What is 6 * 7?"] * n,
        completion_ids=[[1] * (len(str(c)) % 97) for c in batch],
        answer=["42"] * n,
        solution=["so \\boxed{42}"] * n,
        nums=[[6, 7]] * n,
        target=[42] * n,
        test_cases=[[{"input": "", "output": "1"}]] * n,
        task=["math"] * n,
        trainer_state=None,
    )


@settings(max_examples=160, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=completions)
def test_every_reward_scores_any_text_within_its_bound(rewards, batch):
    for reward in rewards:
        start = time.monotonic()
        scores = reward(batch, **columns(len(batch), batch))
        elapsed = time.monotonic() - start
        assert len(scores) == len(batch)
        assert all(s is None or isinstance(s, float) for s in scores), (reward.name, scores)
        # cosine and length verify with accuracy's defaults (5 s), though they mostly reuse its verdicts
        per_completion = reward.settings.get("timeout", 5.0 if reward.name in ("cosine", "length") else 0.0)
        assert elapsed < 5.0 + per_completion * len(batch), (reward.name, elapsed)
