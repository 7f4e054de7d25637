"""Large grid prolongations with the torch backend, against the paper's per-iteration cost.

Cases: grids ``m x m -> 2m x 2m`` given as structured matrices
(:func:`graphprolong.operators.structured_matrices`: Kronecker-sum Laplacians and
box-product distance operators, never an ``n x n`` matrix), at ``s = 1`` with
``beta = n_small / n_large`` fixed (the optimised beta is degenerate for grids)
and at ``s = 0`` with ``alpha`` optimised in closed form.  Every run starts
from the Kronecker product of the two 1D eigenvalue matchings (path m -> 2m),
the seed's vertex-map start composed by Theorem 5.1 (a full eigenvalue matching
is an n_large x n_small assignment problem, itself too slow at these sizes).

Printed, per case:

* REFERENCE (n_large = 1024 only): the seed's pipeline, pymanopt
  ``ConjugateGradient`` with the autograd backend on dense matrices,
  ``graphprolong.solve(..., optimizer="conjugate-gradient", backend="autograd",
  max_iterations=5, scale_start="direct")`` from the same start; its wall time
  / 5 is its cost per iteration.  Beside it the library's numpy default
  (pymanopt trust regions, analytic backend), timed the same way: the torch
  trust regions follows the same iterates, so their first-5-iteration costs
  compare like for like;
* KERNELS: seconds for one objective + Euclidean + Riemannian gradient, one
  Riemannian Hessian-vector product and one retraction, on the torch device
  (the best of a few repetitions);
* torch CG: 5 iterations of the torch conjugate gradient, seconds per iteration;
* RUN: Riemannian trust regions (``graphprolong.torch_optimizers.minimize``) with
  the library's tolerance (Riemannian gradient norm <= 1e-10 * gradient_scale)
  and a wall-clock cap per run: outer iterations, Hessian-vector products
  (inner iterations), seconds per outer iteration, initial and final objective,
  final gradient norm relative to gradient_scale, whether it converged
  (relative gradient <= 1e-10, the library's tolerance) and the seconds until
  the relative gradient first fell to 1e-6, 1e-8 and 1e-10.

Sizes whose runs would exceed the budget get kernel timings only (on the
CPU: 64x64 -> 128x128, once, at s = 1 -- its cost is the n k^2 products, the
same at any s); larger ones are skipped (128x128 -> 256x256 needs a GPU:
P alone is 65536 x 16384).  The load average is printed at the start and the
end, since other processes skew CPU timings.  Timings are measurements, never
checked.

Usage::

    python bench/prolong_large.py                     # CPU or CUDA ("auto")
    python bench/prolong_large.py --device cuda --dtype float32 --max-time 300
    python bench/prolong_large.py --quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

from graphprolong import ProlongationProblem, grid_graph, initial_point, solve
from graphprolong.operators import structured_matrices
from graphprolong import torch_backend, torch_optimizers
from graphprolong.optional import require_torch

#: Half side m of the grids m x m -> 2m x 2m.
SIDES = (16, 32, 64, 128)
QUICK_SIDES = (8, 16)

#: Largest n_large for which a full run / only kernel timings are attempted, per device type.
RUN_LIMIT = {"cpu": 4096, "cuda": 65536}
KERNEL_LIMIT = {"cpu": 16384, "cuda": 65536}


def kronecker_matching_start(problem: ProlongationProblem) -> np.ndarray:
    """``M_1D ⊗ M_1D``: the 1D eigenvalue matchings (path m -> 2m) composed for the grid (``init="box-matching"``)."""
    return initial_point(problem, "box-matching", rng=np.random.default_rng(0))


#: Relative gradient levels ``|grad| / gradient_scale`` whose first time a run reports: 1e-6 is the recipes'
#: verification level, 1e-10 the library's default tolerance (what "converged" means in the tables).
GRADIENT_LEVELS = (1e-6, 1e-8, 1e-10)


def seconds_to_gradient(log: dict, scale: float, levels=GRADIENT_LEVELS) -> dict[str, float | None]:
    """Seconds until the run's relative Riemannian gradient first fell to each level (None: never)."""
    return {
        f"{level:.0e}": next((stamp for stamp, norm in zip(log["time"], log["gradient_norm"]) if norm <= level * scale), None)
        for level in levels
    }


