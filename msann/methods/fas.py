"""FAS multilevel-in-width training (Ponce, Mao, Li, Vassilevski; seed 000; SPEC §4).

Level ``l + 1`` is the network of level ``l`` with about half the hidden units
(or channels), built by a coarsener (:data:`msann.coarsening.network.COARSENERS`);
its parameters are ``R_p x_l``.  The driver walks gamma-cycles (``gamma = 1``:
the V-cycle of seed 000 §6)::

    smooth(l)   k SGD+momentum steps on level l's objective (lr / eta^l)
    down(l)     x_{l+1} = R_p x_l,  m_{l+1} = R_p m_l  (parameters and momentum);
                re-match every ``rematch_every`` cycles (adaptive coarseners only);
                draw the tau batch, compute tau
    cycle(l+1)  its smoothing steps reuse the tau batch, cyclically
    up(l)       x_l <- x_l + alpha_p P_p (x_{l+1} - R_p x_l)
                m_l <- m_l + alpha_m P_p (m_{l+1} - R_p m_l)
    smooth(l)

Objectives.  Level 0 minimises ``g(x)``, the minibatch loss (``loss``: the mean squared
error, or a classification's cross-entropy, :func:`msann.core.metrics.task_loss`).
Level ``c >= 1`` minimises the tau-corrected coarse objective (seed 000 eq. 3)::

    g^_c(x_c) = g_c(x_c) - gamma_tau <x_c, tau_c>,
    tau_c     = mean_i grad g_c(R_p x_f; B_i) - R_g mean_i grad g^_f(x_f; B_i),

with ``f = c - 1``, ``R_g = P_p^T`` and ``B_1 .. B_m`` the *tau batch*:
``m`` minibatches drawn at ``down(f)``, then reused for every smoothing step
of level ``c`` during that visit (seed 000 §6.1.1).  Means over minibatches
(SPEC §4, the seed's ``N/m`` factor dropped) make the correction consistent:
at ``gamma_tau = 1``, ``grad g^_c(R_p x_f) = R_g grad g^_f(x_f)`` on the tau
batch exactly.  On deeper levels ``g^_f`` includes its own tau term.

Coarse data (``transfer = "graph-data"``, :mod:`msann.coarsening.data`).
Every layer of units is halved, the data's included: level ``l`` trains on
block means of the stream's minibatches (``Level.data_transfer``), and the
tau batch drawn at ``down(l)`` at level ``l``'s data reaches level ``l + 1``
as its block means, so ``tau`` pairs each fine minibatch with its own
restriction and the consistency above holds unchanged.

Nested start (``[hierarchy] start = "coarsest"``, :func:`msann.core.cycle.nested_events`).
``descend(l)`` restricts like ``down`` but draws no tau batch: the stage's top
level trains its plain loss on fresh minibatches, with the levels below it
visited by ordinary cycles; ``ascend(l)`` is the correction of ``up``.

Work units (seed 000 §8).  A smoothing step costs ``relative_cost_l x b``;
``down(l)`` charges the tau work, ``m b (relative_cost_l + relative_cost_{l+1})``
(one fine and one coarse forward+backward per tau minibatch).  So ``C(t) / b``
is in work units: 1 WU = one forward+backward of one minibatch on the finest
network.  Under ``torchrun`` (:mod:`msann.core.distributed`) a minibatch is the
global one, whose slices the ranks share: costs and work units are the same
as one process's, and tau and the matchings come from gradients averaged over
the ranks and from identical weights, so every rank holds the same parameters.  Relative costs (:data:`msann.core.cost.COST_MODELS`) are fixed when
the hierarchy is built.  Errors are the task's (:mod:`msann.core.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from graphprolong.checks import check_choice, check_positive, check_positive_int

from ..coarsening.data import data_restrictions, draw
from ..coarsening.hierarchy import build_network_hierarchy, load_network_hierarchy, network_hierarchy_state
from ..coarsening.network import COARSENERS, CoarseningOptions, coarsen
from ..core.cost import COST_MODELS
from ..core.distributed import data_parallel_size, gather_batches, shard_batches
from ..core.method import Descent, MultilevelMethod
from ..core.metrics import best_errors
from ..core.coarse import correct_level, first_order_term, mean_gradient, restrict_level
from ..core.smoothing import SMOOTHERS, make_smoother, smoothing_step
from ..options import at_least, check_rule, in_interval

__all__ = ["FAS"]


#: The errors of a regression onto grid nodes that every FAS summary reports (None where not measured).
_FIELD_ERRORS = ("val_l2", "val_rel_l2", "val_linf", "train_l2", "train_rel_l2", "train_linf")


def _fresh_state() -> dict:
    return {"restricted": None, "restricted_momentum": None, "tau": None, "tau_batch": [], "next_batch": 0}


class FAS(MultilevelMethod):
    """The FAS method of seed 000 on a ``torch.nn.Sequential`` network (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Sequential
        The finest network (layers with rules in :data:`msann.core.layers.LAYER_RULES`); trained in place.
    levels : int
        Number of coarse levels ``L >= 0``; 0 is plain SGD with momentum.
    coarsening : CoarseningOptions
        Threshold, matching (greedy or mutual-best), projection (average, scaled or
        norm-weighted), visit order and 1D graph map of the coarsener.
    transfer : str
        The coarsener, a key of :data:`msann.coarsening.network.COARSENERS` (``"matching"``, ``"graph"``, ``"explicit"``, ``"depth"``).
    rematch_every : int
        Re-coarsen every this many cycles (cycle 0 uses the transfers built here).
    tau_batches : int
        ``m``: minibatches of a tau batch, reused for the coarse smoothing.
    gamma_tau : float
        Weight ``gamma_tau >= 0`` of the tau correction (1: classical FAS).
    alpha_p, alpha_m : float
        Damping of the parameter (``> 0``) and momentum (``>= 0``) corrections.
    eta : float
        Level ``l`` smooths with learning rate ``lr / eta^l`` (``eta > 0``).
    lr, momentum : float
        SGD learning rate of level 0 and momentum (``[0, 1)``) of every level.
    cost_model : str
        A key of :data:`msann.core.cost.COST_MODELS`.
    input_shape : tuple of int, optional
        Shape of one example as the network takes it (e.g. ``(4, 32, 32)``
        for a CNN fed flat minibatches); default: the minibatch rows as given.
    seed : int
        Seed of the matching's random visit order.
    loss : callable
        ``loss(outputs, targets)`` of every level (default: the mean squared error).
    smoother : str
        A key of :data:`msann.core.smoothing.SMOOTHERS` (default SGD; only SGD's momentum is transferred).

    Examples
    --------
    >>> from msann.models.poisson_nets import poisson_fc
    >>> fas = FAS(poisson_fc(16, 4, hidden=8), levels=1, coarsening=CoarseningOptions(threshold=-1.0))
    >>> fas.hierarchy[0].transfer.coarse_widths, [level.size for level in fas.hierarchy]
    ((4, 4), [244, 108])
    >>> [level.relative_cost for level in fas.hierarchy]
    [1.0, 0.25]
    """

    def __init__(self, model: nn.Sequential, *, levels: int, coarsening: CoarseningOptions = CoarseningOptions(),
                 transfer: str = "matching", rematch_every: int = 50, tau_batches: int = 4, gamma_tau: float = 1.0,
                 alpha_p: float = 1.0, alpha_m: float = 1.0, eta: float = 1.0, lr: float = 0.01, momentum: float = 0.9,
                 cost_model: str = "quarter", input_shape: Sequence[int] | None = None, seed: int = 0,
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = torch.nn.functional.mse_loss,
                 smoother: str = "sgd") -> None:
        if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
            raise TypeError(f"model must be a torch.nn.Module with parameters; got {type(model).__name__}")
        depth = check_positive_int("levels", levels, minimum=0)
        self.coarsening, self.transfer = coarsening, check_choice("transfer", transfer, COARSENERS)
        self.rematch_every, self.tau_batches = check_positive_int("rematch_every", rematch_every), check_positive_int("tau_batches", tau_batches)
        self.gamma_tau, self.alpha_m = (check_rule(name, value, at_least(0.0)) for name, value in (("gamma_tau", gamma_tau), ("alpha_m", alpha_m)))
        self.alpha_p, self.eta, self.lr = check_positive("alpha_p", alpha_p), check_positive("eta", eta), check_positive("lr", lr)
        self.momentum = check_rule("momentum", momentum, in_interval(0.0, 1.0))
        self.smoother = check_choice("smoother", smoother, SMOOTHERS)
        self.cost_model, self.loss = check_choice("cost_model", cost_model, COST_MODELS), loss
        self.input_shape = None if input_shape is None else tuple(check_positive_int("input_shape", s) for s in input_shape)
        self._rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
        self.hierarchy = build_network_hierarchy(model, depth=depth, coarsen=self._coarsen, coarsener=COARSENERS[transfer],
                                                 smoother=self._smoother, cost_model=cost_model,
                                                 input_shape=self.input_shape, state=_fresh_state)
        if self.transfer == "graph-data":  # coarse levels train on block means of the data
            restrictions = data_restrictions(coarsening.data_shape, coarsening.target_shape, levels=depth)
            for level, restriction in zip(self.hierarchy, restrictions):
                level.data_transfer = restriction
        self._cycle, self._rematching, self._batch_size = 0, False, None
        self._top = 0  # the level a nested start trains on its own objective (0 once it has ended)

    @property
    def depth(self) -> int:
        return self.hierarchy.depth

    @property
    def device(self) -> torch.device:
        return next(self.hierarchy[0].model.parameters()).device

    def _smoother(self, level: int, network: nn.Module):
        return make_smoother(self.smoother, network.parameters(), lr=self.lr / self.eta**level, momentum=self.momentum)

    @property
    def _transfers_momentum(self) -> bool:
        """SGD momentum is restricted and corrected with the parameters (seed 000 §6.1.2); other smoothers keep their state."""
        return self.smoother == "sgd" and bool(self.momentum)

    def _coarsen(self, level: int, model: nn.Module):
        """The transfer from level ``level`` to ``level + 1`` for the current weights of level ``level``."""
        try:
            return coarsen(self.transfer, model, options=self.coarsening, rng=self._rng)
        except (TypeError, ValueError) as error:
            raise type(error)(f"coarsening level {level} -> {level + 1}: {error}") from None

    def _install(self, level: int, transfer, coarse: nn.Module) -> None:
        """Make ``coarse`` level ``level + 1`` (with a fresh smoother), reached by ``transfer``."""
        self.hierarchy[level].transfer = transfer
        self.hierarchy[level + 1].install(coarse, self._smoother(level + 1, coarse))

    # -- objectives ----------------------------------------------------------------
    def _forward(self, level: int, inputs: torch.Tensor) -> torch.Tensor:
        if self.input_shape is not None:
            inputs = inputs.reshape(inputs.shape[0], *self.input_shape)
        return self.hierarchy[level].model(inputs)

    def _objective(self, level: int, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g^_level, g_level)`` on a minibatch: the tau-corrected objective and the loss."""
        data = self.loss(self._forward(level, inputs), targets)
        tau = self.hierarchy[level].state["tau"]
        if tau is None or self.gamma_tau == 0.0:
            return data, data
        linear = sum((parameter * tau[name]).sum() for name, parameter in self.hierarchy[level].model.named_parameters())
        return data - self.gamma_tau * linear, data

    def tau(self, level: int) -> dict[str, torch.Tensor] | None:
        """A copy of ``tau`` of coarse level ``level`` (None before its tau batch is drawn)."""
        tau = self.hierarchy[level].state["tau"]
        return None if tau is None else {name: value.clone() for name, value in tau.items()}

    def set_tau_batch(self, level: int, batches: Sequence[tuple[torch.Tensor, torch.Tensor]], *,
                      fine_gradient: dict[str, torch.Tensor] | None = None) -> None:
        """Make ``batches`` the tau batch of coarse level ``level`` (after ``down(level - 1)``) and compute ``tau``.

        ``tau = mean_i grad g_c(x_c; B_i) - R_g mean_i grad g^_f(x_f; B_i)`` with ``x_c = R_p x_f`` as set by
        ``down``; ``fine_gradient`` is the fine mean gradient on ``batches`` when already computed.  ``batches``
        are level ``level - 1``'s data; a coarse-data level (``"graph-data"``) keeps and uses their block means.
        """
        if not 1 <= level <= self.depth:
            raise ValueError(f"level must be a coarse level in [1, {self.depth}]; got {level}")
        if self.hierarchy[level - 1].state["restricted"] is None:
            raise RuntimeError(f"level {level} has no tau batch before down({level - 1})")
        batches = [(inputs, targets) for inputs, targets in batches]
        if not batches:
            raise ValueError("a tau batch needs at least one minibatch")
        fine, coarse = self.hierarchy[level - 1], self.hierarchy[level]
        if coarse.data_transfer is not None:  # the coarse level's data: block means of the fine level's
            step = coarse.data_transfer.step_from(fine.data_transfer)
            coarse_batches = [step(inputs, targets) for inputs, targets in batches]
        else:
            coarse_batches = batches
        tau = first_order_term(fine, coarse, batches, fine_objective=self._fine_objective(level - 1), fine_gradient=fine_gradient,
                               coarse_loss=lambda x, y: self.loss(self._forward(level, x), y), coarse_batches=coarse_batches)
        coarse.state.update(tau=tau, tau_batch=coarse_batches, next_batch=0)

    def _fine_objective(self, level: int):
        return lambda inputs, targets: self._objective(level, inputs, targets)[0]

    def _enter(self, level: int, fine_gradient: dict[str, torch.Tensor], batches: list) -> bool:
        """Whether to visit level ``level + 1`` now (MG/Opt's gate); FAS always does."""
        return True

    # -- the method's hooks --------------------------------------------------------------
    def batch(self, level: int, stream):
        """Level 0 (and a nested stage's top level): the stream's next minibatch.  Coarse levels: the tau batch, cyclically."""
        if level <= self._top:
            return draw(stream, self.hierarchy[level].data_transfer)
        state = self.hierarchy[level].state
        if not state["tau_batch"]:
            raise RuntimeError(f"level {level} has no tau batch: its visit must follow down({level - 1})")
        position = state["next_batch"]
        state["next_batch"] = (position + 1) % len(state["tau_batch"])
        return state["tau_batch"][position]

    def smooth_step(self, level: int, inputs, targets) -> torch.Tensor:
        """One SGD+momentum step on level ``level``'s objective; returns the minibatch loss (detached)."""
        if level > self._top and not self.hierarchy[level].state["tau_batch"]:
            raise RuntimeError(f"level {level} needs its tau batch first: smooth it after down({level - 1})")
        self._batch_size = int(inputs.shape[0]) * data_parallel_size()  # the global minibatch: work units count it
        return smoothing_step(self.hierarchy[level].smoother, lambda: self._objective(level, inputs, targets))

    def down(self, level: int, stream) -> Descent:
        """Re-match when due; draw the tau batch; ``x_{l+1} = R_p x_l``, ``m_{l+1} = R_p m_l``; then ``tau``."""
        if self._batch_size is None:
            raise RuntimeError("down() needs a smoothing step first (the tau work is counted in its minibatch size)")
        if level == 0:
            self._rematching = self._cycle > 0 and self._cycle % self.rematch_every == 0
            self._cycle += 1
        fine, coarse = self.hierarchy[level], self.hierarchy[level + 1]
        coarsener = COARSENERS[self.transfer]
        if self._rematching and coarsener.adaptive(fine.model):
            transfer = self._coarsen(level, fine.model)
            self._install(level, transfer, coarsener.coarse_model(fine.model, transfer))
        batches = [draw(stream, fine.data_transfer) for _ in range(self.tau_batches)]
        fine_gradient = mean_gradient(fine.model, self._fine_objective(level), batches)
        work = self.tau_batches * self._batch_size
        if not self._enter(level, fine_gradient, batches):
            return Descent(cost=work * fine.relative_cost, skip=True)
        self._restrict(level)
        self.set_tau_batch(level + 1, batches, fine_gradient=fine_gradient)
        return Descent(cost=work * (fine.relative_cost + coarse.relative_cost))

    def up(self, level: int, stream) -> float:
        """``x_l += alpha_p P_p (x_{l+1} - R_p x_l)``, ``m_l += alpha_m P_p (m_{l+1} - R_p m_l)``."""
        self._correct(level, alpha=self.alpha_p)
        return 0.0

    def descend(self, level: int) -> float:
        """Nested start: ``x_{l+1} = R_p x_l`` (and momentum); level ``l + 1`` then trains its plain loss on fresh minibatches."""
        self._restrict(level)
        self._top = level + 1
        return 0.0

    def ascend(self, level: int) -> float:
        """Nested start: ``x_l += alpha_p P_p (x_{l+1} - R_p x_l)`` (and momentum); level ``l`` then trains."""
        self._correct(level, alpha=self.alpha_p)
        self._top = level
        return 0.0

    def _restrict(self, level: int) -> None:
        """``x_{l+1} = R_p x_l`` (and SGD momentum); level ``l + 1`` starts with no tau and no tau batch."""
        coarse = self.hierarchy[level + 1]
        restrict_level(self.hierarchy[level], coarse, momentum=self._transfers_momentum)
        coarse.state["tau"], coarse.state["tau_batch"] = None, []

    def _correct(self, level: int, *, alpha: float) -> None:
        """``x_l += alpha P_p (x_{l+1} - R_p x_l)`` (and SGD momentum with ``alpha_m``); level ``l + 1``'s tau is dropped."""
        coarse = self.hierarchy[level + 1]
        correct_level(self.hierarchy[level], coarse, alpha=alpha, alpha_momentum=self.alpha_m if self._transfers_momentum else None)
        coarse.state["tau"], coarse.state["tau_batch"] = None, []

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._forward(0, inputs)

    def summary_fields(self, result) -> dict:
        """The best errors, ``work_units`` (``C / b``) and the hidden widths per level.

        ``best_<split>_l2`` (per-node MSE) beside ``best_<split>_rel_l2`` (relative L2) and
        ``best_<split>_linf``, for ``val`` and ``train``; ``outputs`` (units of the network's output)
        and ``best_val_l2_summed = outputs x best_val_l2``, the squared error summed over the
        outputs and averaged over samples: LLNL/MTNN's validation "L2 loss" (:mod:`msann.core.metrics`).
        The best of every other error the evaluations measured follows (a classification's
        ``best_val_error``, ``best_val_cross_entropy``, ...).
        """
        transfers = [level.transfer for level in self.hierarchy.levels[:-1]]
        measured = (key for evaluation in result.evaluations for key in evaluation if key != "cost")
        best = best_errors(result.evaluations, dict.fromkeys([*_FIELD_ERRORS, *measured]))
        outputs = [module for module in self.hierarchy[0].model.modules() if isinstance(module, nn.Linear)][-1].out_features
        summed = None if best["best_val_l2"] is None else outputs * best["best_val_l2"]
        return {**best, "outputs": outputs, "best_val_l2_summed": summed,
                "work_units": result.total_cost / self._batch_size if self._batch_size else None,
                "level_widths": [list(t.fine_widths) for t in transfers] + ([list(transfers[-1].coarse_widths)] if transfers else [])}

    # -- checkpoints -----------------------------------------------------------------
    #: Level-state keys that hold minibatches: checkpoints store them whole (the global minibatches under torchrun).
    batch_keys = ("tau_batch",)

    def state_dict(self) -> dict:
        """Everything to resume exactly: the hierarchy (networks, operators, smoothers, per-level state), cycle count, RNG.

        Under ``torchrun`` every rank must call it (the kept minibatches are gathered whole).
        """
        state = network_hierarchy_state(self.hierarchy)
        state["levels"] = [{key: gather_batches(value) if key in self.batch_keys and value else value for key, value in saved.items()}
                           for saved in state["levels"]]
        return {**state, "cycle": self._cycle, "rematching": self._rematching,
                "batch_size": self._batch_size, "rng": self._rng.bit_generator.state, "top": self._top}

    def load_state_dict(self, state: dict) -> None:
        load_network_hierarchy(self.hierarchy, state, coarsener=COARSENERS[self.transfer], install=self._install, device=self.device)
        for level in self.hierarchy:  # this rank's slices of the stored minibatches, on any number of ranks
            level.state.update({key: shard_batches(level.state[key]) for key in self.batch_keys if level.state.get(key)})
        self._cycle, self._rematching = int(state["cycle"]), bool(state["rematching"])
        self._batch_size, self._top = state["batch_size"], int(state["top"])
        self._rng.bit_generator.state = state["rng"]

    def __repr__(self) -> str:
        return f"FAS(levels={self.depth}, transfer={self.transfer!r})\n{self.hierarchy!r}"
