"""Turning a dataset row into the prompt (GRPO) or the prompt/completion pair (SFT) a stage trains on.

Three formats, picked by `prompt_format`:
- `r1_zero`: the plain template DeepSeek-R1-Zero used on its base model (R1 report, table 1). We end the
  prompt with `<think>` so the model continues inside the reasoning block, and put the question on its own
  line instead of the report's "User: prompt. Assistant:" so a question's own punctuation is kept.
- `chat`: an optional system turn and one user turn, rendered later by the tokenizer's chat template.
- `template`: a plain-text prompt from `prompt_template`, whose {placeholders} name dataset columns.
"""

from r1recipes.config.arguments import DataArguments

R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.\n"
    "User: {prompt}\nAssistant: <think>"
)


def make_prompt(row: dict, data_args: DataArguments) -> str | list[dict]:
    if data_args.prompt_format == "template":
        return data_args.prompt_template.format(**{name: row[name] for name in data_args.prompt_fields})
    question = str(row[data_args.prompt_column]).strip()
    if data_args.prompt_format == "r1_zero":
        return R1_ZERO_TEMPLATE.format(prompt=question)
    system = [{"role": "system", "content": data_args.system_prompt}] if data_args.system_prompt else []
    return system + [{"role": "user", "content": question}]


def make_completion(text: str, data_args: DataArguments) -> str | list[dict]:
    """The SFT target in the prompt's form. After an R1-Zero prompt, which opened <think>, a leading
    <think> in the target is dropped so the block is not opened twice."""
    if data_args.prompt_format == "chat":
        return [{"role": "assistant", "content": text}]
    if data_args.prompt_format == "r1_zero":
        stripped = text.lstrip()
        if stripped.startswith("<think>"):
            text = stripped[len("<think>") :]
    return text


def sft_messages_row(row: dict, data_args: DataArguments) -> dict:
    """A `messages` conversation kept as it is, with the recipe's system turn put first when it has none."""
    messages = list(row["messages"])
    if data_args.system_prompt and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": data_args.system_prompt})
    return {"messages": messages}


def sft_pair_row(row: dict, data_args) -> dict:
    """`prompt`/`completion` for TRL's SFTTrainer, which then trains on the completion tokens only."""
    return {
        "prompt": make_prompt(row, data_args),
        "completion": make_completion(str(row[data_args.completion_column]), data_args),
    }


def grpo_row(row: dict, data_args: DataArguments) -> dict:
    """`prompt` for TRL's GRPOTrainer; the other columns stay, since rewards receive them."""
    return {"prompt": make_prompt(row, data_args)}
