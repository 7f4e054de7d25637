"""The files of a report: ``summary.json``, ``history.csv`` and ``errors.csv``, written and read.

Output files (a stable public format)
-------------------------------------
``summary.json``
    ``{"recipe": RECIPE, "runs": [RUN, ...]}`` where ``RECIPE`` is the recipe
    as given (its text, its path, or its resolved table) and each ``RUN`` is an
    object with the keys

    ``label`` (str, unique in the file), ``final_val_mse`` (float, the last
    logged validation error; ``null`` if not finite), ``initial_val_mse``
    (float, the error at cost 0; ``null`` if not finite), ``cost_to_tenth``
    (float, see :attr:`RunRecord.cost_to_tenth`; ``null`` if never reached),
    ``seconds_to_tenth`` (float, the training seconds at that same logged
    point; ``null`` if never reached), ``cost_to_tenth_note`` (str, why
    ``cost_to_tenth`` is ``null``, with the values, e.g. "never reached: the
    lowest logged error ... is 0.23 of the initial ..."; ``null`` when it was
    reached; files of older versions lack it), ``total_cost`` (float, C(t) at the end of
    training), ``wall_seconds`` (float, the run's wall-clock seconds),
    ``params`` (object, the run's full resolved configuration, with
    ``train.device`` the device the run used, e.g. ``"cpu"``, never ``"auto"``),

    followed by the keys of :attr:`RunRecord.extra`, which may not reuse any
    of the names above: from ``msann run``, ``steps``, ``cycles``,
    ``device``, ``evaluation_seconds`` and ``checkpoint_seconds`` (the
    seconds spent evaluating and saving: in ``wall_seconds``, not in the
    training seconds of the history), ``event_seconds`` (object: where the
    training seconds went, per level and event, e.g. ``"step L0"``,
    ``"data L2"``, ``"down L0"``: :attr:`msann.core.driver.TrainResult.event_seconds`),
    ``to_baseline`` (when and at what
    cost, work units and training seconds the run first reached the final
    error of its baseline, the recipe's first run of the same seed:
    :func:`msann.report.compare_to`), ``group`` (in a seed loop: the run's
    label without its seed); then the method's own (for FAS, e.g.
    ``best_val_l2``, ``best_val_linf``, ``work_units``).
``history.csv``
    Header ``label,cost,val_mse,seconds``; one row per logged point of every
    run (seconds: training seconds, evaluations and checkpoints excluded), runs in the order of ``summary.json``, points in increasing cost.
    Floats are written with ``repr`` (they read back exactly); a non-finite
    error is written ``nan`` or ``inf``.
``errors.csv``
    Header ``label,cost,NAME...``: every error of every evaluation
    (:attr:`RunRecord.evaluations`), e.g. ``val_mse,train_mse`` for MsANN
    and ``val_l2,val_linf,val_rel_l2,train_l2,train_linf,train_rel_l2``
    for FAS (``train_*``: the same errors on a fixed training subset);
    :func:`write_errors`.  ``errors.png`` draws them (:func:`~msann.report.plot_errors`).

Cost is the paper's accounting, C(t) (SPEC section 3): a step on level ``k``
with batch ``b`` costs ``(|M_k| / |M_0|) * b`` fine-model minibatch examples.
Both files are written atomically (:func:`graphprolong.io.atomic_write_bytes`),
and :func:`read_summary` reads them back into records.  A sweep adds more
files (:mod:`msann.report.sweep`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from ..atomic import write_atomically
from .records import OPTIONAL_SUMMARY_KEYS, SUMMARY_KEYS, RunRecord, _checked_runs, _error_names, _finite_or_none

__all__ = ["ERRORS_FILE", "HISTORY_HEADER", "read_summary", "write_errors", "write_summary"]

#: Header row of ``history.csv``.
HISTORY_HEADER = ("label", "cost", "val_mse", "seconds")
#: Every error of every evaluation (:func:`write_errors`).
ERRORS_FILE = "errors.csv"


def write_summary(out_dir: str | os.PathLike, *, recipe: str | dict, runs: Sequence[RunRecord]) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``history.csv`` (schema: module docstring) into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output folder, created if missing.
    recipe : str or dict
        The recipe as given (text, path or resolved table); JSON-serialisable.
    runs : sequence of RunRecord
        The runs, with unique labels.

    Returns
    -------
    (Path, Path)
        The paths of ``summary.json`` and ``history.csv``.
    """
    runs = _checked_runs(runs)
    document = {"recipe": recipe, "runs": [run.summary_entry() for run in runs]}
    try:
        text = json.dumps(document, indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"the recipe, params and extra fields must be plain JSON data (finite numbers); {error}") from None
    out_dir = Path(out_dir)
    rows = ((run.label, repr(cost), repr(value), repr(seconds)) for run in runs for cost, value, seconds in run.history)
    summary = write_atomically(out_dir / "summary.json", lambda file: file.write((text + "\n").encode()))
    history = _write_csv(out_dir / "history.csv", HISTORY_HEADER, rows)
    return summary, history


