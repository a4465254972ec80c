"""The README and the pages under docs/: every link resolves, every command they show exists, and the README's
commands run as shown, so the front page cannot rot.

The fast tests read the pages: relative links and their #anchors (GitHub's rules), the make targets and
`python -m r1recipes.<module>` modules shown, the README's length, every docs page linked from the README, and
every command of the README's code blocks classified in COMMANDS below. The slow test runs each classified
command a CPU can run, offline, in a copy of the repository root (the Makefile has no variable for the runs
folder, so a copy keeps the tree's runs/ and recipes/ as they were): `make check`, `make fork`, every GPU
command stopping with one `error:` line, and `slurm/pipeline.sh` against a stand-in `sbatch`. The demo's smoke,
`make demo DEMO=tiny`, is run as shown by tests/test_pipeline.py's slow demo test, which checks more of it.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from helpers import clean_env, make_ready
from test_slurm_submit import FAKE_SBATCH

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 250


@dataclass(frozen=True)
class Runs:
    """Runs on a CPU, offline, and exits 0; its output holds `shows`, and it creates `writes` (a repository path)."""

    shows: str
    writes: str = ""
    timeout: int = 120


@dataclass(frozen=True)
class StopsWithoutGpu:
    """Where CUDA sees no GPU: exit status 2 with exactly one `error:` line, the recipe's need for a GPU, before
    anything loads or is written."""

    recipe: str


@dataclass(frozen=True)
class SubmitsToSlurm:
    """Submits `jobs` jobs, here to a stand-in `sbatch` that records them (as tests/test_slurm_submit.py does)."""

    jobs: int


@dataclass(frozen=True)
class SmokedBy:
    """Too long for a test: `command`, a Runs entry, runs the same code path on a smaller folder."""

    command: str
    why: str


@dataclass(frozen=True)
class NotRun:
    why: str


@dataclass(frozen=True)
class RunByTest:
    """Run as shown, in a slow test of another file that checks more of it (`test` names the file and function)."""

    test: str
    why: str


DEMO_TEST = (
    "tests/test_pipeline.py::"
    "test_the_demo_pipeline_on_tiny_models_continues_after_a_failure_evaluates_every_stage_and_reports"
)


# Every command shown in a shell block of README.md, as shown (comments dropped, spaces collapsed).
COMMANDS = {
    "make help": Runs(shows="make stage1 "),
    "make demo DEMO=tiny": RunByTest(DEMO_TEST, "the whole tiny pipeline once per CI run, not twice"),
    "make demo": SmokedBy("make demo DEMO=tiny", "its pipeline on SmolLM2-135M took 17 min 30 s on 2 cores"),
    "make pipeline MODEL=SmolLM2-135M": SmokedBy("make demo DEMO=tiny", "the pipeline `make demo` runs, offline"),
    "make rl-demo": NotRun("about 35 min; tests/test_pipeline.py's slow test runs it with smaller evaluations"),
    "make test": NotRun("the fast suite, this file's fast tests included: `.ci/run` runs it"),
    "make check MODEL=Qwen2.5-7B": Runs(shows="10 of 10 recipes fit"),  # 8 recipes and 2 evaluations
    "make check MODEL=Qwen2.5-7B GPUS=8 GPU_MEMORY_GB=140.4": Runs(shows="10 of 10 recipes fit"),
    "make fork FROM=Qwen2.5-3B TO=my-countdown": Runs(
        shows="recipes/my-countdown: forked from Qwen2.5-3B",
        writes="recipes/my-countdown/tinyzero_countdown_grpo.yaml",
    ),
    "make stage1 MODEL=Qwen2.5-7B": StopsWithoutGpu("recipes/Qwen2.5-7B/stage1_cold_start_sft.yaml"),
    "make stage3 MODEL=Qwen2.5-7B": StopsWithoutGpu("recipes/Qwen2.5-7B/stage3_rejection_sampling.yaml"),
    "make stage4 MODEL=Qwen2.5-7B": StopsWithoutGpu("recipes/Qwen2.5-7B/stage4_all_scenario_grpo.yaml"),
    "make distill MODEL=Qwen2.5-7B STUDENT=Qwen2.5-Math-1.5B": StopsWithoutGpu(
        "recipes/Qwen2.5-7B/distill_Qwen2.5-Math-1.5B.yaml"
    ),
    "make zero MODEL=Qwen2.5-7B": StopsWithoutGpu("recipes/Qwen2.5-7B/zero_grpo.yaml"),
    "make tinyzero MODEL=Qwen2.5-3B": StopsWithoutGpu("recipes/Qwen2.5-3B/tinyzero_countdown_grpo.yaml"),
    # 6 training jobs, stage 3's array and its merge, 9 evaluations (the starting model, 2 students before and after,
    # stages 1-4)
    "slurm/pipeline.sh Qwen2.5-7B": SubmitsToSlurm(jobs=17),
}
SHELL = {"bash", "sh", "shell"}


def pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def split_fences(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The lines outside fenced blocks, and each block as (language, lines)."""
    outside, blocks, block = [], [], None
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\S*)", line)
        if fence and block is None:
            block = (fence.group(1), [])
        elif fence:
            blocks.append(block)
            block = None
        elif block is not None:
            block[1].append(line)
        else:
            outside.append(line)
    return outside, blocks


