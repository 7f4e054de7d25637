"""The ``graphprolong`` command line.

``graphprolong solve`` designs one prolongation map and writes it to ``.npz``;
``graphprolong export`` writes the chain of maps along a lineage;
``graphprolong recipes list|verify`` shows the closed-form recipes and checks
them; ``graphprolong plot`` draws; ``graphprolong demo`` runs a small showcase.

Output locations (``-o``, ``--out``, ``--json``, ``--cache-dir``) are checked
before any work.  Exit statuses (every failure is one line on stderr;
``--debug`` shows the Python traceback instead):

===  ==========================================================================
0    done
1    ``recipes verify``: a recipe failed a check; any command: an internal
     error (a bug: please report it with the ``--debug`` traceback)
2    invalid input, found before any work: an option, a graph spec, an
     edge-list or map file (missing, unreadable, not text, corrupt, NaN in
     ``P``), an output location that is a folder, lies under a file or is
     not writable, ``--method spectral`` with s != 0
4    a file-system error during the work (disk full, permissions changed,
     ...), naming the file
5    out of memory
130  interrupted (Ctrl-C); files are written atomically, so none is left
     half-written
===  ==========================================================================

(Status 3, a diverged run, is msann's alone.)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence


from . import __version__
from .checks import orthonormality_error
from .errors import outcome as common_outcome
from .cache import PROLONGATION_METHODS, cache_directory, check_spectral_s
from .cli_recipes import add_recipes_parser
from .export import structured_wanted
from .lineages import GRAPH_SPEC_FORMS, LINEAGE_KINDS, parse_graph_spec, parse_lineage_spec
from .io import check_output_folder, check_output_path, save_prolongation
from .matching import MATCHERS
from .operators import StructuredMatrices, structured_matrices
from .problem import ProlongationProblem
from .solver import BACKENDS, INITIALISATIONS, OPTIMIZERS, solve
from .spectral import spectral_prolongation
from .torch_backend import DTYPES, resolve_device  # torch itself is imported only when the backend runs

__all__ = ["EXIT_STATUSES", "build_parser", "main"]

#: Exit status by outcome (the table of the module docstring).
EXIT_STATUSES = {"ok": 0, "failed": 1, "internal": 1, "input": 2, "filesystem": 4, "memory": 5, "interrupted": 130}

#: How ``graphprolong solve`` makes its map.
SOLVE_METHODS = ("optimize", "spectral")

#: Options of graphprolong.solve set by ``--optimizer``, ``--backend``, ...: argparse destination = solve keyword.
SOLVER_OPTIONS = ("optimizer", "backend", "device", "dtype", "init", "matcher", "restarts", "max_iterations", "max_time")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2; every (sub-)command takes ``--debug``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS,
            help="show the Python traceback of an error instead of one line",
        )

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _solver_options(args: argparse.Namespace) -> dict:
    """The options of :func:`graphprolong.solve` given on the command line (see :func:`_add_solver_options`)."""
    return {name: getattr(args, name) for name in SOLVER_OPTIONS}


def _check_device(args: argparse.Namespace) -> str | None:
    """The device the torch backend will use (``ValueError`` before any work when it is unavailable); None otherwise."""
    return str(resolve_device(args.device)) if args.backend == "torch" else None


def _graph(spec: str, options: dict):
    """The graph of ``spec``: a lineage spec as StructuredMatrices where the options want it, else a networkx graph."""
    lineage = parse_lineage_spec(spec) if structured_wanted(options) else None
    return structured_matrices(*lineage) if lineage is not None else parse_graph_spec(spec)


def _solve_command(args: argparse.Namespace) -> int:
    if args.method == "spectral":
        check_spectral_s(args.s, name="--s")
    check_output_path(args.output, option="-o")
    options = _solver_options(args)
    device = _check_device(args)
    small, large = _graph(args.small, options), _graph(args.large, options)
    problem = ProlongationProblem(small, large, s=args.s, alpha=args.alpha, beta=args.beta)
    started = time.perf_counter()
    if args.method == "spectral":
        P = spectral_prolongation(problem, matcher=args.matcher)
        details = {"iterations": 0, "stopping_reason": "closed form U2 M U1^T"}
    else:
        result = solve(problem, rng=args.seed, **options)
        P = result.P
        details = {"iterations": result.iterations, "stopping_reason": result.stopping_reason}
    seconds = time.perf_counter() - started
    terms = problem.terms(P)
    metadata = {
        "small": args.small,
        "large": args.large,
        "n_small": problem.shape[1],
        "n_large": problem.shape[0],
        "s": problem.s,
        "alpha": terms.alpha,
        "beta": terms.beta,
        "alpha_fixed": args.alpha is not None,
        "beta_fixed": args.beta is not None,
        "objective": terms.objective,
        "diffusion": terms.diffusion,
        "locality": terms.locality,
        "method": args.method,
        "optimizer": args.optimizer if args.method == "optimize" else None,
        "solve": options if args.method == "optimize" else None,
        "structured": isinstance(problem.small, StructuredMatrices),
        "seed": args.seed,
        "seconds": seconds,
        "version": __version__,
        **details,
    }
    path = save_prolongation(args.output, P, metadata=metadata)
    rows = [
        ("graphs", f"{args.small} ({problem.shape[1]} vertices) -> {args.large} ({problem.shape[0]} vertices)"),
        ("method", args.method + (f" ({_describe_solver(args, device)})" if args.method == "optimize" else "")),
        ("s", f"{problem.s:g}"),
        ("objective E", f"{terms.objective:.6e}"),
        ("diffusion term", f"{terms.diffusion:.6e}  (alpha = {terms.alpha:.6g})"),
        ("locality term", f"{terms.locality:.6e}  (beta = {terms.beta:.6g})"),
        ("iterations", f"{details['iterations']}  ({details['stopping_reason']})"),
        ("||P^T P - I||", f"{orthonormality_error(P):.2e}"),
        ("time", f"{seconds:.2f} s"),
        ("written", str(path)),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n".join(f"{name:<{width}}  {value}" for name, value in rows))
    return 0


def _export_command(args: argparse.Namespace) -> int:
    from .export import export_chain, parse_sizes, prolongation_chain

    sizes = parse_sizes(args.sizes, lineage=args.lineage)
    if args.method == "spectral":
        check_spectral_s(args.s, name="--s")
    check_output_path(args.output, option="-o")
    check_output_folder(cache_directory(args.cache_dir), option="--cache-dir" if args.cache_dir else "the cache folder")
    _check_device(args)
    maps, metadata = prolongation_chain(
        args.lineage, sizes, s=args.s, method=args.method, recipe=args.recipe, seed=args.seed, cache_dir=args.cache_dir,
        alpha=args.alpha, beta=args.beta, **_solver_options(args), **({"factored": True} if args.factored else {}),
    )
    written = export_chain(args.output, maps, metadata)
    for k, (P, step) in enumerate(zip(maps, metadata["steps"])):
        made_by = f"recipe {step['recipe']} v{step['recipe_version']}" if step["recipe"] else step["method"]
        print(
            f"P_{k}: {'x'.join(map(str, sizes[k]))} -> {'x'.join(map(str, sizes[k + 1]))}  shape {P.shape}  "
            f"||P^T P - I|| = {orthonormality_error(P):.1e}  ({made_by})"
        )
    print("written: " + ", ".join(str(path) for path in written))
    return 0


def _plot_command(args: argparse.Namespace) -> int:
    from . import plotting
    from .io import load_prolongation

    if args.kind == "heatmap":
        if not args.input:
            raise ValueError("plot heatmap needs --input FILE.npz (a map written by 'graphprolong solve')")
        check_output_path(args.output, option="-o")
        P, metadata = load_prolongation(args.input)
        label = f"{metadata.get('small', '?')} -> {metadata.get('large', '?')}, s = {metadata.get('s', '?')}"
        path = plotting.plot_heatmaps([(label, P)], args.output, columns=1)
    else:
        if not (args.small and args.large):
            raise ValueError(f"plot {args.kind} needs --small SPEC and --large SPEC")
        s_values = _parse_s_values(args.s_values) if args.kind == "sweep" else None
        check_output_path(args.output, option="-o")
        small, large = parse_graph_spec(args.small), parse_graph_spec(args.large)
        if args.kind == "spectra":
            path = plotting.plot_spectra_matching(small, large, args.output)
        else:
            results = plotting.s_sweep(small, large, s_values=s_values, alpha=args.alpha, beta=args.beta, warm_start=args.warm_start)
            path = plotting.plot_s_sweep(results, args.output, title=f"{args.small} -> {args.large}")
    print(f"written: {path}")
    return 0


def _parse_s_values(text: str) -> list[float]:
    """``"0,0.5,1"`` -> [0.0, 0.5, 1.0]; ``ValueError`` naming ``--s-values`` otherwise."""
    try:
        return [float(value) for value in text.split(",")]
    except ValueError:
        raise ValueError(f"--s-values must be comma-separated numbers in [0, 1] like '0,0.5,1'; got {text!r}") from None


def _demo_command(args: argparse.Namespace) -> int:
    from .demo import run_demo

    check_output_folder(args.out, option="--out")
    print(run_demo(args.out))
    return 0


def _describe_solver(args: argparse.Namespace, device: str | None) -> str:
    on = f" on {device}, {args.dtype}" if device is not None else ""
    return f"{args.optimizer}, {args.backend} backend{on}, from {args.init}"


def _add_solver_options(parser: argparse.ArgumentParser) -> None:
    """The options of :func:`graphprolong.solve` (:data:`SOLVER_OPTIONS`), plus ``--seed``."""
    group = parser.add_argument_group("optimisation (when a map is optimised)")
    group.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="trust-regions", help="Riemannian optimiser (default: trust-regions)")
    group.add_argument(
        "--backend", choices=BACKENDS, default="analytic",
        help="derivatives: analytic (numpy, sparse Laplacians), autograd (the seed's pipeline, dense), torch (CPU or "
        "GPU; path/cycle/grid specs go to it as Kronecker operators, never n x n matrices) (default: analytic)",
    )
    group.add_argument("--device", default="auto", help="torch backend: auto, cpu, cuda or cuda:N (default: auto: CUDA when available)")
    group.add_argument("--dtype", choices=DTYPES, default="float64", help="torch backend: working precision; P is returned in float64 (default: float64)")
    group.add_argument(
        "--init", choices=INITIALISATIONS, default="matching",
        help="start: the eigenvalue matching, box-matching (for grids: the Kronecker product of the per-axis "
        "matchings, the start for grids too large for the full assignment problem), random or identity (default: matching)",
    )
    group.add_argument("--matcher", choices=sorted(MATCHERS), default="scipy", help="eigenvalue-matching solver (default: scipy)")
    group.add_argument("--restarts", type=int, default=1, help="runs from the start and then random starts; the best is kept (default: 1)")
    group.add_argument("--max-iterations", type=int, default=500, help="iteration limit per run (default: 500)")
    group.add_argument("--max-time", type=float, default=3600.0, help="wall-clock limit per run, seconds (default: 3600)")
    group.add_argument("--seed", type=int, default=0, help="seed of the random starts (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``graphprolong`` argument parser."""
    parser = _Parser(
        prog="graphprolong",
        description="Design orthonormal prolongation maps P between a small and a large graph "
        "(Scott & Mjolsness): minimise (1-s)||P L1/sqrt(a) - sqrt(a) L2 P||^2 + s||P T1/sqrt(b) - sqrt(b) T2 P||^2 "
        "over P^T P = I.",
        epilog="exit status: 0 done, 1 a recipe failed 'recipes verify' or an internal error, 2 invalid input "
        "(before any work; output locations are checked first), 4 file-system error, 5 out of memory, "
        "130 interrupted (Ctrl-C). Every failure is one line on stderr; --debug shows the traceback.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to standard error")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _add_solve_parser(commands)
    _add_export_parser(commands)
    add_recipes_parser(commands, _Parser)
    _add_plot_parser(commands)
    _add_demo_parser(commands)
    return parser


