"""Time and cost for each run of an ``msann run`` output to reach a baseline run's final validation error.

For every run of ``OUT/summary.json`` (with ``OUT/history.csv``): the cost,
work units (``C(t) / batch size``) and training seconds at which its logged
validation error first reaches the baseline's final one, interpolated
linearly between the two logged points that bracket it (the log is on a
grid; the interpolation is said in the table), and its error at the
baseline's total seconds (the last logged point not after them):
:func:`msann.report.compare_to`, which ``msann run`` also writes into every
run's ``to_baseline`` against the recipe's first run.  Seconds leave out
evaluations and checkpoints, as ``history.csv`` has them.

    python bench/time_to_target.py results/mgopt_poisson_fc --baseline SGD [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from msann.report import compare_to, read_summary  # noqa: E402


def table(out: Path, baseline: str) -> list[dict]:
    """One row per run: :func:`msann.report.compare_to` against the run labelled ``baseline``, its final error and seconds."""
    _, runs = read_summary(out)
    reference = next((run for run in runs if run.label == baseline), None)
    if reference is None:
        raise SystemExit(f"no run labelled {baseline!r} in {out}; runs: {', '.join(run.label for run in runs)}")
    return [dict(compare_to(run, reference), label=run.label, final=run.history[-1][1], total_seconds=run.history[-1][2])
            for run in runs]


def markdown(rows: list[dict], baseline: str) -> str:
    def number(value, digits=4):
        return "-" if value is None else f"{value:.{digits}g}"

    base = next(row for row in rows if row["label"] == baseline)
    lines = [f"target: {baseline}'s final validation error {base['final']:.4e} (reached = first logged crossing, interpolated)", "",
             "| run | final error | cost to target | WU to target | s to target | s vs baseline | error at baseline's seconds |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        ratio = None if row["seconds"] is None or not base["seconds"] else row["seconds"] / base["seconds"]
        lines.append(f"| {row['label']} | {row['final']:.4e} | {number(row['cost'])} | {number(row['work_units'])} | "
                     f"{number(row['seconds'])} | {number(ratio, 3)} | {row['error_at_baseline_seconds']:.4e} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="an msann run output folder")
    parser.add_argument("--baseline", required=True, help="label of the baseline run")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = table(args.out, args.baseline)
    print(markdown(rows, args.baseline))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
