"""Throughput of ``msann run`` alone and under ``torchrun`` (issue 15), measured side by side in one call.

The same recipe and budget are trained by one plain process, then by
``torchrun --nproc_per_node=N`` for every ``N`` of ``--ranks`` (data-parallel:
each rank takes ``batch_size / N`` examples of every global minibatch).  With
one rank ``torchrun`` joins no process group, so that row measures the wrapper
alone (it should match the plain one); with more, the all-reduce of every
smoothing step.  Reported for every run of the recipe: training seconds
(``summary.json``: wall clock less evaluations and checkpoints), cost per
second (global examples per second for an ``L = 0`` run), the speed-up over
the plain process and the final validation MSE (equal up to float rounding).  Where one GPU holds every rank (``--device
cuda`` with fewer GPUs than ranks) NCCL refuses; use ``--device cpu`` (gloo)
for several ranks on one GPU machine.

Usage::

    python bench/distributed_overhead.py --device cuda --ranks 1            # one GPU: with and without the wrapper
    python bench/distributed_overhead.py --device cuda --ranks 1,2,4,8      # a machine with 8 GPUs
    python bench/distributed_overhead.py --device cpu --ranks 1,2 --budget 20000 --set model.widths=[256,64,32,64,256]

Numbers are measurements (the machine may be shared), never checked.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _train(ranks: int | None, args: argparse.Namespace, out: Path) -> list[dict]:
    """Train the recipe alone (``ranks`` None) or under torchrun; the runs of its summary."""
    launcher = [] if ranks is None else ["-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--master_addr=127.0.0.1",
                                         f"--master_port={_port()}"]
    command = [sys.executable, *launcher, "-m", "msann.cli", "run", args.recipe, "--out", str(out), "--device", args.device,
               "--quiet", "--set", f"train.cost_budget={args.budget}", "--set", "train.checkpoint_every=1e9",
               *[part for value in args.set for part in ("--set", value)],
               *(["--threads", str(args.threads)] if args.threads else [])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    subprocess.run(command, check=True, env=env, cwd=REPO)
    return json.loads((out / "summary.json").read_text())["runs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "one_object.toml"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--ranks", default="1", help="comma-separated numbers of ranks (default: 1)")
    parser.add_argument("--budget", type=float, default=100_000.0, help="[train] cost_budget of every run")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], help="more recipe overrides (TABLE.KEY=VALUE)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for ranks in [None, *[int(value) for value in args.ranks.split(",")]]:
            for run in _train(ranks, args, Path(folder) / f"ranks{ranks or 0}"):
                seconds = run["wall_seconds"] - run.get("evaluation_seconds", 0.0) - run.get("checkpoint_seconds", 0.0)
                rows.append({"run": run["label"], "launch": "plain" if ranks is None else f"torchrun x{ranks}",
                             "ranks": ranks or 1, "training_seconds": seconds, "cost_per_second": run["total_cost"] / seconds,
                             "final_val_mse": run["final_val_mse"]})
    plain = {row["run"]: row["training_seconds"] for row in rows if row["launch"] == "plain"}
    print(f"{'run':<20} {'launch':<14} {'train s':>9} {'cost/s':>12} {'speed-up':>9} {'final val MSE':>14}")
    for row in sorted(rows, key=lambda row: (list(plain).index(row["run"]), row["ranks"], row["launch"] != "plain")):
        row["speed_up"] = plain[row["run"]] / row["training_seconds"]
        print(f"{row['run']:<20} {row['launch']:<14} {row['training_seconds']:>9.2f} {row['cost_per_second']:>12.4g} "
              f"{row['speed_up']:>9.2f} {row['final_val_mse']:>14.4e}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
