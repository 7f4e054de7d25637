"""Training methods on the shared machinery, and their one registry.

A method (:class:`msann.core.method.MultilevelMethod`) holds only what makes
it itself -- its coarse objective and its correction -- and leaves levels,
transfers, smoothing, cycles, cost and checkpoints to :mod:`msann.core`:

``msann`` (:mod:`~msann.methods.msann`)
    Scott & Mjolsness: levels inside one network, the fine loss on every
    level, nothing to transfer at ``down``/``up``.
``fas`` (:mod:`~msann.methods.fas`, recipes: :mod:`~msann.methods.fas_recipe`)
    Ponce et al.: coarse networks by a coarsener, the coarse loss minus the
    tau term (:func:`msann.core.coarse.first_order_term`), the correction
    ``x += alpha P_p (x_c - R_p x)`` with momentum.

How MG/Opt (seed 004 ch. 2-3; SPEC §5) fits, on the same hooks:

- *coarse model*: FAS's coarse networks and transfers, restricted by
  :func:`msann.core.coarse.restrict_level`; the objective of a coarse level is
  ``h(xb) = f_H(xb) - <tau, xb> + (lambda / 2) ||xb - xb_k||^2`` with the same
  ``tau`` (``coherence = "first-order"``; ``"none"`` drops the tau term), so
  with ``lambda = 0`` it is FAS's objective at ``gamma_tau = 1``.  The
  smoothing step is :func:`msann.core.smoothing.smoothing_step` with that
  objective; nothing else changes.
- *gate*: ``down(level, stream)`` draws its minibatches, computes
  ``||R_g grad f||^2`` and ``||grad f||^2`` and returns
  ``Descent(cost=..., skip=True)`` unless ``||R_g grad f||^2 > kappa ||grad f||^2``
  and the previous step was not a correction: the driver then runs none of
  the coarse visit's events and charges only the gate's gradients.
- *line search*: ``up(level, stream)`` forms ``e = P_p (xb* - xb_k)`` with
  :meth:`msann.core.transfer.Transfer.prolong`, evaluates the fine loss on
  the minibatches kept from ``down`` at ``x + alpha e`` for a backtracking
  sequence of ``alpha`` and accepts the first decrease (Armijo); a rejected
  correction restores the parameters and the smoother's state; it returns
  the cost of the evaluations.
- *state*: the gate's last decision and the line search's counts live in
  the level's ``state`` and so reach the checkpoint with the method's state.

Registration: each method module registers a
:class:`~msann.methods.registry.MethodSpec` (builder, recipe tables, checks)
under its name in :data:`METHODS`; importing this package registers the
built-in ones.
"""

from . import fas_recipe as _fas_recipe  # noqa: F401  (registers "fas")
from . import mgopt_recipe as _mgopt_recipe  # noqa: F401  (registers "mgopt")
from . import msann as _msann  # noqa: F401  (registers "msann")
from .fas import FAS
from .mgopt import MGOpt
from .msann import SCHEDULES, MsANN, build_msann
from .registry import METHODS, MethodSpec, method_spec, register_method

__all__ = ["FAS", "METHODS", "MGOpt", "SCHEDULES", "MethodSpec", "MsANN", "build_msann", "method_spec", "register_method"]
