r"""Claim B1 (paper 000, Berthier–Montanari–Zhou): plateaus of the risk.

The reduced flow (:mod:`theory.odes.single_index`, ELU, target
:math:`\varphi = (0, 1, 0.5, 0.25)`, :math:`r_i(0) = 0`, :math:`a_i(0)` the N(0, 1)
midpoint quantiles) is integrated at several :math:`\varepsilon`. Reading rule: the drops
are the first crossings of :math:`\sqrt{P_{l-1}P_l}` (:math:`P_{K-1}/10` for the last);
plateau :math:`l` is the risk at the geometric mean of the crossing times of drops
:math:`l` and :math:`l+1`. The readings approach
:math:`P_l = \frac12\sum_{k>l}\varphi_k^2` only as :math:`\varepsilon\to0` (SETUPS.md),
geometrically in :math:`\log\varepsilon`; so the check is on their Aitken
extrapolation over the three smallest :math:`\varepsilon`, with the Aitken step (the
remaining error of the last reading) as its tolerance, plus monotone convergence.

Second part (the paper's point, appendix E.2, as we formulate it at finite d): with
:math:`\varphi_1 = 0` and :math:`r_i(0) = z_i/\sqrt d`, the risk stays within 10% of
its initial value for a time that grows linearly in :math:`\ln d`.
"""

from __future__ import annotations

import numpy as np

from numerics import single_index as S
from theory.activations import get
from theory.gaussian import hermite_coefficients
from theory.odes.single_index import plateau_levels
from verify import figures
from verify.claim import Override, claim

TARGET = (0.0, 1.0, 0.5, 0.25)
HARD_TARGET = (0.0, 0.0, 1.0)  # phi_1 = 0: nothing escapes r = 0 in the d -> inf limit
HARD_EPS, STUCK_FRACTION = 1e-2, 0.9
DRIFT_BOUND = 1e-5


@claim(
    sizes={"quick": {"eps": (1e-8, 1e-10, 1e-12), "particles": 120, "dims": (1e2, 1e4, 1e6)},
           "full": {"eps": (1e-8, 1e-10, 1e-12, 1e-14), "particles": 400,
                    "dims": (1e2, 1e3, 1e4, 1e5, 1e6)}},
    overrides={
        "coefficients": Override(tuple, "c_0..c_3 used in the flow instead of ELU's (the risk "
                                 "is judged with the true ones)"),
        "target": Override(tuple, "phi_0..phi_3 the flow learns (the plateaus predicted are "
                           "those of the default target)"),
    },
)
def compute(run):
    eps = sorted(run.eps, reverse=True)
    if len(eps) < 3 or min(eps) <= 0 or max(eps) >= 1:
        raise ValueError("eps must be at least three values in (0, 1)")
    act = get("elu")
    flow_target = tuple(run.options["target"] or TARGET)
    if len(flow_target) != len(TARGET):
        raise ValueError(f"target must have {len(TARGET)} coefficients")
    m = run.particles
    P = plateau_levels(TARGET)
    run.params.update(activation="elu", target=list(TARGET), m=m)
    sweep = S.eps_sweep(act, flow_target, eps, m, coefficients=run.options["coefficients"])
    curves = [c for c, _ in sweep]
    readings = [S.plateau_readings(c, times) for c, times in sweep]
    drift = max(c.drift for c in curves)
    readings = np.array(readings)  # rows: eps, columns: plateau l = 1, 2
    run.note("plateaus", readings[-1].tolist())
    run.note("plateaus_by_eps", {f"{e:g}": r.tolist() for e, r in zip(eps, readings,
                                                                        strict=True)})
    run.note("plateaus_predicted", P[1:3])
    for j, l in enumerate((1, 2)):
        limit, step = S.aitken_limit(readings[:, j])
        run.checks.within(f"plateau_{l}_limit", limit, P[l], rtol=max(step / P[l], 1e-3),
                          source="Aitken step over the three smallest eps (remaining error "
                          "of the last reading); floor 1e-3")
        dev = np.abs(readings[:, j] / P[l] - 1)
        run.checks.holds(f"plateau_{l}_converges", np.all(np.diff(dev) < 0),
                         "|reading/P_l - 1| decreases as eps decreases", measured=dev.tolist(),
                         source="SETUPS.md: readings approach P_l only as eps -> 0")
    run.checks.at_most("moment_drift", drift, DRIFT_BOUND,
                       source="moment state vs its definition; rtol 1e-8 of M ~ 5 over ~1e3 "
                       "steps")
    stuck = _stuck_times(run, act)
    dims = np.array(sorted(run.dims))
    run.note("stuck_time_by_d", {f"{d:g}": float(t) for d, t in zip(dims, stuck, strict=True)})
    slope = np.polyfit(np.log(dims), stuck, 1)[0]
    run.note("stuck_time_per_ln_d", float(slope))
    run.checks.holds("stuck_time_grows", np.all(np.diff(stuck) > 0),
                     "escape time increases with d", measured=stuck.tolist(),
                     source="paper appendix E.2; SETUPS.md")
    inc = np.diff(stuck) / np.diff(np.log(dims))
    run.checks.within("stuck_time_linear_in_ln_d", inc, float(np.mean(inc)), rtol=0.15,
                      source="exponential escape from r ~ d^-1/2: t = A + B ln d; 15% for "
                      "the O(1/ln d) curvature")
    _figure(run, eps, curves, P, dims, stuck)
    return (f"plateaus {readings[-1, 0]:.4f}, {readings[-1, 1]:.4f} at eps {eps[-1]:g} vs "
            f"{P[1]:.4f}, {P[2]:.4f}; stuck time {slope:.2f} per ln d")


def _stuck_times(run, act):
    m = run.particles
    a0 = S.normal_quantiles(m)
    z = run.rng(0).permutation(a0)
    out = []
    for d in sorted(run.dims):
        r0 = z / np.sqrt(d)
        curve = S.risk_curve(act, HARD_TARGET, HARD_EPS, a0, r0, 200.0, t_start=1e-4,
                             stop_below=0.1 * 0.5)
        out.append(S.integrate.crossing_times(curve.t, curve.risk,
                                              STUCK_FRACTION * curve.risk[0]))
    return np.array(out)


def _figure(run, eps, curves, P, dims, stuck):
    run.figure, axes = figures.grid(1, 2, size=(5.0, 3.8))
    ax, bx = axes[0]
    for e, c in zip(eps, curves, strict=True):
        ax.loglog(c.t, c.risk, lw=1, label=f"eps = {e:g}")
    for p in P[1:3]:
        ax.axhline(p, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("t")
    ax.set_ylabel("risk")
    ax.set_title("risk plateaus 1/2 sum_{k>l} phi_k^2 (dotted)", fontsize=9)
    ax.legend(fontsize=7)
    bx.plot(np.log(dims), stuck, "o-")
    bx.set_xlabel("ln d")
    bx.set_ylabel(f"time to leave {STUCK_FRACTION:.0%} of R(0)")
    bx.set_title(f"phi = {HARD_TARGET}: stuck time vs ln d (eps = {HARD_EPS:g})", fontsize=9)
    bx.grid(alpha=0.3)


def elu_coefficients():
    """ELU's c_0..c_3 (for tests that perturb one)."""
    return hermite_coefficients(get("elu"), 3)
