"""The Poisson regression benchmark of Ponce et al. as a data set (seed 000, §8.1; SPEC §4).

Each sample is a coefficient ``kappa`` of the family in
:mod:`msann.data.poisson_solver` and the solution ``u`` of
``-div(kappa grad u) = f``; a network learns ``u`` from ``kappa`` (and, as in
the seed, from ``f`` and the node coordinates).  :func:`generate_poisson_data`
draws and solves the samples (or loads them from the cache of
:mod:`msann.data.poisson_cache`), :func:`split` and :func:`to_dataset` make a
:class:`~msann.data.Dataset` of them, and :func:`poisson_dataset` does both for
the :data:`msann.data.DATASETS` registry.

Inputs (:data:`INPUT_CHANNELS`).  The seed feeds ``kappa``, ``f`` and "the mesh
point coordinates (x, y)" and calls that ``3 x 32 x 32``; ``x`` and ``y`` are
two channels, so ``"kappa_f_coords"`` (the default) gives 4 channels
``(kappa, f, x, y)``.  ``"kappa_f"`` and ``"kappa"`` drop the channels that
are the same in every sample.  Inputs are flattened channel-first, so
``inputs.reshape(N, C, M, M)`` is the image a convolutional network sees.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from graphprolong.checks import check_choice, check_positive_int, check_real

from .dataset import Dataset
from .standardize import standardize as standardized
from .poisson_cache import GENERATOR_VERSION, _cache_record, _load, _save, cache_path
from .poisson_solver import (
    FACE_MEANS,
    _check_grid_size,
    coefficient,
    node_coordinates,
    sample_parameters,
    solve_poisson,
    source_term,
)

__all__ = [
    "INPUT_CHANNELS",
    "PoissonData",
    "generate_poisson_data",
    "poisson_dataset",
    "split",
    "to_dataset",
]

logger = logging.getLogger(__name__)

#: Channels of the network input, by input choice.
INPUT_CHANNELS: dict[str, tuple[str, ...]] = {
    "kappa": ("kappa",),
    "kappa_f": ("kappa", "f"),
    "kappa_f_coords": ("kappa", "f", "x", "y"),
}


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
        Read and write the on-disk cache (see :mod:`msann.data.poisson_cache`).
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
    standardize: bool = False,
):
    """Split ``data`` (see :func:`split`) into an :class:`msann.data.Dataset`.

    ``unit_shape`` is the input image shape ``(C, M, M)`` (channel-first, as
    the inputs are flattened); the metadata (JSON-serialisable) record the
    grid, channels, target shape ``[M, M]`` and generation settings.  Inputs
    have ``C M^2`` columns and targets ``M^2`` (``Dataset.target_shape``).
    ``standardize``: inputs and targets standardised per feature with the
    training split's statistics (:mod:`msann.data.standardize`; errors are
    still reported in the original units).
    """
    train, validation = split(data, val_fraction=val_fraction, n_val=n_val, seed=seed)
    metadata = {
        "source": "msann.poisson",  # the module before msann.data/; kept so that saved metadata do not change
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
    dataset = Dataset(
        name=name,
        train_inputs=np.ascontiguousarray(train.inputs, dtype=np.float32),
        train_targets=np.ascontiguousarray(train.outputs, dtype=np.float32),
        val_inputs=np.ascontiguousarray(validation.inputs, dtype=np.float32),
        val_targets=np.ascontiguousarray(validation.outputs, dtype=np.float32),
        unit_shape=data.input_shape,
        metadata=metadata,
        target_shape=data.output_shape,
    )
    if not isinstance(standardize, bool):
        raise TypeError(f"standardize must be a bool; got {type(standardize).__name__} {standardize!r}")
    return standardized(dataset) if standardize else dataset


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
    standardize: bool = False,
    seed: int = 0,
):
    """The Poisson benchmark as an :class:`msann.data.Dataset`, in the signature of ``msann.data.DATASETS``.

    :func:`generate_poisson_data` (drawn with ``seed``) followed by
    :func:`to_dataset` (split with ``seed``; ``standardize`` per feature with
    the training statistics); see both for the options.
    """
    data = generate_poisson_data(
        n_samples, grid_size=grid_size, seed=seed, inputs=inputs, face_mean=face_mean,
        cache_dir=cache_dir, progress=progress,
    )
    return to_dataset(data, val_fraction=val_fraction, n_val=n_val, seed=seed, standardize=standardize)