def commands(lines: list[str]) -> list[str]:
    """A shell block's commands: continuation lines joined, comments dropped, spaces collapsed."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = (" ".join(re.sub(r"(^|\s)#\s.*$", "", line).split()) for line in joined.splitlines())
    return [command for command in found if command]


def shown_commands(text: str) -> list[str]:
    return [c for language, lines in split_fences(text)[1] if language in SHELL for c in commands(lines)]


def readme_commands() -> list[str]:
    return list(dict.fromkeys(shown_commands(README.read_text())))


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    counts: dict[str, int] = {}
    found = set()
    for line in split_fences(text)[0]:
        heading = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            found.add(f"{slug}-{counts[slug]}" if slug in counts else slug)
            counts[slug] = counts.get(slug, 0) + 1
    return found


def links(text: str) -> list[str]:
    """The targets of the links in prose (not in code blocks or code spans), external ones left out."""
    prose = re.sub(r"`[^`\n]*`", "code", "\n".join(split_fences(text)[0]))
    targets = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", prose)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def make_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        rule = re.match(r"^([a-z0-9][a-z0-9 -]*):(?!=)", line)
        if rule:
            targets.update(rule.group(1).split())
    return targets


def test_anchors_and_links_are_read_as_github_renders_them():
    text = "# r1\n## Before renting GPUs: `make check`\n```\n# a comment\n```\n## Install\n## Install\n"
    assert anchors(text) == {"r1", "before-renting-gpus-make-check", "install", "install-1"}
    text = "[a](docs/a.md#x) `[b](c.md)` [d](https://e.org) [f](#g)\n```\n[h](i.md)\n```\n"
    assert links(text) == ["docs/a.md#x", "#g"]
    assert commands(["make a  B=1   # why", "x \\", "    --y 1", "# only a comment"]) == ["make a B=1", "x --y 1"]


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in pages():
        for target in links(page.read_text()):
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and anchor not in anchors(file.read_text()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_every_make_target_shown_exists():
    targets = make_targets()
    assert {"demo", "test", "check", "stage1", "fork"} <= targets  # the Makefile is read
    missing = set()
    for page in pages():
        text = page.read_text()
        spans = re.findall(r"`(make [^`\n]+)`", text)
        for command in shown_commands(text) + spans:
            words = command.split()
            if words[0] == "make":
                named = [
                    w for w in words[1:] if "=" not in w and not w.startswith(("-", "<"))
                ]  # <target>: a placeholder
                missing.update(f"{page.name}: make {w}" for w in named[:1] if w not in targets)
    assert missing == set()


def test_every_module_shown_with_python_m_exists():
    shown = {m for page in pages() for m in re.findall(r"-m\s+(r1recipes(?:\.\w+)+)", page.read_text())}
    assert "r1recipes.pipeline" in shown
    for module in sorted(shown):
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"no module {module}"
        if spec.submodule_search_locations is not None:  # a package runs through its __main__
            assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} has no __main__"


def test_every_module_shown_with_python_m_starts():
    """`python -m r1recipes.<entry> --help` exits 0 for each documented entry point (all started at once)."""
    shown = sorted({m for page in pages() for m in re.findall(r"-m\s+(r1recipes(?:\.\w+)+)", page.read_text())})
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = {m: subprocess.Popen([sys.executable, "-m", m, "--help"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, env=env) for m in shown}  # fmt: skip
    failed = {m: p.communicate(timeout=300)[1][-300:] for m, p in started.items() if p.wait(timeout=300) != 0}
    assert failed == {}


def test_the_readme_stays_a_front_page():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES
    assert "make test" in readme_commands()  # CI runs the README's test command (.ci/run)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {target.partition("#")[0] for target in links(README.read_text())}
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in linked, f"README.md does not link docs/{page.name}"


def test_every_command_the_readme_shows_is_classified():
    shown = readme_commands()
    assert set(shown) - set(COMMANDS) == set(), "README.md shows commands COMMANDS does not classify"
    assert set(COMMANDS) - set(shown) == set(), "COMMANDS classifies commands README.md no longer shows"
    for command, kind in COMMANDS.items():
        if isinstance(kind, SmokedBy):
            smoke = COMMANDS.get(kind.command)
            assert isinstance(smoke, Runs | RunByTest), f"{command}: its smoke {kind.command} is not run"
        if isinstance(kind, RunByTest):  # that test runs the command as shown
            path, _, name = kind.test.partition("::")
            source = (ROOT / path).read_text()
            body = source[source.index(f"def {name}(") :].split("\ndef ")[0]
            assert repr(command.split()).replace("'", '"')[1:-1] in body, f"{kind.test} does not run {command!r}"
    other_blocks = [
        line for language, lines in split_fences(README.read_text())[1] if language not in SHELL for line in lines
    ]
    assert not [line for line in other_blocks if re.match(r"^\s*(make|python|\.venv|slurm/|sbatch)\b", line)]


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A copy of the repository root to run the README's commands in: the Makefile, its install stamp's inputs
    (modification times kept, so `make install` stays a no-op) and recipes/ copied; .venv, src and slurm linked."""
    copy = tmp_path_factory.mktemp("repository")
    shutil.copytree(ROOT / "recipes", copy / "recipes")
    return make_ready(copy)


