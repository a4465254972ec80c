"""Every recipe under recipes/ parses with its runner's strict parser (so none rots when TRL renames a field),
opens with a header, writes under runs/<folder>/, and names only inputs that an earlier stage produces,
the package builds, or exist."""

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig

from r1recipes import generate, grpo, sft
from r1recipes.pipeline import check_evaluation
from r1recipes.recipes import (
    ACCELERATE_CONFIGS,
    BUILT_INPUTS,
    EVALUATION,
    RecipeFile,
    model_folders,
    pipeline_recipes,
    producers,
    stage_files,
)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
STAGE_RECIPES = stage_files(RECIPES)
RUNNERS = {"sft": sft, "grpo": grpo, "generate": generate}
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
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # Hub ids are only checked offline; parsing downloads nothing
    RUNNERS[recipe.runner].make_parser().parse(["--config", str(path)])


@pytest.mark.parametrize("path", sorted(RECIPES.glob(f"*/{EVALUATION}")), ids=relative)
def test_evaluation_recipe_parses_and_opens_with_a_header(path, monkeypatch):
    text = path.read_text()
    assert text.startswith("# ") and all(f"# {key}: " in text for key in ("In", "Out", "Sized for", "Run"))
    monkeypatch.chdir(RECIPES.parent)
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
    order = pipeline_recipes(folder) if folder.name in PIPELINE_FOLDERS else []
    for key, local in RecipeFile.load(path).inputs.items():
        if local in owners:
            owner = owners[local]
            assert owner.parent == folder, f"{key} {local} comes from another folder ({owner})"
            assert owner in order and order.index(owner) < order.index(path), f"{key} {local} is made later"
        else:
            assert local in BUILT_INPUTS, f"{relative(path)}: nothing produces {key} {local}"


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
