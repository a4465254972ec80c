"""Style rewards: layout tags, explicit steps, repetition, overlong punishment and language consistency."""

import inspect
import math
import time

import pytest

from r1recipes import RecipeError
from r1recipes.rewards.format import format_reward, tag_count_reward
from r1recipes.rewards.language import LANGUAGES, language_reward, language_share
from r1recipes.rewards.length import overlong_reward
from r1recipes.rewards.repetition import repetition_reward
from r1recipes.rewards.steps import count_steps, reasoning_steps_reward
from r1recipes.rewards.text import reasoning_text

# What TRL passes besides the completions; every reward must take it and ignore it.
TRL_KWARGS = {"prompts": ["q"], "trainer_state": None, "answer": ["5"], "task": ["math"]}


def chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


# --- format and tag_count -------------------------------------------------------------------------------------

# text, tag_count, format (answer tags required), then tag_count, format (think tags only)
LAYOUTS = [
    ("<think>a</think><answer>5</answer>", 1.0, 1.0, 1.0, 1.0),
    ("<think>\nreason\n</think>\n<answer>\n5\n</answer>", 1.0, 1.0, 1.0, 1.0),  # open-r1's exact layout
    ("\n  <think> reason </think>\n\n <answer> 5 </answer> \n", 1.0, 1.0, 1.0, 1.0),
    ("reason\n</think>\n<answer>5</answer>", 1.0, 1.0, 1.0, 1.0),  # the prompt opened <think>
    ("<think>a</think>", 0.5, 0.0, 1.0, 0.0),
    ("<think>a</think> 5", 0.5, 0.0, 1.0, 1.0),
    ("<think>a</think>  \n", 0.5, 0.0, 1.0, 0.0),
    ("<think>a", 0.25, 0.0, 0.5, 0.0),  # truncated inside the reasoning
    ("</think>", 0.5, 0.0, 1.0, 0.0),
    ("no tags at all", 0.0, 0.0, 0.0, 0.0),
    ("x <think>a</think><answer>5</answer>", 0.75, 0.0, 0.5, 0.0),  # <think> does not start the text
    ("<think>a</think><answer>5</answer> x", 0.75, 0.0, 1.0, 1.0),  # </answer> does not end it
    ("<think>a</think>b<answer>5</answer>", 1.0, 0.0, 1.0, 1.0),  # text between </think> and <answer>
    ("<think>a</think><answer> </answer>", 1.0, 0.0, 1.0, 1.0),  # empty answer
    ("<think>a</think><answer>1</answer><answer>2</answer>", 0.5, 0.0, 1.0, 1.0),
    ("<think>a<think>b</think><answer>5</answer>", 0.75, 0.0, 0.5, 0.0),
    ("<think>a</think>b</think><answer>5</answer>", 0.75, 0.0, 0.5, 0.0),
    ("<think>a<answer>1</answer></think>", 0.25, 0.0, 1.0, 0.0),
    ("<answer>5</answer><think>a</think>", 0.0, 0.0, 0.5, 0.0),
    ("a<answer>5</answer>", 0.5, 0.0, 0.0, 0.0),  # answer tags are no reason to assume an opened <think>
]


@pytest.mark.parametrize(("text", "tags", "layout", "think_tags", "think_layout"), LAYOUTS)
def test_tag_count_and_format(text, tags, layout, think_tags, think_layout):
    for completion in (text, chat(text)):
        assert tag_count_reward([completion], **TRL_KWARGS) == [tags]
        assert format_reward([completion], **TRL_KWARGS) == [layout]
        assert tag_count_reward([completion], require_answer_tags=False) == [think_tags]
        assert format_reward([completion], require_answer_tags=False) == [think_layout]


def test_format_scores_each_completion_of_a_batch():
    batch = ["<think>a</think><answer>5</answer>", chat("a</think><answer>5</answer>"), "5", chat(""), []]
    assert format_reward(batch) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert tag_count_reward(batch) == [1.0, 1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("text", "reasoning"),
    [
        ("<think>a</think>b", "a"),
        ("a</think>b", "a"),
        ("<think>a", "a"),
        ("just text", "just text"),
        ("x<think>a</think>", "a"),
        ("a</think>b<think>c</think>", "a"),
        ("<think>a</think>b</think>", "a"),
    ],
)
def test_reasoning_text(text, reasoning):
    assert reasoning_text(text) == reasoning


