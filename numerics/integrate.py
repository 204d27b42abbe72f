r"""Integrators for the reduced ODEs of :mod:`theory.odes`: compiled right-hand sides
and Jacobians, a table of ``solve_ivp`` methods, events, and a high-precision reference.

* :func:`compile_ode` — a closed :class:`~theory.odes.base.ReducedODE` into float64
  ``rhs(t, y)`` and ``jacobian(t, y)`` (``sympy.lambdify`` with ``cse=True``).
* :func:`compile_particles` — a :class:`~theory.odes.base.ParticleODE` over ``m``
  particles. The state is ``theta`` (``m`` rows of ``p`` particle symbols, flattened row
  by row) and, in the **augmented** form, the ``K`` moments appended. Without them the
  Jacobian is dense (block diagonal plus the rank-K coupling
  :math:`\frac1m\,\partial_M F\,\partial_\theta\mu^T`); with them it is an arrowhead:
  the per-particle blocks, K dense columns :math:`\partial_M F`, K dense rows
  :math:`\frac1m\partial_\theta g` and a K x K corner (``scipy.sparse``, CSC).
  :meth:`CompiledParticles.moment_drift` says how far the moment state drifted from
  its definition :math:`\frac1m\sum_i\mu_k(\theta_i)`.
* :data:`METHODS` — name -> ``solve_ivp`` method, whether it is stiff and uses the
  Jacobian; :func:`solve` runs one with events and dense output.
* :func:`level_events` — event functions for a scalar of the state crossing levels
  (plateau entry and exit of the risk).
* :func:`reference_solution` — the same system in mpmath at ``dps`` digits
  (``mpmath.odefun``, Taylor series), for checking a float64 solution at moderate
  stiffness.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field

import mpmath
import numpy as np
import scipy.sparse as sps
import sympy as sp
from scipy.integrate import solve_ivp

from theory.odes.base import ParticleODE, ReducedODE

__all__ = ["METHODS", "CompiledODE", "CompiledParticles", "Solution", "compile_ode",
           "compile_particles", "level_events", "reference_solution", "solve", "step_until",
           "crossing_times"]

#: solve_ivp methods: stiff implicit ones take the analytic Jacobian
METHODS = {
    "BDF": {"stiff": True, "jacobian": True},
    "Radau": {"stiff": True, "jacobian": True},
    "LSODA": {"stiff": True, "jacobian": True},
    "RK45": {"stiff": False, "jacobian": False},
    "DOP853": {"stiff": False, "jacobian": False},
}


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    return METHODS[method]


def _substitutions(ode: ReducedODE, values):
    subs = ode.substitution(**values)
    missing = [str(p) for p in ode.parameters if p not in subs]
    if missing:
        raise ValueError(f"{ode.name}: give values for the parameters {missing}")
    return {k: sp.Float(v, 30) if isinstance(v, float) else v for k, v in subs.items()}


def _lambdify(args, exprs, modules="numpy"):
    """A function of ``args`` returning a list of arrays broadcast to the arguments'
    common shape (constant entries of ``exprs`` included)."""
    raw = sp.lambdify(args, list(exprs), modules=modules, cse=True)
    if modules != "numpy":
        return raw

    def fn(*values):
        out = raw(*values)
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
        return [np.broadcast_to(np.asarray(o, dtype=float), shape) for o in out]

    return fn


@dataclass
class CompiledODE:
    """Float64 callables of a closed system: ``rhs(t, y)``, ``jacobian(t, y)``."""

    ode: ReducedODE
    rhs_fn: object
    jac_fn: object = None

    def rhs(self, t, y):
        return np.array(self.rhs_fn(*y), dtype=float).ravel()

    def jacobian(self, t, y):
        n = len(self.ode.state)
        return np.array(self.jac_fn(*y), dtype=float).reshape(n, n)


def compile_ode(ode: ReducedODE, *, jacobian: bool = True, **values) -> CompiledODE:
    """Compile ``ode`` with its ``values`` and the given ``name=number`` ones."""
    subs = _substitutions(ode, values)
    rhs = [e.subs(subs) for e in ode.rhs]
    fn = sp.lambdify(ode.state, rhs, modules="numpy", cse=True)
    jac = None
    if jacobian:
        J = sp.Matrix(rhs).jacobian(sp.Matrix(ode.state))
        jac = sp.lambdify(ode.state, list(J), modules="numpy", cse=True)
    return CompiledODE(ode, fn, jac)


@dataclass
class CompiledParticles:
    """A :class:`~theory.odes.base.ParticleODE` compiled for ``m`` particles (module
    docstring); ``augmented`` chooses the state layout ``[theta, M]``."""

    ode: ParticleODE
    m: int
    p: int
    K: int
    f: object  # (theta columns, M) -> p arrays
    dF_dtheta: object  # p*p
    dF_dM: object  # p*K
    mu: object  # theta columns -> K arrays
    g: object  # moment rates per particle
    dg_dtheta: object  # K*p
    dg_dM: object  # K*K
    risk_fn: object
    self_fn: object
    mu_grad: object  # K*p
    #: True when the particle count m is an argument of the compiled functions (the
    #: finite-m flow), so one compilation serves every m (``dataclasses.replace(cp, m=...)``)
    runtime_m: bool = False

    @property
    def extra(self) -> tuple:
        return (float(self.m),) if self.runtime_m else ()
    evaluations: dict = field(default_factory=lambda: {"rhs": 0, "jacobian": 0})

    # -- layout ---------------------------------------------------------------
    def split(self, y, augmented):
        n = self.m * self.p
        theta = np.asarray(y[:n]).reshape(self.m, self.p)
        M = np.asarray(y[n:n + self.K]) if augmented else self.moments(theta)
        return theta, M

    def initial_state(self, *columns, augmented=True):
        """``columns``: one length-m array per particle symbol (e.g. ``a0, r0``)."""
        theta = np.column_stack([np.asarray(c, dtype=float) for c in columns])
        if theta.shape != (self.m, self.p):
            raise ValueError(f"need {self.p} arrays of length m = {self.m}, got shape "
                             f"{theta.shape}")
        y = theta.ravel()
        return np.concatenate([y, self.moments(theta)]) if augmented else y

    def moments(self, theta):
        return np.array([np.mean(v) for v in self.mu(*theta.T)])

    def moment_drift(self, y) -> float:
        """``max_k |M_k(state) - mean_i mu_k(theta_i)|`` of an augmented state."""
        theta, M = self.split(y, True)
        return float(np.max(np.abs(M - self.moments(theta))))

    def risk(self, y, augmented=True) -> float:
        theta, M = self.split(y, augmented)
        value = float(self.risk_fn(*M))
        if self.self_fn is not None:
            value += float(np.sum(self.self_fn(*theta.T))) / self.m**2
        return value

    # -- right-hand sides -------------------------------------------------------
    def rhs(self, t, y, augmented=True):
        self.evaluations["rhs"] += 1
        theta, M = self.split(y, augmented)
        cols, Ms = theta.T, tuple(M)
        F = np.column_stack(self.f(*cols, *Ms, *self.extra))
        if not augmented:
            return F.ravel()
        # dM_k/dt = mean_i grad mu_k(theta_i) . F_i (the same as self.g, cheaper)
        G = np.stack(self.mu_grad(*cols), axis=-1).reshape(self.m, self.K, self.p)
        dM = np.einsum("ikp,ip->k", G, F) / self.m
        return np.concatenate([F.ravel(), dM])

    def _blocks(self, y, augmented):
        theta, M = self.split(y, augmented)
        args = (*theta.T, *M, *self.extra)
        m, p, K = self.m, self.p, self.K
        A = np.stack(self.dF_dtheta(*args), axis=-1).reshape(m, p, p)
        B = np.stack(self.dF_dM(*args), axis=-1).reshape(m, p, K)
        return theta, M, args, A, B

    def jacobian_dense(self, t, y):
        """Dense Jacobian of the plain system (moments recomputed from theta)."""
        self.evaluations["jacobian"] += 1
        theta, M, args, A, B = self._blocks(y, False)
        m, p, K = self.m, self.p, self.K
        G = np.stack(self.mu_grad(*theta.T), axis=-1).reshape(m, K, p)
        J = np.einsum("ipk,jkq->ipjq", B, G).reshape(m * p, m * p) / m
        for i in range(m):
            J[i * p:(i + 1) * p, i * p:(i + 1) * p] += A[i]
        return J

    def jacobian_sparse(self, t, y):
        """Sparse (arrowhead) Jacobian of the augmented system, CSC."""
        self.evaluations["jacobian"] += 1
        theta, M, args, A, B = self._blocks(y, True)
        m, p, K = self.m, self.p, self.K
        Gt = np.stack(self.dg_dtheta(*args), axis=-1).reshape(m, K, p) / m
        GM = np.stack(self.dg_dM(*args), axis=-1).reshape(m, K, K).mean(axis=0)
        n = m * p
        rows, cols, vals = [], [], []
        base = np.arange(m)[:, None, None] * p
        ii, jj = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
        rows.append((base + ii).ravel())
        cols.append((base + jj).ravel())
        vals.append(A.ravel())
        ri, kk = np.meshgrid(np.arange(p), np.arange(K), indexing="ij")
        rows.append((base + ri).ravel())
        cols.append(np.broadcast_to(n + kk, (m, p, K)).ravel())
        vals.append(B.ravel())
        kr, jc = np.meshgrid(np.arange(K), np.arange(p), indexing="ij")
        rows.append(np.broadcast_to(n + kr, (m, K, p)).ravel())
        cols.append((base + jc).ravel())
        vals.append(Gt.ravel())
        ck, cm = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
        rows.append(n + ck.ravel())
        cols.append(n + cm.ravel())
        vals.append(GM.ravel())
        return sps.csc_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                       np.concatenate(cols))),
                              shape=(n + K, n + K))


def compile_particles(ode: ParticleODE, m: int, **values) -> CompiledParticles:
    """Compile a particle system for ``m`` particles with the parameter values given
    (``epsilon=1e-4``, ``m=...`` for a finite-m term)."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    m_symbol = next((prm for prm in ode.parameters if str(prm) == "m"), None)
    runtime_m = m_symbol is not None and "m" not in values
    if runtime_m:  # keep m symbolic: an argument of the rhs and Jacobian functions
        values["m"] = m_symbol
    subs = _substitutions(ode, values)
    th, Ms = list(ode.state), list(ode.moments)
    F = [e.subs(subs) for e in ode.rhs]
    g = [e.subs(subs) for e in ode.moment_rate()]
    Fm = sp.Matrix(F)
    gm = sp.Matrix(g)
    args = th + Ms + ([m_symbol] if runtime_m else [])
    if runtime_m and any(e.subs(subs).has(m_symbol) for e in (
            ode.risk, ode.self_term, *ode.moment_functions)):
        raise ValueError(f"{ode.name}: m enters the risk or the moments; pass m=... to "
                         "compile it in")
    mu_grad = sp.Matrix(ode.moment_functions).jacobian(sp.Matrix(th))
    self_term = ode.self_term.subs(subs)
    cp = CompiledParticles(
        ode=ode, m=int(m), p=len(th), K=len(Ms),
        f=_lambdify(args, F),
        dF_dtheta=_lambdify(args, list(Fm.jacobian(sp.Matrix(th)))),
        dF_dM=_lambdify(args, list(Fm.jacobian(sp.Matrix(Ms)))),
        mu=_lambdify(th, ode.moment_functions),
        g=_lambdify(args, g),
        dg_dtheta=_lambdify(args, list(gm.jacobian(sp.Matrix(th)))),
        dg_dM=_lambdify(args, list(gm.jacobian(sp.Matrix(Ms)))),
        risk_fn=sp.lambdify(Ms, ode.risk.subs(subs), modules="numpy"),
        self_fn=None if self_term == 0 else _first(_lambdify(th, [self_term])),
        mu_grad=_lambdify(th, list(mu_grad)),
        runtime_m=runtime_m,
    )
    return cp


