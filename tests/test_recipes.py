"""Every recipe under recipes/ parses with its runner's strict parser (so none rots when TRL renames a field),
opens with a header, writes under runs/<folder>/, and names only inputs that an earlier stage produces,
the package builds, or exist."""

import re
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig

from r1recipes import generate, grpo, sft
from r1recipes.config.hardware import Machine, gpu_features, sizing, wants_vllm
from r1recipes.config.recipes import (
    ACCELERATE_CONFIGS,
    BUILT_INPUTS,
    EVALUATION,
    RecipeFile,
    folder_recipes,
    model_folders,
    prerequisites,
    producers,
    stage_files,
)
from r1recipes.pipeline import check_evaluation

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
STAGE_RECIPES = stage_files(RECIPES)
RUNNERS = {"sft": sft, "grpo": grpo, "generate": generate}
GPU_NODE = Machine(cuda_gpus=8, torch_version="2.13.0", torch_cuda="13.0", vllm=True)
PIPELINE_FOLDERS = [f for f in model_folders(RECIPES) if (RECIPES / f / "stage1_cold_start_sft.yaml").exists()]


def relative(path: Path) -> str:
    return str(path.relative_to(RECIPES))


def test_the_required_folders_are_there():
    assert {"Qwen2.5-7B", "Qwen2.5-3B", "SmolLM2-135M", "midtrain", "tiny"} <= set(model_folders(RECIPES))
    assert {"Qwen2.5-7B", "SmolLM2-135M", "tiny"} <= set(PIPELINE_FOLDERS)
    for name in ("distill_Qwen2.5-Math-1.5B", "distill_Llama-3.1-8B", "zero_grpo"):
        assert (RECIPES / "Qwen2.5-7B" / f"{name}.yaml").exists()
    assert (RECIPES / "Qwen2.5-3B" / "tinyzero_countdown_grpo.yaml").exists()


@pytest.mark.parametrize("path", STAGE_RECIPES, ids=relative)
def test_recipe_parses_and_opens_with_a_header(path, tmp_path, monkeypatch):
    text = path.read_text()
    assert text.startswith("# ") and all(f"# {key}: " in text for key in ("In", "Out", "Sized for", "Run"))
    recipe = RecipeFile.load(path)
    assert recipe.output_dir.startswith(f"runs/{path.parent.name}/")
    for local in recipe.inputs.values():  # stand-ins for earlier stages' outputs and built inputs
        (tmp_path / local).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    # online, with the Hub's answers recorded instead of asked; a GPU recipe parses as on its GPU machine
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    asked = []
    monkeypatch.setattr(
        "r1recipes.config.paths.hub_repo_exists", lambda name, kind: asked.append((name, kind)) or True
    )
    monkeypatch.setattr("r1recipes.config.hardware.machine", lambda: GPU_NODE)
    RUNNERS[recipe.runner].make_parser().parse(["--config", str(path)])
    assert sorted(asked) == sorted(set(recipe.hub_ids.values())), "every Hub id the recipe reads is checked"


def gpu_recipe(recipe: RecipeFile) -> bool:
    return bool(gpu_features(recipe.config))


GPU_RECIPES = [p for p in STAGE_RECIPES if gpu_recipe(RecipeFile.load(p))]


def test_the_gpu_recipes_are_the_ones_sized_for_gpus():
    folders = {p.parent.name for p in GPU_RECIPES}
    assert folders == {"Qwen2.5-7B", "Qwen2.5-3B", "Qwen2.5-3B-80GB", "Qwen2.5-1.5B", "midtrain", "gpu-smoke"}
    assert len(GPU_RECIPES) == len([p for p in STAGE_RECIPES if p.parent.name in folders])


@pytest.mark.parametrize("path", [p for p in GPU_RECIPES if RecipeFile.load(p).runner != "generate"], ids=relative)
def test_a_gpu_training_recipe_states_its_hardware_and_bounds_its_checkpoints(path):
    """The processes and launch config are keys the code reads, matching the header; checkpoints are bounded
    and the header says what one weighs."""
    config, text = RecipeFile.load(path).config, path.read_text()
    processes = config["num_processes"]
    assert f"x {processes} H100" in text or f"# Sized for: {processes} GPU of " in text  # a node's, or one card's
    assert f"# Batch: {processes} GPU{'s' if processes > 1 else ''} x " in text
    if processes > 1 or "accelerate" in config:  # one process runs without a launcher (pipeline.launch_command)
        assert (RECIPES / ACCELERATE_CONFIGS / f"{config['accelerate']}.yaml").exists()
    assert config["save_total_limit"] >= 1
    weight = re.search(r"# Checkpoints: ~(\d+(?:\.\d+)?) GB each", text)
    assert weight and float(weight[1]) > 0
    assert "ACCELERATE=" not in text and "NUM_PROCESSES=" not in text  # `make` reads them from the recipe


@pytest.mark.parametrize("path", [p for p in GPU_RECIPES if wants_vllm(RecipeFile.load(p).config)], ids=relative)
def test_vllm_context_is_bounded_by_the_recipe_lengths(path):
    """Unbounded, vLLM sizes its KV cache for the model's whole context (131,072 positions for Qwen2.5)."""
    config = RecipeFile.load(path).config
    if RecipeFile.load(path).runner == "grpo":
        context, completion = config["vllm_max_model_length"], config["max_completion_length"]
    else:
        context, completion = config["max_model_length"], config["max_new_tokens"]
    assert completion + 512 <= context <= completion + 4096, "room for a prompt, and no more than a long one needs"


