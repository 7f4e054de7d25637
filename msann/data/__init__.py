"""Data sets for the MsANN autoencoder experiments, and a checkpointable minibatch stream.

A :class:`Dataset` holds training and validation inputs and targets as
``N x d`` float32 arrays, the layout of the ``d`` input units (``unit_shape``:
``(1024,)`` for vectors, ``(32, 32)`` or ``(28, 28)`` for images; the layer
graphs of a hierarchy are built on it) and a JSON-serialisable ``metadata``
record of every option used.  Data sets are made by name through the
:data:`DATASETS` registry (:func:`load_dataset`):

``one_object`` / ``two_object``
    Synthetic denoising vectors of seed 002, section 4.2: zeros with one (or two)
    contiguous runs of ones; binary noise on the inputs only.
``fashion_mnist``
    The standard IDX files of Fashion-MNIST (Debian package
    ``dataset-fashion-mnist``, or any folder given by the user); pixels in
    [0, 1], inputs = targets; with ``task = "classify"`` the targets are the
    labels, one-hot (a classification data set: ``Dataset.classes = 10``).
``npz``
    A user ``.npz`` file: ``X`` (``N x d``), optionally targets ``Y``, a
    validation split ``X_val``/``Y_val``, input noise and a scaling
    (:mod:`~msann.data.npz_file`).
``poisson``
    The Poisson regression benchmark of seed 000 (inputs: the coefficient and
    more channels; targets: the solution on the grid); ``standardize = true``
    standardises inputs and targets per feature with the training split's
    statistics (:mod:`~msann.data.standardize`; errors stay in original units).
``signals``
    Audio-like 1-D signals generated here: a few damped sinusoidal notes
    (random onset, period, amplitude, decay, smooth attack) over a slow
    baseline, ``1/2 + signal`` clipped to [0, 1]; Gaussian noise on the
    inputs only (:mod:`~msann.data.signals`).

:class:`MinibatchStream` serves an endless sequence of fixed-size minibatches
from tensors kept on the training device, reshuffled every epoch, and can be
checkpointed and resumed batch for batch.

Nothing here downloads anything.

Modules: :mod:`~msann.data.dataset` (the record), :mod:`~msann.data.objects`,
:mod:`~msann.data.idx` (IDX files), :mod:`~msann.data.fashion`,
:mod:`~msann.data.npz_file`, :mod:`~msann.data.poisson_solver` (the PDE),
:mod:`~msann.data.poisson_cache`, :mod:`~msann.data.poisson` and
:mod:`~msann.data.signals` (one module a data set), :mod:`~msann.data.standardize`
(per-feature standardisation), :mod:`~msann.data.stream` (the minibatches); this one holds the
registry and re-exports their public names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from graphprolong.checks import check_choice

from .dataset import Dataset
from .fashion import (FASHION_MNIST_CLASSES, FASHION_MNIST_DIRECTORY, FASHION_MNIST_ENVIRONMENT_VARIABLE, FASHION_MNIST_TASKS,
                      fashion_mnist)
from .idx import IDX_TYPES, read_idx, write_idx
from .npz_file import npz
from .objects import NOISE_KINDS, one_object, two_object
from .poisson import INPUT_CHANNELS, PoissonData, generate_poisson_data, poisson_dataset, split, to_dataset
from .poisson_cache import CACHE_ENVIRONMENT_VARIABLE, GENERATOR_VERSION, cache_directory, cache_path
from .poisson_solver import (
    FACE_MEANS,
    PARAMETER_NAMES,
    PARAMETER_RANGES,
    coefficient,
    node_coordinates,
    poisson_matrix,
    sample_parameters,
    solve_poisson,
    source_term,
)
from .signals import signals
from .stream import MinibatchStream

__all__ = [
    "ADDED_OPTIONS",
    "CACHE_ENVIRONMENT_VARIABLE",
    "DATASETS",
    "FACE_MEANS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIRECTORY",
    "FASHION_MNIST_ENVIRONMENT_VARIABLE",
    "FASHION_MNIST_TASKS",
    "GENERATOR_VERSION",
    "IDX_TYPES",
    "INPUT_CHANNELS",
    "NOISE_KINDS",
    "PARAMETER_NAMES",
    "PARAMETER_RANGES",
    "Dataset",
    "MinibatchStream",
    "PoissonData",
    "cache_directory",
    "cache_path",
    "coefficient",
    "fashion_mnist",
    "generate_poisson_data",
    "load_dataset",
    "node_coordinates",
    "npz",
    "one_object",
    "poisson_dataset",
    "poisson_matrix",
    "read_idx",
    "sample_parameters",
    "signals",
    "solve_poisson",
    "source_term",
    "split",
    "to_dataset",
    "two_object",
    "write_idx",
]

#: Data set factories by name; every one takes keyword-only options and ``seed``.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "fashion_mnist": fashion_mnist,
    "npz": npz,
    "one_object": one_object,
    "poisson": poisson_dataset,
    "signals": signals,
    "two_object": two_object,
}

#: Loader options added after runs were checkpointed, by data set, with their defaults: at its default such an
#: option stays out of a run's fingerprint (:meth:`msann.config.RunConfig.fingerprint_dict`), so those checkpoints
#: still resume (as ``option(..., added=True)`` keys of the recipe tables).
ADDED_OPTIONS: dict[str, dict[str, Any]] = {"fashion_mnist": {"task": "autoencoder"}, "poisson": {"standardize": False}}


def load_dataset(name: str, *, seed: int = 0, **options: Any) -> Dataset:
    """Build the data set ``name`` from :data:`DATASETS` with ``options``.

    Raises
    ------
    ValueError
        If ``name`` is not registered (the message lists the valid names).
    TypeError
        If an option is unknown or a required one is missing (the message
        names it and lists the valid options).

    Examples
    --------
    >>> load_dataset("two_object", length=32, n_train=4, n_val=2, seed=3).unit_shape
    (32,)
    """
    factory = DATASETS[check_choice("dataset", name, DATASETS)]
    parameters = inspect.signature(factory).parameters
    valid = sorted(key for key in parameters if key != "seed")
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid options are: {', '.join(valid)}"
        )
    required = [key for key in valid if parameters[key].default is inspect.Parameter.empty and key not in options]
    if required:
        raise TypeError(
            f"dataset {name!r} needs option(s) {', '.join(required)}; valid options are: {', '.join(valid)}"
        )
    return factory(seed=seed, **options)
