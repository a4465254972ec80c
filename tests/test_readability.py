"""Readability filters: settings merged and checked, each filter on hand-made completions, boundaries exact."""

import re

import pytest

from r1recipes import RecipeError
from r1recipes.generation.readability import DEFAULT_SETTINGS, check_filters, failed_filters, measure

ORDER = ["truncated", "think_layout", "language", "paragraph_length", "code_in_reasoning", "repetition"]


def only(name: str, **settings) -> dict[str, dict]:
    """The one filter `name` (with `settings`), every other switched off."""
    return check_filters({other: (settings if other == name else False) for other in ORDER})


def fails(text: str, name: str, task: str = "math", **settings) -> bool:
    failed = failed_filters(text, task, False, only(name, **settings))
    assert failed in ([], [name])
    return failed == [name]


def test_defaults_and_switches():
    assert list(DEFAULT_SETTINGS) == ORDER
    assert check_filters(None) == check_filters({}) == DEFAULT_SETTINGS
    assert check_filters({"language": True, "repetition": None}) == DEFAULT_SETTINGS
    assert list(check_filters({"language": False})) == [n for n in ORDER if n != "language"]
    assert check_filters({name: False for name in ORDER}) == {}
    merged = check_filters({"language": {"min_share": 0.5}, "repetition": {"ngram_size": 2}})
    assert merged["language"] == {"language": "en", "min_share": 0.5}
    assert merged["repetition"] == {"ngram_size": 2, "max_repeated": 0.5}
    assert merged["paragraph_length"] == {"max_chars": 3000}


