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

Run folders are unique: labels whose folders would collide (``"L=0"`` and
``"L0"`` both give ``runs/L0``; compared case-insensitively, for file systems
that fold case) are refused before any run trains, naming both labels.  The
temporary files of atomic writes that a killed run left behind
(``.NAME.XXXX.tmp``, :func:`graphprolong.io.atomic_write_bytes`) are removed
from the output folder and from a run's folder when that run starts; two
processes must therefore not write into one output folder at once (the ranks
of one ``torchrun`` job coordinate: rank 0 alone clears and writes the output
folder, see ``parallel`` of :func:`run_experiment`).

``[data]`` options ``path`` and ``directory`` given as relative paths are
resolved against the recipe file's folder (not the working directory).

Every evaluation also measures the same errors on a fixed subset of the
training data (its first :data:`TRAINING_EVALUATION_SIZE` examples, or as
many as the validation set has if fewer): ``errors.csv`` lists every error of
every evaluation, and ``errors.png`` draws them (validation solid, training
dashed; against work units when every run reports ``work_units``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from graphprolong.io import check_output_folder as check_writable_folder

from .config import ConfigError, ExperimentConfig, RunConfig, check_seeds, check_sizes, expand_seeds
from .core.checkpoint import CHECKPOINT_NAME
from .core.distributed import (all_gather, alone, barrier, check_divisible, data_parallel_rank, data_parallel_size,
                               is_main_process, local_device, portable, rank, world_size)
from .core.driver import train
from .core.metrics import metric, task_metric
from .data.standardize import original_units
from .data import Dataset, MinibatchStream, load_dataset
from .device import DEVICES, resolve_device
from .methods import METHODS, method_spec
from .report import RunRecord, compare_to, error_label, plot_error_vs_cost, plot_errors, write_errors, write_seed_report, write_summary

__all__ = ["DEVICES", "OUTPUT_RANGES", "PARALLEL_MODES", "PATH_OPTIONS", "TRAINING_EVALUATION_SIZE", "check_output_folder", "check_run_folders",
           "check_target_range", "check_task", "load_run_data", "remove_stale_temporaries", "resolve_device", "run_experiment", "run_slug"]

logger = logging.getLogger(__name__)

#: How the ranks of ``torchrun`` share the work: every run data-parallel on all ranks, or whole runs spread over them.
PARALLEL_MODES = ("data", "runs")

#: At most this many training examples are evaluated beside the validation set.
TRAINING_EVALUATION_SIZE = 1000


def run_slug(label: str) -> str:
    """A folder name for a run label (``"L=4 gamma=3 k=4"`` -> ``"L4-gamma3-k4"``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label.replace("=", "")).strip("-")
    return slug or "run"


#: ``[data]`` options that name files or folders; relative ones are read from the recipe's folder.
PATH_OPTIONS = ("path", "directory")
#: Temporary files of :func:`graphprolong.io.atomic_write_bytes` (``.NAME.XXXXXXXX.tmp``).
_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]+\.tmp")


def check_run_folders(runs: Sequence[RunConfig], *, source: str) -> list[str]:
    """The runs' folder names (:func:`run_slug`); a ConfigError naming both labels when two collide."""
    slugs: dict[str, str] = {}
    for run in runs:
        slug = run_slug(run.label)
        other = slugs.setdefault(slug.casefold(), run.label)
        if other != run.label:
            raise ConfigError(source, f"run labels {other!r} and {run.label!r} both give the run folder runs/{slug} "
                                      f"(folder names keep letters, digits, '.', '_' and '-' and ignore case); rename one")
    return [run_slug(run.label) for run in runs]


def check_output_folder(out_dir: str | Path, *, what: str = "--out") -> Path:
    """Check that ``out_dir`` is, or can be made, a writable folder; touch nothing that exists.

    The folder (or, when it does not exist yet, its nearest existing
    ancestor) must be a folder in which a file can be created: a probe file
    is created there and removed at once.

    Raises
    ------
    ConfigError
        Naming ``what``, the path and the rule broken.
    """
    try:
        return check_writable_folder(out_dir, option=what)
    except ValueError as error:
        raise ConfigError(what, str(error).removeprefix(f"{what} ")) from None


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the atomic-write temporary files a killed process left in ``folder`` (not below it); return them."""
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if _TEMPORARY.fullmatch(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        logger.info("removed %d temporary file(s) left by an interrupted write in %s", len(removed), folder)
    return removed


#: What each output activation of :data:`msann.models.mlp.ACTIVATIONS` can produce: targets must lie in it.
OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, math.inf), "identity": (-math.inf, math.inf)}


def check_task(run: RunConfig, dataset: Dataset, *, source: str) -> None:
    """Refuse classification data (``Dataset.classes``) for a method that trains ``[model]`` autoencoders (MsANN),
    and for coarse data (class labels have no graph to coarsen along).

    The methods that bring their own network (FAS, MG/Opt) end it in a linear layer of one logit per class
    and minimise the cross-entropy (:func:`msann.core.metrics.task_loss`); a ``[model]`` network maps the
    inputs back to their own width on the MSE.
    """
    if dataset.classes is not None and run.hierarchy.coarse_data and run.hierarchy.levels:
        raise ConfigError(source, f"[hierarchy] coarse_data = true halves the targets' units along their graph; the "
                                  f"{dataset.classes} class labels of [data] {dataset.name!r} have none (run {run.label!r}): "
                                  f"got coarse_data = true")
    if dataset.classes is None or not method_spec(run.method).uses_model:
        return
    valid = ", ".join(repr(name) for name, spec in sorted(METHODS.items()) if not spec.uses_model)
    raise ConfigError(source, f"method must be one that trains a classifier ({valid}) on the {dataset.classes}-class labels "
                              f"of [data] {dataset.name!r} (run {run.label!r}); got method = {run.method!r}, which trains "
                              f"autoencoders")


def check_target_range(run: RunConfig, dataset: Dataset, *, source: str) -> None:
    """Refuse targets that the run's network cannot produce (its ``[model] output_activation``), naming the values.

    A method that brings its own network (FAS, MG/Opt) ends it in a linear layer, which produces any values
    (a classification's logits fit one-hot targets through the cross-entropy): nothing to check.
    """
    if not method_spec(run.method).uses_model:
        return
    low, high = OUTPUT_RANGES.get(run.model.output_activation, (-math.inf, math.inf))
    found = (float(min(dataset.train_targets.min(), dataset.val_targets.min())),
             float(max(dataset.train_targets.max(), dataset.val_targets.max())))
    if found[0] < low or found[1] > high:
        raise ConfigError(source, f"[data] ({run.label}): the targets lie in [{found[0]:g}, {found[1]:g}], but [model] "
                                  f"output_activation = {run.model.output_activation!r} produces values in [{low:g}, {high:g}]; "
                                  f"scale the data (e.g. [data] scaling = \"min-max\" for npz) or choose another output_activation")


def _data_options(run: RunConfig, base: Path | None) -> dict:
    options = run.data_options
    for key in PATH_OPTIONS:
        value = options.get(key)
        if base is not None and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            options[key] = str(base / value)
    return options


def load_run_data(run: RunConfig, *, source: str, cache: dict | None = None, base: str | Path | None = None) -> Dataset:
    """The run's dataset (memoised in ``cache`` by its ``[data]`` table and seed); loader errors become ConfigErrors.

    Relative ``[data]`` ``path``/``directory`` options are taken relative to
    ``base`` (the recipe's folder) when it is given.
    """
    key = json.dumps([dict(run.data), run.train.seed, str(base)], sort_keys=True, default=str)
    if cache is not None and key in cache:
        return cache[key]
    try:
        dataset = load_dataset(run.data["name"], seed=run.train.seed, **_data_options(run, None if base is None else Path(base)))
    except (ValueError, TypeError, OSError) as error:
        raise ConfigError(source, f"[data] ({run.label}): {error}") from None
    if cache is not None:
        cache[key] = dataset
    return dataset


def _train_run(run: RunConfig, dataset: Dataset, device: torch.device, folder: Path, *, resume: bool, progress: bool | None) -> RunRecord:
    method = method_spec(run.method).build(run, dataset, device)
    logger.info("%s: %r", run.label, method.hierarchy)
    stream = MinibatchStream(dataset.train_inputs, dataset.train_targets, batch_size=run.train.batch_size,
                             seed=run.train.seed, device=device, rank=data_parallel_rank(), world_size=data_parallel_size())
    validation = (torch.as_tensor(dataset.val_inputs, device=device), torch.as_tensor(dataset.val_targets, device=device))
    size = min(TRAINING_EVALUATION_SIZE, len(dataset.val_inputs), len(dataset.train_inputs))
    training = (torch.as_tensor(dataset.train_inputs[:size], device=device),
                torch.as_tensor(dataset.train_targets[:size], device=device))
    params = run.to_dict()
    if data_parallel_rank() == 0:  # the rank that writes the run's checkpoints
        remove_stale_temporaries(folder)
    train_table = run.train
    result = train(
        method, stream, validation, training=training, metrics=original_units(metric(task_metric(dataset)), dataset),
        gamma=run.hierarchy.gamma, k=run.hierarchy.k, cost_budget=train_table.cost_budget,
        batch_size=train_table.batch_size, eval_points=train_table.eval_points,
        checkpoint=folder / CHECKPOINT_NAME, checkpoint_every=train_table.checkpoint_every, resume=resume,
        params=run.fingerprint_dict(), label=run.label, progress=progress, start=run.hierarchy.start,
        stage_cycles=run.hierarchy.stage_cycles, stage=run.hierarchy.stage,
        stage_growth=run.hierarchy.stage_growth,
    )
    extra = {"steps": result.steps, "cycles": result.cycles, "device": str(device),
             **({"ranks": data_parallel_size()} if data_parallel_size() > 1 else {}),
             "evaluation_seconds": result.evaluation_seconds, "checkpoint_seconds": result.checkpoint_seconds,
             "event_seconds": result.event_seconds,
             **method.summary_fields(result)}
    # The checkpoint's fingerprint keeps the device as configured (so "auto" resumes anywhere); the report names the real one.
    reported = dict(params, train=dict(params["train"], device=str(device)))
    return RunRecord(run.label, reported, result.history, result.total_cost, result.wall_seconds, extra,
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
    seeds: Sequence[int] | None = None,
    parallel: str = "data",
) -> list[RunRecord]:
    """Train every run (default: ``config.runs``) and write the report files to ``out_dir``.

    With ``seeds`` (default: the recipe's ``seeds``, if any) every run is
    repeated once per seed (:func:`msann.config.expand_seeds`: labels
    ``"<label> seed=<s>"``, seed by seed), each record's ``extra["group"]``
    names its run, and ``seeds.json``/``seeds.md``/``seeds.png`` give the
    median and spread over the seeds (:func:`msann.report.write_seed_report`).
    Every record's ``extra["to_baseline"]`` compares it with its baseline:
    the first run of the same seed (:func:`msann.report.compare_to`).

    Every run's sizes are checked against its data before the first run
    trains.  ``device`` overrides each run's ``[train] device`` unless it is
    ``"auto"`` and the run names one.  With ``resume``, a run whose
    checkpoint reached its budget is not retrained: it continues (a no-op)
    from the checkpoint.  ``summary.json`` is rewritten after every run; the
    plot too unless ``plot_every_run`` is false (then once, at the end).

    Under ``torchrun`` (:mod:`msann.core.distributed`), ``parallel`` says how
    the ranks share the work (:data:`PARALLEL_MODES`): ``"data"`` trains every
    run on all ranks, each on its slice of every global minibatch
    (``[train] batch_size`` must be divisible by the number of ranks);
    ``"runs"`` gives whole runs to the ranks in turn (run ``i`` to rank
    ``i mod N``), each trained by its rank alone, and gathers the records
    when all are done (the report files are then written once, at the end).
    Rank 0 alone writes the report files; every rank returns the same records.
    Without ``torchrun`` both modes are the same.
    """
    if parallel not in PARALLEL_MODES:
        raise ValueError(f"parallel must be one of {', '.join(PARALLEL_MODES)}; got {parallel!r}")
    runs = list(config.runs if runs is None else runs)
    source = str(config.path) if config.path is not None else config.name
    seeds = config.seeds if seeds is None else seeds
    groups = [run.label for run in runs]
    if seeds:
        try:
            seeds = check_seeds(seeds, what="seeds")
        except ValueError as error:
            raise ConfigError(source, str(error)) from None
        runs, groups = expand_seeds(runs, seeds), groups * len(seeds)
    out_dir = Path(out_dir)
    base = None if config.path is None else Path(config.path).parent
    labels = [run.label for run in runs]
    if len(set(labels)) != len(labels):
        raise ConfigError(source, f"run labels must be unique; got {labels}")
    slugs = check_run_folders(runs, source=source)
    check_output_folder(out_dir)
    for run, slug in zip(runs, slugs):
        check_output_folder(out_dir / "runs" / slug, what=f"the run folder of {run.label!r}")
    cache: dict = {}
    datasets = []
    devices = []
    for run in runs:
        dataset = load_run_data(run, source=source, cache=cache, base=base)
        check_task(run, dataset, source=source)
        check_sizes(run, dimension=dataset.dimension, unit_shape=dataset.unit_shape, target_shape=dataset.target_shape)
        check_target_range(run, dataset, source=source)
        datasets.append(dataset)
        name = device if device != "auto" or run.train.device == "auto" else run.train.device
        try:
            devices.append(local_device(resolve_device(name)))
        except ValueError as error:
            where = "--device" if name == device and device != "auto" else f"[train] device (run {run.label!r})"
            raise ConfigError(source, f"{where}: {error}") from None
        if parallel == "data":
            try:
                check_divisible(run.train.batch_size, what=f"[train] batch_size (run {run.label!r})")
            except ValueError as error:
                raise ConfigError(source, str(error)) from None
    records: list[RunRecord] = []
    baselines: dict[int, RunRecord] = {}
    barrier()  # every rank's checks (and their probe files) are done before rank 0 clears temporaries
    if is_main_process():
        remove_stale_temporaries(out_dir)
    progress = progress if is_main_process() else False
    folders = [out_dir / "runs" / slug for slug in slugs]
    spread = _train_spread(runs, datasets, devices, folders, resume=resume, progress=progress) if parallel == "runs" else None
    for position, (run, dataset, chosen, folder) in enumerate(zip(runs, datasets, devices, folders)):
        record = spread[position] if spread is not None else _train_run(run, dataset, chosen, folder, resume=resume,
                                                                         progress=progress)
        if seeds:
            record.extra["group"] = groups[position]
        baseline = baselines.setdefault(run.train.seed if seeds else 0, record)
        record.extra["to_baseline"] = compare_to(record, baseline)
        records.append(record)
        plot = (plot_every_run and spread is None) or position == len(runs) - 1
        if is_main_process():
            _write_reports(out_dir, config, records, plot=plot, seeds=bool(seeds), title=plot_title or config.name)
        if on_run is not None:
            on_run(record)
    return records


def _write_reports(out_dir: Path, config: ExperimentConfig, records: list[RunRecord], *, plot: bool, seeds: bool,
                   title: str) -> None:
    """The report files of the runs so far (``plot``: the figures and the seeds report too)."""
    write_summary(out_dir, recipe=config.source, runs=records)
    write_errors(out_dir, records)
    if plot:
        plot_error_vs_cost(records, out_dir / "error_vs_cost.png", title=title, metric=f"validation {error_label(records)}")
        plot_errors(records, out_dir / "errors.png", title=title)
    if seeds and plot:
        write_seed_report(out_dir, records, title=title)


def _train_spread(runs: Sequence[RunConfig], datasets: Sequence[Dataset], devices: Sequence[torch.device],
                  folders: Sequence[Path], *, resume: bool, progress: bool | None) -> list[RunRecord]:
    """Train run ``i`` on rank ``i mod N``, alone (no collective inside a run); every rank's records, in run order.

    A rank whose run fails stops training; once every rank is done, every
    rank raises the error of the lowest failing rank.
    """
    mine: dict = {}
    failure = None
    with alone():
        try:
            for position in range(rank(), len(runs), world_size()):
                mine[position] = _train_run(runs[position], datasets[position], devices[position], folders[position],
                                            resume=resume, progress=progress)
        except (Exception, KeyboardInterrupt) as error:  # raised on every rank below, after the gather
            failure = portable(error)
    shares = all_gather((mine, failure), patient=True)
    for _, error in shares:
        if error is not None:
            raise error
    gathered = {position: record for share, _ in shares for position, record in share.items()}
    return [gathered[position] for position in range(len(runs))]
