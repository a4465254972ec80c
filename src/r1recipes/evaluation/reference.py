"""Published figures beside ours: a paper's table kept as data with its source, and per benchmark whether the
paper's figure lies within our 95% interval.

    python -m r1recipes.report runs/eval/deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B
    python -m r1recipes.report runs/Qwen2.5-7B --reference DeepSeek-R1-Distill-Qwen-1.5B
    python -m r1recipes.compare A B --reference DeepSeek-R1-Distill-Qwen-7B

The table is DeepSeek-R1's Table 5 (arXiv 2501.12948), its distilled models, in `references/deepseek_r1_table5.yaml`
with its source, the paper's protocol and a map from its columns to our benchmark names and results.json keys. An
evaluation whose model is one of the table's (its Hub id, or a folder named as the Hub repository) is set beside
its row; `--reference NAME` sets a named row beside every evaluation.

The verdict of a benchmark's metric, for each evaluation:
- not comparable: the evaluation departs from the paper's protocol, each departure named: max_new_tokens,
  temperature or top_p (results.json's `config`), fewer or more problems than the benchmark the paper scored, or
  for cons@64 other than 64 samples. The number of samples is no departure for pass@1, an unbiased estimate for
  any k: fewer samples only widen our interval.
- within / above / below our 95% interval: the paper's figure against our Wilson interval over problems, both at
  the table's precision (0.1 points), so the verdict agrees with the figures shown. Within means that our
  evaluation cannot tell our figure from the paper's, not that the two agree; outside, with the same protocol,
  something else differs (the prompt, the answer checker, the problems' text, the model's weights).
Not checked: the prompts (ours are the recipe's `prompt_format`, not DeepSeek's evaluation instructions).
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from r1recipes import RecipeError

TABLE5 = Path(__file__).parent / "references" / "deepseek_r1_table5.yaml"
WITHIN, ABOVE, BELOW = "within our 95% interval", "above our 95% interval", "below our 95% interval"
NOT_COMPARABLE = "not comparable: "
NONE = "–"


@dataclass(frozen=True)
class Column:
    name: str  # as the paper heads it: "AIME 2024 cons@64"
    benchmark: str | None  # our benchmark's name; None where we have none (CodeForces)
    metric: str | None  # our key in results.json: pass@1, maj@64
    problems: int | None = None  # the benchmark's size, where the paper scored all of it
    num_samples: int | None = None  # the samples the metric needs (cons@64: 64)


@dataclass(frozen=True)
class Row:
    name: str
    model: str  # Hub id
    figures: dict[str, float]  # column name -> figure


@dataclass(frozen=True)
class Reference:
    label: str  # "Table 5"
    source: dict  # citation, arxiv, url, table, caption
    settings: dict  # results.json config key -> the paper's value
    sampling: str  # how its figures were computed, in words
    columns: tuple[Column, ...]
    rows: dict[str, Row]

    def row(self, name: str) -> Row:
        """The row of a name or Hub id; an unknown one is refused with the valid names."""
        for row in self.rows.values():
            if name in (row.name, row.model):
                return row
        raise RecipeError(f"unknown reference '{name}' (valid: {', '.join(self.rows)})")

    def row_of(self, model: str) -> Row | None:
        """The row of the model an evaluation names: its Hub id, or a path whose last part is the Hub repository's
        name (a local copy, runs/models/DeepSeek-R1-Distill-Qwen-7B)."""
        model = model.rstrip("/").casefold()
        for row in self.rows.values():
            if model == row.model.casefold() or Path(model).name == row.name.casefold():
                return row
        return None

    def source_line(self) -> str:
        s = self.source
        settings = ", ".join(f"{key} {value}" for key, value in self.settings.items())
        return (f"Source: {s['citation']}, arXiv:{s['arxiv']}, {self.label}: \"{s['caption']}\" ({s['url']}). Its "
                f"protocol: {settings}; {self.sampling}.")  # fmt: skip


def _fields(entry, allowed, where: str) -> dict:
    """`entry`, a mapping with no key but the `allowed` ones."""
    if not isinstance(entry, dict):
        raise RecipeError(f"{where}: expected a mapping, got {entry!r}")
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise RecipeError(f"{where}: unknown key '{unknown[0]}' (valid keys: {', '.join(allowed)})")
    return entry


@functools.cache
def load(path: Path = TABLE5) -> Reference:
    """A reference table from its YAML file, every key checked."""
    data = _fields(yaml.safe_load(path.read_text()), ("source", "protocol", "columns", "rows"), str(path))
    protocol = _fields(data["protocol"], ("settings", "sampling"), f"{path}: protocol")
    keys = Column.__dataclass_fields__
    columns = tuple(Column(**_fields(c, keys, f"{path}: columns[{i}]")) for i, c in enumerate(data["columns"]))
    rows = {}
    for name, entry in data["rows"].items():
        entry = _fields(entry, ("model", "figures"), f"{path}: rows.{name}")
        if len(entry["figures"]) != len(columns):
            raise RecipeError(f"{path}: rows.{name} has {len(entry['figures'])} figures for {len(columns)} columns")
        rows[name] = Row(name, entry["model"], {c.name: f for c, f in zip(columns, entry["figures"], strict=True)})
    source = data["source"]
    return Reference(f"Table {source['table']}", source, protocol["settings"], protocol["sampling"], columns, rows)


@dataclass(frozen=True)
class Line:
    """One metric of one evaluation beside the paper's figure; ours and the interval as fractions."""

    evaluation: str
    column: Column
    ours: float | None
    interval: tuple[float, float] | None
    paper: float
    verdict: str


