"""Closed-form prolongation recipes for path, cycle and grid lineages (SPEC §2, seed 002 §3.3.3).

A *recipe* generates ``P`` for any size of a lineage ``n -> 2n`` (grids
``(n_1, ..., n_d) -> (2 n_1, ..., 2 n_d)``) without optimisation.  The recipes
here are exact global minimisers of the objective at ``s = 0`` or ``s = 1``.

Why closed forms exist at ``s = 0`` and ``s = 1``.  With one term only,
``E(P) = || P X1 / sqrt(c) - sqrt(c) X2 P ||^2``, and with ``X_i = U_i Θ_i U_i^T``
and ``Q = U2^T P U1``::

    E(P) = sum_ij Q_ij^2 (θ1_j / sqrt(c) - sqrt(c) θ2_i)^2.

``W = Q ∘ Q`` has unit column sums and row sums <= 1, so it lies in the polytope
whose vertices are the partial permutation matrices: for fixed ``c`` the
minimum over the Stiefel manifold is the minimal matching cost of ``θ1 / c`` to
``θ2`` (the seed's eq. 3.2 with the scale inside), attained by ``U2 M U1^T``.
(The seed calls it an upper bound; it is also the lower bound.)  Minimising
over ``c`` too gives the optimum with an optimised scale factor.  The minimiser
is far from unique: eigenvector signs, rotations inside repeated eigenvalues
and inside the large null spaces of grid and even-cycle distance matrices all
leave ``E`` unchanged, and most members look non-local.  The ``interpolation``
recipes take the member nearest (Frobenius) to the piecewise-constant map
``P[2i, i] = P[2i+1, i] = 1/sqrt 2`` (orthogonal Procrustes per eigenvalue
class; on the cycles' null modes, the band-limited member).  Away from the ends
they are the ideal half-band (sinc) interpolator, to 3 digits at n >= 64::

    P[x, j] = sin(pi m / 2) / (sqrt 2 pi m / 2),   m = x - 2j - 1/2,

i.e. 2/pi = 0.637 on ``P[2j, j]``, ``P[2j+1, j]``, then 2/(3 pi), -2/(5 pi),
-2/(7 pi), ...: the interpolation-like, fully local maps of the seed's Fig. 3.

Recipes, by lineage (``N = 2n``):

* ``*-fold`` / ``*-cover`` (``s = 0``): ``P[x, min(x, N-1-x)] = 1/sqrt 2``
  folds the path ``P_N`` in half onto ``P_n``; ``P[x, x mod n] = 1/sqrt 2``
  is the double cover ``C_N -> C_n``.  Both satisfy ``P L1 = L2 P``, so
  ``E = 0`` (alpha = 1); grids are Kronecker products of them
  (:func:`~graphprolong.compose.compose_box`, exact for Kronecker sums).  These
  are the seed's non-local global minima of the diffusion term.
* ``*-spectral`` (``s = 0``): :func:`~graphprolong.spectral.spectral_prolongation`,
  ``U2 M U1^T`` with LAPACK's eigenvectors; also ``E = 0``.
* ``path-interpolation`` (``s = 1``, beta optimised): ``sum_j σ_j v2_{m(j)} v1_j^T``
  with ``v`` eigenvectors of the distance matrices, ``m`` the minimal matching
  of ``θ1 / beta`` to ``θ2`` at the self-consistent ``beta`` (it pairs the
  ``n - 1`` most negative eigenvalues in order and the Perron ones) and
  ``σ_j = sign(v2^T R v1)``, ``R`` piecewise constant.
* ``cycle-interpolation`` (``s = 1``, beta optimised): shift-equivariant,
  ``P[x, j] = p(x - 2j mod N)``, built by FFT: coarse Fourier mode ``k`` goes to
  the fine mode ``k`` or ``k + n`` whose distance-matrix eigenvalue matches
  better (the low one, in practice; the low one, too, where the two tie, as on
  the null modes of even cycles), with the phase of ``R``: the periodic sinc
  (Dirichlet kernel) interpolator.
* ``grid-periodic-interpolation`` (``s = 1``, beta fixed): the Kronecker product
  of 1-D cycle maps, exact because every periodic-grid distance eigenvector is a
  product of Fourier modes.
* ``grid-interpolation`` (``s = 1``, beta fixed): the Kronecker product of 1-D
  path maps, moved to the nearest exact minimiser (it is not one itself:
  path distance matrices do not commute with the all-ones matrix); the move is
  computed and kept in orthonormal Kronecker bases (:mod:`graphprolong.recipes.compact`).

Scale factors.  Optimised beta is degenerate on grids (``P`` hides in the null
space of ``T2``), so grid recipes fix ``beta = n_small / (2 n_large)``: for
``n -> 2n`` lineages the 1-D optimum is ``beta* -> 1/4`` (measured 0.244 at
n = 4, 0.2486 at 8), and a ``d``-dimensional grid maps an on-axis mode of
eigenvalue ``n^(d-1) θ`` to one of ``(2n)^(d-1) θ'``, so the same 1-D matching
needs ``beta = 2^-(d-1) / 4 = n_small / (2 n_large)``.  (The seed's
``beta = n1/n2`` equals this if fine distances are counted in coarse edge
lengths, ``T2 / 2``.)
"""

from .generators import GRID_BETA_RATIO, piecewise_constant
from .registry import RECIPE_VERSION, RECIPES, Recipe, get_recipe, recipe_prolongation
from .verify import (
    SECOND_ORDER_TOLERANCES,
    VERIFY_COLUMNS,
    objective_lower_bound,
    verification_passed,
    verification_table,
    verify_recipe,
)

__all__ = [
    "GRID_BETA_RATIO",
    "RECIPES",
    "RECIPE_VERSION",
    "SECOND_ORDER_TOLERANCES",
    "VERIFY_COLUMNS",
    "Recipe",
    "get_recipe",
    "objective_lower_bound",
    "piecewise_constant",
    "recipe_prolongation",
    "verification_passed",
    "verification_table",
    "verify_recipe",
]
