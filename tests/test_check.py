"""`make check`: the memory, work and time estimates, against published figures and transformers' own models.

The published figures: the ZeRO paper's Figure 1 (Rajbhandari et al. 2019: 7.5B parameters on 64 GPUs), the
parameter counts of the model cards, and the KV-cache size per token that vLLM allocates (2 x layers x KV heads x
head dimension x 2 bytes). The peak memory of real steps on a GPU is compared in docs/check.md.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

from r1recipes import RecipeError
from r1recipes.config.recipes import RECIPES, RecipeFile, model_folders, producers, stage_files
from r1recipes.pipeline import main
from r1recipes.sizing.estimate import GIB, MODEL_CONFIGS, ModelShape, Training, model_states
from r1recipes.sizing.recipe import read_model_config, starting_model

ROOT = Path(__file__).resolve().parents[1]

# Exact counts of the published checkpoints (model cards round them: 7.61B, 3.09B, 1.54B, 0.49B, 8B, 3.21B, 1.23B)
PARAMETERS = {
    "Qwen/Qwen2.5-7B": 7_615_616_512,
    "Qwen/Qwen2.5-3B": 3_085_938_688,
    "Qwen/Qwen2.5-1.5B": 1_543_714_304,
    "Qwen/Qwen2.5-0.5B": 494_032_768,
    "meta-llama/Llama-3.1-8B": 8_030_261_248,
    "meta-llama/Llama-3.2-3B": 3_212_749_824,
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "HuggingFaceTB/SmolLM2-135M-Instruct": 134_515_008,
}


def shape(model: str) -> ModelShape:
    return ModelShape.from_config(read_model_config(model), model)


@pytest.mark.parametrize("model", sorted(PARAMETERS))
def test_parameters_match_the_published_checkpoints(model):
    assert shape(model).params == PARAMETERS[model]


@pytest.mark.parametrize("path", sorted(MODEL_CONFIGS.glob("*.json")), ids=lambda p: p.stem)
def test_parameters_match_transformers_models_built_from_each_kept_config(path):
    config = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}
    counted = ModelShape.from_config(config, path.stem)
    built = AutoConfig.for_model(**config)
    kind = AutoModelForSequenceClassification if counted.num_labels else AutoModelForCausalLM
    with torch.device("meta"):
        model = kind.from_config(built)
    assert counted.params == sum(p.numel() for p in model.parameters())


def test_every_model_the_recipes_name_is_counted_offline():
    """Offline (the tests set HF_HUB_OFFLINE=1), every model a recipe starts from, and every reward model, has a
    kept config (or is one the package builds)."""
    owners = producers(RECIPES)
    for path in stage_files(RECIPES):
        recipe = RecipeFile.load(path)
        models = [starting_model(recipe, owners)]
        reward = (recipe.config.get("reward_kwargs") or {}).get("reward_model")
        models += [reward["model_name_or_path"]] if reward else []
        for model in models:
            assert shape(model).params > 0, (path, model)


def test_zero_paper_figure_1_model_states_per_gpu():
    """7.5B parameters, 64 GPUs, mixed-precision Adam: 120, 31.4, 16.6 and 1.9 GB per GPU."""
    published = {"none": 120.0, "zero1": 31.4, "zero2": 16.6, "zero3": 1.9}
    for sharding, gb in published.items():
        run = Training(processes=64, sharding=sharding, dtype_bytes=2, mixed_precision=True, micro_batch=1,
                       sequence=1, scored=1, checkpointing=True)  # fmt: skip
        if sharding == "none":  # the paper's baseline is data parallelism with the same fp32 optimizer states
            run = Training(**{**run.__dict__, "sharding": "zero0"})
        total = sum(model_states(7_500_000_000, run).values()) / 1e9
        assert total == pytest.approx(gb, abs=0.05), sharding


@pytest.mark.parametrize("sharding", ["zero2", "zero3"])
def test_deepspeed_own_estimator_of_model_states(sharding):
    """DeepSpeed's estimate_zero{2,3}_model_states_mem_needs (no offload): for ZeRO-2 2P + 18P/N (bf16 weights,
    then bf16 and fp32 gradients, fp32 weights and moments), for ZeRO-3 18P/N (the bf16 gradients not counted)
    plus 4 bytes of the largest layer; ours: the optimizer step's items, plus the gathered units."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    from r1recipes.sizing.estimate import training_memory

    qwen = shape("Qwen/Qwen2.5-7B")
    run = Training(processes=8, sharding=sharding, dtype_bytes=2, mixed_precision=True, micro_batch=1, sequence=1,
                   scored=1, checkpointing=True)  # fmt: skip
    plan = training_memory(qwen, run)
    # the items DeepSpeed's estimator counts (not its buffers, which ours adds from DeepSpeed's source)
    counted = ("policy weights", "gradients", "fp32 gradients (DeepSpeed's optimizer step)", "optimizer states")
    ours = sum(i.gib for i in plan.items if i.name in counted and ("step" in i.phases or sharding == "zero3"))
    ours += sum(i.gib for i in plan.items if i.name.startswith("gathered"))
    if sharding == "zero2":
        _, theirs = estimate_zero2_model_states_mem_needs(qwen.params, 8, 1, cpu_offload=False)
    else:
        largest = max(qwen.embedding_params, qwen.layer_params)
        _, theirs, _ = estimate_zero3_model_states_mem_needs(
            qwen.params, largest, 8, 1, cpu_offload=False, cpu_offload_params=False, zero_init=True
        )
    assert ours * 2**30 == pytest.approx(theirs, rel=1e-3)