# --- reasoning_steps ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("Step 1: add. Step 2: carry.", 2),
        ("**Step 1:** add\n**Step 2:** carry", 2),
        ("1. add\n2. carry\n3) check", 3),
        ("3.14 is pi\n10.5 is more\n2.5", 0),  # a decimal starting a line is no numbered step
        ("- add\n* carry\n• check\n  - nested", 4),
        ("-1 is negative\n*emphasis*", 0),  # a bullet needs a space after it
        ("First, add. Then, carry! Next, check? Finally, done.", 4),
        ("As follows: Second, third.\nThird, fourth.", 2),
        ("we first, add and then, carry; next, done", 0),  # not at a sentence start
        ("First add, then carry.", 0),  # no comma after the word
        ("1. First, add\n- Step 2: carry\nStep 3: Then, check\n2. **Step 4:** done", 4),  # one step per mark
        ("1. add. Then, carry. Next, check.", 3),
        ("", 0),
    ],
)
def test_count_steps(text, steps):
    assert count_steps(text) == steps


def test_reasoning_steps_reward_is_partial_credit_in_the_reasoning():
    completions = [
        "Step 1: add.",
        chat("1. add\n2. carry"),
        "1. a\n2. b\n3. c",
        "1. a\n2. b\n3. c\n4. d",
        "<think>\n1. add\n</think>\n<answer>\n1. x\n2. y\n3. z\n</answer>",  # steps in the answer do not count
        "1. add\n2. carry\n</think>\n5",  # the prompt opened <think>
        "no steps",
    ]
    assert reasoning_steps_reward(completions, **TRL_KWARGS) == [1 / 3, 2 / 3, 1.0, 1.0, 1 / 3, 2 / 3, 0.0]
    assert reasoning_steps_reward(completions[:4], min_steps=4) == [0.25, 0.5, 0.75, 1.0]
    assert reasoning_steps_reward(completions[:2], min_steps=1) == [1.0, 1.0]


@pytest.mark.parametrize("min_steps", [0, -1, 2.5, True, "3", None])
def test_reasoning_steps_rejects_bad_settings(min_steps):
    with pytest.raises(RecipeError, match="reward_kwargs.reasoning_steps.min_steps: expected an integer >= 1"):
        reasoning_steps_reward([], min_steps=min_steps)


# --- repetition -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ngram_size", "penalty"),
    [
        ("", 3, 0.0),
        ("a b", 3, 0.0),  # shorter than one n-gram
        ("a b c", 3, 0.0),  # exactly one n-gram
        ("the cat sat on the mat", 3, 0.0),  # every trigram new
        ("a a a a a", 3, -2 / 3),  # 3 trigrams, 1 distinct
        ("a b c a b c a b c", 3, -4 / 7),  # 7 trigrams, 3 distinct
        ("Go go GO go.", 1, -0.5),  # lowercased; "go." is another unit than "go"
        ("a b a", 1, -1 / 3),
        ("我我我我我", 3, -2 / 3),  # Chinese in characters
        ("我们学习我们学习", 3, -1 / 3),  # 6 trigrams, 4 distinct
        ("我们学习", 3, 0.0),
        ("我们", 3, 0.0),  # two characters, shorter than a trigram
        ("我们 use 我们 use", 2, -0.4),  # mixed: 5 bigrams of 我/们/use, 3 distinct
        ("これはテスト これはテスト", 3, -0.4),  # kana in characters: 10 trigrams, 6 distinct
        ("안녕 하세요 안녕 하세요", 2, -1 / 3),  # Korean spaces its words: in words
    ],
)
def test_repetition_penalty(text, ngram_size, penalty):
    for completion in (text, chat(text)):
        [result] = repetition_reward([completion], ngram_size=ngram_size, **TRL_KWARGS)
        assert result == pytest.approx(penalty, abs=1e-12)
        assert math.copysign(1.0, result) == (1.0 if penalty == 0 else -1.0)  # never -0.0


def test_repetition_scales_with_max_penalty():
    assert repetition_reward(["a a a a a", "x y z w"], max_penalty=-0.5) == [pytest.approx(-1 / 3), 0.0]
    assert repetition_reward(["a a a a a"], max_penalty=0) == [0.0]
    assert repetition_reward(["a a a a a"], max_penalty=-2) == [pytest.approx(-4 / 3)]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_penalty": 0.5}, r"max_penalty: expected a number <= 0, got 0.5"),
        ({"max_penalty": float("-inf")}, r"max_penalty: expected a number <= 0"),
        ({"ngram_size": 0}, r"ngram_size: expected an integer >= 1, got 0"),
        ({"ngram_size": 2.0}, r"ngram_size: expected an integer >= 1"),
    ],
)
def test_repetition_rejects_bad_settings(settings, message):
    with pytest.raises(RecipeError, match=r"reward_kwargs\.repetition\." + message):
        repetition_reward([], **settings)


