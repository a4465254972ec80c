"""A training stage's life: load, train, resume from checkpoints, report to trackers, mark complete."""