def test_kv_cache_bytes_per_token_as_vllm_allocates():
    assert shape("meta-llama/Llama-3.1-8B").kv_bytes_per_token() == 2 * 32 * 8 * 128 * 2 == 131_072
    assert shape("Qwen/Qwen2.5-7B").kv_bytes_per_token() == 57_344


def test_mixture_of_experts_and_unknown_architectures_are_refused_in_one_line():
    with pytest.raises(ValueError, match="mixture-of-experts"):
        ModelShape.from_config({"model_type": "qwen3_moe", "num_experts": 128}, "moe")
    with pytest.raises(ValueError, match="model_type 'gpt2' is not counted"):
        ModelShape.from_config({"model_type": "gpt2"}, "gpt2")
    with pytest.raises(ValueError, match="lacks a usable"):
        ModelShape.from_config({"model_type": "llama", "hidden_size": 8}, "broken")


def run_check(*args: str, cwd: Path = ROOT) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "r1recipes.pipeline", "check", *args], cwd=cwd, capture_output=True, text=True
    )
    return result.returncode, result.stdout + result.stderr


def test_estimates_are_within_10_percent_of_the_peaks_measured_on_an_h200():
    """21 cases of real TRL steps (SFT and GRPO, two Qwen2 sizes and a Llama, 1k to 32k tokens, checkpointing on
    and off, a reference model, gradient accumulation, DeepSpeed ZeRO-2 and -3): `python -m r1recipes.bench_memory`
    on one H200."""
    from r1recipes.sizing.bench_memory import compare

    measured = json.loads((ROOT / "tests" / "data" / "memory_h200.json").read_text())
    rows = compare(measured)
    assert len(rows) == len(measured["cases"]) == 21
    for row in rows:
        assert abs(row["weights_error"]) < 0.02, row
        assert abs(row["between_steps_error"]) < 0.05, row
        assert abs(row["peak_error"]) < 0.10, row


def test_check_json_itemises_memory_and_work_of_every_recipe():
    code, out = run_check("--model", "Qwen2.5-7B", "--json")
    assert code == 0, out
    report = json.loads(out[out.index("{") :])
    checks = {Path(r["recipe"]).stem: r for r in report["recipes"]}
    assert set(checks) == {p.stem for p in (ROOT / "recipes" / "Qwen2.5-7B").glob("*.yaml")}
    stage2 = checks["stage2_reasoning_grpo"]
    items = {item["name"]: item for item in stage2["items"]}
    assert {"policy weights", "gradients (ZeRO-3's flat partition)", "optimizer states", "reference model"} <= set(
        items
    )
    assert {"activations", "fp32 gradients (DeepSpeed's optimizer step)", "DeepSpeed's reduce bucket"} <= set(items)
    # ZeRO-3 on 8 GPUs: 12 bytes of optimizer state per parameter, an eighth on each GPU
    assert items["optimizer states"]["gib"] == pytest.approx(12 * PARAMETERS["Qwen/Qwen2.5-7B"] / 8 / 2**30, rel=1e-3)
    vllm = next(item for name, item in items.items() if name.startswith("vLLM"))
    assert vllm["gib"] == pytest.approx(0.35 * 79.6) and vllm["phases"] == ["generate"]  # asleep in the update
    assert stage2["work"]["completions_per_step"] == 8 * 1 * 64 and stage2["work"]["prompts_per_step"] == 32
    assert stage2["work"]["generated_tokens"] == 1000 * 512 * 32768
    assert stage2["vllm"]["vllm"]["per_rollout"] == 1024  # steps_per_generation 1024 x 1 on each of 8 GPUs
    assert checks["stage4_all_scenario_grpo"]["items"][-1]["name"].startswith("reward model")
    assert all(r["fits"] for r in report["recipes"])


