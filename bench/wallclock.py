"""Wall-clock seconds of every multilevel method and variant against plain training.

For each data set (``one_object``, ``two_object``, ``fashion_mnist`` when
``/usr/share/datasets/fashion-mnist`` is installed, ``poisson_fc``) and each
seed, the script writes one recipe whose ``[[runs]]`` are the variants of
:data:`VARIANTS` (plain training, MsANN on fine and on coarse data, nested
iteration, MG/Opt and FAS on the width hierarchy and on the width-and-data
hierarchy), runs it with ``python -m msann.cli run`` in a
subprocess (one at a time, never in parallel, so the seconds are not shared
with another run of this script), and reads ``summary.json`` and
``history.csv`` back.  Every variant is compared with the plain run of the
same network (its ``baseline``): the seconds and cost at which its logged
validation error first reaches the baseline's final error (interpolated
between logged points: :func:`msann.report.compare_to`), its error at
the baseline's total seconds, its final error and its total seconds; then
the median over the seeds, the min-max spread of the seconds to target and
of the speed-up (baseline's total seconds / variant's seconds to target) and
how many seeds reached the target.

Seconds are the ``seconds`` column of ``history.csv``: training time from
the start of the run's training, less the time spent in the logged
evaluations themselves (how often to evaluate is the user's choice); data
loading, graph maps and process start-up are not counted.

A variant that fails (a recipe error, an unsupported combination, a crash or
divergence) is recorded with its error message, and the others still run.

    python bench/wallclock.py                                   # everything: 3 seeds, CPU, 1 thread (hours)
    python bench/wallclock.py --datasets one_object --seeds 1 --budget-scale 0.01   # a quick check
    python bench/wallclock.py --device cuda --out bench_output/wallclock_cuda

Writes ``OUT/wallclock.json`` (every per-seed number and history, the
medians, the machine), ``OUT/wallclock.md`` (one table per data set, also
printed) and ``OUT/wallclock.png`` (validation error against seconds, seed
0); the generated recipes and each recipe's ``msann`` output lie under
``OUT/recipes`` and ``OUT/runs``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from msann.methods import METHODS  # noqa: E402
from msann.report import read_summary  # noqa: E402
from msann.report import RunRecord, compare_to  # noqa: E402

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class Variant:
    """One compared run: its ``[[runs]]`` entry (without ``label``) and the label of its baseline run."""

    name: str
    baseline: str
    entry: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DataSet:
    """A benchmark data set: the recipe's base tables, its variants, and a folder it needs (None: generated data)."""

    name: str
    method: str
    tables: dict
    variants: tuple[Variant, ...]
    requires: Path | None = None


# ---------------------------------------------------------------- the variants
# Add a variant by appending a Variant to one of these tuples; its ``entry``
# overrides the data set's base tables key by key (as a recipe's [[runs]] entry).

_PLAIN, _PLAIN_FAS, _PLAIN_FAS_SGD = "plain", "plain (fas network)", "plain (fas network, sgd)"
_SGD = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}  # recipes/fas_poisson_fc.toml's smoother

_NESTED_TOP = {"coarse_data": True, "start": "coarsest", "stage": "top", "stage_cycles": 25, "stage_growth": 2.0,
               "lr_factor": 2.0}

