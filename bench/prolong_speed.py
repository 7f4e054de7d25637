"""Speed of our prolongation solver against the source paper's pipeline.

For each case (small graph -> large graph) and each weight ``s`` this runs

* the REFERENCE pipeline, the paper's: pymanopt ``ConjugateGradient`` with the
  autograd backend on dense matrices, started from the Munkres eigenvalue
  matching, minimising the reduced objective directly
  (``scale_start="direct"``), with pymanopt's default stopping rule (1000
  iterations, gradient norm 1e-6, step size 1e-10) and a wall-clock cap of
  ``--ref-max-time`` seconds (default 120);
* OUR pipeline in each configuration of :data:`CONFIGS` (analytic gradient and
  Hessian, sparse Laplacians, scipy matching).  The configuration of the main
  table (:data:`DEFAULT_CONFIG`, the library's defaults) runs to its own
  stopping rule or ``--ours-max-time`` seconds (default 40), whichever comes
  first; the others stop as soon as they reach the reference's objective.

Timing.  Every run is one end-to-end call, timed with ``time.perf_counter``:
building the :class:`ProlongationProblem` (its Laplacians, spectra and distance
matrices are computed inside it), the eigenvalue matching and the optimisation.
The networkx graphs are built once per case, outside the timings, and a tiny
warm-up solve precedes all timings.

"Seconds to reach" is the time from the start of our call until the optimiser
holds an iterate ``P`` with ``E(P) <= f_ref * (1 + 1e-9) + 1e-15 *
gradient_scale``, where ``f_ref`` is the reference's final objective (the last
term is the rounding level of ``E``).  An iterate counts once accepted: it is
stamped when its gradient is first evaluated (:class:`TracedProblem`), which
holds for every pymanopt optimiser.  The solver's own log is not used: pymanopt
2.2's TrustRegions keeps none.  The alpha-one start (``scale_start="auto"`` at
s = 0) is run here as its two phases, alpha fixed to 1 and then released, as
``solve`` does, so that the first phase is traced as well; its iterates count
by their alpha = 1 objective, an upper bound of ``E``.  "Setup" is the time
until the gradient at the starting point is evaluated: problem matrices,
matching and the solver's start-point checks.

The speed-up is the reference's end-to-end seconds divided by our seconds to
reach its objective.  The Markdown tables are printed and written, with the raw
numbers as JSON, to ``--out``.  Timings are measurements, never checked.

Threads.  BLAS runs on one thread unless ``OPENBLAS_NUM_THREADS`` (or
``OMP_NUM_THREADS``) is set by the caller: on a 2-core machine shared with
another process, two OpenBLAS threads made the same products 100-200 times
slower (2000 products 128x128 @ 128x64: 16 s against 0.08 s on one thread), so
timings taken that way measure the neighbours.  Both pipelines run under the
same setting; the 1-minute load average is recorded after every case, since a
busy machine still slows everything down.

Large grids (``--large``).  Grid 32x32 -> 64x64 (n = 4096) and 64x64 ->
128x128 (n = 16384) at ``s = 1`` (``--large-s``; beta = n_small / n_large fixed): the
reference (CG + autograd on dense matrices) from the Kronecker-product start
of the 1D eigenvalue matchings (a Munkres matching of 4096 x 1024 alone takes
longer than the cap), capped at ``--ref-max-time``; then the torch backend
(trust regions on the Kronecker-structured operators of
:mod:`graphprolong.operators`, ``--device``) from the same start until it
reaches the reference's objective; with ``--init exact-locality`` the torch
run starts instead from the exact minimiser of the locality term (at
``s = 1`` the global minimiser, built in closed form; its seconds are
counted).  The reference at n = 16384 needs 2 GB per
dense matrix and is skipped unless ``--large-reference`` is given.

Recipes (``--recipes``).  The grid-interpolation recipe at 32x32 -> 64x64,
64x64 -> 128x128 and 128x128 -> 256x256 in factored form (version 4: Kronecker
reference plus a low-rank correction kept in Kronecker bases, ``R + U_L G
U_R^T``; version 2 kept ``R + X Y^T`` with dense ``X``, 837 MB at 128² ->
256²), beside the dense version-1 construction (a dense SVD of the n_large x
n_small null-space projection) at the first two sizes; seconds, map bytes and
each run's peak resident memory, every run in a fresh process.

Usage::

    python bench/prolong_speed.py --out bench_output
    python bench/prolong_speed.py --quick            # tiny smoke run
    python bench/prolong_speed.py --recipes          # grid-interpolation, factored vs dense
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

# Before numpy is imported: BLAS reads its thread count once, at load time.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

from graphprolong import ProlongationProblem, grid_graph, path_graph, solve  # noqa: E402

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
    "conjugate-gradient": {"optimizer": "conjugate-gradient", "scale_start": "direct", "max_iterations": 1000},
}

#: The configuration of the main table: the library's defaults.
DEFAULT_CONFIG = "trust-regions"

#: Tolerances of "objective reached": relative to f_ref, and absolute in units of gradient_scale.
REACH_RTOL = 1e-9
REACH_ATOL = 1e-15


class ReferenceReached(Exception):
    """Raised inside a run that is to stop once it reaches the reference objective."""


class Trace:
    """Accepted iterates of one run, as ``(seconds since start, E)``, and derivative call counts."""

    def __init__(self, threshold: float = -np.inf, stop_on_reach: bool = False) -> None:
        self.start = time.perf_counter()
        self.threshold = threshold
        self.stop_on_reach = stop_on_reach
        self.points: list[tuple[float, float]] = []
        self.calls: Counter = Counter()

    def record(self, value: float) -> None:
        self.points.append((time.perf_counter() - self.start, value))
        if self.stop_on_reach and value <= self.threshold:
            raise ReferenceReached

    @property
    def setup_seconds(self) -> float | None:
        return self.points[0][0] if self.points else None

    @property
    def seconds_to_reach(self) -> float | None:
        return next((stamp for stamp, value in self.points if value <= self.threshold), None)


class TracedProblem(ProlongationProblem):
    """A problem that records each accepted iterate of the optimiser in a :class:`Trace`.

    pymanopt evaluates the gradient once at each iterate it accepts (and again,
    at the same array, inside every Hessian-vector product); the first gradient
    call at a new array records the iterate.  Its objective is the last cost
    evaluation's when that was at the same array, as pymanopt's optimisers
    arrange it; otherwise it is computed.
    """

    def __init__(self, *args, trace: Trace, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.trace = trace
        self._last_cost: tuple[np.ndarray | None, float] = (None, np.nan)
        self._last_recorded: np.ndarray | None = None

    def objective(self, P: np.ndarray) -> float:
        self.trace.calls["objective"] += 1
        value = super().objective(P)
        self._last_cost = (P, value)
        return value

    def euclidean_gradient(self, P: np.ndarray) -> np.ndarray:
        self.trace.calls["gradient"] += 1
        if P is not self._last_recorded:
            self._last_recorded = P
            point, value = self._last_cost
            self.trace.record(value if P is point else super().objective(P))
        return super().euclidean_gradient(P)

    def euclidean_hessian(self, P: np.ndarray, V: np.ndarray) -> np.ndarray:
        self.trace.calls["hessian"] += 1
        return super().euclidean_hessian(P, V)


def run_reference(graphs, s: float, max_time: float) -> dict:
    """Run the reference pipeline end to end; return its numbers."""
    trace = Trace()
    problem = TracedProblem(*graphs, s=s, trace=trace)
    result = solve(problem, tolerance=PYMANOPT_MIN_GRADIENT_NORM / problem.gradient_scale, max_time=max_time, **REFERENCE)
    return {
        "objective": result.objective,
        "initial_objective": result.initial_objective,
        "iterations": result.iterations,
        "seconds": time.perf_counter() - trace.start,
        "setup_seconds": trace.setup_seconds,
        "stopping_reason": result.stopping_reason,
        "gradient_scale": problem.gradient_scale,
    }


def _uses_alpha_one(scale_start: str, s: float) -> bool:
    """Whether solve() would start with alpha fixed to 1 (see graphprolong.solver.SCALE_STARTS)."""
    return scale_start == "alpha-one" or (scale_start == "auto" and s == 0.0)


def _solve_phases(graphs, s: float, config: dict, trace: Trace, max_time: float) -> tuple[float, int, str]:
    """solve() under ``config`` with every phase traced; return (objective, iterations, stopping reason)."""
    options = {key: value for key, value in config.items() if key != "scale_start"}
    problem = TracedProblem(*graphs, s=s, trace=trace)
    init, iterations, reasons = "matching", 0, []
    if _uses_alpha_one(config.get("scale_start", "auto"), s):
        frozen = TracedProblem(problem.small, problem.large, s=s, alpha=1.0, trace=trace)
        first = solve(frozen, init=init, max_time=max_time, **options)
        init, iterations = first.P, first.iterations
        reasons.append(f"alpha = 1 phase: {first.stopping_reason}; alpha released: ")
    remaining = max(max_time - (time.perf_counter() - trace.start), 1e-3)
    result = solve(problem, init=init, scale_start="direct", max_time=remaining, **options)
    return result.objective, iterations + result.iterations, "".join(reasons) + result.stopping_reason


def run_ours(graphs, s: float, config: dict, threshold: float, max_time: float, stop_on_reach: bool) -> dict:
    """Run one of our configurations end to end; return its numbers and its time to reach ``threshold``."""
    trace = Trace(threshold, stop_on_reach)
    try:
        objective, iterations, reason = _solve_phases(graphs, s, config, trace, max_time)
    except ReferenceReached:
        objective, iterations, reason = trace.points[-1][1], None, "stopped on reaching the reference objective"
    return {
        "objective": objective,
        "iterations": iterations,
        "seconds": time.perf_counter() - trace.start,
        "seconds_to_reach": trace.seconds_to_reach,
        "setup_seconds": trace.setup_seconds,
        "stopping_reason": reason,
        "calls": dict(trace.calls),
    }


def bench_case(name: str, graphs, s: float, args: argparse.Namespace) -> dict:
    """The reference and all our configurations on one case and weight."""
    with warnings.catch_warnings():
        # Degenerate optimised scales are expected (grids at s > 0); they
        # concern the maps, not the timings.
        warnings.simplefilter("ignore")
        reference = run_reference(graphs, s, args.ref_max_time)
        threshold = reference["objective"] * (1 + REACH_RTOL) + REACH_ATOL * reference["gradient_scale"]
        ours = {
            label: run_ours(graphs, s, config, threshold, args.ours_max_time, stop_on_reach=label != DEFAULT_CONFIG)
            for label, config in CONFIGS.items()
        }
    row = {
        "case": name,
        "n_large": graphs[1].number_of_nodes(),
        "s": s,
        "threshold": threshold,
        "load_average": os.getloadavg()[0],
        "reference": reference,
        "ours": ours,
    }
    print(summary_line(row), flush=True)
    return row


def warm_up() -> None:
    """Run both pipelines once on a tiny problem, so that imports and thread pools are not timed."""
    graphs = (path_graph(4), path_graph(8))
    run_reference(graphs, 0.5, max_time=5.0)
    run_ours(graphs, 0.5, CONFIGS[DEFAULT_CONFIG], -np.inf, max_time=5.0, stop_on_reach=False)


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f}"


def _speedup(reference: dict, run: dict) -> str:
    return "-" if run["seconds_to_reach"] is None else f"{reference['seconds'] / run['seconds_to_reach']:.1f}x"


def summary_line(row: dict) -> str:
    """One progress line per case and weight."""
    reference = row["reference"]
    reached = "; ".join(f"{label} {_seconds(run['seconds_to_reach'])}" for label, run in row["ours"].items())
    return (
        f"{row['case']} s={row['s']:g}: reference E={reference['objective']:.6g} in {reference['seconds']:.2f} s "
        f"({reference['iterations']} it); ours, seconds to reach: {reached}; load {row['load_average']:.2f}"
    )


def main_table(rows: list[dict], label: str) -> str:
    """The Markdown table of the reference against our configuration ``label``."""
    lines = [
        "| case | n_large | s | ref final E | ref iterations | ref s | ours final E | ours s to ref E | speed-up |",
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
    """Seconds each configuration needs to reach the reference objective (final E when it does not)."""
    lines = ["| case | s | " + " | ".join(CONFIGS) + " |", "|---|---|" + "---|" * len(CONFIGS)]
    for row in rows:
        cells = []
        for run in row["ours"].values():
            reached = run["seconds_to_reach"]
            cells.append(f"not reached (E={run['objective']:.6g})" if reached is None else f"{reached:.2f}")
        lines.append(f"| {row['case']} | {row['s']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(rows: list[dict], total_seconds: float) -> str:
    return (
        f"## Reference (CG, autograd, Munkres) vs ours ({DEFAULT_CONFIG}, library defaults)\n\n"
        f"{main_table(rows, DEFAULT_CONFIG)}\n\n"
        f"## Our configurations: seconds to reach the reference objective\n\n{configs_table(rows)}\n\n"
        f"Total benchmark time: {total_seconds:.1f} s; 1-minute load average after each case: "
        + ", ".join(f"{row['load_average']:.2f}" for row in rows)
        + "\n"
    )


#: ``--large`` cases: half side m of the grids m x m -> 2m x 2m.
LARGE_SIDES = (32, 64)


def bench_large(m: int, args: argparse.Namespace) -> dict:
    """Reference vs the torch backend on grid m x m -> 2m x 2m at ``args.s`` (default 1), from the same start."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from prolong_large import gradient_times_text, kronecker_matching_start, problem_for, seconds_to_gradient

    from graphprolong import torch_backend, torch_optimizers
    from graphprolong.optional import require_torch
    from graphprolong.starts import initial_point

    require_torch().set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # the BLAS setting, for torch too
    structured = problem_for(m, args.large_s)
    start = kronecker_matching_start(structured)
    row = {"case": f"grid {m}x{m}->{2 * m}x{2 * m}", "n_large": 4 * m * m, "s": args.large_s}
    if 4 * m * m <= 4096 or args.large_reference:
        dense = ProlongationProblem(grid_graph((m, m)), grid_graph((2 * m, 2 * m)), s=args.large_s, beta=structured.beta)
        dense.small.distances, dense.large.distances  # built outside the timing
        begin = time.perf_counter()
        result = solve(dense, init=start, optimizer="conjugate-gradient", backend="autograd", scale_start="direct",
                       max_iterations=10**6, tolerance=1e-30, max_time=args.ref_max_time)
        row["reference"] = {"objective": result.objective, "iterations": result.iterations,
                            "seconds": time.perf_counter() - begin, "initial_objective": result.initial_objective}
        threshold = result.objective * (1 + REACH_RTOL)
    else:
        row["reference"], threshold = None, -np.inf
    objective = torch_backend.TorchObjective(structured, device=args.device)
    scale = structured.gradient_scale
    begin = time.perf_counter()
    ours_start = start if args.init == "box-matching" else initial_point(structured, args.init, rng=np.random.default_rng(0))
    start_seconds = time.perf_counter() - begin  # counted in every time of ours: the log's stamps start after it
    P, iterations, reason, log = torch_optimizers.minimize(
        objective, objective.tensor(ours_start), min_gradient_norm=1e-10 * scale, max_time=args.ours_max_time,
        preconditioner=None if args.preconditioner == "none" else args.preconditioner,
    )
    seconds = time.perf_counter() - begin
    log = dict(log, time=[stamp + start_seconds for stamp in log["time"]])
    reached = next((stamp for stamp, value in zip(log["time"], log["objective"]) if value <= threshold), None)
    row["ours"] = {"objective": log["objective"][-1], "iterations": iterations, "seconds": seconds,
                   "seconds_to_reach": reached, "stopping_reason": reason, "device": str(objective.device),
                   "gradient_ratio": log["gradient_norm"][-1] / scale, "seconds_to_gradient": seconds_to_gradient(log, scale),
                   "preconditioner": args.preconditioner, "inner_iterations": sum(log["inner_iterations"]),
                   "init": args.init, "start_seconds": start_seconds}
    row["load_average"] = os.getloadavg()[0]
    reference = row["reference"]
    print(
        f"{row['case']} s={row['s']:g}: "
        + (f"reference E={reference['objective']:.6g} after {reference['iterations']} it in {reference['seconds']:.1f} s "
           f"({reference['seconds'] / max(reference['iterations'], 1):.2f} s/it); " if reference else "reference skipped; ")
        + f"torch TR ({objective.device}, init {args.init} in {start_seconds:.2f} s, preconditioner {args.preconditioner}) "
        f"E={row['ours']['objective']:.6g} after {iterations} it "
        f"({row['ours']['inner_iterations']} inner) in {seconds:.1f} s, "
        f"reached the reference's E in {_seconds(reached)} s, |grad|/scale {row['ours']['gradient_ratio']:.2g} "
        f"(s to |grad|/scale <= {gradient_times_text(row['ours']['seconds_to_gradient'])}); load {row['load_average']:.2f}",
        flush=True,
    )
    return row


