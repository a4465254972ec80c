"""Sharing a stage: the cards the package writes (read back with huggingface_hub), the one-line refusals, and the
Hub calls a push makes. This machine cannot reach the Hub: `HfApi.create_repo` and `upload_folder` are recorded,
with their arguments, instead of sent."""

import json
import shutil
from pathlib import Path

import pytest
from helpers import tiny_sft_fields, write_recipe
from huggingface_hub import DatasetCard, ModelCard
from huggingface_hub.utils import filter_repo_objects

from r1recipes import RecipeError, evaluate, generate, sft
from r1recipes.data.synthetic import arithmetic_rows, write_jsonl
from r1recipes.hub import share

MODEL_REPO, DATA_REPO = "org/tiny-stage1", "org/tiny-data"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, tiny_model) -> Path:
    """runs/tiny/ as the pipeline leaves it: stage 1 trained for 3 SFT steps (checkpoints at steps 2 and 3), then
    evaluated on `arithmetic` beside the starting model, by the real evaluation code."""
    root = tmp_path_factory.mktemp("runs") / "tiny"
    data = write_jsonl(arithmetic_rows(32, seed=1), root.parent / "arithmetic.jsonl")
    fields = tiny_sft_fields(tiny_model, data, root / "stage1", save_strategy="steps", save_steps=2)
    recipe = write_recipe(root.parent / "stage1_cold_start_sft.yaml", **fields)
    sft.main(*sft.make_parser().parse(["--config", str(recipe), "--learning_rate", "2e-3"]))
    for name, model in (("base", tiny_model), ("stage1", root / "stage1")):
        argv = ["--model", str(model), "--output", str(root / "eval" / name), "--benchmarks", "arithmetic",
                "--max_problems", "4", "--num_samples", "2", "--max_new_tokens", "8"]  # fmt: skip
        evaluate.main(*evaluate.make_parser().parse(argv))
    return root


@pytest.fixture(scope="module")
def stage3_data(tmp_path_factory, tiny_model) -> Path:
    """Stage 3's output from the tiny model: its random samples are all rejected, so 3 general rows are mixed in
    to give the folder a data file."""
    folder = tmp_path_factory.mktemp("stage3")
    prompts = write_jsonl(arithmetic_rows(10, seed=5, max_value=4), folder / "prompts.jsonl")
    chat = [{"prompt": f"Say hello {i}", "response": f"Hello {i}!"} for i in range(8)]
    general = write_jsonl(chat, folder / "general.jsonl")
    fields = dict(model_name_or_path=str(tiny_model), dataset_name=str(prompts), output_dir=str(folder / "out"),
                  num_samples=2, max_new_tokens=16, prompts_per_file=5, batch_size=16, verify_processes=0,
                  non_reasoning={"path": str(general), "count": 3})  # fmt: skip
    recipe = write_recipe(folder / "stage3_rejection_sampling.yaml", **fields)
    generate.main(*generate.make_parser().parse(["--config", str(recipe)]))
    return folder / "out"


@pytest.fixture
def hub(monkeypatch):
    """Online, with a token; the Hub calls recorded (with what the folder held at upload time), not sent."""
    from huggingface_hub import HfApi, RepoUrl

    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return RepoUrl(
            f"https://huggingface.co/{'datasets/' if kwargs.get('repo_type') == 'dataset' else ''}{repo_id}"
        )

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        seen = {"complete": (folder / "stage.json").is_file(), "card": (folder / "README.md").read_text()}
        calls.append(("upload_folder", {**kwargs, **seen}))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_TOKEN", "hf_recorded_not_sent")
    return calls


