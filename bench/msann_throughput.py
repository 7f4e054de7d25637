"""Throughput of MsANN smoothing steps against plain training, and wall-clock to equal error.

Three measurements on the 1-object autoencoder (seed 002 §4.2.1; widths
[1024, 256, 128, 256, 1024], sigmoid, bias, batch 32, Adam lr 5e-4; ``--small``
for [256, 64, 32, 64, 256] on length-256 data):

(a) **Plain training.**  Examples per second of training steps of the finest
    model as a plain ``torch.nn.Sequential`` with ``torch.optim.Adam``
    (:func:`msann.models.mlp.plain_autoencoder`), and of the same steps through
    :class:`msann.methods.msann.MsANN` with ``L = 0`` (what the recipes' ``default``
    run executes).
(b) **Smoothing steps per level.**  On an MsANN hierarchy of depth ``--levels``
    (default 6; path unit graphs, recipe P), examples per second of smoothing
    steps at each level ``l = 0..L`` (the level is focused once, then only its
    steps are timed), and of one full gamma-cycle (``--gamma 3``, ``--k 4``)
    driven event by event as :func:`msann.core.driver.train` does (level switches
    included; no evaluation, no checkpoint).  Beside examples/s: the paper's
    cost per second (examples x ``|M_l| / |M_0|``, SPEC §3), i.e. how fast C(t)
    advances.
(c) **Wall-clock to the default's error.**  :func:`msann.core.driver.train` runs
    the default (``L = 0``) to ``--budget`` (C = 3e4) and records its final
    validation MSE; then MsANN (``--msann-levels 4``, gamma 3, k 4) runs until
    a logged validation MSE is <= that value (at most ``--cap`` x the budget),
    with the same density of evaluation points per decade of cost.  Reported:
    cost and seconds to get there; seconds are given in total and without the
    time spent in evaluations (each evaluation is a forward pass over the whole
    validation set, which takes a large share of a short run).

Timing: ``time.perf_counter`` around ``--steps`` steps after ``--warmup``
untimed ones, with a device synchronisation at both ends on CUDA.  The machine
may be shared: the 1-minute load average is printed beside every section, and
the numbers are measurements, never checked.  ``--threads N`` sets
``torch.set_num_threads(N)`` (default: torch's choice).

Usage::

    python bench/msann_throughput.py                      # CPU or GPU (auto)
    python bench/msann_throughput.py --device cpu --threads 1
    python bench/msann_throughput.py --small --steps 50   # quick
    python bench/msann_throughput.py --json bench_output/msann_throughput.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# numpy builds the prolongations; one BLAS thread unless the caller says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402

from msann.data import MinibatchStream, one_object  # noqa: E402
from msann.coarsening.graph import layer_maps, unit_shapes  # noqa: E402
from msann.core.cycle import cycle_events  # noqa: E402
from msann.core.driver import train  # noqa: E402
from msann.core.metrics import mse_errors  # noqa: E402
from msann.device import resolve_device  # noqa: E402
from msann.methods.msann import MsANN, build_msann  # noqa: E402
from msann.models.mlp import plain_autoencoder  # noqa: E402

FULL_WIDTHS = (1024, 256, 128, 256, 1024)
SMALL_WIDTHS = (256, 64, 32, 64, 256)
SHARED_NOTE = "the machine may be shared with other jobs: compare rows of one run, not runs of different days"


def load_average() -> float:
    """The 1-minute load average (NaN where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return math.nan


def max_depth(widths: Sequence[int], *, layout: str = "path") -> int:
    """The deepest hierarchy every layer of ``widths`` can be coarsened to."""
    depth = 0
    while True:
        try:
            for width in widths:
                unit_shapes(width, levels=depth + 1, layout=layout)
        except ValueError:
            return depth
        depth += 1


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], object], *, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    synchronise(device)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    synchronise(device)
    return time.perf_counter() - began


