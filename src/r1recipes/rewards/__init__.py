"""Rewards by name: the one registry GRPO scoring, rejection sampling and evaluation draw from.

A reward follows TRL's convention, `fn(completions, **kwargs) -> list[float | None]`: completions are strings
or conversational lists, every dataset column arrives as a keyword list, and `None` leaves a sample out.
A recipe names rewards in `reward_funcs` (registry names or dotted paths to your own functions), weighs them
in `reward_weights` and groups their settings under their names in `reward_kwargs`:

    reward_funcs: [accuracy, format, cosine]
    reward_kwargs: {cosine: {max_len: 4096}, accuracy: {tasks: [math]}}

Every reward also takes `tasks`: a list of values of the dataset's `task` column; rows of other tasks get
`None` from it. That is how stage 4 scores reasoning prompts with rules and general prompts with a reward model.

A reward with work to do before training (loading a model) has it in a `prepare` attribute, a function taking the
reward's settings; the GRPO runner calls `Reward.prepare()` on every process at start-up, so that no rank does it
alone in the middle of a step while the others wait in a collective (`reward_model` loads its model there).

A reward that raises on `Reward.max_failed_calls` (3) calls in a row stops the run (`RewardFailedError`); one
failing batch only leaves its samples out.
"""

import inspect
import logging
from collections.abc import Callable

from r1recipes import RecipeError
from r1recipes.rewards.counts import count
from r1recipes.rewards.format import format_reward, tag_count_reward
from r1recipes.rewards.language import language_reward
from r1recipes.rewards.length import cosine_reward, length_reward, overlong_reward
from r1recipes.rewards.repetition import repetition_reward
from r1recipes.rewards.reward_model import reward_model_reward
from r1recipes.rewards.steps import reasoning_steps_reward
from r1recipes.rewards.verifiers import COLUMNS, VERIFIERS, import_function

logger = logging.getLogger(__name__)

REWARDS: dict[str, Callable] = {
    **VERIFIERS,
    "cosine": cosine_reward,
    "format": format_reward,
    "language": language_reward,
    "length": length_reward,
    "overlong": overlong_reward,
    "reasoning_steps": reasoning_steps_reward,
    "repetition": repetition_reward,
    "reward_model": reward_model_reward,
    "tag_count": tag_count_reward,
}

_VERIFIED = ("cosine", "length")  # these judge correctness with the reward named in their `verifier` setting


def resolve_reward(name: str) -> Callable:
    if name in REWARDS:
        return REWARDS[name]
    if "." in name:
        return import_function(name)
    raise RecipeError(f"unknown reward '{name}' (valid: {', '.join(sorted(REWARDS))}, or a dotted path)")


def _settings(func: Callable) -> tuple[set[str] | None, set[str]]:
    """Keyword settings a reward accepts (None when it takes **kwargs but names none: anything goes), and those
    it requires."""
    params = inspect.signature(func).parameters.values()
    named = {p.name for p in params if p.kind == p.KEYWORD_ONLY}
    required = {p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty}
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params)
    return (named if named or not takes_any else None), required


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
        tasks = settings.get("tasks")
        if tasks is not None and not (isinstance(tasks, list) and tasks and all(isinstance(t, str) for t in tasks)):
            raise RecipeError(f"reward_kwargs.{name}.tasks: expected a list of task names, got {tasks!r}")
        accepted, required = _settings(resolve_reward(name))
        missing = sorted(required - set(settings))
        if missing:
            raise RecipeError(f"reward_kwargs.{name}: missing setting '{missing[0]}'")
        unknown = sorted(set(settings) - {"tasks"} - accepted) if accepted is not None else []
        if unknown:
            valid = ", ".join(sorted(accepted | {"tasks"}))
            raise RecipeError(f"reward_kwargs.{name}: unknown setting '{unknown[0]}' (valid: {valid})")
        if name in REWARDS:
            REWARDS[name]([], **{key: value for key, value in settings.items() if key != "tasks"})  # checks values
    if weights is not None and len(weights) != len(names):
        raise RecipeError(f"reward_weights has {len(weights)} values for {len(names)} reward_funcs")


