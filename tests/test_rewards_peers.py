"""Other projects' reward test cases, kept as data and run against our rewards, so a regression against them shows.

Each file in `tests/peer_cases/` holds one JSON object per line:

    {"source": "owner/repo@commit path::test", "reward": "accuracy", "settings": {}, "completions": [...],
     "columns": {"answer": [...]}, "peer": [1.0], "ours": [1.0], "departure": null}

`peer` is what the other project expects (its test's value, or its scorer's output); `ours` is what our reward
gives. Where they differ the case names a `departure`, a row of docs/rewards.md's table of deliberate departures, and
every row of that table is shown by at least one case: the table stays current both ways.
"""

import json
import math
import re
from pathlib import Path

import pytest

from r1recipes.rewards import REWARDS

ROOT = Path(__file__).resolve().parents[1]
CASES_DIR = Path(__file__).resolve().parent / "peer_cases"
DEPARTURES_HEADING = "### Deliberate departures from open-r1, TinyZero and math-verify"


def load_cases() -> list[dict]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                cases.append({"where": f"{path.name}:{number}", **json.loads(line)})
    return cases


def departures_table() -> set[str]:
    """The keys (first column, in backticks) of docs/rewards.md's table of deliberate departures."""
    text = (ROOT / "docs/rewards.md").read_text()
    assert DEPARTURES_HEADING in text, f"docs/rewards.md lacks the section {DEPARTURES_HEADING!r}"
    section = text.split(DEPARTURES_HEADING, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE))


CASES = load_cases()


def same(got, expected) -> bool:
    if got is None or expected is None:
        return got is expected
    return math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['where']}:{c['reward']}" for c in CASES])
def test_peer_case(case):
    scores = REWARDS[case["reward"]](case["completions"], **case.get("columns", {}), **case.get("settings", {}))
    assert len(scores) == len(case["ours"])
    assert all(same(g, e) for g, e in zip(scores, case["ours"], strict=True)), (case["source"], scores)
    agrees = all(same(o, p) for o, p in zip(case["ours"], case["peer"], strict=True))
    assert agrees == (case.get("departure") is None), f"{case['where']}: a difference needs a departure and only then"


def test_every_source_is_sampled_and_pinned():
    sources = {c["source"].split("@")[0] for c in CASES}
    assert {"huggingface/open-r1", "huggingface/Math-Verify", "Jiayi-Pan/TinyZero"} <= sources
    assert all(re.match(r"^[\w.-]+/[\w.-]+@[0-9a-f]{7,40} \S", c["source"]) for c in CASES)


def test_the_departures_table_is_current():
    table = departures_table()
    named = {c["departure"] for c in CASES if c.get("departure")}
    assert named - table == set(), "cases name departures docs/rewards.md's table lacks"
    assert table - named == set(), "docs/rewards.md's table lists departures no case shows"