RUNNABLE = [c for c in readme_commands() if not isinstance(COMMANDS.get(c), (SmokedBy, NotRun, RunByTest))]


@pytest.mark.slow
@pytest.mark.parametrize("command", RUNNABLE)
def test_the_readme_command_runs_as_shown(command, repository):
    kind = COMMANDS.get(command)
    assert kind is not None, f"README.md shows {command!r}, which COMMANDS does not classify"
    env = clean_env()
    if isinstance(kind, SubmitsToSlurm):
        stand_in = repository / "stand-in"
        stand_in.mkdir(exist_ok=True)
        (stand_in / "sbatch").write_text(FAKE_SBATCH)
        (stand_in / "sbatch").chmod(0o755)
        log = stand_in / "sbatch.log"
        log.unlink(missing_ok=True)
        env = clean_env(PATH=f"{stand_in}{os.pathsep}{os.environ['PATH']}", SBATCH_LOG=str(log))
    if isinstance(kind, StopsWithoutGpu) and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the command would start a run")
    timeout = kind.timeout if isinstance(kind, Runs) else 120
    result = subprocess.run(
        ["bash", "-c", command], cwd=repository, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = result.stdout + result.stderr
    if isinstance(kind, Runs):
        assert result.returncode == 0, output[-3000:]
        assert kind.shows in output
        assert not kind.writes or (repository / kind.writes).exists()
    elif isinstance(kind, StopsWithoutGpu):
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith(f"error: {kind.recipe}: needs a CUDA GPU for "), output
        assert re.search(r"\] Error 2$", result.stderr.rstrip()), output  # the pipeline's own exit status
        assert result.returncode == 2 and "Traceback" not in output
        assert not (repository / "runs" / Path(kind.recipe).parent.name).exists()
    elif isinstance(kind, SubmitsToSlurm):
        assert result.returncode == 0, output[-3000:]
        assert len(log.read_text().splitlines()) == kind.jobs == len(result.stdout.splitlines())