def _write_csv(path: Path, header: Sequence[str], rows) -> Path:
    """Write a header and rows of strings as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_atomically(path, lambda file: file.write(buffer.getvalue().encode()))


def read_summary(out_dir: str | os.PathLike) -> tuple[str | dict, list[RunRecord]]:
    """Read ``summary.json`` and ``history.csv`` written by :func:`write_summary`.

    Returns
    -------
    (recipe, runs)
        The recipe as written and one :class:`RunRecord` per run, whose
        ``extra`` holds the entry's keys beyond :data:`SUMMARY_KEYS`.

    Raises
    ------
    ValueError
        If a file is not valid JSON/CSV of the documented schema, or the two
        files disagree (a run without history rows, rows of an unknown run, or
        a final error that does not match the history).
    """
    out_dir = Path(out_dir)
    summary_path, history_path = out_dir / "summary.json", out_dir / "history.csv"
    document = _read_document(summary_path)
    histories = _read_history(history_path)
    runs = []
    for index, entry in enumerate(document["runs"]):
        missing = [key for key in SUMMARY_KEYS
                   if (not isinstance(entry, dict) or key not in entry) and key not in OPTIONAL_SUMMARY_KEYS]
        if missing:
            raise ValueError(f"{summary_path}: run {index} lacks the keys {', '.join(missing)}")
        label = entry["label"]
        if label not in histories:
            raise ValueError(f"{summary_path}: run {label!r} has no rows in {history_path}")
        try:
            run = RunRecord(
                label=label,
                params=entry["params"],
                history=histories.pop(label),
                total_cost=entry["total_cost"],
                wall_seconds=entry["wall_seconds"],
                extra={key: value for key, value in entry.items() if key not in SUMMARY_KEYS},
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"{summary_path}: run {index}: {error}") from None
        for key in ("final_val_mse", "cost_to_tenth"):
            if not _same(entry[key], getattr(run, key)):
                raise ValueError(
                    f"{summary_path} and {history_path} disagree on run {label!r}: "
                    f"{key} = {entry[key]!r} in the summary, {getattr(run, key)!r} from the history"
                )
        runs.append(run)
    if histories:
        raise ValueError(f"{history_path} has rows for runs missing from {summary_path}: {', '.join(map(repr, histories))}")
    return document["recipe"], runs


def _read_document(summary_path: Path) -> dict:
    """The object in ``summary.json``, checked for its two keys and for unique run labels."""
    try:
        document = json.loads(summary_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{summary_path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or set(document) != {"recipe", "runs"} or not isinstance(document["runs"], list):
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{summary_path} must be an object with exactly the keys 'recipe' and 'runs' (a list); got {found}")
    labels = [entry.get("label") if isinstance(entry, dict) else None for entry in document["runs"]]
    if not labels:
        raise ValueError(f"{summary_path} lists no runs")
    repeated = sorted({str(label) for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{summary_path}: run labels must be unique; repeated: {', '.join(repeated)}")
    return document


def _same(written: float | None, derived: float | None) -> bool:
    derived = _finite_or_none(derived)
    if written is None or derived is None:
        return written is None and derived is None
    return math.isclose(float(written), derived, rel_tol=1e-12, abs_tol=0.0)


def _read_history(path: Path) -> dict[str, list[tuple[float, float, float]]]:
    histories: dict[str, list[tuple[float, float, float]]] = {}
    with open(path, newline="") as file:
        rows = csv.reader(file)
        header = next(rows, None)
        if tuple(header or ()) != HISTORY_HEADER:
            raise ValueError(f"{path} must start with the header {','.join(HISTORY_HEADER)}; got {header!r}")
        for line, row in enumerate(rows, start=2):
            if len(row) != 4:
                raise ValueError(f"{path}, line {line}: expected 4 fields (label, cost, val_mse, seconds); got {row!r}")
            try:
                point = (float(row[1]), float(row[2]), float(row[3]))
            except ValueError:
                raise ValueError(f"{path}, line {line}: cost, val_mse and seconds must be numbers; got {row!r}") from None
            histories.setdefault(row[0], []).append(point)
    return histories


def write_errors(out_dir: str | os.PathLike, runs: Sequence[RunRecord]) -> Path:
    """Write :data:`ERRORS_FILE`: one row per evaluation of every run, one column per error.

    Header ``label,cost,NAME...`` with every error name of the runs'
    :attr:`RunRecord.evaluations` (e.g. ``val_l2,val_linf,val_rel_l2,
    train_l2,...``); a run that does not measure an error leaves its cell
    empty.  Floats are written with ``repr``; the file is written atomically.
    """
    runs = _checked_runs(runs)
    names = _error_names(runs)
    rows = ((run.label, repr(evaluation["cost"]), *(repr(evaluation[name]) if name in evaluation else "" for name in names))
            for run in runs for evaluation in run.evaluations)
    return _write_csv(Path(out_dir) / ERRORS_FILE, ("label", "cost", *names), rows)
