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

``mgopt`` (:mod:`~msann.methods.mgopt`, recipes: :mod:`~msann.methods.mgopt_recipe`)
    Nash / Kreis: FAS's hierarchy with three additions, each on a hook of
    the base class (this was the sketch the machinery was built for):

    - *coarse model*: ``h(xb) = f_H(xb) - <tau, xb> + (lambda / 2) ||xb - xb_k||^2``
      with FAS's ``tau`` (``coherence = "first-order"``; ``"none"`` drops it),
      so with ``lambda = 0`` it is FAS's objective at ``gamma_tau = 1``; the
      smoothing step is :func:`msann.core.smoothing.smoothing_step` with it;
    - *gate*: at ``down(level, stream)`` the sample's fine gradient decides;
      a closed gate returns ``Descent(cost=..., skip=True)`` and the driver
      runs none of the coarse visit's events and charges only the gradient;
    - *line search*: ``up(level, stream)`` forms ``e = P_p (xb* - xb_k)`` with
      :meth:`msann.core.transfer.Transfer.prolong`, backtracks on the fine
      objective over the sample kept from ``down`` and returns the cost of
      its evaluations; a rejected correction restores parameters and smoother;
    - *state*: the gate's last decision and the sample live in the level's
      ``state``, so they reach the checkpoint with the method's state.

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