def row(card_text: str, first_cell: str) -> list[str]:
    """The cells of the markdown table row that begins with `first_cell`."""
    line = next(line for line in card_text.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def uploaded(folder: Path, call: dict) -> set[str]:
    """The files `upload_folder` sends from `folder` with the call's patterns, filtered as huggingface_hub does."""
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    patterns = {key: call.get(key) for key in ("allow_patterns", "ignore_patterns")}
    return set(filter_repo_objects(files, **patterns))


def test_the_model_card_holds_the_recipe_commit_evaluation_and_how_to_reproduce(run_folder, capsys):
    stage = run_folder / "stage1"
    assert share.main([str(stage), "--card_only", "true"]) == str(stage / "README.md")
    card = ModelCard.load(stage / "README.md")
    record = json.loads((stage / "stage.json").read_text())
    recipe = record["recipe"]
    assert card.text.startswith("\n# stage1\n\nStage 1 of DeepSeek-R1: cold-start SFT")
    assert f"```yaml\n{recipe['contents'].rstrip()}\n```" in card.text
    assert f"- git commit: `{record['git_commit']}`" in card.text and record["git_commit"]
    assert f"python -m r1recipes.sft --config {recipe['path']} --learning_rate 2e-3" in card.text
    assert card.data.library_name == "transformers" and {"r1recipes", "trl", "sft"} <= set(card.data.tags)
    assert card.data.base_model is None  # the tiny model is a local folder: the Hub takes only ids there
    assert f"- `{recipe_model(record)}` (local, not an r1recipes stage)" in card.text
    assert "\n| stage1 | sft | 3 | " in card.text  # the report's training row

    for name in ("stage1", "base"):  # the report's table: the stage's row and the starting model's
        scores = json.loads((run_folder / "eval" / name / "results.json").read_text())["benchmarks"]["arithmetic"]
        assert row(card.text, name)[1].startswith(f"{100 * scores['pass@1']:.1f}% [")
    stage_scores = json.loads((run_folder / "eval/stage1/results.json").read_text())["benchmarks"]
    [result] = card.data.eval_results
    assert (result.dataset_name, result.metric_type) == ("arithmetic", "pass@1")
    assert result.metric_value == round(100 * stage_scores["arithmetic"]["pass@1"], 2)


def recipe_model(record: dict) -> str:
    return next(line.split(": ", 1)[1].strip('"').rstrip('",') for line in record["recipe"]["contents"].splitlines()
                if "model_name_or_path" in line)  # fmt: skip


def test_hub_ids_in_the_recipe_become_the_cards_metadata_and_no_evaluation_says_how_to_refresh(run_folder, tmp_path):
    """A stage trained from a Hub model on a Hub dataset (its recorded recipe names them) and not evaluated yet."""
    stage = tmp_path / "run" / "stage2"
    stage.mkdir(parents=True)
    record = json.loads((run_folder / "stage1/stage.json").read_text())
    contents = json.loads(record["recipe"]["contents"])
    contents.update(model_name_or_path="Qwen/Qwen2.5-0.5B", dataset_name="openai/gsm8k")
    record["recipe"].update(contents=json.dumps(contents), argv=[])
    record["stage"] = "stage2_reasoning_grpo"
    (stage / "stage.json").write_text(json.dumps(record))
    share.main([str(stage), "--card_only", "true", "--repo_id", "org/r1-stage2", "--license", "apache-2.0"])
    card = ModelCard.load(stage / "README.md")
    assert (card.data.base_model, card.data.datasets, card.data.license) == (
        "Qwen/Qwen2.5-0.5B", ["openai/gsm8k"], "apache-2.0"
    )  # fmt: skip
    assert card.data.eval_results is None and "model-index" not in card.content
    assert f"then rerun `python -m r1recipes.share {stage} --repo_id org/r1-stage2` to refresh this card" in card.text
    assert "- `dataset_name`: [openai/gsm8k](https://huggingface.co/datasets/openai/gsm8k) (Hub)" in card.text
    assert card.text.startswith("\n# r1-stage2\n\nStage 2 of DeepSeek-R1")


def test_the_dataset_card_holds_the_manifest_figures_and_how_to_load_it(stage3_data):
    share.main([str(stage3_data), "--card_only", "true", "--repo_id", DATA_REPO])
    card = DatasetCard.load(stage3_data / "README.md")
    manifest = json.loads((stage3_data / "manifest.json").read_text())
    assert manifest["rejected"] and manifest["files"]  # the figures below are not all empty
    totals = [str(manifest[k]) for k in ("prompts", "samples", "accepted", "kept", "non_reasoning_rows", "rows")]
    assert row(card.text, totals[0]) == totals == ["10", "20", "0", "0", "3", "3"]
    math = manifest["tasks"]["math"]
    assert row(card.text, "math")[:6] == ["math", *(str(math[k]) for k in ("prompts", "samples", "correct",
                                                                           "accepted", "kept"))]  # fmt: skip
    for reason, count in manifest["rejected"].items():
        assert row(card.text, reason) == [reason, str(count)]
    for name, file in manifest["files"].items():
        assert row(card.text, f"`data/{name}`") == [f"`data/{name}`", str(file["rows"]), str(file["bytes"]),
                                                   f"`{file['sha256']}`"]  # fmt: skip
    assert f'rows = load_dataset("{DATA_REPO}", split="train")' in card.text
    record = json.loads((stage3_data / "stage.json").read_text())
    assert f"```yaml\n{record['recipe']['contents'].rstrip()}\n```" in card.text
    assert card.data.configs == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}
    ]
    assert card.data.size_categories == ["n<1K"] and "rejection-sampling" in card.data.tags


def damaged_copy(stage3_data: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "stage3_data"
    shutil.copytree(stage3_data, copy)
    data = next((copy / "data").glob("*.parquet"))
    data.write_bytes(data.read_bytes()[:-1])
    return copy


@pytest.mark.parametrize(
    "case, expected",
    [
        ("incomplete", "error: {folder} is not a complete stage (no stage.json): finish it first"),
        ("damaged", "error: {folder}: data/non_reasoning-000000.parquet is not the file the generator wrote"),
        ("bad repo id", "error: repo id 'org/bad name' is not valid: Repo id must use alphanumeric chars"),
        ("offline", "error: HF_HUB_OFFLINE=1 forbids the Hub: unset it (or set it to 0) to push"),
        ("no token", "error: no Hugging Face token: run `hf auth login`, or set HF_TOKEN"),
    ],
)
def test_a_push_that_cannot_happen_is_one_line_before_anything_is_written_or_sent(
    case, expected, run_folder, stage3_data, tmp_path, hub, monkeypatch, capsys
):
    folder, repo = run_folder / "stage1", MODEL_REPO
    if case == "incomplete":
        folder = tmp_path / "stage2"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"")
    elif case == "damaged":
        folder = damaged_copy(stage3_data, tmp_path)
    elif case == "bad repo id":
        repo = "org/bad name"
    elif case == "offline":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_TOKEN")
        monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))
    card = folder / "README.md"
    before = card.read_text() if card.exists() else None
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        share.main([str(folder), "--repo_id", repo])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith(expected.format(folder=folder))
    assert hub == [] and (card.read_text() if card.exists() else None) == before


