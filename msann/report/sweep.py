"""A parameter sweep condensed into the figures of seed 002 Table 1: :func:`sweep_table`, as Markdown, as files.

:func:`write_sweep` adds ``sweep.json`` (the :func:`sweep_table` dictionary
and one row per run), ``sweep.md`` (the same as Markdown) and ``sweep.png``
(the best few runs and the default) to a report's folder.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graphprolong.checks import check_choice, check_positive_int

from ..atomic import write_atomically
from .plots import plot_error_vs_cost
from .records import RunRecord, _checked_runs, _finite_or_none, error_label

__all__ = ["sweep_markdown", "sweep_table", "write_sweep"]

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


def sweep_markdown(table: Mapping[str, Any], *, runs: Sequence[RunRecord] | None = None, error: str = "MSE") -> str:
    """Render a :func:`sweep_table` as Markdown (optionally with every run, best first); ``error`` names the logged error."""
    lines = [
        f"# Sweep summary ({table['runs']} runs)",
        "",
        f"| | run | final val {error} | cost to 1/10 {error} | seconds to 1/10 {error} | total cost | wall-clock s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    roles = ((f"best final {error}", "best_final"), (f"worst final {error}", "worst_final"), ("default", "default"),
             ("best cost to 1/10", "best_cost_to_tenth"))
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
        f"- Cost to 1/10 {error}, default / best: {'—' if table['cost_ratio'] is None else format(table['cost_ratio'], '.3g') + '×'}",
        f"- At equal total cost C = {_number(equal['cost'])}: best `{equal['best']['label']}` "
        f"{_number(equal['best']['val_mse'])} vs default {_number(equal['default_val_mse'])}",
        "",
        "Cost C(t) counts fine-model minibatch examples (SPEC §3); cost to 1/10 is the first logged point "
        "at or below 1/10 of the initial error; seconds are wall-clock.",
    ]
    if runs is not None:
        lines += [
            "",
            f"## All runs (best final {error} first)",
            "",
            f"| run | final val {error} | cost to 1/10 {error} | seconds to 1/10 {error} | total cost | wall-clock s |",
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
    write_atomically(out_dir / "sweep.json", lambda file: file.write((text + "\n").encode()))
    markdown = sweep_markdown(table, runs=runs, error=error_label(runs))
    write_atomically(out_dir / "sweep.md", lambda file: file.write(markdown.encode()))
    chosen = [run.label for run in sorted(runs, key=_final_key)[:best]]
    if table["best_cost_to_tenth"] is not None:
        chosen.append(table["best_cost_to_tenth"]["label"])
    if default_label is not None:
        chosen.append(default_label)
    shown = [run for run in runs if run.label in set(chosen)]
    plot_error_vs_cost(shown, out_dir / "sweep.png", title=title or f"Sweep: best {best} runs and the default", reference=default_label,
                       metric=f"validation {error_label(runs)}")
    return table