OWNERS = producers(RECIPES)


def checked(recipe: str, *overrides: str, gpus=None, nodes=1, gib=80.0, accelerate=None, speed=None, mean=None):
    """One recipe's check, in this process (`mean`: check's --mean_completion_tokens)."""
    from r1recipes.sizing.estimate import Throughput
    from r1recipes.sizing.recipe import Hardware
    from r1recipes.sizing.verdict import check_recipe

    machine = Hardware(gpus, gib, accelerate, speed or Throughput(), nodes, mean_completion_tokens=mean)
    return check_recipe(RecipeFile.load(RECIPES / recipe, list(overrides)), machine, OWNERS)


def items(result) -> dict:
    return {item.name: item for item in result.plan.items}


QWEN7B = PARAMETERS["Qwen/Qwen2.5-7B"]
STAGE1, STAGE2 = "Qwen2.5-7B/stage1_cold_start_sft.yaml", "Qwen2.5-7B/stage2_reasoning_grpo.yaml"


def test_another_gpu_count_keeps_the_global_batch_or_is_refused_as_the_runner_refuses_it():
    on_four = checked(STAGE2, gpus=4)
    assert on_four.work["completions_per_step"] == 512 and on_four.work["completions_per_rollout"] == 8192
    assert on_four.plan.facts["vllm"]["per_rollout"] == 2048
    assert items(on_four)["optimizer states"].gib == pytest.approx(12 * QWEN7B / 4 / GIB)
    with pytest.raises(RecipeError, match="on 3 processes its batch would need gradient_accumulation_steps 512/3"):
        checked(STAGE2, gpus=3)


def test_given_throughputs_set_the_hours():
    from r1recipes.sizing.estimate import Throughput

    result = checked(STAGE2, speed=Throughput(train_tokens_per_s=1000, generate_tokens_per_s=500))
    work, time = result.work, result.time
    assert time["training_hours"] == pytest.approx(work["trained_tokens"] / (1000 * 8) / 3600, rel=1e-3)
    assert time["generation_hours"] == pytest.approx(work["generated_tokens"] / (500 * 8) / 3600, rel=1e-3)


def test_stage3_judging_hours_follow_from_the_measured_rate_and_hide_behind_sampling():
    from r1recipes.sizing.check import format_check
    from r1recipes.sizing.estimate import JUDGE_SAMPLES_PER_S, Throughput

    stage3 = "Qwen2.5-7B/stage3_rejection_sampling.yaml"
    for gpus in (None, 8):  # the recipe's one engine, then eight
        result = checked(stage3, gpus=gpus)
        s, time = result.sized.settings, result.time
        engines = (gpus or 1) // s.int("tensor_parallel_size")
        processes = engines * s.int("verify_processes")
        hours = result.work["prompts"] * s.int("num_samples") / (JUDGE_SAMPLES_PER_S * processes) / 3600
        assert time["judge_processes"] == processes and time["judge_hours"] == pytest.approx(hours, abs=0.005)
        assert time["judge_hidden"] is (hours <= time["generation_hours"]) is True
        assert f"({processes} processes x {JUDGE_SAMPLES_PER_S:,} a second" in format_check(result)
    fast_gpus = checked(stage3, speed=Throughput(generate_tokens_per_s=1e9))  # sampling outruns judging
    assert fast_gpus.time["judge_hidden"] is False and "NOT hidden" in format_check(fast_gpus)
    inline = checked(stage3, "--verify_processes", "0")  # judged between chunks, in each engine's process
    assert inline.time["judge_processes"] == 1 and inline.time["judge_hidden"] is False
    assert "judge_hours" not in checked(STAGE2).time


