"""Model and dataset cards for a finished stage folder, written with huggingface_hub's card classes.

Everything a card says is read from the folder and its run: `stage.json` (the recipe's contents and flags as the
stage ran them, the git commit, the metrics), `trainer_state.json`, `config.json`, stage 3's `manifest.json`, and
the evaluation the pipeline leaves in `runs/<run>/eval/<stage>/results.json` (and `eval/base/` for the starting
model). Nothing is asked of the Hub. The tables are the report's (`report.py`), so the card and
`report.md` show the same numbers the same way.

A model's lineage is followed through the `stage.json` of each local model folder it was trained from (paths as
the stage read them: relative ones from the repository root, where `make` runs), down to the model the chain
started from; that model is the card's `base_model` when it is a Hub id (the Hub accepts only ids there).
"""

import json
import shlex
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from r1recipes import RecipeError, __version__
from r1recipes.config.paths import LOCAL_FORMATS, looks_local
from r1recipes.config.recipes import DISTILL, RecipeFile
from r1recipes.evaluation.benchmarks import BENCHMARKS
from r1recipes.evaluation.report import NONE, TRAINING_HEADER, eval_section, table, training_row
from r1recipes.evaluation.results import EVAL, RESULTS
from r1recipes.files import STAGE_FILE
from r1recipes.generation.output import OutputDir

CARD = "README.md"  # the file the Hub shows as a repository's card
BASE = "base"  # the starting model's evaluation folder, as the report names it
ROLES = {  # a recipe's name -> its place in DeepSeek-R1's pipeline (sections of the R1 report)
    "stage1_cold_start_sft": "Stage 1 of DeepSeek-R1: cold-start SFT on long chains of thought (R1 report §2.3.1)",
    "stage2_reasoning_grpo": "Stage 2 of DeepSeek-R1: reasoning-oriented RL with GRPO on rule rewards (§2.3.2)",
    "stage3_rejection_sampling": "Stage 3 of DeepSeek-R1, its data: rejection sampling from the stage 2 model "
    "(§2.3.3)",
    "stage3_sft": "Stage 3 of DeepSeek-R1: SFT of the base model on the rejection-sampled and general data (§2.3.3)",
    "stage4_all_scenario_grpo": "Stage 4 of DeepSeek-R1: RL for all scenarios, rule rewards and a reward model "
    "(§2.3.4)",
    "zero_grpo": "DeepSeek-R1-Zero: GRPO straight from the base model, no SFT (§2.2)",
    "tinyzero_countdown_grpo": "An R1-Zero run in TinyZero's style: GRPO on countdown from the base model",
}
TRAINERS = {"sft": "TRL's SFTTrainer", "grpo": "TRL's GRPOTrainer", "generate": "r1recipes.generate"}
VERSIONS = ("torch", "transformers", "trl", "datasets", "huggingface_hub")


def read_stage(folder: Path) -> dict:
    """The folder's `stage.json`; one RecipeError when the stage is not complete."""
    path = Path(folder) / STAGE_FILE
    if not Path(folder).is_dir():
        raise RecipeError(f"{folder} is not a directory")
    if not path.is_file():
        raise RecipeError(f"{folder} is not a complete stage (no {STAGE_FILE}): finish it first")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecipeError(f"{path}: not readable as JSON ({exc})") from None


def recipe_of(record: dict) -> RecipeFile:
    """The recipe as the stage ran it: the contents `stage.json` recorded (the file may have changed since), with
    the run's command-line flags on top, read by `RecipeFile` as `make` reads recipes."""
    recipe = record.get("recipe") or {}
    argv = without_config(recipe.get("argv") or [])
    return RecipeFile.from_text(Path(recipe.get("path") or "recipe.yaml"), recipe.get("contents") or "", argv)


def without_config(argv: list[str]) -> list[str]:
    """A runner's flags without `--config PATH`."""
    argv = list(argv)
    if "--config" in argv:
        at = argv.index("--config")
        del argv[at : at + 2]
    return argv


def is_hub_id(name: str) -> bool:
    return not looks_local(name, (".gguf", *LOCAL_FORMATS))


