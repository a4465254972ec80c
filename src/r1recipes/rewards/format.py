"""The R1 output layout: reasoning inside <think>...</think>, then the answer.

`format_reward` gives 1.0 for the whole layout and 0.0 otherwise (R1 report, section 2.2.2: "format rewards"
that make the model put its thinking between `<think>` and `</think>`). `tag_count_reward` gives partial credit
per tag, as open-r1's `tag_count_reward` does, so a model that gets the layout half right sees a gradient.

Both read the text only, never the prompt, and depart from the report and open-r1 the same ways:
- The opening `<think>` may be missing, since an R1-Zero prompt (and many chat templates) already opened it
  and the completion then starts inside the block. A `<think>` that is written must start the completion.
- Whitespace around tags is free: open-r1 requires `<think>\\n`, `\\n</think>\\n`, `\\n<answer>\\n` and
  `\\n</answer>` exactly; here a tag is a tag wherever the line breaks fall.
- Each tag must occur exactly once (the block is opened, closed, answered once).

"""

from r1recipes.rewards.settings import flag
from r1recipes.rewards.text import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, completion_text


def _tag_credits(text: str, tags: tuple[str, ...]) -> list[bool]:
    """Per tag of `tags` (in layout order): whether it occurs exactly once and in its place.

    In its place: no earlier tag of `tags` occurs after it and no later one before it; `<think>` has only
    whitespace before it and `</answer>` only whitespace after it. A missing `<think>` counts as in place when
    `</think>` is (the prompt opened the block)."""
    first = [text.find(tag) for tag in tags]
    last = [text.rfind(tag) for tag in tags]
    credits = []
    for i, tag in enumerate(tags):
        at = first[i]
        ok = at >= 0 and at == last[i]
        ok = ok and all(last[j] < at for j in range(i))
        ok = ok and all(first[k] < 0 or first[k] > at for k in range(i + 1, len(tags)))
        if ok and tag == THINK_OPEN:
            ok = not text[:at].strip()
        if ok and tag == ANSWER_CLOSE:
            ok = not text[at + len(tag) :].strip()
        credits.append(ok)
    if tags[0] == THINK_OPEN and first[0] < 0:
        credits[0] = credits[1]
    return credits


def _tags(require_answer_tags: bool) -> tuple[str, ...]:
    return (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE) if require_answer_tags else (THINK_OPEN, THINK_CLOSE)


def has_layout(text: str, require_answer_tags: bool) -> bool:
    if not all(_tag_credits(text, _tags(require_answer_tags))):
        return False
    after_think = text[text.find(THINK_CLOSE) + len(THINK_CLOSE) :]
    if not require_answer_tags:
        return bool(after_think.strip())
    answer_at = after_think.find(ANSWER_OPEN)
    answer = after_think[answer_at + len(ANSWER_OPEN) : after_think.find(ANSWER_CLOSE)]
    return not after_think[:answer_at].strip() and bool(answer.strip())


def format_reward(completions, *, require_answer_tags: bool = True, **kwargs) -> list[float]:
    """1.0 when the completion is `[<think>] reasoning </think>` followed by the answer, else 0.0.

    Every tag occurs once; the reasoning may be empty; whitespace around tags is free. With
    `require_answer_tags` (default) the text after `</think>` is exactly one `<answer>...</answer>` block,
    non-empty inside, with only whitespace around it; otherwise it is any non-empty text (answer tags allowed).
    So 1.0 exactly where `tag_count_reward` (same setting) gives full marks, less the completions with text
    between `</think>` and `<answer>` or an empty answer (or, without answer tags, nothing after `</think>`).
    """
    require_answer_tags = flag("format", "require_answer_tags", require_answer_tags)
    return [1.0 if has_layout(completion_text(c), require_answer_tags) else 0.0 for c in completions]


def tag_count_reward(completions, *, require_answer_tags: bool = True, **kwargs) -> list[float]:
    """Partial credit per tag used exactly once and in its place, in [0, 1].

    With `require_answer_tags` (default) each of `<think>`, `</think>`, `<answer>`, `</answer>` earns 0.25;
    without, only `<think>` and `</think>` count, 0.5 each, and answer tags are ignored wherever they are.
    A tag is in its place when it comes after the tags before it in that list and before the tags after it;
    besides, `<think>` must start the completion and `</answer>` end it (whitespace aside). A completion with
    no `<think>` gets that tag's share when `</think>` earns its own: the prompt opened the block.
    """
    tags = _tags(flag("tag_count", "require_answer_tags", require_answer_tags))
    share = 1.0 / len(tags)
    return [share * sum(_tag_credits(completion_text(c), tags)) for c in completions]