@pytest.mark.parametrize(
    "accelerate, weights, optimizer",
    [("fsdp", 4 / 8, 8 / 8), ("zero2", 2, 12 / 8), ("ddp", 2, 4)],  # bytes a parameter on each of 8 GPUs
)
def test_each_launch_shards_the_states_as_it_does(accelerate, weights, optimizer):
    found = items(checked(STAGE1, accelerate=accelerate))
    assert found["policy weights"].gib == pytest.approx(weights * QWEN7B / GIB)
    assert found["optimizer states"].gib == pytest.approx(optimizer * QWEN7B / GIB)
    assert ("DDP gradient buckets" in found) == (accelerate == "ddp")


def test_lora_trains_adapters_and_needs_no_reference_model():
    from r1recipes.sizing.recipe import lora_params

    result = checked("Qwen2.5-3B/tinyzero_countdown_grpo.yaml", "--use_peft", "true", "--lora_r", "8")
    found = items(result)
    adapters = lora_params(result.sized.shape, result.sized.settings)  # q_proj and v_proj: PEFT's default targets
    assert adapters == 36 * 8 * ((2048 + 2048) + (2048 + 256))
    assert found["adapter weights"].gib == pytest.approx(adapters * 4 / 2 / GIB)  # fp32, ZeRO-3 over 2 GPUs
    assert "reference model" not in found and "base weights (frozen)" in found


def test_vllm_awake_in_the_update_without_sleep_mode():
    asleep = items(checked(STAGE2))
    awake = items(checked(STAGE2, "--vllm_enable_sleep_mode", "false"))
    share = "vLLM (gpu_memory_utilization 0.35)"
    assert asleep[share].phases == ("generate",) and set(awake[share].phases) == {"generate", "update", "step"}


def test_grpo_without_vllm_under_zero3_gathers_the_policy_to_generate():
    found = items(checked(STAGE2, "--use_vllm", "false", "--max_completion_length", "1024"))
    assert found["policy gathered whole to generate"].gib == pytest.approx(2 * QWEN7B / GIB)
    # TRL generates a process's whole share of the generation batch at once: 1 x 1024 sequences of 34,816 tokens
    kv = found["KV cache (transformers generation)"]
    assert kv.gib == pytest.approx(1024 * 34_816 * 57_344 / GIB)


def test_a_cpu_recipe_counts_every_process_that_shares_the_ram():
    one = checked("tiny/stage1_cold_start_sft.yaml")
    two = checked("tiny/stage1_cold_start_sft.yaml", accelerate="cpu_ddp")
    assert not one.sized.on_gpu and two.sized.gpus == 2
    # each process holds what one process does, plus DDP's gradient buckets
    buckets = items(two)["DDP gradient buckets"].gib
    assert two.needed == pytest.approx(2 * (one.plan.peak + buckets) * (1 + two.plan.slack))


def test_missing_here_names_packages_and_disk(monkeypatch):
    from r1recipes.sizing import recipe

    monkeypatch.setattr(recipe.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(recipe.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12 - 1, 1))
    missing = checked(STAGE2).missing
    assert "package vllm (make install-gpu)" in missing and "package deepspeed (make install-gpu)" in missing
    assert any(line.startswith("disk: ~228 GB for runs/Qwen2.5-7B/stage2, 0 GB free at") for line in missing)


def test_open_r1_distill_7b_setup_fits_80_gib_as_it_ran_there(tmp_path):
    """open-r1's OpenR1-Distill-7B SFT: 8 x H100 80GB, ZeRO-3, 32,768 tokens, 2 sequences a GPU, checkpointing."""
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    recipe = tmp_path / "recipes" / STAGE1
    recipe.write_text(recipe.read_text() + "\nper_device_train_batch_size: 2\ngradient_accumulation_steps: 8\n")
    code, out = run_check("--model", "Qwen2.5-7B", "--json", cwd=tmp_path)
    stage1 = next(
        r for r in json.loads(out[out.index("{") :])["recipes"] if r["recipe"].endswith("stage1_cold_start_sft.yaml")
    )
    assert stage1["fits"] and 40 < stage1["needed_gib"] < 80


def apply(change: str, recipe: Path) -> list[str]:
    """A suggested change applied as a user would: `NODES=2 (...)`, `GPUS=4`, `GPU_MEMORY_GB=94` or
    `ACCELERATE=zero3` as check's flags, `key: value, key: value` written into the recipe."""
    change = change.split(" (")[0]
    flags = {
        "NODES=": "--nodes",
        "GPUS=": "--gpus",
        "GPU_MEMORY_GB=": "--gpu_memory_gb",
        "ACCELERATE=": "--accelerate",
    }
    for variable, flag in flags.items():
        if change.startswith(variable):
            return [flag, change.removeprefix(variable)]
    config = yaml.safe_load(recipe.read_text())
    config.update({key: yaml.safe_load(value) for key, value in (part.split(": ") for part in change.split(", "))})
    recipe.write_text(yaml.safe_dump(config))
    return []


