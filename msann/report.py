"""Reporting shared by every training method (MsANN, FAS, MG/Opt).

A training run is summarised by a :class:`RunRecord`: its label, its resolved
configuration, and its history of ``(cost, val_mse, seconds)`` points, logged
on a :class:`CostGrid`.  This module writes and reads those records, draws
error-against-cost figures (seed 002, Fig. 5-7) with wall-clock seconds beside
cost, and condenses a parameter sweep into a Table-1-style summary.

Output files (a stable public format)
-------------------------------------
``summary.json``
    ``{"recipe": RECIPE, "runs": [RUN, ...]}`` where ``RECIPE`` is the recipe
    as given (its text, its path, or its resolved table) and each ``RUN`` is an
    object with the keys

    ``label`` (str, unique in the file), ``final_val_mse`` (float, the last
    logged validation error; ``null`` if not finite), ``initial_val_mse``
    (float, the error at cost 0; ``null`` if not finite), ``cost_to_tenth``
    (float, see :attr:`RunRecord.cost_to_tenth`; ``null`` if never reached),
    ``seconds_to_tenth`` (float, the wall-clock seconds at that same logged
    point; ``null`` if never reached), ``total_cost`` (float, C(t) at the end of
    training), ``wall_seconds`` (float, the run's wall-clock seconds),
    ``params`` (object, the run's full resolved configuration),

    followed by the method-specific keys of :attr:`RunRecord.extra` (for FAS,
    e.g. ``best_val_l2``, ``best_val_linf``, ``work_units``), which may not
    reuse any of the names above.
``history.csv``
    Header ``label,cost,val_mse,seconds``; one row per logged point of every
    run, runs in the order of ``summary.json``, points in increasing cost.
    Floats are written with ``repr`` (they read back exactly); a non-finite
    error is written ``nan`` or ``inf``.
``errors.csv``
    Header ``label,cost,NAME...``: every error of every evaluation
    (:attr:`RunRecord.evaluations`), e.g. ``val_mse,train_mse`` for MsANN
    and ``val_l2,val_linf,val_rel_l2,train_l2,train_linf,train_rel_l2``
    for FAS (``train_*``: the same errors on a fixed training subset);
    :func:`write_errors`.  ``errors.png`` draws them (:func:`plot_errors`).

Cost is the paper's accounting, C(t) (SPEC section 3): a step on level ``k``
with batch ``b`` costs ``(|M_k| / |M_0|) * b`` fine-model minibatch examples.
Both files are written atomically (:func:`graphprolong.io.atomic_write_bytes`),
and :func:`read_summary` reads them back into records.

A sweep (:func:`write_sweep`) adds ``sweep.json`` (the :func:`sweep_table`
dictionary and one row per run), ``sweep.md`` (the same as Markdown) and
``sweep.png`` (the best few runs and the default).

Examples
--------
>>> record = RunRecord("default", {"train.lr": 5e-4},
...                    [(0.0, 1.0, 0.0), (100.0, 0.2, 1.5), (200.0, 0.05, 3.0)],
...                    total_cost=200.0, wall_seconds=3.2)
>>> record.cost_to_tenth, record.value_at_cost(150.0)
(200.0, 0.2)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphprolong.checks import check_choice, check_positive, check_positive_int, check_real
from graphprolong.io import atomic_write_bytes

__all__ = [
    "CostGrid",
    "RunRecord",
    "SUMMARY_KEYS",
    "HISTORY_HEADER",
    "ERRORS_FILE",
    "plot_error_vs_cost",
    "plot_errors",
    "read_summary",
    "sweep_markdown",
    "sweep_table",
    "write_errors",
    "write_summary",
    "write_sweep",
]

#: Keys of every run entry in ``summary.json``, in the order written.
SUMMARY_KEYS = (
    "label",
    "final_val_mse",
    "initial_val_mse",
    "cost_to_tenth",
    "seconds_to_tenth",
    "total_cost",
    "wall_seconds",
    "params",
)
#: Header row of ``history.csv``.
HISTORY_HEADER = ("label", "cost", "val_mse", "seconds")
#: Every error of every evaluation (:func:`write_errors`).
ERRORS_FILE = "errors.csv"

#: Axis labels of the two abscissae of :func:`plot_error_vs_cost`.
AXIS_LABELS = {
    "cost": "training cost C(t) (examples, in fine-model equivalents)",
    "seconds": "wall-clock seconds",
}


# --------------------------------------------------------------------------- records


@dataclass
class RunRecord:
    """One training run: configuration, error history and totals.

    Parameters
    ----------
    label : str
        Name of the run, unique within a report (in a sweep it encodes the
        parameters, e.g. ``"L=4 gamma=3 k=4"``).
    params : dict
        The run's full resolved configuration, as plain JSON-serialisable data.
    history : list of (cost, val_mse, seconds)
        Validation error logged against training cost C(t) and wall-clock
        seconds.  The first point has cost 0 (the initial error); costs and
        seconds never decrease.  ``val_mse`` may be non-finite (a diverged
        evaluation); costs and seconds must be finite and >= 0.
    total_cost : float
        C(t) at the end of training; at least the last logged cost.
    wall_seconds : float
        Wall-clock seconds of the whole run.
    extra : dict, optional
        Method-specific summary fields merged into the run's ``summary.json``
        entry; their names may not be any of :data:`SUMMARY_KEYS`.
    evaluations : list of dict, optional
        Every evaluation's errors, ``{"cost": C, "val_mse": ...}`` or, for a
        method that measures several, ``{"cost": C, "val_l2": ...,
        "val_linf": ..., "train_l2": ...}`` (:func:`write_errors`,
        :func:`plot_errors`).  Not part of ``summary.json``.
    """

    label: str
    params: dict
    history: list[tuple[float, float, float]]
    total_cost: float
    wall_seconds: float
    extra: dict = field(default_factory=dict)
    evaluations: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"a run label must be a non-empty string; got {self.label!r}")
        if not isinstance(self.params, Mapping):
            raise TypeError(f"run {self.label!r}: params must be a dict; got {type(self.params).__name__}")
        if not isinstance(self.extra, Mapping):
            raise TypeError(f"run {self.label!r}: extra must be a dict; got {type(self.extra).__name__}")
        clashes = sorted(set(self.extra) & set(SUMMARY_KEYS))
        if clashes:
            raise ValueError(
                f"run {self.label!r}: extra may not reuse the summary keys {', '.join(SUMMARY_KEYS)}; got {', '.join(clashes)}"
            )
        self.history = _checked_history(self.label, self.history)
        self.evaluations = _checked_evaluations(self.label, self.evaluations)
        self.total_cost = check_real("total_cost", self.total_cost)
        self.wall_seconds = check_real("wall_seconds", self.wall_seconds)
        last_cost = self.history[-1][0]
        if self.total_cost < last_cost * (1.0 - 1e-12):
            raise ValueError(
                f"run {self.label!r}: total_cost must be >= the last logged cost; "
                f"got total_cost = {self.total_cost!r} < {last_cost!r}"
            )
        if self.wall_seconds < 0.0:
            raise ValueError(f"run {self.label!r}: wall_seconds must be >= 0; got {self.wall_seconds!r}")

    @property
    def initial_val_mse(self) -> float:
        """The validation error at cost 0."""
        return self.history[0][1]

    @property
    def final_val_mse(self) -> float:
        """The last logged validation error."""
        return self.history[-1][1]

    def _first_at_fraction(self, fraction: float) -> tuple[float, float, float] | None:
        target = fraction * self.initial_val_mse
        for point in self.history:
            if point[1] <= target:  # NaN never compares true
                return point
        return None

    def cost_to_fraction(self, fraction: float) -> float | None:
        """The first logged cost at which ``val_mse <= fraction * initial``; ``None`` if never.

        No interpolation: the answer is a logged point, so it is an upper bound
        on the true crossing whose resolution is the spacing of the
        :class:`CostGrid` (60 log-spaced points over three decades: 12 %).
        """
        fraction = check_positive("fraction", fraction)
        point = self._first_at_fraction(fraction)
        return None if point is None else point[0]

    @property
    def cost_to_tenth(self) -> float | None:
        """Cost to reach 1/10 of the initial error: :meth:`cost_to_fraction` at 0.1.

        The paper reads this off its curves; we take the first *logged* cost
        point whose error is at most ``initial_val_mse / 10`` (no
        interpolation between points), or ``None`` if no point gets there.
        """
        return self.cost_to_fraction(0.1)

    @property
    def seconds_to_tenth(self) -> float | None:
        """Wall-clock seconds at the logged point that defines :attr:`cost_to_tenth`."""
        point = self._first_at_fraction(0.1)
        return None if point is None else point[2]

    def value_at_cost(self, cost: float) -> float:
        """The error at total cost ``cost``: the last logged value at a cost <= ``cost``.

        Used to compare runs at equal total cost (the history is a step
        function of cost that holds each evaluation until the next).
        """
        cost = check_real("cost", cost)
        if cost < 0.0:
            raise ValueError(f"cost must be >= 0; got cost = {cost!r}")
        costs = [point[0] for point in self.history]
        index = int(np.searchsorted(costs, cost, side="right")) - 1
        return self.history[index][1]

    def summary_entry(self) -> dict[str, Any]:
        """This run's entry of ``summary.json`` (non-finite floats become ``None``)."""
        entry = {
            "label": self.label,
            "final_val_mse": _finite_or_none(self.final_val_mse),
            "initial_val_mse": _finite_or_none(self.initial_val_mse),
            "cost_to_tenth": self.cost_to_tenth,
            "seconds_to_tenth": self.seconds_to_tenth,
            "total_cost": self.total_cost,
            "wall_seconds": self.wall_seconds,
            "params": dict(self.params),
        }
        entry.update(self.extra)
        return entry


