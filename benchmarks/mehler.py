"""Benchmark: the pieces of a Mehler-series tanh Gram (numerics.mehler).

The depth-3 NTK setting of issue 14 (inputs ``RandomState(0).randn(n, 50)``, sigma_w =
1.5, sigma_b = 0.1): the per-point scales s = sqrt(Sigma^l(x, x)) of the 3 hidden
layers, then

* the coefficient tables of tanh and tanh' for all n x 3 scales (``hermite_table``),
* ``mehler_sums`` over the upper triangle of each layer with the layer's true
  correlations (propagated with the Mehler values themselves), at ``tol`` (early stop),
  as ns per entry and the mean number of terms summed,
* the whole NNGP + NTK Gram through ``numerics.kernels.nngp_ntk(...,
  quadrature_method="mehler")`` (NumPy-level evaluator, upper triangle).

Times are best of ``--repeat`` in CPU seconds of this process (``time.process_time``,
BLAS pinned to one thread), so that other load on the machine inflates them less than
wall time; wall time is printed too.

    python benchmarks/mehler.py [--n 2000] [--repeat 3] [--tol 1e-10]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads BLAS

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import numerics.kernels as nk  # noqa: E402
import numerics.mehler as M  # noqa: E402
from theory.activations import get  # noqa: E402

SW, SB, L, D = 1.5, 0.1, 3, 50


def best(fn, repeat):
    cpu, wall, out = [], [], None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tol", type=float, default=M.DEFAULT_TOL)
    args = parser.parse_args()
    act = get("tanh")
    x = np.random.RandomState(0).randn(args.n, D)
    setup = nk._Setup(act, L, SW, SB, "ntk", None, nk._dual_map(act, "mehler"))
    var, _ = nk._variances(setup, x, True)
    scales = [np.sqrt(v) for v in var[:L]]
    all_scales = np.concatenate(scales)
    print(f"n = {args.n}: {all_scales.size} scales in [{all_scales.min():.3f}, "
          f"{all_scales.max():.3f}]")
    for derivative in (False, True):
        cpu, wall, table = best(lambda d=derivative: M.hermite_table(act, all_scales,
                                                                     derivative=d),
                                args.repeat)
        print(f"hermite_table({'tanh_prime' if derivative else 'tanh'}): {cpu:.3f} s CPU "
              f"({wall:.3f} s wall), lengths {table.lengths.min()}..{table.lengths.max()}")
    rows, cols = np.triu_indices(args.n, k=1)
    dot = np.einsum("ij,ij->i", x[rows], x[cols])
    q12 = SW**2 * dot / D + SB**2
    M.mehler_sums(*(np.zeros((1, 8)),) * 2, np.array([8]), np.array([0]),
                  *(np.zeros((1, 8)),) * 2, np.array([8]), np.array([0]), np.zeros(1),
                  np.zeros(1))  # compile / load the cache
    for layer in range(L):
        s = scales[layer]
        rho = np.clip(q12 / (s[rows] * s[cols]), -1, 1)
        next_q12 = None
        for derivative in (False, True):
            t = M.hermite_table(act, s, derivative=derivative)
            scale = np.sqrt(t.second_moment[rows] * t.second_moment[cols])
            stop = 0.25 * args.tol * scale
            cpu, wall, (values, bounds) = best(
                lambda t=t, rho=rho, stop=stop: M.mehler_sums(
                    t.coefficients, t.tails, t.lengths, rows, t.coefficients, t.tails,
                    t.lengths, cols, rho, stop), args.repeat)
            terms = np.minimum(t.lengths[rows], t.lengths[cols]).mean()
            print(f"layer {layer + 1} {'tanh_prime' if derivative else 'tanh      '}: "
                  f"{cpu / rows.size * 1e9:.0f} ns/entry CPU ({wall / rows.size * 1e9:.0f} "
                  f"wall), |rho| <= {np.abs(rho).max():.3f}, stored terms {terms:.0f}, "
                  f"max bound/scale {(bounds / scale).max():.1e}, flagged "
                  f"{int((bounds > args.tol * scale).sum())}")
            if not derivative:
                next_q12 = SW**2 * values + SB**2
        q12 = next_q12
    cpu, wall, _ = best(lambda: nk.nngp_ntk(x, activation=act, hidden_layers=L, sigma_w=SW,
                                            sigma_b=SB, quadrature_method="mehler"), 1)
    print(f"nngp_ntk(quadrature_method='mehler'), n = {args.n}: {cpu:.2f} s CPU "
          f"({wall:.2f} s wall)")


if __name__ == "__main__":
    main()