AUTOENCODER_VARIANTS: tuple[Variant, ...] = (
    Variant(_PLAIN, _PLAIN, {"method": "msann", "hierarchy": {"levels": 0}}),
    Variant("msann", _PLAIN, {"method": "msann"}),
    Variant("msann coarse-data", _PLAIN, {"method": "msann", "hierarchy": {"coarse_data": True}}),
    Variant("msann coarse-data nested", _PLAIN,
            {"method": "msann", "hierarchy": {"coarse_data": True, "start": "coarsest", "gamma": 1}}),
    Variant("msann nested", _PLAIN, {"method": "msann", "hierarchy": {"start": "coarsest", "gamma": 1}}),
    # Nested iteration as a coarse-to-fine start: each stage trains its top level only (800, 400, 200, 100 steps
    # from level 4 up, at lr x 2^l), then plain training of the finest network.
    Variant("msann coarse-data nested top", _PLAIN, {"method": "msann", "hierarchy": _NESTED_TOP}),
    Variant("msann coarse-data nested top, lr x2", _PLAIN,
            {"method": "msann", "hierarchy": _NESTED_TOP, "train": {"lr": 1e-3}}),
    # The same with batch_size x 2^l examples per step at level l: a small network's step is mostly fixed overhead.
    Variant("msann coarse-data nested top, lr x2, batch x2^l", _PLAIN,
            {"method": "msann", "hierarchy": {**_NESTED_TOP, "batch_factor": 2}, "train": {"lr": 1e-3}}),
    Variant("msann coarse-data nested top, lr x4", _PLAIN,
            {"method": "msann", "hierarchy": _NESTED_TOP, "train": {"lr": 2e-3}}),
    # Plain training at 2x and 4x the recipe's learning rate: is a multilevel win only a learning-rate effect?
    Variant("plain, lr x2", _PLAIN, {"method": "msann", "hierarchy": {"levels": 0}, "train": {"lr": 1e-3}}),
    Variant("plain, lr x4", _PLAIN, {"method": "msann", "hierarchy": {"levels": 0}, "train": {"lr": 2e-3}}),
    Variant(_PLAIN_FAS, _PLAIN_FAS, {"method": "mgopt", "hierarchy": {"levels": 0, "gamma": 1, "k": 4}}),
    Variant("mgopt", _PLAIN_FAS, {"method": "mgopt", "hierarchy": {"levels": 1, "gamma": 1, "k": 4}}),
    # The width-and-data hierarchy: the coarse level is a smaller network on block means of the data.
    Variant("mgopt coarse-data", _PLAIN_FAS, {"method": "mgopt", "hierarchy": {"levels": 1, "gamma": 1, "k": 4, "coarse_data": True}}),
    # FAS smooths with SGD only (msann refuses adam/rmsprop for it): its baseline is plain SGD on the same network.
    Variant(_PLAIN_FAS_SGD, _PLAIN_FAS_SGD, {"method": "fas", "hierarchy": {"levels": 0, "gamma": 1, "k": 4}, "train": _SGD}),
    Variant("fas", _PLAIN_FAS_SGD, {"method": "fas", "hierarchy": {"levels": 1, "gamma": 1, "k": 4}, "train": _SGD}),
    Variant("fas coarse-data", _PLAIN_FAS_SGD,
            {"method": "fas", "hierarchy": {"levels": 1, "gamma": 1, "k": 4, "coarse_data": True}, "train": _SGD}),
)

# FAS's own [fas] keys (fas_poisson_fc.toml); MG/Opt refuses them (it has [mgopt] coherence and alpha).
_FAS_ONLY = {"gamma_tau": 0.125, "alpha_p": 1.0}

POISSON_VARIANTS: tuple[Variant, ...] = (
    Variant(_PLAIN, _PLAIN, {"method": "fas", "hierarchy": {"levels": 0}, "fas": _FAS_ONLY}),
    Variant("fas (2 levels)", _PLAIN, {"method": "fas", "hierarchy": {"levels": 1}, "fas": _FAS_ONLY}),
    Variant("fas (3 levels)", _PLAIN, {"method": "fas", "hierarchy": {"levels": 2}, "fas": _FAS_ONLY}),
    Variant("mgopt", _PLAIN, {"method": "mgopt", "hierarchy": {"levels": 1}}),
    Variant("fas coarse-data (2 levels)", _PLAIN,
            {"method": "fas", "hierarchy": {"levels": 1, "coarse_data": True}, "fas": {**_FAS_ONLY, "transfer": "graph"}}),
    Variant("mgopt coarse-data", _PLAIN, {"method": "mgopt", "hierarchy": {"levels": 1, "coarse_data": True}, "fas": {"transfer": "graph"}}),
    Variant("fas nested (3 levels)", _PLAIN,
            {"method": "fas", "hierarchy": {"levels": 2, "start": "coarsest"}, "fas": _FAS_ONLY}),
)

