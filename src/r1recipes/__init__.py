"""r1recipes: the DeepSeek-R1 training pipeline as YAML recipes over TRL."""

__version__ = "0.1.0"


class RecipeError(ValueError):
    """Bad input: a recipe, a flag, a path or a dataset that cannot work.

    Entry points print it as one line (``error: ...``) and exit with status 2, before anything heavy
    is loaded and before anything is written.
    """


def notice(message: str) -> None:
    """One line on stderr, from the main process only (every rank parses the same recipe)."""
    import os
    import sys

    if int(os.environ.get("RANK", "0")) == 0:
        print(f"r1recipes: {message}", file=sys.stderr, flush=True)


def flatten(record: dict, separator: str = ".", prefix: str = "") -> dict:
    """{"generate": {"seed": 0}} -> {"generate.seed": 0}: nested settings as one level, each named in full."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, separator, f"{prefix}{key}{separator}"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
