"""Optional dependencies, imported when first needed, with an error that names the extra to install."""

from __future__ import annotations

__all__ = ["require_torch"]


def require_torch(purpose: str = "the torch backend"):
    """Return the ``torch`` module; ``ImportError`` naming the ``torch`` extra when it is not installed."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"{purpose} needs PyTorch, which is not installed; install it with `pip install torch` "
            "(or the project's extra: `pip install 'graphprolong[torch]'`)"
        ) from None
    return torch
