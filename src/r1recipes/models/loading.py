"""Loading a policy model and its tokenizer the way every stage needs them.

A tokenizer without a chat template gets ChatML, and the tokenizer's EOS becomes the token that ends an
assistant turn in its template, so SFT targets, GRPO sampling and evaluation all stop at the same token.
A `.gguf` file is de-quantized on load (`GgufConfig(dequantize=True)`) so it can be trained and saved.
"""

import importlib.util
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig, PreTrainedModel, PreTrainedTokenizerBase

from r1recipes import notice
from r1recipes.paths import split_gguf

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_TOKENS = ["<|im_start|>", "<|im_end|>"]


def load_tokenizer(name: str, revision: str = "main", trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    folder, gguf_file = split_gguf(name)
    tokenizer = AutoTokenizer.from_pretrained(
        folder, gguf_file=gguf_file, revision=revision, trust_remote_code=trust_remote_code
    )
    if not tokenizer.chat_template:
        tokenizer.add_tokens([t for t in CHATML_TOKENS if t not in tokenizer.get_vocab()], special_tokens=True)
        tokenizer.chat_template = CHATML_TEMPLATE
        notice(f"{name} has no chat template: using ChatML")
    end_of_turn = template_end_of_turn(tokenizer)
    if end_of_turn and end_of_turn != tokenizer.eos_token:
        notice(f"EOS set to '{end_of_turn}', the chat template's end of turn (was '{tokenizer.eos_token}')")
        tokenizer.eos_token = end_of_turn
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def template_end_of_turn(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """The special token the chat template writes right after an assistant message, if any."""
    marker = "R1RECIPES_END_OF_TURN_PROBE"
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": marker}]
    try:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # templates may reject a minimal conversation; then there is nothing to align
        return None
    after = rendered.partition(marker)[2].lstrip()
    specials = sorted(set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab()), key=len, reverse=True)
    return next((token for token in specials if token and after.startswith(token)), None)


def pick_dtype(requested: str | None) -> torch.dtype | str:
    """CPU training stays in fp32: bf16/fp16 weights there are slow and lose precision in the optimizer."""
    if torch.cuda.is_available():
        return requested or "auto"
    if requested not in (None, "float32"):
        notice(f"no GPU: loading weights in float32 instead of {requested}")
    return torch.float32


def pick_attention(requested: str | None) -> str:
    flash_ok = torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None
    if requested is None:
        return "flash_attention_2" if flash_ok else "sdpa"
    if requested.startswith("flash_attention") and not flash_ok:
        notice(f"{requested} needs flash-attn and a CUDA GPU: using sdpa")
        return "sdpa"
    return requested


def load_model(
    name: str,
    tokenizer: PreTrainedTokenizerBase,
    *,
    dtype: str | None = None,
    attn_implementation: str | None = None,
    revision: str = "main",
    trust_remote_code: bool = False,
    quantization_config=None,
) -> PreTrainedModel:
    folder, gguf_file = split_gguf(name)
    kwargs = {}
    if gguf_file:
        kwargs = {"gguf_file": gguf_file, "quantization_config": GgufConfig(dequantize=True)}
    elif quantization_config is not None:
        from trl import get_kbit_device_map

        kwargs = {"quantization_config": quantization_config, "device_map": get_kbit_device_map()}
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        revision=revision,
        dtype=pick_dtype(dtype),
        attn_implementation=pick_attention(attn_implementation),
        trust_remote_code=trust_remote_code,
        **kwargs,
    )
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    # generation stops at the aligned EOS, and still at any end token the model already knew
    known = model.generation_config.eos_token_id
    known = known if isinstance(known, list) else [] if known is None else [known]
    eos_ids = list(dict.fromkeys([tokenizer.eos_token_id, *known]))
    model.generation_config.eos_token_id = eos_ids if len(eos_ids) > 1 else eos_ids[0]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def convert_to_folder(name: str, output_dir: str | Path) -> Path:
    """Load any supported model (a .gguf file included) and save it as a plain safetensors folder."""
    tokenizer = load_tokenizer(name)
    model = load_model(name, tokenizer)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return Path(output_dir)


def load_policy(model_args, trust_remote_code: bool = False):
    """(tokenizer, model) from a recipe's model fields (TRL's `ModelConfig`)."""
    from trl import get_quantization_config

    name = model_args.model_name_or_path
    tokenizer = load_tokenizer(name, model_args.model_revision, trust_remote_code)
    model = load_model(
        name,
        tokenizer,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
        revision=model_args.model_revision,
        trust_remote_code=trust_remote_code,
        quantization_config=get_quantization_config(model_args),
    )
    return tokenizer, model
