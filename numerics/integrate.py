r"""Integrators for the reduced ODEs of :mod:`theory.odes`: compiled right-hand sides
and Jacobians, a table of ``solve_ivp`` methods, events, and a high-precision reference.

* :func:`compile_ode` — a closed :class:`~theory.odes.base.ReducedODE` into float64
  ``rhs(t, y)`` and ``jacobian(t, y)`` (the rhs printed as ``lambdify(..., cse=True)``
  prints it, the Jacobian by forward mode along its cse: :mod:`numerics.codegen`).
* :func:`compile_particles` — a :class:`~theory.odes.base.ParticleODE` over ``m``
  particles, its parameters (and ``m``) arguments of the compiled functions. The state
  is ``theta`` (``m`` rows of ``p`` particle symbols, flattened row by row) and, in the
  **augmented** form, the ``K`` moments appended. Without them the
  Jacobian is dense (block diagonal plus the rank-K coupling
  :math:`\frac1m\,\partial_M F\,\partial_\theta\mu^T`); with them it is an arrowhead:
  the per-particle blocks, K dense columns :math:`\partial_M F`, K dense rows
  :math:`\frac1m\partial_\theta g` and a K x K corner (``scipy.sparse``, CSC), with
  :math:`g_k = \nabla\mu_k\cdot F` differentiated at run time by the chain rule from the
  compiled :math:`F, \partial F, \nabla\mu_k, \nabla^2\mu_k` (deriving the expanded
  :math:`g` in SymPy was most of the compilation time).
  :meth:`CompiledParticles.moment_drift` says how far the moment state drifted from
  its definition :math:`\frac1m\sum_i\mu_k(\theta_i)`.
* :data:`METHODS` — name -> ``solve_ivp`` method, whether it is stiff and uses the
  Jacobian; :func:`solve` runs one with events and dense output.
* :func:`level_events` — event functions for a scalar of the state crossing levels
  (plateau entry and exit of the risk).
* Generated code is written to disk and imported (:mod:`numerics.codecache`), keyed by
  the SymPy expressions themselves (``srepr``, so a changed model can never meet stale
  code) and the source of this module and :mod:`numerics.codegen`: a second process
  runs no Jacobian, cse or printing, only the model's own construction.
* :func:`reference_solution` — the same system in mpmath at ``dps`` digits
  (``mpmath.odefun``, Taylor series), for checking a float64 solution at moderate
  stiffness.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import numpy as np
import scipy.sparse as sps
import sympy as sp
from scipy.integrate import solve_ivp

from numerics import codecache
from numerics.codegen import SourceModule
from theory.odes.base import ParticleODE, ReducedODE

__all__ = ["METHODS", "CompiledODE", "CompiledParticles", "Recipe", "Solution", "compile_ode",
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


def _broadcasting(fn, n_state):
    """``fn`` returning a list of arrays broadcast to the common shape of its first
    ``n_state`` arguments (the state; the parameters after them are scalars), constant
    entries included."""

    def call(*values):
        shape = np.broadcast_shapes(*(np.shape(v) for v in values[:n_state]))
        return [o if type(o) is np.ndarray and o.shape == shape and o.dtype == np.float64
                else np.broadcast_to(np.asarray(o, dtype=float), shape) for o in fn(*values)]

    return call


def _key(kind, *parts) -> str:
    """Cache key of generated source: the SymPy expressions it is printed from (``srepr``,
    assumptions included) and the generators' own source."""
    return "|".join([kind, codecache.source_fingerprint("numerics.integrate", "numerics.codegen"),
                     *(sp.srepr(p) for p in parts)])


@dataclass(frozen=True)
class Recipe:
    """A reduced ODE as the call that builds it, ``builder(*args, **kwargs)``, so that
    :func:`compile_ode` can key its cache on the call and build the ODE (SymPy) only on a
    miss. The key is the builder's qualified name, the arguments (a function by its
    qualified name) and the source of the builder's module, of the modules of function
    arguments and of ``modules`` (name every module the builder's result depends on
    beyond its own: ``theory.odes.base`` always counts)."""

    builder: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    modules: tuple = ()

    def build(self) -> ReducedODE:
        return self.builder(*self.args, **self.kwargs)

    def key(self) -> str:
        def describe(v):
            if callable(v):
                modules.add(v.__module__)
                return f"<{v.__module__}.{v.__qualname__}>"
            return repr(v)

        modules = {self.builder.__module__, "theory.odes.base", *self.modules}
        call = (describe(self.builder)
                + "(" + ", ".join([describe(a) for a in self.args]
                                  + [f"{k}={describe(v)}" for k, v in
                                     sorted(self.kwargs.items())]) + ")")
        return call + "|" + codecache.source_fingerprint(*sorted(modules))