def _first(fn):
    return lambda *args: fn(*args)[0]


@dataclass
class Solution:
    """What :func:`solve` returns: times ``t``, states ``y`` (columns), the dense
    interpolant ``sol`` (or None), event times ``t_events`` (one array per event),
    counts and wall time."""

    t: np.ndarray
    y: np.ndarray
    sol: object
    t_events: list
    method: str
    nfev: int
    njev: int
    seconds: float
    message: str


def solve(rhs, y0, t_span, *, method="BDF", jac=None, t_eval=None, events=None,
          dense_output=False, rtol=1e-8, atol=1e-10, **options) -> Solution:
    """``solve_ivp`` with one of :data:`METHODS`; the Jacobian ``jac`` is passed only to
    the stiff methods."""
    info = _check_method(method)
    kwargs = dict(method=method, t_eval=t_eval, dense_output=dense_output, rtol=rtol,
                  atol=atol, **options)
    if info["jacobian"] and jac is not None:
        kwargs["jac"] = jac
    start = _time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        res = solve_ivp(rhs, t_span, np.asarray(y0, dtype=float), events=events, **kwargs)
    seconds = _time.perf_counter() - start
    if res.status < 0:
        raise ArithmeticError(f"{method} failed: {res.message}")
    return Solution(res.t, res.y, res.sol, list(res.t_events or []), method, res.nfev,
                    res.njev, seconds, res.message)