def _add_scale_options(parser: argparse.ArgumentParser, default: str) -> None:
    for option, term in (("--alpha", "diffusion"), ("--beta", "locality")):
        parser.add_argument(option, type=float, default=None, help=f"fix the {term} scale factor (default: {default})")


def _add_solve_parser(commands) -> None:
    solve_parser = commands.add_parser(
        "solve",
        help="design one prolongation map and save it as .npz",
        description="Design P for one pair of graphs. Graph SPECs: " + ", ".join(GRAPH_SPEC_FORMS)
        + " (an edge-list file has lines 'u v' or 'u v weight').",
    )
    solve_parser.add_argument("--small", required=True, metavar="SPEC", help="the small graph G1")
    solve_parser.add_argument("--large", required=True, metavar="SPEC", help="the large graph G2 (at least as many vertices)")
    solve_parser.add_argument("--s", type=float, required=True, help="locality weight in [0, 1] (0: diffusion only, 1: locality only)")
    solve_parser.add_argument("--method", choices=SOLVE_METHODS, default="optimize", help="Stiefel optimisation, or the s = 0 spectral closed form U2 M U1^T (default: optimize)")
    _add_scale_options(solve_parser, "optimised")
    _add_solver_options(solve_parser)
    solve_parser.add_argument("-o", "--output", required=True, metavar="FILE.npz", help="where to write P and its metadata")
    solve_parser.set_defaults(handler=_solve_command)


