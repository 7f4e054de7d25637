"""Runs compared with a baseline, and runs repeated over seeds condensed to a median and a spread.

:func:`compare_to` says when a run first reaches a baseline run's final
validation error -- in cost C(t), in work units and in training seconds,
interpolated linearly between the two logged points that bracket the
crossing (the log is on a grid, so the true crossing lies between them) --
and what its error was when the baseline finished (equal seconds).
:func:`seed_table` groups the runs of a seed loop (:mod:`msann.config.seeds`)
by their label and gives, for every figure, the median, the minimum and the
maximum over the seeds; :func:`write_seed_report` writes it as
``seeds.json``, ``seeds.md`` and ``seeds.png`` (median curves with min-max
bands, against cost and against training seconds).

Training seconds exclude evaluation and checkpoint time (reported apart as
``evaluation_seconds`` and ``checkpoint_seconds``).  A work unit is one fine
minibatch's forward and backward pass: ``C(t) / batch size``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphprolong.checks import check_positive_int

from ..atomic import write_atomically
from .records import RunRecord, _checked_runs, _finite_or_none, first_reach, step_index

__all__ = ["INTERPOLATION", "band", "compare_to", "group_of", "plot_seed_bands", "seed_markdown", "seed_table", "spread",
           "write_seed_report"]

#: How :func:`compare_to` finds a crossing, said in every comparison it returns.
INTERPOLATION = "linear between the two logged points that bracket the crossing"


def _batch_size(run: RunRecord) -> float | None:
    train = run.params.get("train") if isinstance(run.params, Mapping) else None
    size = train.get("batch_size") if isinstance(train, Mapping) else None
    return float(size) if isinstance(size, (int, float)) and size > 0 else None


def compare_to(run: RunRecord, baseline: RunRecord) -> dict[str, Any]:
    """When ``run`` first reaches ``baseline``'s final validation error, and its error at ``baseline``'s end.

    Returns
    -------
    dict
        ``baseline`` (label), ``target`` (its final error), ``cost``,
        ``work_units`` (``cost / [train] batch_size``; ``None`` without one)
        and ``seconds`` (training seconds) at the first crossing, all
        ``None`` if ``run`` never gets there; ``interpolation`` (how);
        ``baseline_seconds`` (the baseline's training seconds at its end) and
        ``error_at_baseline_seconds`` (``run``'s last logged error at or
        before them; its initial error if it logged nothing by then).

    Examples
    --------
    >>> base = RunRecord("default", {"train": {"batch_size": 10}}, [(0, 1.0, 0.0), (100, 0.4, 2.0)], 100, 2.5)
    >>> fast = RunRecord("fast", {"train": {"batch_size": 10}}, [(0, 1.0, 0.0), (40, 0.6, 1.0), (80, 0.2, 3.0)], 80, 3.5)
    >>> found = compare_to(fast, base)
    >>> found["cost"], found["work_units"], found["seconds"], found["error_at_baseline_seconds"]
    (60.0, 6.0, 2.0, 0.6)
    """
    target = baseline.final_val_mse
    reached = first_reach(run.history, target) if math.isfinite(target) else None
    size = _batch_size(run)
    cost, seconds = (None, None) if reached is None else reached
    end = baseline.history[-1][2]
    return {
        "baseline": baseline.label,
        "target": _finite_or_none(target),
        "cost": cost,
        "work_units": None if cost is None or size is None else cost / size,
        "seconds": seconds,
        "interpolation": INTERPOLATION,
        "baseline_seconds": end,
        "error_at_baseline_seconds": _finite_or_none(run.value_at_seconds(end)),
    }


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """``{"median", "min", "max", "n", "reached"}`` of the finite values (``None`` entries: not reached).

    >>> spread([3.0, None, 1.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0, 'n': 4, 'reached': 3}
    """
    finite = [float(value) for value in values if value is not None and math.isfinite(value)]
    if not finite:
        return {"median": None, "min": None, "max": None, "n": len(values), "reached": 0}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite), "n": len(values), "reached": len(finite)}


def group_of(run: RunRecord) -> str:
    """The label a run of a seed loop was repeated from (``extra["group"]``), else its own label."""
    return str(run.extra.get("group", run.label))


def _groups(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(group_of(run), []).append(run)
    return groups


def _compared(run: RunRecord, key: str) -> float | None:
    return (run.extra.get("to_baseline") or {}).get(key)


def seed_table(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per label (in first-seen order): every figure's :func:`spread` over the label's seeds.

    Rows: ``label``, ``seeds`` (list), ``final_val_mse``, ``cost_to_tenth``,
    ``training_seconds`` (at the last logged point), ``wall_seconds``, and --
    from each run's ``extra["to_baseline"]`` (:func:`compare_to` against the
    baseline run of the same seed) -- ``cost_to_baseline``,
    ``work_units_to_baseline``, ``seconds_to_baseline`` and
    ``error_at_baseline_seconds``; ``baseline``: the baseline's label, if any.
    """
    runs = _checked_runs(runs)
    groups = {run.label: group_of(run) for run in runs}
    rows = []
    for label, group in _groups(runs).items():
        rows.append({
            "label": label,
            "seeds": [run.params.get("train", {}).get("seed") for run in group],
            "baseline": groups.get((group[0].extra.get("to_baseline") or {}).get("baseline")),
            "final_val_mse": spread([_finite_or_none(run.final_val_mse) for run in group]),
            "cost_to_tenth": spread([run.cost_to_tenth for run in group]),
            "training_seconds": spread([run.history[-1][2] for run in group]),
            "wall_seconds": spread([run.wall_seconds for run in group]),
            "cost_to_baseline": spread([_compared(run, "cost") for run in group]),
            "work_units_to_baseline": spread([_compared(run, "work_units") for run in group]),
            "seconds_to_baseline": spread([_compared(run, "seconds") for run in group]),
            "error_at_baseline_seconds": spread([_compared(run, "error_at_baseline_seconds") for run in group]),
        })
    return rows


def _cell(figure: Mapping[str, Any], digits: int = 3) -> str:
    if figure["median"] is None:
        return f"— (0/{figure['n']})"
    text = f"{figure['median']:.{digits}g} [{figure['min']:.{digits}g}–{figure['max']:.{digits}g}]"
    return text if figure["reached"] == figure["n"] else f"{text} ({figure['reached']}/{figure['n']})"


def seed_markdown(rows: Sequence[Mapping[str, Any]], *, title: str = "Runs over seeds") -> str:
    """Render :func:`seed_table` rows as Markdown: ``median [min–max]`` cells, ``(k/n)`` when only k seeds got there."""
    baseline = next((row["baseline"] for row in rows if row["baseline"]), None)
    lines = [
        f"# {title}",
        "",
        f"| run | seeds | final val error | cost to 1/10 | training s | cost to {baseline or 'baseline'}'s final | "
        "work units to it | training s to it | error at its seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {len(row['seeds'])} | {_cell(row['final_val_mse'])} | {_cell(row['cost_to_tenth'])} | "
            f"{_cell(row['training_seconds'])} | {_cell(row['cost_to_baseline'])} | {_cell(row['work_units_to_baseline'])} | "
            f"{_cell(row['seconds_to_baseline'])} | {_cell(row['error_at_baseline_seconds'])} |"
        )
    lines += [
        "",
        "Cells: median [min–max] over the seeds; (k/n): only k of the n seeds got there (the figures are theirs).",
        f"\"to {baseline or 'baseline'}'s final\": the first crossing of the final validation error of the baseline run with the "
        f"same seed, {INTERPOLATION}.  \"error at its seconds\": the error when that baseline run ended.",
        "Training seconds exclude evaluations and checkpoints; a work unit is one fine minibatch (C(t) / batch size).",
    ]
    return "\n".join(lines) + "\n"


def write_seed_report(out_dir: str | os.PathLike, runs: Sequence[RunRecord], *, title: str | None = None,
                      dpi: int = 150) -> list[dict[str, Any]]:
    """Write ``seeds.json`` (``{"rows": seed_table}``), ``seeds.md`` and ``seeds.png`` into ``out_dir``; return the rows."""
    runs = _checked_runs(runs)
    rows = seed_table(runs)
    out_dir = Path(out_dir)
    text = json.dumps({"rows": rows}, indent=2, allow_nan=False)
    write_atomically(out_dir / "seeds.json", lambda file: file.write((text + "\n").encode()))
    markdown = seed_markdown(rows, title=title or "Runs over seeds")
    write_atomically(out_dir / "seeds.md", lambda file: file.write(markdown.encode()))
    plot_seed_bands(runs, out_dir / "seeds.png", title=title, dpi=dpi)
    return rows


def band(runs: Sequence[RunRecord], column: int, *, points: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x, median, low, high)`` of the runs' errors on a common log grid of cost (``column`` 0) or seconds (2).

    Every run's history is read as a step function (each logged error holds
    until the next, and a finished run keeps its final error: what it would
    hand a user at that time); the grid runs from the smallest positive
    logged abscissa to the *longest* run's end.
    """
    points = check_positive_int("points", points)
    positive = [point[column] for run in runs for point in run.history if point[column] > 0]
    end = max(run.history[-1][column] for run in runs)
    if not positive or end <= min(positive):
        return (np.empty(0),) * 4
    x = np.geomspace(min(positive), end, points)
    values = np.array([np.array([point[1] for point in run.history])[step_index(run.history, column, x)] for run in runs])
    return x, np.median(values, axis=0), values.min(axis=0), values.max(axis=0)


def plot_seed_bands(runs: Sequence[RunRecord], path: str | os.PathLike, *, title: str | None = None, dpi: int = 150) -> Path:
    """Save a PNG: per label, the median error over its seeds and the min-max band, against cost and training seconds."""
    from matplotlib import colormaps

    from .plots import AXIS_LABELS, _figure, _log_axes, _save_png

    groups = _groups(_checked_runs(runs))
    figure, axes = _figure(13.0, 4.8, 2)
    palette = colormaps["tab10"].colors
    for index, (label, group) in enumerate(groups.items()):
        color = palette[index % len(palette)]
        for axis, column in zip(axes, (0, 2)):
            x, median, low, high = band(group, column)
            if x.size:
                axis.plot(x, median, color=color, linewidth=1.6, label=f"{label} ({len(group)} seeds)")
                axis.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
    for axis, column in zip(axes, ("cost", "seconds")):
        _log_axes(axis, AXIS_LABELS[column], "validation error (median, min–max band)")
    axes[0].legend(fontsize="small")
    return _save_png(figure, path, title, dpi)