def build_method(widths: Sequence[int], levels: int, *, seed: int, lr: float, device: torch.device) -> MsANN:
    """An MsANN method as ``msann.methods.msann.build_msann_method`` builds it (path unit graphs, recipe P, Adam)."""
    maps = [layer_maps(width, levels=levels, strategy="path", method="recipe", rng=seed + position)
            for position, width in enumerate(widths)]
    network = build_msann(list(widths), maps, activation="sigmoid", output_activation="sigmoid", bias=True,
                          seed=seed, dtype=torch.float32).to(device)
    return MsANN(network, smoother="adam", lr=lr)


# --------------------------------------------------------------------------- (a) and (b)


def plain_throughput(widths, stream, args, device) -> dict:
    model = plain_autoencoder(widths, seed=args.seed, dtype=torch.float32).to(device)
    optimiser = make_smoother("adam", model.parameters(), lr=args.lr)  # the project's Adam (fused), as the methods use

    def step():
        inputs, targets = next(stream)
        optimiser.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimiser.step()

    seconds = time_steps(step, steps=args.steps, warmup=args.warmup, device=device)
    return {"steps": args.steps, "seconds": seconds, "examples_per_second": args.steps * args.batch_size / seconds}


def level_throughput(method: MsANN, level: int, stream, args, device) -> dict:
    def step():
        method.smooth_step(level, *next(stream))

    seconds = time_steps(step, steps=args.steps, warmup=args.warmup, device=device)
    relative = method.hierarchy[level].relative_cost
    rate = args.steps * args.batch_size / seconds
    return {"level": level, "parameters": method.hierarchy[level].size, "relative_cost": relative,
            "steps": args.steps, "seconds": seconds, "examples_per_second": rate, "cost_per_second": rate * relative}


def cycle_throughput(method: MsANN, stream, args, device) -> dict:
    """One gamma-cycle, event by event, as the driver walks it (no evaluation, no checkpoint)."""
    depth = method.hierarchy.depth
    events = list(cycle_events(depth, args.gamma))
    costs = [level.relative_cost * args.batch_size for level in method.hierarchy.levels]
    steps, cost = 0, 0.0
    for _ in range(args.warmup):
        method.smooth_step(depth, *next(stream))
    synchronise(device)
    began = time.perf_counter()
    for kind, level in events:
        if kind == "down":
            method.down(level, stream)
        elif kind == "up":
            method.up(level, stream)
        else:
            for _ in range(args.k):
                method.smooth_step(level, *next(stream))
            steps += args.k
            cost += args.k * costs[level]
    synchronise(device)
    seconds = time.perf_counter() - began
    return {"levels": depth, "gamma": args.gamma, "k": args.k, "steps": steps, "cost": cost, "seconds": seconds,
            "examples_per_second": steps * args.batch_size / seconds, "cost_per_second": cost / seconds}


# --------------------------------------------------------------------------- (c)


class _Reached(Exception):
    def __init__(self, cost: float, error: float, seconds: float) -> None:
        super().__init__(cost)
        self.cost, self.error, self.seconds = cost, error, seconds


def _timed_evaluations(method: MsANN) -> tuple[Callable, list[float]]:
    """The task's metrics wrapped so that the seconds of every evaluation are recorded (the list returned beside it)."""
    spent: list[float] = []
    device = method.model.thetas["w0_0"].device

    def timed(*args, **kwargs):
        began = time.perf_counter()
        result = mse_errors(*args, **kwargs)
        synchronise(device)
        spent.append(time.perf_counter() - began)
        return result

    return timed, spent


def _points(budget: float, first: float, per_decade: float) -> int:
    return max(2, math.ceil(per_decade * math.log10(budget / first)) + 1)


