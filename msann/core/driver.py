"""The training driver shared by every multilevel method: cycles, cost, evaluation, checkpoints.

:func:`train` walks the events of gamma-cycles (:func:`msann.core.cycle.cycle_events`)
over a :class:`~msann.core.method.MultilevelMethod` until the training cost
reaches its budget.  Cost (SPEC §3): a step at level ``l`` on a minibatch of
``b`` examples costs ``relative_cost_l * b`` (``b`` = batch size times the
level's ``batches``); a ``down`` or ``up`` event adds
the cost of the work it reports, where it happens; a coarse visit that the
method skips at its ``down`` event runs nothing and costs nothing.  ``C(t)``
is the sum.  The validation error (the task's metrics,
:mod:`msann.core.metrics`) is logged at cost 0, on a log-spaced cost grid
(:class:`msann.report.CostGrid`), and at the end, with the training seconds
so far: wall clock less the evaluations' and the checkpoints' own time (how
often to log and to save is the user's choice; both are reported apart);
``wall_seconds`` includes them.

Checkpoints.  Every ``checkpoint_every`` seconds (and at the end) the whole
state -- the method's (parameters, smoother states, per-level state), the
minibatch stream's, the position in the cycle, the cost, the log -- is
written atomically with a SHA-256 checksum (:mod:`msann.core.checkpoint`).  A
run resumed from a checkpoint continues exactly as the uninterrupted run
would have (same batches, same steps), so it ends at the same result.

Divergence.  Losses are checked for NaN/inf at every evaluation and before
every checkpoint (one device synchronisation each, not one per step); a
non-finite loss or validation error stops the run with
:class:`~msann.core.checkpoint.DivergenceError`, and the last good
checkpoint is left untouched (the message says when none was written yet).

Under ``torchrun`` (:mod:`msann.core.distributed`) every rank runs this loop
in step: losses are checked over the global minibatches, rank 0 alone reads
and writes the checkpoint (the others receive its state, or wait for the
write), and the ranks agree when to save and to stop.  A checkpoint holds no
state of the number of ranks: it resumes on any.

Interruption.  :func:`request_stop` (called by the ``msann`` CLI's SIGINT
handler) sets a flag that the loop checks between events, at the same safe
points as the periodic checkpoints: the loop then saves a checkpoint and
raises :class:`TrainingInterrupted`.  A run resumed from it ends where the
uninterrupted run ends.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from graphprolong.checks import check_positive, check_positive_int

from ..report import CostGrid
from .checkpoint import DivergenceError, fingerprint, first_non_finite, resume_state, save_checkpoint
from .cycle import matching_up, per_level, training_events
from .distributed import agree, average_tensors, main_only, reset_agreement
from .interrupt import TrainingInterrupted, clear_stop, request_stop, running, stop_requested, training_active
from .method import MultilevelMethod
from .metrics import mse_errors

__all__ = ["TrainResult", "TrainingInterrupted", "clear_stop", "request_stop", "train", "training_active"]

logger = logging.getLogger(__name__)

@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    history : list of (cost, error, seconds)
        The logged validation error against cost and training seconds (wall
        clock less the evaluations' and checkpoints' own time).
    total_cost : float
    wall_seconds : float
        Wall-clock seconds, summed over resumed segments.
    steps : int
        Smoothing steps taken.
    cycles : float
        Cycles completed (fractional when the budget ended one midway).
    evaluations : list of dict
        Every evaluation's full dict (the metrics may report several errors).
    skipped : int
        Coarse visits the method skipped at a ``down`` event.
    evaluation_seconds, checkpoint_seconds : float
        Seconds spent evaluating and writing checkpoints (in ``wall_seconds``, not in the history).
    event_seconds : dict
        Where the training seconds went: ``"data L<l>"`` (drawing a minibatch), ``"step L<l>"`` (forward,
        backward, update), ``"<down|up|descend|ascend> L<l>"`` (transfers); indicative on a GPU (asynchronous).
    """

    history: list
    total_cost: float
    wall_seconds: float
    steps: int
    cycles: float
    evaluations: list
    skipped: int = 0
    evaluation_seconds: float = 0.0
    checkpoint_seconds: float = 0.0
    event_seconds: dict = dataclasses.field(default_factory=dict)


def _training_key(key: str) -> str:
    """The name of a validation error measured on training data: ``val_l2`` -> ``train_l2``."""
    return "train_" + key.removeprefix("val_")