def large_table(rows: list[dict]) -> str:
    lines = ["| case | n_large | ref final E | ref it | ref s | ref s/it | torch final E | torch it | torch s to ref E | speed-up "
             "| torch final rel. grad | torch s to rel. grad 1e-6 / 1e-8 / 1e-10 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        reference, run = row["reference"], row["ours"]
        gradient = f"{run['gradient_ratio']:.2g} | " + " / ".join(_seconds(value) for value in run["seconds_to_gradient"].values())
        if reference is None:
            lines.append(f"| {row['case']} | {row['n_large']} | - | - | - | - | {run['objective']:.6g} | {run['iterations']} | - | - | {gradient} |")
            continue
        lines.append(
            f"| {row['case']} | {row['n_large']} | {reference['objective']:.6g} | {reference['iterations']} | "
            f"{reference['seconds']:.1f} | {reference['seconds'] / max(reference['iterations'], 1):.2f} | {run['objective']:.6g} | "
            f"{run['iterations']} | {_seconds(run['seconds_to_reach'])} | {_speedup(reference, run)} | {gradient} |"
        )
    return "\n".join(lines)


#: ``--recipes``: small sides of grid-interpolation runs (factored, version 4) and of the dense version-1 construction.
RECIPE_SIDES = (32, 64, 128)
RECIPE_DENSE_SIDES = (32, 64)

_RECIPE_CHILD = """
import json, resource, sys, time
import numpy as np
side, version = int(sys.argv[1]), sys.argv[2]
from graphprolong.recipes import generators, get_recipe, grid_spectrum, spectra
begin = time.perf_counter()
if version == "4":
    P = get_recipe("grid-interpolation").prolongation((side, side), factored=True)
    size, rank = P.nbytes, P.rank
else:  # version 1: the Kronecker reference made dense, moved by the dense nearest-minimiser SVD
    small, large = (side, side), (2 * side, 2 * side)
    beta = generators._beta_from_ratio(small, large, generators.GRID_BETA_RATIO)
    reference = generators._kronecker(
        spectra._path_interpolation_1d(n, N, generators._factor_beta(beta, small, large, axis))
        for axis, (n, N) in enumerate(zip(small, large))
    ).dense()
    P = spectra._nearest_exact_minimiser(*(grid_spectrum._grid_distance_spectrum(s, False) for s in (small, large)), beta, reference)
    size, rank = P.nbytes, None
seconds = time.perf_counter() - begin
print(json.dumps({"side": side, "version": version, "seconds": seconds, "map_bytes": size, "rank": rank,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def bench_recipes() -> list[dict]:
    """grid-interpolation at n x n -> 2n x 2n: version 4 (factored, no dense SVD) beside version 1 (dense SVD).

    Each run is a fresh process (its peak resident memory is its own), on the
    thread settings of this one.
    """
    import subprocess

    rows = []
    for side in RECIPE_SIDES:
        for version in ("1", "4") if side in RECIPE_DENSE_SIDES else ("4",):
            completed = subprocess.run([sys.executable, "-c", _RECIPE_CHILD, str(side), version], capture_output=True, text=True, check=True)
            rows.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    return rows


def recipes_table(rows: list[dict]) -> str:
    lines = ["| small -> large | version | seconds | map (MB) | peak RSS (MB) | v1/v4 time |", "|---|---|---|---|---|---|"]
    seconds = {(row["side"], row["version"]): row["seconds"] for row in rows}
    for row in rows:
        side = row["side"]
        ratio = f"{seconds[(side, '1')] / seconds[(side, '4')]:.1f}x" if (side, "1") in seconds and row["version"] == "4" else ""
        lines.append(f"| {side}x{side} -> {2 * side}x{2 * side} | {row['version']} | {row['seconds']:.2f} | "
                     f"{row['map_bytes'] / 1e6:.1f} | {row['peak_rss_bytes'] / 1e6:.0f} | {ratio} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench_output"), help="output folder (default: bench_output)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: small graphs, 5 s caps")
    parser.add_argument("--cases", nargs="+", choices=[*CASES, *QUICK_CASES], help="cases to run (default: all)")
    parser.add_argument("--s", nargs="+", type=float, default=list(S_VALUES), help="weights s (default: 0 0.5 1)")
    parser.add_argument("--ref-max-time", type=float, default=120.0, help="cap of each reference run, seconds (default: 120)")
    parser.add_argument("--ours-max-time", type=float, default=40.0, help="cap of each of our runs, seconds (default: 40)")
    parser.add_argument("--large", action="store_true", help="grid 32x32->64x64 and 64x64->128x128 at s = --large-s (default 1) with the torch backend")
    parser.add_argument("--large-reference", action="store_true", help="also run the reference at n = 16384 (2 GB matrices)")
    parser.add_argument("--device", default="auto", help="torch device of --large (auto, cpu, cuda)")
    parser.add_argument("--large-s", type=float, default=1.0, help="locality weight s of the --large problems (default 1)")
    parser.add_argument("--large-sides", type=int, nargs="+", default=list(LARGE_SIDES),
                        help="half sides m of the --large grids m x m -> 2m x 2m (default: %(default)s)")
    parser.add_argument("--init", choices=["box-matching", "exact-locality"], default="box-matching",
                        help="start of the torch trust regions in --large (the reference always starts from box-matching; "
                             "the seconds of building the start are counted)")
    parser.add_argument("--preconditioner", choices=["none", "spectral"], default="none",
                        help="preconditioner of the trust regions' inner CG in --large (default: none)")
    parser.add_argument("--recipes", action="store_true", help="grid-interpolation recipe: factored version 4 beside dense version 1")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases = args.cases or list(QUICK_CASES)
        args.ref_max_time = min(args.ref_max_time, 5.0)
        args.ours_max_time = min(args.ours_max_time, 5.0)
    args.cases = args.cases or list(CASES)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.recipes:
        rows = bench_recipes()
        text = f"## grid-interpolation recipe, one thread\n\n{recipes_table(rows)}\n"
        print("\n" + text)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "prolong_recipes.md").write_text(text)
        (args.out / "prolong_recipes.json").write_text(json.dumps({"rows": rows}, indent=2))
        return
    if args.large:
        begin = time.perf_counter()
        rows = [bench_large(m, args) for m in args.large_sides]
        text = f"## Large grids, s = {args.large_s:g}: reference (CG, autograd) vs torch trust regions\n\n{large_table(rows)}\n"
        print("\n" + text + f"\nTotal {time.perf_counter() - begin:.0f} s")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "prolong_speed_large.md").write_text(text)
        (args.out / "prolong_speed_large.json").write_text(json.dumps({"rows": rows}, indent=2, default=str))
        return
    factories = {**CASES, **QUICK_CASES}
    begin = time.perf_counter()
    warm_up()
    rows = []
    for name in args.cases:
        graphs = factories[name]()
        rows.extend(bench_case(name, graphs, s, args) for s in args.s)
    total_seconds = time.perf_counter() - begin
    text = report(rows, total_seconds)
    print("\n" + text)
    settings = {
        "reference": REFERENCE,
        "reference_min_gradient_norm": PYMANOPT_MIN_GRADIENT_NORM,
        "ref_max_time": args.ref_max_time,
        "ours_max_time": args.ours_max_time,
        "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        "configs": CONFIGS,
        "default_config": DEFAULT_CONFIG,
        "reach_rtol": REACH_RTOL,
        "reach_atol_per_gradient_scale": REACH_ATOL,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prolong_speed.md").write_text(text)
    payload = {"settings": settings, "total_seconds": total_seconds, "rows": rows}
    (args.out / "prolong_speed.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
