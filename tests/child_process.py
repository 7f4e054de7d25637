"""Run a test's helper function in a fresh Python process: its own peak memory, its JSON result back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child_result(module: str, function: str, *, timeout: float) -> dict:
    """``module.function()`` (no arguments, JSON-serialisable result) run by a child interpreter at the repository root."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    code = f"import json; from {module} import {function}; print(json.dumps({function}()))"
    child = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout)
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout.strip().splitlines()[-1])
