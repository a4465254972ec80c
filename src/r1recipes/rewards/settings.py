"""Checking a reward's settings: one clear error naming the setting, before any completion is read.

Rewards get their settings at call time, so they check them first thing; the registry calls every registered
reward once with no completions when a recipe is parsed, so a bad setting fails before the model loads.
"""

import math

from r1recipes import RecipeError


def setting(
    reward: str, name: str, value, *, minimum=None, maximum=None, integer: bool = False, section: str = "reward_kwargs"
):
    """`value` when it is a (finite, integer if asked) number within the bounds; a RecipeError otherwise.

    Rewards get their settings at call time only, so they check them there, before any completion is read;
    a call with no completions checks them too."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (isinstance(value, int) or not integer)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        bounds = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else ""]
        expected = f"{'an integer' if integer else 'a number'} {' and '.join(b for b in bounds if b)}".strip()
        raise RecipeError(f"{section}.{reward}.{name}: expected {expected}, got {value!r}")
    return value


def flag(reward: str, name: str, value, section: str = "reward_kwargs") -> bool:
    if not isinstance(value, bool):
        raise RecipeError(f"{section}.{reward}.{name}: expected true or false, got {value!r}")
    return value