def _progress(total: float, label: str, enabled: bool | None):
    from tqdm.auto import tqdm

    enabled = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, desc=label, unit="cost", disable=not enabled, leave=False, dynamic_ncols=True)


class _Training:
    """The loop's state and bookkeeping (one :func:`train` call)."""

    def __init__(self, method, stream, *, events, repeat_from, visits, step_costs, grid, path, run_fingerprint, label,
                 evaluate, on_evaluate):
        self.method, self.stream, self.events, self.visits = method, stream, events, visits
        self.repeat_from = repeat_from  # events before it (a nested start) run once; the rest is the repeated cycle
        self.step_costs, self.grid, self.path, self.fingerprint, self.label = step_costs, grid, path, run_fingerprint, label
        self._evaluate, self._on_evaluate = evaluate, on_evaluate
        self.ups = {position: matching_up(events, position) for position, event in enumerate(events) if event.kind == "down"}
        self.state = {"position": 0, "substep": 0, "cost": 0.0, "steps": 0, "cycles": 0, "skipped": 0, "seconds": 0.0,
                      "evaluation_seconds": 0.0, "checkpoint_seconds": 0.0, "event_seconds": {}, "history": [], "evaluations": []}
        self.losses: list = []
        self.began, self.offset, self.bar = time.perf_counter(), 0.0, None

    def resume(self, saved: dict) -> None:
        self.method.load_state_dict(saved["method"])
        self.stream.load_state_dict(saved["stream"])
        self.grid.load_state_dict(saved["grid"])
        self.state = saved["loop"]
        self.state.setdefault("checkpoint_seconds", 0.0)  # checkpoints of older versions
        self.state.setdefault("event_seconds", {})
        self.offset = self.state["seconds"]
        logger.info("resumed %s from %s at cost %.6g (%d steps)", self.label, self.path, self.state["cost"], self.state["steps"])

    def seconds(self) -> float:
        return self.offset + time.perf_counter() - self.began

    def _kept(self) -> str:
        if self.path is None:
            return "No checkpoint is written for this run."
        if not (self.path.exists() or self.path.with_name(self.path.name + ".prev").exists()):
            return f"No checkpoint had been written yet ({self.path} does not exist)."
        return f"The last good checkpoint {self.path} is kept."

    def check_losses(self) -> None:
        if self.losses:
            values = torch.stack(self.losses)
            average_tensors([values])  # under torchrun: the global minibatches' losses, so every rank stops alike
            if not bool(torch.isfinite(values).all()):
                raise DivergenceError(
                    f"{self.label}: the training loss became {float(values[~torch.isfinite(values)][0])} near cost "
                    f"{self.state['cost']:.6g} (step {self.state['steps']}); stopped. {self._kept()}"
                )
            self.losses.clear()

    def training_seconds(self) -> float:
        """Seconds so far less those spent evaluating and saving (costs of logging that a user chooses)."""
        return self.seconds() - self.state["evaluation_seconds"] - self.state["checkpoint_seconds"]

    def evaluate(self) -> None:
        self.check_losses()
        began = time.perf_counter()
        errors = self._evaluate()
        self.state["evaluation_seconds"] += time.perf_counter() - began
        error = next(iter(errors.values()))
        if not math.isfinite(error):
            raise DivergenceError(f"{self.label}: the validation error became {error} at cost {self.state['cost']:.6g}; stopped. {self._kept()}")
        self.state["history"].append((self.state["cost"], error, self.training_seconds()))
        self.state["evaluations"].append(dict(errors, cost=self.state["cost"]))
        if self._on_evaluate is not None:
            self._on_evaluate(self.state["cost"], errors)

    def save(self) -> None:
        if self.path is None:
            return
        self.check_losses()
        method_state = self.method.state_dict()
        bad = first_non_finite(method_state)
        if bad is not None:
            raise DivergenceError(
                f"{self.label}: {bad} became non-finite near cost {self.state['cost']:.6g} (step {self.state['steps']}); "
                f"stopped. {self._kept()}"
            )
        began = time.perf_counter()
        self.state["seconds"] = self.seconds()
        state = {"fingerprint": self.fingerprint, "method": method_state, "stream": self.stream.state_dict(),
                 "grid": self.grid.state_dict(), "loop": self.state}
        main_only(lambda: save_checkpoint(self.path, state))  # rank 0 writes; the other ranks wait for it
        self.state["checkpoint_seconds"] += time.perf_counter() - began

    def charge(self, cost: float) -> None:
        if cost:
            self.state["cost"] += float(cost)
            self.bar.update(min(float(cost), max(self.grid.budget - self.bar.n, 0)))

    def clock(self, key: str, began: float) -> float:
        """Add the seconds since ``began`` to ``key`` of :attr:`TrainResult.event_seconds`; returns now."""
        now, seconds = time.perf_counter(), self.state["event_seconds"]
        seconds[key] = seconds.get(key, 0.0) + now - began
        return now

    def event(self) -> bool:
        """Run the current event (or one smoothing step of it); True when the event is complete."""
        state = self.state
        kind, level = self.events[state["position"]]
        began = time.perf_counter()
        if kind == "smooth":
            inputs, targets = self.method.batch(level, self.stream)
            began = self.clock(f"data L{level}", began)
            self.losses.append(self.method.smooth_step(level, inputs, targets))
            self.clock(f"step L{level}", began)
            self.charge(self.step_costs[level])
            state["steps"] += 1
            if self.grid.due(state["cost"]):
                self.evaluate()
            state["substep"] += 1
            return state["substep"] >= self.visits[level]
        if kind == "down":
            descent = self.method.down(level, self.stream)
            self.charge(descent.cost)
            if descent.skip:
                state["skipped"] += 1
                state["position"] = self.ups[state["position"]]  # the visit's events are not run, not charged
        elif kind == "up":
            self.charge(self.method.up(level, self.stream))
        elif kind == "descend":
            self.charge(self.method.descend(level))
        else:
            self.charge(self.method.ascend(level))
        self.clock(f"{kind} L{level}", began)
        return True

    def advance(self) -> None:
        state = self.state
        state["substep"] = 0
        state["position"] += 1
        if state["position"] == len(self.events):
            state["position"], state["cycles"] = self.repeat_from, state["cycles"] + 1

    def result(self) -> TrainResult:
        state = self.state
        return TrainResult(
            history=[tuple(point) for point in state["history"]], total_cost=state["cost"], wall_seconds=state["seconds"],
            steps=state["steps"],
            cycles=state["cycles"] + max(state["position"] - self.repeat_from, 0) / (len(self.events) - self.repeat_from),
            evaluations=list(state["evaluations"]), skipped=state["skipped"],
            evaluation_seconds=state["evaluation_seconds"], checkpoint_seconds=state["checkpoint_seconds"],
            event_seconds=dict(state["event_seconds"]))


