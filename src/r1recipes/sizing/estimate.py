"""Memory per GPU, work and time of a training or generation run, from a model's config.json alone.

    python -m r1recipes.pipeline check --model Qwen2.5-7B [--gpus 8 --gpu_memory_gb 79.6] [--json]   # make check

Every figure is counted from the config (layers, hidden size, heads, KV heads, intermediate size, vocabulary) and
the recipe's settings, never from weights, so it runs anywhere, with no GPU. What each count assumes:

- Parameters: a Llama-style decoder (Llama, Qwen2/3, Mistral, SmolLM): embeddings, per layer q/k/v/o projections
  (Qwen2's q/k/v biases), a gated MLP of three matrices and two RMSNorms, a final norm, and an LM head unless tied
  (a sequence-classification reward model has a `num_labels`-wide score head instead).
- Memory is counted per phase, since a run's peak is the largest: `update` (a micro-batch's forward and
  backward), `step` (the optimizer step) and, for GRPO, `generate` (sampling, with the training states resident).
- Weights, gradients, optimizer states (the ZeRO paper's accounting, Rajbhandari et al. 2019): DeepSpeed with bf16
  keeps bf16 weights and gradients and fp32 master weights plus two Adam moments, 2 + 2 + 12 = 16 bytes a parameter,
  the 12 sharded from ZeRO-1, the gradients from ZeRO-2, the weights at ZeRO-3; its optimizer step adds an fp32 copy
  of the gradient partition (4 bytes, as DeepSpeed's own estimator counts), and its buffers (a reduce bucket of
  500M elements; ZeRO-3's flat gradient partition, kept throughout; ZeRO-1/2's flattened partition at the step),
  which its estimator leaves out, are counted from its source. Accelerate's FSDP2 upcasts the weights
  to fp32 (4 + 4 + 8, all sharded). Without either, the weights keep the recipe's `dtype` and torch's AdamW keeps its
  moments in that dtype (bf16: 2 + 2 + 4 = 8 bytes); DDP adds a bucket copy of the gradients. Gradients exist from
  the backward pass to the step, and through every micro-batch when gradients accumulate.
- LoRA: the adapters train in fp32 (4 + 4 + 8 bytes), the base is frozen in the recipe's dtype, or with
  `load_in_4bit` its decoder layers in NF4 (half a byte and ~3% of scales) and the rest in bf16.
- Activations, per token of a micro-batch, in the compute dtype: each decoder layer keeps its RMSNorms' fp32 input
  and output (2 x 6h bytes), the rotated queries and keys, the values, the attention output and its contiguous copy
  (6 x q + 4 x kv bytes), and the gated MLP's four tensors (8 x intermediate bytes). With activation checkpointing
  a layer keeps only its input (2h bytes) and one layer is recomputed at a time. Attention runs in a fused kernel
  (flash or memory-efficient SDPA): no sequence-squared term.
- The LM head: TRL 1.16 scores tokens with its fused, tiled log-prob kernel (`add_fused_lm_head`), so the
  (tokens x vocabulary) logits never exist whole: a [4,096 x 32,768] tile, and in the backward pass an fp32
  gradient of the head's weight (unless LoRA freezes it) and of the scored hidden states.
- vLLM colocated with training takes `vllm_gpu_memory_utilization` of the card while awake: the weights (split
  over tensor-parallel ranks), ~2 GiB of activations and CUDA graphs (our assumption), and the rest is KV cache,
  2 x layers x KV heads x head dimension x 2 bytes a token; it cannot start unless one `max_model_len` sequence
  fits. With `vllm_enable_sleep_mode` its memory is released during the update.
- A verdict adds a margin for PyTorch's allocator and the estimate's error (25%, 30% under ZeRO-3: measured,
  `ALLOCATOR_SLACK`) and the CUDA context to the estimated peak.
- Time: training at a model-FLOPs utilisation (MFU) of the card's dense bf16 peak, 3 forward passes a token (4
  with activation checkpointing, 1 more for each extra forward: reference model, old log-probs), a forward pass
  2 FLOPs a parameter plus causal attention; decoding at a lower utilisation, 2 FLOPs a parameter a token, or,
  when the KV cache holds few sequences, bound by memory bandwidth (each step reads the weights and every
  sequence's KV cache). Completion lengths are taken at their maximum, so GRPO figures are upper bounds. The
  defaults are stated assumptions; pass measured throughputs to replace them.

docs/check.md gives the error of each count against published figures and against
the peak memory of real steps on an H200 (`python -m r1recipes.bench_memory`, kept in tests/data/memory_h200.json).
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

from r1recipes import RecipeError

GIB = 2**30
MODEL_CONFIGS = Path(__file__).parent / "model_configs"  # <org>--<name>.json for each model the recipes name
DECODER_TYPES = ("llama", "qwen2", "qwen3", "mistral")  # dense decoders whose parameters are counted below
TOKEN_TILE, VOCAB_TILE = 4096, 32768  # TRL's fused log-prob kernel (trl/kernels/chunked_logprob.py)
VLLM_OVERHEAD_GIB = 2.0  # vLLM's activations and CUDA graphs besides weights and KV cache: our assumption
CUDA_CONTEXT_GIB = 0.5  # the CUDA context and kernels, outside PyTorch's allocator: our assumption
DEEPSPEED_REDUCE_BUCKET = 500_000_000  # elements: DeepSpeed's default reduce_bucket_size, which accelerate keeps
# A verdict's margin over the estimated peak: PyTorch's caching allocator reserves more than it allocates (1% to
# 21% at the peak without ZeRO-3, 17% and 25% under it, on an H200: tests/data/memory_h200.json) and the estimates
# run up to 9% low; with these margins the verdict's figure covers the reserved peak of all 21 cases measured there
ALLOCATOR_SLACK = 0.25
ZERO3_ALLOCATOR_SLACK = 0.30


@dataclass(frozen=True)
class ModelShape:
    """What memory and compute depend on, read from a config.json."""

    model_type: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    qkv_bias: bool
    qk_norm: bool
    max_positions: int = 0  # max_position_embeddings: vLLM's context when a recipe sets none
    num_labels: int | None = None  # a sequence-classification head (a reward model) instead of the LM head

    @classmethod
    def from_config(cls, config: dict, name: str = "model") -> "ModelShape":
        """Raises ValueError with one line when the config is not a dense decoder this module can count."""
        config = config.get("text_config") or config
        model_type = config.get("model_type", "")
        if config.get("num_experts") or config.get("num_local_experts") or config.get("n_routed_experts"):
            raise ValueError(f"{name}: mixture-of-experts models ({model_type}) are not counted yet")
        if model_type not in DECODER_TYPES:
            raise ValueError(f"{name}: model_type '{model_type}' is not counted (known: {', '.join(DECODER_TYPES)})")
        try:
            hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
            shape = cls(
                model_type=model_type,
                layers=int(config["num_hidden_layers"]),
                hidden=hidden,
                heads=heads,
                kv_heads=int(config.get("num_key_value_heads") or heads),
                head_dim=int(config.get("head_dim") or hidden // heads),
                intermediate=int(config["intermediate_size"]),
                vocab=int(config["vocab_size"]),
                tied=bool(config.get("tie_word_embeddings", False)),
                qkv_bias=model_type == "qwen2" or bool(config.get("attention_bias", False)),
                qk_norm=model_type == "qwen3",
                max_positions=int(config.get("max_position_embeddings") or 0),
                num_labels=_num_labels(config),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{name}: config.json lacks a usable {exc}") from None
        return shape

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def layer_params(self) -> int:
        h = self.hidden
        attention = h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h
        if self.qkv_bias:
            attention += self.q_dim + 2 * self.kv_dim
        if self.qk_norm:
            attention += 2 * self.head_dim
        return attention + 3 * h * self.intermediate + 2 * h

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def head_params(self) -> int:
        if self.num_labels:
            return self.num_labels * self.hidden
        return 0 if self.tied else self.vocab * self.hidden

    @property
    def params(self) -> int:
        return self.embedding_params + self.layers * self.layer_params + self.hidden + self.head_params

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """vLLM's KV cache: keys and values of every layer."""
        return 2 * self.layers * self.kv_dim * dtype_bytes

    def layer_activation_bytes(self, dtype_bytes: int = 2) -> float:
        """Bytes a decoder layer keeps for backward, per token, without activation checkpointing (see above)."""
        scale = dtype_bytes / 2  # the counts below are for a 2-byte compute dtype; the norms' fp32 part scales too
        return scale * (12 * self.hidden + 6 * self.q_dim + 4 * self.kv_dim + 8 * self.intermediate)