@dataclass
class CompiledODE:
    """Float64 callables of a closed system: ``rhs(t, y)``, ``jacobian(t, y)``; ``state``
    the names of the state symbols in order, ``ode`` the system (None when it came from a
    :class:`Recipe` whose code was cached, i.e. it was never built)."""

    ode: ReducedODE | None
    rhs_fn: object
    jac_fn: object = None
    state: tuple = ()

    def rhs(self, t, y):
        return np.array(self.rhs_fn(*y), dtype=float).ravel()

    def jacobian(self, t, y):
        n = len(self.state)
        return np.array(self.jac_fn(*y), dtype=float).reshape(n, n)


def compile_ode(ode: ReducedODE | Recipe, *, jacobian: bool = True, **values) -> CompiledODE:
    """Compile ``ode`` with its ``values`` and the given ``name=number`` ones (substituted
    into the expressions). The generated module is cached on disk
    (:mod:`numerics.codecache`): keyed by the expressions and the values, or, for a
    :class:`Recipe`, by the call that builds the ODE and the values, so that a cache hit
    runs no SymPy at all; the Jacobian is derived along the rhs's common
    subexpressions (:meth:`numerics.codegen.SourceModule.jacobian`)."""
    recipe = ode if isinstance(ode, Recipe) else None
    built = None if recipe else ode

    def system():
        nonlocal built
        if built is None:
            built = recipe.build()
        return built

    def make_source():
        subs = _substitutions(system(), values)
        rhs = [e.xreplace(subs) for e in system().rhs]
        src = SourceModule()
        src.function("rhs", system().state, rhs)
        if jacobian:
            src.jacobian("jacobian", system().state, rhs, system().state)
        src.constant("STATE", tuple(str(s) for s in system().state))
        return src.source()

    if recipe is None:
        subs = _substitutions(ode, values)
        key = _key("ode", ode.state, ode.rhs, sorted(subs.items(), key=lambda kv: str(kv[0])),
                   jacobian)
    else:
        key = "|".join([_key("ode-recipe", jacobian), recipe.key(),
                        repr(sorted((k, repr(v)) for k, v in values.items()))])
    module = codecache.cached_module("ode", key, make_source)
    return CompiledODE(built, module.rhs, module.jacobian if jacobian else None, module.STATE)


