"""Loading a stage's rows: one source or a weighted mixture, local or from the Hub, renamed and split.

A source is a Hub dataset id, a local .jsonl/.json/.parquet/.csv file, a folder written by
`Dataset.save_to_disk`, or the output folder of `r1recipes.generate` (its `data/*.parquet`). Every source is
checked (exists, has the needed columns, reading only its first row) before any is loaded in full, and all
of that happens before the model loads.
"""

import itertools
import json
import logging
from pathlib import Path

import datasets

from r1recipes import RecipeError
from r1recipes.config.arguments import DataArguments, DatasetSource, template_fields
from r1recipes.config.paths import LOCAL_FORMATS, looks_local
from r1recipes.data.prompts import grpo_row, sft_messages_row, sft_pair_row
from r1recipes.generation.output import OutputDir

for _loader in set(LOCAL_FORMATS.values()):
    # datasets' file loaders log a read error before raising it; the raise becomes our one error line
    logging.getLogger(f"datasets.packaged_modules.{_loader}.{_loader}").setLevel(logging.CRITICAL)


def _load(source: DatasetSource, streaming: bool = False):
    path = Path(source.path).expanduser()
    if looks_local(source.path, tuple(LOCAL_FORMATS)) and not path.exists():
        raise RecipeError(f"dataset not found: {source.path}")
    try:
        if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
            dataset = datasets.load_from_disk(str(path))
            if isinstance(dataset, datasets.DatasetDict):
                dataset = dataset[source.split]
            return dataset.to_iterable_dataset() if streaming else dataset
        # rejection-sampling output (r1recipes.generation.output), or a copy of what `share` uploads (no chunks/)
        if path.is_dir() and ((path / "chunks").is_dir() or (path / "manifest.json").is_file()):
            OutputDir(str(path)).verify()  # finished, and its data files are those its manifest lists
            if not any((path / "data").glob("*.parquet")):
                raise RecipeError(f"{source.path} holds no rows: the generator kept none (see its manifest.json)")
            return datasets.load_dataset("parquet", data_dir=str(path / "data"), split="train", streaming=streaming)
        if path.is_file():
            fmt = LOCAL_FORMATS.get(path.suffix)
            if fmt is None:
                raise RecipeError(f"{source.path}: unsupported file type (use {', '.join(LOCAL_FORMATS)})")
            if path.stat().st_size == 0:  # datasets' loaders fail on it without a message
                raise RecipeError(f"dataset '{source.path}' is empty")
            return datasets.load_dataset(fmt, data_files=str(path), split="train", streaming=streaming)
        return datasets.load_dataset(source.path, source.name, split=source.split, streaming=streaming)
    except RecipeError:
        raise
    except Exception as exc:  # datasets raises many types; the user needs one line, not a trace
        raise _unreadable(source, exc) from None


def _unreadable(source: DatasetSource, exc: Exception) -> RecipeError:
    """What made a source unreadable: a JSON Lines file's first bad line, else the first line of the deepest cause
    (datasets wraps a file's error in a message that names neither the file nor the fault)."""
    path = Path(source.path).expanduser()
    if path.suffix == ".jsonl" and path.is_file():
        bad_line = _first_bad_json_line(path)  # read only on this failure path: the loader does not say
        if bad_line:
            return RecipeError(f"dataset '{source.path}': {bad_line}")
    while exc.__cause__ is not None:
        exc = exc.__cause__
    reason = next((line for line in str(exc).splitlines() if line.strip()), exc.__class__.__name__)
    return RecipeError(f"dataset '{source.path}' could not be loaded: {reason}")


def _first_bad_json_line(path: Path) -> str | None:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line.rstrip(b"\r\n"))  # the newline would count as a second line of the text
            except json.JSONDecodeError as exc:
                return f"line {number} is not valid JSON: {exc.msg} (column {exc.colno})"
            except ValueError:  # UnicodeDecodeError
                return f"line {number} is not UTF-8 text"
            if not isinstance(row, dict):
                return f"line {number} is not a JSON object of column values"
    return None


def _streamed(source: DatasetSource):
    """A source's rows, read lazily: a file that turns out bad partway fails in one line, like one that fails to
    open (the loaders read a file block by block, so its first rows may come before the error)."""
    rows = iter(_load(source, streaming=True))
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            raise _unreadable(source, exc) from None
        yield row


def stream_rows(sources: list[DatasetSource], max_rows: int | None = None):
    """Every row of the sources in order, renamed, read lazily (memory does not grow with the dataset)."""
    produced = 0
    for source in sources:
        for row in itertools.islice(_streamed(source), source.max_rows):
            if max_rows is not None and produced >= max_rows:
                return
            rename = source.rename or {}
            row = {**{rename.get(key, key): value for key, value in row.items()}, **(source.add_columns or {})}
            yield {**row, **formatted(row, source)}
            produced += 1


def formatted(row: dict, source: DatasetSource) -> dict:
    """The columns a source's `format_columns` writes from a (renamed) row."""
    return {name: template.format(**row) for name, template in (source.format_columns or {}).items()}