def step_until(rhs, y0, t_span, *, method="RK45", jac=None, max_seconds=10.0, rtol=1e-8,
               atol=1e-10):
    """Step a ``solve_ivp`` method by hand until ``t_span[1]`` or ``max_seconds`` of wall
    time: ``(t reached, state, steps, seconds)`` (for timing methods that may need
    millions of steps, e.g. an explicit one on a stiff system)."""
    from scipy.integrate import BDF, DOP853, LSODA, RK45, Radau

    info = _check_method(method)
    cls = {"BDF": BDF, "Radau": Radau, "LSODA": LSODA, "RK45": RK45, "DOP853": DOP853}[method]
    kw = {"jac": jac} if info["jacobian"] and jac is not None else {}
    start = _time.perf_counter()
    solver = cls(rhs, t_span[0], np.asarray(y0, dtype=float), t_span[1], rtol=rtol, atol=atol,
                 **kw)
    steps = 0
    while solver.status == "running" and _time.perf_counter() - start < max_seconds:
        solver.step()
        steps += 1
    if solver.status == "failed":
        raise ArithmeticError(f"{method} failed at t = {solver.t}")
    return solver.t, solver.y, steps, _time.perf_counter() - start


def level_events(fn, levels):
    """Event functions ``fn(y) - level`` (non-terminal, any direction) for each level;
    with the risk as ``fn`` and plateau boundaries as levels they mark entry and exit."""
    events = []
    for level in levels:
        def event(t, y, level=float(level)):
            return fn(y) - level
        events.append(event)
    return events


