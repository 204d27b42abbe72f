r"""Claim K1: every registry dual kernel, three ways.

For every entry of :func:`theory.activations.builtin_examples`, :math:`k =
\mathbb E[\sigma(u)\sigma(v)]` and (where the NTK exists) :math:`\dot k =
\mathbb E[\sigma'(u)\sigma'(v)]` at five covariance points:

1. closed form (:func:`numerics.compile.dual_function`) = 2-D quadrature
   (:func:`numerics.quadrature.gaussian_dual`) to 1e-10 of the kernel's scale
   :math:`\sqrt{k(q_{11})k(q_{22})}` (the Cauchy–Schwarz bound, fair to kernels that
   cross zero); entries without a closed form (tanh) compare the quadrature with a
   30-digit mpmath trapezoid rule instead (:func:`numerics.quadrature.trapezoid_reference`);
2. closed form = Monte Carlo of a wide random layer
   (:func:`numerics.empirical.monte_carlo_dual`: the N pre-activation pairs of a
   Gaussian layer are i.i.d. draws of this covariance), within 4 standard errors.

Why 4: each z is standard normal by the CLT, :math:`P(|Z|>4) = 6.3\cdot10^{-5}`, so over
the ~135 tests a true claim FAILs with probability <= 0.9% (union bound, recorded).
With 2e5 draws the SE is ~2e-3 of the kernel scale: errors above ~1% are caught in quick
mode, ~0.2% in full mode.
"""

from __future__ import annotations

import math

import numpy as np

from numerics.compile import activation_function, dual_function
from numerics.empirical import monte_carlo_dual
from numerics.quadrature import gaussian_diagonal, gaussian_dual, trapezoid_reference
from theory.activations import builtin_examples, resolve
from verify import figures
from verify.claim import Override, claim

#: (q11, q12, q22): rho = 0.5, -0.6, 0.99 (near the diagonal), and unequal variances with
#: rho = 0.3 and rho = -1.2/sqrt(1.6) = -0.949
COVARIANCE_POINTS = ((1.0, 0.5, 1.0), (1.0, -0.6, 1.0), (1.0, 0.99, 1.0), (0.5, 0.3, 2.0),
                     (2.0, -1.2, 0.8))
Z_THRESHOLD, QUADRATURE_RTOL = 4.0, 1e-10
#: variances at which the diagonal formulas (rho = 1: every x = x' entry of a Gram
#: matrix) are checked on their own
DIAGONAL_POINTS = (0.25, 1.0, 4.0)
KINDS = ("dual", "dual_derivative", "diagonal", "diagonal_derivative")


def _scale(act, derivative, q11, q22):
    """sqrt(E f(u)^2 E f(v)^2): the Cauchy-Schwarz bound on |E f(u) f(v)|."""
    diag = dual_function(act, derivative=derivative, diagonal=True) or (
        lambda v: gaussian_diagonal(act, v, derivative=derivative))
    return math.sqrt(max(float(diag(q11)) * float(diag(q22)), 0.0))


def _closed_form(act, kind, wrong):
    """The closed form under test: an override (a deliberately wrong kernel) or the
    registry's compiled one; None where there is none. Diagonal kinds take q only."""
    derivative, diagonal = kind.endswith("derivative"), kind.startswith("diagonal")
    keys = [(act.label, kind), (act.name, kind)] + ([act.label, act.name] if kind == "dual"
                                                      else [])
    override = next((wrong[k] for k in keys if k in wrong), None)
    return override, override or dual_function(act, derivative=derivative, diagonal=diagonal)


