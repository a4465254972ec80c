"""Getting the text out of a completion, whichever form TRL passes it in."""


def completion_text(completion) -> str:
    """A plain string, or the content of the last message of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return ""
