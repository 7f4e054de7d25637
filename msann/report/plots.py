"""Figures of a report: the error against cost and training seconds, and every error of every evaluation.

:func:`plot_error_vs_cost` draws seed 002's Fig. 5-7 (log-log error against
cost C(t), with training seconds beside it); :func:`plot_errors` draws one
panel per error measure, validation and training.  Both write PNG files
atomically; matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphprolong.checks import check_choice, check_positive_int

from ..atomic import write_atomically
from .records import RunRecord, _checked_runs, _error_names

__all__ = ["AXIS_LABELS", "ERROR_TITLES", "plot_error_vs_cost", "plot_errors"]

#: Axis labels of the two abscissae of :func:`plot_error_vs_cost`.
AXIS_LABELS = {
    "cost": "training cost C(t) (examples, in fine-model equivalents)",
    "seconds": "training seconds (evaluations and checkpoints excluded)",
}

#: Panel titles of :func:`plot_errors`, by error name without its ``val_``/``train_`` prefix.
ERROR_TITLES = {
    "mse": "mean squared error",
    "l2": "L2 error (mean squared error)",
    "linf": "L-infinity error (largest absolute error)",
    "rel_l2": "relative L2 error (mean over samples)",
}


def plot_errors(runs: Sequence[RunRecord], path: str | os.PathLike, *, title: str | None = None, dpi: int = 150) -> Path:
    """Save one log-log panel per error measure: validation (solid) and training (dashed) against cost.

    The abscissa is work units when every run reports ``work_units`` in its
    :attr:`RunRecord.extra` (FAS: ``C(t) / batch size``), else the cost C(t).
    Runs keep their colours across the panels.

    ``runs`` need :attr:`RunRecord.evaluations`; ``path``, ``title`` and
    ``dpi`` are as in :func:`plot_error_vs_cost`.  Returns ``path``.
    """
    from matplotlib.lines import Line2D

    runs = _checked_runs(runs)
    dpi = check_positive_int("dpi", dpi)
    names = _error_names(runs)
    if not names:
        raise ValueError("plot_errors needs runs with evaluations; none of the runs has any")
    measures = list(dict.fromkeys(name.removeprefix("val_").removeprefix("train_") for name in names))
    in_work_units = all(run.extra.get("work_units") and run.total_cost > 0 for run in runs)
    figure, axes = _figure(5.2 * len(measures) + 2.4, 4.6, len(measures))
    styles = _styles(runs, None)
    for axis, measure in zip(axes, measures):
        _draw_errors(axis, runs, styles, measure, in_work_units)
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", linestyle="-"), Line2D([], [], color="0.3", linestyle="--")]
    labels += ["validation", "training subset"]
    figure.legend(handles, labels, loc="outside right center", fontsize="small")
    return _save_png(figure, path, title, dpi)


def _draw_errors(axis, runs: list[RunRecord], styles: dict, measure: str, in_work_units: bool) -> None:
    """One panel of :func:`plot_errors`: validation (solid) and training (dashed) ``measure`` of every run."""
    for run in runs:
        scale = run.extra["work_units"] / run.total_cost if in_work_units else 1.0
        for prefix, linestyle in (("val_", "-"), ("train_", "--")):
            points = np.array([(e["cost"] * scale, e[prefix + measure]) for e in run.evaluations
                               if prefix + measure in e], dtype=float).reshape(-1, 2)
            keep = (points[:, 0] > 0) & np.isfinite(points[:, 1]) & (points[:, 1] > 0)
            if np.any(keep):
                axis.plot(points[keep, 0], points[keep, 1], color=styles[run.label]["color"], linestyle=linestyle,
                          linewidth=1.4, label=run.label if prefix == "val_" else None)
    _log_axes(axis, "work units (fine minibatch forward + backward)" if in_work_units else AXIS_LABELS["cost"], None)
    axis.set_title(ERROR_TITLES.get(measure, measure), fontsize="medium")


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_LINESTYLES = ("-", "--", "-.", ":")


def plot_error_vs_cost(
    runs: Sequence[RunRecord],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    x: str = "both",
    metric: str = "validation MSE",
    reference: str | None = None,
    dpi: int = 150,
) -> Path:
    """Save log-log curves of the error E(t) against cost C(t) and/or training seconds (evaluations and checkpoints excluded).

    One line per run (sparse markers, a legend), and a dashed horizontal line
    at 1/10 of the initial error (one grey line if all runs share their
    initial error, else one per run in its colour).  Points at abscissa 0 (the
    initial error) cannot sit on a log axis and are left out of the curves.

    Parameters
    ----------
    runs : sequence of RunRecord
        Runs to draw, in legend order.
    path : path
        PNG file to write (atomically).
    title : str, optional
        Figure title.
    x : {"both", "cost", "seconds"}
        Abscissa: ``"both"`` (default) draws a cost panel and a wall-clock
        panel side by side, as SPEC section 3 asks.
    metric : str
        Label of the vertical axis.
    reference : str, optional
        Label of a run (e.g. the default) drawn in black and thicker.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    runs = _checked_runs(runs)
    check_choice("x", x, ("both", "cost", "seconds"))
    dpi = check_positive_int("dpi", dpi)
    if reference is not None and reference not in {run.label for run in runs}:
        check_choice("reference run label", reference, [run.label for run in runs])
    abscissae = ("cost", "seconds") if x == "both" else (x,)
    figure, axes = _figure(6.4 * len(abscissae), 4.8, len(abscissae))
    styles = _styles(runs, reference)
    for axis, abscissa in zip(axes, abscissae):
        _draw_panel(axis, runs, styles, abscissa, metric)
    handles, labels = axes[0].get_legend_handles_labels()
    columns = 1 if len(labels) <= 8 else 2
    if len(abscissae) == 1:
        axes[0].legend(handles, labels, fontsize="small", ncols=columns, framealpha=0.9)
    else:
        figure.legend(handles, labels, loc="outside right center", fontsize="small", ncols=columns)
    return _save_png(figure, path, title, dpi)