def _checked_history(label: str, history: Any) -> list[tuple[float, float, float]]:
    try:
        points = [tuple(float(value) for value in point) for point in history]
    except (TypeError, ValueError) as error:
        raise TypeError(f"run {label!r}: history must be a list of (cost, val_mse, seconds) numbers; {error}") from None
    if not points:
        raise ValueError(f"run {label!r}: history needs at least the initial point (0, val_mse, seconds); got none")
    for index, point in enumerate(points):
        if len(point) != 3:
            raise ValueError(f"run {label!r}: history point {index} must be (cost, val_mse, seconds); got {point!r}")
    costs = np.array([point[0] for point in points])
    seconds = np.array([point[2] for point in points])
    for name, values in (("cost", costs), ("seconds", seconds)):
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"run {label!r}: every history {name} value must be finite and >= 0; got {values.tolist()}")
        decreasing = np.flatnonzero(np.diff(values) < 0)
        if decreasing.size:
            index = int(decreasing[0]) + 1
            raise ValueError(
                f"run {label!r}: history {name} must not decrease; point {index} has {name} "
                f"{float(values[index])!r} after {float(values[index - 1])!r}"
            )
    if costs[0] != 0.0:
        raise ValueError(f"run {label!r}: the first history point must be at cost 0 (the initial error); got cost {costs[0]!r}")
    return points


