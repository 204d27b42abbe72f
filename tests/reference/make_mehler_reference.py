"""Regenerate tests/reference/mehler_dual_tanh.json and mehler_dual_user.json (NOT run by
pytest; about 30 min each on one core, run them side by side):

    python tests/reference/make_mehler_reference.py tanh
    python tests/reference/make_mehler_reference.py user

Dual kernels E[f(u)f(v)] with f = sigma and f = sigma' (``derivative``) for tanh and the
user activation sin(x) + x (registered here from that string) at a set of covariances
covering q from 1e-4 to 1e2, unequal variances, and rho from -1 to 1 including
|rho| = 1 - 1e-4, 1 - 1e-5 and exactly +-1 (q12 = rho sqrt(q11 q22) rounded to float64;
the stored inputs are the exact float64 numbers used, ``rho`` is only a label).
Reference values: ``theory.dual.dual_kernel(act, q11, q12, q22, derivative, dps=20)``
(neither activation has a closed form, so this is the mpmath quadrature engine of
theory.dual, refined until two levels agree at 20 digits), stored as 20-digit strings,
together with the diagonals E[f(u)^2], E[f(v)^2] (``theory.dual.dual_diagonal``, 20
digits) that give the kernel scale sqrt(k(x,x) k(x',x')).
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
            value = dual_kernel(act, q11, q12, q22, derivative=derivative, dps=DPS)
            d1 = dual_diagonal(act, q11, derivative=derivative, dps=DPS)
            d2 = dual_diagonal(act, q22, derivative=derivative, dps=DPS)
            rows.append({"activation": label, "q11": q11, "q12": q12, "q22": q22,
                         "rho": rho, "derivative": derivative,
                         "value": mpmath.nstr(value, DPS),
                         "diagonal_1": mpmath.nstr(d1, DPS),
                         "diagonal_2": mpmath.nstr(d2, DPS)})
            print(label, q11, q22, rho, derivative, mpmath.nstr(value, DPS),
                  f"{time.time() - t0:.1f} s", flush=True)
    out = {
        "provenance": {
            "generator": "tests/reference/make_mehler_reference.py",
            "date": datetime.date.today().isoformat(),
            "reference": f"theory.dual.dual_kernel(act, q11, q12, q22, derivative, dps={DPS}) "
                         f"and theory.dual.dual_diagonal(act, q, derivative, dps={DPS})",
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
