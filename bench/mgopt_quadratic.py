"""MG/Opt on seed 004's strongly convex quadratic (App. B.2, Figs. 3.1-3.2): which restriction helps, at which learning rate.

The problem, as App. B.2 writes it: ``f(theta) = theta^T A theta / 2 - b^T theta``
with ``n = 50``, ``A = Q^T diag(lambda) Q``, 25 eigenvalues ``U(0.1, 0.5)`` and
25 ``U(1, 5)``, ``Q`` a random rotation, ``b ~ N(0, I)``; noisy gradients from
``A_xi = A + u.u - (2/3) sigma I`` (``u ~ U(-sigma, sigma)^50``; ``u.u`` is a
scalar added to every entry, as the seed's code reads) and
``b_xi = b + eps`` (``eps ~ U(-sigma, sigma)``), ``sigma = 0.1``.  Restrictions
``R_p = R_g = P^T`` with ``P`` 25 eigenvectors of ``A`` (``randomev``,
``smallest``, ``largest``); the coarse problem is ``f(P xb)``, i.e.
``A_c = P^T A P`` and ``b_c = P^T b`` (with the sample's noise).

It runs msann's own MG/Opt (:class:`msann.methods.mgopt.MGOpt`) on an
"explicit matrices" hierarchy: the parameters ``theta`` are the weight of a
``Linear(1, 50)`` followed by a frozen identity ``Linear(50, 50)``, so the
coarse network (``Linear(1, 25)``, then the frozen ``P``) outputs ``P xb``.
Schedule (App. B.2): from ``theta_0 ~ N(0, I)`` (``--start zero`` for 0; the
appendix does not say), 50 SGD steps, one gated coarse correction of 50 coarse
SGD steps at the same learning rate (gate ``||R_g g|| >= 0.5 ||g||`` and
``||R_g g|| >= 0.001``, i.e. ``kappa = 0.25`` on the squares), step 1.0, then
150 SGD steps; against 250 plain SGD steps.  Learning rates 0.01 and 0.001.

    python bench/mgopt_quadratic.py --out bench_output/mgopt_quadratic

writes ``mgopt_quadratic.json`` and ``mgopt_quadratic.png`` (objective against
fine iteration) and prints, per learning rate, the restrictions ordered by
the objective after the correction, beside the thesis' ordering.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from msann.coarsening.network import CoarseningOptions  # noqa: E402
from msann.core.cycle import cycle_events  # noqa: E402
from msann.methods.mgopt import MGOpt  # noqa: E402

N, COARSE, SIGMA = 50, 25, 0.1
THESIS = {0.01: "smallest best after the correction", 0.001: "largest best; smallest never passes the gate"}


def problem(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    eigenvalues = np.concatenate([rng.uniform(0.1, 0.5, 25), rng.uniform(1.0, 5.0, 25)])
    Q = np.linalg.qr(rng.standard_normal((N, N)))[0]  # a Haar rotation up to sign, as special_ortho_group
    return Q.T @ np.diag(eigenvalues) @ Q, rng.standard_normal(N)


def restriction(kind: str, A: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``P`` (``50 x 25``): eigenvectors of ``A`` as columns (``R_p = P^T`` has them as rows)."""
    values, vectors = np.linalg.eigh(A)
    columns = {"smallest": np.arange(COARSE), "largest": np.arange(N - COARSE, N),
               "randomev": np.sort(rng.choice(N, COARSE, replace=False))}[kind]
    return vectors[:, columns]


def network(theta: np.ndarray) -> torch.nn.Sequential:
    model = torch.nn.Sequential(torch.nn.Linear(1, N, bias=False, dtype=torch.float64),
                                torch.nn.Linear(N, N, bias=False, dtype=torch.float64))
    with torch.no_grad():
        model[0].weight.copy_(torch.as_tensor(theta)[:, None])
        model[1].weight.copy_(torch.eye(N, dtype=torch.float64))
    model[1].weight.requires_grad_(False)
    return model


