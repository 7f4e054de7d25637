"""Atomic file writes whose errors name the file written, not its temporary twin.

:func:`graphprolong.io.atomic_write_bytes` writes beside the target
(``.NAME.XXXXXXXX.tmp``) and renames; an ``OSError`` raised meanwhile names the
temporary file or nothing.  :func:`write_atomically` re-raises it naming the
target, so that the CLI's one-line message says which output failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from graphprolong.io import atomic_write_bytes

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """``atomic_write_bytes(path, write)``; an ``OSError`` is re-raised as the same type naming ``path``."""
    try:
        return atomic_write_bytes(path, write)
    except OSError as error:
        if error.errno is None:
            raise
        raise type(error)(error.errno, f"cannot write {path}: {error.strerror}") from error