def _evaluator(method: MultilevelMethod, metrics: Callable, validation: tuple, training: tuple | None) -> Callable[[], dict]:
    """The errors of one evaluation: the validation set's, then (when finite) the training subset's as ``train_*``."""
    def evaluate() -> dict:
        errors = metrics(method.predict, *validation)
        if training is not None and math.isfinite(next(iter(errors.values()))):
            errors.update({_training_key(key): value for key, value in metrics(method.predict, *training).items()})
        return errors

    return evaluate


def train(
    method: MultilevelMethod,
    stream,
    validation: tuple,
    *,
    training: tuple | None = None,
    metrics: Callable[..., dict] = mse_errors,
    gamma: int = 1,
    k: int | Sequence[int] = 1,
    cost_budget: float,
    batch_size: int,
    eval_points: int = 60,
    checkpoint: str | Path | None = None,
    checkpoint_every: float = 30.0,
    resume: bool = False,
    params: dict | None = None,
    label: str = "run",
    progress: bool | None = None,
    max_steps: int | None = None,
    on_evaluate: Callable[[float, dict], None] | None = None,
    start: str = "finest",
    stage_cycles: int = 1,
    stage: str = "cycles",
    stage_growth: float = 1.0,
) -> TrainResult:
    """Train ``method`` with gamma-cycles until the cost reaches ``cost_budget``.

    Parameters
    ----------
    method : MultilevelMethod
    stream : msann.data.MinibatchStream
        Infinite ``(inputs, targets)`` minibatches with ``state_dict``.
    validation : (inputs, targets)
        Tensors on the method's device.
    training : (inputs, targets), optional
        A fixed subset of the training data, evaluated at the same points as
        ``validation``; its errors join each evaluation with the prefix
        ``train_`` in place of ``val_`` (``val_l2`` -> ``train_l2``).
    metrics : callable
        The task's metrics (a value of :data:`msann.core.metrics.METRICS`);
        the first error it returns is the logged history.
    gamma : int
        Recursion count (1: V-cycle, 2: W-cycle).
    k : int or sequence of int
        Smoothing batches per visit (one value per level when a sequence).
    cost_budget : float
        Stop once ``C(t) >= cost_budget``.
    batch_size : int
        Examples per minibatch (the stream's).
    eval_points : int
        Points of the log-spaced cost grid.
    checkpoint : path, optional
        Checkpoint file; none are written when omitted.
    checkpoint_every : float
        Seconds between checkpoints.
    resume : bool
        Continue from ``checkpoint`` (or its ``.prev``) when it exists.
    params : dict, optional
        The run's configuration; its hash is stored in the checkpoint, and a
        checkpoint of another configuration is refused.
    label : str
        Progress-bar label.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    max_steps : int, optional
        Stop (with a checkpoint) after this many steps in this call: a clean
        interruption, used to test resuming.
    on_evaluate : callable, optional
        Called as ``on_evaluate(cost, errors)`` after each evaluation.
    start, stage_cycles, stage, stage_growth
        ``start = "coarsest"``: nested iteration first; see
        :func:`msann.core.cycle.training_events` (with no coarse level it changes nothing).
    """
    depth = method.hierarchy.depth
    gamma = check_positive_int("gamma", gamma)
    visits = [check_positive_int("k", value) for value in per_level("k", k, depth)]
    cost_budget = check_positive("cost_budget", cost_budget)
    batch_size = check_positive_int("batch_size", batch_size)
    step_costs = [level.relative_cost * batch_size * level.batches for level in method.hierarchy.levels]
    path = Path(checkpoint) if checkpoint is not None else None
    run_fingerprint = fingerprint(params or {})
    grid = CostGrid(cost_budget, points=eval_points, first=min(step_costs))
    events, repeat_from = training_events(depth, gamma, start=start, stage_cycles=stage_cycles, stage=stage, growth=stage_growth)
    loop = _Training(method, stream, events=events, repeat_from=repeat_from,
                     visits=visits, step_costs=step_costs,
                     grid=grid, path=path, run_fingerprint=run_fingerprint, label=label,
                     evaluate=_evaluator(method, metrics, validation, training), on_evaluate=on_evaluate)
    saved = main_only(lambda: resume_state(path, run_fingerprint)) if (resume and path is not None) else None  # rank 0 reads
    if saved is not None:
        loop.resume(saved)
    return _run(loop, cost_budget=cost_budget, label=label, progress=progress, max_steps=max_steps,
                checkpoint_every=checkpoint_every)