def loss(A: torch.Tensor, b: torch.Tensor):
    """``f(y; xi) = y^T A_xi y / 2 - b_xi^T y`` for the network's output ``y`` and the sample's noise ``(u.u, eps)``."""
    def f(outputs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        y = outputs[0]
        scalar, eps = noise[0, 0], noise[0, 1]
        quadratic = y @ A @ y + scalar * y.sum() ** 2 - (2.0 / 3.0) * SIGMA * (y @ y)
        return 0.5 * quadratic - b @ y - eps * y.sum()
    return f


def samples(rng: np.random.Generator):
    ones = torch.ones(1, 1, dtype=torch.float64)
    while True:
        u = rng.uniform(-SIGMA, SIGMA, N)
        yield ones, torch.tensor([[u @ u, rng.uniform(-SIGMA, SIGMA)]], dtype=torch.float64)


def run(A: np.ndarray, b: np.ndarray, P: np.ndarray | None, lr: float, *, seed: int, start: np.ndarray) -> dict:
    """Objective (noise-free) after every fine step, and whether the gate opened."""
    A_t, b_t = torch.as_tensor(A), torch.as_tensor(b)
    exact = lambda theta: float(0.5 * theta @ A_t @ theta - b_t @ theta)  # noqa: E731
    levels = 0 if P is None else 1
    options = CoarseningOptions(explicit=() if P is None else (torch.as_tensor(P),))
    method = MGOpt(network(start), levels=levels, coarsening=options, transfer="explicit", tau_batches=1, lr=lr,
                   momentum=0.0, eta=1.0, kappa=0.25, kappa_min=1e-3, alpha=1.0, loss=loss(A_t, b_t), seed=seed)
    stream, curve = samples(np.random.default_rng(seed)), []
    theta = lambda: method.hierarchy[0].model[0].weight.detach()[:, 0]  # noqa: E731
    curve.append(exact(theta()))
    events = list(cycle_events(levels, 1))
    while len(curve) < 251:
        for kind, level in events:
            if kind == "down":
                opened = not method.down(level, stream).skip
                if not opened:  # skip to the fine smoothing after the visit, as the driver does
                    continue
            elif kind == "up" and method.hierarchy[0].state["restricted"] is not None:
                method.up(level, stream)
                curve[-1:] = [curve[-1], exact(theta())]  # the correction, between two fine steps
            elif kind == "smooth" and (level == 0 or method.hierarchy[0].state["restricted"] is not None):
                for _ in range(50):
                    method.smooth_step(level, *method.batch(level, stream))
                    if level == 0:
                        curve.append(exact(theta()))
    return {"curve": curve[:252], "gate_open": method.counts["gate_open"], "accepted": method.counts["accepted"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", choices=("zero", "random"), default="random",
                        help="theta_0: zero, or N(0, I) drawn from the seed (App. B.2 does not say)")
    parser.add_argument("--out", type=Path, default=Path("bench_output/mgopt_quadratic"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    A, b = problem(rng)
    kinds = {kind: restriction(kind, A, rng) for kind in ("randomev", "smallest", "largest")}
    start = np.zeros(N) if args.start == "zero" else rng.standard_normal(N)
    results = {}
    for lr in (0.01, 0.001):
        results[lr] = {"SGD": run(A, b, None, lr, seed=args.seed, start=start)}
        results[lr].update({kind: run(A, b, P, lr, seed=args.seed, start=start) for kind, P in kinds.items()})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mgopt_quadratic.json").write_text(json.dumps({str(lr): r for lr, r in results.items()}, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, (lr, runs) in zip(axes, results.items()):
        for label, result in runs.items():
            axis.plot(result["curve"], label=f"{label}" + ("" if label == "SGD" else f" (gate {'open' if result['gate_open'] else 'closed'})"))
        axis.set(title=f"lr {lr}", xlabel="fine iteration (the correction at 50)", ylabel="f(theta)")
        axis.legend()
    figure.tight_layout()
    figure.savefig(args.out / "mgopt_quadratic.png", dpi=120)
    for lr, runs in results.items():
        after = {label: result["curve"][51] for label, result in runs.items()}  # just after the correction (SGD: step 51)
        final = {label: result["curve"][-1] for label, result in runs.items()}
        order = sorted(after, key=after.get)
        print(f"lr {lr}: just after the correction: " + ", ".join(f"{k} {after[k]:.5f}" for k in order)
              + f"; final: " + ", ".join(f"{k} {final[k]:.5f}" for k in sorted(final, key=final.get))
              + f"; gate opened: {[k for k, r in runs.items() if r['gate_open']]}; thesis: {THESIS[lr]}")
    print(f"wrote {args.out / 'mgopt_quadratic.json'} and {args.out / 'mgopt_quadratic.png'}")


if __name__ == "__main__":
    main()
