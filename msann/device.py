"""The device rule of msann: ``auto`` (CUDA when torch sees one), ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

import re

import torch

__all__ = ["DEVICES", "resolve_device"]

#: Device names a recipe or ``--device`` may give (``cuda:N`` too).
DEVICES = ("auto", "cpu", "cuda")
_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(name: str = "auto") -> torch.device:
    """The ``torch.device`` of a device name.

    Raises
    ------
    ValueError
        For a name that is not ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, and
        for CUDA asked for where torch sees none (naming torch's version).
    """
    if not isinstance(name, str) or not _PATTERN.fullmatch(name):
        raise ValueError(f"unknown device {name!r}; valid devices are: {', '.join(DEVICES)} (or cuda:N)")
    cuda = torch.cuda.is_available()
    if name != "auto" and name.startswith("cuda") and not cuda:
        raise ValueError(f"device {name!r} was requested, but torch {torch.__version__} sees no CUDA device "
                         f"(torch.cuda.is_available() is False); use 'cpu' or 'auto'")
    return torch.device(("cuda" if cuda else "cpu") if name == "auto" else name)
