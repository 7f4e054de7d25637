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

Several processes (:mod:`msann.core.distributed`)::

    torchrun --nproc_per_node=4 -m msann.cli run recipes/fas_poisson_fc.toml --out results/fas
    torchrun --nproc_per_node=4 -m msann.cli sweep recipes/one_object.toml --out results/sweep

``msann run`` trains each run data-parallel on all ranks (``--parallel
data``); ``msann sweep`` gives whole runs to the ranks in turn (``--parallel
runs``).  Rank 0 prints and writes the reports; every rank's error line names
its rank.

Exit statuses (every failure is one line on stderr; ``--debug`` shows the
traceback instead):

===  ==========================================================================
0    every run trained and the report files are written
1    an internal error (a bug: please report it with the ``--debug`` traceback)
2    invalid input, found before any training: the recipe, an option, the
     data, an output folder that is a file or not writable, run labels whose
     folders collide, a checkpoint that is not this run's
3    a run diverged (NaN or inf); its last good checkpoint, if any, is kept
4    a file-system error during the run (disk full, permissions changed, ...)
5    out of memory (host or GPU)
6    under ``torchrun``: another rank died, or a collective waited longer than
     ``--dist-timeout``; the last checkpoint is kept: continue with
     ``--resume``, on any number of ranks
130  interrupted (Ctrl-C / SIGINT): the running run saves a checkpoint at its
     next safe point (between two events of the cycle) and stops; continue
     with ``--resume``.  A second Ctrl-C stops at once, without saving.
===  ==========================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from graphprolong.errors import outcome as common_outcome

from .config import ConfigError, expand_sweep, load_config, parse_int_list, parse_seeds
from .experiment import check_output_folder

__all__ = ["EXIT_STATUSES", "build_parser", "main"]

#: Exit status by outcome (the table of the module docstring).
EXIT_STATUSES = {"ok": 0, "internal": 1, "input": 2, "diverged": 3, "filesystem": 4, "memory": 5, "distributed": 6,
                 "interrupted": 130}


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="TOML recipe file (see recipes/)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--out", default=None, help="output folder (default: results/<recipe name>)")
    parser.add_argument("--seed", type=int, default=None, help="shorthand for --set train.seed=N")
    parser.add_argument("--seeds", default=None, metavar="N|LIST",
                        help="repeat every run over seeds: N (seeds 0..N-1) or a list such as 0,3,7 or 0..4; tables give "
                             "median [min-max] (default: the recipe's seeds = [...], if any)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="TABLE.KEY=VALUE",
                        help="override a recipe value (TOML syntax; repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue each run from its checkpoint in --out")
    parser.add_argument("--threads", default=None,
                        help="torch CPU threads: a number, or 'auto' for the cores idle at the start (default: torch's "
                             "choice; 1 is fastest on a shared machine)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no table")
    parser.add_argument("--parallel", choices=("data", "runs"), default=None,
                        help="under torchrun: 'data' trains every run on all ranks (global minibatches split over them), "
                             "'runs' gives whole runs to the ranks in turn (default: data for run, runs for sweep)")
    parser.add_argument("--dist-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="under torchrun: seconds a rank waits for the others before the job fails (default: 600)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error instead of one line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msann", description="Multilevel (MsANN) training of autoencoders from TOML recipes.",
        epilog="exit status: 0 done, 1 internal error, 2 invalid input (before any training), 3 diverged, "
               "4 file-system error, 5 out of memory, 6 another rank failed (torchrun), "
               "130 interrupted (Ctrl-C saves a checkpoint; continue with --resume)")
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

        from .device import resolve_threads

        torch.set_num_threads(resolve_threads(args.threads))
    overrides = list(args.overrides)
    if args.seed is not None:
        if args.seed < 0:
            raise ConfigError(args.recipe, f"--seed must be an integer >= 0; got {args.seed}")
        overrides.append(f"train.seed={args.seed}")
    config = load_config(args.recipe, overrides=overrides)
    if args.seeds is not None:
        if args.seed is not None:
            raise ConfigError(args.recipe, f"--seed {args.seed} and --seeds {args.seeds} exclude each other: --seed sets one "
                                           f"seed, --seeds repeats every run over several")
        try:
            config = dataclasses.replace(config, seeds=parse_seeds(args.seeds))
        except ValueError as error:
            raise ConfigError(args.recipe, str(error)) from None
    out = Path(args.out) if args.out else Path("results") / config.name
    check_output_folder(out)
    return config, out


def _progress(args: argparse.Namespace) -> bool | None:
    return False if args.quiet else None


def _print_runs(records, out: Path) -> None:
    """The runs' table; "to 1st final": cost and training seconds to the first run's final error (summary's ``to_baseline``).

    The error is the task's logged one, named by :func:`msann.report.error_label` ("val MSE", "val error rate").
    """
    from .report import error_label

    error = f"val {error_label(records)}"  # the logged error: the first of the task's metrics
    final = f"final {error}"
    width, labels = max(14, len(final)), max([24, *(len(record.label) for record in records)])
    print(f"{'run':<{labels}} {final:>{width}} {'cost to 1/10':>13} {'total cost':>11} {'seconds':>9} "
          f"{'cost to 1st final':>18} {'s to 1st final':>15}")
    for record in records:
        tenth, reach = record.cost_to_tenth, record.extra.get("to_baseline", {})
        print(f"{record.label:<{labels}} {record.final_val_mse:>{width}.4e} {_figure(tenth, '%.4g'):>13} {record.total_cost:>11.5g} "
              f"{record.wall_seconds:>9.1f} {_figure(reach.get('cost'), '%.5g'):>18} {_figure(reach.get('seconds'), '%.2f'):>15}")
    if len(records) > 1:
        print(f"to 1st final: first reaching the final {error} of {records[0].label!r}, {records[0].final_val_mse:.4e} "
              f"(interpolated between logged points; training seconds leave out evaluations and checkpoints); '-' = not reached")
    print(f"wrote {out / 'summary.json'}, {out / 'history.csv'}, {out / 'errors.csv'}, {out / 'error_vs_cost.png'}, {out / 'errors.png'}")