# recipes/demo.toml's data, model, hierarchy and train; recipes/mgopt_one_object.toml's [fas] and [mgopt].
_AUTOENCODER_MODEL = {"widths": [1024, 256, 128, 256, 1024], "activation": "sigmoid", "output_activation": "sigmoid", "bias": True}
_AUTOENCODER_FAS = {"architecture": "fc", "hidden": 256, "hidden_layers": 2, "transfer": "graph", "tau_batches": 4, "cost_model": "macs"}
_AUTOENCODER_MGOPT = {"coherence": "first-order", "line_search": True, "kappa": 0.25}


def _autoencoder(data: dict, *, strategy: str, train: dict) -> dict:
    return {"data": data, "model": _AUTOENCODER_MODEL,
            "hierarchy": {"levels": 4, "gamma": 3, "k": 4, "strategy": strategy, "p_method": "recipe"},
            "train": train, "fas": _AUTOENCODER_FAS, "mgopt": _AUTOENCODER_MGOPT}


_DEMO_TRAIN = {"optimizer": "adam", "lr": 5e-4, "batch_size": 32, "cost_budget": 30000.0, "eval_points": 40}

DATASETS: dict[str, DataSet] = {
    "one_object": DataSet("one_object", "msann", _autoencoder(
        {"name": "one_object", "length": 1024, "noise": 0.05, "n_train": 10000, "n_val": 1000},
        strategy="path", train=_DEMO_TRAIN), AUTOENCODER_VARIANTS),
    "two_object": DataSet("two_object", "msann", _autoencoder(
        {"name": "two_object", "length": 1024, "noise": 0.05, "n_train": 10000, "n_val": 1000},
        strategy="path", train=_DEMO_TRAIN), AUTOENCODER_VARIANTS),
    # recipes/fashion_mnist_grid.toml's data, model and train (RMSProp, C = 3e5), L = 4, k = 4, grid P;
    # the MG/Opt and FAS runs use the same 32x32-padded images.
    "fashion_mnist": DataSet("fashion_mnist", "msann", _autoencoder(
        {"name": "fashion_mnist", "pad_to": 32}, strategy="grid",
        train={"optimizer": "rmsprop", "lr": 5e-4, "batch_size": 32, "cost_budget": 300000.0, "eval_points": 60}),
        AUTOENCODER_VARIANTS, requires=FASHION_MNIST_DIR),
    # recipes/fas_poisson_fc.toml and mgopt_poisson_fc.toml.
    "poisson_fc": DataSet("poisson_fc", "fas", {
        "data": {"name": "poisson", "n_samples": 10000, "grid_size": 32, "inputs": "kappa_f_coords"},
        "hierarchy": {"levels": 1, "gamma": 1, "k": 4, "p_method": "recipe"},
        "train": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 200, "cost_budget": 2000000.0,
                  "eval_points": 100},
        "fas": {"architecture": "fc", "hidden": 400, "hidden_layers": 2, "threshold": 0.0, "scaled": False,
                "transfer": "matching", "rematch_every": 50, "tau_batches": 4, "alpha_m": 0.2,
                "eta": 1.4142135623730951, "cost_model": "quarter"},
        "mgopt": {"coherence": "first-order", "lam": 0.0, "line_search": True, "kappa": 0.25},
    }, POISSON_VARIANTS),
}