@dataclass
class CompiledParticles:
    """A :class:`~theory.odes.base.ParticleODE` compiled for ``m`` particles (module
    docstring); ``augmented`` chooses the state layout ``[theta, M]``.

    The compiled functions take the state arguments and then every parameter of the ODE
    (:attr:`extra`, in the order of ``ode.parameters``): the parameter values are not
    compiled in, so one generated module serves every value (and
    ``dataclasses.replace(cp, m=...)`` another particle count when ``m`` is a parameter
    not given a value)."""

    ode: ParticleODE
    m: int
    p: int
    K: int
    f: object  # (theta columns, M, parameters) -> p arrays
    dF_dtheta: object  # p*p
    dF_dM: object  # p*K
    mu: object  # (theta columns, parameters) -> K arrays
    mu_grad: object  # K*p
    mu_hess: object  # K*p*p: d^2 mu_k / d theta_p d theta_q
    risk_fn: object  # (M, parameters) -> [risk]
    self_fn: object  # (theta columns, parameters) -> [s(theta)], or None
    #: the parameter values, in the order of ``ode.parameters``
    parameters: tuple = ()
    #: index of the particle count in ``parameters`` when it is taken from ``m``
    m_slot: int | None = None
    evaluations: dict = field(default_factory=lambda: {"rhs": 0, "jacobian": 0})

    @property
    def runtime_m(self) -> bool:
        """True when the particle count ``m`` is a parameter filled in from :attr:`m`."""
        return self.m_slot is not None

    @property
    def extra(self) -> tuple:
        """The parameter arguments of the compiled functions."""
        if self.m_slot is None:
            return self.parameters
        values = list(self.parameters)
        values[self.m_slot] = float(self.m)
        return tuple(values)

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
        return np.array([np.mean(v) for v in self.mu(*theta.T, *self.extra)])

    def moment_drift(self, y) -> float:
        """``max_k |M_k(state) - mean_i mu_k(theta_i)|`` of an augmented state."""
        theta, M = self.split(y, True)
        return float(np.max(np.abs(M - self.moments(theta))))

    def risk(self, y, augmented=True) -> float:
        theta, M = self.split(y, augmented)
        extra = self.extra
        value = float(self.risk_fn(*M, *extra)[0])
        if self.self_fn is not None:
            value += float(np.sum(self.self_fn(*theta.T, *extra)[0])) / self.m**2
        return value

    # -- right-hand sides -------------------------------------------------------
    def rhs(self, t, y, augmented=True):
        self.evaluations["rhs"] += 1
        theta, M = self.split(y, augmented)
        cols, Ms, extra = theta.T, tuple(M), self.extra
        F = np.column_stack(self.f(*cols, *Ms, *extra))
        if not augmented:
            return F.ravel()
        # dM_k/dt = mean_i grad mu_k(theta_i) . F_i
        G = np.stack(self.mu_grad(*cols, *extra), axis=-1).reshape(self.m, self.K, self.p)
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
        G = np.stack(self.mu_grad(*theta.T, *self.extra), axis=-1).reshape(m, K, p)
        J = np.einsum("ipk,jkq->ipjq", B, G).reshape(m * p, m * p) / m
        for i in range(m):
            J[i * p:(i + 1) * p, i * p:(i + 1) * p] += A[i]
        return J

    def jacobian_sparse(self, t, y):
        """Sparse (arrowhead) Jacobian of the augmented system, CSC."""
        self.evaluations["jacobian"] += 1
        theta, M, args, A, B = self._blocks(y, True)
        m, p, K = self.m, self.p, self.K
        # g_k = grad mu_k . F per particle: its derivatives by the chain rule
        F = np.stack(self.f(*args), axis=-1)
        mu_args = (*theta.T, *self.extra)
        G = np.stack(self.mu_grad(*mu_args), axis=-1).reshape(m, K, p)
        H = np.stack(self.mu_hess(*mu_args), axis=-1).reshape(m, K, p, p)
        Gt = (np.einsum("ikpq,ip->ikq", H, F) + np.einsum("ikp,ipq->ikq", G, A)) / m
        GM = np.einsum("ikp,ipl->kl", G, B) / m
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
    (``epsilon=1e-4``; ``m`` is taken from the particle count unless given). The
    generated module depends on the expressions only, not on the values: it is cached
    on disk (:mod:`numerics.codecache`), so a second process, or another value of a
    parameter, runs no SymPy derivation."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    m_symbol = next((prm for prm in ode.parameters if str(prm) == "m"), None)
    m_slot = None
    if m_symbol is not None and "m" not in values:
        values["m"] = m_symbol
        m_slot = ode.parameters.index(m_symbol)
    subs = _substitutions(ode, values)
    numbers = []
    for i, prm in enumerate(ode.parameters):
        if i == m_slot:
            numbers.append(float("nan"))  # filled in from m by CompiledParticles.extra
            continue
        try:
            numbers.append(float(subs[prm]))
        except (TypeError, ValueError):
            raise ValueError(f"{ode.name}: the value of {prm} must be a real number, got "
                             f"{subs[prm]!r}") from None
    key = _key("particles", ode.state, ode.moments, ode.parameters, ode.rhs,
               ode.moment_functions, ode.risk, ode.self_term)
    module = codecache.cached_module("particles", key, lambda: _particle_source(ode))
    p, K = len(ode.state), len(ode.moments)
    return CompiledParticles(
        ode=ode, m=int(m), p=p, K=K,
        f=_broadcasting(module.flow, p + K),
        dF_dtheta=_broadcasting(module.flow_theta, p + K),
        dF_dM=_broadcasting(module.flow_moments, p + K),
        mu=_broadcasting(module.moments, p),
        mu_grad=_broadcasting(module.moment_gradient, p),
        mu_hess=_broadcasting(module.moment_hessian, p),
        risk_fn=_broadcasting(module.risk, K),
        self_fn=_broadcasting(module.self_term, p) if module.HAS_SELF_TERM else None,
        parameters=tuple(numbers), m_slot=m_slot)


def _particle_source(ode: ParticleODE) -> str:
    """The module of a particle system's functions, every parameter an argument."""
    th, Ms, P = list(ode.state), list(ode.moments), list(ode.parameters)
    for what, exprs, allowed in (("the moment functions", ode.moment_functions, th + P),
                                 ("the risk", (ode.risk,), Ms + P),
                                 ("the self term", (ode.self_term,), th + P)):
        stray = set().union(*(sp.sympify(e).free_symbols for e in exprs)) - set(allowed)
        if stray:
            raise ValueError(f"{ode.name}: {what} use symbols that are not allowed there: "
                             f"{sorted(map(str, stray))}")
    F = sp.Matrix(ode.rhs)
    G = sp.Matrix(ode.moment_functions).jacobian(sp.Matrix(th))
    src = SourceModule()
    src.function("flow", th + Ms + P, F)
    src.function("flow_theta", th + Ms + P, F.jacobian(sp.Matrix(th)))
    src.function("flow_moments", th + Ms + P, F.jacobian(sp.Matrix(Ms)))
    src.function("moments", th + P, ode.moment_functions)
    src.function("moment_gradient", th + P, G)
    src.function("moment_hessian", th + P, [sp.diff(G[k, i], q) for k in range(len(Ms))
                                            for i in range(len(th)) for q in th])
    src.function("risk", Ms + P, [ode.risk])
    src.function("self_term", th + P, [ode.self_term])
    src.constant("HAS_SELF_TERM", ode.self_term != 0)
    return src.source()


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
