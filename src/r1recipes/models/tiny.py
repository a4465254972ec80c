"""A tiny random causal LM and a BPE tokenizer trained on the package's own text, built offline in seconds.

It uses a Llama config on purpose: with model type qwen2, transformers swaps in Qwen2's own pre-tokenizer
when the tokenizer is reloaded, which would no longer match the vocabulary trained here.
"""

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from r1recipes.data.prompts import R1_ZERO_TEMPLATE
from r1recipes.data.synthetic import arithmetic_rows
from r1recipes.models.loading import CHATML_TEMPLATE, CHATML_TOKENS

PAD_TOKEN = "<|endoftext|>"
REASONING_TAGS = ["<think>", "</think>", "<answer>", "</answer>"]


def training_text(num_rows: int = 2000, seed: int = 0) -> list[str]:
    """Arithmetic traces, plus the R1-Zero template and chat roles so prompts tokenize compactly."""
    rows = arithmetic_rows(num_rows, seed=seed, num_operands=3)
    return ["system user assistant", R1_ZERO_TEMPLATE] + [f"{row['problem']}\n{row['solution']}" for row in rows]


def build_tokenizer(vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, *CHATML_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(training_text(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token=PAD_TOKEN, chat_template=CHATML_TEMPLATE
    )
    tokenizer.add_tokens(REASONING_TAGS)
    return tokenizer


def build_tiny_model(
    output_dir: str | Path,
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    seed: int = 0,
) -> Path:
    tokenizer = build_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return Path(output_dir)
