"""Reporting shared by every training method (MsANN, FAS, MG/Opt).

A training run is summarised by a :class:`RunRecord`: its label, its resolved
configuration, and its history of ``(cost, val_mse, seconds)`` points, logged
on a :class:`CostGrid`.  This package writes and reads those records, draws
error-against-cost figures (seed 002, Fig. 5-7) with training seconds beside
cost, and condenses a parameter sweep into a Table-1-style summary.

Modules: :mod:`~msann.report.records` (the run record), :mod:`~msann.report.files`
(``summary.json``, ``history.csv``, ``errors.csv``: their schema is documented
there), :mod:`~msann.report.plots` (the figures), :mod:`~msann.report.sweep`
(sweep tables), :mod:`~msann.report.seeds` (comparisons with a baseline run,
runs over seeds: median and spread) and :mod:`~msann.report.grid` (the evaluation schedule); this
package re-exports their public names.

Examples
--------
>>> record = RunRecord("default", {"train.lr": 5e-4},
...                    [(0.0, 1.0, 0.0), (100.0, 0.2, 1.5), (200.0, 0.05, 3.0)],
...                    total_cost=200.0, wall_seconds=3.2)
>>> record.cost_to_tenth, record.value_at_cost(150.0)
(200.0, 0.2)
"""

from .files import ERRORS_FILE, HISTORY_HEADER, read_summary, write_errors, write_summary
from .grid import CostGrid
from .plots import plot_error_vs_cost, plot_errors
from .records import SUMMARY_KEYS, RunRecord, error_label
from .seeds import compare_to, seed_markdown, seed_table, write_seed_report
from .sweep import sweep_markdown, sweep_table, write_sweep

__all__ = [
    "CostGrid",
    "RunRecord",
    "compare_to",
    "error_label",
    "SUMMARY_KEYS",
    "HISTORY_HEADER",
    "ERRORS_FILE",
    "plot_error_vs_cost",
    "plot_errors",
    "read_summary",
    "seed_markdown",
    "seed_table",
    "sweep_markdown",
    "sweep_table",
    "write_errors",
    "write_seed_report",
    "write_summary",
    "write_sweep",
]