def _num_labels(config: dict) -> int | None:
    architectures = config.get("architectures") or []
    if any(str(a).endswith("ForSequenceClassification") for a in architectures):
        return int(config.get("num_labels") or len(config.get("id2label") or {}) or 1)
    return None


@dataclass(frozen=True)
class Training:
    """The settings of one training process that memory depends on."""

    processes: int  # data-parallel processes (GPUs) that share ZeRO/FSDP states
    sharding: str  # "none", "ddp", "zero1", "zero2", "zero3", "fsdp"
    dtype_bytes: int  # the recipe's `dtype` (2 for bfloat16, 4 for float32)
    mixed_precision: bool  # bf16/fp16 on
    micro_batch: int  # sequences per forward (per_device_train_batch_size)
    sequence: int  # tokens of each sequence the forward sees
    scored: int  # tokens of each sequence the LM head scores (all for SFT, the completion for GRPO)
    checkpointing: bool
    accumulation: int = 1
    optimizer: str = "adamw_torch_fused"
    offload_optimizer: bool = False
    offload_params: bool = False
    lora_params: int = 0  # trainable adapter parameters (0: full fine-tuning)
    load_in_4bit: bool = False
    reference_model: bool = False  # GRPO with beta > 0 and no adapters
    generates: bool = False  # GRPO: a generation phase between updates


