"""Tests for numerics/integrate.py: compiled Jacobians (sparse arrowhead, dense, closed
system) against central differences, sparse and dense stiff solves and an explicit one
agree, the moment state stays equal to its definition, a float64 solution matches the
30-digit mpmath reference, events and crossing times."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from numerics import integrate as I
from theory.odes import saad_solla as S
from theory.odes import single_index as SI

TARGET = (0, 1, 0.5, 0.25)


def _fd(fn, y, cols, h=1e-6):
    eye = np.eye(len(y))
    return np.column_stack([(fn(y + h * eye[j]) - fn(y - h * eye[j])) / (2 * h) for j in cols])


@pytest.fixture(scope="module")
def particles():
    ode = SI.single_index_ode("elu", TARGET, finite_m=True)
    m = 12
    cp = I.compile_particles(ode, m, epsilon=1e-3)
    rng = np.random.default_rng(1)
    y = cp.initial_state(rng.standard_normal(m), 0.3 * rng.uniform(-1, 1, m))
    return cp, y


def test_sparse_jacobian_matches_differences(particles):
    cp, y = particles
    J = cp.jacobian_sparse(0, y).toarray()
    cols = list(range(6)) + list(range(len(y) - 4, len(y)))
    num = _fd(lambda z: cp.rhs(0, z), y, cols)
    assert np.max(np.abs(J[:, cols] - num)) <= 1e-7 * np.max(np.abs(num))
    # arrowhead: particle blocks do not couple to each other directly
    assert np.all(J[0:2, 2:2 * cp.m] == 0)


def test_dense_jacobian_matches_differences(particles):
    cp, y = particles
    plain = y[:cp.m * cp.p]
    J = cp.jacobian_dense(0, plain)
    num = _fd(lambda z: cp.rhs(0, z, augmented=False), plain, range(len(plain)))
    assert np.max(np.abs(J - num)) <= 1e-7 * np.max(np.abs(num))


def test_stiff_sparse_dense_and_explicit_agree():
    ode = SI.single_index_ode("elu", TARGET)
    m = 40
    cp = I.compile_particles(ode, m, epsilon=1e-3)
    a0 = norm.ppf((np.arange(m) + 0.5) / m)
    y0 = cp.initial_state(a0, np.zeros(m))
    times = [0.05, 0.2, 1.0]
    kw = dict(t_eval=times, rtol=1e-10, atol=1e-12)
    sparse = I.solve(cp.rhs, y0, (0, 1), method="BDF", jac=cp.jacobian_sparse, **kw)
    dense = I.solve(lambda t, z: cp.rhs(t, z, augmented=False), y0[:2 * m], (0, 1),
                    method="Radau", jac=cp.jacobian_dense, **kw)
    explicit = I.solve(cp.rhs, y0, (0, 1), method="DOP853", **kw)
    n = 2 * m
    assert np.max(np.abs(sparse.y[:n] - dense.y)) < 1e-6
    assert np.max(np.abs(explicit.y[:n] - dense.y)) < 1e-6
    assert max(cp.moment_drift(sparse.y[:, j]) for j in range(3)) < 1e-7
    assert cp.risk(sparse.y[:, -1]) < cp.risk(y0)


def test_float64_matches_mpmath_reference():
    ode = SI.single_index_ode("elu", (0, 1, 0.5), finite_m=True)
    a0, r0 = [-1.0, 0.5, 1.5], [0.05, -0.1, 0.2]
    ref = np.array(I.reference_solution(ode, [a0, r0], [0.2], dps=30, epsilon=0.05)[0],
                   dtype=float)
    cp = I.compile_particles(ode, 3, epsilon=0.05)
    sol = I.solve(cp.rhs, cp.initial_state(a0, r0), (0, 0.2), method="Radau",
                  jac=cp.jacobian_sparse, t_eval=[0.2], rtol=1e-12, atol=1e-14)
    assert np.max(np.abs(sol.y[:6, -1] - ref)) < 1e-11


def test_events_and_crossings():
    ode = SI.single_index_ode("elu", TARGET)
    m = 20
    cp = I.compile_particles(ode, m, epsilon=1e-4)
    y0 = cp.initial_state(norm.ppf((np.arange(m) + 0.5) / m), np.zeros(m))
    levels = [0.4, 0.1]
    t_eval = np.geomspace(1e-6, 2, 300)
    sol = I.solve(cp.rhs, y0, (0, 2), method="BDF", jac=cp.jacobian_sparse, t_eval=t_eval,
                  events=I.level_events(cp.risk, levels), dense_output=True)
    risk = [cp.risk(sol.y[:, j]) for j in range(sol.t.size)]
    for level, times in zip(levels, sol.t_events, strict=True):
        assert times.size >= 1
        assert I.crossing_times(sol.t, risk, level) == pytest.approx(times[0], rel=0.02)
    assert cp.risk(sol.sol(sol.t_events[0][0])) == pytest.approx(0.4, abs=1e-6)
    assert np.isnan(I.crossing_times([1, 2], [1.0, 1.0], 0.5))


def test_wall_time_cap_and_bad_input():
    ode = SI.single_index_ode("elu", TARGET)
    cp = I.compile_particles(ode, 10, epsilon=1e-8)
    y0 = cp.initial_state(np.linspace(-1, 1, 10), np.zeros(10))
    t, y, steps, seconds = I.step_until(cp.rhs, y0, (0, 1), method="RK45", max_seconds=0.3)
    assert t < 1 and steps > 10 and seconds < 1
    with pytest.raises(ValueError, match="unknown method"):
        I.solve(cp.rhs, y0, (0, 1), method="Euler")
    with pytest.raises(ValueError, match="give values"):
        I.compile_particles(ode, 10)
    with pytest.raises(ValueError, match="unknown parameter"):
        I.compile_particles(ode, 10, epsilon=1e-2, beta=1)
    with pytest.raises(ValueError, match="need 2 arrays"):
        cp.initial_state(np.zeros(3), np.zeros(3))


def test_saad_solla_compiled_jacobian():
    cs = I.compile_ode(S.saad_solla_ode(), eta=0.5)
    y = np.array([0.5, 0.1, 0.4, 0.2, 0.15, 0.1, 0.25])
    num = _fd(lambda z: cs.rhs(0, z), y, range(7))
    assert np.max(np.abs(cs.jacobian(0, y) - num)) < 1e-7


# -- generated code cached on disk (numerics.codecache) ------------------------------

def _evaluate(cp, y):
    return np.concatenate([cp.rhs(0, y), cp.jacobian_sparse(0, y).toarray().ravel(),
                           [cp.risk(y)]])


def test_particles_from_cache_are_bitwise_identical(cache, monkeypatch):
    from numerics import codecache

    ode = SI.single_index_ode("elu", (0, 1, 0.5), finite_m=True)
    cp = I.compile_particles(ode, 4, epsilon=0.05)
    y = cp.initial_state([-1.0, 0.5, 1.5, 0.2], [0.05, -0.1, 0.2, 0.3])
    first = _evaluate(cp, y)
    (path,) = cache.glob("_nntheory_particles_*.py")
    assert "sympy" not in path.read_text()
    codecache._LOADED.clear()  # as a new process would

    def no_sympy(_ode):
        raise AssertionError("generated again")

    monkeypatch.setattr(I, "_particle_source", no_sympy)
    again = I.compile_particles(ode, 4, epsilon=0.05)
    assert np.array_equal(_evaluate(again, y), first)
    # another parameter value and particle count: the same module
    other = I.compile_particles(ode, 6, epsilon=0.2)
    assert other.extra[0] == 0.2 and other.extra[-1] == 6.0
    assert len(list(cache.glob("_nntheory_particles_*.py"))) == 1


def test_particles_parametric_equal_substituted_lambdify(cache):
    import sympy as sp

    ode = SI.single_index_ode("elu", TARGET, finite_m=True)
    m = 5
    cp = I.compile_particles(ode, m, epsilon=0.03)
    subs = {**ode.values, SI.eps: 0.03, SI.m: m}
    F = sp.lambdify(list(ode.state) + list(ode.moments), [e.subs(subs) for e in ode.rhs])
    rng = np.random.default_rng(3)
    y = cp.initial_state(rng.standard_normal(m), 0.4 * rng.uniform(-1, 1, m))
    theta, M = cp.split(y, True)
    ref = np.array([F(*row, *M) for row in theta]).ravel()
    # the parameters multiply in at run time instead of being folded into constants:
    # a few roundings apart (measured <= 1.0e-15 relative over 20 random states)
    assert np.max(np.abs(cp.rhs(0, y)[:m * 2] - ref)) <= 1e-14 * np.max(np.abs(ref))


def test_cache_key_follows_the_expressions(cache):
    for K, finite_m in ((2, False), (2, True), (3, False)):
        ode = SI.single_index_ode("elu", (0, 1, 0.5, 0.25)[:K + 1], finite_m=finite_m)
        I.compile_particles(ode, 3, epsilon=0.1)
    assert len(list(cache.glob("_nntheory_particles_*.py"))) == 3
    # the generators' own source is part of every key
    assert I.codecache.source_fingerprint("numerics.integrate", "numerics.codegen") in \
        I._key("particles", SI.a)


def test_second_process_imports_compiled_ode(cache):
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from numerics import integrate as I\n"
        "from theory.odes import saad_solla as S\n"
        "import sys\n"
        "if sys.argv[1] == 'warm':  # a hit must neither build the ODE nor generate code\n"
        "    I.Recipe.build = None\n"
        "    import numerics.codegen as G\n"
        "    G.SourceModule.jacobian = None\n"
        "cs = I.compile_ode(I.Recipe(S.saad_solla_ode, (1, 1)), eta=0.5)  # small: fast\n"
        "assert (cs.ode is None) == (sys.argv[1] == 'warm')\n"
        "y = np.array([0.5, 0.2])\n"
        "print(repr(cs.rhs(0, y).tolist()), repr(cs.jacobian(0, y).tolist()))\n"
    )
    env = {**os.environ, "NNTHEORY_CACHE_DIR": str(cache)}
    runs = [subprocess.run([sys.executable, "-c", code, arg], env=env, capture_output=True,
                           text=True, check=True).stdout for arg in ("cold", "warm")]
    assert runs[0] == runs[1]
    assert len(list(cache.glob("_nntheory_ode_*.py"))) == 1


_BUILT = []


def _counted_saad_solla(**kwargs):
    _BUILT.append(kwargs)
    return S.saad_solla_ode(**kwargs)


def test_recipe_builds_only_on_a_miss(cache):
    from numerics import codecache

    _BUILT.clear()
    y = np.array([0.5, 0.2])
    direct = I.compile_ode(S.saad_solla_ode(1, 1), eta=0.5)  # one student, one teacher: fast
    recipe = I.Recipe(_counted_saad_solla, kwargs={"K": 1, "M": 1})
    first = I.compile_ode(recipe, eta=0.5)
    codecache._LOADED.clear()
    again = I.compile_ode(recipe, eta=0.5)
    assert len(_BUILT) == 1 and first.ode is not None and again.ode is None
    assert again.state == direct.state == tuple(str(s) for s in first.ode.state)
    for cs in (first, again):
        assert np.array_equal(cs.rhs(0, y), direct.rhs(0, y))
        assert np.array_equal(cs.jacobian(0, y), direct.jacobian(0, y))
    # another value or another argument is another entry
    I.compile_ode(recipe, eta=0.25)
    I.compile_ode(I.Recipe(_counted_saad_solla, kwargs={"K": 1, "M": 1, "i3": S.closed_form_I3}),
                  eta=0.5)
    assert len(_BUILT) == 3