def _add_export_parser(commands) -> None:
    export_parser = commands.add_parser(
        "export",
        help="write the chain of maps between consecutive sizes of a lineage",
        description="Design (through the cache) the maps between consecutive sizes of a lineage and write them "
        "as .npz (P_0, P_1, ... and JSON metadata), .mtx (one MatrixMarket file per map, plus a .json manifest) "
        "or .pt (torch). Read them back with graphprolong.export.load_prolongations.",
    )
    export_parser.add_argument("--lineage", required=True, choices=list(LINEAGE_KINDS), help="the lineage")
    export_parser.add_argument("--sizes", required=True, help="comma-separated sizes, e.g. 16,32,64 or 7x7,14x14,28x28 for grids")
    export_parser.add_argument("--s", type=float, default=0.0, help="locality weight in [0, 1] (default: 0)")
    export_parser.add_argument(
        "--method", choices=PROLONGATION_METHODS, default="auto",
        help="how missing maps are computed (default: auto: spectral at s = 0, else the lineage's recipe at s "
        "(the *-interpolation ones at s = 1), else optimize; recipe: a closed-form recipe, see 'graphprolong recipes list')",
    )
    export_parser.add_argument("--recipe", default=None, metavar="NAME", help="the recipe of --method recipe (default: the lineage's preferred recipe at s)")
    export_parser.add_argument(
        "--factored", action="store_true",
        help="write each map factored: its per-axis Kronecker factors (grid-fold, grid-periodic-cover, "
        "grid-periodic-interpolation, every 1-D recipe), plus a low-rank correction for grid-interpolation; "
        "large grids without an N x n array",
    )
    export_parser.add_argument("--cache-dir", default=None, help="cache folder (default: $GRAPHPROLONG_CACHE, else the user cache)")
    export_parser.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.npz, FILE.mtx or FILE.pt")
    export_parser.set_defaults(handler=_export_command)
    _add_scale_options(export_parser, "optimised, or the recipe's own")
    _add_solver_options(export_parser)


