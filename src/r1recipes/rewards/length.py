"""Rewards on completion length in tokens (TRL's `completion_ids`): DAPO's overlong punishment, and two
length-shaped correctness rewards, Kimi k1.5's length penalty and the cosine reward of Yeo et al.

Set `max_length` / `max_len` to the recipe's `max_completion_length`: a reward cannot read the trainer's
settings, and with a larger value a truncated completion goes unpunished.

The last two judge correctness with a verifier (`rewards.verifiers`: `accuracy` by default; `choice`, `countdown` or
`code` for those tasks) called with the same dataset columns; a completion is correct when the verifier gives 1.0,
and a sample the verifier leaves out (`None`) is left out here too. `judge` cannot be theirs: it needs its model's
settings, which a length reward has no way to pass.
"""

import json
import math
from collections import defaultdict

from r1recipes import RecipeError
from r1recipes.rewards.settings import setting
from r1recipes.rewards.verifiers import resolve_verifier


def _token_lengths(completions, completion_ids) -> list[int]:
    if not completions:
        return []
    if completion_ids is None or len(completion_ids) != len(completions):
        got = "none" if completion_ids is None else f"{len(completion_ids)} for {len(completions)} completions"
        raise RecipeError(
            f"length rewards score token lengths and need completion_ids, one per completion (got {got}); "
            "GRPO passes them, text-only scoring has none"
        )
    return [len(ids) for ids in completion_ids]


def _verdicts(verifier: str, completions, kwargs) -> list[bool | None]:
    if verifier in ("cosine", "length"):
        raise RecipeError(
            f"verifier: '{verifier}' scores length, not correctness (use accuracy, choice, countdown or code)"
        )
    if verifier == "judge":  # a length reward has no way to pass the judge its model settings
        raise RecipeError("verifier: 'judge' needs settings of its own (use accuracy, choice, countdown or code)")
    scores = resolve_verifier(verifier)(completions, **kwargs)
    return [None if score is None else score == 1.0 for score in scores]


def length_reward(completions, completion_ids=None, prompts=None, *, verifier: str = "accuracy", **kwargs):
    """Kimi k1.5 length penalty (Kimi Team 2025, §2.3.3), within each prompt's group of completions.

    lambda = 0.5 - (len - min_len) / (max_len - min_len), with min_len and max_len over the group, in tokens;
    a correct completion gets lambda (in [-0.5, 0.5], shorter is better), a wrong one min(0, lambda), so being
    short never earns a wrong answer anything. A group whose completions all have one length gets 0.0.
    Groups are completions with the same prompt; without `prompts` the whole call is one group.

    Departure from the paper: Kimi switches the penalty on after a warm-up phase; here it is on from the first
    step (weight it with `reward_weights`, or add it in a later stage).
    """
    lengths = _token_lengths(completions, completion_ids)
    correct = _verdicts(verifier, completions, {"prompts": prompts, **kwargs})
    groups = defaultdict(list)
    for i, prompt in enumerate(prompts if prompts is not None else [None] * len(completions)):
        groups[json.dumps(prompt, sort_keys=True, default=str)].append(i)
    rewards: list[float | None] = [None] * len(completions)
    for members in groups.values():
        shortest, longest = min(lengths[i] for i in members), max(lengths[i] for i in members)
        for i in members:
            if correct[i] is None:
                continue
            spread = 0.5 - (lengths[i] - shortest) / (longest - shortest) if longest > shortest else 0.0
            rewards[i] = spread if correct[i] else min(0.0, spread)
    return rewards


def cosine_reward(
    completions,
    completion_ids=None,
    *,
    max_len: int = 512,
    correct_at_zero: float = 1.0,
    correct_at_max: float = 0.5,
    wrong_at_zero: float = -0.5,
    wrong_at_max: float = 0.0,
    exceed_penalty: float = -1.0,
    verifier: str = "accuracy",
    **kwargs,
):
    """Cosine length-scaled correctness (Yeo et al. 2025, "Demystifying Long Chain-of-Thought Reasoning").

    With t = min(length, max_len) tokens, the reward moves along half a cosine from its value at length 0 to
    its value at max_len: r = at_max + 0.5 * (at_zero - at_max) * (1 + cos(pi * t / max_len)), using the
    `correct_*` pair for a correct completion and the `wrong_*` pair otherwise. A completion of max_len tokens
    or more hit the length limit and gets `exceed_penalty` whatever it says.

    Defaults: a correct answer earns 1.0 when short, falling to 0.5 at max_len; a wrong answer costs -0.5 when
    short, rising to 0.0 at max_len (a long wrong attempt is penalised less than giving up early); hitting
    the limit costs -1.0, less than any answer that finished; max_len is 512 tokens. These are our defaults
    with the paper's ordering (correct_at_zero > correct_at_max > wrong_at_max > wrong_at_zero); the paper
    tunes its own. open-r1's function defaults run a wrong answer from -1.0 to -0.5 and have no limit penalty.
    """
    max_len = setting("cosine", "max_len", max_len, minimum=1, integer=True)
    lengths = _token_lengths(completions, completion_ids)
    rewards: list[float | None] = []
    for length, correct in zip(lengths, _verdicts(verifier, completions, kwargs), strict=True):
        if correct is None:
            rewards.append(None)
        elif length >= max_len:
            rewards.append(exceed_penalty)
        else:
            at_zero, at_max = (correct_at_zero, correct_at_max) if correct else (wrong_at_zero, wrong_at_max)
            rewards.append(at_max + 0.5 * (at_zero - at_max) * (1.0 + math.cos(math.pi * length / max_len)))
    return rewards


def overlong_penalty(length: int, max_length: int = 512, buffer: int = 128, penalty: float = 1.0) -> float:
    """R(length) * penalty for one length in tokens; see `overlong_reward`. Settings are not checked here."""
    expected = max_length - buffer
    if length <= expected:
        return 0.0
    if length <= max_length:
        return (expected - length) / buffer * penalty + 0.0  # + 0.0 turns -0.0 into 0.0
    return -penalty + 0.0


def overlong_reward(
    completions, completion_ids=None, *, max_length: int = 512, buffer: int = 128, penalty: float = 1.0, **kwargs
) -> list[float]:
    """DAPO's soft overlong punishment (Yu et al. 2025, section 3.4), in [-penalty, 0].

    With L the completion's length in tokens, L_max = `max_length` and L_cache = `buffer`:

        R(L) = 0                                  if L <= L_max - L_cache
             = ((L_max - L_cache) - L) / L_cache  if L_max - L_cache < L <= L_max
             = -1                                 if L > L_max

    times `penalty` (verl's `overlong_penalty_factor`; 1.0 is DAPO's formula). The ramp reaches -1 at L_max, so
    a completion cut off at the limit gets the full penalty. Defaults: 512 tokens, TRL's default
    `max_completion_length`, and a 128-token buffer (DAPO: 4,096 of 20,480).

    `max_length` (tokens, default 512): L_max, the recipe's `max_completion_length`. `buffer` (tokens, default
    128, less than `max_length`): L_cache, the stretch before L_max over which the penalty ramps from 0 to -1.
    `penalty` (default 1.0, >= 0): the scale of the penalty."""
    max_length = setting("overlong", "max_length", max_length, minimum=2, integer=True)
    buffer = setting("overlong", "buffer", buffer, minimum=1, maximum=max_length - 1, integer=True)
    penalty = setting("overlong", "penalty", penalty, minimum=0)
    lengths = _token_lengths(completions, completion_ids)
    return [overlong_penalty(length, max_length, buffer, penalty) for length in lengths]
