"""A run's report: one evaluation table, a training summary and plots, as RUN_DIR/report.md.

    python -m r1recipes.report runs/SmolLM2-135M [--output runs/SmolLM2-135M/report.md] [--reference NAME]
    python -m r1recipes.report runs/eval/deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B   (one evaluation folder)

Reads what the stages and `python -m r1recipes.evaluate` left in the run folder: `<stage>/stage.json`,
`<stage>/trainer_state.json` and `eval/<name>/results.json`. Anything missing is named in the report, not an
error; a folder with no complete stage and no evaluation results is one. Plots go in `plots/` beside the
report. The expected stages are those of `recipes/<basename of RUN_DIR>/` when that folder exists (run from the
repository root: stages 1-4 and students, the outputs `make pipeline` writes), else stages 1-4; so are the pairs
of the learning signal, each trained stage against the model it starts from (`compared_with`). A folder with a
results.json of its own is one evaluation (evaluate's --output, e.g. of a Hub model): its report has the
evaluation, the published figures and the plot, no stages. Published figures (`reference.py`, R1's Table 5) go
beside an evaluation of one of the table's models, or beside every evaluation with `--reference NAME`.
"""

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from r1recipes import RecipeError
from r1recipes.config.recipes import (
    DISTILL,
    PIPELINE,
    RECIPES,
    START,
    RecipeFile,
    folder_recipes,
    stage_files,
    starting_points,
)
from r1recipes.evaluation.paired import Evaluation, compare, difference_cell, read_evaluation
from r1recipes.evaluation.plots import pass_at_1_plot, stage_plot
from r1recipes.evaluation.reference import load as load_reference
from r1recipes.evaluation.reference import reference_section
from r1recipes.evaluation.results import EVAL, RESULTS
from r1recipes.files import STAGE_FILE, write_atomically

PLOTS, TRAINER_STATE = "plots", "trainer_state.json"
ORDER = ("base", "stage1", "stage2", "stage3_data", "stage3", "stage4")  # then distill_*, then LATE, then others
LATE = ("zero", "tinyzero")
NONE = "–"


def order(name: str) -> tuple:
    """Pipeline order: base, stages 1-4, students by name, R1-Zero runs, anything else by name; `<name>_start` (a
    student before distillation) just before `<name>`."""
    own = name.removesuffix(START)
    after = int(own == name)
    if own in ORDER:
        return 0, ORDER.index(own), "", after
    if own.startswith(DISTILL):
        return 1, 0, own, after
    return (2, LATE.index(own), "", after) if own in LATE else (3, 0, own, after)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecipeError(f"{path}: not readable as JSON ({exc})") from None


@dataclass
class Run:
    folder: Path
    expected: list[str]  # stage folders the run should end up with
    present: list[str]  # stage folders it has, complete or not
    stages: dict[str, dict]  # complete stage -> its stage.json
    logs: dict[str, list]  # stage -> trainer_state.json's log_history
    results: dict[str, dict]  # evaluated name (base, a stage, a student's <name>_start) -> results.json
    single: bool = False  # one evaluation folder, not a run
    starts: dict[str, str] = field(default_factory=dict)  # trained stage -> the evaluation of the model it starts from


def expected_stages(folder: Path) -> list[str]:
    """The outputs of `make pipeline` for the recipe folder of the run's name (stages 1-4 and students), or of
    every recipe there when it has no pipeline (a TinyZero folder); stages 1-4 without a recipe folder."""
    recipes = RECIPES / folder.name
    if not recipes.is_dir():
        return list(PIPELINE)
    return [Path(RecipeFile.load(path).output_dir).name for path in folder_recipes(recipes)]


CHAIN = {"stage1": "base", "stage2": "stage1", "stage3": "stage1", "stage4": "stage3"}  # R1's, by stage name


