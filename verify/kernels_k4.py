r"""Claim K4: the edge of chaos and the divergence of the correlation depth scale.

At :math:`\sigma_b = 0`, :math:`\sigma_w^{*2} = 1/\sigma'(0)^2` (1 for tanh, :math:`\pi/4`
for erf; :func:`theory.fixedpoints.critical_weight_variance`), checked exactly and by
the length map's bifurcation (:math:`q^* = 0` 0.1% below, :math:`q^* > 0` above). Just
above it :math:`\xi_c \sim A\varepsilon^{-2}`, :math:`A = 3\sigma_w^{*2}/2`, with the
relative correction :math:`c\,\varepsilon` (:func:`theory.fixedpoints.eoc_depth_asymptotics`,
SymPy); the computed :math:`\xi_c` (numerical :math:`q^*, \rho^*, \chi_c`) must match
within 10% at three distances. Points of the EOC curves for tanh, erf, ELU and GELU give
:math:`\chi_1 = 1` and :func:`~theory.fixedpoints.edge_of_chaos` returns their
:math:`\sigma_w` (to 1e-9).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from numerics import plots
from theory import fixedpoints as fp
from verify import figures
from verify.claim import Override, claim

#: Poole et al. 2016 (tanh); erf'(0) = 2/sqrt(pi) gives pi/4
EXPECTED_W_STAR = {"tanh": sp.Integer(1), "erf": sp.pi / 4}
EOC_ACTIVATIONS = ("tanh", "erf", "elu", "gelu")
XI_RTOL, CURVE_TOL, BIFURCATION_STEP = 0.10, 1e-9, 1e-3


def depth_scale_data(distances, activations=("tanh", "erf"), w_star=None, coefficient=None):
    """name -> (eps, computed xi_c, asymptote A/eps^2, A, sigma_w*^2 used)."""
    out = {}
    for name in activations:
        asym = fp.eoc_depth_asymptotics(name)
        w = float((w_star or {}).get(name, asym["w_star"]))
        A = float((coefficient or {}).get(name, asym["xi_c_epsilon_coefficient"]))
        eps = np.asarray(distances, dtype=float)
        xi = np.array([fp.depth_scales(name, sigma_w=math.sqrt(w) + e, sigma_b=0).xi_c
                       for e in eps], dtype=float)
        out[name] = (eps, xi, A / eps**2, A, w)
    return out


def eoc_curves(activations=EOC_ACTIVATIONS, q_values=None, max_sigma_b=4.0):
    """name -> [(sigma_w, sigma_b), ...] along chi1 = 1; (nan, nan) breaks the line where
    q* is not the fixed point the length map settles at."""
    q_values = [0.0, *np.geomspace(1e-3, 30.0, 36)] if q_values is None else q_values
    curves = {}
    for name in activations:
        pts = {qv: (sw, sb) for qv, sw, sb in fp.edge_of_chaos_curve(name, q_values)}
        line = []
        for qv in q_values:
            if qv in pts and pts[qv][1] <= max_sigma_b:
                line.append(pts[qv])
            elif line and not math.isnan(line[-1][0]):
                line.append((math.nan, math.nan))
        curves[name] = line[:-1] if line and math.isnan(line[-1][0]) else line
    return curves


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
        "asymptotic_activations": Override(tuple, "subset of (tanh, erf) for the asymptotics",
                                           default=("tanh", "erf"), choices=("tanh", "erf")),
    },
)
def compute(run):
    if len(run.distances) < 3 or min(run.distances) <= 0:
        raise ValueError("distances must be at least three positive numbers")
    names, wrong_w = run.options["asymptotic_activations"], run.options["w_star"] or {}
    data = depth_scale_data(run.distances, names, wrong_w, run.options["coefficient"])
    for name, (_, xi, leading, _, w) in data.items():
        derived = wrong_w.get(name, fp.critical_weight_variance(name))
        run.checks.symbolic_equal(f"{name}_w_star", derived, EXPECTED_W_STAR[name],
                                  source="1/sigma'(0)^2")
        below, above = (fp.length_fixed_point(name, sigma_b=0, sigma_w=math.sqrt(w)
                                              * (1 + s * BIFURCATION_STEP)) for s in (-1, 1))
        run.checks.holds(f"{name}_bifurcation", below == 0 and above > 0,
                         "q* = 0 just below sigma_w*, q* > 0 just above", measured=[below, above])
        c = float(fp.eoc_depth_asymptotics(name)["xi_c_relative_correction"])
        run.checks.within(f"{name}_xi_c", xi, leading, rtol=XI_RTOL,
                          source=f"SymPy O(eps) correction {c:.3f} eps, <= 3.3% here")
    errors = []
    for name in EOC_ACTIVATIONS:
        for qv in run.curve_q.get(name, ()):
            points = fp.edge_of_chaos_curve(name, [qv])
            if not points:
                raise ValueError(f"no edge-of-chaos point for {name} at q* = {qv}")
            _, sw, sb = points[0]
            errors.append(max(abs(fp.chi1(name, sigma_w=sw, sigma_b=sb) - 1),
                              abs(fp.edge_of_chaos(name, sigma_b=sb) - sw),
                              abs(fp.length_fixed_point(name, sigma_w=sw, sigma_b=sb) - qv)))
    run.checks.at_most("eoc_curve_error", errors, CURVE_TOL, source="double-precision roots")
    run.figure, axes = figures.grid(1, 2, size=(5.5, 4.5))
    ax1, ax2 = axes[0]
    plots.depth_scale_divergence({n: (d[0], d[1], d[3]) for n, d in data.items()}, ax=ax1)
    plots.phase_diagram(eoc_curves(q_values=[0.0, *np.geomspace(1e-3, 30.0, 20)]), ax=ax2)
    return "xi_c vs " + ", ".join(f"{n} {d[3]:.4f}/eps^2" for n, d in data.items())