@dataclass(frozen=True)
class Item:
    name: str
    gib: float
    phases: tuple[str, ...]  # the phases during which the memory is held
    note: str = ""
    allocator: bool = True  # held in PyTorch's caching allocator (vLLM's share is a fixed reservation instead)


@dataclass
class MemoryPlan:
    items: list[Item] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what fails regardless of totals (vLLM cannot start)
    facts: dict = field(default_factory=dict)  # figures that explain the items (vLLM's concurrent sequences)
    slack: float = ALLOCATOR_SLACK  # what the allocator reserves beyond its peak, as a share of it

    def add(self, name: str, num_bytes: float, phases: tuple[str, ...], note: str = "", allocator: bool = True):
        if num_bytes > 0:
            self.items.append(Item(name, num_bytes / GIB, phases, note, allocator))

    @property
    def phases(self) -> list[str]:
        return list(dict.fromkeys(p for item in self.items for p in item.phases))

    def total(self, phase: str) -> float:
        return sum(item.gib for item in self.items if phase in item.phases)

    @property
    def peak_phase(self) -> str:
        """The phase that needs the most memory."""
        return max(self.phases, key=self.needed_in)

    @property
    def peak(self) -> float:
        return self.total(self.peak_phase) if self.items else 0.0

    def needed_in(self, phase: str) -> float:
        """GiB a GPU must have in a phase: its items, the allocator's slack on PyTorch's, and the CUDA context of a
        training process (a vLLM engine on its own counts its context inside its share)."""
        torch_gib = sum(i.gib for i in self.items if phase in i.phases and i.allocator)
        return self.total(phase) + self.slack * torch_gib + (CUDA_CONTEXT_GIB if torch_gib else 0.0)

    @property
    def needed(self) -> float:
        return self.needed_in(self.peak_phase) if self.items else 0.0

    def largest(self) -> Item:
        phase = self.peak_phase
        return max((i for i in self.items if phase in i.phases), key=lambda i: i.gib)


UPDATE = ("update",)  # forward and backward of a micro-batch
STEP = ("step",)  # the optimizer step


def _sharded(stage_from: int, sharding: str, processes: int) -> int:
    """The divisor of a state that ZeRO shards from `stage_from` on (FSDP shards everything)."""
    stage = {"zero1": 1, "zero2": 2, "zero3": 3, "fsdp": 3}.get(sharding, 0)
    return processes if stage >= stage_from else 1


def state_bytes(run: Training) -> tuple[int, int, int]:
    """Bytes per trained parameter of (weights, gradients, optimizer states), before any sharding."""
    if run.lora_params:
        weights, grads, states = 4, 4, 8  # PEFT keeps adapters in fp32
    elif run.sharding.startswith("zero") and run.mixed_precision:
        weights, grads, states = 2, 2, 12  # + fp32 master weights
    elif run.sharding.startswith("zero"):  # fp32 (a CPU run): the weights are the master copy
        weights, grads, states = run.dtype_bytes, run.dtype_bytes, 2 * run.dtype_bytes
    elif run.sharding == "fsdp":
        weights, grads, states = (4 if run.mixed_precision else run.dtype_bytes), 4, 8  # accelerate upcasts to fp32
    else:
        weights, grads, states = run.dtype_bytes, run.dtype_bytes, 2 * run.dtype_bytes
    if "8bit" in run.optimizer:
        states = 2 + max(states - 8, 0)  # two 1-byte moments (+ fp32 master weights)
    return weights, grads, states


