"""Speed of our prolongation solver against the source paper's pipeline.

For each case (small graph -> large graph) and each weight ``s`` this runs

* the REFERENCE pipeline, the paper's: pymanopt ``ConjugateGradient`` with the
  autograd backend on dense matrices, started from the Munkres eigenvalue
  matching, minimising the reduced objective directly
  (``scale_start="direct"``), with pymanopt's default stopping rule
  (1000 iterations, gradient norm 1e-6, step size 1e-10) and a wall-clock cap
  of ``--ref-max-time`` seconds (default 120);
* OUR pipeline in each configuration of :data:`CONFIGS` (analytic gradient and
  Hessian, sparse Laplacians, scipy matching), with the library's default
  stopping rule and a cap of ``--ours-max-time`` seconds.

Timing.  Every run is one end-to-end call, timed with ``time.perf_counter``:
building the :class:`ProlongationProblem` (its Laplacians, spectra and distance
matrices are computed inside it), the eigenvalue matching and the optimisation.
The networkx graphs are built once per case, outside the timings.

"Seconds to reach" is the time from the start of our call until the optimiser
holds an iterate whose objective is at most the reference's final objective
``f_ref * (1 + 1e-9) + 1e-15 * gradient_scale`` (the last term is the rounding
level of ``E``).  An iterate counts once accepted: it is stamped when its
gradient is first evaluated (:class:`TracedProblem`), which works for every
optimiser; the solver's own log is not used, because pymanopt 2.2's
TrustRegions keeps none.  With ``scale_start="alpha-one"`` (the library's
default at s = 0) only the second phase is traced, so the time to reach is an
upper bound there.

The speed-up is the reference's end-to-end seconds divided by our seconds to
reach its objective.  The Markdown tables are printed and written, with the
raw numbers as JSON, to ``--out``.  Timings are measurements, never checked.

Usage::

    python bench/prolong_speed.py --out bench_output
    python bench/prolong_speed.py --quick            # tiny smoke run
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from graphprolong import ProlongationProblem, grid_graph, path_graph, solve

#: Benchmark cases: name -> (small graph, large graph) factory.
CASES = {
    "path 64->128": lambda: (path_graph(64), path_graph(128)),
    "grid 8x8->16x16": lambda: (grid_graph((8, 8)), grid_graph((16, 16))),
    "grid 16x16->32x32": lambda: (grid_graph((16, 16)), grid_graph((32, 32))),
}

#: Cases of the ``--quick`` smoke run.
QUICK_CASES = {
    "path 8->16": lambda: (path_graph(8), path_graph(16)),
    "grid 4x4->8x8": lambda: (grid_graph((4, 4)), grid_graph((8, 8))),
}

S_VALUES = (0.0, 0.5, 1.0)

#: The reference pipeline's solve() arguments (pymanopt's default iteration limit).
REFERENCE = {
    "optimizer": "conjugate-gradient",
    "backend": "autograd",
    "matcher": "munkres",
    "init": "matching",
    "scale_start": "direct",
    "max_iterations": 1000,
}

#: pymanopt's default absolute gradient-norm stop, used by the reference.
PYMANOPT_MIN_GRADIENT_NORM = 1e-6

#: Our configurations: name -> solve() arguments (library defaults otherwise).
CONFIGS = {
    "trust-regions": {"optimizer": "trust-regions"},
    "trust-regions/direct": {"optimizer": "trust-regions", "scale_start": "direct"},
    "conjugate-gradient": {"optimizer": "conjugate-gradient", "scale_start": "direct"},
}

#: The configuration of the main table.
DEFAULT_CONFIG = "trust-regions"

#: Tolerances of "objective reached": relative to f_ref, and absolute in units of gradient_scale.
REACH_RTOL = 1e-9
REACH_ATOL = 1e-15


class TracedProblem(ProlongationProblem):
    """A problem that stamps every accepted iterate with its time and objective.

    pymanopt evaluates the gradient once at each iterate it accepts (and again,
    at the same point, inside every Hessian-vector product); the first gradient
    call at a new point records ``(seconds since clock_start, E(point))``.
    The objective there is taken from the last cost evaluation when it was at
    the same array, as it is for every pymanopt optimiser; otherwise it is
    computed.  Calls of each derivative are counted.
    """

    def __init__(self, *args, clock_start: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock_start = clock_start
        self.trace: list[tuple[float, float]] = []
        self.calls = {"objective": 0, "gradient": 0, "hessian": 0}
        self._last_cost: tuple[np.ndarray | None, float] = (None, np.nan)
        self._last_traced: np.ndarray | None = None

    def objective(self, P: np.ndarray) -> float:
        self.calls["objective"] += 1
        value = super().objective(P)
        self._last_cost = (P, value)
        return value

    def euclidean_gradient(self, P: np.ndarray) -> np.ndarray:
        self.calls["gradient"] += 1
        if P is not self._last_traced:
            stamp = time.perf_counter() - self.clock_start
            point, value = self._last_cost
            self.trace.append((stamp, value if P is point else super().objective(P)))
            self._last_traced = P
        return super().euclidean_gradient(P)

    def euclidean_hessian(self, P: np.ndarray, V: np.ndarray) -> np.ndarray:
        self.calls["hessian"] += 1
        return super().euclidean_hessian(P, V)


def run_reference(graphs, s: float, max_time: float) -> dict:
    """Run the reference pipeline end to end; return its numbers."""
    start = time.perf_counter()
    problem = ProlongationProblem(*graphs, s=s)
    result = solve(
        problem, tolerance=PYMANOPT_MIN_GRADIENT_NORM / problem.gradient_scale, max_time=max_time, **REFERENCE
    )
    seconds = time.perf_counter() - start
    return {
        "objective": result.objective,
        "initial_objective": result.initial_objective,
        "iterations": result.iterations,
        "seconds": seconds,
        "setup_seconds": seconds - result.log["time"][-1],
        "stopping_reason": result.stopping_reason,
        "gradient_scale": problem.gradient_scale,
    }


def first_reach(trace: list[tuple[float, float]], threshold: float) -> float | None:
    """Seconds of the first traced iterate with objective <= threshold, or None."""
    return next((stamp for stamp, value in trace if value <= threshold), None)


def run_ours(graphs, s: float, config: dict, threshold: float, max_time: float) -> dict:
    """Run one of our configurations end to end; return its numbers and time to reach ``threshold``."""
    start = time.perf_counter()
    problem = TracedProblem(*graphs, s=s, clock_start=start)
    result = solve(problem, max_time=max_time, **config)
    seconds = time.perf_counter() - start
    return {
        "objective": result.objective,
        "iterations": result.iterations,
        "seconds": seconds,
        "seconds_to_reach": first_reach(problem.trace, threshold),
        "setup_seconds": problem.trace[0][0] if problem.trace else None,
        "stopping_reason": result.stopping_reason,
        "calls": dict(problem.calls),
    }


def bench_case(name: str, graphs, s: float, args) -> dict:
    """Reference and all our configurations on one case and weight."""
    with warnings.catch_warnings():
        # Degenerate optimised scales are expected here (grids at s > 0); they
        # concern the maps, not the timings.
        warnings.simplefilter("ignore")
        reference = run_reference(graphs, s, args.ref_max_time)
        threshold = reference["objective"] * (1 + REACH_RTOL) + REACH_ATOL * reference["gradient_scale"]
        ours = {label: run_ours(graphs, s, config, threshold, args.ours_max_time) for label, config in CONFIGS.items()}
    n_large = graphs[1].number_of_nodes()
    row = {"case": name, "n_large": n_large, "s": s, "threshold": threshold, "reference": reference, "ours": ours}
    print(summary_line(row), flush=True)
    return row


def summary_line(row: dict) -> str:
    reference = row["reference"]
    parts = [f"{label}: {_seconds(run['seconds_to_reach'])} (E={run['objective']:.6g})" for label, run in row["ours"].items()]
    return (
        f"{row['case']} s={row['s']:g}: reference E={reference['objective']:.6g} in {reference['seconds']:.2f} s "
        f"({reference['iterations']} it); reach: " + "; ".join(parts)
    )


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f}"


def _speedup(reference: dict, run: dict) -> str:
    return "-" if run["seconds_to_reach"] is None else f"{reference['seconds'] / run['seconds_to_reach']:.1f}x"


def main_table(rows: list[dict], label: str) -> str:
    """The Markdown table of the reference against configuration ``label``."""
    lines = [
        f"| case | n_large | s | ref E | ref it | ref s | ours E ({label}) | ours s to ref E | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        reference, run = row["reference"], row["ours"][label]
        lines.append(
            f"| {row['case']} | {row['n_large']} | {row['s']:g} | {reference['objective']:.6g} | "
            f"{reference['iterations']} | {reference['seconds']:.2f} | {run['objective']:.6g} | "
            f"{_seconds(run['seconds_to_reach'])} | {_speedup(reference, run)} |"
        )
    return "\n".join(lines)


def configs_table(rows: list[dict]) -> str:
    """Seconds to reach the reference objective (and final E) for every configuration."""
    labels = list(CONFIGS)
    lines = ["| case | s | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for row in rows:
        cells = [f"{_seconds(row['ours'][l]['seconds_to_reach'])} (E={row['ours'][l]['objective']:.4g})" for l in labels]
        lines.append(f"| {row['case']} | {row['s']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench_output"), help="output folder (default: bench_output)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (small graphs, short caps)")
    parser.add_argument("--cases", nargs="+", choices=[*CASES, *QUICK_CASES], help="cases to run (default: all)")
    parser.add_argument("--s", nargs="+", type=float, default=list(S_VALUES), help="weights s (default: 0 0.5 1)")
    parser.add_argument("--ref-max-time", type=float, default=120.0, help="cap of each reference run, seconds")
    parser.add_argument("--ours-max-time", type=float, default=120.0, help="cap of each of our runs, seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases = args.cases or list(QUICK_CASES)
        args.ref_max_time = min(args.ref_max_time, 10.0)
        args.ours_max_time = min(args.ours_max_time, 10.0)
    args.cases = args.cases or list(CASES)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    factories = {**CASES, **QUICK_CASES}
    begin = time.perf_counter()
    rows = []
    for name in args.cases:
        graphs = factories[name]()
        rows.extend(bench_case(name, graphs, s, args) for s in args.s)
    total = time.perf_counter() - begin
    report = (
        f"## Reference (CG, autograd, Munkres) vs ours ({DEFAULT_CONFIG})\n\n{main_table(rows, DEFAULT_CONFIG)}\n\n"
        f"## Our configurations: seconds to reach the reference objective\n\n{configs_table(rows)}\n\n"
        f"Total benchmark time: {total:.1f} s\n"
    )
    print("\n" + report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prolong_speed.md").write_text(report)
    settings = {
        "reference": REFERENCE,
        "reference_min_gradient_norm": PYMANOPT_MIN_GRADIENT_NORM,
        "ref_max_time": args.ref_max_time,
        "ours_max_time": args.ours_max_time,
        "configs": CONFIGS,
        "default_config": DEFAULT_CONFIG,
        "reach_rtol": REACH_RTOL,
        "reach_atol_per_gradient_scale": REACH_ATOL,
    }
    payload = {"settings": settings, "total_seconds": total, "rows": rows}
    (args.out / "prolong_speed.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
