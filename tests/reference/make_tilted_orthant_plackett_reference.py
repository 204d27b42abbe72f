"""Regenerate tests/reference/tilted_orthant_plackett.json (NOT run by pytest; ~2 min on 2 idle
cores):

    python tests/reference/make_tilted_orthant_plackett_reference.py

Reference values A(a, b; rho) = E[e^{a Z1 + b Z2} 1{Z1<0, Z2<0}] for the Plackett form of
numerics/jit_special.py (``_tilted_orthant_plackett``: a, b > 0, 0 < rho <= 0.95, exponent
range D = rho (2ab + rho (a^2 + b^2)) / 2 <= 10), by ``theory.special.mp_tilted_orthant`` at
30 digits (a conditioning integral by tanh-sinh quadrature: independent of Plackett's
identity and of Gauss-Legendre). Points, from a seeded generator (not the points the rule
orders were chosen on): rho uniform on (0, 0.95] and, half of them, within 0.02 below
the rule's switches at 0.7, 0.8, 0.9 and 0.95; a/b log-uniform on [1/30, 30]; the scale of
(a, b) then chosen so that D is uniform on (0, 10] or, half of them, within 0.3 below the
switches D = 1, 3 and 10 (the edges, where each rule order is closest to failing).
"""

import datetime
import json
import math
import multiprocessing
import pathlib
import platform
import sys

import mpmath
import numpy as np

from theory.special import mp_tilted_orthant

DPS = 30
PATH = pathlib.Path(__file__).with_name("tilted_orthant_plackett.json")
N = 320
SEED = 20261201
RHO_SWITCHES = (0.7, 0.8, 0.9, 0.95)
D_SWITCHES = (1.0, 3.0, 10.0)


def points():
    rng = np.random.default_rng(SEED)
    out = []
    for i in range(N):
        if i % 2:
            rho = RHO_SWITCHES[rng.integers(len(RHO_SWITCHES))] - rng.uniform(0, 0.02)
        else:
            rho = rng.uniform(0, 0.95)
        ratio = math.exp(rng.uniform(-math.log(30), math.log(30)))
        if i % 4 < 2:
            target = rng.uniform(0, 10)
        else:
            target = D_SWITCHES[rng.integers(len(D_SWITCHES))] - rng.uniform(0, 0.3)
        # D(t a0, t b0) = t^2 D(a0, b0) with a0 = ratio, b0 = 1
        unit = rho * (2 * ratio + rho * (ratio * ratio + 1)) / 2
        scale = math.sqrt(target / unit)
        out.append((float(ratio * scale), float(scale), float(rho)))
    return out


def value(point):
    with mpmath.workdps(DPS):
        return float(mp_tilted_orthant(*point))


def main():
    pts = points()
    with multiprocessing.Pool() as pool:
        values = pool.map(value, pts)
    rows = [{"a": a, "b": b, "rho": rho, "value": v} for (a, b, rho), v in zip(pts, values,
                                                                               strict=True)]
    PATH.write_text(json.dumps({
        "provenance": {
            "generator": "tests/reference/make_tilted_orthant_plackett_reference.py",
            "date": datetime.date.today().isoformat(),
            "reference": f"theory.special.mp_tilted_orthant at {DPS} digits",
            "seed": SEED, "mpmath": mpmath.__version__, "python": platform.python_version()},
        "tilted_orthant": rows}, indent=1) + "\n")
    print(f"wrote {len(rows)} rows to {PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
