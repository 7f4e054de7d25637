"""MG/Opt in recipes: the ``[mgopt]`` table and the builder of a run's method.

``method = "mgopt"`` builds its network and its coarse networks as FAS does,
from the ``[fas]`` table (architecture, widths, coarsening, ``tau_batches`` =
minibatches of a sample, ``alpha_m``, ``eta``, ``cost_model``), and reads
MG/Opt's own options from ``[mgopt]`` (:class:`MgoptTable`).  ``[fas]
gamma_tau`` and ``alpha_p`` belong to FAS: MG/Opt's are ``[mgopt] coherence``
and ``alpha``.  Unlike FAS, MG/Opt takes any ``[train] optimizer`` as its
smoother (Adam and RMSProp keep their state per level; only SGD's momentum
is transferred with the parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.metrics import task_loss
from ..options import at_least, one_of, option, positive
from .fas_recipe import FasTable, build_network, check_fas_data, check_fas_run, coarsener_of, coarsening_options
from .mgopt import COHERENCES, OPEN_UNIT, MGOpt
from .registry import MethodSpec, register_method

__all__ = ["MgoptTable", "build_mgopt_method"]


@dataclass(frozen=True)
class MgoptTable:
    """The ``[mgopt]`` recipe table."""

    coherence: str = option("first-order", one_of(COHERENCES), "coarse model: first-order coherent, or the plain coarse problem")
    lam: float = option(0.0, at_least(0.0), "lambda of the proximal term (lambda / 2) ||xb - xb_k||^2")
    alpha: float = option(1.0, positive(), "step of the correction (the first one the line search tries)")
    line_search: bool = option(False, "true or false", "Armijo backtracking on the fine objective over the sample")
    kappa: float = option(0.25, OPEN_UNIT, "gate: correct only if ||R_g grad f||^2 > kappa ||grad f||^2 (0.25: seed 004's kappa_1 = 0.5 on norms)")
    kappa_min: float = option(0.0, at_least(0.0), "gate: and only if ||R_g grad f|| >= kappa_min")
    armijo: float = option(1e-4, OPEN_UNIT, "sufficient-decrease constant c of the line search")
    backtracks: int = option(4, at_least(0, integer=True), "most step halvings of the line search")


def _check_run(run) -> None:
    fas = run.extra["fas"]
    for key, default in (("gamma_tau", 1.0), ("alpha_p", 1.0)):
        if getattr(fas, key) != default:
            replacement = "coherence" if key == "gamma_tau" else "alpha"
            raise ValueError(f"[fas] {key} is FAS's; method 'mgopt' takes [mgopt] {replacement} instead; got [fas] {key} = {getattr(fas, key)!r}")
    check_fas_run(run, method="mgopt")


def build_mgopt_method(run, dataset, device: torch.device | str) -> MGOpt:
    """The MG/Opt method of a recipe run."""
    fas, mgopt = run.extra["fas"], run.extra["mgopt"]
    return MGOpt(
        build_network(run, dataset).to(device), levels=run.hierarchy.levels, coherence=mgopt.coherence, lam=mgopt.lam,
        alpha=mgopt.alpha, line_search=mgopt.line_search, kappa=mgopt.kappa, kappa_min=mgopt.kappa_min,
        armijo=mgopt.armijo, backtracks=mgopt.backtracks, coarsening=coarsening_options(run, dataset), transfer=coarsener_of(run),
        rematch_every=fas.rematch_every, tau_batches=fas.tau_batches, alpha_m=fas.alpha_m, eta=fas.eta, lr=run.train.lr,
        momentum=run.train.momentum, cost_model=fas.cost_model, smoother=run.train.optimizer,
        input_shape=dataset.unit_shape if fas.architecture == "cnn" else None, seed=run.train.seed, loss=task_loss(dataset),
    )


register_method("mgopt", MethodSpec(build=build_mgopt_method, tables={"fas": FasTable, "mgopt": MgoptTable}, uses_model=False,
                                    check=_check_run, check_data=check_fas_data), replace=True)