def _checked_evaluations(label: str, evaluations: Any) -> list[dict]:
    checked = []
    for index, evaluation in enumerate(evaluations):
        if not isinstance(evaluation, Mapping) or "cost" not in evaluation:
            raise ValueError(f"run {label!r}: evaluations[{index}] must be a dict with a 'cost' key; got {evaluation!r}")
        checked.append({str(key): float(value) for key, value in evaluation.items()})
    return checked


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# --------------------------------------------------------------------------- files


def write_summary(out_dir: str | os.PathLike, *, recipe: str | dict, runs: Sequence[RunRecord]) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``history.csv`` (schema: module docstring) into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output folder, created if missing.
    recipe : str or dict
        The recipe as given (text, path or resolved table); JSON-serialisable.
    runs : sequence of RunRecord
        The runs, with unique labels.

    Returns
    -------
    (Path, Path)
        The paths of ``summary.json`` and ``history.csv``.
    """
    runs = _checked_runs(runs)
    document = {"recipe": recipe, "runs": [run.summary_entry() for run in runs]}
    try:
        text = json.dumps(document, indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"the recipe, params and extra fields must be plain JSON data (finite numbers); {error}") from None
    out_dir = Path(out_dir)
    rows = ((run.label, repr(cost), repr(value), repr(seconds)) for run in runs for cost, value, seconds in run.history)
    summary = atomic_write_bytes(out_dir / "summary.json", lambda file: file.write((text + "\n").encode()))
    history = _write_csv(out_dir / "history.csv", HISTORY_HEADER, rows)
    return summary, history


def _write_csv(path: Path, header: Sequence[str], rows) -> Path:
    """Write a header and rows of strings as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_bytes(path, lambda file: file.write(buffer.getvalue().encode()))


