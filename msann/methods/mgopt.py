"""MG/Opt (Nash; Kreis, seed 004 ch. 2-3; seed 001; SPEC §5): gated, line-searched coarse corrections.

MG/Opt trains on FAS's hierarchy -- the same coarse networks, transfers,
first-order term and momentum handling (:class:`~msann.methods.fas.FAS`) --
and adds three things:

Coarse model.  At the restriction ``xb_k = R_p x_k`` a coarse level minimises::

    h(xb) = f_H(xb) + <R_g grad f(x_k) - grad f_H(xb_k), xb> + (lambda / 2) ||xb - xb_k||^2

on the minibatches of its sample (``coherence = "first-order"``; the linear
term is FAS's ``-tau``, so at ``lambda = 0`` ``h`` is FAS's objective at
``gamma_tau = 1``), or ``f_H + lambda`` term alone (``coherence = "none"``,
the plain coarse problem that seed 004 §3.5 reports as faster in training
time).  Every term is evaluated on the same sample ``xi`` (stochastic
MG/Opt): with one minibatch per sample, ``grad h(xb_k; xi) = R_g grad f(x_k; xi)``
exactly.

Gate (seed 004 Alg. 5, App. B.2).  At a ``down`` event the fine gradient on
the sample decides: the coarse visit happens only if
``||R_g grad f||^2 > kappa ||grad f||^2``, ``||R_g grad f|| >= kappa_min`` and
the previous decision at this level was not a correction; otherwise the
visit is skipped (it costs only the gradient) and the fine smoother goes on.

Correction.  ``e = P_p (xb* - xb_k)`` and ``x <- x + alpha e`` with a fixed
``alpha``, or (``line_search``) Armijo backtracking on the fine objective
over the sample: ``alpha, alpha / 2, ...`` until
``f(x + alpha e) <= f(x) + c alpha <grad f, e>`` and ``f(x + alpha e) < f(x)``.
A rejected correction leaves the parameters and the smoother's state exactly
as they were.  Under ``torchrun`` the gate's gradient and the line search's
losses are averaged over the ranks (global minibatches), so every rank takes
the same decisions.  Accepted and rejected corrections and the gate's decisions are
counted in ``summary.json``.
"""

from __future__ import annotations

import math

import torch

from graphprolong.checks import check_choice, check_positive, check_positive_int

from ..core.distributed import average_value
from ..core.transfer import load_parameters, parameters_of
from ..options import Rule, at_least, check_rule
from .fas import FAS

__all__ = ["COHERENCES", "OPEN_UNIT", "MGOpt"]

#: Coarse models: the first-order coherent one, or the plain coarse problem.
COHERENCES = ("first-order", "none")

_COUNTS = ("gate_open", "gate_closed", "accepted", "rejected")
#: kappa and the Armijo constant lie strictly between 0 and 1.
OPEN_UNIT = Rule("a number in (0, 1)", lambda value: 0.0 < value < 1.0)


def _dot(left: dict, right: dict) -> torch.Tensor:
    return sum((left[name] * right[name]).sum() for name in left)


