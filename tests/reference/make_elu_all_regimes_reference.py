"""Regenerate tests/reference/elu_all_regimes.json (NOT run by pytest; ~10 min on 2 idle cores):

    python tests/reference/make_elu_all_regimes_reference.py [--recheck-only]

Reference values for the float64/numba ELU pieces (numerics/jit_special.py) in every regime
the ELU kernels use, computed with mpmath at 30 digits (rounded to float64; the stored
inputs are the exact float64 numbers used):

* ``kernels``: ELU dual kernels E[s(u)s(v)] and E[s'(u)s'(v)], ``theory.dual.dual_kernel(...,
  dps=30)`` (the registry closed form in mpmath, or its kink-split quadrature where the
  closed form divides by 0: rho = +-1 exactly with q11 != q22), alpha = 1 on
  q11 in {1e-6, 1e-4, 1e-2, 1, 4, 100, 1e3} and alpha = 1/2 on {1e-4, 1, 1e3}, q22/q11 in
  {1, 1/4} (1/4 so that sqrt(q11 q22) = q11/2 is exact and rho = +-1 is exactly
  representable), and 1 - rho in {0, 1e-15, ..., 1e-1, 1} plus 1 + rho in
  {1e-12, 1e-6, 1e-2, 0}; q12 = rho sqrt(q11 q22) rounded to float64. Also
  the diagonals k(x, x) (``dual_diagonal``), so a test can form the kernel scale
  sqrt(k(x,x) k(x',x')). Each kernel value is cross-checked against
  ``theory.dual.quadrature_dual_kernel`` (nested kink-split quadrature that ignores every
  closed form, ~15 digits in double precision relative to E|s(u)s(v)|); the largest
  discrepancy relative to the kernel scale (kd: absolute, its scale is 1) is stored per row
  and in the provenance; the script fails (after writing) if it exceeds 1e-12.
* ``tilted_orthant``: A(a, b; rho) = E[e^{a Z1 + b Z2} 1{Z1<0, Z2<0}] at every argument the
  ELU kernels above use (a in {0, s1}, b in {s1, s2}, +-rho),
  ``theory.special.mp_tilted_orthant`` at 30 digits.
* ``bivariate_normal_cdf``: Phi_2(h, k; rho) on a small grid (tails, h or k = 0,
  rho = +-1 and within 1e-9 of it), ``theory.special.mp_bivariate_normal_cdf`` at 30 digits.
"""

import datetime
import itertools
import json
import math
import multiprocessing
import pathlib
import platform
import sys
from fractions import Fraction

import mpmath

from theory.activations import get
from theory.dual import dual_diagonal, dual_kernel, quadrature_dual_kernel
from theory.special import mp_bivariate_normal_cdf, mp_tilted_orthant

DPS = 30
PATH = pathlib.Path(__file__).with_name("elu_all_regimes.json")
Q11S = (1e-6, 1e-4, 1e-2, 1.0, 4.0, 100.0, 1e3)
#: alpha = 1/2 on these q11 only (the reference's size; alpha = 1 on all)
Q11S_HALF = (1e-4, 1.0, 1e3)
RATIOS = (1.0, 0.25)
ONE_MINUS_RHO = (0.0, 1e-15, 1e-12, 1e-9, 1e-7, 1e-5, 1e-3, 1e-1, 1.0)
ONE_PLUS_RHO = (1e-12, 1e-6, 1e-2, 0.0)
ALPHAS = (1.0, 0.5)
LIMIT = 1e-12
BVN_HK = (-6.0, -1.5, 0.0, 0.4, 3.0)
BVN_RHO = (-1.0, -1.0 + 1e-9, -0.5, 0.0, 0.7, 1.0 - 1e-9, 1.0)


def rhos():
    return [1.0 - d for d in ONE_MINUS_RHO] + [-1.0 + d for d in ONE_PLUS_RHO]


def covariance(q11, ratio, rho):
    q22 = q11 * ratio
    q12 = rho * math.sqrt(q11 * q22)
    # never |rho| > 1 in exact arithmetic (rounding of the product)
    while Fraction(q12) ** 2 > Fraction(q11) * Fraction(q22):
        q12 = math.nextafter(q12, 0.0)
    return q11, q12, q22


def kernel_row(args):
    alpha, q11, q12, q22 = args
    act = get("elu", alpha=alpha)
    row = {"alpha": alpha, "q11": q11, "q12": q12, "q22": q22}
    for derivative, name in ((False, "k"), (True, "kd")):
        row[name] = float(dual_kernel(act, q11, q12, q22, derivative=derivative, dps=DPS))
        row[name + "_quadrature"] = quadrature_dual_kernel(act, q11, q12, q22,
                                                           derivative=derivative)
    for q, name in ((q11, "k11"), (q22, "k22")):
        row[name] = float(dual_diagonal(act, q, dps=DPS))
    return row