def _print_seeds(out: Path) -> None:
    """The seeds table (median [min-max] over the seeds of every run) and the files written."""
    print((out / "seeds.md").read_text())
    print(f"wrote {out / 'seeds.md'}, {out / 'seeds.json'}, {out / 'seeds.png'}, {out / 'summary.json'}, {out / 'history.csv'}")


def _figure(value: float | None, form: str) -> str:
    return "-" if value is None else form % value


def _run_command(args: argparse.Namespace) -> int:
    from .experiment import run_experiment

    config, out = _load(args)
    started = time.perf_counter()
    records = run_experiment(config, out, device=args.device, resume=args.resume, progress=_progress(args),
                             parallel=args.parallel or "data")
    if not args.quiet and config.seeds:
        _print_seeds(out)
    elif not args.quiet:
        _print_runs(records, out)
        print(f"{len(records)} run(s) in {time.perf_counter() - started:.1f} s")
    return 0


def _sweep_command(args: argparse.Namespace) -> int:
    from .core.distributed import is_main_process
    from .experiment import run_experiment
    from .report import write_sweep

    config, out = _load(args)
    lists = {name: parse_int_list(getattr(args, name), name=f"--{name}", minimum=0 if name == "levels" else 1)
             for name in ("gamma", "levels", "k")}
    runs = expand_sweep(config, **lists)
    records = run_experiment(config, out, runs=runs, device=args.device, resume=args.resume, progress=_progress(args),
                             plot_title=f"{config.name}: sweep", plot_every_run=False, parallel=args.parallel or "runs")
    if config.seeds:  # the seeds table (median and spread of every configuration) is the sweep's table
        if not args.quiet:
            _print_seeds(out)
        return 0
    if args.quiet:  # every rank but rank 0 is quiet (main)
        if is_main_process():
            write_sweep(out, records, title=f"{config.name}: sweep")
        return 0
    write_sweep(out, records, title=f"{config.name}: sweep")
    if not args.quiet:
        print((out / "sweep.md").read_text())
        print(f"wrote {out / 'sweep.md'}, {out / 'sweep.json'}, {out / 'sweep.png'}, {out / 'summary.json'}")
    return 0


@contextlib.contextmanager
def _stop_on_interrupt():
    """SIGINT asks a running training loop to save and stop at its next safe point; outside one, or twice, it stops at once."""
    from .core.driver import clear_stop, request_stop, training_active

    def handler(signum, frame):
        if training_active():
            request_stop()
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once
        else:
            raise KeyboardInterrupt

    clear_stop()
    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no handler, Ctrl-C stays a KeyboardInterrupt
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        clear_stop()


def _outcome(error: BaseException) -> tuple[str, str]:
    """The outcome (a key of :data:`EXIT_STATUSES`) of an error, and its one-line message."""
    from .core.checkpoint import CheckpointError, DivergenceError
    from .core.driver import TrainingInterrupted

    if isinstance(error, TrainingInterrupted):
        return "interrupted", f"interrupted: {error}"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", "interrupted (Ctrl-C) outside a training loop; runs already finished are in summary.json"
    if isinstance(error, DivergenceError):
        return "diverged", f"diverged: {error}"
    if isinstance(error, (ConfigError, CheckpointError)):
        return "input", f"error: {error}"
    distributed = _distributed_outcome(error)
    if distributed is not None:
        return distributed
    return common_outcome(error, memory_hint="use a smaller [train] batch_size, smaller [data] sizes or narrower [model] widths")


def _distributed_outcome(error: BaseException) -> tuple[str, str] | None:
    """A failure of the process group (a dead peer, a timeout), or None; torch.distributed is imported only when in use."""
    distributed = sys.modules.get("torch.distributed")
    if distributed is None or not isinstance(error, getattr(distributed, "DistError", ())):
        return None
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return "distributed", (f"another rank failed or did not answer within --dist-timeout ({first}); the last checkpoint is "
                           f"kept: continue with --resume, on any number of ranks")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (:data:`EXIT_STATUSES`).

    Under ``torchrun`` every rank runs it: it joins the process group first
    (:func:`msann.core.distributed.init_from_environment`); only rank 0 prints.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    where = ""
    try:
        if not args.dist_timeout > 0:
            raise ValueError(f"--dist-timeout must be > 0 seconds; got {args.dist_timeout}")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun's environment (torch is imported only then)
            from .core import distributed

            distributed.init_from_environment(device=args.device, timeout=args.dist_timeout)
            where = f" (rank {distributed.rank()} of {distributed.world_size()})"
            args.quiet = args.quiet or not distributed.is_main_process()
        with _stop_on_interrupt():
            return args.handler(args)
    except (Exception, KeyboardInterrupt) as error:
        if args.debug:
            raise
        outcome, message = _outcome(error)
        print(f"msann {args.command}{where}: {message}", file=sys.stderr)
        return EXIT_STATUSES[outcome]
    finally:
        if where:
            from .core import distributed

            distributed.shutdown()



if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
