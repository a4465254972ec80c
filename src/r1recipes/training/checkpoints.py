"""Which checkpoint a rerun resumes from: the newest complete one; incomplete ones are set aside, never deleted.

transformers writes a checkpoint's files one after another into `checkpoint-N`, with no atomic rename, and
`trainer_state.json` last (by the main process, after the model, the optimizer states of every rank, scheduler and
RNG states). A kill during the save leaves a folder without that file, or with it cut short, and resuming from it
fails (`Can't find a valid checkpoint`) on every rerun. So a checkpoint counts as complete when its
trainer_state.json parses and its model weights are whole (a `.safetensors` file's header and size agree); an
incomplete one is renamed `incomplete-checkpoint-N`, which neither resuming nor transformers' rotation of old
checkpoints (both match `checkpoint-*`) will touch, and the rerun resumes from the newest complete one.

A checkpoint saved at the run's last step (`global_step >= max_steps` in its state) is *finished*: a kill after it
and before `stage.json` left nothing to train. Resuming from it would train one step too many (transformers
starts another epoch's step before it checks the step count), so the stage finishes from it instead.
"""

import json
import re
import struct
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
SET_ASIDE = "incomplete-"
STATE = "trainer_state.json"
# what `save_model` writes: a whole model (maybe sharded, with an index), a PEFT adapter, or DeepSpeed's own folder
WEIGHTS = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin", "adapter_model.bin")
INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def checkpoints(output_dir: Path) -> list[Path]:
    """The `checkpoint-N` folders of `output_dir`, newest (largest N) first."""
    if not Path(output_dir).is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in Path(output_dir).iterdir() if (m := CHECKPOINT.match(p.name)) and p.is_dir()
    ]
    return [path for _, path in sorted(found, reverse=True)]


def safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is not whole: its header must parse and its tensors end where the file ends."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > size - 8:
                return f"{path.name} is cut short"
            header = json.loads(handle.read(header_size))
    except (struct.error, ValueError, UnicodeDecodeError):
        return f"{path.name} is cut short or not safetensors"
    end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
    return (
        None
        if 8 + header_size + end == size
        else f"{path.name} is cut short ({size:,} of {8 + header_size + end:,} bytes)"
    )


def weights_problem(folder: Path) -> str | None:
    files = [folder / name for name in WEIGHTS if (folder / name).is_file()]
    for index in (folder / name for name in INDEXES if (folder / name).is_file()):
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (ValueError, KeyError):
            return f"{index.name} is cut short"
        missing = sorted(shard for shard in shards if not (folder / shard).is_file())
        if missing:
            return f"{missing[0]} is missing"
        files += [folder / shard for shard in sorted(shards)]
    if not files and not any(folder.glob("global_step*")):
        return "no model weights"
    return next(filter(None, (safetensors_problem(f) for f in files if f.suffix == ".safetensors")), None)


def state(folder: Path) -> dict | None:
    """The checkpoint's trainer state, or None when it is missing or cut short."""
    try:
        loaded = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) and "global_step" in loaded else None


def problem(folder: Path) -> str | None:
    """Why `folder` cannot be resumed from, or None when it is complete."""
    if not (folder / STATE).exists():
        return f"no {STATE}: its save was interrupted"
    if state(folder) is None:
        return f"{STATE} is cut short"
    return weights_problem(folder)


def finished(folder: Path) -> bool:
    """Saved at the run's last step: nothing is left to train from it."""
    saved = state(folder) or {}
    return saved.get("max_steps", 0) > 0 and saved.get("global_step", 0) >= saved["max_steps"]


def newest_complete(output_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(the newest complete checkpoint or None, [(each newer incomplete one, why)]). Reads only."""
    incomplete = []
    for folder in checkpoints(output_dir):
        why = problem(folder)
        if why is None:
            return folder, incomplete
        incomplete.append((folder, why))
    return None, incomplete


def set_aside(folder: Path) -> Path:
    """Rename `checkpoint-N` to `incomplete-checkpoint-N` (numbered when that exists), out of resuming's way."""
    target, number = folder.with_name(SET_ASIDE + folder.name), 1
    while target.exists():
        number += 1
        target = folder.with_name(f"{SET_ASIDE}{folder.name}-{number}")
    folder.rename(target)
    return target
