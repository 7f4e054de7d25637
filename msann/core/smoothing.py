"""Smoothers and the one smoothing step that every method uses.

A smoother is an ordinary ``torch.optim`` optimiser over one level's
parameters, with its own state (:func:`make_smoother`).  :func:`smoothing_step`
is the single place where a level's parameters move during smoothing: the
method supplies the level's objective (MsANN: the fine loss; FAS: the coarse
loss minus the tau term; MG/Opt: the same plus its proximal term), the step
does ``zero_grad``, ``backward``, the data-parallel gradient average
(:func:`msann.core.distributed.average_gradients`: one flattened
``all_reduce`` over the ranks of ``torchrun``, nothing with one process) and
``step``, here and nowhere else.

SGD momentum is part of the state a coarse-level correction transfers
(seed 000 §6.1.2): :func:`sgd_momentum_buffers` and
:func:`load_sgd_momentum_buffers` move it in and out of a ``torch.optim.SGD``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from graphprolong.checks import check_choice, check_positive

from .distributed import average_gradients

__all__ = ["SMOOTHERS", "load_sgd_momentum_buffers", "make_smoother", "sgd_momentum_buffers", "smoothing_step"]

#: Smoothers: name -> (torch.optim class name, options it takes besides lr).
SMOOTHERS = {
    "adam": ("Adam", ()),
    "sgd": ("SGD", ("momentum",)),
    "rmsprop": ("RMSprop", ("momentum",)),
}


def make_smoother(name: str, parameters: Iterable[nn.Parameter], *, lr: float, momentum: float = 0.0) -> torch.optim.Optimizer:
    """A ``torch.optim`` optimiser over ``parameters`` (one per level: each keeps its own state).

    Parameters
    ----------
    name : {"adam", "sgd", "rmsprop"}
    parameters : iterable of torch.nn.Parameter
    lr : float
        Learning rate, > 0.
    momentum : float
        In [0, 1); only for ``sgd`` and ``rmsprop`` (Adam's betas are torch's defaults).
    """
    check_choice("smoother", name, SMOOTHERS)
    lr = check_positive("lr", lr)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1); got {momentum}")
    if momentum and "momentum" not in SMOOTHERS[name][1]:
        raise ValueError(f"smoother {name!r} takes no momentum (only {[k for k, v in SMOOTHERS.items() if v[1]]} do); got {momentum}")
    class_name, extra = SMOOTHERS[name]
    options = {"momentum": momentum} if "momentum" in extra else {}
    if name == "adam":  # one fused kernel per step: 4.4 ms instead of 6.7 ms on the demo's network, 0.5 instead of 0.9 on a tiny one
        options["fused"] = True
    return getattr(torch.optim, class_name)(list(parameters), lr=lr, **options)


def smoothing_step(smoother: torch.optim.Optimizer, objective: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """One step of ``smoother`` on ``objective``; returns the step's data loss, detached.

    ``objective()`` returns ``(loss to minimise, data loss to log)``; they are
    the same tensor when the level's objective is its data loss.  Under
    ``torchrun`` the gradients are averaged over the ranks before the step
    (each rank's loss is the mean over its slice of the global minibatch), and
    the data loss returned is this rank's.
    """
    smoother.zero_grad(set_to_none=True)
    loss, data = objective()
    loss.backward()
    average_gradients(smoother)
    smoother.step()
    return data.detach()


def sgd_momentum_buffers(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, torch.Tensor]:
    """The ``momentum_buffer`` of every parameter of ``model`` in ``optimizer``'s state (zeros where absent)."""
    buffers = {}
    for key, parameter in model.named_parameters():
        buffer = optimizer.state.get(parameter, {}).get("momentum_buffer")
        buffers[key] = torch.zeros_like(parameter.detach()) if buffer is None else buffer.detach().clone()
    return buffers


def load_sgd_momentum_buffers(optimizer: torch.optim.Optimizer, model: nn.Module, buffers: Mapping[str, torch.Tensor]) -> None:
    """Set ``optimizer``'s ``momentum_buffer`` of each parameter of ``model`` to a copy of ``buffers[name]``."""
    parameters = dict(model.named_parameters())
    if set(buffers) != set(parameters):
        raise KeyError(f"buffers must have the keys {sorted(parameters)}; got {sorted(buffers)}")
    managed = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for key, parameter in parameters.items():
        if id(parameter) not in managed:
            raise ValueError(f"parameter {key} is not managed by this optimizer")
        if buffers[key].shape != parameter.shape:
            raise ValueError(f"momentum buffer {key} must have shape {tuple(parameter.shape)}; got {tuple(buffers[key].shape)}")
        optimizer.state[parameter]["momentum_buffer"] = buffers[key].detach().clone().to(parameter)