# ---------------------------------------------------------------- recipes

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def recipe_text(dataset: DataSet, variants: Sequence[Variant], *, seed: int, budget_scale: float = 1.0) -> str:
    """The TOML recipe of ``variants`` on ``dataset`` with ``[train] seed = seed`` and every cost budget scaled.

    Parameters
    ----------
    dataset : DataSet
    variants : sequence of Variant
        One ``[[runs]]`` entry each, labelled by the variant's name.
    seed : int
    budget_scale : float
        Multiplies ``[train] cost_budget`` (of the base table and of any entry that sets one).
    """
    def scaled(table: str, values: dict) -> dict:
        if table == "train" and "cost_budget" in values:
            return {**values, "cost_budget": float(values["cost_budget"]) * budget_scale}
        return values

    methods = [variant.entry.get("method", dataset.method) for variant in variants]
    # A recipe may hold only tables its runs use, and [model] only where every run's method builds the MLP:
    # otherwise each run that uses it gets [model] inline.
    shared_model = all(METHODS[method].uses_model for method in methods)
    base = {table: values for table, values in dataset.tables.items()
            if table in ("data", "hierarchy", "train") or (table == "model" and shared_model)
            or any(table in METHODS[method].tables for method in methods)}
    lines = [f"name = {_toml_value(f'wallclock_{dataset.name}_seed{seed}')}",
             f"description = {_toml_value(f'bench/wallclock.py: {dataset.name}, seed {seed}')}",
             f"method = {_toml_value(methods[0] if methods else dataset.method)}", ""]
    for table, values in base.items():
        values = scaled(table, dict(values, seed=seed) if table == "train" else values)
        lines += [f"[{table}]"] + [f"{key} = {_toml_value(value)}" for key, value in values.items()] + [""]
    for variant, method in zip(variants, methods):
        entry = dict(variant.entry, method=method)
        if "model" in dataset.tables and not shared_model and METHODS[method].uses_model:
            entry["model"] = {**dataset.tables["model"], **entry.get("model", {})}
        lines += ["[[runs]]", f"label = {_toml_value(variant.name)}"]
        lines += [f"{key} = {_toml_value(scaled(key, value) if isinstance(value, dict) else value)}"
                  for key, value in entry.items()] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------- running

