"""curves.png: test accuracy and test loss against step for every run of an invocation.

Reads only the run folders (via run_files), never TensorFlow. Drawing goes straight onto an
Agg canvas through matplotlib's object API instead of pyplot: no global backend switch in the
caller's process (a notebook keeps its own backend), and no figure registry to leak from.

Non-finite losses are the point of this tool, so they are drawn, not dropped: a log axis cannot
show inf/nan, so each such evaluation gets an X at the top edge of the loss panel at its step,
and the accuracy line gets an X at the same step.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mnist_doctor.runs.read import RunRecord, read_runs
from mnist_doctor.vocabulary import MNIST_CHANCE_ACCURACY, RunStatus

# 12 colours a reader tells apart (tab10 plus two), crossed with line styles so that two runs
# sharing a colour past the 12th, or seen in greyscale, still differ.
COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#b8860b",
)
LINE_STYLES = ("-", "--", "-.", ":")
NONFINITE_MARKER = "X"
LEGEND_COLUMNS = 3
MAX_LABEL = 42


def plot_curves(invocation_dir: Path, output: Path | None = None) -> Path:
    """Draw every run's curves under `invocation_dir`; return the PNG path written."""
    invocation_dir = Path(invocation_dir)
    output = Path(output) if output is not None else invocation_dir / "curves.png"
    runs = read_runs(invocation_dir)
    legend_rows = math.ceil(max(len(runs), 1) / LEGEND_COLUMNS) + 1
    fig = Figure(figsize=(13, 5 + 0.28 * legend_rows), layout="constrained")
    FigureCanvasAgg(fig)
    acc_ax, loss_ax = fig.subplots(1, 2)
    for index, run in enumerate(runs):
        _plot_run(acc_ax, loss_ax, run, _style(index), edge=0.985 - 0.02 * (index % 4))
    _decorate_accuracy(acc_ax)
    _decorate_loss(loss_ax, runs)
    if not runs:
        acc_ax.text(0.5, 0.5, "no runs found", ha="center", va="center", fontsize=14,
                    transform=acc_ax.transAxes)
    fig.suptitle(f"{invocation_dir.name}: test accuracy and loss against step")
    _add_legend(fig, acc_ax)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    return output


def run_label(run: RunRecord) -> str:
    """Legend text: the name (shortened) plus the status when the run did not complete."""
    name = run.name if len(run.name) <= MAX_LABEL else run.name[: MAX_LABEL - 1] + "…"
    # A "$" would switch matplotlib into mathtext and garble (or break) the legend.
    name = name.replace("$", r"\$")
    return name if run.status == RunStatus.COMPLETED else f"{name} ({run.status})"


def _style(index: int) -> dict:
    return {
        "color": COLOURS[index % len(COLOURS)],
        "linestyle": LINE_STYLES[index % len(LINE_STYLES)],
    }


def _plot_run(acc_ax: Axes, loss_ax: Axes, run: RunRecord, style: dict, edge: float) -> None:
    """One run's lines; non-finite evaluations marked on both panels at their step.

    `edge` is the marker height on the loss panel, in axes units, staggered per run so that
    runs diverging at the same step do not hide each other's markers.
    """
    metrics = run.metrics
    steps = metrics["step"].to_numpy(dtype=float)
    accuracy = metrics["test_accuracy"].to_numpy(dtype=float)
    loss = metrics["test_loss"].to_numpy(dtype=float)
    nonfinite = ~np.isfinite(loss) | (metrics["nan"].fillna(0).to_numpy(dtype=float) > 0)
    marker = "o" if len(steps) == 1 else None
    acc_ax.plot(steps, accuracy, label=run_label(run), linewidth=1.6, marker=marker, **style)
    # Non-positive losses cannot sit on a log axis either; mask them rather than warn.
    shown_loss = np.where(np.isfinite(loss) & (loss > 0), loss, np.nan)
    loss_ax.plot(steps, shown_loss, linewidth=1.6, marker=marker, **style)
    if nonfinite.any():
        bad_acc = np.where(np.isfinite(accuracy), accuracy, MNIST_CHANCE_ACCURACY)
        acc_ax.plot(steps[nonfinite], bad_acc[nonfinite], linestyle="none",
                    marker=NONFINITE_MARKER, markersize=8, color=style["color"])
    bad_loss = ~np.isfinite(loss)
    if bad_loss.any():
        # x in data units, y in axes units: the marker sits on the top edge at its step.
        loss_ax.plot(steps[bad_loss], np.full(bad_loss.sum(), edge), linestyle="none",
                     marker=NONFINITE_MARKER, markersize=9, color=style["color"],
                     transform=loss_ax.get_xaxis_transform(), clip_on=False)


def _decorate_accuracy(ax: Axes) -> None:
    ax.axhline(MNIST_CHANCE_ACCURACY, color="#555555", linestyle=(0, (1, 2)), linewidth=1.2,
               label=f"chance ({MNIST_CHANCE_ACCURACY})")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel("test accuracy")
    ax.set_title("test accuracy")
    ax.grid(True, alpha=0.3)


def _decorate_loss(ax: Axes, runs: list[RunRecord]) -> None:
    """Log scale when there is a positive finite loss to anchor it, else a linear placeholder."""
    finite = [
        value for run in runs for value in run.metrics["test_loss"].to_numpy(dtype=float)
        if np.isfinite(value) and value > 0
    ]
    if finite:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, 1)
        ax.set_yticks([])
    ax.set_xlabel("step")
    ax.set_ylabel("test loss (log scale)" if finite else "test loss")
    ax.set_title(f"test loss ({NONFINITE_MARKER} at top edge = inf/nan)")
    ax.grid(True, which="both", alpha=0.3)


def _add_legend(fig: Figure, acc_ax: Axes) -> None:
    """One legend under both panels: the runs, the chance line and the non-finite marker."""
    handles, labels = acc_ax.get_legend_handles_labels()
    handles.append(Line2D([], [], linestyle="none", marker=NONFINITE_MARKER, color="#333333",
                          markersize=8))
    labels.append("non-finite loss")
    fig.legend(handles, labels, loc="outside lower center", ncols=LEGEND_COLUMNS,
               fontsize=9, frameon=False, handlelength=3)
