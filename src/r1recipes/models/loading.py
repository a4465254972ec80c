"""Loading a policy model and its tokenizer the way every stage needs them.

A tokenizer without a chat template gets ChatML, and the tokenizer's EOS becomes the token that ends an
assistant turn in its template, so SFT targets, GRPO sampling and evaluation all stop at the same token.
A `.gguf` file is de-quantized on load (`GgufConfig(dequantize=True)`) so it can be trained and saved.
Under DeepSpeed ZeRO-3 the policy is built partitioned across the ranks; a model that only some ranks may call
(a reward model) is built whole inside `outside_zero3_init()`.
"""

import importlib.util
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import torch
from huggingface_hub import constants as hub_constants
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig, PreTrainedModel, PreTrainedTokenizerBase

from r1recipes import notice
from r1recipes.config.paths import check_model_folder, hub_offline, split_gguf

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_TOKENS = ["<|im_start|>", "<|im_end|>"]


def load_tokenizer(name: str, revision: str = "main", trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    check_model_folder(name)  # every load reads the tokenizer first
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


# The prebuilt flash-attention 2 on the Hub, loaded through the `kernels` package (the `flash` extra): the kernel
# transformers itself substitutes for "flash_attention_2" when flash-attn is not installed. It is downloaded on first
# use (then cached), so with HF_HUB_OFFLINE=1 it needs a cached copy.
FLASH_KERNEL = "kernels-community/flash-attn2"


def pick_attention(requested: str | None) -> str:
    """A recipe's `attn_implementation`, else flash-attention 2 on a CUDA GPU, else sdpa.

    Flash-attention 2 is flash-attn's build when installed, else `FLASH_KERNEL`. A flash implementation (or Hub
    kernel) that cannot run here becomes sdpa with a notice; so does the default when only the kernel's cached
    copy is missing.
    """
    cuda = torch.cuda.is_available()
    if requested is None and not cuda:
        return "sdpa"
    name = requested or "flash_attention_2"
    if name == "flash_attention_2" and cuda and importlib.util.find_spec("flash_attn") is not None:
        return name
    name = FLASH_KERNEL if name == "flash_attention_2" else name
    if not (name.startswith("flash_attention") or "/" in name):  # eager, sdpa, flex_attention
        return name
    has_kernels = importlib.util.find_spec("kernels") is not None
    kernel = name.partition("|")[2] or name  # "paged|org/kernel"
    if not cuda:
        missing = "a CUDA GPU"
    elif not has_kernels and not (name.startswith("flash_attention") and importlib.util.find_spec("flash_attn")):
        missing = "flash-attn or the kernels package (the flash extra)"
    elif "/" in kernel and not _hub_kernel_cached(kernel) and hub_offline():
        missing = f"{kernel} in the Hub cache while HF_HUB_OFFLINE=1 (load it once online)"
    else:
        return name
    if requested is not None or has_kernels:
        notice(f"{requested or 'flash-attention 2'} needs {missing}: using sdpa")
    return "sdpa"


def _hub_kernel_cached(kernel: str) -> bool:
    """Whether the `kernels` package has a copy of a Hub kernel ("org/name[@revision][:function]") offline."""
    repo = kernel.split(":")[0].split("@")[0]
    cache = Path(os.environ.get("KERNELS_CACHE") or hub_constants.HF_HUB_CACHE)
    refs = cache / f"kernels--{repo.replace('/', '--')}" / "refs"
    return refs.is_dir() and any(refs.iterdir())


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


MERGED = "merged"  # the sub-folder of a LoRA run's output that holds the adapter merged into its base model


def whole_model(name: str) -> str:
    """`name`, or for a PEFT adapter folder (adapter_config.json and no config.json: a LoRA run's output) the folder
    of the adapter merged into its base model, made once in <name>/merged and again when the adapter is newer.

    Samplers load this: vLLM reads whole checkpoints only, and sampling the merge is sampling what the run
    trained. Each process of a data-parallel launch may make it; the last rename wins, with the same contents."""
    folder = Path(name)
    adapter = folder / "adapter_config.json"
    if not adapter.is_file() or (folder / "config.json").is_file():
        return name
    merged = folder / MERGED
    weights = [p.stat().st_mtime for p in folder.glob("adapter_model.*")] or [adapter.stat().st_mtime]
    if (merged / "config.json").is_file() and (merged / "config.json").stat().st_mtime >= max(weights):
        return str(merged)
    from peft import AutoPeftModelForCausalLM

    notice(f"{name} is a LoRA adapter: merging it into its base model, into {merged}")
    model = AutoPeftModelForCausalLM.from_pretrained(name, dtype="auto").merge_and_unload()
    partial = folder / f"{MERGED}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    AutoTokenizer.from_pretrained(name).save_pretrained(partial)
    shutil.rmtree(merged, ignore_errors=True)
    partial.rename(merged)
    return str(merged)


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


@contextmanager
def outside_zero3_init():
    """Models built inside this are whole (unpartitioned) even under DeepSpeed ZeRO-3.

    Once TrainingArguments with a ZeRO-3 config exist, transformers' `from_pretrained` builds every model under
    `deepspeed.zero.Init`, partitioned across the ranks (it finds the config through a module-level weakref).
    Such a model's forward gathers its parameters with collectives, so it runs only when every rank runs it: a
    reward model that scores only its task's rows, which some ranks' batches lack, would wait for ever. Hiding the
    weakref while loading is the one switch transformers 5 honours: `deepspeed.zero.Init(enabled=False)` and
    accelerate's `zero3_init_context_manager(enable=False)` around `from_pretrained` still give partitioned models.
    """
    from transformers.integrations import deepspeed as hf_deepspeed

    weak_ref = hf_deepspeed._hf_deepspeed_config_weak_ref
    config = weak_ref() if weak_ref is not None else None
    if config is None:
        yield
        return
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed.set_hf_deepspeed_config(config)