def _figure(width: float, height: float, panels: int) -> tuple[Any, Any]:
    """A figure of ``width x height`` inches on its own Agg canvas (no pyplot state) and its row of ``panels`` axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, panels, squeeze=False)[0]


def _save_png(figure: Any, path: str | os.PathLike, title: str | None, dpi: int) -> Path:
    """Give ``figure`` its title, if any, and write it to ``path`` as a PNG, atomically."""
    if title:
        figure.suptitle(title)
    return write_atomically(path, lambda file: figure.savefig(file, format="png", dpi=dpi))


def _styles(runs: list[RunRecord], reference: str | None) -> dict[str, dict[str, Any]]:
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    styles, index = {}, 0
    for run in runs:
        if run.label == reference:
            styles[run.label] = {"color": "black", "linewidth": 2.2, "linestyle": "-", "marker": "o", "zorder": 3}
            continue
        styles[run.label] = {
            "color": palette[index % len(palette)],
            "linewidth": 1.5,
            "linestyle": _LINESTYLES[(index // len(palette)) % len(_LINESTYLES)],
            "marker": _MARKERS[index % len(_MARKERS)],
            "zorder": 2,
        }
        index += 1
    return styles


def _draw_panel(axis, runs: list[RunRecord], styles: dict, abscissa: str, metric: str) -> None:
    column = 0 if abscissa == "cost" else 2
    for run in runs:
        points = np.array(run.history)
        keep = (points[:, column] > 0) & np.isfinite(points[:, 1]) & (points[:, 1] > 0)
        axis.plot(
            points[keep, column],
            points[keep, 1],
            label=run.label,
            markevery=0.12 if np.count_nonzero(keep) > 2 else None,  # a lone point still shows
            markersize=5,
            markerfacecolor="white",
            **styles[run.label],
        )
    initial = np.array([run.initial_val_mse for run in runs])
    if np.all(np.isfinite(initial)) and np.allclose(initial, initial[0], rtol=1e-6, atol=0.0):
        axis.axhline(initial[0] / 10, color="0.4", linestyle="--", linewidth=1.0, zorder=1)
        axis.annotate(
            "1/10 of initial error", (0.01, initial[0] / 10), xycoords=("axes fraction", "data"),
            xytext=(0, 3), textcoords="offset points", fontsize="small", color="0.3",
        )
    else:
        for run in runs:
            if math.isfinite(run.initial_val_mse):
                axis.axhline(run.initial_val_mse / 10, color=styles[run.label]["color"], linestyle="--", linewidth=0.8, alpha=0.7, zorder=1)
    _log_axes(axis, AXIS_LABELS[abscissa], metric)


def _log_axes(axis, xlabel: str, ylabel: str | None) -> None:
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    if ylabel is not None:
        axis.set_ylabel(ylabel)
    axis.grid(True, which="major", alpha=0.35)
    axis.grid(True, which="minor", alpha=0.12)
