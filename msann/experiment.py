"""Run the runs of a recipe: data, hierarchy, method, training, and the report files.

:func:`run_experiment` is what ``msann run`` and ``msann sweep`` call.  For
each :class:`~msann.config.RunConfig` it loads the data (once per distinct
``[data]`` table and seed), checks the sizes against it *before any run
trains*, builds the method (its builder in :data:`msann.methods.METHODS`),
trains it with :func:`msann.core.driver.train` and records a
:class:`~msann.report.RunRecord`.  The output folder receives
``summary.json``, ``history.csv`` and ``error_vs_cost.png`` (see
:mod:`msann.report`), rewritten after every run, and one checkpoint folder
per run under ``runs/``.

Every evaluation also measures the same errors on a fixed subset of the
training data (its first :data:`TRAINING_EVALUATION_SIZE` examples, or as
many as the validation set has if fewer): ``errors.csv`` lists every error of
every evaluation, and ``errors.png`` draws them (validation solid, training
dashed; against work units when every run reports ``work_units``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .config import ConfigError, ExperimentConfig, RunConfig, check_sizes
from .core.checkpoint import CHECKPOINT_NAME
from .core.driver import train
from .core.metrics import metric, task_metric
from .data import Dataset, MinibatchStream, load_dataset
from .device import DEVICES, resolve_device
from .methods import method_spec
from .report import RunRecord, plot_error_vs_cost, plot_errors, write_errors, write_summary

__all__ = ["DEVICES", "TRAINING_EVALUATION_SIZE", "load_run_data", "resolve_device", "run_experiment", "run_slug"]

logger = logging.getLogger(__name__)

#: At most this many training examples are evaluated beside the validation set.
TRAINING_EVALUATION_SIZE = 1000


def run_slug(label: str) -> str:
    """A folder name for a run label (``"L=4 gamma=3 k=4"`` -> ``"L4-gamma3-k4"``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label.replace("=", "")).strip("-")
    return slug or "run"


def load_run_data(run: RunConfig, *, source: str, cache: dict | None = None) -> Dataset:
    """The run's dataset (memoised in ``cache`` by its ``[data]`` table and seed); loader errors become ConfigErrors."""
    key = json.dumps([dict(run.data), run.train.seed], sort_keys=True, default=str)
    if cache is not None and key in cache:
        return cache[key]
    try:
        dataset = load_dataset(run.data["name"], seed=run.train.seed, **run.data_options)
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise ConfigError(source, f"[data] ({run.label}): {error}") from None
    if cache is not None:
        cache[key] = dataset
    return dataset


def _train_run(run: RunConfig, dataset: Dataset, device: torch.device, folder: Path, *, resume: bool, progress: bool | None) -> RunRecord:
    method = method_spec(run.method).build(run, dataset, device)
    logger.info("%s: %r", run.label, method.hierarchy)
    stream = MinibatchStream(dataset.train_inputs, dataset.train_targets, batch_size=run.train.batch_size,
                             seed=run.train.seed, device=device)
    validation = (torch.as_tensor(dataset.val_inputs, device=device), torch.as_tensor(dataset.val_targets, device=device))
    size = min(TRAINING_EVALUATION_SIZE, len(dataset.val_inputs), len(dataset.train_inputs))
    training = (torch.as_tensor(dataset.train_inputs[:size], device=device),
                torch.as_tensor(dataset.train_targets[:size], device=device))
    params = run.to_dict()
    train_table = run.train
    result = train(
        method, stream, validation, training=training, metrics=metric(task_metric(dataset)),
        gamma=run.hierarchy.gamma, k=run.hierarchy.k, cost_budget=train_table.cost_budget,
        batch_size=train_table.batch_size, eval_points=train_table.eval_points,
        checkpoint=folder / CHECKPOINT_NAME, checkpoint_every=train_table.checkpoint_every, resume=resume,
        params=params, label=run.label, progress=progress,
    )
    extra = {"steps": result.steps, "cycles": result.cycles, "device": str(device), **method.summary_fields(result)}
    return RunRecord(run.label, params, result.history, result.total_cost, result.wall_seconds, extra,
                     evaluations=result.evaluations)


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    runs: Sequence[RunConfig] | None = None,
    device: str = "auto",
    resume: bool = False,
    progress: bool | None = None,
    plot_title: str | None = None,
    plot_every_run: bool = True,
    on_run: Callable[[RunRecord], None] | None = None,
) -> list[RunRecord]:
    """Train every run (default: ``config.runs``) and write the report files to ``out_dir``.

    Every run's sizes are checked against its data before the first run
    trains.  ``device`` overrides each run's ``[train] device`` unless it is
    ``"auto"`` and the run names one.  With ``resume``, a run whose
    checkpoint reached its budget is not retrained: it continues (a no-op)
    from the checkpoint.  ``summary.json`` is rewritten after every run; the
    plot too unless ``plot_every_run`` is false (then once, at the end).
    """
    runs = list(config.runs if runs is None else runs)
    source = str(config.path) if config.path is not None else config.name
    out_dir = Path(out_dir)
    cache: dict = {}
    datasets = []
    devices = []
    for run in runs:
        dataset = load_run_data(run, source=source, cache=cache)
        check_sizes(run, dimension=dataset.dimension, unit_shape=dataset.unit_shape)
        datasets.append(dataset)
        name = device if device != "auto" or run.train.device == "auto" else run.train.device
        try:
            devices.append(resolve_device(name))
        except ValueError as error:
            where = "--device" if name == device and device != "auto" else f"[train] device (run {run.label!r})"
            raise ConfigError(source, f"{where}: {error}") from None
    records: list[RunRecord] = []
    labels = [run.label for run in runs]
    if len(set(labels)) != len(labels):
        raise ConfigError(source, f"run labels must be unique; got {labels}")
    for position, (run, dataset, chosen) in enumerate(zip(runs, datasets, devices)):
        record = _train_run(run, dataset, chosen, out_dir / "runs" / run_slug(run.label), resume=resume, progress=progress)
        records.append(record)
        write_summary(out_dir, recipe=config.source, runs=records)
        write_errors(out_dir, records)
        if plot_every_run or position == len(runs) - 1:
            plot_error_vs_cost(records, out_dir / "error_vs_cost.png", title=plot_title or config.name)
            plot_errors(records, out_dir / "errors.png", title=plot_title or config.name)
        if on_run is not None:
            on_run(record)
    return records
