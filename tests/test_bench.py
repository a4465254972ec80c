"""`python -m r1recipes.bench generate --shards S` at a small size: its parts (shards judging and writing, the
merge, the folder loaded as SFT rows) run here in one process, where the benchmark runs each in its own."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from r1recipes import bench

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no {SHARED}")
PROMPTS, K, PER_FILE = 300, 4, 100  # 1,200 samples in 3 chunks


def end_to_end(folder: Path, shards: int) -> tuple[list[dict], dict, dict]:
    """(each shard's figures, the merge's, the load's) for PROMPTS prompts judged in the shards' own processes."""
    folder.mkdir()
    recipe = bench.write_stage3_inputs(folder, bench.load_problems(SHARED), PROMPTS, K, PER_FILE, processes=0)
    judged = [bench.run_shard(recipe, shards, i, SHARED) for i in range(shards)]
    return judged, bench.run_merge(recipe), bench.run_load(folder / "out")


def manifest_to_compare(out: Path) -> dict:
    """The manifest without timings, and without the general rows' files: their prompt ids name their source's
    path, which differs between the two folders (their rows are counted in the manifest)."""
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"] = {name: file for name, file in manifest["files"].items() if name.startswith("reasoning-")}
    return {key: value for key, value in manifest.items() if key not in ("sampling_seconds", "samples_per_second")}


@needs_shared
def test_two_shards_merged_and_loaded_as_sft_rows_are_what_one_run_writes(tmp_path):
    runs = {shards: end_to_end(tmp_path / f"{shards}-shards", shards) for shards in (1, 2)}
    for shards, (judged, merge, load) in runs.items():
        chunks = sorted((tmp_path / f"{shards}-shards" / "out" / "chunks").glob("*.json"))
        kept = sum(json.loads(marker.read_text())["counts"]["tasks/math/kept"] for marker in chunks)
        assert len(chunks) == 3 and sum(j["samples"] for j in judged) == merge["samples"] == PROMPTS * K
        assert merge["kept"] == kept and 0 < kept < PROMPTS  # some prompts have no sample kept
        assert merge["non_reasoning_rows"] == round(bench.NON_REASONING_RATIO * kept)
        assert merge["rows"] == load["rows"] == kept + merge["non_reasoning_rows"]
    assert [j["samples"] for j in runs[2][0]] == [2 * PER_FILE * K, PER_FILE * K]  # chunks 0 and 2, then 1
    one, two = (manifest_to_compare(tmp_path / f"{shards}-shards" / "out") for shards in (1, 2))
    assert len(one["files"]) == 3 and one == two  # counts, rows, and each chunk's file: rows, bytes, sha256


@pytest.mark.slow
@needs_shared
def test_the_end_to_end_benchmark_prints_agreeing_rows_and_flat_memory():
    command = [sys.executable, "-m", "r1recipes.bench", "generate", "--shards", "2", "--data_dir", str(SHARED)]
    command += ["--num_samples", "1200", "2400", "--chunk_prompts", str(PER_FILE)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert out.count("they agree") == 2 and "THEY DIFFER" not in out, out
    ratios = [float(r) for r in re.findall(r"(\d+\.\d+)x", out.split("peak RSS at 2400 samples / at 1200:")[1])]
    assert len(ratios) == 6 and all(0.8 < r < 1.25 for r in ratios), out  # main and other, of each part
