"""How the command lines turn an error into an outcome and one line (graphprolong's and msann's).

Each command line handles its own errors first (Ctrl-C, a diverged run, a
recipe error, a missing input file) and hands the rest to :func:`outcome`:
out of memory, a file-system error, invalid input, or an internal error.
"""

from __future__ import annotations

__all__ = ["out_of_memory", "outcome"]


def out_of_memory(error: BaseException) -> bool:
    """MemoryError (numpy's too), torch's OutOfMemoryError (GPU), or torch's CPU allocator failing (a RuntimeError)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def outcome(error: BaseException, *, memory_hint: str) -> tuple[str, str]:
    """``(outcome, one-line message)``: ``"memory"``, ``"filesystem"``, ``"input"`` or ``"internal"``."""
    if out_of_memory(error):
        detail = str(error).strip().splitlines()[0] if str(error).strip() else "no detail"
        return "memory", f"out of memory ({type(error).__name__}: {detail}); {memory_hint}"
    if isinstance(error, OSError):
        return "filesystem", f"file-system error: {error}"
    if isinstance(error, (ValueError, TypeError)):
        return "input", f"error: {error}"
    return "internal", f"internal error ({type(error).__name__}: {error}); rerun with --debug for the traceback"
