"""The evaluation output folder, resumable benchmark by benchmark.

    output/results.json     the model, the settings, the git commit, and the metrics of each finished benchmark
    output/samples.jsonl    one row per sample: prompt, completion, stated answer, gold answer, score, verdict
    output/.shards/<benchmark>-<rank>-of-<world>.jsonl   one process's samples until the benchmark is merged

A benchmark is finished when results.json lists it, and a rerun skips it. samples.jsonl grows by whole
benchmarks only: results.json records its size after each one, and a merge first cuts the file back to that
size, so a kill between the two writes leaves no stray rows. With several processes (torchrun), each writes
the samples of its share of a benchmark's problems to its shard file, and the last to finish merges the
shards in problem order, under a file lock, so processes finishing together take turns.
"""

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from r1recipes import RecipeError, notice
from r1recipes.files import check_writable, locked, write_atomically, write_json

RESULTS, SAMPLES, SHARDS = "results.json", "samples.jsonl", ".shards"
EVAL = "eval"  # a run's evaluations: runs/<run>/eval/<stage> (base: the starting model), where the report looks


class ResultsDir:
    def __init__(self, path: str):
        self.path = Path(path)
        self.shards = self.path / SHARDS

    @property
    def results(self) -> dict:
        path = self.path / RESULTS
        return json.loads(path.read_text()) if path.exists() else {}

    def finished(self) -> set[str]:
        return set(self.results.get("benchmarks", {}))

    def sample_rows(self) -> Iterator[dict]:
        """The rows of samples.jsonl that finished benchmarks wrote: up to the size results.json records, since
        a merge killed before results.json was written may have left more."""
        path, size = self.path / SAMPLES, self.results.get("samples_bytes", 0)
        if size and not path.is_file():
            raise RecipeError(f"{path} is missing ({self.path / RESULTS} records {size} bytes of samples)")
        if not size:
            return
        read = 0  # bytes
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                read += len(line)
                if read > size:
                    break
                try:
                    yield json.loads(line)
                except ValueError:
                    raise RecipeError(f"{path}: line {number} is not JSON") from None

    def check(self, header: dict, start_over: bool) -> None:
        """Writing nothing: the folder can be written, and results already in it were made with the same model
        and settings (they would not be comparable otherwise) unless they are to be deleted (`start_over`)."""
        check_writable(self.path, "output")
        before = self.results
        if before and not start_over:
            old, new = {"model": before["model"], **before["config"]}, {"model": header["model"], **header["config"]}
            changed = sorted(key for key in new if old.get(key) != new[key])
            if changed:
                raise RecipeError(
                    f"{self.path} holds results of other settings ({', '.join(changed)} differ): "
                    "use another --output, or --start_over true to delete them"
                )

    def prepare(self, header: dict, start_over: bool) -> None:
        """Create the folder and results.json; `start_over` first deletes the results, samples and shards."""
        if start_over:
            for name in (RESULTS, SAMPLES):
                (self.path / name).unlink(missing_ok=True)
            shutil.rmtree(self.shards, ignore_errors=True)
        self.shards.mkdir(parents=True, exist_ok=True)
        with locked(self.path / ".lock"):
            if not (self.path / RESULTS).exists():
                write_json(self.path / RESULTS, {**header, "samples_bytes": 0, "benchmarks": {}})

    def shard_path(self, benchmark: str, rank: int, world: int) -> Path:
        return self.shards / f"{benchmark}-{rank}-of-{world}.jsonl"

    def write_shard(self, benchmark: str, rank: int, world: int, rows: list[dict]) -> None:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        write_atomically(self.shard_path(benchmark, rank, world), lambda tmp: tmp.write_text(text))

    def merge(self, benchmark: str, world: int, summarize) -> dict | None:
        """When every process's shard of `benchmark` is written: its metrics (`summarize(rows)`) go into
        results.json and its rows onto samples.jsonl. None while shards are missing or another process merged."""
        with locked(self.path / ".lock"):
            results = self.results
            paths = [self.shard_path(benchmark, rank, world) for rank in range(world)]
            if benchmark in results["benchmarks"] or not all(p.exists() for p in paths):
                return None
            rows = [json.loads(line) for path in paths for line in path.read_text().splitlines()]
            rows.sort(key=lambda row: (row["position"], row["sample"]))
            metrics = summarize(rows)
            samples = self.path / SAMPLES
            with open(samples, "a", encoding="utf-8") as handle:
                handle.truncate(results["samples_bytes"])  # rows of a merge killed before results.json was written
                handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
                handle.flush()
                os.fsync(handle.fileno())
            results["samples_bytes"] = samples.stat().st_size
            results["benchmarks"][benchmark] = metrics
            write_json(self.path / RESULTS, results)
            for path in self.shards.glob(f"{benchmark}-*-of-*.jsonl"):  # stale shards of another world size too
                path.unlink()
        notice(f"{benchmark}: results in {self.path / RESULTS}, samples in {samples}")
        return metrics
