"""Credit for reasoning laid out in explicit steps.

reward = min(1, steps / min_steps), where steps counts the step markers in the reasoning part of the completion
(inside `<think>`, see `reasoning_text`; the whole text when there are no think tags). A step marker is:
- a numbered line, `1. ` or `1) ` (digits then `.` or `)` then a space, so `3.14` is no step);
- a bullet line, `- `, `* ` or `• `;
- `Step 1:` anywhere (`**Step 1:**` included);
- `First,` `Second,` `Third,` `Next,` `Then,` or `Finally,` (capitalised, with the comma) starting a line or a
  sentence (after `.`, `!`, `?` or `:` and a space).
A marker that directly follows another (`1. First,`, `- Step 2:`, `Step 3: Then,`) makes one step, not two.

From open-r1's `reasoning_steps_reward` (min(1, count / 3) over `Step N:`, line-start numbers, `\\n-`, `\\n*`
and the transition words anywhere); departs from it by counting in the reasoning only, accepting bullets on the
first line, ignoring transition words inside a sentence ("we first, ..." and "then, " are not steps), adding
`Third,`/`Then,`/`1)`/`•`, and counting a doubly marked step once.
"""

import re

from r1recipes.rewards.settings import setting
from r1recipes.rewards.text import completion_text, reasoning_text

_TRANSITION = r"(?:First|Second|Third|Next|Then|Finally),"
_STEP_LABEL = r"\bStep[ \t]*[0-9]{1,4}[ \t]*:"
# Each alternative starts at a distinct place (a line start, `Step`, a sentence start), and every repetition
# is over one character class, so matching is linear in the text.
_MARKER = re.compile(
    rf"^[ \t]*(?:[0-9]{{1,4}}[.)]|[-*•])[ \t]+(?:\**(?:{_STEP_LABEL}|{_TRANSITION}))?"
    rf"|{_STEP_LABEL}(?:\**[ \t]*{_TRANSITION})?"
    rf"|(?:^[ \t]*|(?<=[.!?:])[ \t]+){_TRANSITION}",
    re.MULTILINE,
)


def count_steps(text: str) -> int:
    """The step markers in `text` (all of it: pass the reasoning part yourself)."""
    return sum(1 for _ in _MARKER.finditer(text))


def reasoning_steps_reward(completions, *, min_steps: int = 3, **kwargs) -> list[float]:
    """min(1, steps / min_steps) for the explicit steps in each completion's reasoning; see the module doc.

    `min_steps` (default 3) is the number of steps that earns full credit."""
    min_steps = setting("reasoning_steps", "min_steps", min_steps, minimum=1, integer=True)
    return [min(1.0, count_steps(reasoning_text(completion_text(c))) / min_steps) for c in completions]