def recheck_row(row):
    """A row whose double-precision cross-check misses by more than LIMIT is cross-checked
    again by the same closed-form-free quadrature at 20 digits (the double-precision engine
    is weakest at |rho| -> 1 for alpha != 1, where E[s'(u)s'(v)] has a sqrt(1-rho)
    singularity)."""
    act = get("elu", alpha=row["alpha"])
    scale = math.sqrt(row["k11"] * row["k22"])
    worst = 0.0
    for derivative, name in ((False, "k"), (True, "kd")):
        value = float(quadrature_dual_kernel(act, row["q11"], row["q12"], row["q22"],
                                             derivative=derivative, dps=20))
        row[name + "_quadrature_dps20"] = value
        worst = max(worst, abs(row[name] - value) / (1.0 if derivative else scale))
    row["discrepancy"] = worst
    return row


def tilted_row(args):
    a, b, rho = args
    with mpmath.workdps(DPS):
        value = mp_tilted_orthant(a, b, rho)
    return {"a": a, "b": b, "rho": rho, "value": float(value)}


def bvn_row(args):
    h, k, rho = args
    with mpmath.workdps(DPS):
        value = mp_bivariate_normal_cdf(h, k, rho)
    return {"h": h, "k": k, "rho": rho, "value": float(value)}


def main():
    covs = [covariance(q11, ratio, rho)
            for q11, ratio, rho in itertools.product(Q11S, RATIOS, rhos())]
    kernel_args = [(alpha, *c) for alpha in ALPHAS for c in covs
                   if alpha == 1.0 or c[0] in Q11S_HALF]
    tilted_args = set()
    for q11, q12, q22 in covs:
        s1, s2 = math.sqrt(q11), math.sqrt(q22)
        rho = q12 / (s1 * s2)  # as the float64 expression forms it
        rho = min(1.0, max(-1.0, rho))
        tilted_args |= {(s1, s2, rho), (0.0, s1, rho), (0.0, s2, rho),
                        (0.0, s1, -rho), (0.0, s2, -rho)}
    tilted_args = sorted(tilted_args)
    bvn_args = list(itertools.product(BVN_HK, BVN_HK, BVN_RHO))
    with multiprocessing.Pool(2) as pool:
        kernels = []
        for row in pool.imap(kernel_row, kernel_args, chunksize=2):
            kernels.append(row)
            print(len(kernels), "/", len(kernel_args), flush=True)
        tilted = pool.map(tilted_row, tilted_args, chunksize=8)
        bvn = pool.map(bvn_row, bvn_args, chunksize=8)
    for row in kernels:
        scale = math.sqrt(row["k11"] * row["k22"])
        row["discrepancy"] = max(abs(row["k"] - row["k_quadrature"]) / scale,
                                 abs(row["kd"] - row["kd_quadrature"]))
    write(kernels, tilted, bvn)


def write(kernels, tilted, bvn):
    """Recheck the rows over LIMIT at 20 digits, then write the JSON (also when some row
    still disagrees, so that it can be inspected; the script then fails)."""
    again = [i for i, row in enumerate(kernels) if row["discrepancy"] > LIMIT]
    with multiprocessing.Pool(2) as pool:
        for i, row in zip(again, pool.map(recheck_row, [kernels[i] for i in again]),
                          strict=True):
            kernels[i] = row
    worst_row = max(kernels, key=lambda row: row["discrepancy"])
    worst = worst_row["discrepancy"]
    out = {
        "provenance": {
            "generator": "tests/reference/make_elu_all_regimes_reference.py",
            "date": datetime.date.today().isoformat(),
            "reference": f"theory.dual.dual_kernel / dual_diagonal (dps={DPS}), "
                         f"theory.special.mp_tilted_orthant and mp_bivariate_normal_cdf "
                         f"at {DPS} digits",
            "cross_check": "theory.dual.quadrature_dual_kernel (double precision; at 20 "
                           f"digits for the {len(again)} rows where that missed by > {LIMIT})",
            "max_discrepancy_relative_to_kernel_scale": worst,
            "discrepancy_limit": LIMIT,
            "mpmath": mpmath.__version__,
            "python": platform.python_version(),
        },
        "kernels": kernels,
        "tilted_orthant": tilted,
        "bivariate_normal_cdf": bvn,
    }
    PATH.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {PATH} ({len(kernels)} kernel, {len(tilted)} tilted-orthant, {len(bvn)} "
          f"bivariate-normal rows; max discrepancy {worst:.3g} at {worst_row})")
    if worst > LIMIT:  # written anyway, so the row can be inspected; the tests check it
        raise SystemExit(f"closed form and quadrature disagree by {worst:.3g}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--recheck-only"]:  # redo only the rechecks of an existing file
        data = json.loads(PATH.read_text())
        write(data["kernels"], data["tilted_orthant"], data["bivariate_normal_cdf"])
    else:
        main()