def check_reward_columns(names: list[str], kwargs_by_name: dict, columns: list[str]) -> None:
    """Fail before the model loads when the dataset lacks a column a reward reads."""
    for name in names:
        settings = kwargs_by_name.get(name) or {}
        needed = list(COLUMNS.get(settings.get("verifier", "accuracy") if name in _VERIFIED else name, []))
        if settings.get("tasks"):
            needed.append(("task",))
        for alternatives in needed:
            if not set(alternatives) & set(columns):
                wanted = " or ".join(f"'{c}'" for c in alternatives)
                raise RecipeError(f"reward '{name}' needs the column {wanted}; the dataset has {sorted(columns)}")


class RewardFailedError(RecipeError):
    """A reward raised on each of its last `Reward.max_failed_calls` calls: the run stops with one line."""


class Reward:
    """A reward bound to its recipe settings and limited to its `tasks`: the callable TRL gets.

    TRL logs it as `rewards/<name>/mean`. An unexpected exception inside a reward does not stop a long run at
    once: the batch gets `None` from it, `<name>/errors` is tallied and the first traceback is logged. When it
    fails on `max_failed_calls` calls in a row (a call is one batch of this process, in GRPO one per generation
    batch, so about that many optimizer steps; calls without rows of its `tasks` do not count) it is broken, not
    unlucky, and `RewardFailedError` stops the run instead of training on the other rewards alone; a call that
    succeeds starts the count again. The runners print it as one `error:` line and exit with status 2. Under
    `accelerate launch` that is the failing process's exit: torch's launcher then stops the other processes
    (waiting in the next collective) and adds its own report of the failed process."""

    max_failed_calls = 3

    def __init__(self, name: str, settings: dict | None = None):
        settings = dict(settings or {})
        self.name = name
        self.__name__ = name.rpartition(".")[2]
        self.tasks = settings.pop("tasks", None)
        self.settings = settings
        self.func = resolve_reward(name)
        self._logged_failure = False
        self._failed_calls = 0

    def prepare(self) -> None:
        """The reward's start-up work (its function's `prepare`, given the settings), if it has any."""
        prepare = getattr(self.func, "prepare", None)
        if prepare is not None:
            prepare(**self.settings)

    def __call__(self, completions, **kwargs) -> list[float | None]:
        if self.tasks is None:
            return self._score(completions, kwargs)
        if kwargs.get("task") is None:
            raise RecipeError(f"reward_kwargs.{self.name}.tasks needs a 'task' column in the dataset")
        keep = [i for i, task in enumerate(kwargs["task"]) if task in self.tasks]
        scores: list[float | None] = [None] * len(completions)
        if keep:
            subset = {
                key: [value[i] for i in keep] if isinstance(value, list) and len(value) == len(completions) else value
                for key, value in kwargs.items()
            }
            for i, score in zip(keep, self._score([completions[i] for i in keep], subset), strict=True):
                scores[i] = score
        return scores

    def _score(self, completions, kwargs) -> list[float | None]:
        try:
            scores = self.func(completions, **kwargs, **self.settings)
        except RecipeError:
            raise
        except Exception as exc:
            count(f"{self.__name__}/errors")
            self._failed_calls += 1
            if self._failed_calls >= self.max_failed_calls:
                summary = f"{type(exc).__name__}: {exc}".splitlines()[0]
                raise RewardFailedError(
                    f"reward {self.name} failed on its last {self._failed_calls} calls: {summary}"
                ) from exc
            if not self._logged_failure:
                self._logged_failure = True
                logger.exception("reward %s failed on a batch; its samples are left out", self.name)
            return [None] * len(completions)
        self._failed_calls = 0
        return scores


def get_reward_funcs(names: list[str], kwargs_by_name: dict | None = None) -> list[Callable]:
    """The reward callables for a recipe, each bound to its settings (see `Reward`)."""
    kwargs_by_name = kwargs_by_name or {}
    check_reward_config(names, kwargs_by_name, None)
    return [Reward(name, kwargs_by_name.get(name)) for name in names]
