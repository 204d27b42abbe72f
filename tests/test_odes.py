"""Tests for theory/odes: the single-index flow is the gradient of its risk, the
Jacobian blocks agree with the full Jacobian, the Saad–Solla integrals derived by
tilting equal the closed forms of Saad & Solla (symbolically) and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy.special import erf

from theory.activations import get
from theory.gaussian import hermite_coefficients
from theory.odes import saad_solla as S
from theory.odes import single_index as SI
from theory.odes.base import ParticleODE, ReducedODE

C = sp.symbols("c11 c12 c13 c14 c22 c23 c24 c33 c34 c44", real=True)


def test_single_index_rhs_matches_setups_formula():
    ode = SI.single_index_ode("elu", (0, 1, 0.5, 0.25))
    K = 3
    c, phi, M = SI.coefficient_symbols(K), SI.target_symbols(K), SI.moment_symbols(K)
    e = [phi[k] - c[k] * M[k] for k in range(K + 1)]
    a, r, eps = SI.a, SI.r, SI.eps
    want_a = sum(c[k] * r**k * e[k] for k in range(K + 1)) / eps
    want_r = (1 - r**2) * a * sum(k * c[k] * r ** (k - 1) * e[k] for k in range(1, K + 1))
    assert sp.expand(ode.rhs[0] - want_a) == 0
    assert sp.expand(ode.rhs[1] - want_r) == 0
    coeffs = hermite_coefficients(get("elu"), 3)
    assert ode.values[c[3]] == pytest.approx(coeffs[3])
    assert ode.values[phi[2]] == 0.5
    assert set(ode.free_parameters) == {eps}


def test_single_index_flow_is_gradient_of_particle_risk():
    """With m = 3 explicit particles, -m dR/da_i (R from the moments) equals eps a_i'."""
    ode = SI.single_index_ode("elu", (0.1, 1, 0.5), finite_m=True)
    K = 2
    n = 3
    As, Rs = sp.symbols("A0:3", real=True), sp.symbols("r0:3", real=True)
    c, phi = SI.coefficient_symbols(K), SI.target_symbols(K)
    Mv = [sum(As[i] * Rs[i] ** k for i in range(n)) / n for k in range(K + 1)]
    # exact finite-m risk: E[f^2] uses <u_i,u_j>^k with <u_i,u_i> = 1
    f2 = sum(c[k] ** 2 * sum(As[i] * As[j] * (Rs[i] * Rs[j] if i != j else 1) ** k
                             for i in range(n) for j in range(n)) for k in range(K + 1)) / n**2
    risk = sp.Rational(1, 2) * (sum(p**2 for p in phi) - 2 * sum(phi[k] * c[k] * Mv[k]
                                                                 for k in range(K + 1)) + f2)
    subs = {SI.a: As[0], SI.r: Rs[0], SI.m: n, **{SI.moment_symbols(K)[k]: Mv[k]
                                                  for k in range(K + 1)}}
    assert sp.expand(ode.rhs[0].subs(subs) * SI.eps + n * sp.diff(risk, As[0])) == 0
    assert sp.expand(ode.rhs[1].subs(subs) + (1 - Rs[0] ** 2) * n * sp.diff(risk, Rs[0])) == 0


def test_particle_blocks_and_moment_rate():
    ode = SI.single_index_ode("gelu", (0, 1, 0.5))
    J = ode.particle_block()
    assert J.shape == (2, 2) and sp.expand(J[1, 1] - sp.diff(ode.rhs[1], SI.r)) == 0
    assert ode.coupling_block().shape == (2, 3)
    assert ode.moment_gradient()[2, :] == sp.Matrix([[SI.r**2, 2 * SI.a * SI.r]])
    g = ode.moment_rate()
    # dM_1/dt per particle = r a' + a r'
    assert sp.expand(g[1] - (SI.r * ode.rhs[0] + SI.a * ode.rhs[1])) == 0
    dth, dM = ode.moment_rate_blocks()
    assert dth.shape == (3, 2) and dM.shape == (3, 3)
    assert "varphi" in ode.latex() and r"\dot{a}_{i}" in ode.latex()


def test_single_index_bad_input():
    with pytest.raises(ValueError, match="k_max"):
        SI.single_index_ode("elu", (0, 1), k_max=0)
    with pytest.raises(ValueError, match="above k_max"):
        SI.single_index_ode("elu", (0, 1, 0.5), k_max=1)
    with pytest.raises(ValueError, match="coefficients"):
        SI.single_index_ode("elu", (0, 1, 0.5), coefficients=[0.1, 0.2])
    with pytest.raises(ValueError, match="undeclared"):
        ReducedODE("x", (SI.a,), (SI.r,))
    with pytest.raises(ValueError, match="moment functions"):
        ParticleODE("x", (SI.a,), (SI.a,), moments=(SI.r,), moment_functions=())


def test_plateaus_and_first_escape_time():
    assert SI.plateau_levels((0, 1, 0.5, 0.25)) == pytest.approx(
        [0.5 * (1 + 0.25 + 0.0625), 0.5 * (0.25 + 0.0625), 0.5 * 0.0625, 0.0])
    assert SI.first_escape_time(1e-4, 0.5, 1.0) == pytest.approx(1e-2 * math.log(1e4) / 2)
    with pytest.raises(ValueError):
        SI.first_escape_time(2.0, 1, 1)


