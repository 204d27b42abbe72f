"""Regenerate tests/reference/mehler_dual_tanh.json and mehler_dual_user.json (NOT run by
pytest; about 30 min each on one core, run them side by side):

    python tests/reference/make_mehler_reference.py tanh
    python tests/reference/make_mehler_reference.py user

Dual kernels E[f(u)f(v)] with f = sigma and f = sigma' (``derivative``) for tanh and the
user activation sin(x) + x (registered here from that string) at a set of covariances
covering q from 1e-4 to 1e2, unequal variances, and rho from -1 to 1 including
|rho| = 1 - 1e-4, 1 - 1e-5 and exactly +-1 (q12 = rho sqrt(q11 q22) rounded to float64;
the stored inputs are the exact float64 numbers used, ``rho`` is only a label).
Reference values, stored as 20-digit strings with the diagonals E[f(u)^2], E[f(v)^2]
that give the kernel scale sqrt(k(x,x) k(x',x')):

* tanh: ``theory.dual.dual_kernel(act, q11, q12, q22, derivative, dps=20)`` and
  ``theory.dual.dual_diagonal`` (tanh has no closed form in the registry, so this is the
  mpmath quadrature engine of theory.dual, refined until two levels agree at 20 digits);
* sin(x) + x: the exact Gaussian expectations (Stein's lemma and E[sin u sin v] =
  e^{-(q11+q22)/2} sinh q12, E[cos u cos v] = e^{-(q11+q22)/2} cosh q12) in mpmath at 30
  digits, ``closed_form_user``; the registered entry has no closed form, and
  theory.dual's quadrature of it (``quadrature`` in the rows, computed where q11, q22 <=
  10: at q = 100 it takes over 10 minutes a value) must agree to 1e-18 of the scale.
"""

import datetime
import json
import math
import pathlib
import platform
import sys
import time

import mpmath

from theory.activations import get, register
from theory.dual import dual_diagonal, dual_kernel

DPS = 20
USER_EXPRESSION = "sin(x) + x"
# (q11, q22, rho)
POINTS = (
    (1e-4, 1e-4, 0.5), (1e-4, 2e-4, -0.9), (1e-2, 1e-2, 0.999), (1e-2, 3e-2, -0.3),
    (1.0, 1.0, 0.0), (1.0, 1.0, 0.3), (1.0, 2.0, 0.5), (1.0, 2.0, 0.99), (1.0, 1.0, -0.9999),
    (2.25, 1.5, 0.7), (2.25, 2.25, 1.0), (2.25, 1.0, 1.0), (2.25, 1.0, -1.0),
    (10.0, 10.0, 0.9), (10.0, 10.0, 0.99), (10.0, 5.0, 0.999), (10.0, 10.0, -0.5),
    (10.0, 10.0, 0.99999), (100.0, 100.0, 0.5), (100.0, 50.0, 0.9), (100.0, 100.0, 0.99),
    (100.0, 100.0, -0.999),
)


def closed_form_user(q11, q12, q22, derivative):
    """E[f(u) f(v)] for f = sin(x) + x (``derivative``: f' = cos(x) + 1), exact."""
    with mpmath.workdps(30):
        q11, q12, q22 = (mpmath.mpf(v) for v in (q11, q12, q22))
        e1, e2 = mpmath.exp(-q11 / 2), mpmath.exp(-q22 / 2)
        if derivative:
            return e1 * e2 * mpmath.cosh(q12) + e1 + e2 + 1
        # E[sin u sin v] + E[u sin v] + E[sin u v] + E[u v], E[u sin v] = q12 E[cos v]
        return e1 * e2 * mpmath.sinh(q12) + q12 * (e1 + e2 + 1)


def main(label):
    if label not in ("tanh", "user"):
        raise SystemExit(f"activation must be 'tanh' or 'user', got {label!r}")
    act = get("tanh") if label == "tanh" else register("mehler_reference_user",
                                                       USER_EXPRESSION)
    rows = []
    for q11, q22, rho in POINTS:
        q12 = rho * math.sqrt(q11 * q22)
        for derivative in (False, True):
            t0 = time.time()
            row = {"activation": label, "q11": q11, "q12": q12, "q22": q22, "rho": rho,
                   "derivative": derivative}
            if label == "tanh":
                value = dual_kernel(act, q11, q12, q22, derivative=derivative, dps=DPS)
                d1 = dual_diagonal(act, q11, derivative=derivative, dps=DPS)
                d2 = dual_diagonal(act, q22, derivative=derivative, dps=DPS)
            else:
                value = closed_form_user(q11, q12, q22, derivative)
                d1 = closed_form_user(q11, q11, q11, derivative)
                d2 = closed_form_user(q22, q22, q22, derivative)
                if max(q11, q22) <= 10:
                    check = dual_kernel(act, q11, q12, q22, derivative=derivative, dps=DPS)
                    scale = mpmath.sqrt(d1 * d2)
                    if abs(check - value) > mpmath.mpf("1e-18") * scale:
                        raise SystemExit(f"theory.dual and the closed form disagree at {row}")
                    row["quadrature"] = mpmath.nstr(check, DPS)
            row.update(value=mpmath.nstr(value, DPS), diagonal_1=mpmath.nstr(d1, DPS),
                       diagonal_2=mpmath.nstr(d2, DPS))
            rows.append(row)
            print(label, q11, q22, rho, derivative, mpmath.nstr(value, DPS),
                  f"{time.time() - t0:.1f} s", flush=True)
    out = {
        "provenance": {
            "generator": "tests/reference/make_mehler_reference.py",
            "date": datetime.date.today().isoformat(),
            "reference": (f"theory.dual.dual_kernel / dual_diagonal(..., dps={DPS})"
                          if label == "tanh" else "closed_form_user (mpmath, 30 digits), "
                          f"checked against theory.dual.dual_kernel(..., dps={DPS})"),
            "activation": "registry tanh" if label == "tanh" else USER_EXPRESSION,
            "mpmath": mpmath.__version__,
            "python": platform.python_version(),
        },
        "rows": rows,
    }
    path = pathlib.Path(__file__).with_name(f"mehler_dual_{label}.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(rows)} rows)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