@pytest.mark.parametrize(
    "model, machine",
    [("Qwen2.5-7B", ["--gpu_memory_gb", "40"]), ("Qwen2.5-3B", ["--gpus", "1", "--gpu_memory_gb", "24"])],
)
def test_a_recipe_that_does_not_fit_exits_1_and_the_change_it_suggests_fits(tmp_path, model, machine):
    code, out = run_check("--model", model, *machine)
    assert code == 1, out
    assert "recipes fit; not:" in out
    blocks = [b for b in out.split("\n\n") if "DOES NOT FIT" in b]
    assert blocks
    for i, block in enumerate(blocks):
        recipe = block.split(" ")[0]
        change = block.split("would fit with: ")[1].splitlines()[0]
        shutil.copytree(ROOT / "recipes", tmp_path / str(i) / "recipes")
        flags = apply(change, tmp_path / str(i) / recipe)
        code, fixed = run_check("--model", model, *machine, "--json", *flags, cwd=tmp_path / str(i))
        report = json.loads(fixed[fixed.index("{") :])
        verdict = next(r for r in report["recipes"] if r["recipe"] == recipe)
        assert verdict["fits"], (recipe, change, verdict["problems"], verdict["needed_gib"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope"], "unknown MODEL 'nope'"),
        (["--model", "tiny", "--gpus", "0"], "GPUS must be a whole number >= 1"),
        (["--model", "tiny", "--args", "--bogus 1"], "no recipe of this run has key 'bogus'"),
        (["--model", "tiny", "--accelerate", "zero9"], "unknown ACCELERATE 'zero9'"),
        (["--model", "Qwen2.5-7B", "--gpus", "3"], "gradient_accumulation_steps 128/3, not a whole number"),
        (["--model", "Qwen2.5-3B", "--args", "--max_completion_length 4096"], "leaves no room for a prompt"),
        (["--model", "Qwen2.5-3B", "--args", "--max_completion_length abc"], "invalid int value: 'abc'"),
        (["--model", "Qwen2.5-3B", "--args", "--num_generations 7"], "which num_generations (7) does not divide"),
        (["--model", "Qwen2.5-3B", "--args", "--vllm_gpu_memory_utilization 1.5"], "must be in (0, 1]"),
        (["--model", "Qwen2.5-3B", "--args", "--load_in_4bit true"], "trains only through adapters"),
        (["--model", "Qwen2.5-7B", "--args", "--num_processes x"], "num_processes must be a whole number"),
        (["--model", "Qwen2.5-7B", "--gpu_memory_gb", "nan"], "GPU_MEMORY_GB must be a number > 0"),
        (["--model", "Qwen2.5-7B", "--price_per_gpu_hour", "-1"], "must be a number >= 0"),
        (["--model", "Qwen2.5-3B", "--args", "--num_generations 0"], "num_generations must be >= 1"),
        (["--model", "Qwen2.5-3B", "--args", "--steps_per_generation 0"], "steps_per_generation must be >= 1"),
        (["--model", "Qwen2.5-3B", "--args", "--vllm_tensor_parallel_size 0"], "vllm_tensor_parallel_size must be"),
        (["--model", "Qwen2.5-3B", "--args", "--use_peft true --lora_r 0"], "lora_r must be >= 1"),
        (["--model", "Qwen2.5-3B", "--gpu", "B200"], "or give --peak_tflops and --memory_tbs"),
        (["--model", "Qwen2.5-3B", "--mean_completion_tokens", "0"], "--mean_completion_tokens must be a whole"),
        (["--model", "Qwen2.5-3B", "--mean_completion_tokens", "-300"], "must be a whole number >= 1, got -300"),
        (["--model", "Qwen2.5-3B", "--args", "--mean_completion_tokens 0"], "must be from 1 to max_completion_length"),
        (["--model", "Qwen2.5-3B", "--args", "--mean_completion_tokens 1025"], "max_completion_length (1024) tokens"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main_code(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


def test_every_folder_is_checked_offline_without_error():
    for folder in model_folders(RECIPES):
        assert main_code("--model", folder) in (0, 1), folder


def main_code(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", *args])
    return exit_info.value.code


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3", "mistral"])
def test_every_counted_architecture_matches_transformers(model_type):
    config = {"model_type": model_type, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 24, "vocab_size": 300,
              "tie_word_embeddings": False}  # fmt: skip
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))
    assert ModelShape.from_config(config).params == sum(p.numel() for p in model.parameters())


def test_lora_parameters_match_peft():
    from peft import LoraConfig, get_peft_model

    from r1recipes.sizing.recipe import Settings, lora_params

    config = json.loads((MODEL_CONFIGS / "r1recipes--tiny.json").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))
    for targets in ("all-linear", ["q_proj", "v_proj"]):
        peft_model = get_peft_model(model, LoraConfig(r=8, target_modules=targets))
        trainable, _ = peft_model.get_nb_trainable_parameters()
        settings = Settings(use_peft=True, lora_r=8, lora_target_modules=targets)
        assert lora_params(ModelShape.from_config(config), settings) == trainable
        model = peft_model.unload()


def test_any_model_folder_is_read_from_its_config(tmp_path):
    """A model that is no kept copy, given as a folder: its own config.json (ARGS override every recipe)."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    config = json.loads((MODEL_CONFIGS / "Qwen--Qwen2.5-0.5B.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 12}))
    code, out = run_check("--model", "tiny", "--json", "--args", f"--model_name_or_path {folder}")
    assert code == 0, out
    recipes = json.loads(out[out.index("{") :])["recipes"]
    assert {r["model"] for r in recipes} == {str(folder)}
    assert {r["parameters"] for r in recipes} == {ModelShape.from_config({**config, "num_hidden_layers": 12}).params}


def test_a_cpu_launch_is_sharded_by_its_config_and_never_told_to_take_a_gpu():
    result = checked(STAGE1, accelerate="cpu_zero3")
    assert not result.sized.on_gpu and result.sized.sharding == "zero3" and result.sized.gpus == 2
    assert "ACCELERATE=cpu_zero3, 2 processes" in result.device
    assert items(result)["policy weights"].gib == pytest.approx(4 * QWEN7B / 2 / GIB)  # fp32, over 2 processes
    assert not result.fits and result.suggestion.startswith("no single change")


def test_sizing_leaves_out_this_machines_checks_and_only_while_it_sizes():
    from r1recipes.config.hardware import sizing_processes
    from r1recipes.sft import make_parser

    assert checked(STAGE1, "--tf32", "true").fits  # an H100 launch accepts tf32; this CPU does not
    assert sizing_processes() is None
    if not torch.cuda.is_available():  # the runner itself still refuses a GPU recipe here
        with pytest.raises(RecipeError, match="needs a CUDA GPU"):
            make_parser().parse(["--config", str(RECIPES / STAGE1)])


def test_a_vllm_server_node_is_laid_out_as_train_slurm_does(tmp_path):
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    recipe = tmp_path / "recipes" / STAGE2
    recipe.write_text(recipe.read_text().replace("vllm_mode: colocate", "vllm_mode: server"))
    code, out = run_check("--model", "Qwen2.5-7B", "--nodes", "2", "--json", cwd=tmp_path)
    stage2 = next(r for r in json.loads(out[out.index("{") :])["recipes"] if r["recipe"].endswith(STAGE2))
    assert stage2["device"].startswith("8 x 79.6 GiB GPU, zero3 + a vLLM server node of 8")
    assert stage2["time"]["gpus"] == 16  # 8 training, 8 serving
    assert stage2["vllm"]["vllm_server"]["concurrent"] >= 1  # its context: the model's 131,072 positions
    assert not any(item["name"].startswith("vLLM") for item in stage2["items"])


def test_epochs_and_checkpoints_follow_the_trainers():
    from r1recipes.sizing.recipe import Settings, checkpoints_kept

    once, twice = checked(STAGE2), checked(STAGE2, "--num_iterations", "2")
    assert once.work["epochs"] == pytest.approx(1000 * 512 / (93_733 * 16), abs=0.01)
    assert twice.work["epochs"] == pytest.approx(once.work["epochs"] / 2, abs=0.01)  # each rollout used twice
    assert checkpoints_kept(Settings(save_strategy="no", save_steps=10), 100) == 0
    assert checkpoints_kept(Settings(save_strategy="steps", save_steps=10), 95) == 10
    assert checkpoints_kept(Settings(save_strategy="steps", save_steps=10, save_total_limit=2), 95) == 2
    assert checkpoints_kept(Settings(save_strategy="epoch", num_train_epochs=3), None) == 3


def test_each_evaluation_recipe_is_sized_for_the_largest_model_it_evaluates_and_costed_for_all(capsys):
    from r1recipes.sizing.recipe import BENCHMARK_PROBLEMS

    assert main_code("--model", "Qwen2.5-7B", "--json") == 0
    report = {r["recipe"]: r for r in json.loads(capsys.readouterr().out)["recipes"]}
    evaluation = report["recipes/Qwen2.5-7B/eval.yaml"]
    config = RecipeFile.load(Path("recipes/Qwen2.5-7B/eval.yaml")).config
    ks = config["benchmark_samples"]
    assert evaluation["work"]["benchmarks"] == {name: {"problems": BENCHMARK_PROBLEMS[name], "samples": k}
                                                for name, k in ks.items()}  # fmt: skip
    completions = sum(BENCHMARK_PROBLEMS[name] * k for name, k in ks.items())
    assert evaluation["work"]["completions"] == completions
    assert evaluation["work"]["generated_tokens"] == completions * config["max_new_tokens"]
    assert evaluation["model"] == "meta-llama/Llama-3.1-8B"  # the largest of the 9: a student's base
    assert evaluation["work"]["models"] == 9  # the base model, both students before and after, stages 1-4
    assert evaluation["time"]["gpu_hours_all"] == pytest.approx(evaluation["time"]["gpu_hours"] * 9, abs=0.1)
    zero = report["recipes/Qwen2.5-7B/eval_zero.yaml"]
    assert (zero["model"], zero["work"]["models"]) == ("Qwen/Qwen2.5-7B", 1)  # the R1-Zero run's own recipe


TINYZERO = "Qwen2.5-3B/tinyzero_countdown_grpo.yaml"  # 1,024-token completions after a prompt of up to 512


def test_expected_time_is_the_same_work_with_completions_of_the_mean_length():
    from r1recipes.sizing.estimate import Throughput
    from r1recipes.sizing.recipe import work_and_time

    speed = Throughput(train_tokens_per_s=1000, generate_tokens_per_s=500)
    result = checked(TINYZERO, "--mean_completion_tokens", "300", speed=speed)
    work, time = result.work, result.time
    assert (time["mean_completion_tokens"], time["mean_source"]) == (300, "recipe: mean_completion_tokens")
    assert work["generated_tokens"] == work["completions"] * 1024 and work["tokens_per_sequence"] == 512 + 1024
    expected_work, _ = work_and_time(result.sized, result.plan, OWNERS, 300)
    assert expected_work["generated_tokens"] == work["completions"] * 300 == 500 * 1024 * 300
    assert expected_work["trained_tokens"] == 500 * 1024 * (512 + 300)  # steps x completions x (prompt + mean)
    hours = (500 * 1024 * 300 / (500 * 2) + 500 * 1024 * 812 / (1000 * 2)) / 3600  # 2 GPUs
    assert time["expected_hours"] == pytest.approx(hours, abs=0.005)
    assert time["expected_gpu_hours"] == pytest.approx(hours * 2, abs=0.05)
    assert time["expected_cost_usd"] == pytest.approx(hours * 2 * 2.0, abs=0.01)
    for key in ("hours", "gpu_hours", "cost_usd"):  # the assumed rates: shorter completions, less of everything
        assert time[f"expected_{key}"] < time[key]
    full = checked(TINYZERO, "--mean_completion_tokens", "1024").time  # every completion at its longest
    assert [full[f"expected_{key}"] for key in ("hours", "gpu_hours", "cost_usd")] == [
        full[key] for key in ("hours", "gpu_hours", "cost_usd")
    ]


def test_the_mean_given_to_check_wins_over_the_recipes_and_is_capped_at_its_longest():
    given = checked(TINYZERO, "--mean_completion_tokens", "300", mean=200).time
    assert (given["mean_completion_tokens"], given["mean_source"]) == (200, "--mean_completion_tokens")
    assert given["expected_hours"] < checked(TINYZERO, "--mean_completion_tokens", "300").time["expected_hours"]
    capped = checked(TINYZERO, mean=5000).time
    assert capped["mean_completion_tokens"] == 1024
    assert capped["mean_source"] == "--mean_completion_tokens 5,000 capped at max_completion_length 1,024"
    assert capped["expected_cost_usd"] == capped["cost_usd"]
    assert checked(TINYZERO).time["mean_source"] == "recipe: mean_completion_tokens"  # the recipe states 300
    unknown = checked("Qwen2.5-7B/stage2_reasoning_grpo.yaml").time  # states none
    assert unknown["mean_completion_tokens"] is unknown["expected_hours"] is unknown["expected_cost_usd"] is None
    assert "expected_hours" not in checked(STAGE1).time  # SFT samples nothing


def test_each_sampler_refuses_a_mean_longer_than_its_completions():
    evaluation = ("Qwen2.5-3B/eval.yaml", "--model", "Qwen/Qwen2.5-3B", "--output", "runs/Qwen2.5-3B/eval")
    assert checked(*evaluation, "--mean_completion_tokens", "1024").time["mean_completion_tokens"] == 1024
    with pytest.raises(RecipeError, match=r"mean_completion_tokens must be from 1 to max_new_tokens \(1024\)"):
        checked(*evaluation, "--mean_completion_tokens", "1025")
    generation = "Qwen2.5-7B/stage3_rejection_sampling.yaml"
    longest = RecipeFile.load(RECIPES / generation).config["max_new_tokens"]
    with pytest.raises(RecipeError, match=rf"from 1 to max_new_tokens \({longest}\) tokens, got {longest + 1}"):
        checked(generation, "--mean_completion_tokens", str(longest + 1))


def test_the_expected_line_follows_the_bound_with_its_dollars_or_says_how_to_get_it(capsys):
    assert main_code("--model", "Qwen2.5-3B", "--mean_completion_tokens", "300") == 0
    out = capsys.readouterr().out
    grpo, evaluation = out.split("\n\n")[:2]
    lines = grpo.splitlines()
    expected = lines[[i for i, line in enumerate(lines) if line.startswith("  time: <= ")][0] + 1]
    assert expected.startswith("  expected: ~9.0 h on 2 GPUs = 18 GPU-h, ~$36 at $2/GPU-h, completions of 300 tokens")
    assert "(--mean_completion_tokens); training lies between this and the bound" in expected
    assert "  expected: ~0.0 h on 8 GPUs = 0.0 GPU-h, ~$0." in evaluation  # cents below $10
    assert re.search(r"all 2 evaluations: .*; expected 0\.\d GPU-h, ~\$0\.\d\d$", evaluation, re.M)
    assert "expected: every completion at the mean length given" in out  # the footer's assumptions
    assert main_code("--model", "Qwen2.5-7B") == 0  # its recipes state no mean
    out = capsys.readouterr().out
    hint = "  expected: give a typical completion length (mean_completion_tokens in the recipe, or "
    assert out.count(hint) == 6  # stages 2-4 (stage 3's generator), R1-Zero and both evaluations; not the SFTs
    assert main_code("--model", "Qwen2.5-3B", "--json", "--args", "--mean_completion_tokens 400") == 0
    recipes = {Path(r["recipe"]).stem: r["time"] for r in json.loads(capsys.readouterr().out)["recipes"]}
    assert recipes["tinyzero_countdown_grpo"]["mean_completion_tokens"] == 400
    assert recipes["eval"]["mean_completion_tokens"] == 300  # ARGS do not reach evaluations: the recipe's own


def test_one_24_gb_card_fits_the_one_card_recipes_with_an_expected_cost_beside_the_bound():
    """The issue's command: `make check MODEL=Qwen2.5-1.5B GPUS=1 GPU_MEMORY_GB=23.6`."""
    code, out = run_check("--model", "Qwen2.5-1.5B", "--gpus", "1", "--gpu_memory_gb", "23.6")
    assert code == 0, out
    for recipe in ("tinyzero_countdown_grpo", "zero_grpo"):
        block = next(b for b in out.split("\n\n") if f"Qwen2.5-1.5B/{recipe}.yaml (grpo)" in b)
        assert "1 x 23.6 GiB GPU" in block and "  FITS: " in block
        bound, expected = (
            re.search(r"  time: <= ([\d.]+) h .*~\$([\d.,]+) at", block),
            re.search(r"  expected: ~([\d.]+) h on 1 GPU = [\d.]+ GPU-h, ~\$([\d.,]+) at \$2/GPU-h", block),
        )
        assert bound and expected and float(expected[1]) < float(bound[1]) and float(expected[2]) < float(bound[2])
