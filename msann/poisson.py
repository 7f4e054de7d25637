"""The Poisson regression benchmark of Ponce et al. (seed 000, §8.1; SPEC §4).

Each sample solves ``-div(kappa grad u) = f`` on ``[0, 1]^2`` with ``u = 0`` on
the boundary, for a coefficient from the family::

    kappa(x, y) = 1.1 + cos(kx pi (x' + ax)) cos(ky pi (y' + ay)),
    x' = cos(alpha) (x - 1/2) - sin(alpha) (y - 1/2) + 1/2,
    y' = sin(alpha) (x - 1/2) + cos(alpha) (y - 1/2) + 1/2,

(coordinates rotated by ``alpha`` about the centre of the square), with
``kx, ky ~ U(0.5, 4)``, ``ax, ay ~ U(0, 0.5)``, ``alpha ~ U(0, pi/2)``, and the
fixed source ``f = 32 exp(-4 ((x - 1/4)^2 + (y - 1/4)^2))``.  ``kappa`` lies in
``[0.1, 2.1]``.  A network learns ``u`` from ``kappa`` (and, as in the seed, from
``f`` and the node coordinates).

Grid.  The seed's "32x32 mesh" with a "3 x 32 x 32" input and a "32 x 32"
output is read as 32 x 32 *nodes including the boundary* (FEniCS'
``UnitSquareMesh(31, 31)`` has these vertices): ``x_i = i h``, ``h = 1/(M-1)``,
``i = 0..M-1``.  The boundary values of ``u`` are zero and are part of the
output; the unknowns are the ``(M-2)^2`` interior nodes.  Arrays on the grid
are indexed ``[i, j] <-> (x_i, y_j)`` (``numpy.meshgrid(..., indexing="ij")``).

Discretisation.  Conservative 5-point finite differences: the flux between
neighbouring nodes uses ``kappa`` at the cell face, the mean of its values at
the two nodes (:data:`FACE_MEANS`: ``"arithmetic"`` by default, or
``"harmonic"``; both are second order for smooth ``kappa``)::

    (A u)_ij = [k_{i+1/2,j} (u_ij - u_{i+1,j}) + k_{i-1/2,j} (u_ij - u_{i-1,j})
              + k_{i,j+1/2} (u_ij - u_{i,j+1}) + k_{i,j-1/2} (u_ij - u_{i,j-1})] / h^2,

and ``A u = f`` at the interior nodes.  ``A`` is a symmetric, irreducibly
diagonally dominant M-matrix (positive definite) for ``kappa > 0``; it is
factorised with SuperLU (:func:`scipy.sparse.linalg.splu`).  The seed used
FEniCS P1 elements instead; on a uniform grid with constant ``kappa`` the two
stiffness matrices coincide up to the ``h^2`` scaling, otherwise they differ by
O(h^2).

Inputs (:data:`INPUT_CHANNELS`).  The seed feeds ``kappa``, ``f`` and "the mesh
point coordinates (x, y)" and calls that ``3 x 32 x 32``; ``x`` and ``y`` are
two channels, so ``"kappa_f_coords"`` (the default) gives 4 channels
``(kappa, f, x, y)``.  ``"kappa_f"`` and ``"kappa"`` drop the channels that
are the same in every sample.  Inputs are flattened channel-first, so
``inputs.reshape(N, C, M, M)`` is the image a convolutional network sees.

Cache.  :func:`generate_poisson_data` stores the parameters (float64) and
the solutions (float32, as the networks use them; 41 MB for the default set;
everything else is recomputed from the parameters) in a ``.npz`` whose name is a
content hash of the generator version, ``n_samples``, ``grid_size``, ``seed``
and ``face_mean``; the input choice is not part of the key because it is not
part of the file.  The file holds SHA-256 checksums of its arrays; a file that
is unreadable, truncated or fails a checksum is reported with a warning and
regenerated.  The folder is the ``cache_dir`` argument, else ``$MSANN_CACHE``,
else the platform's user cache folder for ``"msann"``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from graphprolong.checks import check_choice, check_finite_array, check_positive_int, check_real
from graphprolong.cache import cache_directory as _cache_directory
from graphprolong.io import array_checksum, atomic_write_bytes

__all__ = [
    "CACHE_ENVIRONMENT_VARIABLE",
    "FACE_MEANS",
    "GENERATOR_VERSION",
    "INPUT_CHANNELS",
    "PARAMETER_NAMES",
    "PARAMETER_RANGES",
    "PoissonData",
    "cache_directory",
    "cache_path",
    "coefficient",
    "generate_poisson_data",
    "node_coordinates",
    "poisson_dataset",
    "poisson_matrix",
    "sample_parameters",
    "solve_poisson",
    "source_term",
    "split",
    "to_dataset",
]

logger = logging.getLogger(__name__)

#: Bump when a change alters the generated data; it is part of the cache key.
GENERATOR_VERSION = "1"

CACHE_ENVIRONMENT_VARIABLE = "MSANN_CACHE"

#: Columns of a parameter array, in order.
PARAMETER_NAMES = ("kx", "ky", "ax", "ay", "alpha")

#: Sampling ranges (uniform) of the parameters, seed 000 §8.1.
PARAMETER_RANGES = {
    "kx": (0.5, 4.0),
    "ky": (0.5, 4.0),
    "ax": (0.0, 0.5),
    "ay": (0.0, 0.5),
    "alpha": (0.0, np.pi / 2),
}

#: Mean of ``kappa`` at the two nodes of a cell face.
FACE_MEANS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "arithmetic": lambda left, right: 0.5 * (left + right),
    "harmonic": lambda left, right: 2.0 * left * right / (left + right),
}

#: Channels of the network input, by input choice.
INPUT_CHANNELS: dict[str, tuple[str, ...]] = {
    "kappa": ("kappa",),
    "kappa_f": ("kappa", "f"),
    "kappa_f_coords": ("kappa", "f", "x", "y"),
}

Grid = int | tuple[np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- grid and coefficients


def _check_grid_size(grid_size: Any) -> int:
    return check_positive_int("grid_size", grid_size, minimum=3)


def node_coordinates(grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, Y)``, the ``M x M`` node coordinates ``X[i, j] = x_i``, ``Y[i, j] = y_j``.

    The nodes include the boundary: ``x_i = i / (M - 1)``.
    """
    grid_size = _check_grid_size(grid_size)
    line = np.linspace(0.0, 1.0, grid_size)
    return np.meshgrid(line, line, indexing="ij")