def _renamed(columns: list[str], source: DatasetSource) -> list[str]:
    rename = source.rename or {}
    missing = [old for old in rename if old not in columns]
    if missing:
        raise RecipeError(f"dataset '{source.path}': cannot rename missing column '{missing[0]}' (has: {columns})")
    renamed = [rename.get(c, c) for c in columns]
    renamed += [c for c in source.add_columns or {} if c not in renamed]
    for name, template in (source.format_columns or {}).items():
        missing = [c for c in template_fields(template, name) if c not in renamed]
        if missing:
            raise RecipeError(
                f"dataset '{source.path}': format_columns.{name}: no column '{missing[0]}' (has: {renamed})"
            )
    return renamed + [c for c in source.format_columns or {} if c not in renamed]


def source_columns(source: DatasetSource) -> list[str]:
    """Column names after renaming, read from the first row only."""
    first = next(_streamed(source), None)
    if first is None:
        raise RecipeError(f"dataset '{source.path}' is empty")
    return _renamed(list(first), source)


def check_columns(sources: list[DatasetSource], needed) -> list[str]:
    """Every source's columns, in order of first appearance; `needed(columns)` lists those the stage requires
    of every source. A column only some sources have is kept (empty in the others): task-specific columns,
    such as countdown's `nums`, which only the reward routed to that task reads."""
    per_source = [source_columns(s) for s in sources]
    union = list(dict.fromkeys(c for columns in per_source for c in columns))
    for source, columns in zip(sources, per_source, strict=True):
        missing = [c for c in needed(union) if c not in columns]
        if missing:
            raise RecipeError(f"dataset '{source.path}' has no column '{missing[0]}' (has: {', '.join(columns)})")
    return union


def _weighted(dataset: datasets.Dataset, weight: float, seed: int) -> datasets.Dataset:
    if weight == 1:
        return dataset
    whole, part = divmod(weight, 1)
    shuffled = dataset.shuffle(seed=seed)
    indices = list(range(len(dataset))) * int(whole) + list(range(round(part * len(dataset))))
    return shuffled.select(indices)


def load_mixture(sources: list[DatasetSource], columns: list[str], seed: int) -> datasets.Dataset:
    parts = []
    for source in sources:
        dataset = _load(source)
        if source.max_rows is not None and source.max_rows < len(dataset):
            dataset = dataset.select(range(source.max_rows))
        if source.rename:
            dataset = dataset.rename_columns(source.rename)
        for name, value in (source.add_columns or {}).items():
            dataset = dataset.remove_columns([name]) if name in dataset.column_names else dataset
            dataset = dataset.add_column(name, [value] * len(dataset))
        if source.format_columns:
            dataset = dataset.map(formatted, fn_kwargs={"source": source})
        parts.append(_weighted(dataset, source.weight, seed))
    features = {}  # a column's type, from the first source that has it
    for part in parts:
        for name, feature in part.features.items():
            features.setdefault(name, feature)
    for i, part in enumerate(parts):
        for name in columns:
            if name not in part.column_names:
                part = part.add_column(name, [None] * len(part), feature=features[name])
        parts[i] = part.select_columns(columns)
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def load_train_test(data_args: DataArguments, needed, seed: int):
    """(train, test or None) with the stage's required columns checked first."""
    columns = check_columns(data_args.sources, needed)
    dataset = load_mixture(data_args.sources, columns, seed)
    test = None
    if data_args.test_split_size:
        size = data_args.test_split_size
        split = dataset.train_test_split(test_size=int(size) if size >= 1 else size, seed=seed)
        dataset, test = split["train"], split["test"]
    if data_args.max_samples is not None and data_args.max_samples < len(dataset):
        dataset = dataset.shuffle(seed=seed).select(range(data_args.max_samples))
    return dataset, test


def sft_datasets(data_args, seed: int):
    """SFT rows: a `messages` column is used as is, so is a `text` column without prompt and completion
    columns (plain language modelling, for mid-training); otherwise prompt and completion are formatted."""
    pair = [*data_args.prompt_fields, data_args.completion_column]

    def needed(columns):
        if data_args.completion_column in columns:
            return pair
        if "messages" in columns:
            return ["messages"]
        return ["text"] if "text" in columns and not set(pair) & set(columns) else pair

    train, test = load_train_test(data_args, needed, seed)
    kind = needed(train.column_names)
    if kind == ["text"]:
        return tuple(None if d is None else d.select_columns(["text"]) for d in (train, test))
    to_row = sft_messages_row if kind == ["messages"] else sft_pair_row
    return tuple(
        None if d is None else d.map(to_row, fn_kwargs={"data_args": data_args}, remove_columns=d.column_names)
        for d in (train, test)
    )


def grpo_datasets(data_args: DataArguments, seed: int):
    """GRPO rows: a `prompt` column added; the other columns stay, since rewards receive them."""
    train, test = load_train_test(data_args, lambda columns: data_args.prompt_fields, seed)
    return tuple(None if d is None else d.map(grpo_row, fn_kwargs={"data_args": data_args}) for d in (train, test))
