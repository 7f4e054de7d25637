"""A coarse level's visit: restriction, the first-order term, and the correction (seed 000; seed 004; SPEC §4-5).

These are the pieces that FAS and MG/Opt share, on two adjacent levels of a
:class:`~msann.core.level.Hierarchy` whose fine level holds the
:class:`~msann.core.transfer.Transfer` to the coarse one:

- :func:`restrict_level`: ``x_c = R_p x`` into the coarse model, and SGD
  momentum likewise (seed 000 §6.1.2); ``R_p x`` is kept in the fine level's
  state for the correction;
- :func:`first_order_term`: ``tau = mean_i grad g_c(x_c; B_i) - R_g mean_i
  grad g_f(x; B_i)`` over minibatches ``B_i``.  The coarse objective
  ``g_c(x_c) - <x_c, tau>`` then has the gradient ``R_g grad g_f(x)`` at
  ``x_c = R_p x``: FAS's tau correction (seed 000 eq. 3) and MG/Opt's
  first-order coherence (seed 004 ch. 3, whose linear term is ``-tau``);
- :func:`correct_level`: ``x <- x + alpha P_p (x_c - R_p x)``, and momentum
  with its own damping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .distributed import average_tensors
from .level import Level
from .smoothing import load_sgd_momentum_buffers, sgd_momentum_buffers
from .transfer import load_parameters, parameters_of

__all__ = ["correct_level", "first_order_term", "mean_gradient", "restrict_level"]


def restrict_level(fine: Level, coarse: Level, *, momentum: bool) -> None:
    """``x_c = R_p x`` (and ``m_c = R_p m`` with ``momentum``); ``R_p x`` is kept in ``fine.state["restricted"]``."""
    restricted = fine.transfer.restrict(parameters_of(fine.model))
    load_parameters(coarse.model, restricted)
    fine.state["restricted"] = {name: value.clone() for name, value in restricted.items()}
    if momentum:
        buffers = fine.transfer.restrict(sgd_momentum_buffers(fine.smoother, fine.model))
        load_sgd_momentum_buffers(coarse.smoother, coarse.model, buffers)
        fine.state["restricted_momentum"] = buffers


def correct_level(fine: Level, coarse: Level, *, alpha: float, alpha_momentum: float | None = None) -> None:
    """``x += alpha P_p (x_c - R_p x)`` and, with ``alpha_momentum``, ``m += alpha_momentum P_p (m_c - R_p m)``."""
    if fine.state.get("restricted") is None:
        raise RuntimeError(f"level {fine.index} has no restriction to correct from: up({fine.index}) without down({fine.index})")
    corrected = fine.transfer.correct(parameters_of(fine.model), parameters_of(coarse.model), fine.state["restricted"], alpha=alpha)
    load_parameters(fine.model, corrected)
    if alpha_momentum is not None:
        buffers = fine.transfer.correct(sgd_momentum_buffers(fine.smoother, fine.model),
                                        sgd_momentum_buffers(coarse.smoother, coarse.model),
                                        fine.state["restricted_momentum"], alpha=alpha_momentum)
        load_sgd_momentum_buffers(fine.smoother, fine.model, buffers)
    fine.state["restricted"] = fine.state["restricted_momentum"] = None


def mean_gradient(model: torch.nn.Module, objective: Callable, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``mean_i grad objective(B_i)`` with respect to ``model``'s parameters, by name (zero for frozen ones).

    Under ``torchrun`` the means are averaged over the ranks (each holds its
    slices of the minibatches): the gradient of the global minibatches.
    """
    names, parameters = zip(*model.named_parameters())
    trainable = [p for p in parameters if p.requires_grad]
    sums = [torch.zeros_like(p) for p in parameters]
    for inputs, targets in batches:
        gradients = iter(torch.autograd.grad(objective(inputs, targets), trainable))
        for total, parameter in zip(sums, parameters):
            if parameter.requires_grad:
                total.add_(next(gradients))
    average_tensors(sums)
    return {name: total / len(batches) for name, total in zip(names, sums)}


def first_order_term(fine: Level, coarse: Level, batches: Sequence[tuple[torch.Tensor, torch.Tensor]], *,
                     fine_objective: Callable, coarse_loss: Callable,
                     fine_gradient: dict[str, torch.Tensor] | None = None,
                     coarse_batches: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None) -> dict[str, torch.Tensor]:
    """``tau = mean_i grad g_c(x_c; B_i) - R_g mean_i grad g_f(x; B_i)`` (module docstring).

    ``fine_objective(inputs, targets)`` is the fine level's objective
    (including its own first-order term on deeper levels), ``coarse_loss``
    the coarse level's data loss; means over the minibatches make
    ``grad (g_c - <., tau>)(R_p x) = R_g grad g_f(x)`` hold exactly.
    ``fine_gradient`` is the fine mean gradient when already computed;
    ``coarse_batches`` the same minibatches at the coarse level's data
    (default: ``batches``; a coarse-data level's are their block means).
    """
    if fine_gradient is None:
        fine_gradient = mean_gradient(fine.model, fine_objective, batches)
    restricted = fine.transfer.restrict_gradient(fine_gradient)
    coarse_gradient = mean_gradient(coarse.model, coarse_loss, batches if coarse_batches is None else coarse_batches)
    return {name: gradient - restricted[name] for name, gradient in coarse_gradient.items()}
