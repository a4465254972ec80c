"""Rewards by name: the one registry GRPO scoring, rejection sampling and evaluation draw from.

A reward follows TRL's convention, `fn(completions, **kwargs) -> list[float | None]`: completions are strings
or conversational lists, every dataset column arrives as a keyword list, and `None` leaves a sample out.
A recipe names rewards in `reward_funcs` (registry names or dotted paths to your own functions) and groups
their settings under their names in `reward_kwargs`.
"""

import functools
import importlib
import inspect
from collections.abc import Callable

from r1recipes import RecipeError
from r1recipes.rewards.format import format_reward

REWARDS: dict[str, Callable] = {
    "format": format_reward,
}


def resolve_reward(name: str) -> Callable:
    if name in REWARDS:
        return REWARDS[name]
    if "." in name:
        module_name, _, attr = name.rpartition(".")
        try:
            func = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise RecipeError(f"reward '{name}' could not be imported: {exc}") from None
        if not callable(func):
            raise RecipeError(f"reward '{name}' is not callable")
        return func
    raise RecipeError(f"unknown reward '{name}' (valid: {', '.join(sorted(REWARDS))}, or a dotted path)")


def _settings(func: Callable) -> set[str] | None:
    """Keyword settings a reward accepts; None when it takes **kwargs but names none (anything goes)."""
    params = inspect.signature(func).parameters.values()
    named = {p.name for p in params if p.kind == p.KEYWORD_ONLY}
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params)
    return named if named or not takes_any else None


def check_reward_config(names: list[str], kwargs_by_name: dict, weights: list[float] | None) -> None:
    if not names:
        raise RecipeError(f"reward_funcs is empty (valid: {', '.join(sorted(REWARDS))}, or a dotted path)")
    for name in kwargs_by_name:
        if name not in names:
            raise RecipeError(f"reward_kwargs names '{name}', which is not in reward_funcs")
    for name in names:
        settings = kwargs_by_name.get(name) or {}
        if not isinstance(settings, dict):
            raise RecipeError(f"reward_kwargs.{name}: expected a mapping, got {settings!r}")
        accepted = _settings(resolve_reward(name))
        unknown = sorted(set(settings) - accepted) if accepted is not None else []
        if unknown:
            valid = ", ".join(sorted(accepted)) or "none"
            raise RecipeError(f"reward_kwargs.{name}: unknown setting '{unknown[0]}' (valid: {valid})")
    if weights is not None and len(weights) != len(names):
        raise RecipeError(f"reward_weights has {len(weights)} values for {len(names)} reward_funcs")


def get_reward_funcs(names: list[str], kwargs_by_name: dict | None = None) -> list[Callable]:
    """The reward callables for a recipe, each bound to its settings.

    They are `functools.partial` objects, which TRL can pickle and await; TRL logs each under the wrapped
    function's name (`rewards/format_reward/mean` for `format`)."""
    kwargs_by_name = kwargs_by_name or {}
    check_reward_config(names, kwargs_by_name, None)
    funcs = []
    for name in names:
        func = resolve_reward(name)
        funcs.append(functools.partial(func, **kwargs_by_name.get(name, {})))
    return funcs
