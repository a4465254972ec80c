"""Strict recipe parsing: TRL's parser, with YAML keys and values checked against the dataclass fields.

YAML values become defaults and command-line flags override them, as with `TrlParser`. Unlike it, an
unknown or misspelled key (in the file or on the command line), a value of the wrong type or outside a
field's choices, and any check a config's `__post_init__` makes, end in one `RecipeError` that names the
key and the file, raised before anything is loaded.
"""

import dataclasses
import difflib
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from trl import TrlParser

from r1recipes import RecipeError


@dataclass
class Recipe:
    """Where a run's settings came from, for `stage.json`."""

    path: str | None = None
    text: str | None = None
    argv: list[str] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        return Path(self.path).stem if self.path else None


def _expected(hint) -> str:
    return getattr(hint, "__name__", str(hint))


def coerce(value: Any, hint: Any) -> Any:
    """`value` as the type `hint` describes, or TypeError naming what was expected."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        expected = []
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option)
            except TypeError as exc:
                expected.append(str(exc))
        raise TypeError(" or ".join(expected))
    if origin is Literal:
        if value in args:
            return value
        raise TypeError(f"one of {list(args)}")
    if isinstance(hint, type) and issubclass(hint, Enum):
        if value in [m.value for m in hint] or isinstance(value, hint):
            return value
        raise TypeError(f"one of {[m.value for m in hint]}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError("true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError("an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `1e-5` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise TypeError("a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError("a string")
    if origin is list or hint is list:
        if not isinstance(value, list):
            raise TypeError("a list")
        return [coerce(v, args[0]) for v in value] if args else value
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise TypeError("a mapping")
        return value
    return value  # a type we do not model: the dataclass's own checks judge it


class RecipeParser(TrlParser):
    """`parse()` returns one instance per dataclass, then the `Recipe` they came from."""

    def __init__(self, dataclass_types, **kwargs):
        super().__init__(dataclass_types, allow_abbrev=False, **kwargs)
        self.fields: dict[str, tuple[dataclasses.Field, Any]] = {}
        for dataclass_type in self.dataclass_types:
            hints = typing.get_type_hints(dataclass_type)
            for f in dataclasses.fields(dataclass_type):
                if f.init:
                    self.fields[f.name] = (f, hints.get(f.name, Any))

    def error(self, message: str):  # argparse would print usage and exit; we want one line
        raise RecipeError(f"command line: {message}")

    def suggest(self, key: str) -> str:
        close = difflib.get_close_matches(key, self.fields, n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""

    def _check_yaml(self, config: dict, path: str) -> dict:
        checked = {}
        for key, value in config.items():
            if key not in self.fields:
                raise RecipeError(f"{path}: unknown key '{key}'{self.suggest(str(key))}")
            f, hint = self.fields[key]
            try:
                value = coerce(value, hint)
            except TypeError as exc:
                hint_text = (
                    " (YAML reads unquoted yes/no/on/off as booleans: quote it)" if isinstance(value, bool) else ""
                )
                raise RecipeError(f"{path}: {key}: expected {exc}, got {value!r}{hint_text}") from None
            choices = f.metadata.get("choices")
            if choices and value is not None and value not in choices:
                raise RecipeError(f"{path}: {key}: expected one of {list(choices)}, got {value!r}")
            checked[key] = value
        return checked

    def _read_recipe(self, path: str) -> tuple[dict, str]:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise RecipeError(f"recipe not readable: {path} ({exc.strerror})") from None
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise RecipeError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(config, dict):
            raise RecipeError(f"{path}: expected a mapping of keys to values")
        env = config.pop("env", {})
        if not isinstance(env, dict):
            raise RecipeError(f"{path}: env: expected a mapping of variable names to values")
        os.environ.update({str(k): str(v) for k, v in env.items()})
        return config, text

    def parse(self, args: list[str] | None = None) -> tuple:
        args = list(sys.argv[1:] if args is None else args)
        recipe = Recipe(argv=list(args))
        if "--config" in args:
            i = args.index("--config")
            if i + 1 >= len(args):
                raise RecipeError("command line: --config needs a recipe path")
            recipe.path = args[i + 1]
            del args[i : i + 2]
            config, recipe.text = self._read_recipe(recipe.path)
            self.set_defaults_with_config(**self._check_yaml(config, recipe.path))
        source = recipe.path or "command line"
        try:
            *instances, unknown = self.parse_args_into_dataclasses(args=args, return_remaining_strings=True)
        except RecipeError as exc:
            message = str(exc)
            raise RecipeError(message if message.startswith("command line") else f"{source}: {message}") from None
        except (ValueError, TypeError, ArithmeticError) as exc:  # __post_init__ checks of TRL and transformers
            raise RecipeError(f"{source}: {' '.join(str(exc).split())}") from None
        if unknown:
            flag = next((a for a in unknown if a.startswith("--")), unknown[0])
            raise RecipeError(f"command line: unknown argument '{flag}'{self.suggest(flag.lstrip('-'))}")
        return (*instances, recipe)
