"""A fork server for the command-line error corpora (tests/test_cli_errors.py, tests/msann/test_cli_errors.py).

One interpreter imports what the command line imports once (torch and
graphprolong take seconds), then forks one child per case.  The child runs the
module as ``python -m MODULE`` does (runpy, ``__main__``) in the case's folder,
with its stdout and stderr in files of the case's log folder, under optional
resource limits, and exits with the command line's own status.  Jobs are JSON
lines on stdin (``name``, ``cwd``, ``log``, ``argv``, ``fsize``, ``as``); the
statuses come back as one JSON object on stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

_SERVER = r"""
import json, os, resource, runpy, sys, traceback
{imports}
sys.modules.pop({module!r}, None)  # runpy runs it afresh as __main__
running, results = {{}}, {{}}
def reap():
    pid, status = os.wait()
    results[running.pop(pid)] = os.waitstatus_to_exitcode(status)
for line in sys.stdin:
    job = json.loads(line)
    while len(running) >= {workers}:
        reap()
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(job["cwd"])
            for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
                os.dup2(os.open(os.path.join(job["log"], name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            for limit, value in ((resource.RLIMIT_FSIZE, job.get("fsize")), (resource.RLIMIT_AS, job.get("as"))):
                if value:
                    resource.setrlimit(limit, (value, value))
            sys.argv = [{program!r}, *job["argv"]]
            runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
    running[pid] = job["name"]
while running:
    reap()
print(json.dumps(results))
"""


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``folder``, by relative path."""
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None for path in sorted(folder.rglob("*"))}


def prepare(root: Path, index: int, write_files: Callable[[Path], None]) -> tuple[Path, Path, dict]:
    """A case's folder (filled by ``write_files``), its log folder, and the snapshot of its files before the run."""
    folder, log = root / f"case{index}", root / f"log{index}"
    folder.mkdir()
    log.mkdir()
    write_files(folder)
    return folder, log, snapshot(folder)


def run_forked(jobs: Iterable[dict], *, module: str, program: str, imports: str, workers: int, env: dict,
               timeout: float) -> dict[str, int]:
    """Run ``jobs`` through one fork server of ``module`` (``imports``: what to import before forking); their statuses by name."""
    script = _SERVER.format(imports=imports, module=module, program=program, workers=workers)
    server = subprocess.run([sys.executable, "-c", script], input="".join(json.dumps(job) + "\n" for job in jobs), env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert server.returncode == 0, server.stderr
    return json.loads(server.stdout.strip().splitlines()[-1])


def completed(argv: list[str], status: int, log: Path) -> subprocess.CompletedProcess:
    """A forked case's outcome as a ``CompletedProcess`` (its status, and the stdout and stderr it wrote)."""
    return subprocess.CompletedProcess(argv, status, (log / "stdout.txt").read_text(), (log / "stderr.txt").read_text())