# --- overlong -------------------------------------------------------------------------------------------------


def ids(*lengths: int) -> list[list[int]]:
    return [[7] * length for length in lengths]


def test_overlong_is_dapos_soft_punishment_at_its_boundaries():
    # L_max = 10, L_cache = 4: no penalty up to 6 tokens, a ramp to -1 at 10, -1 beyond.
    lengths = [0, 5, 6, 7, 8, 9, 10, 11, 50]
    completions = ["x"] * len(lengths)
    expected = [0.0, 0.0, 0.0, -0.25, -0.5, -0.75, -1.0, -1.0, -1.0]
    assert overlong_reward(completions, ids(*lengths), max_length=10, buffer=4, **TRL_KWARGS) == expected
    halved = [value / 2 for value in expected]
    assert overlong_reward(completions, completion_ids=ids(*lengths), max_length=10, buffer=4, penalty=0.5) == halved
    no_penalty = overlong_reward(completions, ids(*lengths), max_length=10, buffer=4, penalty=0)
    assert [math.copysign(1.0, value) for value in no_penalty] == [1.0] * len(lengths)  # zeros, never -0.0


def test_overlong_defaults_are_512_tokens_with_a_128_token_buffer():
    assert overlong_reward([chat("x")] * 5, ids(384, 385, 448, 512, 513)) == [0.0, -1 / 128, -0.5, -1.0, -1.0]


def test_overlong_needs_completion_ids():
    assert overlong_reward([]) == []
    with pytest.raises(RecipeError, match="need completion_ids, one per completion \\(got none\\)"):
        overlong_reward(["x"])
    with pytest.raises(RecipeError, match="got 1 for 2 completions"):
        overlong_reward(["x", "y"], ids(3))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_length": 10, "buffer": 10}, r"buffer: expected an integer >= 1 and <= 9, got 10"),
        ({"max_length": 10, "buffer": 0}, r"buffer: expected an integer >= 1 and <= 9, got 0"),
        ({"max_length": 1, "buffer": 1}, r"max_length: expected an integer >= 2, got 1"),
        ({"max_length": 1024.0}, r"max_length: expected an integer >= 2"),
        ({"penalty": -1.0}, r"penalty: expected a number >= 0, got -1.0"),
    ],
)
def test_overlong_rejects_bad_settings(settings, message):
    with pytest.raises(RecipeError, match=r"reward_kwargs\.overlong\." + message):
        overlong_reward([], **settings)


# --- language -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "share"),
    [
        ("The sum is five.", "en", 1.0),
        ("我们计算和", "zh", 1.0),
        ("我们用 Python 计算", "zh", 5 / 6),  # a Han character is a unit, an English word is one
        ("我们用 Python 计算", "en", 1 / 6),
        ("我们用Python计算", "zh", 5 / 6),  # no spaces needed between scripts
        ("设 x 为 5, 则 y = 2x", "zh", 1.0),  # one-letter words are variables, digits are no units
        ("我们得到 $\\text{total}$ 和 \\frac{a}{b}", "zh", 1.0),  # maths and LaTeX commands are left out
        ("The answer is $$\\frac{\\pi}{2}$$ and \\[ \\sqrt{x} \\] so \\( y \\) done", "en", 1.0),
        ("我们 ```python\nprint('hello world')\n``` 计算 `len`", "zh", 1.0),  # code is left out
        ("costs $5 only", "en", 1.0),  # an unclosed $ is text
        ("我 $x\nyes$ 们", "zh", 2 / 3),  # $...$ stays within a line: this one is text
        ("<b>bold</b> text", "en", 1.0),  # tags are left out
        ("Mоscow city", "en", 0.5),  # the "о" of the first word is Cyrillic: a mixed word counts against
        ("これは テスト です", "ja", 1.0),
        ("これは テスト です", "zh", 0.0),  # kana is not Han
        ("日本語", "zh", 1.0),  # Han is shared: scripts are not languages
        ("안녕하세요 세계 hello", "ko", 2 / 3),
        ("Привет мир hello", "ru", 2 / 3),
        ("Привет мир hello", "RU", 2 / 3),
        ("مرحبا بالعالم", "ar", 1.0),
        ("Γεια σου κόσμε", "el", 1.0),
        ("שלום עולם", "he", 1.0),
        ("हिन्दी भाषा", "hi", 1.0),
        ("हिन्दी hello", "hi", 0.5),  # vowel signs stay inside their word
        ("", "en", 0.0),  # nothing to credit
        ("12 + 30 = 42.", "en", 0.0),
        ("$x^2$", "zh", 0.0),
    ],
)
def test_language_share(text, language, share):
    assert language_share(text, language) == pytest.approx(share, abs=1e-12)