def crossing_times(t, values, level) -> float:
    """First time the sampled ``values`` fall below ``level`` (log-linear
    interpolation between samples), NaN if never."""
    values = np.asarray(values, dtype=float)
    below = np.nonzero(values < level)[0]
    if below.size == 0:
        return float("nan")
    j = int(below[0])
    if j == 0:
        return float(t[0])
    t0, t1, v0, v1 = t[j - 1], t[j], values[j - 1], values[j]
    w = (v0 - level) / (v0 - v1)
    if t0 > 0:
        return float(np.exp(np.log(t0) + w * (np.log(t1) - np.log(t0))))
    return float(t0 + w * (t1 - t0))


def reference_solution(ode: ParticleODE, columns, times, *, dps=30, **values):
    """The particle system (plain form, moments recomputed) integrated in mpmath at
    ``dps`` digits with ``mpmath.odefun`` (Taylor series); returns the states at
    ``times`` as a list of lists of mpmath numbers (rows of the plain layout)."""
    m = len(columns[0])
    with mpmath.workdps(dps):
        subs = _substitutions(ode, {k: v for k, v in values.items() if k != "m"}
                              | ({"m": m} if any(str(p) == "m" for p in ode.parameters)
                                 else {}))
        th, Ms = list(ode.state), list(ode.moments)
        F = sp.lambdify(th + Ms, [e.subs(subs) for e in ode.rhs], modules="mpmath")
        mu = sp.lambdify(th, list(ode.moment_functions), modules="mpmath")
        p = len(th)

        def rhs(t, y):
            parts = [y[i * p:(i + 1) * p] for i in range(m)]
            M = [mpmath.fsum(vals) / m for vals in zip(*[mu(*q) for q in parts], strict=True)]
            out = []
            for q in parts:
                out.extend(F(*q, *M))
            return out

        y0 = [mpmath.mpf(v) for row in zip(*columns, strict=True) for v in row]
        f = mpmath.odefun(rhs, 0, y0)
        return [[+v for v in f(mpmath.mpf(t))] for t in times]