def model_states(params: int, run: Training) -> dict[str, float]:
    """Per-GPU bytes of the weights, gradients and optimizer states of `params` trained parameters: the ZeRO
    paper's accounting (ZeRO-1 shards the optimizer states, ZeRO-2 the gradients too, ZeRO-3 and FSDP everything)."""
    weights, grads, states = state_bytes(run)
    n = run.processes
    return {
        "weights": 0 if run.offload_params else params * weights / _sharded(3, run.sharding, n),
        "gradients": params * grads / _sharded(2, run.sharding, n),
        "optimizer states": 0 if run.offload_optimizer else params * states / _sharded(1, run.sharding, n),
    }


def training_memory(shape: ModelShape, run: Training, plan: MemoryPlan | None = None) -> MemoryPlan:
    """Per-GPU memory of one training process, by item and phase (update: forward and backward; step: the
    optimizer step; generate: what stays resident while completions are sampled)."""
    plan = plan or MemoryPlan()
    p, n = shape.params, run.processes
    resident = ("generate", "update", "step") if run.generates else ("update", "step")
    deepspeed = run.sharding.startswith("zero")
    if run.sharding == "zero3":
        plan.slack = ZERO3_ALLOCATOR_SLACK
    compute_bytes = 2 if run.mixed_precision or run.dtype_bytes == 2 else 4
    trained = run.lora_params or p
    if run.lora_params:
        if run.load_in_4bit:  # bitsandbytes NF4 packs the decoder's linear layers (plus ~3% of scales); the rest bf16
            linear = shape.layers * shape.layer_params
            base = linear * 0.5 * 1.03 + (p - linear) * 2
        else:
            base = p * run.dtype_bytes
        plan.add("base weights (frozen)", base / _sharded(3, run.sharding, n), resident)
    states = model_states(trained, run)
    plan.add("adapter weights" if run.lora_params else "policy weights", states["weights"], resident)
    # gradients: held through accumulation; freed after a lone micro-batch's step. DeepSpeed (0.19's
    # stage_1_and_2.py and stage3.py) reduces them through a bucket of `reduce_bucket_size` elements into
    # buffers of its own, and its optimizer step works on an fp32 copy of each process's partition (its own
    # estimator's 2 + 16 bytes: bf16 weights, then fp32 weights, gradients and moments)
    if deepspeed:
        partition = _sharded(1, run.sharding, n)
        if run.sharding == "zero3":  # a flat gradient partition and the bucket, allocated once, kept throughout
            plan.add("gradients (ZeRO-3's flat partition)", states["gradients"], resident)
            plan.add("DeepSpeed's reduce bucket", DEEPSPEED_REDUCE_BUCKET * 2, resident)
        else:  # ZeRO-1/2: the bucket during backward, and the partition flattened (bf16) before its fp32 copy
            plan.add("gradients", states["gradients"], ("update", "step"))
            plan.add(
                "DeepSpeed's reduce bucket", DEEPSPEED_REDUCE_BUCKET * (2 if run.sharding == "zero2" else 4), UPDATE
            )
            plan.add("flattened gradient partition (DeepSpeed's step)", trained * 2 / partition, STEP)
        plan.add("fp32 gradients (DeepSpeed's optimizer step)", trained * 4 / partition, STEP)
    else:
        plan.add("gradients", states["gradients"], ("update", "step") if run.accumulation > 1 else STEP)
    if run.sharding == "ddp" and n > 1:
        plan.add("DDP gradient buckets", trained * state_bytes(run)[1], ("update", "step"))
    plan.add("optimizer states", states["optimizer states"], resident)
    if run.optimizer == "adamw_torch" and not deepspeed:
        plan.add("optimizer temporaries (foreach AdamW)", trained * state_bytes(run)[1], STEP)
    if run.sharding in ("zero3", "fsdp") and n > 1:
        unit = max(shape.layer_params, shape.embedding_params)
        plan.add(
            "gathered ZeRO-3/FSDP units", 2 * unit * compute_bytes, UPDATE, "the largest unit and a prefetched one"
        )
    if run.reference_model:
        plan.add("reference model", p * run.dtype_bytes / _sharded(3, run.sharding, n), resident)
    tokens = run.micro_batch * run.sequence
    layer = shape.layer_activation_bytes(compute_bytes)
    checkpointed = tokens * (shape.layers * compute_bytes * shape.hidden + layer)  # layer inputs, one recomputed
    everything = tokens * (shape.layers + 1) * layer  # every layer, and the embeddings and final norm
    if run.checkpointing:
        kept, note = checkpointed, f"activation checkpointing (without: {everything / GIB:.1f})"
    else:
        kept, note = everything, f"no activation checkpointing (with: {checkpointed / GIB:.1f})"
    plan.add("activations", kept, UPDATE, f"{run.micro_batch} x {run.sequence} tokens, {note}")
    scored = run.micro_batch * run.scored
    head_weight = shape.vocab * shape.hidden
    head = min(scored, TOKEN_TILE) * min(shape.vocab, VOCAB_TILE) * compute_bytes
    head += 0 if run.lora_params else 4 * head_weight  # the fp32 gradient of the head's weight, unless frozen
    head += scored * shape.hidden * (compute_bytes + 4)  # the scored hidden states and their fp32 gradient
    plan.add("LM head (TRL's fused log-prob kernel)", head, UPDATE, f"{scored} scored tokens")
    return plan


