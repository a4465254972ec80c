"""Each prompt format rendered exactly, through the tiny model's real chat template."""

import pytest

from r1recipes.config.arguments import DataArguments, SFTDataArguments
from r1recipes.data.prompts import grpo_row, make_completion, sft_messages_row, sft_pair_row
from r1recipes.models.loading import load_tokenizer

ROW = {"problem": "What is 2 + 3?", "answer": "5", "solution": "<think>\n2 + 3 = 5.\n</think>\n<answer>5</answer>"}


def args(cls=DataArguments, **fields):
    return cls(dataset_name="unused.jsonl", **fields)


def test_r1_zero_prompt_is_the_report_template_ending_inside_think():
    prompt = grpo_row(ROW, args(prompt_format="r1_zero"))["prompt"]
    assert prompt == (
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
        "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
        "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
        "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.\n"
        "User: What is 2 + 3?\nAssistant: <think>"
    )


def test_r1_zero_completion_does_not_reopen_think():
    pair = sft_pair_row(ROW, args(SFTDataArguments, prompt_format="r1_zero"))
    assert pair["prompt"].endswith("Assistant: <think>")
    assert pair["completion"] == "\n2 + 3 = 5.\n</think>\n<answer>5</answer>"


def test_chat_prompt_renders_through_the_chat_template(tiny_model):
    tokenizer = load_tokenizer(str(tiny_model))
    prompt = grpo_row(ROW, args(prompt_format="chat", system_prompt="Think first."))["prompt"]
    assert prompt == [{"role": "system", "content": "Think first."}, {"role": "user", "content": "What is 2 + 3?"}]
    rendered = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nThink first.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_chat_completion_is_an_assistant_turn():
    assert make_completion("x", args(prompt_format="chat")) == [{"role": "assistant", "content": "x"}]


def test_template_fills_named_columns():
    template = "Problem: {problem}\nGive the answer to {problem} after thinking.\n"
    prompt = grpo_row(ROW, args(prompt_format="template", prompt_template=template))["prompt"]
    assert prompt == "Problem: What is 2 + 3?\nGive the answer to What is 2 + 3? after thinking.\n"
    assert args(prompt_format="template", prompt_template=template).prompt_fields == ["problem"]


def test_messages_get_the_system_turn_once():
    data_args = args(SFTDataArguments, system_prompt="Be brief.")
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    messages = sft_messages_row(row, data_args)["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."} and len(messages) == 3
    assert sft_messages_row({"messages": messages}, data_args)["messages"] == messages


@pytest.mark.parametrize("template", ["{}", "no placeholders", "{bad-name}", "{unclosed"])
def test_malformed_templates_are_rejected(template):
    from r1recipes import RecipeError

    with pytest.raises(RecipeError, match="prompt_template"):
        args(prompt_format="template", prompt_template=template)
