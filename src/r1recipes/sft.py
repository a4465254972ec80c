"""Supervised fine-tuning: stage 1 (cold start), stage 3 (SFT on rejection-sampled data) and distillation.

    python -m r1recipes.sft --config recipes/tiny/stage1_cold_start_sft.yaml [--any_field value ...]
    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml -m r1recipes.sft \
        --config recipes/<MODEL>/stage1_cold_start_sft.yaml

Departures from the R1 report: the report does not give its cold-start hyperparameters or data; the loss
is on completion tokens only (TRL's default for prompt/completion data), and a row's reasoning sits inside
<think>...</think> in the target rather than behind the report's "|special_token|" markers.
"""

from trl import SFTTrainer

from r1recipes.config.arguments import ModelArguments, SFTConfig, SFTDataArguments
from r1recipes.config.parser import Recipe, RecipeParser
from r1recipes.data.loading import sft_datasets
from r1recipes.training.stage import run_cli, train_stage


def main(data_args, training_args, model_args, recipe: Recipe | None = None, callbacks=None) -> dict | None:
    return train_stage("sft", SFTTrainer, sft_datasets, data_args, training_args, model_args, recipe, callbacks)


def make_parser() -> RecipeParser:
    return RecipeParser((SFTDataArguments, SFTConfig, ModelArguments), prog="python -m r1recipes.sft")


if __name__ == "__main__":
    run_cli(main, make_parser)
