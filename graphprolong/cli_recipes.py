"""``graphprolong recipes list|verify``: the closed-form recipes, listed and checked."""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import time

import numpy as np

from . import __version__
from .checks import check_positive_int
from .io import atomic_write_bytes, check_output_path
from .recipes import RECIPE_VERSION, RECIPES, get_recipe, verification_passed, verification_table, verify_recipe

__all__ = ["QUICK_VERIFY", "VERIFY_SIZES", "add_recipes_parser"]

#: Default small sizes of ``recipes verify``: 1-D n (n_large = 2n up to 1024) and grid sides (32x32 = 1024).
VERIFY_SIZES = {"1d": (4, 8, 16, 32, 64, 128, 256, 512), "grid": (4, 8, 16)}

#: ``recipes verify --quick``: one small size per lineage, fewer probes, fresh optimisation up to n_large = 16.
QUICK_VERIFY = {"1d": (8,), "grid": (3,), "probes": 2, "lanczos_steps": 15, "max_optimisation_size": 16}

#: Options of ``recipes verify`` passed on to :func:`~graphprolong.recipes.verify_recipe`.
_VERIFY_OPTIONS = ("probes", "lanczos_steps", "max_optimisation_size")


def _verify_defaults() -> dict:
    """:func:`~graphprolong.recipes.verify_recipe`'s own defaults of :data:`_VERIFY_OPTIONS`."""
    parameters = inspect.signature(verify_recipe).parameters
    return {key: parameters[key].default for key in _VERIFY_OPTIONS}


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?\.)(\s|$)", text.strip())
    return match.group(1) if match else text.strip()


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _recipes_list_command(args: argparse.Namespace) -> int:
    rows = [["name", "lineage", "size rule", "s", "version", "description"]]
    for recipe in RECIPES.values():
        rows.append([recipe.name, recipe.lineage, recipe.size_rule, f"{recipe.s:g}", recipe.version, _first_sentence(recipe.description)])
    print(_table(rows))
    return 0


def _parse_verify_sizes(text: str | None, option: str, *, grid: bool) -> tuple | None:
    """``"4,8,16"`` -> (4, 8, 16); grid items may be shapes ``"4x8"``."""
    if text is None:
        return None
    pattern = r"\d+(x\d+)*" if grid else r"\d+"
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items or not all(re.fullmatch(pattern, item) for item in items):
        example = "4,8,16 or 4x8" if grid else "4,8,16"
        raise ValueError(f"{option} must be comma-separated small sizes like {example!r}; got {text!r}")
    sizes = [tuple(int(part) for part in item.split("x")) if "x" in item else int(item) for item in items]
    for size in sizes:
        for side in (size if isinstance(size, tuple) else (size,)):
            check_positive_int(f"a size in {option}", side)
    return tuple(sizes)


def _verify_cases(args: argparse.Namespace) -> tuple[list[tuple], list[str]]:
    """``(recipe, small size)`` pairs to verify, and notes on the sizes skipped (below a recipe's smallest)."""
    names = [name.strip() for name in args.names.split(",")] if args.names else None
    recipes = [get_recipe(name) for name in names] if names else list(RECIPES.values())
    preset = QUICK_VERIFY if args.quick else VERIFY_SIZES
    sizes_1d = _parse_verify_sizes(args.sizes, "--sizes", grid=False) or preset["1d"]
    sizes_grid = _parse_verify_sizes(args.grid_sizes, "--grid-sizes", grid=True) or preset["grid"]
    cases, notes = [], []
    for recipe in recipes:
        for size in sizes_1d if recipe.one_dimensional else sizes_grid:
            try:
                recipe.shape(size)
            except ValueError as error:
                notes.append(f"skipped {recipe.name} at size {size}: {error}")
                continue
            cases.append((recipe, size))
    return cases, notes


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _verify_options(args: argparse.Namespace) -> dict:
    """Options of :func:`verify_recipe`: its defaults, then the ``--quick`` preset, then the ones given."""
    options = {key: QUICK_VERIFY[key] for key in _VERIFY_OPTIONS} if args.quick else {}
    options.update({key: getattr(args, key) for key in _VERIFY_OPTIONS if getattr(args, key) is not None})
    for key, value in options.items():
        check_positive_int("--" + key.replace("_", "-"), value, minimum=0)
    return {**_verify_defaults(), **options}


