"""Every recipe under recipes/ parses with its runner's strict parser, so none can rot when TRL renames a field."""

from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import ClusterConfig

from r1recipes import generate, grpo, sft
from r1recipes.paths import looks_local

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
STAGE_RECIPES = sorted(p for p in RECIPES.rglob("*.yaml") if "accelerate_configs" not in p.parts)
BUILT_BY_MAKE = ("runs/models/", "runs/data/")  # `make` builds these before the first stage runs


def runner_for(path: Path):
    return grpo if "grpo" in path.stem else generate if "rejection_sampling" in path.stem else sft


def test_there_are_recipes():
    assert STAGE_RECIPES


@pytest.mark.parametrize("path", STAGE_RECIPES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_recipe_parses_and_opens_with_a_header(path, tmp_path, monkeypatch):
    text = path.read_text()
    assert text.startswith("# ") and "# Run: " in text and "# In: " in text and "# Out: " in text
    config = yaml.safe_load(text)
    model = config["model_name_or_path"]
    outputs = {yaml.safe_load(p.read_text())["output_dir"] for p in path.parent.glob("*.yaml")}
    if looks_local(model):
        assert model in outputs or model.startswith(BUILT_BY_MAKE), f"nothing produces {model}"
        (tmp_path / model).mkdir(parents=True)  # stand-in for the earlier stage's output
    monkeypatch.chdir(tmp_path)
    runner_for(path).make_parser().parse(["--config", str(path)])


@pytest.mark.parametrize("path", sorted((RECIPES / "accelerate_configs").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_config_loads(path):
    assert ClusterConfig.from_yaml_file(str(path)).num_processes >= 1
