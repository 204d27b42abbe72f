"""Regenerate tests/reference/elu_large_variance.json (NOT run by pytest; ~4 min):

    python tests/reference/make_elu_large_variance_reference.py

ELU dual kernels E[s(u)s(v)] and E[s'(u)s'(v)] (alpha = 1 and 1/2) on the grid
q in {4, 25, 100, 400, 1000} x rho in {-0.9, 0, 0.3, 0.9, 0.999} x q22/q11 in {1, 0.7}
(q11 = q, q12 = rho sqrt(q11 q22) rounded to float64; the stored inputs are the exact
float64 numbers used). Reference values: ``theory.dual.dual_kernel(..., dps=30)``, the
registry closed form in mpmath with the stable tilted-orthant quadrature
(``theory.gaussian.mp_tilted_orthant``), rounded to float64. Each value is cross-checked
here against ``theory.dual.quadrature_dual_kernel`` (nested kink-split quadrature that
ignores every closed form, ~15 digits in double precision); the largest relative
discrepancy is stored in the provenance and must be below 1e-11 (the quadrature engine
targets 15 digits relative to E|s(u)s(v)|, which exceeds |k| by at most ~30 on this grid).
"""

import datetime
import json
import math
import pathlib
import platform

import mpmath

from theory.activations import get
from theory.dual import dual_kernel, quadrature_dual_kernel

QS = (4.0, 25.0, 100.0, 400.0, 1000.0)
RHOS = (-0.9, 0.0, 0.3, 0.9, 0.999)
RATIOS = (1.0, 0.7)
ALPHAS = (1.0, 0.5)
DPS = 30


def main():
    rows = []
    worst = 0.0
    for alpha in ALPHAS:
        act = get("elu", alpha=alpha)
        for q in QS:
            for rho in RHOS:
                for ratio in RATIOS:
                    q11, q22 = q, q * ratio
                    q12 = rho * math.sqrt(q11 * q22)
                    for derivative in (False, True):
                        value = float(dual_kernel(act, q11, q12, q22, derivative=derivative,
                                                  dps=DPS))
                        check = quadrature_dual_kernel(act, q11, q12, q22,
                                                       derivative=derivative)
                        discrepancy = abs(check - value) / abs(value)
                        worst = max(worst, discrepancy)
                        rows.append({"alpha": alpha, "q11": q11, "q12": q12, "q22": q22,
                                     "derivative": derivative, "value": value,
                                     "quadrature": check})
                        print(alpha, q11, rho, q22, derivative, value, f"{discrepancy:.2e}",
                              flush=True)
    if worst > 1e-11:
        raise SystemExit(f"closed form and quadrature disagree by {worst:.3g}")
    out = {
        "provenance": {
            "generator": "tests/reference/make_elu_large_variance_reference.py",
            "date": datetime.date.today().isoformat(),
            "reference": f"theory.dual.dual_kernel(act, q11, q12, q22, derivative, dps={DPS})",
            "cross_check": "theory.dual.quadrature_dual_kernel (double precision)",
            "max_relative_discrepancy": worst,
            "mpmath": mpmath.__version__,
            "python": platform.python_version(),
        },
        "rows": rows,
    }
    path = pathlib.Path(__file__).with_name("elu_large_variance.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(rows)} rows, max discrepancy {worst:.3g})")


if __name__ == "__main__":
    main()