@pytest.mark.parametrize(
    "filters, message",
    [
        ({"langauge": {}}, "filters: unknown filter 'langauge' (valid: " + ", ".join(ORDER) + ")"),
        ({"language": {"lang": "en"}}, "filters.language: unknown setting 'lang' (valid: language, min_share)"),
        ({"truncated": {"strict": True}}, "filters.truncated: unknown setting 'strict' (valid: none)"),
        ({"language": {"min_share": 1.5}}, "filters.language.min_share: expected a number >= 0 and <= 1, got 1.5"),
        (
            {"paragraph_length": {"max_chars": 0}},
            "paragraph_length.max_chars: expected an integer >= 1, got 0",
        ),
        ({"repetition": {"ngram_size": 2.5}}, "filters.repetition.ngram_size: expected an integer >= 1, got 2.5"),
        ({"repetition": {"max_repeated": True}}, "filters.repetition.max_repeated: expected a number >= 0 and <= 1"),
        ({"language": {"language": "xx"}}, "filters.language.language: unknown language 'xx' (valid: en, zh, ja"),
        ({"code_in_reasoning": {"code_tasks": "code"}}, "code_tasks: expected a list of task names, got 'code'"),
        ({"think_layout": {"require_answer_tags": "yes"}}, "require_answer_tags: expected true or false, got 'yes'"),
        ({"language": "en"}, "filters.language: expected a mapping of settings, true or false, got 'en'"),
        (["language"], "filters: expected a mapping of filter names to settings, got ['language']"),
        (False, "filters: expected a mapping of filter names to settings, got False"),  # not "no filters"
    ],
)
def test_bad_filters(filters, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        check_filters(filters)


def test_truncated():
    text = "<think>\nsix times seven\n</think>\n\n42"
    assert failed_filters(text, "math", True, check_filters({})) == ["truncated"]
    assert failed_filters(text, "math", False, check_filters({})) == []
    assert failed_filters(text, "math", True, check_filters({"truncated": False})) == []


@pytest.mark.parametrize(
    "text, answer_tags, expected",
    [
        ("<think>\nsix times seven\n</think>\n\n42", False, False),
        ("six times seven\n</think>\n\n42", False, False),  # the prompt opened <think>
        ("<think>six times seven</think>42", False, False),  # whitespace around tags is free
        ("<think>\nsix times seven\n\n42", False, True),  # no </think>
        ("<think>\nsix times seven\n</think>\nso\n</think>\n\n42", False, True),  # two </think>
        ("<think> </think> 42", False, True),  # empty reasoning
        ("<think>\n\t\n</think>\n\n42", False, True),
        ("<think>\nsix times seven\n</think>\n \n", False, True),  # nothing after </think>
        ("well <think>\nsix times seven\n</think>\n\n42", False, True),  # text before <think>
        ("six times seven, so 42", False, True),  # no tags at all
        ("<think>\nsix times seven\n</think>\n\n<answer>42</answer>", True, False),
        ("six times seven\n</think>\n<answer>\n42\n</answer>\n", True, False),
        ("<think>\nsix times seven\n</think>\n\n42", True, True),  # no <answer> block
        ("<think>\nsix times seven\n</think>\n\n<answer> </answer>", True, True),  # empty answer
        ("<think>\nsix times seven\n</think>\nso <answer>42</answer>", True, True),  # text before <answer>
    ],
)
def test_think_layout(text, answer_tags, expected):
    assert fails(text, "think_layout", require_answer_tags=answer_tags) is expected


def think(reasoning: str, answer: str = "42") -> str:
    return f"<think>\n{reasoning}\n</think>\n\n{answer}"


@pytest.mark.parametrize(
    "text, settings, expected",
    [
        (think("六乘以七等于四十二"), {}, True),
        (think("六乘以七等于四十二"), {"language": "zh"}, False),
        (think("six times seven is forty two"), {"language": "zh"}, True),
        (think("six times seven 等于 forty two"), {}, True),  # 5 of 7 units in Latin script
        (think("six times seven", answer="六乘以七等于四十二"), {}, False),  # only the reasoning counts
        (think("$$x^2 = 1$$ \\frac{1}{2} + 3 = 4 \\(y\\) x y z"), {}, False),  # no words: passes
        (think("$$x^2 = 1$$ \\frac{1}{2} + 3 = 4"), {"language": "zh"}, False),
        (think("`代码` ```\n中文\n``` fine words"), {}, False),  # code is not counted
        (think("word " * 19 + "数"), {}, False),  # 19 / 20 == min_share 0.95: passes
        (think("word " * 18 + "数"), {}, True),  # 18 / 19 < 0.95
        (think("word 数"), {"min_share": 0.5}, False),
        (think("word 数字"), {"min_share": 0.5}, True),  # 1 / 3
        (think("六乘以七"), {"min_share": 0.0}, False),
    ],
)
def test_language(text, settings, expected):
    assert fails(text, "language", **settings) is expected


def paragraphs(separator: str, size: int = 20) -> str:
    return think(f"\n{'a' * size}{separator}{'b' * size}\n")


@pytest.mark.parametrize(
    "text, max_chars, expected",
    [
        (think(f"intro\n\n{'x' * 3000}\n"), 3000, False),
        (think(f"intro\n\n{'x' * 3001}\n"), 3000, True),
        (think("intro\n\n42", answer="x" * 3001), 3000, True),  # the answer's paragraphs count too
        (paragraphs("\n\n"), 20, False),
        (paragraphs("\n\n", 21), 20, True),
        (paragraphs("\n \t \n"), 20, False),  # a line of spaces and tabs is blank
        (paragraphs("\n\t\n"), 20, False),
        (paragraphs("\n"), 20, True),  # one line break joins the two into 41 characters
        (paragraphs("\n.\n"), 20, True),
    ],
)
def test_paragraph_length(text, max_chars, expected):
    assert fails(text, "paragraph_length", max_chars=max_chars) is expected


@pytest.mark.parametrize(
    "text, task, expected",
    [
        (think("let me check\n```python\nprint(6 * 7)\n```\nyes"), "math", True),
        (think("let me check\n```python\nprint(6 * 7)\n```\nyes"), "code", False),
        (think("let me check\n   ```\nprint(6 * 7)\n   ```"), "math", True),  # an indented fence
        ("<think>```\nprint(6 * 7)\n```</think>42", "math", True),  # a fence right after <think>
        ("<think>\nlet me check\n```\nprint(6 * 7)", "math", True),  # truncated inside the block
        (think("six times seven", answer="```python\nprint(42)\n```"), "math", False),  # after </think>
        (think("the ``` marks open a code block"), "math", False),  # mid-line: not a block
        (think("inline `print(6 * 7)` is fine"), "math", False),
    ],
)
def test_code_in_reasoning(text, task, expected):
    assert fails(text, "code_in_reasoning", task) is expected


def test_code_tasks_setting():
    text = think("```\nprint(6 * 7)\n```")
    assert fails(text, "code_in_reasoning", "math", code_tasks=["code", "math"]) is False
    assert fails(text, "code_in_reasoning", "code", code_tasks=[]) is True


@pytest.mark.parametrize(
    "text, settings, expected",
    [
        (think("the same words again " * 50), {}, True),
        (think("six times seven: six sevens are forty two, and seven sixes too"), {}, False),
        # units <think> a b a b c d </think> z: 8 bigrams, 7 distinct, so 1/8 repeated
        (think("a b a b c d", answer="z"), {"ngram_size": 2, "max_repeated": 0.125}, False),
        (think("a b a b c d", answer="z"), {"ngram_size": 2, "max_repeated": 0.124}, True),
        (think("a b a b c d", answer="z"), {"ngram_size": 3, "max_repeated": 0.0}, False),  # trigrams all new
        ("Again again AGAIN again", {"ngram_size": 1, "max_repeated": 0.75}, False),  # lowercased: 3 of 4
        ("Again again AGAIN again", {"ngram_size": 1, "max_repeated": 0.74}, True),
        ("again again", {"ngram_size": 3, "max_repeated": 0.0}, False),  # shorter than one n-gram
        ("数数数数", {"ngram_size": 1, "max_repeated": 0.74}, True),  # Han characters are units
    ],
)
def test_repetition(text, settings, expected):
    assert fails(text, "repetition", **settings) is expected


def test_every_failure_is_named_in_order():
    text = "<think>\n```\n" + "数学很好 " * 30  # truncated, no </think>, Chinese, long, code, a loop
    filters = check_filters({"paragraph_length": {"max_chars": 50}})
    assert failed_filters(text, "math", True, filters) == ORDER
    assert failed_filters(text, "code", False, filters) == ORDER[1:4] + ORDER[5:]
    filters = check_filters({"paragraph_length": {"max_chars": 50}, "language": {"language": "zh"}})
    assert failed_filters(text, "math", False, filters) == ["think_layout", "paragraph_length", *ORDER[4:]]


def test_measure():
    text = "<think>\nthe cat the cat\n\nsat 数\n</think>\n\nok"
    # units: <think> the cat the cat sat 数 </think> ok; bigrams: 8, of which "the cat" twice
    assert measure(text, "en", 2) == {"language_share": 5 / 6, "repeated_share": 0.125, "longest_paragraph": 23}
    assert measure(text) == {"language_share": 5 / 6, "repeated_share": 0.0, "longest_paragraph": 23}
    assert measure(text, "zh", 1)["language_share"] == 1 / 6
    assert measure(text, "en", 1)["repeated_share"] == 2 / 9
    maths = "<think>\n$x + 1 = 2$\n</think>\n\n1"
    assert measure(maths) == {"language_share": None, "repeated_share": 0.0, "longest_paragraph": 28}
    assert measure("") == {"language_share": None, "repeated_share": 0.0, "longest_paragraph": 0}
