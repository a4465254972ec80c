"""Sampling backends: per-sample seeds make a prompt's samples independent of its batch; the Gumbel-max draw
follows the model's distribution; prompts are tokenized as TRL's GRPO trainer tokenizes them."""

import math
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoTokenizer

from r1recipes.generation.sampling import GumbelSampling, TransformersSampler, prompt_token_ids, sample_seed
from r1recipes.models.loading import load_policy


def test_gumbel_draws_follow_the_softmax():
    probabilities = torch.tensor([0.6, 0.3, 0.1])
    rows = 4000
    scores = probabilities.log().repeat(rows, 1)
    noisy = GumbelSampling([sample_seed(0, row, 0) for row in range(rows)], torch.device("cpu"))(None, scores)
    counts = Counter(noisy.argmax(dim=-1).tolist())
    for token, p in enumerate(probabilities.tolist()):
        assert abs(counts[token] / rows - p) < 4 * math.sqrt(p * (1 - p) / rows)  # within 4 standard errors


def test_a_row_draws_the_same_noise_whatever_its_batch():
    scores = torch.zeros(3, 50)
    alone = GumbelSampling([sample_seed(0, 7, 1)], torch.device("cpu"))(None, scores[:1])
    batch = GumbelSampling([sample_seed(0, 3, 0), sample_seed(0, 7, 1), 5], torch.device("cpu"))(None, scores)
    assert torch.equal(alone[0], batch[1]) and not torch.equal(batch[0], batch[1])


def config(**overrides):
    fields = dict(num_samples=3, max_new_tokens=12, batch_size=6, temperature=1.0, top_p=0.9, seed=0)
    return SimpleNamespace(**{**fields, **overrides})


@pytest.fixture(scope="module")
def tiny_sampler_parts(tiny_model):
    return load_policy(SimpleNamespace(model_name_or_path=str(tiny_model), model_revision="main", dtype=None,
                                       attn_implementation=None, load_in_4bit=False, load_in_8bit=False))  # fmt: skip


def test_samples_do_not_depend_on_batch_size_or_neighbours(tiny_sampler_parts):
    tokenizer, model = tiny_sampler_parts
    prompts = [[{"role": "user", "content": f"What is {a} + {a}?"}] for a in range(4)]
    ids = prompt_token_ids(tokenizer, prompts)
    together = TransformersSampler(tokenizer, model, config()).generate(ids, [10, 11, 12, 13])
    small_batches = TransformersSampler(tokenizer, model, config(batch_size=2)).generate(ids[2:], [12, 13])
    assert together[2:] == small_batches
    assert len({s.text for s in together[0]}) > 1  # the k samples of a prompt differ
    assert all(s.num_tokens <= 12 and (s.num_tokens == 12 or not s.truncated) for p in together for s in p)
    moved = TransformersSampler(tokenizer, model, config()).generate(ids[:1], [11])
    assert moved[0] != together[0]  # the position seeds the samples


def test_temperature_zero_is_greedy(tiny_sampler_parts):
    tokenizer, model = tiny_sampler_parts
    ids = prompt_token_ids(tokenizer, [[{"role": "user", "content": "What is 2 + 2?"}]])
    samples = TransformersSampler(tokenizer, model, config(temperature=0.0, num_samples=2)).generate(ids, [0])
    greedy = model.generate(torch.tensor(ids), max_new_tokens=12, do_sample=False)[0, len(ids[0]) :]
    assert samples[0][0] == samples[0][1]
    assert samples[0][0].text == tokenizer.decode(greedy[: samples[0][0].num_tokens], skip_special_tokens=True)


def test_prompts_are_tokenized_as_grpo_does(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    conversation = [{"role": "user", "content": "What is 1 + 2?"}]
    rendered = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert prompt_token_ids(tokenizer, [conversation]) == [tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    assert prompt_token_ids(tokenizer, ["plain text"]) == [tokenizer("plain text")["input_ids"]]


@pytest.mark.gpu
def test_vllm_samples_are_seeded_per_prompt(tiny_model):
    pytest.importorskip("vllm")
    from r1recipes.generation.sampling import VLLMSampler

    model_args = SimpleNamespace(model_name_or_path=str(tiny_model), model_revision="main", dtype="float32")
    settings = config(tensor_parallel_size=1, gpu_memory_utilization=0.3, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    sampler = VLLMSampler(model_args, settings, tokenizer)
    ids = prompt_token_ids(tokenizer, [[{"role": "user", "content": f"What is {a} + 1?"}] for a in range(3)])
    together = sampler.generate(ids, [0, 1, 2])
    assert sampler.generate(ids[1:2], [1]) == together[1:2]
    assert all(len(p) == 3 and all(s.num_tokens <= 12 for s in p) for p in together)
