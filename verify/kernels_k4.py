r"""Claim K4: the edge of chaos and the divergence of the correlation depth scale.

At sigma_b = 0, sigma_w*^2 = 1/sigma'(0)^2 (1 for tanh, pi/4 for erf; derived in SymPy by
:func:`theory.fixedpoints.critical_weight_variance`), checked exactly and by the length
map's bifurcation. Just above it xi_c ~ A eps^-2 (1 + c1 eps + c2 eps^2), A = 3 sigma_w*^2/2
(:func:`theory.fixedpoints.eoc_depth_asymptotics`, SymPy); the computed xi_c must match
within half the eps^2 term. EOC points (tanh, erf, ELU, GELU) are checked independently:
panel quadrature of sigma_w^2 E[s'^2] = 1 and q* = sigma_w^2 E[s^2] + sigma_b^2.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from numerics import plots
from numerics.quadrature import gaussian_diagonal
from theory import fixedpoints as fp
from verify import figures
from verify.claim import Override, claim

#: Poole et al. 2016 (tanh); erf'(0) = 2/sqrt(pi) gives pi/4
EXPECTED_W_STAR = {"tanh": sp.Integer(1), "erf": sp.pi / 4}
EOC_ACTIVATIONS, CURVE_TOL, BIFURCATION_STEP = ("tanh", "erf", "elu", "gelu"), 1e-9, 1e-3


@claim(
    sizes={"quick": {"distances": (0.0025, 0.005, 0.01), "curve_q": {
               "tanh": (0.5,), "erf": (0.5,), "elu": (0.5,), "gelu": (5.0,)}},
           "full": {"distances": (0.00125, 0.0025, 0.005, 0.01, 0.02), "curve_q": {
               "tanh": (0.1, 0.5, 2.0), "erf": (0.1, 0.5, 2.0), "elu": (0.1, 0.5, 2.0),
               "gelu": (4.0, 8.0, 20.0)}}},
    overrides={
        "w_star": Override(dict, "name -> critical sigma_w^2 used instead of the derived one",
                           choices=tuple(EXPECTED_W_STAR)),
        "coefficient": Override(dict, "name -> asymptotic constant A", choices=("tanh", "erf")),
        "edge_of_chaos_curve": Override(callable, "(name, q_values) -> [(q, sigma_w, sigma_b)] "
                                        "replacing theory's curve (a wrong one must FAIL)"),
        "asymptotic_activations": Override(tuple, "subset of (tanh, erf) for the asymptotics",
                                           default=("tanh", "erf"), choices=("tanh", "erf")),
    },
)
def compute(run):
    if len(run.distances) < 3 or min(run.distances) <= 0:
        raise ValueError("distances must be at least three positive numbers")
    eps, wrong_w, xi_plot = np.asarray(run.distances), run.options["w_star"] or {}, {}
    for name in run.options["asymptotic_activations"]:
        asym = fp.eoc_depth_asymptotics(name, order=4)
        w = wrong_w.get(name, asym["w_star"])
        A = float((run.options["coefficient"] or {}).get(name, asym["xi_c_epsilon_coefficient"]))
        xi_plot[name] = (eps, fp.depth_scale_near_edge(name, eps, w_star=w), A)
        run.checks.symbolic_equal(f"{name}_w_star", w, EXPECTED_W_STAR[name],
                                  source="1/sigma'(0)^2")
        below, above = (fp.length_fixed_point(name, sigma_b=0, sigma_w=math.sqrt(float(
            sp.N(w))) * (1 + s * BIFURCATION_STEP)) for s in (-1, 1))
        run.checks.holds(f"{name}_bifurcation", below == 0 and above > 0,
                         "q* = 0 just below sigma_w*, q* > 0 just above", measured=[below, above])
        c1, c2 = (float(asym[k]) for k in ("xi_c_relative_correction", "xi_c_second_correction"))
        run.checks.within(f"{name}_xi_c", xi_plot[name][1], A / eps**2 * (
            1 + c1 * eps + c2 * eps**2), rtol=0.5 * abs(c2) * eps.max() ** 2, source=(
            f"SymPy series, c1 = {c1:.4f}, c2 = {c2:.4f}: O(eps^3) < half the eps^2 term"))
    errors, curve = [], run.options["edge_of_chaos_curve"] or fp.edge_of_chaos_curve
    # an independent route: panel quadrature of the raw expectations at q*
    for name in EOC_ACTIVATIONS:
        for qv in run.curve_q.get(name, ()):
            (_, sw, sb), = curve(name, [qv]) or [(0, math.nan, math.nan)]
            errors.append(max(abs(sw**2 * gaussian_diagonal(name, qv, derivative=True) - 1),
                              abs(sw**2 * gaussian_diagonal(name, qv) + sb**2 - qv) / qv)
                          if math.isfinite(sw) else math.inf)
    run.checks.at_most("eoc_curve_error", errors, CURVE_TOL,
                       source="roots to double precision; panel quadrature error ~1e-13")
    run.figure, ((ax1, ax2),) = figures.grid(1, 2, size=(5.5, 4.5))
    plots.depth_scale_divergence(xi_plot, ax=ax1)
    q_grid = [0.0, *np.geomspace(1e-3, 30.0, 20)]
    plots.phase_diagram({n: fp.edge_of_chaos_polyline(n, q_grid, max_sigma_b=4.0)
                         for n in EOC_ACTIVATIONS}, ax=ax2)
    return "xi_c vs " + ", ".join(f"{n} {d[2]:.4f}/eps^2" for n, d in xi_plot.items())