def compared_with(folder: Path) -> dict[str, str]:
    """Each trained stage -> the evaluation of the model it starts from, from the recipes of
    `recipes/<basename of folder>/` (`starting_points`: stage 1 against base, 2 against 1, 3 against 1, 4 against
    3, a student against its own starting model, an R1-Zero run against base). Without that folder, R1's chain by
    stage name (`CHAIN`); `start_of` gives a student `<name>_start` and anything else base."""
    recipes = RECIPES / folder.name
    if not recipes.is_dir():
        return dict(CHAIN)
    listed = folder_recipes(recipes)
    paths = listed + [path for path in stage_files(recipes) if path not in listed]  # R1-Zero beside the pipeline
    return {name: start for name, (start, _) in starting_points([RecipeFile.load(p) for p in paths]).items()}


def start_of(run: Run, name: str) -> str:
    """The evaluation a trained stage is compared with (`compared_with`)."""
    if name in run.starts:
        return run.starts[name]
    return name + START if name.startswith(DISTILL) else "base"


def collect(folder: Path) -> Run:
    """Everything the report needs, read before anything is written."""
    if not folder.is_dir():
        raise RecipeError(f"run folder {folder} {'is not a directory' if folder.exists() else 'does not exist'}")
    if (folder / RESULTS).is_file():  # evaluate's --output itself, e.g. runs/eval/<Hub model>
        return Run(folder, [], [], {}, {}, {folder.name: _read_json(folder / RESULTS)}, single=True)
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in (EVAL, PLOTS))
    stages = {p.name: s for p in subfolders if (s := _read_json(p / STAGE_FILE)) is not None}
    states = {p.name: _read_json(p / TRAINER_STATE) for p in subfolders}
    results = {p.parent.name: _read_json(p) for p in sorted((folder / EVAL).glob(f"*/{RESULTS}"))}
    if not stages and not results:
        raise RecipeError(f"{folder}: no complete stage ({STAGE_FILE}) and no evaluation results ({EVAL}/*/{RESULTS})")
    logs = {name: state.get("log_history", []) for name, state in states.items() if state}
    present = [p.name for p in subfolders]
    return Run(folder, expected_stages(folder), present, stages, logs, results, starts=compared_with(folder))


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f}"


def eval_cell(scores: dict) -> str:
    """`41.2% [37.0, 45.5] · 512 tok`: pass@1, its 95% CI, the mean completion length in tokens."""
    cell = f"{_percent(scores['pass@1'])}%"
    ci = scores.get("ci95", {}).get("pass@1")
    if ci:
        cell += f" [{_percent(ci[0])}, {_percent(ci[1])}]"
    if scores.get("mean_length") is not None:
        cell += f" · {scores['mean_length']:.0f} tok"
    return cell


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header), *rows]]


def eval_section(results: dict[str, dict], label: str = "stage") -> list[str]:
    benchmarks = sorted({b for r in results.values() for b in r.get("benchmarks", {})})
    rows = []
    for name in sorted(results, key=order):
        scores = results[name].get("benchmarks", {})
        rows.append([name, *(eval_cell(scores[b]) if b in scores else NONE for b in benchmarks)])
    settings = {name: _settings(r.get("config", {}), r.get("benchmarks", {})) for name, r in results.items()}
    if len(set(settings.values())) == 1:
        note = f"{next(iter(settings.values()))}."
    else:
        each = [f"{name}: {settings[name]}" for name in sorted(settings, key=order)]
        note = f"Sampling differs between stages: {'; '.join(each)}."
    legend = "Each cell: pass@1 [95% CI] · mean completion length (tokens)."
    return [*table([label, *benchmarks], rows), "", f"{legend} {note}"]


