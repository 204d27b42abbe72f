"""Regenerate tests/reference/mehler_gram_tanh.json (NOT run by pytest; ~10 min on an idle
core):

    python tests/reference/make_mehler_gram_reference.py

The depth-3 tanh NNGP and NTK Grams of issue 14's benchmark setting (inputs
``numpy.random.RandomState(0).randn(2000, 50)``, sigma_w = 1.5, sigma_b = 0.1, NTK
parameterization, hidden_layers = 3) on its first four points, at 20 digits:
``numerics.kernels`` with ``dps=20``, which runs the recursion entry by entry in mpmath
with ``theory.dual.dual_kernel`` / ``dual_diagonal`` (tanh: theory.dual's quadrature
engine) on the exact binary values of the inputs.
"""

import json
import pathlib
import time

import mpmath
import numpy as np

import numerics.kernels as nk

ROWS = [0, 1, 2, 3]
DPS = 20


def main():
    x = np.random.RandomState(0).randn(2000, 50)
    t = time.time()
    K, T = nk._kernels(x[ROWS], None, "tanh", 3, 1.5, 0.1, False, "ntk", None, DPS, True)
    out = {"rows": ROWS, "nngp": [[mpmath.nstr(v, DPS) for v in r] for r in K],
           "ntk": [[mpmath.nstr(v, DPS) for v in r] for r in T], "seconds": time.time() - t,
           "provenance": "tests/reference/make_mehler_gram_reference.py: numerics.kernels "
                         f"nngp/ntk with dps={DPS} (theory.dual), inputs "
                         "RandomState(0).randn(2000, 50)[:4], sigma_w=1.5, sigma_b=0.1, "
                         "hidden_layers=3, NTK parameterization"}
    path = pathlib.Path(__file__).with_name("mehler_gram_tanh.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} in {out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