def transformers_generation(shape: ModelShape, sequences: int, context: int, compute_bytes: int, plan: MemoryPlan,
                            gathered: bool = False) -> None:  # fmt: skip
    """Sampling with transformers' generate (no vLLM): the KV cache of a process's generation batch and, when
    `gathered` (GRPO under ZeRO-3 or FSDP: TRL's ds3_gather_for_generation), the whole policy on every GPU."""
    kv = sequences * context * shape.kv_bytes_per_token(compute_bytes)
    plan.add("KV cache (transformers generation)", kv, ("generate",), f"{sequences} sequences x {context} tokens")
    if gathered:
        plan.add("policy gathered whole to generate", shape.params * compute_bytes, ("generate",))


@dataclass(frozen=True)
class Vllm:
    """A vLLM engine: colocated with training (a share of each training GPU), or on GPUs of its own."""

    utilization: float  # gpu_memory_utilization: its share of the card
    max_model_len: int
    tensor_parallel: int = 1


def vllm_memory(shape: ModelShape, engine: Vllm, gpu_gib: float, plan: MemoryPlan, phases=("generate",)) -> dict:
    """vLLM's share of the card, during `phases`; a problem when its KV cache cannot hold one full sequence.
    Returns its figures: KV cache GiB, GiB a full-length sequence takes, full-length sequences at once."""
    if not 0 < engine.utilization <= 1:
        raise RecipeError(f"a vLLM gpu_memory_utilization must be in (0, 1], got {engine.utilization}")
    share = engine.utilization * gpu_gib
    weights = shape.params * 2 / engine.tensor_parallel / GIB
    kv_gib = max(share - weights - VLLM_OVERHEAD_GIB, 0.0)
    per_sequence = engine.max_model_len * shape.kv_bytes_per_token() / engine.tensor_parallel / GIB
    concurrent = math.floor(kv_gib / per_sequence)
    plan.add(f"vLLM (gpu_memory_utilization {engine.utilization:g})", share * GIB, phases,
             f"weights {weights:.1f} + KV cache {kv_gib:.1f} + ~{VLLM_OVERHEAD_GIB:g} GiB overhead",
             allocator=False)  # fmt: skip
    if concurrent < 1:
        plan.problems.append(
            f"vLLM cannot start: its share ({share:.1f} GiB) leaves {kv_gib:.1f} GiB of KV cache after "
            f"{weights:.1f} GiB of weights, and one {engine.max_model_len}-token sequence needs {per_sequence:.1f} GiB"
        )
    return {"kv_cache_gib": round(kv_gib, 2), "gib_per_sequence": round(per_sequence, 3), "concurrent": concurrent}