def time_to_default_error(widths, data, args, device) -> dict:
    validation = (torch.as_tensor(data.val_inputs, device=device), torch.as_tensor(data.val_targets, device=device))

    def stream():
        return MinibatchStream(data.train_inputs, data.train_targets, batch_size=args.batch_size, seed=args.seed,
                               device=device)

    default = build_method(widths, 0, seed=args.seed, lr=args.lr, device=device)
    metrics, spent = _timed_evaluations(default)
    began = time.perf_counter()
    result = train(default, stream(), validation, gamma=1, k=1, cost_budget=args.budget, batch_size=args.batch_size,
                   eval_points=args.eval_points, progress=False, metrics=metrics)
    synchronise(device)
    default_seconds = time.perf_counter() - began
    target = result.history[-1][1]
    per_decade = (args.eval_points - 1) / math.log10(args.budget / args.batch_size)
    row_default = {"label": "default (L=0)", "cost": result.total_cost, "val_mse": target, "seconds": default_seconds,
                   "evaluations": len(spent), "train_seconds": default_seconds - sum(spent)}

    setup_began = time.perf_counter()
    multilevel = build_method(widths, args.msann_levels, seed=args.seed, lr=args.lr, device=device)
    setup_seconds = time.perf_counter() - setup_began
    metrics, spent = _timed_evaluations(multilevel)
    cap = args.cap * args.budget
    first = min(level.relative_cost for level in multilevel.hierarchy.levels) * args.batch_size
    began = time.perf_counter()

    def stop(cost: float, errors: dict) -> None:
        error = next(iter(errors.values()))
        if error <= target:
            synchronise(device)
            raise _Reached(cost, error, time.perf_counter() - began)

    label = f"MsANN L={args.msann_levels} gamma={args.gamma} k={args.k}"
    try:
        outcome = train(multilevel, stream(), validation, gamma=args.gamma, k=args.k, cost_budget=cap,
                        batch_size=args.batch_size, eval_points=_points(cap, first, per_decade), progress=False,
                        on_evaluate=stop, metrics=metrics)
    except _Reached as reached:
        row = {"label": label, "cost": reached.cost, "val_mse": reached.error, "seconds": reached.seconds,
               "evaluations": len(spent), "train_seconds": reached.seconds - sum(spent), "reached": True}
    else:
        synchronise(device)
        seconds = time.perf_counter() - began
        row = {"label": label, "cost": outcome.total_cost, "val_mse": outcome.history[-1][1], "seconds": seconds,
               "evaluations": len(spent), "train_seconds": seconds - sum(spent), "reached": False}
    row["setup_seconds"] = setup_seconds
    return {"target_val_mse": target, "budget": args.budget, "cap": cap, "default": row_default, "msann": row}


# --------------------------------------------------------------------------- report