def _run(loop: _Training, *, cost_budget: float, label: str, progress: bool | None, max_steps: int | None,
         checkpoint_every: float) -> TrainResult:
    if stop_requested():  # asked to stop before this run trained: nothing to save
        raise TrainingInterrupted(label, loop.state["cost"], None)
    reset_agreement()
    with running():
        return _loop(loop, cost_budget=cost_budget, label=label, progress=progress, max_steps=max_steps,
                     checkpoint_every=checkpoint_every)


def _loop(loop: _Training, *, cost_budget: float, label: str, progress: bool | None, max_steps: int | None,
          checkpoint_every: float) -> TrainResult:
    state = loop.state
    if not state["history"]:
        loop.evaluate()
    last_save, steps_here = time.perf_counter(), 0
    with _progress(cost_budget, label, progress) as loop.bar:
        loop.bar.update(min(state["cost"], cost_budget))
        while state["cost"] < cost_budget:
            steps_before = state["steps"]
            complete = loop.event()
            steps_here += state["steps"] - steps_before
            if not complete:
                continue
            loop.advance()
            stop, due = agree(stop=stop_requested(), save=time.perf_counter() - last_save >= checkpoint_every)  # alike on every rank
            if stop:
                loop.save()
                raise TrainingInterrupted(label, state["cost"], loop.path)
            if max_steps is not None and steps_here >= max_steps:
                loop.save()
                return loop.result()
            if loop.path is not None and due:
                loop.save()
                last_save = time.perf_counter()
    if not state["history"] or state["history"][-1][0] != state["cost"]:
        loop.evaluate()
    loop.save()
    state["seconds"] = loop.seconds()
    return loop.result()