def lineage(model: str) -> list[tuple[str, str | None]]:
    """[(model, the stage that made it, or None)] from a stage's model back to the model the chain started from."""
    chain, seen = [], set()
    while model and model not in seen:
        seen.add(model)
        path = Path(model) / STAGE_FILE
        record = json.loads(path.read_text()) if not is_hub_id(model) and path.is_file() else None
        chain.append((model, record and record.get("stage")))
        model = record and recipe_of(record).config.get("model_name_or_path")
    return chain


def results_of(folder: Path, name: str) -> dict | None:
    """`results.json` of the evaluation named `name` in the run the stage folder belongs to, if there is one."""
    path = Path(folder).parent / EVAL / name / RESULTS
    return json.loads(path.read_text()) if path.is_file() else None


def versions() -> str:
    found = []
    for package in VERSIONS:
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return f"r1recipes {__version__}, " + ", ".join(found)


def reproduce_lines(record: dict, recipe: RecipeFile) -> list[str]:
    """How to run the stage again: the commit, then the command it ran, with its flags."""
    runner, argv = record.get("runner", "sft"), (record.get("recipe") or {}).get("argv") or []
    world = record.get("world_size") or 1
    launch = f"accelerate launch --num_processes {world} -m" if world > 1 else "python -m"
    config = recipe.config.get("accelerate")
    note = f" (the recipe's `accelerate: {config}` names its launch config)" if config else ""
    commit = record.get("git_commit")
    lines = ["```bash"]
    if commit:
        lines.append(f"git checkout {commit}")
    lines += ["make install", f"{launch} r1recipes.{runner} {shlex.join(argv)}".rstrip(), "```", ""]
    if record.get("git_dirty"):
        lines.append(
            "The stage ran with uncommitted changes in the repository: the commit alone may not reproduce it."
        )
    return [*lines, f"Run from the repository root{note}; a stage folder with `{STAGE_FILE}` is skipped by a rerun."]


def provenance_lines(record: dict) -> list[str]:
    commit = record.get("git_commit") or "unknown"
    dirty = " (with uncommitted changes)" if record.get("git_dirty") else ""
    return [
        f"- git commit: `{commit}`{dirty}",
        f"- started {record.get('started_at')}, finished {record.get('finished_at')}",
        f"- installed where this card was written: {versions()} (`{STAGE_FILE}` does not record versions)",
    ]


def sources_lines(recipe: RecipeFile) -> list[str]:
    """Every dataset the recipe read, by the key that names it."""
    data = {key: value for key, (value, kind) in recipe.hub_ids.items() if kind == "dataset"}
    data.update({key: path for key, path in recipe.inputs.items() if not key.endswith("model_name_or_path")})
    lines = [f"- `{key}`: {describe(value)}" for key, value in sorted(data.items())]
    return lines or ["- none named in the recipe"]


def describe(name: str) -> str:
    return f"[{name}](https://huggingface.co/datasets/{name}) (Hub)" if is_hub_id(name) else f"`{name}` (local)"


def recipe_block(record: dict) -> list[str]:
    recipe = record.get("recipe") or {}
    flags = without_config(recipe.get("argv") or [])
    return [
        f"`{recipe.get('path') or 'no recipe file'}`, as the stage ran it"
        + (f", with the flags `{shlex.join(flags)}`:" if flags else ":"),
        "",
        "```yaml",
        (recipe.get("contents") or "").rstrip(),
        "```",
    ]


def lineage_lines(chain: list[tuple[str, str | None]]) -> list[str]:
    lines = []
    for model, stage in chain:
        made = (
            f", made by {stage}" if stage else (" (Hub)" if is_hub_id(model) else " (local, not an r1recipes stage)")
        )
        lines.append(f"- `{model}`{made}")
    return lines


def eval_results(results: dict) -> list[EvalResult]:
    """pass@1 (percent) per benchmark, for the card's `model-index`."""
    found = []
    for name, scores in sorted(results.get("benchmarks", {}).items()):
        hub = BENCHMARKS[name].hub if name in BENCHMARKS else None
        found.append(
            EvalResult(
                task_type="text-generation",
                dataset_type=hub[0] if hub else name,
                dataset_name=name,
                dataset_config=hub[1] if hub else None,
                dataset_split=hub[2] if hub else None,
                metric_type="pass@1",
                metric_name=f"pass@1 (%, {results.get('config', {}).get('num_samples')} samples per problem)",
                metric_value=round(100 * scores["pass@1"], 2),
            )
        )
    return found


