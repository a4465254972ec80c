"""Telling a local path from a Hub id, cheaply, so a typo in a model or dataset path fails before loading."""

import os
import re
from pathlib import Path

from r1recipes import RecipeError

LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}  # suffix -> loader
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def split_gguf(name: str) -> tuple[str, str | None]:
    """`dir/model.gguf` -> (`dir`, `model.gguf`); anything else -> (name, None)."""
    if name.endswith(".gguf"):
        path = Path(name)
        return str(path.parent), path.name
    return name, None


def looks_local(name: str, suffixes: tuple[str, ...] = (".gguf",)) -> bool:
    """A path, not a Hub id: it exists, ends in a file suffix, starts like a path, or has two or more slashes."""
    return (
        os.path.exists(name) or name.endswith(suffixes) or name.startswith((".", "/", "~")) or not _HUB_ID.match(name)
    )


def check_model_path(name: str) -> None:
    if os.path.exists(os.path.expanduser(name)):
        return
    if looks_local(name):
        raise RecipeError(f"model not found: {name}")
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not _in_hub_cache(name):
        raise RecipeError(f"model '{name}' is not a local path and HF_HUB_OFFLINE=1 forbids the Hub")


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(name, "config.json"), str)
