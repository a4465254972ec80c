"""Atomic writes: a reader (or a rerun after a kill) sees the old file or the whole new one, never a part."""

import json
import os
from pathlib import Path

STAGE_FILE = "stage.json"  # written last by every stage: its presence means the stage is complete


def write_atomically(path: Path, write) -> None:
    """`write(temporary_path)` beside `path` under a hidden name, then rename it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


STAGE_FILE = "stage.json"  # written last by every stage: its presence means the stage is complete


def write_json(path: Path, data) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n"))
