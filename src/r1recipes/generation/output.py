"""The generator's output folder: Parquet data written chunk by chunk, atomically, resumable and shardable.

    output_dir/data/reasoning-000042.parquet   kept rows of prompts 42000..42999 (prompts_per_file: 1000);
                                               no file when none of them was kept
    output_dir/data/non_reasoning-000000.parquet  the mixed-in general rows, written by the merge
    output_dir/chunks/000042.json              that chunk's counts and its file's rows, bytes and sha256 (or
                                               that it wrote none); written after its Parquet file: done
    output_dir/config.json                     what shapes the output (not where it is); a rerun must match it
    output_dir/manifest.json, stage.json       written by the merge, when every chunk is done; the manifest
                                               lists every data file with its rows, bytes and sha256

Chunk c holds the prompts at positions [c * prompts_per_file, (c + 1) * prompts_per_file), so its file is the
same whoever writes it: shard I of N takes the chunks c with c % N == I, a rerun skips the chunks that are
done, and N shards fill the folder exactly as one run would. Files are written under a hidden temporary
name and renamed, so a kill loses at most the chunks in flight, and a half-written file is never read.
A chunk is done when its marker parses and its file is the one it recorded: a rerun redoes a damaged chunk
(truncated, deleted or changed afterwards), saying so. Read as a dataset (`verify`), a finished folder's data
files must be exactly those its manifest lists, or it is refused naming the file.
`datasets.load_dataset("parquet", data_dir=output_dir + "/data")` loads the result.
"""

import functools
import hashlib
import itertools
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from r1recipes import RecipeError, flatten, notice
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


def write_rows(path: Path, rows: list[dict]) -> dict:
    """Write `rows` to `path`; returns the file's record (rows, bytes, sha256)."""
    table = pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
    write_atomically(path, lambda tmp: pq.write_table(table, tmp))
    return {"rows": len(rows), **fingerprint(path)}


def fingerprint(path: Path) -> dict:
    """A file's size and sha256. The hash is read once per process while the file's size and modification time
    stay the same (a run checks chunks before and after sampling, and reads a finished folder more than once);
    a file modified in the last seconds is always read, since a change within one timestamp tick keeps its time
    (git's "racily clean" entries)."""
    stat = Path(path).stat()
    if time.time_ns() - stat.st_mtime_ns < RECENT_NS:
        sha256 = _sha256(path)
    else:
        sha256 = _sha256_unchanged(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    return {"bytes": stat.st_size, "sha256": sha256}


RECENT_NS = 2_000_000_000  # files younger than this are hashed every time


@functools.lru_cache(maxsize=1 << 16)
def _sha256_unchanged(path: str, size: int, mtime_ns: int) -> str:
    """`_sha256`, remembered: `size` and `mtime_ns` key the cache, so a changed file is read again."""
    return _sha256(path)


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _same_file(path: Path, record: dict) -> bool:
    """Whether `path` is the file `record` describes (size first: a cut file is found without reading it)."""
    return path.stat().st_size == record["bytes"] and fingerprint(path) == {k: record[k] for k in ("bytes", "sha256")}


class OutputDir:
    def __init__(self, path: str):
        self.path = Path(path)
        self.data = self.path / DATA
        self.chunks = self.path / CHUNKS
        self._reported: set[str] = set()  # damaged chunks already named, so a notice is given once

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
        before, now = flatten(json.loads(path.read_text())), flatten(plan)  # a difference named exactly
        changed = sorted(key for key in now if before.get(key) != now[key])
        if changed:
            raise RecipeError(
                f"{self.path} holds data generated with other settings ({', '.join(changed)} differ): "
                "use another output_dir, or --start_over true to delete it"
            )

    def done(self) -> set[int]:
        """The chunks that are done; a damaged one is not, and is named in a notice (once)."""
        done = set()
        for marker in sorted(self.chunks.glob("[0-9]*.json")):
            damage = self._damage(marker)
            if damage is None:
                done.add(int(marker.stem))
            elif marker.name not in self._reported:
                self._reported.add(marker.name)
                notice(f"chunk {int(marker.stem)} will be redone: {damage}")
        return done

    def _damage(self, marker: Path) -> str | None:
        """What is wrong with a chunk: its marker, or its file against what the marker records; None if nothing."""
        try:
            record = json.loads(marker.read_text())
            file = record["file"]
            if not isinstance(record["counts"], dict) or not (file is None or {"bytes", "sha256"} <= set(file)):
                raise ValueError
        except (OSError, ValueError, KeyError, TypeError):
            return f"{CHUNKS}/{marker.name} is unreadable"
        path = self.data / f"reasoning-{int(marker.stem):06d}.parquet"
        if file is None:
            return f"{DATA}/{path.name} exists, but the chunk wrote no file" if path.exists() else None
        if not path.exists():
            return f"{DATA}/{path.name} is missing"
        return None if _same_file(path, file) else f"{DATA}/{path.name} is not the file it wrote (size or checksum)"

    def write_chunk(self, index: int, rows: list[dict], counts: dict) -> None:
        path = self.data / f"reasoning-{index:06d}.parquet"
        file = None
        if rows:
            file = {"name": path.name, **write_rows(path, rows)}
        else:  # no file at all: `datasets` fails on a Parquet file without rows
            path.unlink(missing_ok=True)
        write_json(self.chunks / f"{index:06d}.json", {"counts": counts, "file": file})  # last: the chunk is done

    def _markers(self) -> list[dict]:
        return [json.loads(path.read_text()) for path in sorted(self.chunks.glob("[0-9]*.json"))]

    def totals(self) -> Counter:
        total: Counter = Counter()
        for marker in self._markers():
            total.update(marker["counts"])
        return total

    def files(self) -> dict:
        """Every data file's rows, bytes and sha256, for the manifest: a chunk's as its marker recorded it, the
        non-reasoning files' as they are now (the merge has just written them)."""
        files = {}
        for marker in self._markers():
            if marker["file"]:
                files[marker["file"]["name"]] = {k: marker["file"][k] for k in ("rows", "bytes", "sha256")}
        for path in sorted(self.data.glob("non_reasoning-*.parquet")):
            files[path.name] = {"rows": pq.ParquetFile(path).metadata.num_rows, **fingerprint(path)}
        return files

    def verify(self) -> dict:
        """The manifest of a finished folder whose data files are exactly those it lists, unchanged; else one
        RecipeError naming the file."""
        if not self.complete:
            raise RecipeError(f"{self.path}: generation is not complete (no {STAGE}); finish or merge it")
        try:
            manifest = json.loads((self.path / MANIFEST).read_text())
            files = manifest["files"]
            if not all({"bytes", "sha256"} <= set(record) for record in files.values()):
                raise ValueError
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise RecipeError(
                f"{self.path}: its {MANIFEST} is missing, unreadable or lists no data files (one written before "
                "r1recipes recorded them): generate it again"
            ) from None
        present = {path.name for path in self.data.glob("[!.]*")}  # hidden: a killed write's leftover, never read
        for name in sorted(present - set(files)):
            raise RecipeError(f"{self.path}: {DATA}/{name} is not in its {MANIFEST}")
        for name, record in sorted(files.items()):
            if name not in present:
                raise RecipeError(f"{self.path}: {DATA}/{name} is missing")
            if not _same_file(self.data / name, record):
                raise RecipeError(
                    f"{self.path}: {DATA}/{name} is not the file the generator wrote (size or checksum differ)"
                )
        return manifest

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