def _write_verify_json(path: str, reports: list[dict], options: dict, seconds: float) -> None:
    payload = {
        "version": __version__,
        "recipe_version": RECIPE_VERSION,
        "options": options,
        "seconds": seconds,
        "passed": all(report["passed"] for report in reports),
        "reports": reports,
    }
    text = json.dumps(payload, indent=2, default=_json_value)
    print(f"written: {atomic_write_bytes(path, lambda file: file.write(text.encode()))}")


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _recipes_verify_command(args: argparse.Namespace) -> int:
    cases, notes = _verify_cases(args)
    if not cases:
        raise ValueError("no (recipe, size) pair to verify: " + "; ".join(notes or ["no recipe selected"]))
    options = _verify_options(args)
    if args.json:
        check_output_path(args.json, option="--json")
    reports = []
    started_all = time.perf_counter()
    for index, (recipe, size) in enumerate(cases, 1):
        started = time.perf_counter()
        report = verify_recipe(recipe, size, compare_optimisation=not args.no_fresh, rng=args.seed, **options)
        report.update(seconds=time.perf_counter() - started, passed=verification_passed(report))
        reports.append(report)
        print(
            f"[{index}/{len(cases)}] {recipe.name} {_shape_text(report['shape_small'])} -> {_shape_text(report['shape_large'])}: "
            f"{report['seconds']:.2f} s, {'ok' if report['passed'] else 'FAILED'}",
            file=sys.stderr,
            flush=True,
        )
    total = time.perf_counter() - started_all
    print(verification_table(reports))
    for note in notes:
        print(note)
    skipped = sorted({report["fresh_skipped"] for report in reports if report["fresh_skipped"]})
    if skipped:
        print("E_fresh '-': fresh optimisation skipped (" + "; ".join(skipped) + "); see --max-optimisation-size, --no-fresh")
    if args.json:
        _write_verify_json(args.json, reports, {**options, "fresh": not args.no_fresh, "seed": args.seed, "quick": args.quick}, total)
    failed = [f"{report['recipe']} {_shape_text(report['shape_small'])}" for report in reports if not report["passed"]]
    if failed:
        print(f"FAILED: {len(failed)} of {len(reports)} checks ({', '.join(failed)}); total {total:.1f} s")
        return 1
    print(f"all {len(reports)} checks passed; total {total:.1f} s")
    return 0


def add_recipes_parser(commands, parser_class: type) -> None:
    """Add ``recipes list`` and ``recipes verify`` to the sub-command set ``commands``."""
    recipes_parser = commands.add_parser(
        "recipes",
        help="list the closed-form recipes, or verify them",
        description="list: one line per registered recipe. verify: for each recipe and size check P^T P = I, the "
        "relative Riemannian gradient (<= 1e-6), second order (random tangent probes and a Lanczos Hessian test), "
        "the spectral lower bound at s in {0, 1} and, up to --max-optimisation-size, a fresh optimisation from the "
        "matching start; print the table and exit 1 if a row fails.",
    )
    recipe_commands = recipes_parser.add_subparsers(dest="recipes_command", required=True, parser_class=parser_class)
    list_parser = recipe_commands.add_parser("list", help="one line per recipe: name, lineage, size rule, s, version, description")
    list_parser.set_defaults(handler=_recipes_list_command)
    verify_parser = recipe_commands.add_parser(
        "verify",
        help="check every recipe at several sizes and print the table",
        description="Sizes are the SMALL graph's (the large one is 2n per axis). Defaults: paths and cycles "
        f"{','.join(map(str, VERIFY_SIZES['1d']))} (n_large up to 1024), grids {','.join(map(str, VERIFY_SIZES['grid']))} "
        "(square sides; 16x16 -> 32x32 has 1024 vertices).",
    )
    verify_parser.add_argument("--names", metavar="N1,N2", help="comma-separated recipe names (default: all)")
    verify_parser.add_argument("--sizes", metavar="4,8,...", help=f"small sizes of path and cycle recipes (default: {','.join(map(str, VERIFY_SIZES['1d']))})")
    verify_parser.add_argument("--grid-sizes", metavar="4,8,...", help=f"small side lengths (or shapes AxB) of grid recipes (default: {','.join(map(str, VERIFY_SIZES['grid']))})")
    verify_parser.add_argument("--no-fresh", action="store_true", help="skip the comparison with a fresh optimisation")
    defaults = _verify_defaults()
    for option, text in (
        ("--max-optimisation-size", "largest n_large given a fresh optimisation"),
        ("--probes", "random tangent probes per case"),
        ("--lanczos-steps", "Lanczos steps on the Riemannian Hessian"),
    ):
        key = option[2:].replace("-", "_")
        verify_parser.add_argument(option, type=int, default=None, help=f"{text} (default: {defaults[key]}; --quick: {QUICK_VERIFY[key]})")
    verify_parser.add_argument("--seed", type=int, default=0, help="seed of the probe directions and the optimisation (default: 0)")
    verify_parser.add_argument("--quick", action="store_true", help=f"a check of seconds: sizes {QUICK_VERIFY['1d'][0]} (1-D) and {QUICK_VERIFY['grid'][0]}x{QUICK_VERIFY['grid'][0]} (grids) unless given")
    verify_parser.add_argument("--json", metavar="FILE", help="also write every report as JSON")
    verify_parser.set_defaults(handler=_recipes_verify_command)
