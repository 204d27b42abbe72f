r"""Claim SS1: the Saad–Solla ODEs match online SGD of an erf soft committee machine.

Setup (Saad & Solla, PRE 52, 4225 (1995); conventions of SETUPS.md): K = M = 2,
:math:`g(x) = \mathrm{erf}(x/\sqrt2)`, T = I (orthonormal teacher rows scaled by
:math:`\sqrt N`), second layer fixed at 1 for student and teacher, no label noise,
:math:`\eta = 0.5`, student entries :math:`\mathcal N(0, 0.25)` (our choice: :math:`Q_{ii}
\approx 0.25`, :math:`R_{in} \sim 0.5/\sqrt N`), online SGD with a fresh sample per step
(:func:`numerics.networks.online_sgd_committee`), time = steps/N. Each run's ODE
(:func:`theory.odes.saad_solla.saad_solla_ode`, LSODA with the compiled Jacobian) starts
from that run's own initial overlaps; :math:`\epsilon_g` is evaluated exactly from the
overlaps on both sides.

Readings per run: plateau height = the ODE's :math:`\epsilon_g` where
:math:`|d\epsilon_g/dt|` is smallest after the initial drop (t >= 10) among the points
where the ODE is unstable (its Jacobian has an eigenvalue with positive real part: the
plateau is a saddle, the converged tail after the escape is flat but stable), and the
SGD's at the same time; escape time = first crossing of half the ODE's plateau height. Window
"up to the escape": :math:`t \le 0.8\min(t_{esc}^{ODE}, t_{esc}^{SGD})`.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from numerics import integrate, networks
from numerics.stats import loglog_slope, mean_and_standard_error
from theory.odes import saad_solla as SS
from verify import figures
from verify.claim import Override, claim

LR, INIT_SD, T_START, Z_MAX = 0.5, 0.5, 10.0, 3.0


def _wrong_i3(c11, c12, c13, c22, c23, c33):
    return SS.I2(c11, c13, c33)  # E[g(u1) g(u3)] in place of E[g'(u1) u2 g(u3)]


def _state(Q, R):
    return [Q[0, 0], Q[0, 1], Q[1, 1], R[0, 0], R[0, 1], R[1, 0], R[1, 1]]


def _escape(t, e, level):
    below = np.nonzero((t >= T_START) & (e < level))[0]
    return float(t[below[0]]) if below.size else float("nan")


def _ode_states(compiled, y0, t):
    """The ODE's states on the grid t; NaN where the solution fails or leaves the reals
    (a wrong right-hand side must FAIL, not ERROR)."""
    try:
        sol = integrate.solve(compiled.rhs, y0, (0, t[-1]), method="LSODA",
                              jac=compiled.jacobian, t_eval=t, rtol=1e-9, atol=1e-12)
    except ArithmeticError:
        return np.full((len(y0), t.size), np.nan)
    y = np.full((len(y0), t.size), np.nan)
    y[:, :sol.t.size] = sol.y
    return y


def _growth(compiled, y):
    """Largest real part of the ODE Jacobian's eigenvalues at state y (NaN if not finite)."""
    J = compiled.jacobian(0, y)
    return float(np.max(np.linalg.eigvals(J).real)) if np.all(np.isfinite(J)) else np.nan


def _nanmean(x):
    x = np.asarray(x, dtype=float)
    return float(np.mean(x[np.isfinite(x)])) if np.any(np.isfinite(x)) else float("nan")


def _mean_se(x):
    x = np.asarray(x, dtype=float)
    return mean_and_standard_error(x) if np.all(np.isfinite(x)) else (np.nan, np.nan)


def _one_width(run, N, k, compiled, eg):
    rng = run.rng(k)
    S = run.seeds
    B = np.stack([networks.orthogonal_teacher(2, N, rng) for _ in range(S)])
    W0 = INIT_SD * rng.standard_normal((S, 2, N))
    steps, Q, R, _ = networks.online_sgd_committee(W0, B, lr=LR, steps=int(run.t_max * N),
                                                   rng=rng)
    t = steps / N
    e_sgd = np.array([[eg(*_state(Q[j, s], R[j, s])) for j in range(t.size)]
                      for s in range(S)])
    e_ode, plateau, esc, growth = [], [], [], []
    for s in range(S):
        y = _ode_states(compiled, _state(Q[0, s], R[0, s]), t)
        curve = np.array([eg(*y[:, j]) for j in range(t.size)])
        e_ode.append(curve)
        late = np.nonzero(t >= T_START)[0]
        slope = np.abs(np.gradient(curve, t))
        lam = np.array([_growth(compiled, y[:, j]) for j in late])
        # the plateau is a saddle: the flattest point where the ODE is unstable (the
        # converged tail after the escape is flat too, but stable)
        saddle = late[lam > 0] if np.any(lam > 0) else late
        jp = int(saddle[np.argmin(slope[saddle])])
        plateau.append((curve[jp], e_sgd[s, jp]))
        esc.append((_escape(t, curve, curve[jp] / 2), _escape(t, e_sgd[s], curve[jp] / 2)))
        growth.append(_growth(compiled, y[:, jp]))
    return t, e_sgd, np.array(e_ode), np.array(plateau), np.array(esc), np.array(growth)


