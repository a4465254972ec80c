"""Atomic writes and locks: a reader (or a rerun after a kill) sees the old file or the whole new one, never a
part, and processes finishing together take turns."""

import contextlib
import fcntl
import json
import os
from pathlib import Path

from r1recipes import RecipeError

STAGE_FILE = "stage.json"  # written last by every stage: its presence means the stage is complete


def write_atomically(path: Path, write) -> None:
    """`write(temporary_path)` beside `path` under a hidden name, then rename it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def write_json(path: Path, data) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n"))


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on `path` (created if need be) for the block: other processes wait their turn."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def check_writable(path: Path, what: str) -> None:
    """Fail now, creating nothing, when the folder could not be made or written."""
    existing = Path(path).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        reason = "not a directory" if not existing.is_dir() else "permission denied"
        raise RecipeError(f"{what} {path} is not writable ({existing}: {reason})")
