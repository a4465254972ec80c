"""Reinforcement learning with GRPO: stage 2 (reasoning RL), stage 4 (all-scenario RL), R1-Zero, TinyZero.

    python -m r1recipes.grpo --config recipes/tiny/stage2_reasoning_grpo.yaml [--any_field value ...]
    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml -m r1recipes.grpo \
        --config recipes/<MODEL>/stage2_reasoning_grpo.yaml

Departures from the R1 report: TRL's GRPO defaults to no KL term (beta=0, as Open-Reasoner-Zero found
none is needed) and to the DAPO token-level loss; recipes that follow the report set `beta` and
`loss_type: grpo` explicitly. Rewards are rule-based functions named in `reward_funcs`.
"""

from trl import GRPOTrainer, get_peft_config

from r1recipes.configs import DataArguments, GRPOConfig, ModelArguments
from r1recipes.data import grpo_datasets
from r1recipes.models.loading import load_policy
from r1recipes.parser import Recipe, RecipeParser
from r1recipes.rewards import get_reward_funcs
from r1recipes.stage import Stage, run_cli


def main(data_args, training_args, model_args, recipe: Recipe | None = None, callbacks=None) -> dict | None:
    stage = Stage("grpo", training_args, recipe)
    if stage.complete:
        return None
    reward_funcs = get_reward_funcs(training_args.reward_funcs, training_args.reward_kwargs)
    train, test = grpo_datasets(data_args, training_args.seed)
    tokenizer, model = load_policy(model_args, training_args.trust_remote_code)
    tokenizer.padding_side = "left"  # generation appends to the right end of every prompt
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=train,
        eval_dataset=test if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        callbacks=callbacks,
    )
    return stage.run(trainer)


def make_parser() -> RecipeParser:
    return RecipeParser((DataArguments, GRPOConfig, ModelArguments), prog="python -m r1recipes.grpo")


if __name__ == "__main__":
    run_cli(main, make_parser)
