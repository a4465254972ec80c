"""The report's figures: one grid of training curves per stage, and pass@1 per stage and benchmark.

matplotlib is imported inside the functions, with the Agg backend, so importing this module costs nothing and
plots are written on machines without a display (Slurm nodes, CI).
"""

import math
from pathlib import Path

# (title, y label, log keys) per panel, drawn only when the log has one of the keys; `*` matches each reward function
PANELS = [
    ("Loss", "loss (per token)", ["loss"]),
    ("Learning rate", "learning rate", ["learning_rate"]),
    ("Reward", "mean reward per completion", ["reward", "rewards/*/mean"]),
    ("Completion length", "mean length (tokens)", ["completions/mean_length"]),
    ("KL to the reference", "KL (per token)", ["kl"]),
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(log_history: list[dict], key: str) -> list[tuple[str, list, list]]:
    """(label, steps, values) for a key, or for every reward function when the key is `rewards/*/mean`."""
    if "*" in key:
        prefix, suffix = key.split("*")
        keys = sorted({k for entry in log_history for k in entry if k.startswith(prefix) and k.endswith(suffix)})
    else:
        keys = [key]
    found = []
    for k in keys:
        points = [(e["step"], e[k]) for e in log_history if k in e and "step" in e and "train_runtime" not in e]
        if points and not (k == "kl" and not any(v for _, v in points)):  # beta = 0 logs no KL, or zeros
            found.append((k, *map(list, zip(*points, strict=True))))
    return found


def stage_plot(stage: str, log_history: list[dict], path: Path) -> bool:
    """A grid of the panels the log has data for, against the optimizer step; False (nothing written) if none."""
    panels = []
    for title, ylabel, keys in PANELS:
        series = [s for key in keys for s in _series(log_history, key)]
        if series:
            panels.append((title, ylabel, series))
    if not panels:
        return False
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    columns = min(2, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 3.4 * rows), squeeze=False)
    for ax, (title, ylabel, series) in zip(axes.flat, panels, strict=False):
        for label, steps, values in series:
            # the total dashed on top: with one reward function it hides that function's line otherwise
            style = {"color": "black", "linestyle": "--", "zorder": 3} if label == "reward" else {}
            ax.plot(steps, values, marker="o" if len(steps) < 20 else None, markersize=3, label=label, **style)
        ax.set(title=title, xlabel="optimizer step", ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize="small")
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()
    fig.suptitle(f"{stage}: training curves")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def pass_at_1_plot(scores: dict[str, dict[str, tuple]], path: Path) -> None:
    """Grouped bars, one group per benchmark, one bar per stage, with the 95% CI as error bars.

    `scores`: stage -> benchmark -> (pass@1, (low, high) or None), fractions; stages in the order to draw.
    """
    plt = _pyplot()
    benchmarks = sorted({b for per_stage in scores.values() for b in per_stage})
    width = 0.8 / len(scores)
    fig, ax = plt.subplots(figsize=(3 + 1.5 * len(benchmarks) * max(1.0, len(scores) / 4), 4))
    for i, (stage, per_stage) in enumerate(scores.items()):
        xs, ys, errors = [], [], [[], []]
        for j, benchmark in enumerate(benchmarks):
            if benchmark in per_stage:
                value, ci = per_stage[benchmark]
                low, high = ci or (value, value)
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(100 * value)
                errors[0].append(100 * max(0.0, value - low))
                errors[1].append(100 * max(0.0, high - value))
        ax.bar(xs, ys, width, yerr=errors, capsize=3, label=stage)
    ax.set_xticks(range(len(benchmarks)), benchmarks)
    ax.set(title="pass@1 by stage (95% CI)", xlabel="benchmark", ylabel="pass@1 (%)", ylim=(0, 100))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", title="stage", loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
