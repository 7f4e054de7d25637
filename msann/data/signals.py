"""Audio-like 1-D signals for denoising: a few damped notes over a slow baseline.

Each clean signal ``x`` of ``length`` samples ``t = 0, ..., length - 1`` is

.. math::

    x(t) = \\operatorname{clip}\\Big(\\tfrac12 + b(t) + \\sum_{j=1}^{K} a_j\\, e_j(t - o_j)
           \\sin\\big(2\\pi (t - o_j) / T_j + \\varphi_j\\big),\\ 0,\\ 1\\Big),

    e_j(u) = [u \\ge 0]\\, \\big(1 - e^{-u/\\alpha_j}\\big)\\, e^{-u/\\tau_j},
    \\qquad
    b(t) = \\sum_{m=1}^{3} \\frac{c_m}{m} \\cos\\big(2\\pi m t / \\mathit{length} + \\psi_m\\big),

with, independently per example and note,

- ``K`` uniform on the integers of ``notes = (min, max)``;
- onset ``o_j`` uniform in ``[-length / 4, length)`` (a note may already be
  sounding at ``t = 0``);
- period ``T_j`` log-uniform in ``periods`` (samples per cycle; default 4 to
  256, i.e. from a few samples to a quarter of the signal);
- amplitude ``a_j`` uniform in ``amplitudes``; phase ``phi_j`` uniform in
  ``[0, 2 pi)``;
- decay time ``tau_j`` log-uniform in ``decays`` (samples) and attack time
  ``alpha_j`` log-uniform in :data:`ATTACK_RANGE` (a smooth onset, no jump);
- baseline coefficients ``c_m ~ N(0, baseline^2)`` and phases ``psi_m``
  uniform in ``[0, 2 pi)``.

The map to [0, 1] is one fixed affine rule for every example, ``1/2 + s``
(amplitudes are in output units), not a per-example min-max scaling, so
loudness survives; values outside [0, 1] are clipped, and the fraction of
clipped clean samples is reported in the metadata (about 1e-4 with the
defaults).  Inputs are the clean signals plus Gaussian noise of standard
deviation ``noise``, clipped to [0, 1]; targets are the clean signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphprolong.checks import check_positive, check_positive_int, check_real

from .dataset import Dataset

__all__ = ["ATTACK_RANGE", "BASELINE_HARMONICS", "signals"]

#: Range (samples) of the log-uniform attack time of a note's envelope.
ATTACK_RANGE: tuple[float, float] = (1.0, 16.0)

#: Number of slow cosines ``m = 1, 2, 3`` (periods ``length / m``) in the baseline.
BASELINE_HARMONICS = 3

#: Onsets are uniform in ``[ONSET_START * length, length)``.
ONSET_START = -0.25


def _checked_range(
    name: str, value: Any, *, integer: bool, minimum: float, strict: bool = False
) -> tuple[Any, Any]:
    """``value`` as ``(low, high)`` with ``minimum <= low <= high`` (``<`` if ``strict``), or an error stating that rule.

    An integer option may also be one int ``n`` (meaning ``(n, n)``).
    """
    kind = "an int or a pair (min, max) of ints" if integer else "a pair (min, max) of numbers"
    rule = f"{name} must be {kind} with {minimum:g} {'<' if strict else '<='} min <= max"
    pair = (value, value) if integer and isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise ValueError(f"{rule}; got {name} = {value!r}")
    if integer:
        low, high = (check_positive_int(name, item, minimum=int(minimum)) for item in pair)
    else:
        low, high = (check_real(name, item) for item in pair)
    if not (minimum < low if strict else minimum <= low) or not low <= high:
        raise ValueError(f"{rule}; got {name} = {value!r}")
    return low, high


def _check_nonnegative(name: str, value: Any) -> float:
    number = check_real(name, value)
    if number < 0.0:
        raise ValueError(f"{name} must be >= 0; got {name} = {value!r}")
    return number


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], size: Any) -> np.ndarray:
    low, high = np.log(bounds[0]), np.log(bounds[1])
    return np.exp(rng.uniform(low, high, size=size))


def _baseline(rng: np.random.Generator, count: int, length: int, scale: float) -> np.ndarray:
    """``count x length`` sums of :data:`BASELINE_HARMONICS` slow cosines (float32)."""
    harmonics = np.arange(1, BASELINE_HARMONICS + 1)
    weights = rng.normal(0.0, scale, size=(count, BASELINE_HARMONICS)) / harmonics
    phases = rng.uniform(0.0, 2 * np.pi, size=(count, BASELINE_HARMONICS))
    angles = 2 * np.pi * np.outer(harmonics, np.arange(length)) / length  # harmonics x length
    # cos(angle + phase) = cos(angle) cos(phase) - sin(angle) sin(phase): two small matrix products
    baseline = (weights * np.cos(phases)) @ np.cos(angles) - (weights * np.sin(phases)) @ np.sin(angles)
    return baseline.astype(np.float32)


def _add_notes(rng: np.random.Generator, signal: np.ndarray, options: dict[str, Any]) -> None:
    """Add every example's notes to ``signal`` (``count x length``, float32) in place."""
    count, length = signal.shape
    low, high = options["notes"]
    note_counts = rng.integers(low, high + 1, size=count)
    slots = (count, high)
    onsets = rng.uniform(ONSET_START * length, length, size=slots)
    frequencies = 1.0 / _log_uniform(rng, options["periods"], slots)
    amplitudes = rng.uniform(*options["amplitudes"], size=slots)
    phases = rng.uniform(0.0, 2 * np.pi, size=slots)
    decay_rates = 1.0 / _log_uniform(rng, options["decays"], slots)
    attack_rates = 1.0 / _log_uniform(rng, ATTACK_RANGE, slots)
    time = np.arange(length, dtype=np.float32)
    for slot in range(high):  # one pass per note slot, over the examples that have that many notes
        rows = np.flatnonzero(note_counts > slot)
        onset, frequency, amplitude, phase, decay, attack = (
            values[rows, slot, None].astype(np.float32)
            for values in (onsets, frequencies, amplitudes, phases, decay_rates, attack_rates)
        )
        elapsed = np.maximum(time - onset, 0.0)  # 0 before the onset, where the envelope is 0 too
        # e^{-u/tau} (1 - e^{-u/alpha}) = e^{-u/tau} - e^{-u (1/tau + 1/alpha)}; in place, it is the hot loop
        envelope = np.exp(elapsed * -decay)
        envelope -= np.exp(elapsed * -(decay + attack))
        wave = elapsed * (np.float32(2 * np.pi) * frequency)
        wave += phase
        envelope *= np.sin(wave, out=wave)
        envelope *= amplitude
        signal[rows] += envelope


