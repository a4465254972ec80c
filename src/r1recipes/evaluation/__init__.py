"""Evaluation: benchmarks, metrics with intervals, results on disk, paired comparisons, the run report and plots."""