def model_card(folder: Path, record: dict, repo_id: str | None = None, license: str | None = None) -> ModelCard:
    """The card of a trained stage's folder, from its `stage.json` (`record`)."""
    recipe = recipe_of(record)
    name, runner = record.get("stage") or folder.name, record.get("runner", "?")
    title = repo_id.split("/")[-1] if repo_id else folder.name
    chain = lineage(recipe.config.get("model_name_or_path", ""))
    origin = chain[-1][0] if chain else None
    results = results_of(folder, folder.name)
    state_path = folder / "trainer_state.json"
    log = json.loads(state_path.read_text()).get("log_history", []) if state_path.is_file() else []
    config_path = folder / "config.json"
    saved_with = json.loads(config_path.read_text()).get("transformers_version") if config_path.is_file() else None

    data = ModelCardData(
        base_model=origin if origin and is_hub_id(origin) else None,
        datasets=sorted(value for value, kind in recipe.hub_ids.values() if kind == "dataset") or None,
        library_name="peft" if (folder / "adapter_config.json").is_file() else "transformers",
        license=license,
        pipeline_tag="text-generation",
        tags=["r1recipes", "trl", runner, "deepseek-r1", "reasoning"],
        model_name=title,
        eval_results=eval_results(results) if results else None,
    )
    role = ROLES.get(name) or (
        "Distillation (R1 report §2.4): SFT of a smaller student on the stage 3 data"
        if name.startswith(DISTILL)
        else f"A `{runner}` stage"
    )
    lines = [f"# {title}", "", f"{role}, trained with r1recipes over {TRAINERS.get(runner, runner)}."]
    lines += ["", f"Recipe `{name}`; trained from `{chain[0][0] if chain else '?'}`."]
    lines += ["", "## Evaluation", ""]
    if results:
        named = {BASE: base} if (base := results_of(folder, BASE)) else {}
        lines += [
            *eval_section({**named, folder.name: results}),
            "",
            f"From `{EVAL}/{folder.name}/{RESULTS}` of the run.",
        ]
    else:
        lines += [
            f"Not evaluated when this card was written (no `{folder.parent / EVAL / folder.name / RESULTS}`). "
            f"Evaluate it (`make eval MODEL_PATH={folder}`), then rerun `python -m r1recipes.share {folder} --repo_id "
            f"{repo_id or 'ORG/NAME'}` to refresh this card.",
        ]
    lines += ["", "## Training", "", *table(TRAINING_HEADER, [training_row(folder.name, record, log)])]
    metrics = {**record.get("metrics", {}), **{f"final {k}": v for k, v in record.get("final_log", {}).items()}}
    if metrics:
        lines += ["", *table(["metric", "value"], [[key, f"{value}"] for key, value in metrics.items()])]
    lines += ["", f"Steps: {record.get('global_step')}; processes: {record.get('world_size')}."]
    if record.get("resumed_from"):
        lines.append(f"Resumed from `{record['resumed_from']}`.")
    lines += ["", "## Model lineage", "", *lineage_lines(chain)]
    lines += ["", "## Data", "", *sources_lines(recipe)]
    lines += ["", "## Recipe", "", *recipe_block(record)]
    lines += ["", "## Provenance", "", *provenance_lines(record)]
    if saved_with:
        lines.append(f"- weights saved by transformers {saved_with}")
    lines += ["", "## Reproduce", "", *reproduce_lines(record, recipe), ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))


def size_category(rows: int) -> str:
    """The Hub's size bucket for a row count."""
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < bound:
            return label
    return "1M<n<10M" if rows < 10_000_000 else "10M<n<100M"


def _rate(value) -> str:
    return NONE if value is None else f"{value:.0%}"


def _tokens(value) -> str:
    return NONE if value is None else f"{value:.0f}"


