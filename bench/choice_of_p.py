"""The choice-of-P experiment (seed 002, Fig. 7) on several data sets, over seeds: which P helps, in cost and in seconds.

Runs ``recipes/choice_of_p.toml`` (default training; MsANN with the 1-D path
P, the 2-D grid P, the grid P shuffled along its first index, a random
orthogonal P; all levels trained simultaneously) on each data set of
``--datasets``, with its data table swapped in (:data:`DATA`) and every run
repeated over ``--seeds`` (:mod:`msann.config.seeds`).  Fig. 7 uses L = 6,
gamma = 3, k = 1 and C = 3e5; the defaults here are L = 3 and C = 1e4 so
that a seed of a data set fits about two minutes of one CPU core (the
paper's MsANN runs every level at the fine widths, so a coarse step costs a
fine step's seconds, and a gamma = 3 cycle visits level l 3^l times).

Writes, under ``--out``: one report folder per data set (``seeds.md``,
``seeds.json``, ``seeds.png``, ``summary.json``, ...) and ``choice_of_p.md``,
which gathers the data sets' tables, the ordering of the runs by median final
error, and how many fine-width steps each run took per unit of the paper's
cost (what "charging coarse steps their real cost" multiplies its cost by).

    python bench/choice_of_p.py --datasets one_object,signals --seeds 5 --out bench_output/choice_of_p
    python bench/choice_of_p.py --datasets smooth_signals --budget 30000 --seeds 5 --resume --out bench_output/choice_of_p
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tomllib
from pathlib import Path

import torch

from msann.config import ConfigError, parse_config, parse_seeds
from msann.experiment import run_experiment
from msann.report import seed_markdown, seed_table
from msann.report.seeds import group_of

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "choice_of_p.toml"

#: The ``[data]`` table, the optimiser and ``[model]`` changes of each data set (1-D: the one_object recipe's
#: Adam; images: Fig. 7's RMSProp).  ``signals`` with the defaults stays at its mean-signal plateau on Fig. 7's
#: sigmoid autoencoder (every variant ends at the targets' variance); ``smooth_signals`` -- 1-2 notes of periods
#: 64-256 samples -- on a tanh autoencoder with a linear output leaves that plateau after C ~ 1.5e4 (run it with
#: ``--budget 30000``).
DATA = {
    "one_object": ({"name": "one_object", "length": 1024, "noise": 0.05, "n_train": 10000, "n_val": 1000}, "adam", {}),
    "two_object": ({"name": "two_object", "length": 1024, "noise": 0.05, "n_train": 10000, "n_val": 1000}, "adam", {}),
    "signals": ({"name": "signals", "length": 1024, "noise": 0.05, "n_train": 10000, "n_val": 1000}, "adam", {}),
    "smooth_signals": ({"name": "signals", "length": 1024, "noise": 0.05, "n_train": 10000, "n_val": 1000,
                        "notes": [1, 2], "periods": [64.0, 256.0]}, "adam",
                       {"activation": "tanh", "output_activation": "identity"}),
    "fashion_mnist": ({"name": "fashion_mnist", "pad_to": 32}, "rmsprop", {}),
}


def experiment(dataset: str, *, levels: int, gamma: int, k: int, budget: float, eval_points: int):
    """The recipe with ``dataset``'s data table and optimiser and the given hierarchy and budget."""
    tree = tomllib.loads(RECIPE.read_text())
    data, optimizer, model = DATA[dataset]
    tree["name"] = f"choice_of_p_{dataset}"
    tree["data"] = dict(data)
    tree["model"].update(model)
    tree["hierarchy"].update(levels=levels, gamma=gamma, k=k)
    tree["train"].update(optimizer=optimizer, cost_budget=budget, eval_points=eval_points)
    return parse_config(tree, source_name=str(RECIPE), path=RECIPE)


def steps_per_cost(records) -> dict[str, float]:
    """Median over seeds of ``steps x batch / C(t)``: fine-width steps per unit of the paper's cost (1 for default)."""
    factors: dict[str, list[float]] = {}
    for record in records:
        batch = record.params["train"]["batch_size"]
        factors.setdefault(group_of(record), []).append(record.extra["steps"] * batch / record.total_cost)
    return {label: statistics.median(values) for label, values in factors.items()}


def ordering(rows, key: str = "final_val_mse") -> str:
    ranked = sorted((row for row in rows if row[key]["median"] is not None), key=lambda row: row[key]["median"])
    return " < ".join(f"{row['label']} ({row[key]['median']:.3g})" for row in ranked)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="one_object,two_object,signals,fashion_mnist")
    parser.add_argument("--seeds", default="5", help="N (seeds 0..N-1) or a list (default: 5)")
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--gamma", type=int, default=3)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--budget", type=float, default=10000.0, help="cost budget C of every run")
    parser.add_argument("--eval-points", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench_output/choice_of_p")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out from its checkpoints")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = parse_seeds(args.seeds)
    names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    unknown = [name for name in names if name not in DATA]
    if unknown:
        parser.error(f"--datasets: unknown {unknown[0]!r} (known: {', '.join(DATA)})")
    out = Path(args.out)
    sections = [
        "# Choice of P (seed 002 Fig. 7) over seeds",
        "",
        f"L = {args.levels}, gamma = {args.gamma}, k = {args.k}, cost budget C = {args.budget:g}, seeds {list(seeds)}, "
        f"device {args.device}, {args.threads} torch thread(s).",
        "",
    ]
    for name in names:
        config = experiment(name, levels=args.levels, gamma=args.gamma, k=args.k, budget=args.budget,
                            eval_points=args.eval_points)
        started = time.perf_counter()
        try:
            records = run_experiment(config, out / name, device=args.device, seeds=seeds, progress=None, resume=args.resume,
                                     plot_every_run=False, plot_title=f"choice of P: {name}")
        except ConfigError as error:
            if name == "fashion_mnist":  # installed separately (make data); the others are generated
                print(f"skipped {name}: {error}", file=sys.stderr)
                sections += [f"## {name}: skipped ({error})", ""]
                continue
            raise
        rows = seed_table(records)
        factors = steps_per_cost(records)
        table = seed_markdown(rows, title=f"{name} ({time.perf_counter() - started:.0f} s)").replace("# ", "## ", 1)
        sections += [table, f"Ordering by median final error: {ordering(rows)}", "",
                     "Fine-width steps per unit of the paper's cost (what charging every step its real cost multiplies "
                     "the cost axis by): " + ", ".join(f"{label} {factor:.2g}" for label, factor in factors.items()), ""]
        (out / "choice_of_p.md").write_text("\n".join(sections))
        print("\n".join(sections[-5:]), flush=True)
    (out / "choice_of_p.md").write_text("\n".join(sections))
    print(f"wrote {out / 'choice_of_p.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
