"""The CPU-thread rule of msann (msann.device): ``--threads auto`` counts the cores idle now."""

from __future__ import annotations

import subprocess
import sys

import pytest

from msann.device import idle_cores, resolve_threads


def _times(*samples):
    """A fake /proc/stat: successive (idle, total) readings."""
    readings = iter(samples)
    return lambda: next(readings)


@pytest.mark.parametrize(("idle_share", "cores", "expected"), [
    (1.0, 2, 2),    # an idle 2-core machine: both
    (0.5, 2, 1),    # one core busy: one thread
    (0.0, 2, 1),    # everything busy: still one
    (0.8, 4, 3),    # 3.2 idle cores: 3
    (0.6875, 4, 3),  # 2.75 idle cores: a core 3/4 idle counts
    (0.625, 4, 2),   # 2.5 idle cores: 2
])
def test_idle_cores_counts_the_cores_idle_over_the_interval(idle_share, cores, expected):
    elapsed = 400.0
    fake = _times((1000.0, 5000.0), (1000.0 + idle_share * elapsed, 5000.0 + elapsed))
    assert idle_cores(interval=0.0, cpu_times=fake, cores=cores) == expected


def test_idle_cores_is_one_where_the_cpu_times_cannot_be_read():
    def unreadable():
        raise OSError("no /proc/stat")

    assert idle_cores(interval=0.0, cpu_times=unreadable, cores=8) == 1
    assert idle_cores(interval=0.0, cpu_times=_times((5.0, 10.0), (5.0, 10.0)), cores=8) == 1  # no time passed


@pytest.mark.parametrize(("value", "message"), [("x", "a positive integer or 'auto'; got 'x'"), ("0", ">= 1 or 'auto'; got 0"),
                                                ("-2", ">= 1 or 'auto'; got -2")])
def test_a_bad_threads_value_names_the_rule_and_the_value(value, message):
    with pytest.raises(ValueError, match=message):
        resolve_threads(value)


def test_a_number_is_taken_as_it_is_and_auto_is_at_least_one():
    assert resolve_threads("3") == 3 and resolve_threads(2) == 2
    assert resolve_threads("auto") >= 1


def test_the_cli_refuses_a_bad_threads_value_in_one_line_with_status_2(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "msann.cli", "run", "missing.toml", "--threads", "many"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == ["msann run: error: --threads must be a positive integer or 'auto'; got 'many'"]
