"""Every extra installs into this environment without moving torch: pip's resolver, dry run (needs the registry).

Each extra of setup.cfg but `dev` (which `make install` installs) is resolved alone, as
`pip install -e ".[extra]"`, then `make install-gpu`'s extras together with its torch pin, as that target runs them.
"""

import configparser
import json
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import requires as installed_requires
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TORCH = Version(installed_version("torch"))


def read_extras() -> dict[str, list[Requirement]]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg")
    section = config["options.extras_require"]
    return {extra: [Requirement(line) for line in section[extra].splitlines() if line.strip()] for extra in section}


EXTRAS = read_extras()


def make_variable(name: str) -> str:
    match = re.search(rf"^{name} :?= *(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"the Makefile has no {name}"
    return match.group(1).strip()


def pip(*args: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def registry() -> None:
    probe = pip("index", "versions", "vllm", "--retries", "0", "--timeout", "15", timeout=120)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"the package registry is not reachable: {reason}")


def dry_run(tmp_path: Path, *requirements: str) -> dict:
    """pip's installation report for `pip install <requirements>` in this environment."""
    report = tmp_path / "report.json"
    result = pip("install", "--dry-run", "--quiet", "--report", str(report), *requirements, timeout=600)
    assert result.returncode == 0, f"pip cannot resolve {' '.join(requirements)}:\n{result.stderr[-4000:]}"
    return json.loads(report.read_text())


def after_install(report: dict, name: str) -> tuple[str, list[Requirement]] | None:
    """(version, requirements) of a package once pip's plan is installed: the planned one, else the installed one."""
    for item in report["install"]:
        if canonicalize_name(item["metadata"]["name"]) == canonicalize_name(name):
            return item["metadata"]["version"], [Requirement(r) for r in item["metadata"].get("requires_dist") or []]
    try:
        return installed_version(name), [Requirement(r) for r in installed_requires(name) or []]
    except PackageNotFoundError:
        return None


def check_report(report: dict, requirements: list[Requirement]) -> None:
    """Torch stays; each requirement, and each of the extras it names, is met; everything planned or required
    accepts the installed torch."""
    environment = {**report["environment"], "extra": ""}
    planned = [item["metadata"]["name"] for item in report["install"]]
    assert "torch" not in map(canonicalize_name, planned), f"pip would replace torch {TORCH}"
    pending = list(requirements)
    for requirement in pending:  # grows with the requirements of the extras named (transformers[kernels])
        found = after_install(report, requirement.name)
        assert found is not None, f"{requirement} is neither installed nor in pip's plan"
        got, needs = found
        assert requirement.specifier.contains(got, prereleases=True), f"{got} is outside {requirement}"
        for extra in requirement.extras:
            wanted = [r for r in needs if r.marker and r.marker.evaluate({**environment, "extra": extra})]
            assert wanted, f"{requirement.name} has no extra {extra!r}"
            pending += [Requirement(f"{r.name}{r.specifier}") for r in wanted]
    for name in {*planned, *(r.name for r in pending)}:
        for needed in after_install(report, name)[1]:
            applies = needed.marker is None or needed.marker.evaluate(environment)
            if canonicalize_name(needed.name) == "torch" and applies:
                assert needed.specifier.contains(TORCH, prereleases=True), f"{name} needs {needed}, not {TORCH}"


@pytest.mark.parametrize("extra", sorted(set(EXTRAS) - {"dev"}))
def test_extra_resolves_without_moving_torch(extra, registry, tmp_path):
    check_report(dry_run(tmp_path, "-e", f"{ROOT}[{extra}]"), EXTRAS[extra])


def test_install_gpu_extras_resolve_together_with_its_torch_pin(registry, tmp_path):
    gpu_extras = make_variable("GPU_EXTRAS").split(",")
    assert sorted(gpu_extras) == sorted(set(EXTRAS) - {"dev"}), "make install-gpu installs every extra but dev"
    torch_pin = make_variable("TORCH")
    assert Requirement(torch_pin).specifier.contains(TORCH), f"torch {TORCH} is not the Makefile's {torch_pin}"
    report = dry_run(tmp_path, torch_pin, "-e", f"{ROOT}[{','.join(gpu_extras)}]")
    check_report(report, [requirement for extra in gpu_extras for requirement in EXTRAS[extra]])
