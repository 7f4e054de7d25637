"""Wall-clock of FAS training (msann.methods.fas) per V-cycle and per work unit, against plain SGD.

For each network of seed 000's Poisson benchmark (``fc``: 2 x 400 ReLU;
``cnn``: 2 convolutions of 200 channels, kernel 7, stride 2, then 2 x 400) and
each depth (``levels`` = number of coarse levels; 0 is plain SGD with
momentum) this trains the :class:`msann.methods.fas.FAS` method with the shared driver
:func:`msann.core.driver.train` for ``--cycles`` V-cycles (after one untimed
warm-up cycle) on synthetic minibatches of the Poisson shapes (inputs
4 x 32 x 32, outputs 32 x 32; timings do not depend on the values), with the
recipe settings of ``recipes/fas_poisson_*.toml``: batch 200, k = 4 SGD steps
per visit, tau batch m = 4, re-matching every 50 cycles.

Columns: work units per cycle (the driver's cost / batch size; a coarse level
counts 1/4 of the next finer one, ``--cost-model quarter``, the seed's rule,
or its multiply-add ratio, ``macs``), seconds per cycle, seconds per work
unit, and that last figure divided by plain SGD's (levels = 0), whose work
unit is exactly one fine minibatch step.  A ratio above 1 means that a work
unit of FAS costs more wall-clock than the accounting says (coarse levels
cheaper in theory than in practice, transfer and matching overheads).  Times
are measurements, never checked.

Threads.  On the CPU, torch uses ``--threads`` intra-op threads (default 1:
on a shared 2-core machine more threads measure the neighbours).  On CUDA the
timer waits for the device (``torch.cuda.synchronize``) before reading.

Usage::

    python bench/fas_speed.py --device cpu
    python bench/fas_speed.py --device cuda --cycles 20
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings

import torch

from msann.coarsening.network import CoarseningOptions, CoarseningWarning
from msann.data import MinibatchStream
from msann.experiment import resolve_device
from msann.core.cost import COST_MODELS
from msann.core.cycle import cycle_events
from msann.core.driver import train
from msann.core.metrics import field_errors
from msann.methods.fas import FAS
from msann.models.poisson_nets import poisson_cnn, poisson_fc

GRID, CHANNELS_IN = 32, 4
INPUT_SHAPE = (CHANNELS_IN, GRID, GRID)


def network(architecture: str, device: torch.device) -> torch.nn.Sequential:
    features = math.prod(INPUT_SHAPE)
    model = poisson_fc(features, GRID * GRID) if architecture == "fc" else poisson_cnn(CHANNELS_IN, GRID)
    return model.to(device)


def cost_per_cycle(method: FAS, *, k: int, batch_size: int) -> float:
    """The driver's cost of one V-cycle in examples (smoothing steps plus the tau work of every ``down``)."""
    levels = method.hierarchy.levels
    total = 0.0
    for kind, level in cycle_events(method.hierarchy.depth, 1):
        if kind == "smooth":
            total += k * levels[level].relative_cost * batch_size
        elif kind == "down":
            total += method.tau_batches * batch_size * (levels[level].relative_cost + levels[level + 1].relative_cost)
    return total


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(architecture: str, levels: int, args: argparse.Namespace, device: torch.device) -> dict:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(args.examples, math.prod(INPUT_SHAPE), generator=generator)
    targets = torch.rand(args.examples, GRID * GRID, generator=generator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseningWarning)
        method = FAS(network(architecture, device), levels=levels, coarsening=CoarseningOptions(threshold=0.0), rematch_every=50,
                     tau_batches=args.tau_batches, gamma_tau=0.125, alpha_m=0.2, eta=math.sqrt(2.0), lr=0.01,
                     momentum=0.9, cost_model=args.cost_model,
                     input_shape=INPUT_SHAPE if architecture == "cnn" else None)
    stream = MinibatchStream(inputs, targets, batch_size=args.batch_size, seed=0, device=device)
    validation = (inputs[:8].to(device), targets[:8].to(device))
    cycle = cost_per_cycle(method, k=args.k, batch_size=args.batch_size)
    options = dict(gamma=1, k=args.k, batch_size=args.batch_size, eval_points=2, progress=False, metrics=field_errors)
    train(method, stream, validation, cost_budget=cycle, **options)  # warm-up: one untimed cycle
    synchronise(device)
    started = time.perf_counter()
    result = train(method, stream, validation, cost_budget=args.cycles * cycle, **options)
    synchronise(device)
    seconds = time.perf_counter() - started
    units = result.total_cost / args.batch_size
    return {
        "architecture": architecture, "levels": levels, "cycles": result.cycles,
        "wu_per_cycle": cycle / args.batch_size, "seconds_per_cycle": seconds / result.cycles,
        "seconds_per_wu": seconds / units,
        "relative_costs": [round(level.relative_cost, 4) for level in method.hierarchy.levels],
    }


def table(rows: list[dict]) -> str:
    lines = ["| network | levels | WU / cycle | s / cycle | s / WU | s / WU vs SGD | relative costs |",
             "|---|---:|---:|---:|---:|---:|---|"]
    baseline = {row["architecture"]: row["seconds_per_wu"] for row in rows if row["levels"] == 0}
    for row in rows:
        ratio = row["seconds_per_wu"] / baseline[row["architecture"]] if row["architecture"] in baseline else float("nan")
        lines.append(
            f"| {row['architecture']} | {row['levels'] + 1} | {row['wu_per_cycle']:.3f} | {row['seconds_per_cycle']:.4f} "
            f"| {row['seconds_per_wu']:.4f} | {ratio:.2f} | {row['relative_costs']} |"
        )
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--architectures", default="fc,cnn", help="comma-separated: fc, cnn")
    parser.add_argument("--levels", default="0,1,2,3", help="numbers of coarse levels (0 = plain SGD)")
    parser.add_argument("--cycles", type=int, default=5, help="timed V-cycles per configuration")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--k", type=int, default=4, help="SGD steps per smoothing visit")
    parser.add_argument("--tau-batches", type=int, default=4, help="m, minibatches of a tau batch")
    parser.add_argument("--cost-model", default="quarter", choices=sorted(COST_MODELS))
    parser.add_argument("--examples", type=int, default=2000, help="synthetic training examples")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads on the CPU (default 1)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    rows = []
    for architecture in args.architectures.split(","):
        if architecture not in ("fc", "cnn"):
            raise SystemExit(f"--architectures: unknown network {architecture!r} (valid: fc, cnn)")
        for levels in (int(value) for value in args.levels.split(",")):
            rows.append(measure(architecture, levels, args, device))
            print(f"  {architecture} levels={levels + 1}: {rows[-1]['seconds_per_cycle']:.3f} s / cycle", flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"\nFAS speed on {name} (torch {torch.__version__}; batch {args.batch_size}, k = {args.k}, m = {args.tau_batches}, "
          f"cost model {args.cost_model!r}; 1-min load average {os.getloadavg()[0]:.2f})\n")
    print(table(rows))


if __name__ == "__main__":
    main()
