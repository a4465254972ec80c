"""The generator's output folder: Parquet data written chunk by chunk, atomically, resumable and shardable.

    output_dir/data/reasoning-000042.parquet   kept rows of prompts 42000..42999 (prompts_per_file: 1000);
                                               no file when none of them was kept
    output_dir/data/non_reasoning-000000.parquet  the mixed-in general rows, written by the merge
    output_dir/chunks/000042.json              that chunk's counts; written after its Parquet file: done
    output_dir/config.json                     what shapes the output; a rerun must match it
    output_dir/manifest.json, stage.json       written by the merge, when every chunk is done

Chunk c holds the prompts at positions [c * prompts_per_file, (c + 1) * prompts_per_file), so its file is the
same whoever writes it: shard I of N takes the chunks c with c % N == I, a rerun skips the chunks whose counts
exist, and N shards fill the folder exactly as one run would. Files are written under a hidden temporary
name and renamed, so a kill loses at most the chunks in flight, and a half-written file is never read.
`datasets.load_dataset("parquet", data_dir=output_dir + "/data")` loads the result.
"""

import itertools
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from r1recipes import RecipeError, notice
from r1recipes.files import check_writable, locked, write_atomically, write_json

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
ROW_SCHEMA = pa.schema(
    [
        ("messages", pa.list_(_MESSAGE)),
        ("prompt_id", pa.string()),
        ("task", pa.string()),
        ("sample_index", pa.int64()),  # which of the prompt's k samples
        ("num_correct", pa.int64()),  # how many of the k samples were correct
        ("completion_tokens", pa.int64()),
        ("reward", pa.float64()),  # the verifier's score
        ("verifier", pa.string()),
        ("language_share", pa.float64()),
        ("repeated_share", pa.float64()),
        ("longest_paragraph", pa.int64()),
    ]
)
DATA, CHUNKS, CONFIG, MANIFEST, STAGE = "data", "chunks", "config.json", "manifest.json", "stage.json"


def write_rows(path: Path, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
    write_atomically(path, lambda tmp: pq.write_table(table, tmp))


def _flat(settings: dict, prefix: str = "") -> dict:
    """{"generate": {"seed": 0}} -> {"generate.seed": 0}, so a difference is named exactly."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class OutputDir:
    def __init__(self, path: str):
        self.path = Path(path)
        self.data = self.path / DATA
        self.chunks = self.path / CHUNKS

    def check_writable(self) -> None:
        check_writable(self.path, "output_dir")

    def prepare(self, start_over: bool) -> None:
        """Create the folders; `start_over` first deletes what an earlier run of the generator wrote, nothing
        else."""
        if start_over:
            for name in (DATA, CHUNKS):
                shutil.rmtree(self.path / name, ignore_errors=True)
            for name in (CONFIG, MANIFEST, STAGE):
                (self.path / name).unlink(missing_ok=True)
        try:
            self.data.mkdir(parents=True, exist_ok=True)
            self.chunks.mkdir(exist_ok=True)
            probe = self.chunks / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise RecipeError(f"output_dir {self.path} is not writable ({exc.strerror})") from None

    @property
    def complete(self) -> bool:
        return (self.path / STAGE).exists()

    def finishing(self):
        """Held while the merge mixes and writes the manifest: shards that finish at the same moment (as
        Slurm array tasks do) take turns, and the later ones find the folder complete."""
        return locked(self.path / ".finish.lock")

    def check_config(self, plan: dict, record: bool = True) -> None:
        """Refuse a rerun whose `plan` differs from the first run's (its chunks would not fit with theirs);
        `record` the plan when this is the first run. Keys missing from `plan` are not compared."""
        path = self.path / CONFIG
        plan = json.loads(json.dumps(plan, default=lambda value: getattr(value, "__dict__", str(value))))
        if not path.exists():
            if record:
                write_json(path, plan)
            return
        before, now = _flat(json.loads(path.read_text())), _flat(plan)
        changed = sorted(key for key in now if before.get(key) != now[key])
        if changed:
            raise RecipeError(
                f"{self.path} holds data generated with other settings ({', '.join(changed)} differ): "
                "use another output_dir, or --start_over true to delete it"
            )

    def done(self) -> set[int]:
        return {int(p.stem) for p in self.chunks.glob("[0-9]*.json")}

    def write_chunk(self, index: int, rows: list[dict], counts: dict) -> None:
        path = self.data / f"reasoning-{index:06d}.parquet"
        if rows:
            write_rows(path, rows)
        else:  # no file at all: `datasets` fails on a Parquet file without rows
            path.unlink(missing_ok=True)
        write_json(self.chunks / f"{index:06d}.json", counts)  # last: the chunk is done

    def totals(self) -> Counter:
        total: Counter = Counter()
        for path in sorted(self.chunks.glob("[0-9]*.json")):
            total.update(json.loads(path.read_text()))
        return total

    def write_non_reasoning(self, rows, rows_per_file: int) -> int:
        """Write `rows` (an iterable) in files of `rows_per_file`; returns how many were written."""
        for old in self.data.glob("non_reasoning-*.parquet"):
            old.unlink()
        rows, written = iter(rows), 0
        while batch := list(itertools.islice(rows, rows_per_file)):
            write_rows(self.data / f"non_reasoning-{written // rows_per_file:06d}.parquet", batch)
            written += len(batch)
        return written

    def remove_temporary_files(self) -> None:
        for path in [*self.data.glob(".*.tmp-*"), *self.chunks.glob(".*.tmp-*")]:
            path.unlink(missing_ok=True)
            notice(f"removed {path.name}, left by a run that was stopped")
