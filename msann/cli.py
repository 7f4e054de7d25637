"""Command line: ``msann run RECIPE`` and ``msann sweep RECIPE``.

Examples::

    msann run recipes/one_object.toml --out results/one_object
    msann run recipes/one_object.toml --set train.cost_budget=5000 --set hierarchy.levels=3
    msann run recipes/one_object.toml --out results/one_object --resume     # after a kill
    msann sweep recipes/one_object.toml --gamma 1,2,3 --levels 0..6 --k 1,2,4,8,16 --out results/sweep

Every recipe error (unknown key, wrong type, impossible sizes, missing data)
is reported as one line naming the file and the key, with exit status 2,
before any training starts.  A diverging run stops with exit status 3 and
keeps its last good checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .config import ConfigError, expand_sweep, load_config, parse_int_list

__all__ = ["build_parser", "main"]


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="TOML recipe file (see recipes/)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--out", default=None, help="output folder (default: results/<recipe name>)")
    parser.add_argument("--seed", type=int, default=None, help="shorthand for --set train.seed=N")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="TABLE.KEY=VALUE",
                        help="override a recipe value (TOML syntax; repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue each run from its checkpoint in --out")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 is fastest on a shared machine)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no table")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msann", description="Multilevel (MsANN) training of autoencoders from TOML recipes.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train every run of a recipe; write summary.json, history.csv, plots")
    _add_common(run_parser)
    run_parser.set_defaults(handler=_run_command)
    sweep_parser = commands.add_parser("sweep", help="sweep gamma x levels x k on a recipe's first run; Table-1-style summary")
    _add_common(sweep_parser)
    sweep_parser.add_argument("--gamma", default="1,2,3", help="cycle indices, e.g. 1,2,3 (default: 1,2,3)")
    sweep_parser.add_argument("--levels", default="0..6", help="depths L, e.g. 0..6 (default: 0..6)")
    sweep_parser.add_argument("--k", default="1,2,4,8,16", help="smoothing batches per visit (default: 1,2,4,8,16)")
    sweep_parser.set_defaults(handler=_sweep_command)
    return parser


def _load(args: argparse.Namespace):
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1; got {args.threads}")
        torch.set_num_threads(args.threads)
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    config = load_config(args.recipe, overrides=overrides)
    out = Path(args.out) if args.out else Path("results") / config.name
    return config, out


def _progress(args: argparse.Namespace) -> bool | None:
    return False if args.quiet else None


def _print_runs(records, out: Path) -> None:
    print(f"{'run':<24} {'final val MSE':>14} {'cost to 1/10':>13} {'total cost':>11} {'seconds':>9}")
    for record in records:
        tenth = record.cost_to_tenth
        print(f"{record.label:<24} {record.final_val_mse:>14.4e} {('%.4g' % tenth) if tenth is not None else '-':>13} "
              f"{record.total_cost:>11.5g} {record.wall_seconds:>9.1f}")
    print(f"wrote {out / 'summary.json'}, {out / 'history.csv'}, {out / 'errors.csv'}, {out / 'error_vs_cost.png'}, {out / 'errors.png'}")


def _run_command(args: argparse.Namespace) -> int:
    from .experiment import run_experiment

    config, out = _load(args)
    started = time.perf_counter()
    records = run_experiment(config, out, device=args.device, resume=args.resume, progress=_progress(args))
    if not args.quiet:
        _print_runs(records, out)
        print(f"{len(records)} run(s) in {time.perf_counter() - started:.1f} s")
    return 0


def _sweep_command(args: argparse.Namespace) -> int:
    from .experiment import run_experiment
    from .report import write_sweep

    config, out = _load(args)
    lists = {name: parse_int_list(getattr(args, name), name=f"--{name}", minimum=0 if name == "levels" else 1)
             for name in ("gamma", "levels", "k")}
    runs = expand_sweep(config, **lists)
    records = run_experiment(config, out, runs=runs, device=args.device, resume=args.resume, progress=_progress(args),
                             plot_title=f"{config.name}: sweep", plot_every_run=False)
    write_sweep(out, records, title=f"{config.name}: sweep")
    if not args.quiet:
        print((out / "sweep.md").read_text())
        print(f"wrote {out / 'sweep.md'}, {out / 'sweep.json'}, {out / 'sweep.png'}, {out / 'summary.json'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from .core.checkpoint import CheckpointError, DivergenceError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"msann {args.command}: error: {error}", file=sys.stderr)
        return 2
    except DivergenceError as error:
        print(f"msann {args.command}: diverged: {error}", file=sys.stderr)
        return 3
    except (CheckpointError, ValueError, TypeError, FileNotFoundError) as error:
        print(f"msann {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