def _settings(config: dict, benchmarks: dict) -> str:
    """The sampling settings in words; K by benchmark where they differ (evaluate's benchmark_samples)."""
    ks: dict[int, list[str]] = {}
    for name in sorted(benchmarks):
        ks.setdefault(benchmarks[name].get("num_samples", config.get("num_samples")), []).append(name)
    if len(ks) > 1:
        k = "K=" + ", ".join(f"{k} ({', '.join(names)})" for k, names in ks.items())
    else:
        k = f"K={next(iter(ks), config.get('num_samples'))}"
    tokens = config.get("max_new_tokens")
    return f"{k} samples per problem, temperature {config.get('temperature')}, max_new_tokens {tokens}"


def _number(value) -> str:
    return NONE if value is None else f"{value:.4g}"


def _duration(stage: dict) -> str:
    seconds = stage.get("metrics", {}).get("train_runtime")
    if seconds is None and stage.get("started_at") and stage.get("finished_at"):
        elapsed = datetime.fromisoformat(stage["finished_at"]) - datetime.fromisoformat(stage["started_at"])
        seconds = elapsed.total_seconds()
    if seconds is None:
        return NONE
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


TRAINING_HEADER = ["stage", "runner", "steps (or samples)", "wall time", "final loss", "final reward"]


def training_row(name: str, stage: dict, log: list[dict]) -> list[str]:
    """A stage's row under `TRAINING_HEADER`."""
    runner, wall = stage.get("runner", "?"), _duration(stage)
    if runner == "generate":  # rejection sampling trains nothing: what it sampled and kept instead
        m = stage.get("manifest", {})
        work = f"{m.get('prompts')} prompts, {m.get('samples')} samples, {m.get('kept')} kept, {m.get('rows')} rows"
        return [name, runner, work, wall, NONE, NONE]
    final = stage.get("final_log", {})
    reward = next((e["reward"] for e in reversed(log) if "reward" in e), final.get("reward"))
    return [name, runner, str(stage.get("global_step", "?")), wall, _number(final.get("loss")), _number(reward)]


SHARE = 0.2  # the learning signal compares the first and last fifth of a GRPO stage's steps


def _logged(value) -> bool:
    return isinstance(value, int | float) and not math.isnan(value)