def _checked_runs(runs: Sequence[RunRecord]) -> list[RunRecord]:
    runs = list(runs)
    if not runs:
        raise ValueError("need at least one RunRecord; got none")
    for run in runs:
        if not isinstance(run, RunRecord):
            raise TypeError(f"runs must be RunRecord objects; got {type(run).__name__}")
    labels = [run.label for run in runs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"run labels must be unique; repeated: {', '.join(map(repr, repeated))}")
    return runs


def read_summary(out_dir: str | os.PathLike) -> tuple[str | dict, list[RunRecord]]:
    """Read ``summary.json`` and ``history.csv`` written by :func:`write_summary`.

    Returns
    -------
    (recipe, runs)
        The recipe as written and one :class:`RunRecord` per run, whose
        ``extra`` holds the entry's keys beyond :data:`SUMMARY_KEYS`.

    Raises
    ------
    ValueError
        If a file is not valid JSON/CSV of the documented schema, or the two
        files disagree (a run without history rows, rows of an unknown run, or
        a final error that does not match the history).
    """
    out_dir = Path(out_dir)
    summary_path, history_path = out_dir / "summary.json", out_dir / "history.csv"
    try:
        document = json.loads(summary_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{summary_path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or set(document) != {"recipe", "runs"} or not isinstance(document["runs"], list):
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{summary_path} must be an object with exactly the keys 'recipe' and 'runs' (a list); got {found}")
    labels = [entry.get("label") if isinstance(entry, dict) else None for entry in document["runs"]]
    if not labels:
        raise ValueError(f"{summary_path} lists no runs")
    repeated = sorted({str(label) for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{summary_path}: run labels must be unique; repeated: {', '.join(repeated)}")
    histories = _read_history(history_path)
    runs = []
    for index, entry in enumerate(document["runs"]):
        missing = [key for key in SUMMARY_KEYS if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise ValueError(f"{summary_path}: run {index} lacks the keys {', '.join(missing)}")
        label = entry["label"]
        if label not in histories:
            raise ValueError(f"{summary_path}: run {label!r} has no rows in {history_path}")
        try:
            run = RunRecord(
                label=label,
                params=entry["params"],
                history=histories.pop(label),
                total_cost=entry["total_cost"],
                wall_seconds=entry["wall_seconds"],
                extra={key: value for key, value in entry.items() if key not in SUMMARY_KEYS},
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"{summary_path}: run {index}: {error}") from None
        for key in ("final_val_mse", "cost_to_tenth"):
            if not _same(entry[key], getattr(run, key)):
                raise ValueError(
                    f"{summary_path} and {history_path} disagree on run {label!r}: "
                    f"{key} = {entry[key]!r} in the summary, {getattr(run, key)!r} from the history"
                )
        runs.append(run)
    if histories:
        raise ValueError(f"{history_path} has rows for runs missing from {summary_path}: {', '.join(map(repr, histories))}")
    return document["recipe"], runs


def _same(written: float | None, derived: float | None) -> bool:
    derived = _finite_or_none(derived)
    if written is None or derived is None:
        return written is None and derived is None
    return math.isclose(float(written), derived, rel_tol=1e-12, abs_tol=0.0)


def _read_history(path: Path) -> dict[str, list[tuple[float, float, float]]]:
    histories: dict[str, list[tuple[float, float, float]]] = {}
    with open(path, newline="") as file:
        rows = csv.reader(file)
        header = next(rows, None)
        if tuple(header or ()) != HISTORY_HEADER:
            raise ValueError(f"{path} must start with the header {','.join(HISTORY_HEADER)}; got {header!r}")
        for line, row in enumerate(rows, start=2):
            if len(row) != 4:
                raise ValueError(f"{path}, line {line}: expected 4 fields (label, cost, val_mse, seconds); got {row!r}")
            try:
                point = (float(row[1]), float(row[2]), float(row[3]))
            except ValueError:
                raise ValueError(f"{path}, line {line}: cost, val_mse and seconds must be numbers; got {row!r}") from None
            histories.setdefault(row[0], []).append(point)
    return histories


# --------------------------------------------------------------------------- figures

def _error_names(runs: Sequence[RunRecord]) -> list[str]:
    """Every error key of the runs' evaluations (not ``cost``), in first-seen order."""
    names: dict[str, None] = {}
    for run in runs:
        for evaluation in run.evaluations:
            names.update((key, None) for key in evaluation if key != "cost")
    return list(names)


def write_errors(out_dir: str | os.PathLike, runs: Sequence[RunRecord]) -> Path:
    """Write :data:`ERRORS_FILE`: one row per evaluation of every run, one column per error.

    Header ``label,cost,NAME...`` with every error name of the runs'
    :attr:`RunRecord.evaluations` (e.g. ``val_l2,val_linf,val_rel_l2,
    train_l2,...``); a run that does not measure an error leaves its cell
    empty.  Floats are written with ``repr``; the file is written atomically.
    """
    runs = _checked_runs(runs)
    names = _error_names(runs)
    rows = ((run.label, repr(evaluation["cost"]), *(repr(evaluation[name]) if name in evaluation else "" for name in names))
            for run in runs for evaluation in run.evaluations)
    return _write_csv(Path(out_dir) / ERRORS_FILE, ("label", "cost", *names), rows)


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

    Parameters
    ----------
    runs : sequence of RunRecord
        Runs with :attr:`RunRecord.evaluations`.
    path : path
        PNG file to write (atomically).
    title : str, optional
        Figure title.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    runs = _checked_runs(runs)
    dpi = check_positive_int("dpi", dpi)
    names = _error_names(runs)
    if not names:
        raise ValueError("plot_errors needs runs with evaluations; none of the runs has any")
    measures = list(dict.fromkeys(name.removeprefix("val_").removeprefix("train_") for name in names))
    in_work_units = all(run.extra.get("work_units") and run.total_cost > 0 for run in runs)
    figure = Figure(figsize=(5.2 * len(measures) + 2.4, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(measures), squeeze=False)[0]
    styles = _styles(runs, None)
    for axis, measure in zip(axes, measures):
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
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", linestyle="-"), Line2D([], [], color="0.3", linestyle="--")]
    labels += ["validation", "training subset"]
    figure.legend(handles, labels, loc="outside right center", fontsize="small")
    if title:
        figure.suptitle(title)
    return atomic_write_bytes(path, lambda file: figure.savefig(file, format="png", dpi=dpi))


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
    """Save log-log curves of the error E(t) against cost C(t) and/or wall-clock seconds.

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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = _checked_runs(runs)
    check_choice("x", x, ("both", "cost", "seconds"))
    dpi = check_positive_int("dpi", dpi)
    if reference is not None and reference not in {run.label for run in runs}:
        check_choice("reference run label", reference, [run.label for run in runs])
    abscissae = ("cost", "seconds") if x == "both" else (x,)
    figure = Figure(figsize=(6.4 * len(abscissae), 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(abscissae), squeeze=False)[0]
    styles = _styles(runs, reference)
    for axis, abscissa in zip(axes, abscissae):
        _draw_panel(axis, runs, styles, abscissa, metric)
    handles, labels = axes[0].get_legend_handles_labels()
    columns = 1 if len(labels) <= 8 else 2
    if len(abscissae) == 1:
        axes[0].legend(handles, labels, fontsize="small", ncols=columns, framealpha=0.9)
    else:
        figure.legend(handles, labels, loc="outside right center", fontsize="small", ncols=columns)
    if title:
        figure.suptitle(title)
    return atomic_write_bytes(path, lambda file: figure.savefig(file, format="png", dpi=dpi))


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


# --------------------------------------------------------------------------- sweeps


def _row(run: RunRecord) -> dict[str, Any]:
    entry = run.summary_entry()
    return {key: entry[key] for key in ("label", "final_val_mse", "cost_to_tenth", "seconds_to_tenth", "total_cost", "wall_seconds", "params")}


def _final_key(run: RunRecord) -> float:
    value = run.final_val_mse
    return value if math.isfinite(value) else math.inf  # a diverged run ranks last


def sweep_table(runs: Sequence[RunRecord], *, default_label: str | None = "default") -> dict[str, Any]:
    """Condense a sweep into the figures of seed 002 Table 1.

    Parameters
    ----------
    runs : sequence of RunRecord
        All runs of the sweep (unique labels).
    default_label : str or None
        Label of the default (plain training, L = 0) run; ``None`` if there is
        none, which leaves the default's fields ``None``.

    Returns
    -------
    dict
        ``runs`` (count), ``default_label``, and run rows (``label``,
        ``final_val_mse``, ``cost_to_tenth``, ``seconds_to_tenth``,
        ``total_cost``, ``wall_seconds``, ``params``) under ``best_final`` and
        ``worst_final`` (lowest and highest final error; non-finite ranks
        worst; ties go to the earlier run), ``default``, ``best_cost_to_tenth``
        (``None`` if no run reaches 1/10 of its initial error);
        ``cost_ratio`` = default's cost to 1/10 over the best one (``None`` if
        either is missing); and ``equal_cost``: ``{"cost": c, "best": row with
        "val_mse", "default_val_mse"}``, the errors at the smallest total cost
        ``c`` of the runs with a finite final error (:meth:`RunRecord.value_at_cost`).
    """
    runs = _checked_runs(runs)
    by_label = {run.label: run for run in runs}
    default = None
    if default_label is not None:
        check_choice("default run label", default_label, by_label)
        default = by_label[default_label]
    best = min(runs, key=_final_key)
    worst = max(runs, key=_final_key)
    reached = [run for run in runs if run.cost_to_tenth is not None]
    fastest = min(reached, key=lambda run: run.cost_to_tenth) if reached else None
    ratio = None
    if fastest is not None and default is not None and default.cost_to_tenth is not None and fastest.cost_to_tenth > 0:
        ratio = default.cost_to_tenth / fastest.cost_to_tenth
    finite = [run for run in runs if math.isfinite(run.final_val_mse)] or runs
    common = min(run.total_cost for run in finite)
    best_at_cost = min(finite, key=lambda run: _nan_last(run.value_at_cost(common)))
    return {
        "runs": len(runs),
        "default_label": default_label,
        "best_final": _row(best),
        "worst_final": _row(worst),
        "default": None if default is None else _row(default),
        "best_cost_to_tenth": None if fastest is None else _row(fastest),
        "cost_ratio": ratio,
        "equal_cost": {
            "cost": common,
            "best": dict(_row(best_at_cost), val_mse=_finite_or_none(best_at_cost.value_at_cost(common))),
            "default_val_mse": None if default is None else _finite_or_none(default.value_at_cost(common)),
        },
    }


def _nan_last(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def sweep_markdown(table: Mapping[str, Any], *, runs: Sequence[RunRecord] | None = None) -> str:
    """Render a :func:`sweep_table` as Markdown (optionally with every run, best first)."""
    lines = [
        f"# Sweep summary ({table['runs']} runs)",
        "",
        "| | run | final val MSE | cost to 1/10 MSE | seconds to 1/10 MSE | total cost | wall-clock s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    roles = (("best final MSE", "best_final"), ("worst final MSE", "worst_final"), ("default", "default"), ("best cost to 1/10", "best_cost_to_tenth"))
    for name, key in roles:
        row = table[key]
        if row is None:
            lines.append(f"| {name} | — | — | — | — | — | — |")
            continue
        lines.append(
            f"| {name} | `{row['label']}` | {_number(row['final_val_mse'])} | {_number(row['cost_to_tenth'])} | "
            f"{_number(row['seconds_to_tenth'], 3)} | {_number(row['total_cost'])} | {_number(row['wall_seconds'], 3)} |"
        )
    equal = table["equal_cost"]
    lines += [
        "",
        f"- Cost to 1/10 MSE, default / best: {'—' if table['cost_ratio'] is None else format(table['cost_ratio'], '.3g') + '×'}",
        f"- At equal total cost C = {_number(equal['cost'])}: best `{equal['best']['label']}` "
        f"{_number(equal['best']['val_mse'])} vs default {_number(equal['default_val_mse'])}",
        "",
        "Cost C(t) counts fine-model minibatch examples (SPEC §3); cost to 1/10 is the first logged point "
        "at or below 1/10 of the initial error; seconds are wall-clock.",
    ]
    if runs is not None:
        lines += [
            "",
            "## All runs (best final MSE first)",
            "",
            "| run | final val MSE | cost to 1/10 MSE | seconds to 1/10 MSE | total cost | wall-clock s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for run in sorted(_checked_runs(runs), key=_final_key):
            lines.append(
                f"| `{run.label}` | {_number(_finite_or_none(run.final_val_mse))} | {_number(run.cost_to_tenth)} | "
                f"{_number(run.seconds_to_tenth, 3)} | {_number(run.total_cost)} | {_number(run.wall_seconds, 3)} |"
            )
    return "\n".join(lines) + "\n"


def write_sweep(
    out_dir: str | os.PathLike,
    runs: Sequence[RunRecord],
    *,
    default_label: str | None = "default",
    best: int = 5,
    title: str | None = None,
) -> dict[str, Any]:
    """Write ``sweep.json``, ``sweep.md`` and ``sweep.png`` into ``out_dir``; return the table.

    ``sweep.json`` is ``{"table": sweep_table(...), "runs": [row, ...]}``;
    ``sweep.png`` draws the ``best`` runs of lowest final error, the run with
    the lowest cost to 1/10, and the default in black.
    """
    runs = _checked_runs(runs)
    best = check_positive_int("best", best)
    table = sweep_table(runs, default_label=default_label)
    out_dir = Path(out_dir)
    document = {"table": table, "runs": [_row(run) for run in runs]}
    try:
        text = json.dumps(document, indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"run params must be plain JSON data (finite numbers); {error}") from None
    atomic_write_bytes(out_dir / "sweep.json", lambda file: file.write((text + "\n").encode()))
    markdown = sweep_markdown(table, runs=runs)
    atomic_write_bytes(out_dir / "sweep.md", lambda file: file.write(markdown.encode()))
    chosen = [run.label for run in sorted(runs, key=_final_key)[:best]]
    if table["best_cost_to_tenth"] is not None:
        chosen.append(table["best_cost_to_tenth"]["label"])
    if default_label is not None:
        chosen.append(default_label)
    shown = [run for run in runs if run.label in set(chosen)]
    plot_error_vs_cost(shown, out_dir / "sweep.png", title=title or f"Sweep: best {best} runs and the default", reference=default_label)
    return table


# --------------------------------------------------------------------------- evaluation schedule


class CostGrid:
    """Log-spaced cost points at which to evaluate the validation error.

    The grid is ``points`` values from ``first`` to ``budget``, equally spaced
    in log(cost).  :meth:`due` is called with the running cost after each
    training step and returns ``True`` once each time the cost reaches the
    next grid point (a step that jumps over several points fires once).  The
    initial error (cost 0) is the caller's to log before training.

    Parameters
    ----------
    budget : float
        Total cost budget (the last grid point).
    points : int
        Number of grid points, >= 1 (one point is the budget alone).
    first : float, optional
        First grid point, in (0, budget]; default ``budget / 1000``.

    Examples
    --------
    >>> grid = CostGrid(1000.0, points=4, first=1.0)
    >>> grid.grid.tolist()
    [1.0, 10.0, 100.0, 1000.0]
    >>> [grid.due(cost) for cost in (0.5, 1.0, 5.0, 500.0, 999.0, 1000.0, 2000.0)]
    [False, True, False, True, False, True, False]
    """

    def __init__(self, budget: float, *, points: int = 60, first: float | None = None) -> None:
        self.budget = check_positive("budget", budget)
        self.points = check_positive_int("points", points)
        self.first = self.budget / 1000.0 if first is None else check_positive("first", first)
        if self.first > self.budget:
            raise ValueError(f"first must be <= budget; got first = {self.first!r} > budget = {self.budget!r}")
        if self.points == 1:
            grid = np.array([self.budget])
        else:
            grid = np.geomspace(self.first, self.budget, self.points)
            grid[0], grid[-1] = self.first, self.budget
        self._grid = grid
        self._index = 0

    @property
    def grid(self) -> np.ndarray:
        """The grid points (a copy)."""
        return self._grid.copy()

    @property
    def next_point(self) -> float | None:
        """The next grid point not yet passed, or ``None`` once all have fired."""
        return float(self._grid[self._index]) if self._index < self._grid.size else None

    def due(self, cost: float) -> bool:
        """Return ``True`` if ``cost`` has reached the next grid point (then move past it)."""
        cost = check_real("cost", cost)
        if self._index >= self._grid.size or cost < self._grid[self._index]:
            return False
        self._index = int(np.searchsorted(self._grid, cost, side="right"))
        return True

    def state_dict(self) -> dict[str, Any]:
        """Plain-data state for a checkpoint."""
        return {"budget": self.budget, "points": self.points, "first": self.first, "index": self._index}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the grid itself must be the same one."""
        mine = self.state_dict()
        for key in ("budget", "points", "first"):
            if key not in state or state[key] != mine[key]:
                raise ValueError(f"the saved CostGrid has {key} = {state.get(key)!r}; this grid has {key} = {mine[key]!r}")
        index = state.get("index")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index <= self._grid.size:
            raise ValueError(f"the saved CostGrid index must be an integer in [0, {self._grid.size}]; got {index!r}")
        self._index = int(index)

    def __repr__(self) -> str:
        return f"CostGrid(budget={self.budget!r}, points={self.points}, first={self.first!r}, next={self.next_point!r})"
