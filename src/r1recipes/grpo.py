"""Reinforcement learning with GRPO: stage 2 (reasoning RL), stage 4 (all-scenario RL), R1-Zero, TinyZero.

    python -m r1recipes.grpo --config recipes/tiny/stage2_reasoning_grpo.yaml [--any_field value ...]
    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml -m r1recipes.grpo \
        --config recipes/<MODEL>/stage2_reasoning_grpo.yaml

Departures from the R1 report: TRL's GRPO defaults to no KL term (beta=0, as Open-Reasoner-Zero found
none is needed) and to the DAPO token-level loss; recipes that follow the report set `beta` and
`loss_type: grpo` explicitly. Rewards are rule-based functions named in `reward_funcs`.
"""

from trl import GRPOTrainer

from r1recipes import RecipeError
from r1recipes.configs import DataArguments, GRPOConfig, ModelArguments
from r1recipes.data import grpo_datasets
from r1recipes.parser import Recipe, RecipeParser
from r1recipes.rewards import get_reward_funcs
from r1recipes.stage import run_cli, train_stage


def main(data_args, training_args, model_args, recipe: Recipe | None = None, callbacks=None) -> dict | None:
    if training_args.beta and model_args.model_name_or_path.endswith(".gguf") and not model_args.use_peft:
        raise RecipeError(
            "beta > 0 needs a reference model, which TRL loads from a model folder, not a .gguf file: "
            f"python -m r1recipes.models convert --input {model_args.model_name_or_path} --output DIR"
        )
    reward_funcs = get_reward_funcs(training_args.reward_funcs, training_args.reward_kwargs)
    return train_stage(
        "grpo", GRPOTrainer, grpo_datasets, data_args, training_args, model_args, recipe, callbacks,
        reward_funcs=reward_funcs,
    )  # fmt: skip


def make_parser() -> RecipeParser:
    return RecipeParser((DataArguments, GRPOConfig, ModelArguments), prog="python -m r1recipes.grpo")


if __name__ == "__main__":
    run_cli(main, make_parser)