def _add_plot_parser(commands) -> None:
    plot_parser = commands.add_parser(
        "plot",
        help="draw |P| heatmaps, an s-sweep panel or the spectra matching",
        description="heatmap: |P| of a saved map (--input); sweep: maps from s = 0 to s = 1, each warm-started "
        "from the previous; spectra: both Laplacian spectra and their minimal eigenvalue matching.",
    )
    plot_parser.add_argument("kind", choices=["heatmap", "sweep", "spectra"])
    plot_parser.add_argument("--input", help="a .npz map (heatmap)")
    plot_parser.add_argument("--small", metavar="SPEC", help="the small graph (sweep, spectra)")
    plot_parser.add_argument("--large", metavar="SPEC", help="the large graph (sweep, spectra)")
    plot_parser.add_argument("--s-values", default="0,0.25,0.5,0.75,1", help="weights of the sweep (default: 0,0.25,0.5,0.75,1)")
    plot_parser.add_argument("--alpha", type=float, default=None, help="fix alpha in the sweep (the seed's figures: 1)")
    plot_parser.add_argument("--beta", type=float, default=None, help="fix beta in the sweep (the seed's figures: n_small/n_large; advised for grids)")
    plot_parser.add_argument("--warm-start", action="store_true", help="start each sweep run from the previous map instead of the matching")
    plot_parser.add_argument("-o", "--output", required=True, metavar="FILE.png")
    plot_parser.set_defaults(handler=_plot_command)


def _add_demo_parser(commands) -> None:
    demo_parser = commands.add_parser("demo", help="design P for path 16->32 and grid 8x8->16x16 at s = 0 and 1")
    demo_parser.add_argument("--out", default="demo_output", help="folder for the table and heatmap (default: demo_output)")
    demo_parser.set_defaults(handler=_demo_command)


def _command_name(args: argparse.Namespace) -> str:
    return " ".join(filter(None, (args.command, getattr(args, "recipes_command", None))))


def _outcome(error: BaseException) -> tuple[str, str]:
    """The outcome (a key of :data:`EXIT_STATUSES`) of an error, and its one-line message."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", "interrupted (Ctrl-C); files are written atomically, none is left half-written"
    if isinstance(error, FileNotFoundError):  # an input file (outputs are checked before any work)
        return "input", f"error: {error}"
    return common_outcome(error, memory_hint="try smaller graphs")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (:data:`EXIT_STATUSES`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status = args.handler(args)
        except (Exception, KeyboardInterrupt) as error:
            if getattr(args, "debug", False):
                raise
            outcome, message = _outcome(error)
            print(f"graphprolong {_command_name(args)}: {message}", file=sys.stderr)
            status = EXIT_STATUSES[outcome]
    for warning in caught:
        print(f"graphprolong {_command_name(args)}: warning: {warning.message}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
