"""Sampling completions (transformers or vLLM) and stage 3's rejection sampling: verification, readability
filters and the resumable output folder."""