def gradient_times_text(times: dict[str, float | None]) -> str:
    return ", ".join(f"{level}: {'-' if value is None else format(value, '.1f')}" for level, value in times.items())


def problem_for(m: int, s: float) -> ProlongationProblem:
    small, large = structured_matrices("grid", (m, m)), structured_matrices("grid", (2 * m, 2 * m))
    beta = small.n / large.n if s > 0 else None
    return ProlongationProblem(small, large, s=s, beta=beta)


def best_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        function()
        times.append(time.perf_counter() - begin)
    return min(times)


def kernel_timings(objective, start, repeats: int) -> dict:
    torch = require_torch()
    synchronise = torch.cuda.synchronize if objective.device.type == "cuda" else (lambda: None)
    P = objective.tensor(start)
    state = torch_optimizers._state(objective, objective.evaluate(P))
    hessian = torch_optimizers._riemannian_hessian(objective, state)
    V = state.gradient

    def timed(work):
        def run():
            work()
            synchronise()

        return best_time(run, repeats)

    return {
        "gradient": timed(lambda: torch_optimizers._state(objective, objective.evaluate(P))),
        "hessian": timed(lambda: hessian(V)),
        "retraction": timed(lambda: torch_optimizers._retract(P, V, 1e-3)),
    }


def numpy_per_iteration(m: int, s: float, start: np.ndarray, optimizer: str, backend: str) -> tuple[float, float]:
    """Seconds per iteration of ``graphprolong.solve`` over 5 iterations (networkx graphs; matrices built before timing)."""
    problem = ProlongationProblem(grid_graph((m, m)), grid_graph((2 * m, 2 * m)), s=s, beta=0.25 if s > 0 else None)
    for side in (problem.small, problem.large):
        side.laplacian_dense, side.distances  # build outside the timing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        begin = time.perf_counter()
        result = solve(problem, init=start, optimizer=optimizer, backend=backend, max_iterations=5, scale_start="direct")
    return (time.perf_counter() - begin) / 5, result.objective


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=torch_backend.DEVICES)
    parser.add_argument("--dtype", default="float64", choices=torch_backend.DTYPES)
    parser.add_argument("--max-time", type=float, default=40.0, help="wall-clock cap of each optimisation run (s)")
    parser.add_argument("--repeats", type=int, default=2, help="repetitions of each kernel timing (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds in all")
    parser.add_argument("--sides", type=int, nargs="+", default=None, help="half sides m to run (default: %s)" % (SIDES,))
    parser.add_argument("--s", type=float, nargs="+", default=[1.0, 0.0], help="weights s (default: 1 0)")
    parser.add_argument("--json", default=None, help="also write the rows, with each run's log, to this JSON file")
    args = parser.parse_args(argv)

    torch = require_torch()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch_backend.resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__} on {device} ({name}), {args.dtype}; run cap {args.max_time:g} s")
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    bench_begin = time.perf_counter()
    sides = args.sides or (QUICK_SIDES if args.quick else SIDES)
    rows = []
    for m in sides:
        n_small, n_large = m * m, 4 * m * m
        for s in args.s:
            label = f"grid {m}x{m}->{2 * m}x{2 * m} s={s:g}"
            if n_large > KERNEL_LIMIT[device.type]:
                print(f"{label}: skipped (n_large = {n_large} is beyond the {device.type} budget of this bench)")
                continue
            runs = n_large <= RUN_LIMIT[device.type]
            if not runs and s == 0.0:
                print(f"{label}: skipped (kernel-only size: its n k^2 products do not depend on s)")
                continue
            problem = problem_for(m, s)
            start = kronecker_matching_start(problem)
            row = {"case": label, "n": n_large}
            if n_large == 1024:
                row["reference"], row["reference_objective"] = numpy_per_iteration(m, s, start, "conjugate-gradient", "autograd")
                row["numpy_tr"], _ = numpy_per_iteration(m, s, start, "trust-regions", "analytic")
            objective = torch_backend.TorchObjective(problem, device=args.device, dtype=args.dtype)
            row.update(kernel_timings(objective, start, args.repeats if runs else 1))
            if runs:
                scale = problem.gradient_scale
                begin = time.perf_counter()
                torch_optimizers.minimize(objective, objective.tensor(start), method="conjugate-gradient", max_iterations=5)
                row["torch_cg"] = (time.perf_counter() - begin) / 5
                begin = time.perf_counter()
                P, iterations, reason, log = torch_optimizers.minimize(
                    objective, objective.tensor(start), min_gradient_norm=1e-10 * scale, max_time=args.max_time
                )
                elapsed = time.perf_counter() - begin
                row.update(
                    first_five=log["time"][5] / 5 if iterations >= 5 else math.nan,
                    iterations=iterations,
                    inner=sum(log["inner_iterations"]),
                    per_iteration=elapsed / max(iterations, 1),
                    initial=log["objective"][0],
                    final=log["objective"][-1],
                    gradient_ratio=log["gradient_norm"][-1] / scale,
                    seconds_to_gradient=seconds_to_gradient(log, scale),
                    converged="min grad norm" in reason,
                    seconds=elapsed,
                    log={key: [float(value) for value in values] for key, values in log.items()},
                )
                del P
            rows.append(row)
            print(format_row(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "dtype": args.dtype, "torch": torch.__version__, "rows": rows}, indent=1))
    print()
    print(table(rows))
    print()
    print("load average at end: %.2f %.2f %.2f; total %.0f s" % (*os.getloadavg(), time.perf_counter() - bench_begin))


