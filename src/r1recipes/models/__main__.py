"""Build the offline models.

    python -m r1recipes.models tiny --output runs/models/tiny    # random, seconds [--num_heads 2: vLLM's CPU build]
    python -m r1recipes.models smol --output runs/models/smol    # SmolLM2-135M-Instruct, ~25 s
    python -m r1recipes.models convert --input model.gguf --output DIR   # any model -> safetensors folder
    python -m r1recipes.models reward --input runs/models/tiny --output runs/models/tiny-reward   # untrained head

A folder that already holds a model is left as it is (pass --force to rebuild).
"""

import argparse
import sys
import time
from pathlib import Path

from r1recipes import RecipeError


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1recipes.models", description="Build an offline model.")
    parser.add_argument("kind", choices=["tiny", "smol", "convert", "reward"])
    parser.add_argument(
        "--input", help="convert: a .gguf file, a model folder or a Hub id; reward: the base model folder"
    )
    parser.add_argument("--output", required=True, help="folder to write the model and tokenizer to")
    parser.add_argument("--seed", type=int, default=0, help="tiny, reward: weight initialisation seed")
    heads = "tiny: attention heads of its 64 dimensions (2: a head size of 32, which vLLM's CPU build accepts)"
    parser.add_argument("--num_heads", type=int, default=4, help=heads)
    parser.add_argument("--force", action="store_true", help="rebuild even if the folder holds a model")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    output = Path(args.output)
    if (output / "config.json").exists() and not args.force:
        print(f"{output}: already built")
        return
    start = time.monotonic()
    try:
        if args.kind in ("convert", "reward"):
            from r1recipes.config.paths import check_model_path
            from r1recipes.models.loading import convert_to_folder
            from r1recipes.models.reward import build_reward_model

            if not args.input:
                raise RecipeError(f"{args.kind} needs --input")
            check_model_path(args.input)
            if args.kind == "convert":
                convert_to_folder(args.input, output)
            else:
                build_reward_model(args.input, output, seed=args.seed)
        elif args.kind == "tiny":
            from r1recipes.models.tiny import build_tiny_model

            build_tiny_model(output, seed=args.seed, num_heads=args.num_heads)
        else:
            from r1recipes.models.smol import build_smol_model

            build_smol_model(output)
    except RecipeError as exc:
        sys.exit(f"error: {exc}")
    print(f"{output}: {args.kind} model built in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
