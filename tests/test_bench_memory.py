import json
import os
import subprocess
import sys

import pytest

from r1recipes.sizing import bench_memory


def test_cpu_smoke_records_one_sft_and_one_grpo_case(tmp_path):
    output = tmp_path / "memory.json"
    sft, grpo = "sft-tiny-s64-ckpt", "grpo-tiny-c16-b0.04"  # beta > 0: the reference model is loaded too
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "r1recipes.bench_memory", "--output", str(output), "--cpu_smoke"]
    result = subprocess.run(
        [*command, "--only", sft, grpo], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]

    results = json.loads(output.read_text())
    assert results["environment"]["device"] == "cpu"
    assert results["environment"]["trl"] and results["environment"]["transformers"]
    cases = {case["name"]: case for case in results["cases"]}
    assert list(cases) == [sft, grpo]
    # Qwen2 with q/k/v biases, tied embeddings: embed + per layer (q, k, v, o, 3 MLP matrices, 2 norms) + final norm
    hidden, kv, inter, vocab = 64, 2 * 16, 128, 512
    per_layer = (hidden * hidden + hidden) + 2 * (hidden * kv + kv) + hidden * hidden + 3 * hidden * inter + 2 * hidden
    for case in cases.values():
        assert case["error"] is None, case.get("traceback")
        assert case["config"] == bench_memory.TINY
        assert case["num_parameters"] == vocab * hidden + 2 * per_layer + hidden
        assert len(case["step_times_s"]) == case["max_steps"]
        assert all(seconds > 0 for seconds in case["step_times_s"])
        assert case["step_time_s"] > 0 and case["tokens_per_s"] > 0
        assert case["peak_rss_bytes"] > 0
        assert all(log["grad_norm"] > 0 for log in case["logs"] if "grad_norm" in log)

    assert cases[sft]["seq_len"] == 64 and cases[sft]["tokens_per_step"] == 2 * 64
    assert cases[sft]["timed_steps"] == "after_first"

    case = cases[grpo]
    assert case["completion_len"] == 16 and case["prompt_len_measured"] == 64
    # min_new_tokens suppresses EOS: each of the 4 completions per step is exactly completion_len tokens
    assert case["completion_lengths"] == [16] * 4 * case["max_steps"]
    assert case["completion_length"] == 16
    assert case["tokens_per_step"] == 4 * (64 + 16)
    step_logs = [log for log in case["logs"] if "reward_std" in log]
    assert len(step_logs) == case["max_steps"]
    assert all(log["reward_std"] > 0 and "kl" in log for log in step_logs)


def test_unknown_case_is_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_memory.main(["--output", str(tmp_path / "memory.json"), "--cpu_smoke", "--only", "sft-7b"])
    assert exit_info.value.code == 2
    assert "unknown case(s) sft-7b" in capsys.readouterr().err
    assert not (tmp_path / "memory.json").exists()
