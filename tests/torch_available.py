"""Whether torch is importable here: graphprolong's tests run with and without it (torch is an optional extra)."""

import pytest

try:
    import torch  # noqa: F401
except ImportError:
    HAS_TORCH = False
else:
    HAS_TORCH = True

#: Mark for a test that needs torch (the torch backend, the .pt export format).
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch (graphprolong's optional 'torch' extra)")
