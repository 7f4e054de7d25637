"""The coarse-data transfer of an image MLP: seconds and peak memory to build it and to restrict + prolong once.

The network is ``H W -> hidden -> H W`` (float32, the recipes' dtype) and its
transfer the ``"graph-data"`` coarsener's (:func:`msann.coarsening.data.graph_data_transfer`:
the image's units halved along one axis, ``H x W -> H x W/2``, in value
coordinates, the hidden path halved), the operators of
:class:`msann.methods.msann.CoarseDataMsANN`'s first level.  Each size runs
in a fresh process, so that its peak resident memory (``ru_maxrss``) is its
own; the printed growth is the peak less the memory after building the
network.  Run it with ``PYTHONPATH`` at the checkout to measure (e.g. main
and a branch, one after the other); a size whose build fails (e.g. out of
memory) prints the error.  Timings are measurements, never checked.

With ``--network msann`` it measures the paper's MsANN network instead
(:class:`msann.models.multiscale.MsANNAutoencoder`, grid maps, 2 levels):
seconds to build it, and for one smoothing step (SGD, 8 examples) at each of
levels 2, 1 and 0.

Usage: ``python bench/factored_transfer.py [--sides 128 256] [--hidden 64] [--network graph-data|msann]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_mb() -> float:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(side: int, hidden: int) -> dict:
    """One size, in this process: build, restrict once, prolong once."""
    import numpy as np
    import torch

    from msann.coarsening.network import CoarseningOptions, coarsen
    from msann.core.transfer import parameters_of
    from msann.models.mlp import plain_autoencoder

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = plain_autoencoder([side * side, hidden, side * side], seed=0, dtype=torch.float32)
    base = _current_mb()
    start = time.perf_counter()
    transfer = coarsen("graph-data", model, options=CoarseningOptions(data_shape=(side, side)), rng=np.random.default_rng(0))
    built = time.perf_counter()
    coarse = transfer.restrict(parameters_of(model))
    restricted = time.perf_counter()
    transfer.prolong(coarse)
    prolonged = time.perf_counter()
    return {"side": side, "hidden": hidden, "build_s": built - start, "restrict_s": restricted - built,
            "prolong_s": prolonged - restricted, "peak_growth_mb": _peak_mb() - base,
            "operator": type(transfer.units[0].P).__name__}


def measure_msann(side: int, hidden: int) -> dict:
    """The paper's MsANN network on ``side x side`` images, in this process: build, then a step per level."""
    import torch

    from msann.coarsening.graph import layer_maps
    from msann.methods.msann import MsANN, build_msann

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    widths = [side * side, hidden, side * side]
    base = _current_mb()
    start = time.perf_counter()
    maps = [layer_maps(width, levels=2, strategy="grid", input_shape=(side, side) if index != 1 else None, factored=True)
            for index, width in enumerate(widths)]
    method = MsANN(build_msann(widths, maps, seed=0, dtype=torch.float32), smoother="sgd", lr=0.1)
    built = time.perf_counter()
    x = torch.rand(8, widths[0], generator=torch.Generator().manual_seed(0))
    steps = {}
    for level in (2, 1, 0):
        begin = time.perf_counter()
        method.smooth_step(level, x, x)
        steps[f"step_L{level}_s"] = time.perf_counter() - begin
    return {"side": side, "hidden": hidden, "build_s": built - start, **steps, "peak_growth_mb": _peak_mb() - base,
            "operator": type(method.model.composite(0, 1)).__name__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--network", choices=["graph-data", "msann"], default="graph-data",
                        help="the coarse-data transfer (default) or the paper's MsANN network")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: one size
    arguments = parser.parse_args()
    measure_one = measure_msann if arguments.network == "msann" else measure
    if arguments.one is not None:
        print(json.dumps(measure_one(arguments.one, arguments.hidden)))
        return
    columns = ["step_L2_s", "step_L1_s", "step_L0_s"] if arguments.network == "msann" else ["restrict_s", "prolong_s"]
    print(f"{'side':>5} {'operator':>17} {'build_s':>8} " + " ".join(f"{column:>10}" for column in columns) + f" {'peak growth MB':>14}")
    for side in arguments.sides:
        child = subprocess.run([sys.executable, __file__, "--one", str(side), "--hidden", str(arguments.hidden),
                                "--network", arguments.network], capture_output=True, text=True)
        if child.returncode:
            print(f"{side:>5} failed (exit {child.returncode}): {child.stderr.strip().splitlines()[-1:] or ''}")
            continue
        row = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{row['side']:>5} {row['operator']:>17} {row['build_s']:>8.3f} " + " ".join(f"{row[column]:>10.3f}" for column in columns)
              + f" {row['peak_growth_mb']:>14.0f}")


if __name__ == "__main__":
    main()
