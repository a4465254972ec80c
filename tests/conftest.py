import os
import shutil
import subprocess

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from helpers import save_reward_model, tiny_sft_fields, write_recipe  # noqa: E402

from r1recipes.data.synthetic import arithmetic_rows, write_jsonl  # noqa: E402


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama and its tokenizer, built offline once per test session."""
    from r1recipes.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_reward_model(tmp_path_factory, tiny_model) -> str:
    """A tiny random one-output reward model with the tiny policy's tokenizer (and its chat template)."""
    return save_reward_model(tiny_model, tmp_path_factory.mktemp("reward_model"))


@pytest.fixture
def arithmetic_file(tmp_path) -> Path:
    return write_jsonl(arithmetic_rows(32, seed=1), tmp_path / "arithmetic.jsonl")


@pytest.fixture(scope="session")
def teacher(tmp_path_factory, tiny_model) -> Path:
    """The tiny model after 200 SFT steps on sums of two numbers up to 4: it then answers about a third of such
    prompts right, so sampling it gives correct and incorrect samples to tell apart."""
    from r1recipes import sft

    folder = tmp_path_factory.mktemp("teacher")
    data = write_jsonl(arithmetic_rows(256, seed=0, max_value=4), folder / "sums.jsonl")
    fields = tiny_sft_fields(tiny_model, data, folder / "model", max_steps=200, learning_rate=3e-3, max_length=128)
    sft.main(*sft.make_parser().parse(["--config", str(write_recipe(folder / "sft.yaml", **fields))]))
    return folder / "model"


SLURM_LOCALHOST = Path(__file__).resolve().parents[2] / "shared" / "tools" / "slurm-localhost.sh"


@pytest.fixture(scope="session")
def slurm_env() -> dict:
    """The environment for sbatch and scontrol, pointed at the local cluster (skips when it is not up)."""
    if not SLURM_LOCALHOST.exists():
        pytest.skip(f"no {SLURM_LOCALHOST}")
    if shutil.which("sbatch") is None:
        pytest.skip("no sbatch: `sudo bash ../shared/tools/slurm-localhost.sh start` installs and starts Slurm")
    status = subprocess.run(["bash", str(SLURM_LOCALHOST), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        pytest.skip(f"the local Slurm is not running: sudo bash {SLURM_LOCALHOST} start")
    printed = subprocess.run(["bash", str(SLURM_LOCALHOST), "env"], capture_output=True, text=True, check=True)
    conf = printed.stdout.strip().removeprefix("export SLURM_CONF=")
    # the scripts' defaults, whatever the caller's shell sets for a real cluster or a job it runs in;
    # SLURM_LOCAL_* are the settings of slurm-localhost.sh (its directory: which cluster `wait` asks)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("R1_", "SLURM_", "SBATCH_")) or k.startswith("SLURM_LOCAL_")
    }
    return {**env, "SLURM_CONF": conf, "HF_HUB_OFFLINE": "1"}
