"""Share a finished stage on the Hugging Face Hub: write its card, then push its folder.

    python -m r1recipes.share runs/Qwen2.5-7B/stage2 --repo_id org/name [--private true] [--license apache-2.0]
    python -m r1recipes.share runs/Qwen2.5-7B/stage3_data --repo_id org/name   # stage 3's output: a dataset
    python -m r1recipes.share runs/Qwen2.5-7B/stage2 --card_only true          # write README.md, push nothing

The card (the folder's README.md, `cards.py`) is written first; then huggingface_hub's own calls push:
`HfApi().create_repo(repo_id, repo_type=..., private=..., exist_ok=True)` and `HfApi().upload_folder(...)`. A model
folder goes up without its checkpoints (set-aside ones too) and hidden or temporary files; stage 3's output goes up
as a dataset repository holding `data/*.parquet`, `manifest.json`, `stage.json` and the card (not the generator's
`chunks/` and `config.json`, which only a resumed run reads). Refused in one `error:` line before anything is
written or sent: a folder without `stage.json`, stage 3's output whose data are not those its manifest lists, a repo
id the Hub would refuse, `HF_HUB_OFFLINE=1`, and no token (`hf auth login` or `HF_TOKEN`).

A recipe with `push_to_hub: true` and `hub_model_id` pushes the same way once its `stage.json` is written
(`take_over_push`, called by `stage.py`); transformers' own pushes are switched off, since they start at every
checkpoint save and at the final save, before the stage is complete, with another card.
"""

import argparse
import sys
from pathlib import Path

from r1recipes import RecipeError, notice
from r1recipes.config.paths import hub_offline
from r1recipes.hub.cards import CARD, write_card
from r1recipes.training.checkpoints import SET_ASIDE

HIDDEN = [".*", "**/.*", "_*"]  # temporary files (`.name.tmp-PID`), locks, and what transformers leaves out too
UPLOAD = {
    "model": {"ignore_patterns": ["checkpoint-*", f"{SET_ASIDE}checkpoint-*", *HIDDEN]},
    "dataset": {"allow_patterns": [CARD, "stage.json", "manifest.json", "data/*.parquet"], "ignore_patterns": HIDDEN},
}


def check_can_push(repo_id: str | None, token: str | None = None) -> None:
    """Refuse, before anything is written, a push that cannot happen: no or a bad repo id, offline, no token."""
    from huggingface_hub import get_token
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not repo_id:
        raise RecipeError("a repo id is required to push: --repo_id org/name (or --card_only true)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise RecipeError(f"repo id '{repo_id}' is not valid: {str(exc).splitlines()[0]}") from None
    if hub_offline():
        raise RecipeError("HF_HUB_OFFLINE=1 forbids the Hub: unset it (or set it to 0) to push")
    if not (token or get_token()):
        raise RecipeError("no Hugging Face token: run `hf auth login`, or set HF_TOKEN to a token with write access")


def push(
    folder: str,
    repo_id: str,
    private: bool | None = None,
    token: str | None = None,
    license: str | None = None,
) -> str:
    """Write the folder's card and push the folder to `repo_id`; returns the repository's URL."""
    from huggingface_hub import HfApi

    check_can_push(repo_id, token)
    kind = write_card(Path(folder), repo_id, license)
    api = HfApi(token=token)
    try:  # the network, a permission, a quota: the folder is complete and the push can be retried
        url = api.create_repo(repo_id, repo_type=kind, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=url.repo_id,  # a bare name is created under the token's user
            folder_path=folder,
            repo_type=kind,
            commit_message=f"r1recipes: {Path(folder).name}",
            **UPLOAD[kind],
        )
    except Exception as exc:
        message = " ".join(str(exc).split())[:300]
        raise RecipeError(
            f"pushing {folder} to {repo_id} failed ({exc.__class__.__name__}: {message}); the folder is unchanged "
            f"but its {CARD}: rerun `python -m r1recipes.share {folder} --repo_id {repo_id}`"
        ) from None
    notice(f"pushed {folder} to {url} ({kind})")
    return str(url)


def take_over_push(training_args) -> dict | None:
    """For a recipe with `push_to_hub: true`: check now, before anything loads, that the push can happen, and turn
    transformers' own pushes off. Returns `push`'s arguments for the end of the stage; None when it pushes nothing."""
    if not training_args.push_to_hub:
        return None
    if not training_args.hub_model_id:
        raise RecipeError("push_to_hub needs hub_model_id: the repository to push the stage to (org/name)")
    check_can_push(training_args.hub_model_id, training_args.hub_token)
    training_args.push_to_hub = False  # transformers would push every checkpoint, and the model before stage.json
    return {
        "repo_id": training_args.hub_model_id,
        "private": training_args.hub_private_repo,
        "token": training_args.hub_token,
    }


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")
    return text.lower() == "true"


class ShareParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit 2; we want one line
        raise RecipeError(f"command line: {message}")


def make_parser() -> ShareParser:
    parser = ShareParser(prog="python -m r1recipes.share", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="a complete stage folder, e.g. runs/Qwen2.5-7B/stage2")
    parser.add_argument("--repo_id", default=None, help="the Hub repository, org/name")
    parser.add_argument("--private", type=_bool, default=None, help="true or false; only when it is created")
    parser.add_argument("--license", default=None, help="the card's license, e.g. apache-2.0")
    parser.add_argument("--card_only", type=_bool, default=False, help="true: write the card, push nothing")
    return parser


def main(argv: list[str] | None = None) -> str:
    """The pushed repository's URL, or the card's path with --card_only true."""
    try:
        args = make_parser().parse_args(argv)
        if not args.folder:  # `make push` without STAGE_DIR
            raise RecipeError("a stage folder is required: make push STAGE_DIR=runs/<MODEL>/<stage> REPO=org/name")
        if args.card_only:
            write_card(Path(args.folder), args.repo_id, args.license)
            result = str(Path(args.folder) / CARD)
        else:
            result = push(args.folder, args.repo_id, args.private, license=args.license)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(result)
    return result
