"""Judging a chunk of sampled prompts: verify by task, filter for readability, keep up to m per prompt.

`judge_chunk` is a pure function of its `Chunk` and `JudgeSettings`, so it runs in a worker process while the
model generates the next chunk, and the same chunk judged anywhere gives the same rows.

- Verification: the reward named for the prompt's task in `verifiers` (the registry GRPO and evaluation use),
  fed the row's columns; a sample is correct when it scores at least `min_score`. A `None` score (a gold
  answer that does not parse) counts as `unverifiable`.
- Readability: the filters of `generation/readability.py`. Every sample is verified and filtered, so the manifest
  counts each rejection reason on its own (one sample can fail several).
- Keeping: identical assistant turns of a prompt count once; then the `shortest` m (in tokens) or a `random`
  m (seeded by the prompt's position) of the accepted samples; m may differ by task (`keep_per_prompt`).
- Output: `messages` (the prompt's turns, then an assistant turn `<think>\\nreasoning\\n</think>\\n\\nanswer`,
  with `<think>` restored when the prompt opened it) and provenance columns, `ROW_SCHEMA` in `output.py`.
"""

import random
from collections import Counter
from dataclasses import dataclass, field

from r1recipes.generation.readability import failed_filters, measure
from r1recipes.generation.sampling import Sample
from r1recipes.rewards import Reward
from r1recipes.rewards.accuracy import clear_caches
from r1recipes.rewards.text import THINK_CLOSE, reasoning_text


@dataclass
class Prompt:
    position: int  # in the prompt stream: sets the seed, the chunk and the default id
    prompt_id: str
    task: str
    messages: list[dict]  # the user-side turns the output rows start with
    columns: dict  # the row's columns, as the verifier receives them


@dataclass
class Chunk:
    index: int
    prompts: list[Prompt]
    samples: list[list[Sample]]


@dataclass
class JudgeSettings:
    verifiers: dict[str, str]
    verifier_kwargs: dict[str, dict]
    min_score: float
    filters: dict[str, dict]
    keep_per_prompt: int | dict[str, int]  # m, or m by task
    keep_policy: str
    seed: int

    @classmethod
    def from_config(cls, config) -> "JudgeSettings":
        return cls(
            config.verifiers, config.verifier_kwargs, config.min_score, config.filters,
            config.keep_per_prompt, config.keep_policy, config.seed,
        )  # fmt: skip


@dataclass
class Judged:
    index: int
    rows: list[dict]
    stats: dict = field(default_factory=dict)


def assistant_turn(text: str) -> str:
    """The completion as R1's SFT data writes it; a text without `</think>` is kept as it is."""
    if THINK_CLOSE not in text:
        return text.strip()
    answer = text.split(THINK_CLOSE, 1)[1].strip()
    return f"<think>\n{reasoning_text(text).strip()}\n</think>\n\n{answer}"


def verify(
    verifiers: dict[str, str], verifier_kwargs: dict[str, dict], prompts: list[Prompt], samples: list[list[Sample]]
) -> list[list[float | None]]:
    """Each sample's score from its task's verifier (a reward), one call per task: for judging here and for
    evaluation (`evaluate.py`), so both score exactly as GRPO rewards."""
    scores: list[list[float | None]] = [[None] * len(s) for s in samples]
    for task in dict.fromkeys(p.task for p in prompts):
        name = verifiers[task]
        reward = Reward(name, verifier_kwargs.get(name))
        mine = [i for i, p in enumerate(prompts) if p.task == task]
        flat = [(i, j) for i in mine for j in range(len(samples[i]))]
        keys = dict.fromkeys(key for i in mine for key in prompts[i].columns)  # sources of a mixture may differ
        columns = {key: [prompts[i].columns.get(key) for i, _ in flat] for key in keys}
        verdicts = reward(
            [samples[i][j].text for i, j in flat], prompts=[prompts[i].messages for i, _ in flat], **columns
        )
        for (i, j), score in zip(flat, verdicts, strict=True):
            scores[i][j] = score
    return scores


def _keep(
    settings: JudgeSettings, prompt: Prompt, accepted: list[int], samples: list[Sample]
) -> tuple[list[int], int]:
    """The sample indices kept, and how many were dropped as duplicates."""
    if settings.keep_policy == "shortest":
        accepted = sorted(accepted, key=lambda j: (samples[j].num_tokens, j))
    unique: dict[str, int] = {}
    for j in accepted:
        unique.setdefault(assistant_turn(samples[j].text), j)  # the first of equal texts: the shortest
    chosen = list(unique.values())
    if settings.keep_policy == "random":
        random.Random(f"{settings.seed}/{prompt.position}").shuffle(chosen)
    m = settings.keep_per_prompt
    m = m if isinstance(m, int) else m[prompt.task]
    return sorted(chosen[:m]), len(accepted) - len(unique)


def judge_chunk(chunk: Chunk, settings: JudgeSettings) -> Judged:
    """The kept rows of a chunk and its counts (see the module doc); runs in a worker process."""
    clear_caches()  # a chunk's verdicts must not depend on which chunks this process judged before
    scores = verify(settings.verifiers, settings.verifier_kwargs, chunk.prompts, chunk.samples)
    language = settings.filters.get("language", {}).get("language", "en")
    ngram_size = settings.filters.get("repetition", {}).get("ngram_size", 4)
    counts: Counter = Counter()
    rows = []
    for prompt, samples, prompt_scores in zip(chunk.prompts, chunk.samples, scores, strict=True):
        task = f"tasks/{prompt.task}"
        counts[f"{task}/prompts"] += 1
        accepted, correct = [], 0
        for j, (sample, score) in enumerate(zip(samples, prompt_scores, strict=True)):
            counts[f"{task}/samples"] += 1
            counts[f"{task}/sample_tokens"] += sample.num_tokens
            failed = failed_filters(sample.text, prompt.task, sample.truncated, settings.filters)
            if score is None:
                failed.append("unverifiable")
            elif score < settings.min_score:
                failed.append("incorrect")
            else:
                correct += 1
            counts.update(f"rejected/{reason}" for reason in failed)
            if not failed:
                accepted.append(j)
        counts[f"{task}/correct"] += correct
        counts[f"{task}/accepted"] += len(accepted)
        kept, duplicates = _keep(settings, prompt, accepted, samples)
        counts["dropped/duplicates"] += duplicates
        counts["dropped/over_keep_per_prompt"] += len(accepted) - duplicates - len(kept)
        counts[f"{task}/kept"] += len(kept)
        counts[f"{task}/prompts_with_kept"] += bool(kept)
        for j in kept:
            sample, reply = samples[j], assistant_turn(samples[j].text)
            counts[f"{task}/kept_tokens"] += sample.num_tokens
            rows.append(
                {
                    "messages": [*prompt.messages, {"role": "assistant", "content": reply}],
                    "prompt_id": prompt.prompt_id,
                    "task": prompt.task,
                    "sample_index": j,
                    "num_correct": correct,
                    "completion_tokens": sample.num_tokens,
                    "reward": prompt_scores[j],
                    "verifier": settings.verifiers[prompt.task],
                    **measure(reply, language, ngram_size),  # of the text as stored
                }
            )
    return Judged(chunk.index, rows, dict(counts))
