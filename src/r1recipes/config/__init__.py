"""Recipes and their settings: the runners' arguments and strict parser, the recipe tree under `recipes/` (stages,
chaining, fork), the checks a run passes before anything starts, the machine and the paths it reads."""