def _coordinates(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(grid, tuple):
        X, Y = (check_finite_array(name, values) for name, values in zip("XY", grid))
        if X.shape != Y.shape:
            raise ValueError(f"grid coordinates X and Y must have the same shape; got {X.shape} and {Y.shape}")
        return X, Y
    return node_coordinates(grid)


def coefficient(parameters: np.ndarray, grid: Grid) -> np.ndarray:
    """Evaluate ``kappa`` for one parameter vector or a batch of them.

    Parameters
    ----------
    parameters : array of shape (5,) or (n, 5)
        Columns ``(kx, ky, ax, ay, alpha)`` (:data:`PARAMETER_NAMES`).
    grid : int or (X, Y)
        A grid size ``M`` (the nodes of :func:`node_coordinates`) or arrays of
        coordinates of one shape.

    Returns
    -------
    numpy.ndarray
        ``kappa`` at the points, shape ``X.shape`` or ``(n, *X.shape)``.

    Examples
    --------
    >>> kappa = coefficient(np.array([1.0, 1.0, 0.0, 0.0, 0.0]), 3)
    >>> bool(np.isclose(kappa[0, 0], 2.1)), bool(np.isclose(kappa[1, 1], 1.1))
    (True, True)
    """
    values = check_finite_array("parameters", parameters)
    if values.ndim not in (1, 2) or values.shape[-1] != len(PARAMETER_NAMES):
        raise ValueError(
            f"parameters must have shape (5,) or (n, 5) with columns {PARAMETER_NAMES}; got shape {values.shape}"
        )
    X, Y = _coordinates(grid)
    batch = np.atleast_2d(values)
    kx, ky, ax, ay, alpha = (batch[:, column].reshape((-1,) + (1,) * X.ndim) for column in range(5))
    cos, sin = np.cos(alpha), np.sin(alpha)
    x_rotated = cos * (X - 0.5) - sin * (Y - 0.5) + 0.5
    y_rotated = sin * (X - 0.5) + cos * (Y - 0.5) + 0.5
    kappa = 1.1 + np.cos(kx * np.pi * (x_rotated + ax)) * np.cos(ky * np.pi * (y_rotated + ay))
    return kappa if values.ndim == 2 else kappa[0]


def source_term(grid: Grid) -> np.ndarray:
    """Return ``f = 32 exp(-4 ((x - 1/4)^2 + (y - 1/4)^2))`` on ``grid`` (as in :func:`coefficient`)."""
    X, Y = _coordinates(grid)
    return 32.0 * np.exp(-4.0 * ((X - 0.25) ** 2 + (Y - 0.25) ** 2))


def sample_parameters(n: int, *, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Draw ``n`` parameter vectors uniformly from :data:`PARAMETER_RANGES`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 5)``, columns :data:`PARAMETER_NAMES`.
    """
    n = check_positive_int("n", n)
    rng = np.random.default_rng(rng)
    low, high = np.array([PARAMETER_RANGES[name] for name in PARAMETER_NAMES]).T
    return rng.uniform(low, high, size=(n, len(PARAMETER_NAMES)))


# --------------------------------------------------------------------------- finite differences


def _check_kappa(kappa: Any) -> np.ndarray:
    kappa = check_finite_array("kappa", kappa)
    if kappa.ndim != 2 or kappa.shape[0] != kappa.shape[1]:
        raise ValueError(f"kappa must be a square M x M array of node values; got shape {kappa.shape}")
    _check_grid_size(kappa.shape[0])
    smallest = float(kappa.min())
    if smallest <= 0.0:
        raise ValueError(
            f"kappa must be > 0 at every node (the operator is elliptic only then); got min kappa = {smallest:.6g}"
        )
    return kappa


def poisson_matrix(kappa: np.ndarray, *, face_mean: str = "arithmetic") -> sp.csr_matrix:
    """Assemble the finite-difference operator of ``-div(kappa grad u)`` with ``u = 0`` on the boundary.

    Parameters
    ----------
    kappa : array of shape (M, M)
        Node values of the coefficient, ``M >= 3``, all positive.
    face_mean : {"arithmetic", "harmonic"}
        How ``kappa`` at a cell face is formed from the two nodes (:data:`FACE_MEANS`).

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric positive definite, ``(M-2)^2 x (M-2)^2``, on the interior
        nodes in C order (``[i, j] -> (i - 1) (M - 2) + (j - 1)``), scaled by
        ``1 / h^2`` so that ``A u`` approximates ``-div(kappa grad u)``.
    """
    kappa = _check_kappa(kappa)
    mean = FACE_MEANS[check_choice("face mean", face_mean, FACE_MEANS)]
    M = kappa.shape[0]
    n = M - 2
    scale = float(M - 1) ** 2  # 1 / h^2
    x_faces = mean(kappa[:-1, :], kappa[1:, :])  # [i, j] is the face between nodes i and i+1 in x
    y_faces = mean(kappa[:, :-1], kappa[:, 1:])  # [i, j] is the face between nodes j and j+1 in y
    diagonal = x_faces[1:, 1:-1] + x_faces[:-1, 1:-1] + y_faces[1:-1, 1:] + y_faces[1:-1, :-1]
    x_coupling = x_faces[1:-1, 1:-1].ravel()  # (i, j)-(i+1, j), i = 1..M-3: offset n
    y_coupling = np.zeros((n, n))
    y_coupling[:, :-1] = y_faces[1:-1, 1:-1]  # (i, j)-(i, j+1), j = 1..M-3: offset 1
    y_coupling = y_coupling.ravel()[:-1]
    diagonals = [diagonal.ravel(), -y_coupling, -y_coupling, -x_coupling, -x_coupling]
    offsets = [0, 1, -1, n, -n]
    kept = [(values, offset) for values, offset in zip(diagonals, offsets) if values.size]
    matrix = sp.diags([v for v, _ in kept], [o for _, o in kept], shape=(n * n, n * n), format="csr")
    return scale * matrix


def solve_poisson(kappa: np.ndarray, f: np.ndarray, *, face_mean: str = "arithmetic") -> np.ndarray:
    """Solve ``-div(kappa grad u) = f`` on ``[0, 1]^2``, ``u = 0`` on the boundary.

    Parameters
    ----------
    kappa, f : arrays of shape (M, M)
        Node values on the grid of :func:`node_coordinates` (the boundary
        values of ``f`` are not used).
    face_mean : {"arithmetic", "harmonic"}
        See :func:`poisson_matrix`.

    Returns
    -------
    numpy.ndarray
        ``u`` at all ``M x M`` nodes, zero on the boundary.

    Examples
    --------
    >>> u = solve_poisson(np.ones((3, 3)), np.full((3, 3), 4.0))
    >>> float(u[1, 1])  # 4 u / h^2 = 4 with h = 1/2
    0.25
    """
    kappa = _check_kappa(kappa)
    f = check_finite_array("f", f)
    if f.shape != kappa.shape:
        raise ValueError(f"f must have the shape of kappa {kappa.shape}; got {f.shape}")
    matrix = poisson_matrix(kappa, face_mean=face_mean)
    u = np.zeros_like(kappa)
    # SPD: a symmetric fill-reducing ordering and no pivoting are safe and faster than the defaults.
    factor = splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    u[1:-1, 1:-1] = factor.solve(f[1:-1, 1:-1].ravel()).reshape(kappa.shape[0] - 2, -1)
    return u


# --------------------------------------------------------------------------- the data set


@dataclass(frozen=True)
class PoissonData:
    """Samples of the Poisson benchmark.

    Attributes
    ----------
    parameters : numpy.ndarray
        ``(N, 5)`` float64, columns :data:`PARAMETER_NAMES`.
    inputs : numpy.ndarray
        ``(N, C * M * M)`` float32, the channels of :data:`INPUT_CHANNELS`
        ``[input_kind]`` flattened channel-first (``kappa`` is channel 0).
    outputs : numpy.ndarray
        ``(N, M * M)`` float32, the solutions ``u`` (boundary zeros included).
    grid_size : int
        ``M``.
    input_kind : str
        Key of :data:`INPUT_CHANNELS`.
    face_mean : str
        Key of :data:`FACE_MEANS` used by the solver.
    seed : int
        Seed of the parameter draw.
    """

    parameters: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    grid_size: int
    input_kind: str
    face_mean: str
    seed: int

    @property
    def n_samples(self) -> int:
        return int(self.parameters.shape[0])

    @property
    def channels(self) -> tuple[str, ...]:
        return INPUT_CHANNELS[self.input_kind]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, M, M)``: one sample's input as an image."""
        return (len(self.channels), self.grid_size, self.grid_size)

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.grid_size, self.grid_size)

    @property
    def kappa(self) -> np.ndarray:
        """``(N, M, M)`` view of the coefficient channel."""
        M = self.grid_size
        return self.inputs[:, : M * M].reshape(-1, M, M)

    def subset(self, indices: Sequence[int] | np.ndarray) -> PoissonData:
        """Return the samples at ``indices`` (copies)."""
        indices = np.asarray(indices, dtype=np.intp)
        return PoissonData(
            self.parameters[indices], self.inputs[indices], self.outputs[indices],
            self.grid_size, self.input_kind, self.face_mean, self.seed,
        )