# Throughputs: the dense bf16 peak of common cards (TFLOP/s) and their memory bandwidth (TB/s), from NVIDIA's
# datasheets (the H200 has the H100's compute; the 24 GB cards' bf16 with fp32 accumulation, sparsity excluded: the
# RTX 4090's from the Ada whitepaper, the A5000's half of its sparse 222.2)
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "RTX4090": 165.2, "L4": 121.0, "A5000": 111.1}
MEMORY_TBS = {"H100": 3.35, "H200": 4.8, "A100": 2.0, "RTX4090": 1.008, "L4": 0.3, "A5000": 0.768}
DEFAULT_GPU = "H100"
# Model-FLOPs utilisation assumed for training (attention counted, `forward_flops`). One H200 reached 38% to 48%
# with Qwen2.5-1.5B and Llama-3.2-1B on 4,096 to 32,768 tokens a step (tests/data/memory_h200.json; 4% to 26% on
# smaller steps or with the 0.5B model, too small to fill the card); ZeRO-3 over GPUs and nodes adds communication
TRAIN_MFU = 0.35
# Decoding, assumed: with many sequences at once, 5% of the peak (an 8B model at 3,100 tokens/s on an H100; MLPerf
# Inference v5.1's vLLM run of Llama-3.1-8B in FP8 gave 5,777 offline); with few, each step reads the weights and
# every sequence's KV cache at 60% of the memory bandwidth
GENERATE_MFU = 0.05
BANDWIDTH_EFFICIENCY = 0.6
# Stage 3's CPU side, measured: completions one verify process judges (verifies, filters) per second with a core
# to itself, its engine's process writing the kept rows. `python -m r1recipes.bench generate --shards 2` on the
# 2-core CPU machine, 2026-12-07 (docs/stage3.md): 1,000,000 maths samples of ~205 tokens, `accuracy` verifier,
# 2 shards x 1 verify process, 1,222 samples/s in all while other tests took about one core for half of its 14
# minutes (its 100,000 samples, alone: 730 a process). Longer samples, and `code`, which runs tests, take longer
JUDGE_SAMPLES_PER_S = 611


def forward_flops(shape: ModelShape, sequence: int) -> float:
    """FLOPs of one token's forward pass: 2 per parameter, plus causal attention (scores and weighted sum, 4 x
    q_dim per earlier token, over half the sequence on average)."""
    return 2 * shape.params + 2 * shape.layers * sequence * shape.q_dim


@dataclass(frozen=True)
class Decoding:
    """What bounds a generation engine's speed: sequences it holds at once, their mean context, its GPUs."""

    concurrent: int
    mean_context: float
    tensor_parallel: int = 1


@dataclass(frozen=True)
class Throughput:
    """Tokens per second per GPU; None: derived from the card's peak, bandwidth and the assumptions above."""

    train_tokens_per_s: float | None = None
    generate_tokens_per_s: float | None = None
    peak_tflops: float = PEAK_TFLOPS[DEFAULT_GPU]
    memory_tbs: float = MEMORY_TBS[DEFAULT_GPU]
    price_per_gpu_hour: float = 2.0  # USD: a placeholder; pass your provider's price

    def train_rate(self, shape: ModelShape, passes: float, sequence: int) -> float:
        """`passes` forward-pass equivalents a trained token costs: 3 (forward, backward), +1 recomputed with
        activation checkpointing, +1 for each extra forward (GRPO's reference model, old log-probs)."""
        if self.train_tokens_per_s is not None:
            return self.train_tokens_per_s
        return TRAIN_MFU * self.peak_tflops * 1e12 / (passes * forward_flops(shape, sequence))

    def generate_rate(self, shape: ModelShape, decoding: Decoding | None = None) -> float:
        """The lower of the compute bound and, when the engine's concurrency is known, the bandwidth bound: a
        decoding step reads the weights once and each sequence's KV cache, and yields a token per sequence."""
        if self.generate_tokens_per_s is not None:
            return self.generate_tokens_per_s
        rate = GENERATE_MFU * self.peak_tflops * 1e12 / (2 * shape.params)
        if decoding and decoding.concurrent:
            step_bytes = 2 * shape.params + decoding.concurrent * decoding.mean_context * shape.kv_bytes_per_token()
            bandwidth = BANDWIDTH_EFFICIENCY * self.memory_tbs * 1e12 * decoding.tensor_parallel
            rate = min(rate, decoding.concurrent * bandwidth / step_bytes / decoding.tensor_parallel)
        return rate