def particle_risk_curve(cp: CompiledParticles, y0, t_end, *, t_start=None, points=600,
                        method="BDF", rtol=1e-8, atol=1e-10, stop_below=None, risk=None):
    r"""Integrate an augmented particle system from ``y0`` and return ``(t, risk, drift,
    solution)`` on a log-spaced grid from ``t_start`` (default 1e-6 of ``t_end``) to
    ``t_end``. ``risk`` evaluates the risk of a state (default ``cp.risk``; pass another
    system's to judge a deliberately wrong flow by the true risk); ``stop_below`` ends
    the integration after the first accepted step at which the flow's own risk is below
    it (after convergence the second layer of a small-eps system keeps growing and the
    system gets stiffer without changing the risk); the grid then ends there, with
    that step's state as its last point. ``drift`` is the largest
    :meth:`~CompiledParticles.moment_drift` on the grid. The steps are taken by hand
    (``scipy.integrate`` solver classes) so that the stop is judged on accepted steps,
    not on an interpolant across a fast drop."""
    from scipy.integrate import BDF, LSODA, Radau

    if method not in ("BDF", "Radau", "LSODA"):
        raise ValueError(f"particle_risk_curve takes a stiff method (BDF, Radau, LSODA), got "
                         f"{method!r}")
    risk = cp.risk if risk is None else risk
    t_start = t_end * 1e-6 if t_start is None else t_start
    grid = np.geomspace(t_start, t_end, points)
    solver = {"BDF": BDF, "Radau": Radau, "LSODA": LSODA}[method](
        cp.rhs, 0.0, np.asarray(y0, dtype=float), t_end, rtol=rtol, atol=atol,
        jac=cp.jacobian_sparse)
    ts, ys, j, steps = [], [], 0, 0
    start = _time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        while solver.status == "running":
            solver.step()
            steps += 1
            if solver.status == "failed":
                raise ArithmeticError(f"{method} failed at t = {solver.t:.3g}")
            dense = solver.dense_output()
            while j < grid.size and grid[j] <= solver.t:
                ts.append(grid[j])
                ys.append(dense(grid[j]))
                j += 1
            if stop_below is not None and cp.risk(solver.y) < stop_below:
                ts.append(solver.t)
                ys.append(solver.y.copy())
                break
    y = np.column_stack(ys)
    t = np.array(ts)
    sol = Solution(t, y, None, [], method, solver.nfev, solver.njev,
                   _time.perf_counter() - start, f"{steps} steps")
    values = np.array([risk(y[:, k]) for k in range(t.size)])
    drift = max(cp.moment_drift(y[:, k]) for k in range(t.size))
    return t, values, drift, sol
