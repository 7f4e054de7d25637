"""The record of one training run (:class:`RunRecord`), its figures and the checks of its data.

A run is its label, its resolved configuration, its history of
``(cost, val_mse, seconds)`` points and its totals; the figures the reports
use (the error at cost 0, the last error, the cost to 1/10 of the initial
error) are derived from the history.  The checks here are shared by the
files, figures and sweep tables of :mod:`msann.report`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphprolong.checks import check_positive, check_real

__all__ = ["ERROR_LABELS", "OPTIONAL_SUMMARY_KEYS", "RunRecord", "SUMMARY_KEYS", "TIMED_KEYS", "error_label", "first_reach",
           "step_index", "untimed"]

#: Keys of every run entry in ``summary.json``, in the order written.
SUMMARY_KEYS = (
    "label",
    "final_val_mse",
    "initial_val_mse",
    "cost_to_tenth",
    "seconds_to_tenth",
    "cost_to_tenth_note",
    "total_cost",
    "wall_seconds",
    "params",
)

#: Keys of a run's ``summary.json`` entry that are measured times, or depend on them (``to_baseline``: its seconds
#: and the error at the baseline's seconds): two runs of one configuration differ there and nowhere else.
TIMED_KEYS = ("wall_seconds", "seconds_to_tenth", "evaluation_seconds", "checkpoint_seconds", "event_seconds",
              "to_baseline.seconds", "to_baseline.baseline_seconds", "to_baseline.error_at_baseline_seconds")


def untimed(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A ``summary.json`` run entry without its :data:`TIMED_KEYS` (to compare a resumed run with an uninterrupted one)."""
    kept = {key: value for key, value in entry.items() if key not in TIMED_KEYS}
    if isinstance(kept.get("to_baseline"), Mapping):
        kept["to_baseline"] = {key: value for key, value in kept["to_baseline"].items()
                               if f"to_baseline.{key}" not in TIMED_KEYS}
    return kept


#: Keys of :data:`SUMMARY_KEYS` that files written by older versions lack (derived, so read without them).
OPTIONAL_SUMMARY_KEYS = ("cost_to_tenth_note",)


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
        "val_linf": ..., "train_l2": ...}`` (:func:`~msann.report.write_errors`,
        :func:`~msann.report.plot_errors`).  Not part of ``summary.json``.
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
        :class:`~msann.report.CostGrid` (60 log-spaced points over three decades: 12 %).
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

    @property
    def cost_to_tenth_note(self) -> str | None:
        """Why :attr:`cost_to_tenth` is ``None`` (one sentence with the values), else ``None``."""
        if self.cost_to_tenth is not None:
            return None
        initial = self.initial_val_mse
        if not math.isfinite(initial):
            return f"the initial error is {initial}, so 1/10 of it is undefined"
        if initial <= 0.0:
            return f"the initial error is {initial:g}, so there is nothing to reduce"
        finite = [point[1] for point in self.history if math.isfinite(point[1])]
        best = min(finite)
        return (f"never reached: the lowest logged error {best:.4g} is {best / initial:.3g} of the initial "
                f"{initial:.4g} (1/10 needs <= 0.1) within the cost budget {self.total_cost:.6g}; train longer "
                f"([train] cost_budget) or check the learning rate")

    def value_at_cost(self, cost: float) -> float:
        """The error at total cost ``cost``: the last logged value at a cost <= ``cost``.

        Used to compare runs at equal total cost (the history is a step
        function of cost that holds each evaluation until the next).
        """
        cost = check_real("cost", cost)
        if cost < 0.0:
            raise ValueError(f"cost must be >= 0; got cost = {cost!r}")
        return self.history[int(step_index(self.history, 0, cost))][1]

    def value_at_seconds(self, seconds: float) -> float:
        """The error at training seconds ``seconds``: the last logged value at or before them (the initial one before any)."""
        seconds = check_real("seconds", seconds)
        return self.history[int(step_index(self.history, 2, seconds))][1]

    def summary_entry(self) -> dict[str, Any]:
        """This run's entry of ``summary.json`` (non-finite floats become ``None``)."""
        entry = {
            "label": self.label,
            "final_val_mse": _finite_or_none(self.final_val_mse),
            "initial_val_mse": _finite_or_none(self.initial_val_mse),
            "cost_to_tenth": self.cost_to_tenth,
            "seconds_to_tenth": self.seconds_to_tenth,
            "cost_to_tenth_note": self.cost_to_tenth_note,
            "total_cost": self.total_cost,
            "wall_seconds": self.wall_seconds,
            "params": dict(self.params),
        }
        entry.update(self.extra)
        return entry


def step_index(history: Sequence[tuple[float, float, float]], column: int, at: float | np.ndarray) -> np.ndarray:
    """Index of the logged point in force at abscissa ``at`` (``column`` 0: cost, 2: seconds), for one or many ``at``.

    A history is a step function: each logged error holds until the next,
    and the last one for ever after; before the first point, the first.

    >>> int(step_index([(0.0, 1.0, 0.0), (10.0, 0.5, 2.0)], 2, 1.5))
    0
    """
    abscissae = np.array([point[column] for point in history], dtype=float)
    return np.maximum(np.searchsorted(abscissae, at, side="right") - 1, 0)


def first_reach(history: Sequence[tuple[float, float, float]], target: float) -> tuple[float, float] | None:
    """``(cost, seconds)`` where a ``(cost, error, seconds)`` history first reaches ``target``, or ``None``.

    Linear interpolation between the two logged points that bracket the
    crossing (the log is on a grid); the first point when it already does.

    Examples
    --------
    >>> first_reach([(0.0, 1.0, 0.0), (10.0, 0.5, 2.0), (20.0, 0.1, 4.0)], 0.3)
    (15.0, 3.0)
    """
    for (c0, e0, s0), (c1, e1, s1) in zip(history, history[1:]):
        if e1 <= target < e0:
            weight = (e0 - target) / (e0 - e1)
            return c0 + weight * (c1 - c0), s0 + weight * (s1 - s0)
    return (history[0][0], history[0][2]) if history and history[0][1] <= target else None


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


#: How tables and figures name a run's logged error, by its key: the first error of the task's metrics
#: (:mod:`msann.core.metrics`), kept under ``val_mse`` in ``summary.json`` and ``history.csv`` whatever it is.
#: The autoencoders' ``val_mse`` and the fields' per-node ``val_l2`` are both the MSE.
ERROR_LABELS = {"val_mse": "MSE", "val_l2": "MSE", "val_error": "error rate"}


def error_label(runs: Sequence[RunRecord]) -> str:
    """The name of the runs' logged error in tables and figures: ``"MSE"``, ``"error rate"`` (:data:`ERROR_LABELS`).

    Read from each run's first evaluation (its first error is the logged
    one); another key is named without its ``val_`` prefix, runs without
    evaluations say ``"MSE"``, and runs of different tasks list their names,
    joined by ``" / "``.
    """
    names: dict[str, None] = {}
    for run in runs:
        key = next((key for key in run.evaluations[0] if key != "cost"), None) if run.evaluations else None
        names[ERROR_LABELS.get(key, key.removeprefix("val_")) if key else "MSE"] = None
    return " / ".join(names) or "MSE"


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


def _error_names(runs: Sequence[RunRecord]) -> list[str]:
    """Every error key of the runs' evaluations (not ``cost``), in first-seen order."""
    names: dict[str, None] = {}
    for run in runs:
        for evaluation in run.evaluations:
            names.update((key, None) for key in evaluation if key != "cost")
    return list(names)