def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def run_recipe(recipe: Path, out: Path, *, device: str, threads: int) -> tuple[int, str]:
    """Run ``msann run`` on ``recipe`` into ``out`` (emptied first); ``(exit status, last line of stderr)``."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "msann.cli", "run", str(recipe), "--device", device, "--threads", str(threads),
               "--out", str(out), "--quiet"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    (out / "stdout.log").write_text(done.stdout)
    (out / "stderr.log").write_text(done.stderr)
    return done.returncode, _last_line(done.stderr)


def run_variants(dataset: DataSet, variants: Sequence[Variant], *, seed: int, folder: Path, options: argparse.Namespace,
                 tag: str = "") -> dict[str, dict]:
    """Train ``variants`` as one recipe; ``{name: {"history": ..., ...} or {"error": message}}``.

    ``summary.json`` is rewritten after every run, so when the recipe stops
    early the runs before the failed one are kept, the failed one records
    the message, and the rest run again as a new recipe.  An error before
    any training (a recipe error) runs every variant alone to tell which one
    it belongs to.
    """
    name = f"{dataset.name}_seed{seed}{tag}"
    recipe = folder / "recipes" / f"{name}.toml"
    recipe.parent.mkdir(parents=True, exist_ok=True)
    recipe.write_text(recipe_text(dataset, variants, seed=seed, budget_scale=options.budget_scale))
    out = folder / "runs" / name
    status, message = run_recipe(recipe, out, device=options.device, threads=options.threads)
    results: dict[str, dict] = {}
    if (out / "summary.json").exists():
        for run in read_summary(out)[1]:
            results[run.label] = {"history": [list(point) for point in run.history], "total_cost": run.total_cost,
                                  "params_device": run.params.get("train", {}).get("device"),
                                  "event_seconds": run.extra.get("event_seconds", {})}
    remaining = [variant for variant in variants if variant.name not in results]
    if status == 0 or not remaining:
        return results
    if results or len(remaining) == 1:
        results[remaining[0].name] = {"error": f"exit status {status}: {message}"}
        if len(remaining) > 1:
            results.update(run_variants(dataset, remaining[1:], seed=seed, folder=folder, options=options,
                                        tag=f"{tag}_after{len(results)}"))
        return results
    for index, variant in enumerate(remaining):
        results.update(run_variants(dataset, [variant], seed=seed, folder=folder, options=options, tag=f"{tag}_alone{index}"))
    return results


# ---------------------------------------------------------------- aggregation

def seed_numbers(history: Sequence[Sequence[float]], baseline: Sequence[Sequence[float]]) -> dict:
    """A run's numbers against its baseline run of the same seed (histories of ``(cost, val_mse, seconds)``).

    Returns ``target`` (the baseline's final error), ``baseline_seconds``,
    ``seconds_to_target`` and ``cost_to_target`` (None when never reached),
    ``speedup`` (baseline seconds / seconds to target), the error at the
    baseline's total seconds, the final error and the total seconds.
    """
    found = compare_to(_record("run", history), _record("baseline", baseline))
    seconds, baseline_seconds = found["seconds"], found["baseline_seconds"]
    return {"target": found["target"], "baseline_seconds": baseline_seconds, "cost_to_target": found["cost"],
            "seconds_to_target": seconds,
            "speedup": None if seconds is None else (math.inf if seconds <= 0 else baseline_seconds / seconds),
            "error_at_baseline_seconds": found["error_at_baseline_seconds"] if history[0][2] <= baseline_seconds else None,
            "final_error": history[-1][1], "total_seconds": history[-1][2]}


def _record(label: str, history: Sequence[Sequence[float]]) -> RunRecord:
    points = [tuple(float(value) for value in point) for point in history]
    return RunRecord(label, {}, points, points[-1][0], points[-1][2])


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def aggregate(rows: Sequence[dict]) -> dict:
    """Medians over the seeds of one variant's :func:`seed_numbers` rows (a failed seed is ``{"error": ...}``).

    ``reached`` counts the seeds that reached the target out of all seeds;
    the seconds to target and the speed-up are over the seeds that reached
    it (None when none did); the other numbers are over the seeds that ran.
    """
    ran = [row for row in rows if "error" not in row]
    reached = [row for row in ran if row["seconds_to_target"] is not None]

    def median(key: str) -> float | None:
        values = [row[key] for row in ran if row.get(key) is not None]
        return statistics.median(values) if values else None

    return {"seeds": len(rows), "ran": len(ran), "reached": len(reached), "reached_text": f"{len(reached)}/{len(rows)}",
            "seconds_to_target": _spread([row["seconds_to_target"] for row in reached]),
            "speedup": _spread([row["speedup"] for row in reached]),
            "error_at_baseline_seconds": median("error_at_baseline_seconds"), "target": median("target"),
            "final_error": median("final_error"), "total_seconds": median("total_seconds"),
            "errors": sorted({row["error"] for row in rows if "error" in row})}


def compare(results: Sequence[dict[str, dict]], variants: Sequence[Variant]) -> dict[str, dict]:
    """Per variant: its baseline, the per-seed rows (``results[s]`` is seed s's :func:`run_variants` output) and :func:`aggregate`."""
    table = {}
    for variant in variants:
        rows = []
        for per_seed in results:
            own, base = per_seed.get(variant.name, {"error": "not run"}), per_seed.get(variant.baseline, {"error": "not run"})
            if "error" in own:
                rows.append({"error": own["error"]})
            elif "error" in base:
                rows.append({"error": f"baseline {variant.baseline!r} failed: {base['error']}"})
            else:
                rows.append({**seed_numbers(own["history"], base["history"]), "history": own["history"],
                             "event_seconds": own.get("event_seconds", {})})
        table[variant.name] = {"baseline": variant.baseline, "seeds": rows,
                               "summary": aggregate([{k: v for k, v in row.items() if k not in ("history", "event_seconds")}
                                                     for row in rows])}
    return table


def _group_order(group: str) -> tuple[int, int]:
    """Sort key of a :func:`seconds_split` group: the steps by level as a number (L2 before L10), then data, transfers."""
    if group.startswith("step L"):
        return 0, int(group.removeprefix("step L"))
    return (1, 0) if group == "data" else (2, 0)


def seconds_split(event_seconds: dict[str, float]) -> dict[str, float]:
    """A run's ``event_seconds`` grouped: ``step L<l>`` per level, ``data`` and ``transfers`` summed over the levels.

    In that order, the steps by increasing level (``step L2`` before ``step L10``).
    """
    split: dict[str, float] = {}
    for key, seconds in event_seconds.items():
        kind, _ = key.split(" ")
        group = key if kind == "step" else "data" if kind == "data" else "transfers"
        split[group] = split.get(group, 0.0) + seconds
    return dict(sorted(split.items(), key=lambda item: _group_order(item[0])))


def breakdown_markdown(table: dict[str, dict]) -> str:
    """Where the training seconds went, per variant: median over the seeds of each group of :func:`seconds_split`."""
    lines = ["| variant | steps per level (s) | data (s) | transfers (s) | sum (s) |", "|---|---|---:|---:|---:|"]
    for variant, entry in table.items():
        splits = [seconds_split(row["event_seconds"]) for row in entry["seeds"] if row.get("event_seconds")]
        if not splits:
            continue
        groups = sorted({key for split in splits for key in split}, key=_group_order)
        median = {key: statistics.median([split.get(key, 0.0) for split in splits]) for key in groups}
        steps = ", ".join(f"L{key.split('L')[1]} {median[key]:.2f}" for key in groups if key.startswith("step"))
        lines.append(f"| {variant} | {steps} | {median.get('data', 0.0):.2f} | {median.get('transfers', 0.0):.2f} | "
                     f"{statistics.median([sum(split.values()) for split in splits]):.2f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- reports

def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _range(spread: dict | None, digits: int = 3) -> str:
    if spread is None:
        return "-"
    return f"{_number(spread['median'], digits)} [{_number(spread['min'], digits)}–{_number(spread['max'], digits)}]"


def markdown(name: str, table: dict[str, dict], *, seeds: int) -> str:
    """One data set's Markdown table (and one line per failed variant)."""
    lines = [f"### {name}", "",
             f"Target: the baseline's final validation error, per seed ({seeds} seed{'s' if seeds != 1 else ''}); "
             "speed-up = baseline's total s / variant's s to target; medians [min–max] over the seeds that reached it.", "",
             "| variant | baseline | reached | s to target | speed-up | error at baseline's s (baseline final) | final error | total s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    failures = []
    for variant, entry in table.items():
        summary = entry["summary"]
        reached = summary["reached_text"] + (f" ({summary['seeds'] - summary['ran']} failed)" if summary["ran"] < summary["seeds"] else "")
        lines.append(f"| {variant} | {entry['baseline']} | {reached} | {_range(summary['seconds_to_target'])} | "
                     f"{_range(summary['speedup'])} | {_number(summary['error_at_baseline_seconds'], 4)} "
                     f"({_number(summary['target'], 4)}) | {_number(summary['final_error'], 4)} | {_number(summary['total_seconds'])} |")
        failures += [f"- {variant}: {error}" for error in summary["errors"]]
    if failures:
        lines += ["", "Failed:", ""] + failures
    lines += ["", "Where the training seconds went (median over the seeds; `event_seconds` of each run's summary.json):", "",
              breakdown_markdown(table)]
    return "\n".join(lines)


def plot(report: dict[str, dict], path: Path) -> None:
    """Validation error against seconds, one panel per data set: seed 0 of every variant, the baselines' final errors dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, entry in report.items() if "variants" in entry]
    figure, axes = plt.subplots(1, max(len(names), 1), figsize=(6 * max(len(names), 1), 4.5), squeeze=False)
    for axis, name in zip(axes[0], names):
        variants = report[name]["variants"]
        colours = {}
        for variant, entry in variants.items():
            row = entry["seeds"][0] if entry["seeds"] else {"error": "no seed"}
            if "error" in row:
                continue
            seconds = [point[2] for point in row["history"]]
            errors = [point[1] for point in row["history"]]
            line, = axis.plot(seconds, errors, label=variant)
            colours[variant] = line.get_color()
        for variant, entry in variants.items():
            if entry["baseline"] == variant and entry["seeds"] and "error" not in entry["seeds"][0]:
                axis.axhline(entry["seeds"][0]["final_error"], linestyle="--", linewidth=0.8,
                             color=colours.get(variant, "grey"), label=f"{variant}: final error")
        axis.set_yscale("log")
        axis.set_xlabel("seconds (training + logged evaluations)")
        axis.set_ylabel("validation error")
        axis.set_title(f"{name} (seed 0)")
        axis.legend(fontsize=7)
    if not names:
        axes[0][0].set_axis_off()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def machine(options: argparse.Namespace) -> dict:
    """Facts of this machine and of the options the runs had."""
    import torch

    facts = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
             "torch": torch.__version__, "threads": options.threads, "device": options.device,
             "budget_scale": options.budget_scale, "seeds": options.seeds}
    if torch.cuda.is_available():
        facts["cuda_device"] = torch.cuda.get_device_name(0)
    return facts


# ---------------------------------------------------------------- main

def selected_variants(dataset: DataSet, names: Sequence[str] | None) -> list[Variant]:
    """The data set's variants named in ``names`` (all when None), with the baselines they need, in table order."""
    if names is None:
        return list(dataset.variants)
    wanted = set(names)
    wanted |= {variant.baseline for variant in dataset.variants if variant.name in wanted}
    return [variant for variant in dataset.variants if variant.name in wanted]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=None,
                        help="data sets (default: all whose data is installed)")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="only these variants (and their baselines); default all")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 ([train] seed)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of each run")
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiplies every cost_budget")
    parser.add_argument("--out", type=Path, default=Path("bench_output/wallclock"))
    options = parser.parse_args(argv)
    if options.seeds < 1:
        parser.error("--seeds must be at least 1")
    if options.budget_scale <= 0:
        parser.error("--budget-scale must be positive")
    if options.variants is not None:
        known = {variant.name for dataset in DATASETS.values() for variant in dataset.variants}
        unknown = sorted(set(options.variants) - known)
        if unknown:
            parser.error(f"unknown variants {unknown}; known: {sorted(known)}")
    return options


def main(argv: Sequence[str] | None = None) -> dict:
    options = parse_arguments(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    names = options.datasets or list(DATASETS)
    report: dict[str, dict] = {}
    for name in names:
        dataset = DATASETS[name]
        if dataset.requires is not None and not dataset.requires.exists():
            reason = f"{dataset.requires} is missing (make data installs it)"
            print(f"skipping {name}: {reason}")
            report[name] = {"skipped": reason}
            continue
        variants = selected_variants(dataset, options.variants)
        if not variants:
            print(f"skipping {name}: none of the variants {options.variants} is one of its variants")
            report[name] = {"skipped": "no selected variant"}
            continue
        results = []
        for seed in range(options.seeds):
            print(f"{name}, seed {seed}: {len(variants)} runs ...", flush=True)
            results.append(run_variants(dataset, variants, seed=seed, folder=options.out, options=options))
        report[name] = {"variants": compare(results, variants)}
    document = {"machine": machine(options), "datasets": report}
    (options.out / "wallclock.json").write_text(json.dumps(document, indent=2) + "\n")
    text = "\n\n".join(markdown(name, entry["variants"], seeds=options.seeds) if "variants" in entry
                       else f"### {name}\n\nskipped: {entry['skipped']}" for name, entry in report.items())
    facts = document["machine"]
    header = (f"# Wall-clock benchmark\n\n{facts['platform']}, {facts['cpu_count']} CPUs, torch {facts['torch']}, "
              f"device {facts['device']}, {facts['threads']} thread(s), budget scale {facts['budget_scale']:g}\n\n")
    (options.out / "wallclock.md").write_text(header + text + "\n")
    plot(report, options.out / "wallclock.png")
    print(header + text)
    return document


if __name__ == "__main__":
    main()