@claim(
    sizes={"quick": {"samples": 200_000, "trapezoid": (0.2, 8.0), "reference_points": (2, 4)},
           "full": {"samples": 4_000_000, "trapezoid": (0.1, 10.0),
                    "reference_points": (0, 1, 2, 3, 4)}},
    overrides={
        "activations": Override(tuple, "activation names or entries (default: the registry)"),
        "points": Override(tuple, "covariance points (q11, q12, q22)"),
        "diagonal_points": Override(tuple, "variances q of the diagonal checks", positive=True),
        "kernel_override": Override(dict, "(label, kind) or label -> callable replacing the "
                                    f"closed form, kind in {KINDS} (a wrong kernel must FAIL)"),
    },
)
def compute(run):
    acts = [resolve(a) for a in (run.options["activations"] or builtin_examples())]
    points = [tuple(float(v) for v in p) for p in (run.options["points"] or COVARIANCE_POINTS)]
    diagonal = run.options["diagonal_points"] or DIAGONAL_POINTS
    wrong, (h, L), tests = run.options["kernel_override"] or {}, run.trapezoid, []
    known = {k for a in acts for k in [a.label, a.name, *((a.label, kd) for kd in KINDS),
                                        *((a.name, kd) for kd in KINDS)]}
    if set(wrong) - known:
        raise ValueError(f"kernel_override keys {sorted(map(str, set(wrong) - known))} match no "
                         f"activation under test; use label or (label, kind), kind in {KINDS}")
    for act, kind in ((a, k) for a in acts for k in KINDS):
        derivative, on_diagonal = kind.endswith("derivative"), kind.startswith("diagonal")
        if derivative and not act.has_ntk:
            continue
        f = activation_function(act, derivative=derivative)
        override, closed = _closed_form(act, kind, wrong)
        for index, q in enumerate((q, q, q) for q in diagonal) if on_diagonal else enumerate(
                points):
            t = {"activation": act.label, "kind": kind, "q": q, "overridden": bool(override),
                 "closed_form": closed is not None, "scale": _scale(act, derivative, q[0], q[2]),
                 "quadrature": float(gaussian_diagonal(act, q[0], derivative=derivative)
                                     if on_diagonal else gaussian_dual(act, *q,
                                                                       derivative=derivative))}
            if closed is not None:
                t["value"] = float(closed(q[0]) if on_diagonal else closed(*q))
            elif index in run.reference_points and not on_diagonal:
                t["value"], t["reference_error_estimate"] = trapezoid_reference(
                    act, *q, derivative=derivative, h=h, L=L)
                t["check"] = f"no closed form: quadrature vs mpmath trapezoid (h={h}, L={L})"
            else:
                t["value"], t["check"] = t["quadrature"], "no closed form: Monte Carlo only"
            # one child seed per test, by position
            t["monte_carlo"], t["standard_error"] = monte_carlo_dual(
                f, *q, run.samples, run.rng(len(tests)))
            gap, se = t["value"] - t["monte_carlo"], t["standard_error"]
            t["z"] = gap / se if se > 0 else (0.0 if gap == 0 else math.inf)  # constant f
            if "check" not in t or "trapezoid" in t["check"]:
                t["quadrature_error"] = abs(t["value"] - t["quadrature"]) / max(t["scale"], 1e-300)
            tests.append(t)
    quad_errors = [t["quadrature_error"] for t in tests if "quadrature_error" in t]
    run.checks.max_abs_z("monte_carlo_z", [t["z"] for t in tests], threshold=Z_THRESHOLD,
                         source="CLT z-scores of the wide-layer Monte Carlo")
    run.checks.at_most("quadrature_rel_error", quad_errors or [0.0], QUADRATURE_RTOL,
                       source="panel quadrature error <~ 5.8^(-2m) ~ 1e-15 at m = 10")
    run.note("n_tests", len(tests))
    run.note("n_quadrature_checks", len(quad_errors))
    run.note("no_closed_form", sorted({t["activation"] for t in tests if not t["closed_form"]}))
    run.details["tests"] = tests
    run.figure, axes = figures.grid(2, 1, size=(11, 3.8))
    groups = [t["activation"].split("(")[0] for t in tests]
    figures.z_strip(axes[0, 0], [t["z"] for t in tests], Z_THRESHOLD, groups=groups,
                    title="closed form (or reference) vs Monte Carlo of a wide layer")
    figures.strip(axes[1, 0], [max(t.get("quadrature_error", np.nan), 1e-18) for t in tests],
                  lines=(QUADRATURE_RTOL,), logy=True, ylabel="|closed - quadrature| / scale",
                  groups=groups,
                  title="closed form (or mpmath reference) vs quadrature (1e-18: exact)")
    return f"{len(tests)} tests of {len(acts)} activations"