def test_i3_derived_equals_closed_form():
    c11, c12, c13, c14, c22, c23, c24, c33, c34, c44 = C
    p = sp.Symbol("p", positive=True)
    ratio = S.I3(c11, c12, c13, c22, c23, c33) / S.closed_form_I3(c11, c12, c13, c22, c23, c33)
    assert sp.simplify(sp.powsimp((ratio**2).subs(c11, p - 1))) == 1
    # and I3 by Stein + Price from I2: 2 C12 dI2/dC11 + C23 dI2/dC13
    u, w, z = sp.symbols("u w z", real=True)
    i2 = S.I2(u, w, z)
    stein = (2 * c12 * sp.diff(i2, u) + c23 * sp.diff(i2, w)).subs({u: c11, w: c13, z: c33})
    vals = {c11: 0.7, c12: 0.2, c13: -0.3, c22: 1.1, c23: 0.4, c33: 0.9}
    assert float(stein.subs(vals)) == pytest.approx(float(S.closed_form_I3(
        c11, c12, c13, c22, c23, c33).subs(vals)), rel=1e-13)


def test_i4_derived_equals_closed_form():
    """The arcsin argument and prefactor of the tilted form equal L0/sqrt(L1 L2) and
    (4/pi^2) L4^(-1/2): compare the rational pieces exactly."""
    c11, c12, c13, c14, c22, c23, c24, c33, c34, c44 = C
    Caa = sp.Matrix([[1 + c11, c12], [c12, 1 + c22]])
    Cab = sp.Matrix([[c13, c14], [c23, c24]])
    L4 = Caa.det()
    Cp = sp.Matrix([[c33, c34], [c34, c44]]) - Cab.T * (Caa.adjugate() / L4) * Cab
    L0 = L4 * c34 - c23 * c24 * (1 + c11) - c13 * c14 * (1 + c22) + c12 * c13 * c24 \
        + c12 * c14 * c23
    L1 = L4 * (1 + c33) - c23**2 * (1 + c11) - c13**2 * (1 + c22) + 2 * c12 * c13 * c23
    L2 = L4 * (1 + c44) - c24**2 * (1 + c11) - c14**2 * (1 + c22) + 2 * c12 * c14 * c24
    assert sp.cancel(Cp[0, 1] * L4 - L0) == 0
    assert sp.cancel((1 + Cp[0, 0]) * L4 - L1) == 0
    assert sp.cancel((1 + Cp[1, 1]) * L4 - L2) == 0
    vals = dict(zip(C, (0.8, 0.1, 0.3, -0.2, 1.2, 0.25, 0.15, 1.0, 0.35, 0.6), strict=True))
    assert float(S.I4(*C).subs(vals)) == pytest.approx(float(S.closed_form_I4(*C).subs(vals)),
                                                       rel=1e-13)


def _g(x):
    return erf(x / np.sqrt(2))


def _gp(x):
    return np.sqrt(2 / np.pi) * np.exp(-x * x / 2)


@pytest.mark.parametrize("which", ["I2", "J2", "I3", "I4"])
def test_integrals_against_monte_carlo(which):
    cov = np.array([[0.8, 0.1, 0.3, -0.2], [0.1, 1.2, 0.25, 0.15], [0.3, 0.25, 1.0, 0.35],
                    [-0.2, 0.15, 0.35, 0.6]])
    rng = np.random.default_rng(0)
    u = rng.multivariate_normal(np.zeros(4), cov, size=400_000)
    c = cov
    if which == "I2":
        samples, exact = _g(u[:, 0]) * _g(u[:, 1]), S.I2(c[0, 0], c[0, 1], c[1, 1])
    elif which == "J2":
        samples, exact = _gp(u[:, 0]) * _gp(u[:, 1]), S.J2(c[0, 0], c[0, 1], c[1, 1])
    elif which == "I3":
        samples = _gp(u[:, 0]) * u[:, 1] * _g(u[:, 2])
        exact = S.closed_form_I3(c[0, 0], c[0, 1], c[0, 2], c[1, 1], c[1, 2], c[2, 2])
    else:
        samples = _gp(u[:, 0]) * _gp(u[:, 1]) * _g(u[:, 2]) * _g(u[:, 3])
        exact = S.closed_form_I4(*[c[i, j] for i in range(4) for j in range(i, 4)])
    se = samples.std() / math.sqrt(samples.size)
    assert abs(samples.mean() - float(exact)) < 4 * se


def test_saad_solla_ode_structure():
    ode = S.saad_solla_ode()
    assert [str(s) for s in ode.state] == ["Q_11", "Q_12", "Q_22", "R_11", "R_12", "R_21",
                                           "R_22"]
    assert set(ode.free_parameters) == {S.lr}
    trained = S.saad_solla_ode(train_second_layer=True)
    assert len(trained.state) == 9 and S.lr_v in trained.free_parameters
    # at the teacher (Q = R = T = I) every rate vanishes (no noise)
    at_teacher = {s: (1 if str(s) in ("Q_11", "Q_22", "R_11", "R_22") else 0) for s in ode.state}
    for f in ode.substituted(eta=sp.Rational(1, 2)):
        assert abs(float(f.subs(at_teacher))) < 1e-14
    Q, R = S.covariance_symbols(2, 2)
    eg = S.generalization_error(Q, R, sp.eye(2), [1, 1], [1, 1])
    assert abs(float(eg.subs(at_teacher))) < 1e-14
    assert r"\dot{Q_{11}}" in ode.latex()