def manifest_lines(manifest: dict) -> list[str]:
    """The manifest's figures as tables: totals, per task, rejections per filter, files."""
    totals = [[str(manifest[key]) for key in ("prompts", "samples", "accepted", "kept", "non_reasoning_rows", "rows")]]
    lines = [*table(["prompts", "samples", "accepted", "kept", "non-reasoning rows", "rows"], totals)]
    per_task = [
        [task, *(str(t[k]) for k in ("prompts", "samples", "correct", "accepted", "kept")),
         *(_rate(t[k]) for k in ("correct_rate", "acceptance_rate", "prompt_yield")), _tokens(t["mean_kept_tokens"])]
        for task, t in manifest["tasks"].items()
    ]  # fmt: skip
    header = [
        "task",
        "prompts",
        "samples",
        "correct",
        "accepted",
        "kept",
        "correct rate",
        "acceptance",
        "prompt yield",
    ]
    lines += ["", "Per task (acceptance: correct and readable, of the samples):", ""]
    lines += table([*header, "mean kept tokens"], per_task)
    rejected = [[name, str(n)] for name, n in manifest["rejected"].items()]
    lines += ["", "Rejected samples, per reason (a sample may fail several filters):", ""]
    lines += table(["reason", "samples"], rejected) if rejected else ["none"]
    if manifest.get("dropped"):
        lines += ["", "Dropped: " + ", ".join(f"{name} {n}" for name, n in manifest["dropped"].items())]
    files = [
        [f"`data/{name}`", str(f["rows"]), str(f["bytes"]), f"`{f['sha256']}`"]
        for name, f in manifest["files"].items()
    ]
    lines += ["", "## Files", "", *(table(["file", "rows", "bytes", "sha256"], files) if files else ["No rows kept."])]
    return lines


def dataset_card(
    folder: Path, record: dict, manifest: dict, repo_id: str | None = None, license: str | None = None
) -> DatasetCard:
    """The card of stage 3's output, from its `stage.json` (`record`) and verified `manifest`."""
    recipe = recipe_of(record)
    title = repo_id.split("/")[-1] if repo_id else folder.name
    chain = lineage(recipe.config.get("model_name_or_path", ""))
    data = DatasetCardData(
        pretty_name=title,
        license=license,
        task_categories=["text-generation"],
        size_categories=[size_category(manifest["rows"])],
        tags=["r1recipes", "rejection-sampling", "reasoning", "synthetic", "deepseek-r1"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
    )
    sampler = chain[0][0] if chain else "?"
    lines = [f"# {title}", "", f"{ROLES['stage3_rejection_sampling']}, written by r1recipes.generate."]
    lines += [
        "",
        f"`{sampler}` sampled {manifest['samples']} answers to {manifest['prompts']} prompts; rule verifiers (the "
        f"rewards GRPO trains with) and readability filters kept {manifest['kept']}, and "
        f"{manifest['non_reasoning_rows']} general rows were mixed in: {manifest['rows']} rows, each a `messages` "
        "conversation with its provenance (prompt_id, task, sample_index, num_correct, completion_tokens, reward, "
        "verifier, ...).",
    ]
    load = f'load_dataset("{repo_id}", split="train")' if repo_id else 'load_dataset(REPO_ID, split="train")'
    lines += ["", "## Load", "", "```python", "from datasets import load_dataset", "", f"rows = {load}", "```"]
    lines += [
        "",
        f'Locally: `load_dataset("parquet", data_dir="{folder}/data")`, or `dataset_name: {folder}` in a recipe '
        f"(checked against `manifest.json` first). A downloaded copy holds `{STAGE_FILE}` and `manifest.json` too, so "
        "a recipe can read it the same way.",
    ]
    lines += ["", "## Figures", "", *manifest_lines(manifest)]
    lines += ["", "## Sampling model", "", *lineage_lines(chain)]
    lines += ["", "## Prompts", "", *sources_lines(recipe)]
    lines += ["", "## Recipe", "", *recipe_block(record)]
    lines += ["", "## Provenance", "", *provenance_lines(record)]
    lines += ["", "## Reproduce", "", *reproduce_lines(record, recipe), ""]
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))


def write_card(folder: Path, repo_id: str | None = None, license: str | None = None) -> str:
    """Write the folder's card (README.md) and return the kind of Hub repository it belongs in: "dataset" for stage
    3's output (refused, naming the file, when its data are not those its manifest lists), else "model"."""
    folder = Path(folder)
    record = read_stage(folder)
    if record.get("runner") == "generate":
        kind, card = "dataset", dataset_card(folder, record, OutputDir(folder).verify(), repo_id, license)
    else:
        kind, card = "model", model_card(folder, record, repo_id, license)
    card.save(folder / CARD)
    return kind