class MGOpt(FAS):
    """MG/Opt on FAS's hierarchy (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Sequential
        The finest network; trained in place.
    levels : int
        Coarse levels ``L >= 0`` (0: plain SGD).
    coherence : {"first-order", "none"}
    lam : float
        ``lambda >= 0`` of the proximal term.
    alpha : float
        The correction's step (the first one tried by the line search), ``> 0``.
    line_search : bool
        Armijo backtracking on the fine objective over the sample.
    kappa : float
        Gate ratio in ``(0, 1)`` on squared norms (0.25: seed 004 App. B.2's ``kappa_1 = 0.5`` on norms).
    kappa_min : float
        Smallest ``||R_g grad f||`` that opens the gate (``>= 0``).
    armijo : float
        Sufficient-decrease constant ``c`` in ``(0, 1)``.
    backtracks : int
        Most step halvings of the line search.
    **options
        FAS's: ``coarsening``, ``transfer``, ``rematch_every``, ``tau_batches``
        (minibatches of a sample), ``alpha_m``, ``eta``, ``lr``, ``momentum``,
        ``cost_model``, ``input_shape``, ``seed``, ``loss``, ``smoother``.
    """

    def __init__(self, model, *, levels: int, coherence: str = "first-order", lam: float = 0.0, alpha: float = 1.0,
                 line_search: bool = False, kappa: float = 0.25, kappa_min: float = 0.0, armijo: float = 1e-4,
                 backtracks: int = 4, **options) -> None:
        self.coherence = check_choice("coherence", coherence, COHERENCES)
        self.lam = check_rule("lambda", lam, at_least(0.0))
        self.kappa = check_rule("kappa", kappa, OPEN_UNIT)
        self.kappa_min = check_rule("kappa_min", kappa_min, at_least(0.0))
        self.armijo = check_rule("armijo", armijo, OPEN_UNIT)
        self.backtracks = check_positive_int("backtracks", backtracks, minimum=0)
        if not isinstance(line_search, bool):
            raise TypeError(f"line_search must be a bool; got {type(line_search).__name__} {line_search!r}")
        self.line_search = line_search
        super().__init__(model, levels=levels, gamma_tau=1.0 if coherence == "first-order" else 0.0,
                         alpha_p=check_positive("alpha", alpha), **options)
        self.counts = dict.fromkeys(_COUNTS, 0)
        for level in self.hierarchy:
            level.state["corrected"] = False

    batch_keys = ("tau_batch", "sample")

    def _objective(self, level: int, inputs: torch.Tensor, targets: torch.Tensor):
        objective, data = super()._objective(level, inputs, targets)
        anchor = self.hierarchy[level - 1].state["restricted"] if level > self._top else None  # a nested stage's top: no proximal term
        if self.lam and anchor is not None:
            parameters = self.hierarchy[level].model.named_parameters()
            objective = objective + 0.5 * self.lam * sum(((p - anchor[name]) ** 2).sum() for name, p in parameters)
        return objective, data

    def _enter(self, level: int, fine_gradient: dict, batches: list) -> bool:
        """The gate: ``||R_g g||^2 > kappa ||g||^2``, ``||R_g g|| >= kappa_min``, and no correction just before."""
        state = self.hierarchy[level].state
        restricted = self.hierarchy[level].transfer.restrict_gradient(fine_gradient)
        coarse_norm, fine_norm = float(_dot(restricted, restricted)), float(_dot(fine_gradient, fine_gradient))
        opened = coarse_norm > self.kappa * fine_norm and math.sqrt(coarse_norm) >= self.kappa_min and not state["corrected"]
        state["corrected"] = opened
        self.counts["gate_open" if opened else "gate_closed"] += 1
        if opened:
            state["sample"], state["gradient"] = batches, fine_gradient
        return opened

    def _sample_objective(self, level: int) -> float:
        batches = self.hierarchy[level].state["sample"]
        with torch.no_grad():  # averaged over the ranks of torchrun: every rank accepts or rejects alike
            return average_value(sum(float(self._objective(level, x, y)[0]) for x, y in batches) / len(batches))

    def up(self, level: int, stream) -> float:
        """The correction, with a fixed step or Armijo backtracking; returns the line search's work."""
        if not self.line_search:  # a fixed step: every correction is taken
            self.counts["accepted"] += 1
            return super().up(level, stream)
        fine, coarse = self.hierarchy[level], self.hierarchy[level + 1]
        start = {name: value.clone() for name, value in parameters_of(fine.model).items()}
        change = fine.transfer.prolong({n: p - fine.state["restricted"][n] for n, p in parameters_of(coarse.model).items()})
        slope = float(_dot(fine.state["gradient"], change))
        before, alpha, evaluations = self._sample_objective(level), self.alpha_p, 1
        for _ in range(self.backtracks + 1):
            load_parameters(fine.model, {n: start[n] + alpha * change[n] for n in start})
            after, evaluations = self._sample_objective(level), evaluations + 1
            if after < before and after <= before + self.armijo * alpha * slope:
                break
            alpha /= 2
        else:
            alpha = None
        load_parameters(fine.model, start)
        if alpha is None:  # rejected: parameters and smoother state as they were
            self.counts["rejected"] += 1
            fine.state["restricted"] = fine.state["restricted_momentum"] = None
            coarse.state["tau"], coarse.state["tau_batch"] = None, []
        else:
            self.counts["accepted"] += 1
            self._correct(level, alpha=alpha)
        return evaluations * len(fine.state["sample"]) * self._batch_size * fine.relative_cost

    def summary_fields(self, result) -> dict:
        return {**super().summary_fields(result), **{f"corrections_{key}" if key in ("accepted", "rejected") else key: value
                                                      for key, value in self.counts.items()}}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.counts = dict(state["counts"])

    def __repr__(self) -> str:
        return f"MGOpt(levels={self.depth}, coherence={self.coherence!r}, lambda={self.lam})\n{self.hierarchy!r}"