@pytest.mark.parametrize(
    "path", sorted({*RECIPES.glob(f"*/{EVALUATION}"), *RECIPES.glob("*/eval_*.yaml")}), ids=relative
)
def test_evaluation_recipe_parses_and_opens_with_a_header(path, monkeypatch):
    text = path.read_text()
    assert text.startswith("# ") and all(f"# {key}: " in text for key in ("In", "Out", "Sized for", "Run"))
    monkeypatch.chdir(RECIPES.parent)
    if RecipeFile.load(path).config.get("backend") == "vllm":  # a GPU recipe: parsed as `make check` parses it
        with sizing(1):
            check_evaluation(path.relative_to(RECIPES.parent))
    else:
        check_evaluation(path.relative_to(RECIPES.parent))  # as `make pipeline` does before anything starts


def test_the_demo_folders_evaluate_every_stage():
    assert {p.parent.name for p in RECIPES.glob(f"*/{EVALUATION}")} >= {"SmolLM2-135M", "tiny"}


def test_no_two_recipes_write_to_the_same_place():
    owners = producers(RECIPES)
    assert len(owners) == len(STAGE_RECIPES)


@pytest.mark.parametrize("path", STAGE_RECIPES, ids=relative)
def test_every_input_is_produced_earlier_built_or_a_hub_id(path):
    owners = producers(RECIPES)
    folder = path.parent
    order = folder_recipes(folder)
    for key, local in RecipeFile.load(path).inputs.items():
        if local in owners:
            owner = owners[local]
            if owner.parent == folder:
                assert owner in order and order.index(owner) < order.index(path), f"{key} {local} is made later"
            else:  # the RL demo starts from the SmolLM2 demo's stage 1: `make pipeline` runs it first
                assert folder.name not in PIPELINE_FOLDERS, f"{key} {local} comes from another folder ({owner})"
                assert owner in prerequisites(order, RECIPES)
        else:
            assert local in BUILT_INPUTS, f"{relative(path)}: nothing produces {key} {local}"


def test_prerequisites_come_before_their_readers_and_a_cycle_ends(tmp_path):
    """Recipes of other folders a run reads, in the order to run them; two recipes reading each other's outputs
    (a mistake the checks refuse later) must not recurse for ever."""

    def recipe(name: str, model: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"model_name_or_path: {model}\noutput_dir: runs/{name.removesuffix('.yaml')}\n")
        return path

    first = recipe("a/stage1_cold_start_sft.yaml", "runs/models/tiny")
    second = recipe("a/stage2_reasoning_grpo.yaml", "runs/a/stage1_cold_start_sft")
    reader = recipe("b/stage2_reasoning_grpo.yaml", "runs/a/stage2_reasoning_grpo")
    assert prerequisites([reader], tmp_path) == [first, second]
    assert prerequisites([second], tmp_path) == [first]
    assert prerequisites([first, second], tmp_path) == []
    one = recipe("c/x_grpo.yaml", "runs/d/y_sft")
    other = recipe("d/y_sft.yaml", "runs/c/x_grpo")
    assert prerequisites([one], tmp_path) == [other]
    assert prerequisites([recipe("e/z_grpo.yaml", "runs/c/x_grpo")], tmp_path) == [other, one]


@pytest.mark.parametrize("model", PIPELINE_FOLDERS)
def test_stages_chain_as_in_r1(model):
    """Stage 2 starts from stage 1; stage 3 samples with stage 2 and fine-tunes the *base* model; stage 4
    starts from stage 3's model; every student learns from the stage 3 data."""
    folder = RECIPES / model
    config = {p.stem: RecipeFile.load(p) for p in folder.glob("*.yaml")}
    stage1, stage2 = config["stage1_cold_start_sft"], config["stage2_reasoning_grpo"]
    sampling, stage3 = config["stage3_rejection_sampling"], config["stage3_sft"]
    stage4 = config["stage4_all_scenario_grpo"]
    base = stage1.config["model_name_or_path"]
    assert stage2.config["model_name_or_path"] == stage1.output_dir
    assert sampling.config["model_name_or_path"] == stage2.output_dir
    assert stage3.config["model_name_or_path"] == base
    assert stage3.config["dataset_name"] == sampling.output_dir
    assert stage4.config["model_name_or_path"] == stage3.output_dir
    assert set(stage4.config["reward_funcs"]) >= {"reward_model"}
    students = list(folder.glob("distill_*.yaml"))
    assert students
    for student in students:
        recipe = RecipeFile.load(student)
        assert recipe.config["dataset_name"] == sampling.output_dir
        assert recipe.config["model_name_or_path"] != base
    if "zero_grpo" in config:
        assert config["zero_grpo"].config["model_name_or_path"] == base
        assert config["zero_grpo"].config["prompt_format"] == "r1_zero"


@pytest.mark.parametrize("path", sorted((RECIPES / ACCELERATE_CONFIGS).glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_config_loads(path):
    assert path.read_text().startswith("# ")
    assert ClusterConfig.from_yaml_file(str(path)).num_processes >= 1
