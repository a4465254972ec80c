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
from r1recipes.config import hardware
from r1recipes.config.arguments import DataArguments, GRPOConfig, ModelArguments
from r1recipes.config.parser import Recipe, RecipeParser
from r1recipes.data.loading import grpo_datasets
from r1recipes.rewards import check_reward_columns, get_reward_funcs
from r1recipes.rewards.counts import COUNTS
from r1recipes.training.stage import run_cli, train_stage


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
    if training_args.use_vllm:
        hardware.prepare_vllm_on_cpu()  # TRL starts the colocated engine itself

    def datasets_then_rewards(data_args, seed):
        """After the stage-complete check and before the policy loads: the data, checked against the rewards,
        then the rewards' start-up work on every process (a reward model loads here, not mid-step on one rank)."""
        train, test = grpo_datasets(data_args, seed)
        check_reward_columns(training_args.reward_funcs, training_args.reward_kwargs, train.column_names)
        check_rows(len(train), training_args)
        for reward in reward_funcs:
            reward.prepare()
        return train, test

    def prompts_that_fit(train, tokenizer, model):
        check_prompt_lengths(train, tokenizer, model.config, training_args)

    return train_stage(
        "grpo", RewardTalliesGRPOTrainer, datasets_then_rewards, data_args, training_args, model_args, recipe,
        callbacks, check_inputs=prompts_that_fit, reward_funcs=reward_funcs,
    )  # fmt: skip


def check_rows(rows: int, training_args) -> None:
    """TRL's sampler drops a generation batch that is not full: fewer rows than one batch's prompts train nothing."""
    per_batch = training_args.generation_batch_size // training_args.num_generations
    if rows < per_batch:
        raise RecipeError(
            f"{rows} training prompts, fewer than the {per_batch} one generation batch takes (generation_batch_size "
            f"{training_args.generation_batch_size} / num_generations {training_args.num_generations}): the stage "
            "would train 0 steps; add rows or lower per_device_train_batch_size or steps_per_generation"
        )


def check_prompt_lengths(train, tokenizer, model_config, training_args) -> None:
    """Refuse prompts that leave no room for `max_completion_length` in the model's context (or vLLM's). TRL 1.16
    has no prompt truncation: such prompts were sampled as they were, tens of seconds a step, without a word."""
    contexts = {"the model's context": getattr(model_config, "max_position_embeddings", None)}
    if training_args.use_vllm:
        contexts["vllm_max_model_length"] = training_args.vllm_max_model_length
    name, context = min(((n, c) for n, c in contexts.items() if c), key=lambda item: item[1], default=(None, None))
    if context is None:
        return
    room = context - training_args.max_completion_length
    prompts = train["prompt"]
    texts = [
        tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) if isinstance(p, list) else p
        for p in prompts
    ]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    too_long = [row for row, length in enumerate(lengths) if length > room]
    if too_long:
        longest = max(too_long, key=lengths.__getitem__)
        prompt = prompts[longest][-1]["content"] if isinstance(prompts[longest], list) else prompts[longest]
        raise RecipeError(
            f"{len(too_long)} of {len(lengths)} prompts are longer than the {max(room, 0):,} tokens that {name} "
            f"({context:,}) leaves beside max_completion_length ({training_args.max_completion_length:,}); the "
            f"longest, {lengths[longest]:,} tokens, begins {' '.join(str(prompt).split())[:60]!r}: drop them from "
            "the dataset, or lower max_completion_length"
        )


def make_parser() -> RecipeParser:
    return RecipeParser((DataArguments, GRPOConfig, ModelArguments), prog="python -m r1recipes.grpo")


if __name__ == "__main__":
    run_cli(main, make_parser)