def departures(results: dict, benchmark: str, column: Column, settings: dict) -> list[str]:
    """How an evaluation of `benchmark` departs from the paper's protocol for `column`, each in words."""
    config, scores = results.get("config", {}), results["benchmarks"][benchmark]
    found = [f"{key} {config.get(key)} (the paper's {value})" for key, value in settings.items()
             if config.get(key) != value]  # fmt: skip
    if column.problems is not None and scores.get("problems") != column.problems:
        found.append(f"{scores.get('problems')} problems (the paper's {column.problems})")
    elif column.problems is None and config.get("max_problems") is not None:
        found.append(f"max_problems {config['max_problems']} (the paper's every problem)")
    k = scores.get("num_samples", config.get("num_samples"))
    if column.num_samples is not None and k != column.num_samples:
        found.append(f"{k} samples per problem (the paper's {column.num_samples})")
    return found


def _tenth(fraction: float) -> float:
    """A fraction as the percentage the table shows, to 0.1 points."""
    return float(f"{100 * fraction:.1f}")


def verdict(paper: float, interval: tuple[float, float] | None, departed: list[str]) -> str:
    """The paper's figure (percent) against our 95% interval (fractions), unless the protocols differ."""
    if departed:
        return NOT_COMPARABLE + ", ".join(departed)
    if interval is None:
        return "no 95% interval in results.json"
    low, high = (_tenth(x) for x in interval)
    return WITHIN if low <= paper <= high else ABOVE if paper > high else BELOW


def lines_of(reference: Reference, row: Row, evaluations: dict[str, dict]) -> list[Line]:
    """Per evaluation, per column of the row whose benchmark it evaluated, ours beside the paper's figure."""
    found = []
    for name, results in evaluations.items():
        benchmarks = results.get("benchmarks", {})
        for column in reference.columns:
            if column.benchmark not in benchmarks:
                continue
            scores = benchmarks[column.benchmark]
            ours, interval = scores.get(column.metric), scores.get("ci95", {}).get(column.metric)
            departed = departures(results, column.benchmark, column, reference.settings)
            paper = row.figures[column.name]
            found.append(Line(name, column, ours, tuple(interval) if interval else None, paper,
                              verdict(paper, interval, departed)))  # fmt: skip
    return found


def _figure(figure: float) -> str:
    """As the paper prints it: a percentage to 0.1, a rating whole."""
    return str(figure) if isinstance(figure, int) else f"{figure:.1f}"


def _ours(line: Line) -> str:
    if line.ours is None:
        return NONE
    cell = f"{100 * line.ours:.1f}%"
    return cell + (f" [{100 * line.interval[0]:.1f}, {100 * line.interval[1]:.1f}]" if line.interval else "")


HEADER = ["evaluation", "benchmark (metric)", "paper's column", "ours [95% CI]", "paper", "verdict"]


def render(reference: Reference, row: Row, evaluations: dict[str, dict], why: str) -> list[str]:
    """A markdown table of one row beside some evaluations, with its source and the row's other columns."""
    lines = lines_of(reference, row, evaluations)
    text = [f"{row.name} (`{row.model}`) in DeepSeek-R1's {reference.label}, {why}:", ""]
    if lines:
        rows = [[line.evaluation, f"{line.column.benchmark} ({line.column.metric})", line.column.name, _ours(line),
                 f"{_figure(line.paper)}%", line.verdict] for line in lines]  # fmt: skip
        text += ["| " + " | ".join(r) + " |" for r in [HEADER, ["---"] * len(HEADER), *rows]]
    else:
        text.append(f"No benchmark of the row was evaluated ({', '.join(evaluations)}).")
    text += ["", reference.source_line()]
    evaluated = {b for results in evaluations.values() for b in results.get("benchmarks", {})}
    others = []
    for c in reference.columns:
        if c.benchmark not in evaluated:
            others.append(f"{c.name} {_figure(row.figures[c.name])} ({c.benchmark or 'no benchmark here'}"
                          f"{' not evaluated' if c.benchmark else ''})")  # fmt: skip
    if others:
        text.append(f"The row's other columns: {'; '.join(others)}.")
    outside = sorted(evaluated - {c.benchmark for c in reference.columns})
    if outside:
        text.append(f"Not in {reference.label}: {', '.join(outside)}.")
    return text


def reference_section(
    evaluations: dict[str, dict], name: str | None = None, reference: Reference | None = None
) -> list[str]:
    """Every table the evaluations call for: the named row beside all of them, else each evaluation of one of the
    table's models beside its row. No lines when none applies."""
    reference = reference or load()
    if name:
        picked = {reference.row(name).name: (list(evaluations), "named with --reference")}
    else:
        picked = {}
        for evaluation, results in evaluations.items():
            row = reference.row_of(str(results.get("model") or ""))
            if row:
                picked.setdefault(row.name, ([], "the row of the model evaluated"))[0].append(evaluation)
    text = []
    for row_name, (names, why) in picked.items():
        table = render(reference, reference.rows[row_name], {n: evaluations[n] for n in names}, why)
        text += [""] + table if text else table
    return text
