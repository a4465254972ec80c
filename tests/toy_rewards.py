"""A reward with spread across a group, so GRPO has a non-zero advantage on a random model."""


def length_reward(completions, **kwargs):
    return [float(len(c if isinstance(c, str) else c[-1]["content"])) for c in completions]
