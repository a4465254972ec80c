"""Getting the text and the stated final answers out of a completion, whichever form TRL passes it in.

Everything here is linear-time string scanning, so it is safe to run in the trainer's process on any text.
"""

import re

THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r]*\n")  # a blank line, which may hold spaces


def completion_text(completion) -> str:
    """A plain string, or the content of the last message of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return ""


def valid_unicode(text: str) -> str:
    """A lone surrogate (not Unicode; a completion can hold one) stops a tokenizer: U+FFFD takes its place."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def reasoning_text(text: str) -> str:
    """The reasoning part of a completion's text, without its tags.

    - with `</think>`: what precedes the first `</think>`, from after a `<think>` there if there is one;
    - with `<think>` but no `</think>` (a truncated completion): everything after the first `<think>`;
    - with neither: the whole text (a model that does not use the tags reasons in the open).
    """
    close = text.find(THINK_CLOSE)
    end = close if close >= 0 else len(text)
    start = text.find(THINK_OPEN, 0, end)
    return text[start + len(THINK_OPEN) if start >= 0 else 0 : end]


def boxed_contents(text: str) -> list[str]:
    """The contents of every `\\boxed{...}` (or `\\fbox{...}`) in order, braces balanced; unclosed ones skipped."""
    return [content for _, content in _boxes(text)]


def _boxes(text: str) -> list[tuple[int, str]]:
    """(where the `\\boxed` starts, its contents) for every closed box, in order."""
    found = []
    position = 0
    while match := _BOXED.search(text, position):
        depth, start = 1, match.end()
        index = start
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        if depth:
            break  # unclosed: nothing after it can be a complete box either
        found.append((match.start(), text[start : index - 1]))
        position = index
    return found


def last_answer_block(text: str) -> str | None:
    """The content of the last `<answer>...</answer>` block, or None (two searches from the end: linear time,
    where a non-greedy regex is quadratic on a text of many unclosed `<answer>` tags)."""
    end = text.rfind("</answer>")
    start = text.rfind("<answer>", 0, end) if end >= 0 else -1
    return text[start + len("<answer>") : end] if start >= 0 else None


def final_answers(text: str) -> list[str]:
    """Every answer the completion's final part states: its boxed contents, or an `<answer>` block's text.

    The final part is the last `<answer>` block if there is one (its boxes, else the block itself); else the
    text after the last `</think>` (when that boxes nothing, the reasoning's last box is the answer); else, with
    neither tag, the paragraph holding the last box, from the blank line before it. Boxes before the final
    part are working (R1-style reasoning boxes intermediate results) and never count. More than one entry means
    the final part stated several answers; the accuracy reward decides whether that is hedging.
    """
    block = last_answer_block(text)
    if block is not None:
        return boxed_contents(block) or ([block.strip()] if block.strip() else [])
    reasoning, close, after = text.rpartition(THINK_CLOSE)
    if close:
        return boxed_contents(after) or boxed_contents(reasoning)[-1:]
    boxes = _boxes(text)
    if not boxes:
        return []
    paragraph = 0
    for blank_line in _PARAGRAPH_BREAK.finditer(text, 0, boxes[-1][0]):
        paragraph = blank_line.end()
    return [content for start, content in boxes if start >= paragraph]