def print_report(report: dict) -> None:
    info = report["machine"]
    print(f"device: {info['device']}   torch threads: {info['threads']}   torch {info['torch']}   "
          f"widths {report['widths']}   batch {report['batch_size']}")
    print(f"note: {SHARED_NOTE}")
    plain = report["plain"]
    print(f"\n(a) plain training of the finest model (load {report['load']['a']:.2f})")
    print(f"{'model':<34} {'examples/s':>11} {'ms/step':>8}")
    for name, row in (("nn.Sequential + Adam", plain), ("MsANN L=0 (the default run)", report["msann_l0"])):
        print(f"{name:<34} {row['examples_per_second']:>11.0f} {1000 * row['seconds'] / row['steps']:>8.2f}")

    print(f"\n(b) MsANN smoothing steps, L = {report['levels']} (load {report['load']['b']:.2f})")
    print(f"{'level':<8} {'|M_l|':>9} {'|M_l|/|M_0|':>12} {'examples/s':>11} {'vs plain':>9} {'cost/s':>10}")
    for row in report["per_level"]:
        print(f"{row['level']:<8} {row['parameters']:>9} {row['relative_cost']:>12.4g} {row['examples_per_second']:>11.0f} "
              f"{row['examples_per_second'] / plain['examples_per_second']:>9.2f} {row['cost_per_second']:>10.0f}")
    cycle = report["cycle"]
    print(f"{'cycle':<8} {'':>9} {'':>12} {cycle['examples_per_second']:>11.0f} "
          f"{cycle['examples_per_second'] / plain['examples_per_second']:>9.2f} {cycle['cost_per_second']:>10.0f}"
          f"   (gamma={cycle['gamma']}, k={cycle['k']}: {cycle['steps']} steps, cost {cycle['cost']:.4g}, "
          f"{cycle['seconds']:.1f} s)")
    print(f"plain training advances the cost at {plain['examples_per_second']:.0f} /s (relative cost 1)")

    if "equal_error" in report:
        equal = report["equal_error"]
        print(f"\n(c) wall-clock to the default's final validation MSE {equal['target_val_mse']:.4e} at cost "
              f"{equal['budget']:.4g} (load {report['load']['c']:.2f})")
        print(f"{'run':<26} {'reached':>8} {'cost':>9} {'val MSE':>11} {'seconds':>9} {'w/o eval':>9} {'evals':>6}")
        for row in (equal["default"], equal["msann"]):
            print(f"{row['label']:<26} {str(row.get('reached', True)).lower():>8} {row['cost']:>9.5g} {row['val_mse']:>11.4e} "
                  f"{row['seconds']:>9.1f} {row['train_seconds']:>9.1f} {row['evaluations']:>6}")
        msann, default = equal["msann"], equal["default"]
        if msann.get("reached"):
            print(f"MsANN / default: cost {msann['cost'] / default['cost']:.3f}x, seconds {msann['seconds'] / default['seconds']:.2f}x "
                  f"(without evaluations {msann['train_seconds'] / default['train_seconds']:.2f}x); "
                  f"hierarchy set-up {msann['setup_seconds']:.2f} s not counted")
        else:
            print(f"MsANN did not reach it within cost {equal['cap']:.4g} ({msann['seconds']:.1f} s)")
    print(f"\nload average (1 min) at the end: {load_average():.2f} on {os.cpu_count()} logical CPUs")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N) (default: torch's choice)")
    parser.add_argument("--small", action="store_true", help=f"widths {list(SMALL_WIDTHS)} on length-256 data")
    parser.add_argument("--widths", default=None, help=f"comma-separated layer widths (default {','.join(map(str, FULL_WIDTHS))})")
    parser.add_argument("--levels", type=int, default=None, help="depth L of (b) (default 6, or the deepest the widths allow)")
    parser.add_argument("--gamma", type=int, default=3)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--msann-levels", type=int, default=4, help="depth of MsANN in (c) (default 4)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per row of (a) and (b)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--budget", type=float, default=3e4, help="cost budget of the default in (c)")
    parser.add_argument("--cap", type=float, default=4.0, help="MsANN in (c) stops at cap x budget if not there (default 4)")
    parser.add_argument("--eval-points", type=int, default=60, help="evaluation points of the default in (c)")
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-equal-error", action="store_true", help="skip (c)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.widths is not None:
        args.widths = tuple(int(item) for item in args.widths.split(","))
    else:
        args.widths = SMALL_WIDTHS if args.small else FULL_WIDTHS
    if args.widths[0] != args.widths[-1]:
        parser.error(f"an autoencoder's first and last widths must agree; got {list(args.widths)}")
    deepest = max_depth(args.widths)
    if args.levels is None:
        args.levels = min(6, deepest)
    for option in ("levels", "msann_levels"):
        value = getattr(args, option)
        if not 0 <= value <= deepest:
            parser.error(f"--{option.replace('_', '-')} must be in [0, {deepest}] for widths {list(args.widths)}; got {value}")
    for option in ("gamma", "k", "batch_size", "steps", "eval_points", "n_train", "n_val"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1; got {getattr(args, option)}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1; got {args.threads}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        print(f"msann_throughput: {error}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    widths = list(args.widths)
    data = one_object(length=widths[0], n_train=args.n_train, n_val=args.n_val, seed=args.seed)
    stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=args.batch_size, seed=args.seed,
                             device=device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    report = {"machine": {"device": f"{device} ({name})", "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "cpus": os.cpu_count()},
              "widths": widths, "batch_size": args.batch_size, "levels": args.levels, "load": {}}

    report["load"]["a"] = load_average()
    report["plain"] = plain_throughput(widths, stream, args, device)
    report["msann_l0"] = level_throughput(build_method(widths, 0, seed=args.seed, lr=args.lr, device=device), 0,
                                          stream, args, device)

    report["load"]["b"] = load_average()
    method = build_method(widths, args.levels, seed=args.seed, lr=args.lr, device=device)
    report["per_level"] = [level_throughput(method, level, stream, args, device) for level in range(args.levels + 1)]
    report["cycle"] = cycle_throughput(method, stream, args, device)

    if not args.skip_equal_error:
        report["load"]["c"] = load_average()
        report["equal_error"] = time_to_default_error(widths, data, args, device)
    print_report(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
