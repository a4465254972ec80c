from pathlib import Path

import pytest
import torch
from helpers import save_reward_model
from test_runners import weights

from r1recipes import RecipeError
from r1recipes.rewards import get_reward_funcs
from r1recipes.rewards.reward_model import load_reward_model, reward_model_reward

PROMPT = "What is 2 + 2?"
SAME_ANSWER = [
    "<think>2 + 2 is 4.</think>\nThe answer is 4.",
    "<think>Two and two: count 3, then 4. So 4.</think>\nThe answer is 4.",
]
OTHER_ANSWER = "<think>2 + 2 is 4.</think>\nThe answer is 5."


@pytest.fixture(scope="module")
def plain_reward_model(tiny_model, tmp_path_factory):
    return save_reward_model(tiny_model, tmp_path_factory.mktemp("plain_reward_model"), chat_template=False)


def scores(model, completions, prompts=None, **settings):
    prompts = [PROMPT] * len(completions) if prompts is None else prompts
    return reward_model_reward(completions, prompts, model_name_or_path=model, **settings)


def test_helpfulness_reads_only_the_summary(tiny_reward_model):
    same_a, same_b, other, no_summary, empty_summary = scores(
        tiny_reward_model, [*SAME_ANSWER, OTHER_ANSWER, "The answer is 4.", "<think>2 + 2 is 4.</think>"]
    )
    assert same_a == pytest.approx(same_b, abs=1e-6)
    assert same_a != pytest.approx(other, abs=1e-6)
    assert no_summary == pytest.approx(empty_summary, abs=1e-6)  # no </think>: an empty answer part


def test_harmlessness_reads_the_whole_response(tiny_reward_model):
    same_a, same_b = scores(tiny_reward_model, SAME_ANSWER, mode="harmlessness")
    assert same_a != pytest.approx(same_b, abs=1e-6)


def test_batches_score_like_single_sequences(tiny_reward_model):
    completions = [*SAME_ANSWER, OTHER_ANSWER, "short", "<think>x</think>" + " and more" * 30]
    prompts = [PROMPT, "Hi", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]] * 2
    one_by_one = scores(tiny_reward_model, completions, prompts[:5], mode="harmlessness", batch_size=1)
    batched = scores(tiny_reward_model, completions, prompts[:5], mode="harmlessness", batch_size=4)
    assert len(batched) == 5 and all(isinstance(s, float) for s in batched)
    assert torch.allclose(torch.tensor(batched), torch.tensor(one_by_one), atol=1e-5)


def test_lone_surrogates_score_as_the_replacement_character(tiny_reward_model):
    lone, replaced, paired = scores(
        tiny_reward_model, ["4\ud800</think>\ud800!", "4\ufffd</think>\ufffd!", "\U0001f600"]
    )
    assert lone == pytest.approx(replaced, abs=1e-6)
    assert isinstance(paired, float)


def test_conversational_forms_score_like_strings(tiny_reward_model):
    as_strings = scores(tiny_reward_model, [OTHER_ANSWER])
    as_messages = scores(
        tiny_reward_model, [[{"role": "assistant", "content": OTHER_ANSWER}]], [[{"role": "user", "content": PROMPT}]]
    )
    assert as_messages == pytest.approx(as_strings, abs=1e-6)


def test_without_a_template_the_prompt_and_response_are_concatenated(plain_reward_model):
    split, joined, nothing = scores(
        plain_reward_model,
        ["The answer is 4.", f"{PROMPT}\nThe answer is 4.", ""],
        [f"{PROMPT}\n", "", ""],
        mode="harmlessness",
    )
    assert split == pytest.approx(joined, abs=1e-6)
    assert nothing is None  # nothing to score


def test_truncation_keeps_the_end(tiny_reward_model):
    tail = " then the answer is 4 and that is all" * 3
    first, second = scores(tiny_reward_model, ["Start one." + tail, "Another start." + tail], mode="harmlessness")
    assert first != pytest.approx(second, abs=1e-6)
    first, second = scores(
        tiny_reward_model, ["Start one." + tail, "Another start." + tail], mode="harmlessness", max_length=12
    )
    assert first == pytest.approx(second, abs=1e-6)


def test_the_model_loads_once(tiny_reward_model):
    assert load_reward_model(tiny_reward_model, "cpu") is load_reward_model(tiny_reward_model, "cpu")


@pytest.fixture
def zero3_configured():
    """What TrainingArguments leave behind under a ZeRO-3 accelerate config: transformers' DeepSpeed config, which
    makes `from_pretrained` build partitioned models under `deepspeed.zero.Init`."""
    pytest.importorskip("deepspeed")
    from transformers.integrations.deepspeed import (
        HfDeepSpeedConfig,
        is_deepspeed_zero3_enabled,
        unset_hf_deepspeed_config,
    )

    config = HfDeepSpeedConfig({"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": 1})
    assert is_deepspeed_zero3_enabled()
    yield config
    unset_hf_deepspeed_config()


def test_prepare_loads_the_model_whole_once_at_start_up_even_under_zero3(tiny_reward_model, zero3_configured):
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    load_reward_model.cache_clear()
    (reward,) = get_reward_funcs(
        ["reward_model"], {"reward_model": {"model_name_or_path": tiny_reward_model, "tasks": ["general"]}}
    )
    reward.prepare()
    reward.prepare()
    assert load_reward_model.cache_info().misses == 1
    assert is_deepspeed_zero3_enabled()  # only hidden while the reward model loaded

    _, model = load_reward_model(tiny_reward_model, "cpu")
    parameters = list(model.parameters())
    assert all(p.numel() > 0 and not hasattr(p, "ds_id") for p in parameters)  # not partitioned by DeepSpeed
    assert sum(p.numel() for p in parameters) == sum(t.numel() for t in weights(Path(tiny_reward_model)).values())

    scores = reward(SAME_ANSWER, prompts=[PROMPT] * 2, task=["general", "math"])
    assert isinstance(scores[0], float) and scores[1] is None
    assert load_reward_model.cache_info().misses == 1  # scoring used the model loaded at start-up


def test_bad_settings_and_models_are_clear_errors(tmp_path, tiny_model):
    with pytest.raises(RecipeError, match=f"reward_model: model not found: {tmp_path / 'missing'}"):
        scores(str(tmp_path / "missing"), ["x"])
    with pytest.raises(RecipeError, match="HF_HUB_OFFLINE"):
        scores("someone/no-such-reward-model", ["x"])
    two_labels = save_reward_model(tiny_model, tmp_path / "two", num_labels=2)
    with pytest.raises(RecipeError, match="has 2 labels; a reward model has one"):
        scores(two_labels, ["x"])
    with pytest.raises(RecipeError, match="unknown mode 'helpful'"):
        scores(two_labels, ["x"], mode="helpful")
