"""Telling a local path from a Hub id, cheaply, so a typo in a model or dataset path fails before loading.

A Hub id is checked against the Hub when it is reachable (one request per id and process): an id that does not
exist fails in one line. Unreachable, it is left for the loader, which may still find it in the cache. With
`HF_HUB_OFFLINE=1` (the tests and `make demo` set it) a model must be local or in the Hub cache.
"""

import functools
import os
import re
from pathlib import Path

from r1recipes import RecipeError, notice
from r1recipes.config.hardware import sizing_elsewhere  # make check: inputs not made yet are reported, not refused

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


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def check_model_path(name: str) -> None:
    """Before anything loads: a local model exists and is a folder or a .gguf file (not a data file, say); a Hub id
    can be used. What a folder holds is checked only when the model loads (`check_model_folder`): recipes are also
    parsed against empty stand-ins for earlier stages' outputs (the recipe tests, the pipeline's checks)."""
    if sizing_elsewhere():
        return
    path = Path(name).expanduser()
    if path.is_file() and path.suffix != ".gguf":
        raise RecipeError(f"not a model (a .gguf file or a folder with config.json): {name}")
    if not path.exists():
        if looks_local(name):
            raise RecipeError(f"model not found: {name}")
        check_hub_id(name, "model")


def check_model_folder(name: str) -> None:
    """A local folder given as a model holds config.json (a PEFT adapter's: adapter_config.json), checked by name
    before transformers reads it, which would fail with a traceback about whichever file it looked for first."""
    path = Path(name).expanduser()
    if path.is_dir() and not any((path / config).is_file() for config in ("config.json", "adapter_config.json")):
        gguf = next(iter(sorted(path.glob("*.gguf"))), None)
        hint = f" (give its .gguf file instead: {gguf})" if gguf else ""
        raise RecipeError(f"not a model folder (no config.json): {name}{hint}")


def check_dataset_path(name: str) -> None:
    """A Hub dataset id must exist; a local path is the loader's to judge (a data file may be made first)."""
    if (
        not os.path.exists(os.path.expanduser(name))
        and not looks_local(name, tuple(LOCAL_FORMATS))
        and not sizing_elsewhere()
    ):
        check_hub_id(name, "dataset")


def check_hub_id(name: str, repo_type: str = "model") -> None:
    """One RecipeError when a Hub id cannot be used: offline and not cached (models), or not on the Hub."""
    if hub_offline():
        if repo_type == "model" and not _in_hub_cache(name):
            raise RecipeError(
                f"model '{name}' is not a local path and not in the Hub cache, and HF_HUB_OFFLINE=1 forbids the "
                "Hub: unset HF_HUB_OFFLINE (or set it to 0) to download it"
            )
        return
    if hub_repo_exists(name, repo_type) is False:
        raise RecipeError(
            f"{repo_type} '{name}' does not exist on the Hub (a typo? a private or gated one needs `hf auth login` "
            "or HF_TOKEN)"
        )


@functools.cache
def hub_repo_exists(name: str, repo_type: str) -> bool | None:
    """True or False from the Hub; None when it cannot be reached (the loader then tries its cache)."""
    from huggingface_hub import HfApi

    try:
        return HfApi().repo_exists(name, repo_type=repo_type)
    except Exception as exc:  # no network, a proxy, a Hub outage: not this id's fault
        notice(f"could not reach the Hub to check {repo_type} '{name}' ({exc.__class__.__name__}); going on")
        return None


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(name, "config.json"), str)