def format_row(row: dict) -> str:
    parts = [f"{row['case']} (n={row['n']}):"]
    if "reference" in row:
        parts.append(
            f"reference CG+autograd {row['reference']:.3g} s/it (E={row['reference_objective']:.6g} after 5 it), "
            f"numpy TR (analytic) {row['numpy_tr']:.3g} s/it;"
        )
    parts.append(f"kernels: gradient {row['gradient']:.3g} s, Hessian-vector {row['hessian']:.3g} s, retraction {row['retraction']:.3g} s;")
    if "iterations" in row:
        parts.append(
            f"torch CG {row['torch_cg']:.3g} s/it; torch TR first 5 it {row['first_five']:.3g} s/it; "
            f"TR {row['iterations']} it ({row['inner']} Hessian-vector), {row['per_iteration']:.3g} s/it, "
            f"E {row['initial']:.6g} -> {row['final']:.6g}, |grad|/scale {row['gradient_ratio']:.2g}, "
            f"{'converged' if row['converged'] else 'NOT converged'} in {row['seconds']:.1f} s "
            f"(s to |grad|/scale <= {gradient_times_text(row['seconds_to_gradient'])})"
        )
    else:
        parts.append("no run (kernel timings only)")
    return " ".join(parts)


def _seconds_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: list[dict]) -> str:
    def cell(row, key, fmt):
        return format(row[key], fmt) if key in row else "-"

    lines = [
        "| case | n | ref CG s/it | numpy TR s/it | torch CG s/it | torch TR s/it (first 5) | grad s | Hv s | retr s "
        "| TR it | Hv total | TR s/it | E final | conv | s to rel. grad 1e-6 / 1e-8 / 1e-10 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['n']} | {cell(row, 'reference', '.3g')} | {cell(row, 'numpy_tr', '.3g')} | "
            f"{cell(row, 'torch_cg', '.3g')} | {cell(row, 'first_five', '.3g')} | {row['gradient']:.3g} | "
            f"{row['hessian']:.3g} | {row['retraction']:.3g} | {cell(row, 'iterations', 'd')} | {cell(row, 'inner', 'd')} | "
            f"{cell(row, 'per_iteration', '.3g')} | {cell(row, 'final', '.6g')} | "
            f"{('yes' if row['converged'] else 'no') if 'converged' in row else '-'} | "
            f"{' / '.join(_seconds_cell(v) for v in row['seconds_to_gradient'].values()) if 'seconds_to_gradient' in row else '-'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