def test_a_push_creates_the_repo_and_uploads_the_model_without_checkpoints(run_folder, tmp_path, hub):
    stage = tmp_path / "stage1"
    shutil.copytree(run_folder / "stage1", stage)
    shutil.copytree(stage / "checkpoint-2", stage / "incomplete-checkpoint-4")  # as a killed save is set aside
    (stage / ".model.safetensors.tmp-123").write_bytes(b"half")
    assert (
        share.main([str(stage), "--repo_id", MODEL_REPO, "--private", "true"])
        == f"https://huggingface.co/{MODEL_REPO}"
    )
    (_, created), (_, upload) = hub
    assert created == {"repo_id": MODEL_REPO, "repo_type": "model", "private": True, "exist_ok": True}
    assert (upload["repo_id"], upload["repo_type"], upload["folder_path"]) == (MODEL_REPO, "model", str(stage))
    assert upload["complete"] and upload["card"].startswith("---\n") and "\n# tiny-stage1\n" in upload["card"]
    sent = uploaded(stage, upload)
    assert {"model.safetensors", "config.json", "tokenizer.json", "stage.json", "README.md"} <= sent
    assert (stage / "checkpoint-2/model.safetensors").exists() and (stage / "checkpoint-3/optimizer.pt").exists()
    assert not [name for name in sent if "checkpoint" in name or name.startswith(".")]


def test_a_push_of_stage_3s_output_is_a_dataset_of_its_data_manifest_and_card(stage3_data, tmp_path, hub):
    folder = tmp_path / "stage3_data"
    shutil.copytree(stage3_data, folder)
    share.main([str(folder), "--repo_id", DATA_REPO])
    (_, created), (_, upload) = hub
    assert created == {"repo_id": DATA_REPO, "repo_type": "dataset", "private": None, "exist_ok": True}
    assert (upload["repo_id"], upload["repo_type"]) == (DATA_REPO, "dataset")
    manifest = json.loads((folder / "manifest.json").read_text())
    expected = {"README.md", "stage.json", "manifest.json", *(f"data/{name}" for name in manifest["files"])}
    assert uploaded(folder, upload) == expected and (folder / "config.json").exists() and any(folder.glob("chunks/*"))


def test_a_recipe_with_push_to_hub_pushes_once_its_stage_is_complete(run_folder, tmp_path, hub):
    """transformers would create the repo when the trainer starts and push at every save (hub_strategy every_save):
    the stage takes the push over and pushes once, after stage.json, with its own card."""
    out = tmp_path / "run" / "stage2"
    fields = tiny_sft_fields(run_folder / "stage1", run_folder.parent / "arithmetic.jsonl", out, max_steps=2,
                             save_strategy="steps", save_steps=1, push_to_hub=True, hub_model_id="org/tiny-stage2",
                             hub_private_repo=True)  # fmt: skip
    recipe = write_recipe(tmp_path / "stage2_reasoning_sft.yaml", **fields)
    assert sft.main(*sft.make_parser().parse(["--config", str(recipe)]))["global_step"] == 2
    assert [name for name, _ in hub] == ["create_repo", "upload_folder"]
    (_, created), (_, upload) = hub
    assert (created["repo_id"], created["private"], upload["folder_path"]) == ("org/tiny-stage2", True, str(out))
    assert upload["complete"] and "Not evaluated when this card was written" in upload["card"]
    assert f"- `{run_folder / 'stage1'}`, made by stage1_cold_start_sft" in upload["card"]
    assert not [name for name in uploaded(out, upload) if name.startswith("checkpoint-")]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"hub_model_id": "org/x"}, "HF_HUB_OFFLINE=1 forbids the Hub"),
        ({}, "push_to_hub needs hub_model_id"),
    ],
)
def test_push_to_hub_that_cannot_happen_is_refused_before_anything_loads(tmp_path, tiny_model, fields, message):
    out = tmp_path / "stage1"
    data = write_jsonl(arithmetic_rows(8), tmp_path / "rows.jsonl")
    recipe = write_recipe(tmp_path / "r.yaml", **tiny_sft_fields(tiny_model, data, out, push_to_hub=True, **fields))
    with pytest.raises(RecipeError, match=message):
        sft.main(*sft.make_parser().parse(["--config", str(recipe)]))
    assert not out.exists()
