"""Reinforcement learning with GRPO: stage 2 (reasoning RL), stage 4 (all-scenario RL), R1-Zero, TinyZero.

    python -m r1recipes.grpo --config recipes/tiny/stage2_reasoning_grpo.yaml [--any_field value ...]
    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml -m r1recipes.grpo \
        --config recipes/<MODEL>/stage2_reasoning_grpo.yaml

Departures from the R1 report: TRL's GRPO defaults to no KL term (beta=0, as Open-Reasoner-Zero found
none is needed) and to the DAPO token-level loss; recipes that follow the report set `beta` and
`loss_type: grpo` explicitly. Rewards are rule-based functions named in `reward_funcs`; what they could not
judge (unparsable gold answers, verifier timeouts) is logged as running totals, `rewards/accuracy/timeouts`.
Stage 4's general prompts are scored by a reward model, loaded whole on every process before training (see
`rewards/reward_model.py`: under ZeRO-3 a partitioned one hung the run). A reward that fails on 3 calls in a row
stops the run with one line (`rewards.Reward`).
"""

from trl import GRPOTrainer

from r1recipes import RecipeError
from r1recipes.configs import DataArguments, GRPOConfig, ModelArguments
from r1recipes.data import grpo_datasets
from r1recipes.parser import Recipe, RecipeParser
from r1recipes.rewards import check_reward_columns, get_reward_funcs
from r1recipes.rewards.counts import COUNTS
from r1recipes.stage import run_cli, train_stage


class RewardTalliesGRPOTrainer(GRPOTrainer):
    """TRL's GRPO trainer, logging the rewards' tallies with its own metrics (one line, every integration)."""

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        super().log({**logs, **{f"rewards/{key}": value for key, value in COUNTS.items()}}, start_time)


def main(data_args, training_args, model_args, recipe: Recipe | None = None, callbacks=None) -> dict | None:
    if training_args.beta and model_args.model_name_or_path.endswith(".gguf") and not model_args.use_peft:
        raise RecipeError(
            "beta > 0 needs a reference model, which TRL loads from a model folder, not a .gguf file: "
            f"python -m r1recipes.models convert --input {model_args.model_name_or_path} --output DIR"
        )
    reward_funcs = get_reward_funcs(training_args.reward_funcs, training_args.reward_kwargs)

    def datasets_then_rewards(data_args, seed):
        """After the stage-complete check and before the policy loads: the data, checked against the rewards,
        then the rewards' start-up work on every process (a reward model loads here, not mid-step on one rank)."""
        train, test = grpo_datasets(data_args, seed)
        check_reward_columns(training_args.reward_funcs, training_args.reward_kwargs, train.column_names)
        for reward in reward_funcs:
            reward.prepare()
        return train, test

    return train_stage(
        "grpo", RewardTalliesGRPOTrainer, datasets_then_rewards, data_args, training_args, model_args, recipe,
        callbacks, reward_funcs=reward_funcs,
    )  # fmt: skip


def make_parser() -> RecipeParser:
    return RecipeParser((DataArguments, GRPOConfig, ModelArguments), prog="python -m r1recipes.grpo")


if __name__ == "__main__":
    run_cli(main, make_parser)