def reward_trend(log: list[dict]) -> tuple[int, dict[str, tuple[float, float]]] | None:
    """(steps in each fifth, {key: (mean over the first fifth, mean over the last)}) for the total reward and
    each reward function, from a GRPO log; None without at least two logged steps."""
    steps = [entry for entry in log if "reward" in entry]
    if len(steps) < 2:
        return None
    n = min(max(1, round(SHARE * len(steps))), len(steps) // 2)
    keys = ["reward", *sorted({k for e in steps for k in e if k.startswith("rewards/") and k.endswith("/mean")})]
    trend = {}
    for key in keys:  # a generation without rows of a reward's task logs None (or NaN) for it: not a zero
        first, last = ([e[key] for e in part if _logged(e.get(key))] for part in (steps[:n], steps[-n:]))
        if first and last:
            trend[key] = (statistics.fmean(first), statistics.fmean(last))
    return n, trend


def signal_section(run: Run) -> list[str]:
    """Did the recipe teach something: each GRPO stage's reward, first fifth of its steps against the last, and
    each evaluated stage's pass@1 against that of the model it starts from, paired by problem (`paired.py`)."""
    lines = []
    for name in sorted(run.logs, key=order):
        found = reward_trend(run.logs[name]) if run.stages.get(name, {}).get("runner") == "grpo" else None
        if found:
            n, trend = found
            logged = sum("reward" in entry for entry in run.logs[name])
            first, last = trend["reward"]
            # rewards/<name>/mean -> name
            parts = [f"{k[8:-5]} {a:.3f} → {b:.3f}" for k, (a, b) in trend.items() if k != "reward"]
            lines.append(
                f"- {name}: mean total reward {first:.3f} over its first {n} of {logged} logged steps, {last:.3f} "
                f"over its last {n} ({last - first:+.3f}){'; ' + ', '.join(parts) if parts else ''}."
            )
    rows, unpaired = against_start(run)
    if rows or unpaired:
        benchmarks = sorted({b for r in run.results.values() for b in r.get("benchmarks", {})})
        lines += [*([""] if lines else []), PAIRED_LEGEND]
        lines += ["", *table(["stage", "against", *benchmarks], rows)] if rows else []
        lines += ["", "Not paired:", *(f"- {u}" for u in unpaired)] if unpaired else []
    return lines or ["No GRPO log, and no stage evaluated beside the model it starts from."]


PAIRED_LEGEND = (
    "Each trained stage against the model it starts from (stage 3, SFT of the base on stage 2's samples, against "
    "stage 1, the base on the cold-start data alone; a student against itself before distillation): held-out "
    "pass@1 paired by problem, the difference in percentage points, its 95% interval and p (McNemar's exact test "
    "for one sample per problem, else a sign-flip test with a bootstrap interval; `make compare` compares any two "
    "evaluations, e.g. base and the last stage):"
)


def against_start(run: Run) -> tuple[list[list[str]], list[str]]:
    """For each evaluated trained stage, against the evaluation of the model it starts from (`start_of`): a row of
    paired comparisons, a cell per benchmark of the run; or, where they cannot be made (that model not evaluated,
    samples that do not pair), a line saying why, with the plain difference of pass@1 when both have one."""
    benchmarks = sorted({b for r in run.results.values() for b in r.get("benchmarks", {})})
    read: dict[str, Evaluation | RecipeError] = {}  # each start's samples, read once, or why they cannot be

    def samples(name: str) -> Evaluation:
        if name not in read:
            try:
                read[name] = read_evaluation(run.folder / EVAL / name)
            except RecipeError as exc:
                read[name] = exc
        if isinstance(read[name], RecipeError):
            raise read[name]
        return read[name]

    rows, unpaired = [], []
    for name in sorted((n for n in run.results if n != "base" and not n.endswith(START)), key=order):
        start = start_of(run, name)
        if start not in run.results:
            unpaired.append(f"{name} against {start}: not evaluated (no `{EVAL}/{start}/{RESULTS}`)")
            continue
        try:
            paired = {c.benchmark: c for c in compare(samples(start), run.folder / EVAL / name)}
        except RecipeError as exc:
            after, earlier = (run.results[n].get("benchmarks", {}) for n in (name, start))
            both = [b for b in benchmarks if b in after and b in earlier]
            plain = ", ".join(f"{b} {_points(after[b]['pass@1'] - earlier[b]['pass@1'])}" for b in both)
            unpaired.append(f"{name} against {start}: pass@1 {plain or NONE} points, not paired: {exc}")
            continue
        rows.append([name, start, *(difference_cell(paired[b]) if b in paired else NONE for b in benchmarks)])
    return rows, unpaired


def _points(difference: float) -> str:
    return f"{100 * difference:+.1f}"


def provenance_line(run: Run) -> str:
    made = list((run.results if run.single else run.stages).values())
    commits = sorted({s["git_commit"][:12] for s in made if s.get("git_commit")})
    dirty = " (with uncommitted changes)" if any(s.get("git_dirty") for s in made) else ""
    commit = f"git commit {', '.join(commits)}{dirty}" if commits else "git commit unknown"
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    if run.single:
        model = next(iter(run.results.values())).get("model")
        return f"Evaluation folder `{run.folder}` of `{model}`, report generated {generated}; evaluated at {commit}."
    return f"Run folder `{run.folder}`, report generated {generated}; stages trained at {commit}."


def status_lines(run: Run) -> list[str]:
    """Which stages are missing, not evaluated, or without a training log, so a partial run reads as such."""
    incomplete = sorted({*run.expected, *run.present} - set(run.stages), key=order)
    trained = [n for n in sorted(run.stages, key=order) if run.stages[n].get("runner") != "generate"]
    starts = [start_of(run, n) for n in trained if start_of(run, n).endswith(START)]  # the students' own
    unevaluated = [n for n in sorted({"base", *starts, *trained}, key=order) if n not in run.results]
    unlogged = [n for n in trained if n not in run.logs]
    found = [
        ("Missing or not complete (no `stage.json`)", incomplete),
        (f"Not evaluated (no `{EVAL}/<name>/{RESULTS}`)", unevaluated),
        ("No training log (no `trainer_state.json`, so no plot)", unlogged),
    ]
    lines = [f"- {what}: {', '.join(names)}" for what, names in found if names]
    return lines or ["- Every expected stage is complete, evaluated and has a training log."]


def write_report(run: Run, output: Path, reference: str | None = None) -> list[str]:
    """Write the plots and report.md; return the evaluation, published-figures and learning-signal sections for
    the terminal. `reference`: a row of R1's Table 5 to set beside every evaluation (else only beside those of
    the table's models)."""
    plots = output.parent / PLOTS
    if run.results or run.logs:
        plots.mkdir(parents=True, exist_ok=True)
    figures = []
    if run.results:
        scores = {}
        for name in sorted(run.results, key=order):
            benchmarks = run.results[name].get("benchmarks", {})
            scores[name] = {b: (s["pass@1"], s.get("ci95", {}).get("pass@1")) for b, s in benchmarks.items()}
        pass_at_1_plot(scores, plots / "pass_at_1.png")
        figures.append(("pass@1 by stage", "pass_at_1.png"))
    for name in sorted(run.logs, key=order):
        if stage_plot(name, run.logs[name], plots / f"{name}.png"):
            figures.append((f"{name} training curves", f"{name}.png"))

    if run.results:
        evaluation = eval_section(run.results, "evaluation" if run.single else "stage")
    else:
        evaluation = [f"No evaluation results in `{run.folder / EVAL}`."]
    published = reference_section({n: run.results[n] for n in sorted(run.results, key=order)}, reference)
    if reference and not run.results:
        published = [f"No evaluation to set {reference} beside."]
    lines = [f"# Report: {run.folder.name}", "", provenance_line(run), "", "## Evaluation", "", *evaluation, ""]
    if published:
        lines += ["## Published figures", "", *published, ""]
    signal = [] if run.single else signal_section(run)
    if not run.single:
        rows = [training_row(n, run.stages[n], run.logs.get(n, [])) for n in sorted(run.stages, key=order)]
        lines += ["## Learning signal", "", *signal, ""]
        lines += ["## Training", "", *(table(TRAINING_HEADER, rows) if rows else ["No complete stage."]), ""]
        lines += ["## Stages", "", *status_lines(run), ""]
    links = [f"![{title}]({PLOTS}/{file})\n" for title, file in figures]  # a paragraph each, not side by side
    lines += ["## Plots", "", *(links or ["No training log, no evaluation results.\n"])]
    write_atomically(output, lambda tmp: tmp.write_text("\n".join(lines)))
    return [*evaluation, *(["", *published] if published else []), *(["", *signal] if signal else [])]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.report", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a run folder, e.g. runs/SmolLM2-135M, or one evaluation folder")
    parser.add_argument("--output", type=Path, default=None, help="the report (default RUN_DIR/report.md)")
    parser.add_argument(
        "--reference",
        default=None,
        help="a row of R1's Table 5 to set beside every evaluation, e.g. DeepSeek-R1-Distill-Qwen-7B (default: "
        "beside an evaluation of one of the table's models, its own row)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    try:
        if not args.run_dir:  # `make report` without RUN_DIR
            raise RecipeError("a run folder is required: make report RUN_DIR=runs/<MODEL>")
        if args.reference:
            load_reference().row(args.reference)  # an unknown name, before anything is read or written
        run = collect(Path(args.run_dir))
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    output = args.output or run.folder / "report.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    evaluation = write_report(run, output, args.reference)
    print(output, *evaluation, sep="\n")