def _assemble_inputs(parameters: np.ndarray, grid_size: int, input_kind: str) -> np.ndarray:
    X, Y = node_coordinates(grid_size)
    kappa = coefficient(parameters, grid_size)
    constant = {"f": source_term(grid_size), "x": X, "y": Y}
    channels = [kappa] + [np.broadcast_to(constant[name], kappa.shape) for name in INPUT_CHANNELS[input_kind][1:]]
    return np.stack(channels, axis=1).reshape(parameters.shape[0], -1).astype(np.float32)


def _show_progress(progress: bool | None) -> bool:
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def _solve_all(parameters: np.ndarray, grid_size: int, face_mean: str, progress: bool) -> np.ndarray:
    """Solve every sample; returns ``(N, M * M)`` float64."""
    from tqdm.auto import tqdm

    f = source_term(grid_size)
    kappas = coefficient(parameters, grid_size)
    solutions = np.empty((parameters.shape[0], grid_size * grid_size))
    for index in tqdm(range(parameters.shape[0]), desc="Poisson samples", unit="sample", disable=not progress):
        solutions[index] = solve_poisson(kappas[index], f, face_mean=face_mean).ravel()
    return solutions


def cache_directory(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache folder: ``cache_dir``, else ``$MSANN_CACHE``, else the platform cache for ``msann``."""
    return _cache_directory(cache_dir, variable=CACHE_ENVIRONMENT_VARIABLE, application="msann")


def _cache_record(n_samples: int, grid_size: int, seed: int, face_mean: str) -> dict[str, Any]:
    return {
        "generator": "poisson",
        "generator_version": GENERATOR_VERSION,
        "n_samples": n_samples,
        "grid_size": grid_size,
        "seed": seed,
        "face_mean": face_mean,
    }


def cache_path(
    n_samples: int, *, grid_size: int = 32, seed: int = 0, face_mean: str = "arithmetic",
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Return the cache file of a data set (a content hash of everything that shapes it)."""
    record = _cache_record(n_samples, grid_size, seed, face_mean)
    key = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return cache_directory(cache_dir) / f"poisson-{key[:32]}.npz"


def _save(path: Path, record: dict[str, Any], parameters: np.ndarray, solutions: np.ndarray) -> None:
    metadata = dict(record, checksums={"parameters": array_checksum(parameters), "solutions": array_checksum(solutions)})
    text = json.dumps(metadata, sort_keys=True)
    atomic_write_bytes(path, lambda file: np.savez(file, parameters=parameters, solutions=solutions, metadata=np.array(text)))


def _load(path: Path, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Read a cache file; raise ``ValueError`` saying why it is unusable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            parameters = np.array(archive["parameters"])
            solutions = np.array(archive["solutions"])
            metadata = json.loads(str(archive["metadata"]))
    except Exception as error:  # a damaged file can fail in many ways (zip, header, JSON); all mean "regenerate"
        raise ValueError(f"unreadable ({type(error).__name__}: {error})") from None
    checksums = metadata.pop("checksums", {}) if isinstance(metadata, dict) else {}
    if metadata != record:
        raise ValueError(f"its metadata {metadata} do not match the request {record}")
    for name, values in (("parameters", parameters), ("solutions", solutions)):
        if checksums.get(name) != array_checksum(values):
            raise ValueError(f"the checksum of {name} does not match; the file is corrupt")
    M = record["grid_size"]
    if parameters.shape != (record["n_samples"], len(PARAMETER_NAMES)) or solutions.shape != (record["n_samples"], M * M):
        raise ValueError(f"arrays have shapes {parameters.shape} and {solutions.shape}")
    return parameters, solutions


def generate_poisson_data(
    n_samples: int = 10_000,
    *,
    grid_size: int = 32,
    seed: int = 0,
    inputs: str = "kappa_f_coords",
    face_mean: str = "arithmetic",
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> PoissonData:
    """Generate (or load from the cache) the Poisson benchmark data.

    Parameters
    ----------
    n_samples : int
        Number of samples ``N`` (the seed: 10,000).
    grid_size : int
        Nodes per side ``M``, boundary included, ``>= 3`` (the seed: 32).
    seed : int
        Seed of the parameter draw; the same seed gives the same data.
    inputs : {"kappa_f_coords", "kappa_f", "kappa"}
        Channels the network sees (:data:`INPUT_CHANNELS`).
    face_mean : {"arithmetic", "harmonic"}
        See :func:`poisson_matrix`.
    cache : bool
        Read and write the on-disk cache (see the module docstring).
    cache_dir : path, optional
        Cache folder (see :func:`cache_directory`).
    progress : bool, optional
        Show a progress bar while solving; by default only when stderr is a terminal.

    Returns
    -------
    PoissonData

    Warns
    -----
    UserWarning
        When a cache file is unreadable, truncated, or fails its checksum; it is
        then regenerated and overwritten.
    """
    n_samples = check_positive_int("n_samples", n_samples)
    grid_size = _check_grid_size(grid_size)
    seed = check_positive_int("seed", seed, minimum=0)
    check_choice("input choice", inputs, INPUT_CHANNELS)
    check_choice("face mean", face_mean, FACE_MEANS)
    record = _cache_record(n_samples, grid_size, seed, face_mean)
    path = cache_path(n_samples, grid_size=grid_size, seed=seed, face_mean=face_mean, cache_dir=cache_dir) if cache else None
    parameters = solutions = None
    if path is not None and path.exists():
        try:
            parameters, solutions = _load(path, record)
            logger.debug("Poisson cache hit %s", path)
        except ValueError as error:
            warnings.warn(f"Poisson data cache file {path} is unusable: {error}; regenerating it", stacklevel=2)
    if parameters is None:
        start = time.perf_counter()
        parameters = sample_parameters(n_samples, rng=seed)
        solutions = _solve_all(parameters, grid_size, face_mean, _show_progress(progress)).astype(np.float32)
        seconds = time.perf_counter() - start
        logger.info("generated %d Poisson samples on a %dx%d grid in %.1f s", n_samples, grid_size, grid_size, seconds)
        if path is not None:
            try:
                _save(path, record, parameters, solutions)
            except OSError as error:
                warnings.warn(f"could not write the Poisson data cache file {path} ({error}); using the data uncached", stacklevel=2)
    return PoissonData(
        parameters=parameters,
        inputs=_assemble_inputs(parameters, grid_size, inputs),
        outputs=solutions,
        grid_size=grid_size,
        input_kind=inputs,
        face_mean=face_mean,
        seed=seed,
    )


# --------------------------------------------------------------------------- splitting and conversion


def _validation_count(n_samples: int, val_fraction: float | None, n_val: int | None) -> int:
    if n_samples < 2:
        raise ValueError(f"splitting needs at least 2 samples; got n_samples = {n_samples}")
    if n_val is not None:
        count = check_positive_int("n_val", n_val)
    else:
        fraction = check_real("val_fraction", val_fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1); got val_fraction = {val_fraction!r}")
        count = min(max(int(round(fraction * n_samples)), 1), n_samples - 1)
    if count >= n_samples:
        raise ValueError(
            f"n_val must be < n_samples so that training data remain; got n_val = {count}, n_samples = {n_samples}"
        )
    return count


def split(
    data: PoissonData, *, val_fraction: float = 0.1, n_val: int | None = None, seed: int = 0,
) -> tuple[PoissonData, PoissonData]:
    """Split ``data`` at random into training and validation parts.

    Parameters
    ----------
    data : PoissonData
    val_fraction : float
        Fraction in (0, 1) held out for validation (rounded, at least 1 sample).
    n_val : int, optional
        Number of validation samples; overrides ``val_fraction``.
    seed : int
        Seed of the permutation.

    Returns
    -------
    (PoissonData, PoissonData)
        Training part, validation part; each keeps the order of ``data``.
    """
    count = _validation_count(data.n_samples, val_fraction, n_val)
    order = np.random.default_rng(seed).permutation(data.n_samples)
    return data.subset(np.sort(order[count:])), data.subset(np.sort(order[:count]))


def to_dataset(
    data: PoissonData, *, val_fraction: float = 0.1, n_val: int | None = None, seed: int = 0, name: str = "poisson",
):
    """Split ``data`` (see :func:`split`) into an :class:`msann.data.Dataset`.

    ``unit_shape`` is the input image shape ``(C, M, M)`` (channel-first, as
    the inputs are flattened); the metadata (JSON-serialisable) record the
    grid, channels, target shape ``[M, M]`` and generation settings.  Inputs
    have ``C M^2`` columns and targets ``M^2`` (``Dataset.target_shape``).
    """
    from msann.data import Dataset

    train, validation = split(data, val_fraction=val_fraction, n_val=n_val, seed=seed)
    metadata = {
        "source": "msann.poisson",
        "generator_version": GENERATOR_VERSION,
        "grid_size": data.grid_size,
        "input_kind": data.input_kind,
        "channels": list(data.channels),
        "target_shape": list(data.output_shape),
        "face_mean": data.face_mean,
        "seed": data.seed,
        "split_seed": seed,
        "n_samples": data.n_samples,
    }
    return Dataset(
        name=name,
        train_inputs=np.ascontiguousarray(train.inputs, dtype=np.float32),
        train_targets=np.ascontiguousarray(train.outputs, dtype=np.float32),
        val_inputs=np.ascontiguousarray(validation.inputs, dtype=np.float32),
        val_targets=np.ascontiguousarray(validation.outputs, dtype=np.float32),
        unit_shape=data.input_shape,
        metadata=metadata,
        target_shape=data.output_shape,
    )


def poisson_dataset(
    *,
    n_samples: int = 10_000,
    grid_size: int = 32,
    inputs: str = "kappa_f_coords",
    face_mean: str = "arithmetic",
    val_fraction: float = 0.1,
    n_val: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    seed: int = 0,
):
    """The Poisson benchmark as an :class:`msann.data.Dataset`, in the signature of ``msann.data.DATASETS``.

    :func:`generate_poisson_data` (drawn with ``seed``) followed by
    :func:`to_dataset` (split with ``seed``); see both for the options.
    """
    data = generate_poisson_data(
        n_samples, grid_size=grid_size, seed=seed, inputs=inputs, face_mean=face_mean,
        cache_dir=cache_dir, progress=progress,
    )
    return to_dataset(data, val_fraction=val_fraction, n_val=n_val, seed=seed)