@claim(
    sizes={"quick": {"widths": (100, 400), "seeds": 8, "t_max": 250.0},
           "full": {"widths": (250, 1000, 4000), "seeds": 16, "t_max": 400.0}},
    overrides={"wrong_i3": Override(bool, "ODE with I2 in place of I3 (must FAIL)",
                                    default=False)},
)
def compute(run):
    widths = sorted(run.widths)
    if len(widths) < 2 or run.seeds < 3:
        raise ValueError("need at least two widths and three seeds")
    # built only when its compiled code is not cached yet
    recipe = integrate.Recipe(SS.saad_solla_ode,
                              kwargs={"i3": _wrong_i3} if run.options["wrong_i3"] else {})
    compiled = integrate.compile_ode(recipe, eta=LR)
    Qs, Rs = SS.covariance_symbols(2, 2)
    by_name = {str(s): s for s in (*Qs, *Rs)}
    eg = sp.lambdify([by_name[n] for n in compiled.state],
                     SS.generalization_error(Qs, Rs, sp.eye(2), [1, 1], [1, 1]))
    run.params.update(lr=LR, init_sd=INIT_SD, K=2, M=2, second_layer="fixed at 1")
    rms, panels = [], []
    for k, N in enumerate(widths):
        t, e_sgd, e_ode, plateau, esc, growth = _one_width(run, N, k, compiled, eg)
        window = t <= 0.8 * (np.nanmin(esc) if np.any(np.isfinite(esc)) else t[-1])
        diff = (e_sgd - e_ode)[:, window]
        rms.append(float(np.sqrt(np.mean(diff**2))))
        mean_p, se_p = _mean_se(plateau[:, 1] - plateau[:, 0])
        run.checks.at_most(f"plateau_z_N{N}", abs(mean_p) / se_p, Z_MAX,
                           source="3 standard errors of the seed spread")
        mean_c, se_c = _mean_se(diff.mean(axis=1))
        run.checks.at_most(f"curve_z_N{N}", abs(mean_c) / se_c, Z_MAX,
                           source="3 standard errors of the seed spread (time-averaged "
                           "difference up to the escape)")
        both = np.all(np.isfinite(esc), axis=1)  # runs that escaped by t_max on both sides
        run.checks.at_least(f"escaped_N{N}", int(both.sum()), 3,
                            source="escape times need at least three runs that escaped")
        shift, se_e = (_mean_se(esc[both, 1] - esc[both, 0]) if both.sum() >= 3
                       else (np.nan, np.nan))
        lam = float(np.nanmean(growth)) if np.any(np.isfinite(growth)) else np.nan
        allowance = 2.0 / lam if lam > 0 else 0.0
        bound = Z_MAX * np.nan_to_num(se_e) + allowance
        run.checks.at_most(f"escape_shift_N{N}", abs(shift), bound if bound > 0 else 1e-300,
                           source="3 SE + 2/lambda: the initial asymmetry and the noise are "
                           "both O(N^-1/2), shifting ln(asymmetry)/lambda by O(1)/lambda "
                           "(lambda = the plateau's unstable eigenvalue)")
        run.note(f"plateau_ode_N{N}", float(plateau[:, 0].mean()))
        run.note(f"plateau_sgd_N{N}", float(plateau[:, 1].mean()))
        run.note(f"escape_time_ode_N{N}", _nanmean(esc[:, 0]))
        run.note(f"escape_time_sgd_N{N}", _nanmean(esc[:, 1]))
        run.note(f"rms_N{N}", rms[-1])
        panels.append((N, t, e_sgd, e_ode))
    last = widths[-1]
    run.note("plateau_ode", run.notes[f"plateau_ode_N{last}"])
    run.note("plateau_sgd", run.notes[f"plateau_sgd_N{last}"])
    run.note("escape_time_ode", run.notes[f"escape_time_ode_N{last}"])
    run.note("escape_time_sgd", run.notes[f"escape_time_sgd_N{last}"])
    if not np.all(np.isfinite(rms)):
        rms = [np.nan] * len(rms)
        run.checks.holds("rms_finite", False, "ODE solution finite on the whole window")
        return "the ODE solution is not finite"
    fit = loglog_slope(np.array(widths, dtype=float), np.array(rms))
    run.checks.slope("rms_slope_vs_n", fit, expected=-0.5, band=0.25,
                     source="SGD fluctuations O(N^-1/2); band for the spread of rms over "
                     f"{run.seeds} seeds")
    _figure(run, panels, widths, rms, fit)
    return (f"plateau {run.notes['plateau_sgd']:.4f} (SGD) vs {run.notes['plateau_ode']:.4f} "
            f"(ODE) at N = {last}; rms ~ N^{fit.slope:.2f}")


def _figure(run, panels, widths, rms, fit):
    run.figure, axes = figures.grid(1, len(panels) + 1, size=(4.0, 3.4))
    for ax, (N, t, e_sgd, e_ode) in zip(axes[0], panels, strict=False):
        figures.trajectory_vs_ode(ax, t, e_sgd, t, e_ode.mean(axis=0), label="online SGD",
                                  title=f"N = {N}", ylabel="eps_g", logy=True)
    figures.loglog_fit(axes[0][-1], widths, rms, fit, expected_slope=-0.5,
                       title="RMS(SGD - ODE) up to the escape", xlabel="N")
