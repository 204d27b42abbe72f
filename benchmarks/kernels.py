"""Benchmark: depth-3 NTK Gram matrices (``python benchmarks/kernels.py``).

For relu, erf, gelu, elu (closed forms) and tanh (quadrature) it times
``numerics.kernels.ntk`` on n = 2000 points in d = 10 (hidden_layers=3,
sigma_w=1.5, sigma_b=0.1), and prints each time as a ratio to a plain float64
NumPy baseline measured in the same run:

    baseline = x @ x.T  plus 10 in-place elementwise passes (*=, +=) over the n x n result

i.e. one unit of memory-bound NumPy work on an n x n array.  It also times the ELU
NTK by 25-point tensor Gauss-Hermite quadrature (neural-tangents'
``ElementwiseNumerical(deg=25)`` rule) and prints closed form / quadrature.
tanh has no closed form: it is timed with the same 25-point Gauss-Hermite rule
(the accurate default, graded panels, costs ~1e4 evaluations per entry and is
meant for small Grams and checks).

BLAS threads are pinned (default 1; ``--threads N``) through the environment
variables set before NumPy is imported, and printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="number of points (default 2000)")
    p.add_argument("--d", type=int, default=10, help="input dimension (default 10)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--repeat", type=int, default=3, help="best of R for the fast kernels")
    p.add_argument("--skip-quadrature", action="store_true",
                   help="skip the slow Gauss-Hermite timings (tanh, ELU-GH25)")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
THREADS = str(ARGS.threads if ARGS else 1)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = THREADS

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from numerics import kernels  # noqa: E402

KW = dict(hidden_layers=3, sigma_w=1.5, sigma_b=0.1)


def best_time(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def baseline(x):
    g = x @ x.T
    for _ in range(5):
        g *= 1.0000001
        g += 1e-7
    return g


def main():
    args = ARGS
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, args.d))
    print(f"BLAS threads pinned: OMP/OPENBLAS/MKL_NUM_THREADS={THREADS}; numpy {np.__version__}")
    print(f"depth-3 NTK Gram, n={args.n}, d={args.d}, sigma_w=1.5, sigma_b=0.1")
    # warm up (compilation of the lambdified registry expressions happens once)
    for act in ("relu", "erf", "gelu", "elu"):
        kernels.ntk(x[:8], activation=act, **KW)
    base = best_time(lambda: baseline(x), args.repeat)
    print(f"baseline (x @ x.T + 10 elementwise passes): {base:.3f} s")
    print(f"{'kernel':<28}{'time [s]':>10}{'x baseline':>12}")
    times = {}
    for act in ("relu", "erf", "gelu", "elu"):
        repeat = args.repeat if act != "elu" else 1
        t = best_time(lambda act=act: kernels.ntk(x, activation=act, **KW), repeat)
        times[act] = t
        print(f"{act + ' (closed form)':<28}{t:>10.3f}{t / base:>12.1f}")
    if args.skip_quadrature:
        return
    t = best_time(lambda: kernels.nngp_ntk(x, activation="tanh", quadrature_method="hermite",
                                           quadrature_order=25, **KW), 1)
    print(f"{'tanh (Gauss-Hermite 25)':<28}{t:>10.3f}{t / base:>12.1f}")
    t = best_time(lambda: kernels.nngp_ntk(x, activation="elu", quadrature_method="hermite",
                                           quadrature_order=25, **KW), 1)
    print(f"{'elu (Gauss-Hermite 25)':<28}{t:>10.3f}{t / base:>12.1f}")
    print(f"ELU: 25-point Gauss-Hermite / closed form = {t / times['elu']:.1f}x "
          "(target >= 5x)")


if __name__ == "__main__":
    main()
