"""The rewards that judge correctness, by name: the verifiers that the length rewards' `verifier` setting, stage 3's
`verifiers` and evaluation name, with the dataset columns each reads.

It sits below the whole registry (`rewards/__init__.py`), which includes these, so that the length rewards, which
score a completion by whether it is right, can name a verifier without importing the registry that imports them.
A verifier is one of these or a dotted path to your own function.
"""

import importlib
from collections.abc import Callable

from r1recipes import RecipeError
from r1recipes.rewards.accuracy import accuracy_reward
from r1recipes.rewards.choice import choice_reward
from r1recipes.rewards.code import code_reward
from r1recipes.rewards.countdown import countdown_reward
from r1recipes.rewards.judge import judge_reward

VERIFIERS: dict[str, Callable] = {
    "accuracy": accuracy_reward,
    "choice": choice_reward,
    "code": code_reward,
    "countdown": countdown_reward,
    "judge": judge_reward,
}

# The verifier of each value of a dataset's `task` column, unless a recipe names others (stage 3's `verifiers`)
DEFAULT_VERIFIERS = {"math": "accuracy", "countdown": "countdown", "code": "code", "science": "choice"}

# Dataset columns a verifier reads: each entry lists alternatives, one of which must be present.
COLUMNS: dict[str, list[tuple[str, ...]]] = {
    "accuracy": [("answer", "solution")],
    "choice": [("answer",)],
    "code": [("test_cases", "verification_info")],
    "countdown": [("nums",), ("target",)],
    "judge": [("answer", "solution")],
}


def import_function(name: str) -> Callable:
    """`package.module.function`, imported; one RecipeError line when it is not there or not callable."""
    module_name, _, attr = name.rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RecipeError(f"reward '{name}' could not be imported: {exc}") from None
    if not callable(func):
        raise RecipeError(f"reward '{name}' is not callable")
    return func


def resolve_verifier(name: str) -> Callable:
    if name in VERIFIERS:
        return VERIFIERS[name]
    if "." in name:
        return import_function(name)
    valid = ", ".join(sorted(VERIFIERS))
    raise RecipeError(f"unknown reward '{name}' as a verifier (valid: {valid}, or a dotted path)")