def _signal_split(
    seed_sequence: np.random.SeedSequence, count: int, options: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Noisy inputs, clean targets and the fraction of clean samples that were clipped."""
    rng = np.random.default_rng(seed_sequence)
    signal = _baseline(rng, count, options["length"], options["baseline"])
    signal += np.float32(0.5)
    _add_notes(rng, signal, options)
    clipped = float(np.count_nonzero((signal < 0.0) | (signal > 1.0))) / signal.size
    clean = np.clip(signal, 0.0, 1.0, out=signal)
    noisy = rng.standard_normal(clean.shape, dtype=np.float32)
    noisy *= np.float32(options["noise"])
    noisy += clean
    np.clip(noisy, 0.0, 1.0, out=noisy)
    return noisy, clean, clipped


def signals(
    *,
    length: int = 1024,
    notes: int | tuple[int, int] = (1, 4),
    periods: tuple[float, float] = (4.0, 256.0),
    decays: tuple[float, float] = (32.0, 512.0),
    amplitudes: tuple[float, float] = (0.1, 0.4),
    baseline: float = 0.03,
    noise: float = 0.05,
    n_train: int = 10000,
    n_val: int = 1000,
    seed: int = 0,
) -> Dataset:
    """Denoising data of audio-like signals: damped notes over a slow baseline, Gaussian input noise.

    See the module docstring for the model.  Signals are smooth at the scale
    of a few samples (neighbouring samples are strongly correlated), which is
    what graph-designed prolongations on a path graph exploit.

    Parameters
    ----------
    length : int
        Number of samples ``d``.
    notes : int or (int, int)
        Number of notes per example, uniform on ``min..max`` (an int ``n``
        means exactly ``n``); ``1 <= min <= max``.
    periods : (float, float)
        Range of the note periods in samples (log-uniform); ``2 <= min <= max``.
    decays : (float, float)
        Range of the decay times in samples (log-uniform); ``0 < min <= max``.
    amplitudes : (float, float)
        Range of the note amplitudes in output units (uniform); ``0 <= min <= max``.
    baseline : float
        Standard deviation (>= 0) of the baseline's cosine coefficients.
    noise : float
        Standard deviation (>= 0) of the Gaussian noise on the inputs.
    n_train, n_val : int
        Numbers of training and validation examples.
    seed : int
        Seed (>= 0).  Training and validation sets come from independent
        streams spawned from it, so the validation set does not depend on
        ``n_train``.

    Returns
    -------
    Dataset
        ``unit_shape == (length,)``; values in [0, 1]; ``metadata`` records
        every option, the fixed constants and ``clipped_fraction`` (of the
        clean training and validation samples).

    Raises
    ------
    ValueError, TypeError
        If an option breaks its rule (the message states the rule and the value).

    Examples
    --------
    >>> data = signals(length=256, n_train=8, n_val=2, seed=1)
    >>> data.unit_shape, bool(data.train_targets.min() >= 0 and data.train_targets.max() <= 1)
    ((256,), True)
    """
    length = check_positive_int("length", length, minimum=2)
    options = {
        "length": length,
        "notes": _checked_range("notes", notes, integer=True, minimum=1),
        "periods": _checked_range("periods", periods, integer=False, minimum=2.0),
        "decays": _checked_range("decays", decays, integer=False, minimum=0.0, strict=True),
        "amplitudes": _checked_range("amplitudes", amplitudes, integer=False, minimum=0.0),
        "baseline": _check_nonnegative("baseline", baseline),
        "noise": _check_nonnegative("noise", noise),
    }
    n_train = check_positive_int("n_train", n_train)
    n_val = check_positive_int("n_val", n_val)
    seed = check_positive_int("seed", seed, minimum=0)
    train_seed, val_seed = np.random.SeedSequence(seed).spawn(2)
    train_inputs, train_targets, train_clipped = _signal_split(train_seed, n_train, options)
    val_inputs, val_targets, val_clipped = _signal_split(val_seed, n_val, options)
    metadata = {
        "name": "signals",
        **{key: list(value) if isinstance(value, tuple) else value for key, value in options.items()},
        "n_train": n_train,
        "n_val": n_val,
        "seed": seed,
        "attack_range": list(ATTACK_RANGE),
        "baseline_harmonics": BASELINE_HARMONICS,
        "onset_range": [ONSET_START * length, length],
        "scaling": "0.5 + signal, clipped to [0, 1] (one fixed rule for all examples)",
        "clipped_fraction": {"train": train_clipped, "val": val_clipped},
        "noise_kind": "gaussian",
        "noise_on": "inputs",
    }
    return Dataset("signals", train_inputs, train_targets, val_inputs, val_targets, (length,), metadata)
