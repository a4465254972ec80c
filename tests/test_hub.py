"""Hub ids in recipes: offline is the tests' and the demo's choice, not a default; an id that does not exist
fails in one line before anything loads; an unreachable Hub is left to the loader (it may have a cache)."""

from pathlib import Path

import pytest
from test_hardware import GPU_NODE

from r1recipes import RecipeError
from r1recipes.config.recipes import RecipeFile
from r1recipes.pipeline import check_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub(monkeypatch):
    """The Hub's answers by id, recorded instead of asked (None: unreachable)."""
    answers: dict[str, bool | None] = {}
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(
        "r1recipes.config.paths.hub_repo_exists", lambda name, kind: answers.get(f"{kind}:{name}", True)
    )
    return answers


def test_offline_an_uncached_model_says_how_to_go_online(monkeypatch):
    from r1recipes.config.paths import check_model_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RecipeError) as error:
        check_model_path("Qwen/Qwen2.5-7B")
    assert str(error.value) == (
        "model 'Qwen/Qwen2.5-7B' is not a local path and not in the Hub cache, and HF_HUB_OFFLINE=1 forbids the "
        "Hub: unset HF_HUB_OFFLINE (or set it to 0) to download it"
    )


@pytest.mark.parametrize("kind", ["model", "dataset"])
def test_an_id_that_does_not_exist_fails_in_one_line(hub, kind):
    from r1recipes.config.paths import check_dataset_path, check_model_path

    hub[f"{kind}:org/typo"] = False
    check = check_model_path if kind == "model" else check_dataset_path
    with pytest.raises(RecipeError, match=f"^{kind} 'org/typo' does not exist on the Hub \\(a typo\\?"):
        check("org/typo")
    hub[f"{kind}:org/typo"] = None  # unreachable: not this id's fault
    check("org/typo")


def test_a_local_looking_dataset_is_left_to_the_loader(hub):
    from r1recipes.config.paths import check_dataset_path

    hub["dataset:runs/data/x.jsonl"] = False
    check_dataset_path("runs/data/x.jsonl")  # not asked: a file a stage may make first


def test_the_pipeline_checks_every_hub_id_of_the_run_before_anything_starts(hub, monkeypatch):
    """Stage 4's reward model is checked when stage 1 is about to start, not after three stages."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("r1recipes.config.hardware.machine", lambda: GPU_NODE)
    paths = sorted((ROOT / "recipes/Qwen2.5-7B").glob("stage*.yaml"))
    recipes = [RecipeFile.load(p.relative_to(ROOT)) for p in paths]
    hub["model:Skywork/Skywork-Reward-V2-Llama-3.1-8B"] = False
    with pytest.raises(RecipeError) as error:
        check_run(recipes)
    assert str(error.value) == (
        "recipes/Qwen2.5-7B/stage4_all_scenario_grpo.yaml: reward_kwargs.reward_model.model_name_or_path: model "
        "'Skywork/Skywork-Reward-V2-Llama-3.1-8B' does not exist on the Hub (a typo? a private or gated one needs "
        "`hf auth login` or HF_TOKEN)"
    )