def test_language_reward_scores_the_reasoning_only():
    completions = [
        "<think>\nThe sum is 5.\n</think>\n<answer>五</answer>",
        chat("<think>我们 compute 和</think><answer>5</answer>"),
        "计算 结果</think>The answer is five",  # the prompt opened <think>
        "计算 结果 is done",  # no tags: the whole text
        "<think>Let us add",  # truncated
        "<think></think><answer>five</answer>",  # empty reasoning
    ]
    assert language_reward(completions, language="zh", **TRL_KWARGS) == [0.0, 0.75, 1.0, 2 / 3, 0.0, 0.0]
    assert language_reward(completions, **TRL_KWARGS) == [1.0, 0.25, 0.0, 1 / 3, 1.0, 0.0]


def test_unknown_language_lists_the_valid_ones():
    valid = "en, zh, ja, ko, ru, ar, el, he, hi"
    assert ", ".join(LANGUAGES) == valid
    message = f"unknown language 'fr' \\(valid: {valid}\\)"
    with pytest.raises(RecipeError, match=f"^reward_kwargs\\.language\\.language: {message}$"):
        language_reward([], language="fr")
    with pytest.raises(RecipeError, match=f"^{message}$"):  # the helper is used outside rewards too
        language_share("x", "fr")
    with pytest.raises(RecipeError, match="unknown language 5"):
        language_reward(["x"], language=5)


@pytest.mark.parametrize("func", [format_reward, tag_count_reward])
def test_require_answer_tags_must_be_a_boolean(func):
    with pytest.raises(RecipeError, match="require_answer_tags: expected true or false, got 'no'"):
        func([], require_answer_tags="no")


# --- all of them ----------------------------------------------------------------------------------------------

REWARDS = [
    (tag_count_reward, {}),
    (format_reward, {}),
    (reasoning_steps_reward, {}),
    (repetition_reward, {}),
    (language_reward, {"language": "zh"}),
    (overlong_reward, {"max_length": 10, "buffer": 4}),
]


def test_settings_are_keyword_only_and_trl_inputs_are_not():
    settings = {
        tag_count_reward: {"require_answer_tags"},
        format_reward: {"require_answer_tags"},
        reasoning_steps_reward: {"min_steps"},
        repetition_reward: {"ngram_size", "max_penalty"},
        language_reward: {"language"},
        overlong_reward: {"max_length", "buffer", "penalty"},
    }
    for func, names in settings.items():
        params = inspect.signature(func).parameters.values()
        assert {p.name for p in params if p.kind == p.KEYWORD_ONLY} == names
        assert any(p.kind == p.VAR_KEYWORD for p in params)
    assert (
        inspect.signature(overlong_reward).parameters["completion_ids"].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
    )


ADVERSARIAL = [
    "\\[" * 100_000,
    "$" * 200_000,
    "$a\n" * 60_000,
    "$$\\(```" * 30_000,
    "`" * 200_000,
    "<think>" * 30_000,
    "</think>" * 25_000,
    "<a" * 100_000,
    "1. " * 70_000,
    "\n- " * 70_000,
    ". First" * 30_000,
    "Step 1:**" * 20_000,
    "\n" + " " * 200_000 + "x",
    "a" * 200_000,
    "我" * 200_000,
    "ab " * 70_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda text: repr(text[:8]))
def test_huge_adversarial_texts_stay_fast(text):
    # Each takes about 0.1 s for all rewards together; quadratic behaviour would take minutes.
    start = time.perf_counter()
    for func, settings in REWARDS:
        [value] = func([text], completion_ids=[[1] * 20], **settings)
        assert isinstance(value, float)
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("completion", [None, 5, [], [{}], [{"content": None}], "\x00\ud800", chat("<think>")])
def test_no_reward_raises_on_odd_completions(completion):
    for func, settings in REWARDS:
        [value] = func([completion], completion_ids=[[1]], **settings)
        assert isinstance(value, float)
