"""numerics.kernels: agreement with neural-tangents, the registry and mpmath; properties;
guards; deep networks."""

import json
import math
import pathlib

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from numerics import kernels
from numerics.compile import dual_function
from theory.activations import builtin_examples, get
from theory.dual import dual_kernel as mp_dual_kernel
from theory.dual import quadrature_dual_kernel

EPS = np.finfo(float).eps
REFERENCE = json.loads(
    (pathlib.Path(__file__).parent / "reference" / "neural_tangents_kernels.json").read_text()
)
FAST = [a for a in builtin_examples() if a.name != "tanh"]  # tanh (quadrature) tested apart


@pytest.fixture(params=["compiled", "numpy"])
def both_engines(request, monkeypatch):
    """Run a test on the compiled engine (numerics.gram) and on the NumPy path."""
    if request.param == "numpy":
        monkeypatch.setattr(kernels._gram, "engine", lambda act: None)
    elif not kernels._gram.available():
        pytest.skip("numba not available")
    return request.param


def _kw(act="relu", L=2, **extra):
    return dict(activation=act, hidden_layers=L, sigma_w=1.5, sigma_b=0.1, **extra)


# ---------------------------------------------------------------------------
# neural-tangents 0.6.5 (stored values, provenance in the JSON file)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "case", REFERENCE["cases"],
    ids=[f"{c['activation']}-L{c['hidden_layers']}-{c['parameterization']}"
         for c in REFERENCE["cases"]],
)
@pytest.mark.usefixtures("both_engines")
def test_matches_neural_tangents(case):
    """Both codes evaluate the same closed forms in float64 with different operation
    order: entries differ by a few ulp times the condition number of the depth-L map
    (< 100 here), so 1e-12 is the float64 agreement bound with a margin of >10; the
    observed difference is ~1e-15.  Identical points in x1 and x2 (x2[1] = x1[0]) check
    the rho = 1 handling off the diagonal."""
    x1, x2 = np.array(REFERENCE["x1"]), np.array(REFERENCE["x2"])
    kw = dict(activation=case["activation"], hidden_layers=case["hidden_layers"],
              sigma_w=REFERENCE["W_std"], sigma_b=REFERENCE["b_std"],
              parameterization=case["parameterization"])
    if case["parameterization"] == "standard":
        kw["width"] = case["width"]
    for suffix, args in (("x1_x1", (x1,)), ("x1_x2", (x1, x2))):
        np.testing.assert_allclose(kernels.nngp(*args, **kw), case["nngp_" + suffix],
                                   rtol=1e-12, atol=0)
        np.testing.assert_allclose(kernels.ntk(*args, **kw), case["ntk_" + suffix],
                                   rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------
# fused float64 forms against the registry expressions
# ---------------------------------------------------------------------------

FUSED = [get("relu"), get("leaky_relu", a=0.1), get("abs"), get("identity"), get("step"),
         get("erf"), get("gelu")]


@pytest.mark.parametrize("act", FUSED, ids=[a.label for a in FUSED])
def test_fused_forms_match_registry(act):
    """Hand-fused kernels = lambdified registry expressions at moderate correlations
    (|rho| <= 0.95: condition number < 30, so agreement ~1e-14; 1e-12 margin), and =
    mpmath at 30 digits near rho = +-1 where the registry's arccos form loses digits."""
    rng = np.random.default_rng(3)
    q11, q22 = rng.uniform(0.1, 3.0, size=(2, 50))
    rho = rng.uniform(-0.95, 0.95, size=50)
    q12 = rho * np.sqrt(q11 * q22)
    for derivative in (False, True):
        if derivative and not act.has_ntk:
            continue
        got = kernels.dual_kernel(act, q11, q12, q22, derivative=derivative)
        want = dual_function(act, derivative=derivative)(q11, q12, q22)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        for r in (0.999999, -0.999999, 1.0):
            args = (0.7, r * math.sqrt(0.7 * 1.9), 1.9)
            ref = float(mp_dual_kernel(act, *args, derivative=derivative, dps=30))
            # at |rho| -> 1 the arc-cosine kernels have a sqrt(1-rho) singularity: the
            # float inputs carry a relative error ~eps, amplified to ~sqrt(eps) ~ 1e-8
            assert kernels.dual_kernel(act, *args, derivative=derivative) == pytest.approx(
                ref, rel=1e-7, abs=1e-12)
        qs = np.array([0.01, 0.5, 2.0, 50.0])
        got_d = kernels.dual_diagonal(act, qs, derivative=derivative)
        want_d = dual_function(act, derivative=derivative, diagonal=True)(qs)
        np.testing.assert_allclose(got_d, want_d, rtol=1e-13)


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

points = st.integers(2, 7).flatmap(
    lambda n: st.integers(1, 4).flatmap(
        lambda d: st.lists(st.floats(-3, 3, allow_nan=False), min_size=n * d,
                           max_size=n * d).map(lambda v: np.array(v).reshape(n, d))))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=points, act=st.sampled_from(FAST), L=st.integers(1, 3),
       sw=st.floats(0.5, 2.0), sb=st.floats(0.0, 1.0))
@example(x=np.array([-1.0, -2.0, -0.5]).reshape(3, 1), act=get("relu"), L=1, sw=1.0,
         sb=5.960464477539063e-08)  # found by hypothesis: 1 - rho ~ 1e-15 in the NTK
@pytest.mark.usefixtures("both_engines")
def test_gram_is_symmetric_psd(x, act, L, sw, sb):
    """Gram matrices of a kernel are PSD: the smallest eigenvalue is >= -(rounding),
    bounded by ||E||_2 <= n max|E_ij| with entry errors of a few ulp (16 eps allowed).
    The NTK of a kinked activation has one more source: its derivative kernel
    (pi - arccos rho)/(2 pi) (and its a, b relatives) has a sqrt(1 - rho) singularity, so
    a rounding error of eps in rho near 1 moves it by up to sqrt(2 eps)/(2 pi), times
    sigma_w^2 and the scale, once per layer (collinear inputs with a tiny sigma_b reach
    1 - rho ~ 1e-15)."""
    kw = dict(activation=act, hidden_layers=L, sigma_w=sw, sigma_b=sb)
    mats = [(kernels.nngp(x, **kw), False)]
    if act.has_ntk:
        mats.append((kernels.ntk(x, **kw), bool(act.kinks)))
    for K, singular in mats:
        scale = np.max(np.abs(K))
        assert np.array_equal(K, K.T)
        tol = 16 * len(x) * EPS * scale
        if singular:
            tol += len(x) * L * sw**2 * np.sqrt(2 * EPS) / (2 * np.pi) * scale
        assert np.linalg.eigvalsh((K + K.T) / 2).min() >= -tol


def test_tanh_gram_psd_and_matches_mpmath():
    x = np.array([[0.5, -1.0], [1.2, 0.3], [-0.4, 0.8]])
    K = kernels.nngp(x, **_kw("tanh", L=1))
    assert np.linalg.eigvalsh(K).min() > 0
    # L=1: K = sw^2 E[tanh u tanh v] + sb^2 at Sigma^1; reference: mpmath quadrature
    S = 1.5**2 * (x @ x.T) / 2 + 0.01
    with mpmath.workdps(20):
        ref = 1.5**2 * float(mp_dual_kernel("tanh", S[0, 0], S[0, 1], S[1, 1])) + 0.01
    assert K[0, 1] == pytest.approx(ref, rel=1e-10)


@pytest.mark.usefixtures("both_engines")
def test_diagonal_matches_full_and_pairs():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 6, 3))
    for act in ("relu", "elu", "erf"):
        full = kernels.ntk(x, **_kw(act))
        assert np.array_equal(kernels.ntk(x, diagonal=True, **_kw(act)), np.diag(full))
        cross = kernels.ntk(x, y, **_kw(act))
        np.testing.assert_allclose(kernels.ntk(x, y, diagonal=True, **_kw(act)),
                                   np.diag(cross), rtol=1e-14)


def test_chunked_equals_unchunked():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 9, 4))
    for act in ("relu", "gelu", "elu"):
        big = kernels.nngp_ntk(x, y, **_kw(act))
        small = kernels.nngp_ntk(x, y, max_chunk_elements=5, **_kw(act))
        sym_big = kernels.nngp_ntk(x, **_kw(act))
        sym_small = kernels.nngp_ntk(x, max_chunk_elements=5, **_kw(act))
        # blocks change only how BLAS sums <x, x'> (1 ulp); ELU values near 0 cancel,
        # so compare relative to the largest entry
        for a, b in zip(big + sym_big, small + sym_small, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14 * np.max(np.abs(a)))


def test_closed_form_engine_equals_quadrature_engine():
    x = np.array([[0.5, -1.0, 0.2], [1.2, 0.3, -0.7], [-0.4, 0.8, 0.1], [0.5, -1.0, 0.2]])
    for act in ("relu", "elu", "gelu"):
        a = kernels.nngp_ntk(x, **_kw(act, L=2))
        b = kernels.nngp_ntk(x, quadrature_method="auto", **_kw(act, L=2))
        for u, v in zip(a, b, strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-10)


def test_dps_path_agrees_with_float64():
    """mpmath at 30 digits vs float64: the float64 result carries ~10 ulp of rounding
    through two layers (condition number O(1) at these correlations): 1e-13."""
    x = np.array([[0.5, -1.0], [1.2, 0.3], [-0.4, 0.8]])
    for act in ("relu", "erf", "gelu", "elu"):
        kf = kernels.ntk(x, **_kw(act))
        km = kernels.ntk(x, dps=30, **_kw(act))
        assert km.dtype == object and isinstance(km[0, 1], mpmath.mpf)
        np.testing.assert_allclose(km.astype(float), kf, rtol=1e-13)
    diag = kernels.nngp(x, dps=20, diagonal=True, **_kw("relu"))
    np.testing.assert_allclose(diag.astype(float), np.diag(kernels.nngp(x, **_kw("relu"))),
                               rtol=1e-14)


# ---------------------------------------------------------------------------
# deep networks
# ---------------------------------------------------------------------------

@pytest.mark.usefixtures("both_engines")
def test_relu_deep_large_sigma_w_is_finite_and_exact():
    """neural-tangents issue #197: ReLU, sigma_w = 16, 100 hidden layers.  The diagonal
    obeys q_{l+1} = sw^2 q_l / 2 + sb^2 exactly (reaching ~1e212); off-diagonals are
    finite and bounded by it."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 3))
    kw = dict(activation="relu", hidden_layers=100, sigma_w=16.0, sigma_b=0.1)
    K, T = kernels.nngp_ntk(x, **kw)
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(T))
    q = 256 * np.sum(x**2, axis=1) / 3 + 0.01
    for _ in range(100):
        q = 256 * q / 2 + 0.01
    np.testing.assert_allclose(np.diag(K), q, rtol=1e-12)
    # sqrt(q q') as sqrt(q) sqrt(q'): q q' (~1e424) overflows to inf, a bound that holds
    # for anything
    assert np.all(np.abs(K) <= np.outer(np.sqrt(q), np.sqrt(q)) * (1 + 1e-12))
    assert np.all(T > 0)


@pytest.mark.usefixtures("both_engines")
def test_overflow_raises_clear_error():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="float64 range"):
        kernels.nngp(x, activation="relu", hidden_layers=60, sigma_w=1e6, sigma_b=0.1)


@pytest.mark.parametrize("sigma_w,sigma_b,phase", [(1.0, 0.3, "ordered"), (4.0, 0.1, "chaotic")])
@pytest.mark.usefixtures("both_engines")
def test_erf_deep_no_nan(sigma_w, sigma_b, phase):
    """Erf, 100 hidden layers.  Ordered phase (chi_1 < 1): all inputs collapse to one
    point, so the arcsin argument reaches 1; chaotic phase: correlations go to a
    fixed point rho* < 1.  Nothing may be NaN; kernels stay PSD."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3))
    K, T = kernels.nngp_ntk(x, activation="erf", hidden_layers=100, sigma_w=sigma_w,
                            sigma_b=sigma_b)
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(T))
    d = np.sqrt(np.diag(K))
    rho = K / np.outer(d, d)
    off = rho[~np.eye(5, dtype=bool)]
    if phase == "ordered":
        # 1 - rho shrinks geometrically with depth (rate chi_c < 1): ~1e-9 at L = 100
        assert np.all(off > 1 - 1e-8)
    else:
        assert np.all(off < 0.9)
    assert np.linalg.eigvalsh(K).min() >= -16 * 5 * EPS * np.max(K)


# ---------------------------------------------------------------------------
# guards
# ---------------------------------------------------------------------------

X = np.array([[0.1, 0.2], [0.3, -0.4]])


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: kernels.nngp(np.array([0.1, 0.2]), **_kw()), "x1"),
        (lambda: kernels.nngp(X, np.ones((2, 3)), **_kw()), "x2"),
        (lambda: kernels.nngp(np.array([[np.nan, 0.0]]), **_kw()), "x1"),
        (lambda: kernels.nngp(X, np.array([[np.inf, 0.0]]), **_kw()), "x2"),
        (lambda: kernels.nngp(X, activation="relu", hidden_layers=0, sigma_w=1,
                              sigma_b=0), "hidden_layers"),
        (lambda: kernels.nngp(X, activation="relu", hidden_layers=1.5, sigma_w=1,
                              sigma_b=0), "hidden_layers"),
        (lambda: kernels.nngp(X, activation="relu", hidden_layers=True, sigma_w=1,
                              sigma_b=0), "hidden_layers"),
        (lambda: kernels.nngp(X, activation="relu", hidden_layers=1, sigma_w=-1,
                              sigma_b=0), "sigma_w"),
        (lambda: kernels.nngp(X, activation="relu", hidden_layers=1, sigma_w=1,
                              sigma_b=float("nan")), "sigma_b"),
        (lambda: kernels.nngp(X, parameterization="mup", **_kw()), "parameterization"),
        (lambda: kernels.ntk(X, parameterization="standard", **_kw()), "width"),
        (lambda: kernels.ntk(X, width=10, **_kw()), "width"),
        (lambda: kernels.ntk(X, **_kw("step")), "derivative"),
        (lambda: kernels.nngp(X, **_kw("swish")), "unknown activation"),
        (lambda: kernels.nngp(X, dps=0, **_kw()), "dps"),
        (lambda: kernels.dual_kernel("relu", 1.0, 1.1, 1.0), "q12"),
        (lambda: kernels.dual_kernel("erf", -1.0, 0.0, 1.0), "q11"),
        (lambda: kernels.dual_diagonal("erf", float("nan")), "q"),
        (lambda: kernels.predict(X, [1.0, 2.0], X, kernel="gp", **_kw()), "kernel"),
        (lambda: kernels.predict(X, [1.0], X, **_kw()), "y_train"),
        (lambda: kernels.predict(X, [1.0, 2.0], X, t=-1.0, **_kw()), "t must"),
        (lambda: kernels.predict(X, [1.0, 2.0], X, noise=-1.0, **_kw()), "noise"),
    ],
)
def test_guards(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_registry_entry_and_name_are_equivalent():
    x = np.array([[0.3, 0.1], [-0.2, 0.9]])
    # a name and its registry entry give the same kernel; a parameter changes it
    assert np.array_equal(kernels.ntk(x, **_kw("elu")), kernels.ntk(x, **_kw(get("elu"))))
    assert not np.allclose(kernels.ntk(x, **_kw(get("elu", alpha=0.5))),
                           kernels.ntk(x, **_kw("elu")))


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------

def test_predict_interpolates_and_matches_matrix_exponential():
    rng = np.random.default_rng(5)
    xtr, xte = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    y = rng.normal(size=6)
    for kernel in ("nngp", "ntk"):
        # t = inf, noise 0: kernel regression interpolates the training data
        np.testing.assert_allclose(kernels.predict(xtr, y, xtr, kernel=kernel, **_kw()), y,
                                   rtol=1e-8, atol=1e-9)
        assert np.all(kernels.predict(xtr, y, xte, kernel=kernel, t=0.0, **_kw()) == 0)
    # finite t: Theta_* Theta^{-1} (I - expm(-eta t Theta / N)) y
    Th = kernels.ntk(xtr, **_kw())
    Ts = kernels.ntk(xte, xtr, **_kw())
    t, lr = 3.0, 0.5
    want = Ts @ np.linalg.solve(Th, (np.eye(6) - expm(-lr * t * Th / 6)) @ y)
    got = kernels.predict(xtr, y, xte, kernel="ntk", t=t, learning_rate=lr, **_kw())
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_predict_gp_posterior_covariance():
    rng = np.random.default_rng(6)
    xtr, xte = rng.normal(size=(5, 2)), rng.normal(size=(3, 2))
    y = rng.normal(size=(5, 2))
    mean, cov = kernels.predict(xtr, y, np.vstack([xtr[:2], xte]), noise=0.1, compute_cov=True,
                                **_kw())
    K = kernels.nngp(xtr, **_kw())
    Ks = kernels.nngp(np.vstack([xtr[:2], xte]), xtr, **_kw())
    Kss = kernels.nngp(np.vstack([xtr[:2], xte]), **_kw())
    A = K + 0.1 * np.eye(5)
    np.testing.assert_allclose(mean, Ks @ np.linalg.solve(A, y), rtol=1e-9)
    np.testing.assert_allclose(cov, Kss - Ks @ np.linalg.solve(A, Ks.T), rtol=1e-9, atol=1e-12)
    assert mean.shape == (5, 2)
    assert np.linalg.eigvalsh((cov + cov.T) / 2).min() > -1e-12
    # the NTK ensemble covariance at t = inf, noise 0 vanishes on the training points
    _, cov_ntk = kernels.predict(xtr, y, xtr, kernel="ntk", compute_cov=True, **_kw())
    assert np.max(np.abs(cov_ntk)) < 1e-8 * np.max(np.abs(K))


# ---------------------------------------------------------------------------
# ELU at large variances (the tilted orthant function instead of exp(E) * Phi2)
# ---------------------------------------------------------------------------

ELU_LARGE = json.loads(
    (pathlib.Path(__file__).parent / "reference" / "elu_large_variance.json").read_text()
)


def test_elu_large_variance_matches_stored_mpmath_reference():
    """q in {4, 25, 100, 400, 1000} x rho in {-0.9, 0, 0.3, 0.9, 0.999} x q22/q11 in
    {1, 0.7}, alpha 1 and 1/2, both kernels: reference mpmath at 30 digits, stored by
    tests/reference/make_elu_large_variance_reference.py and cross-checked there
    against the closed-form-free quadrature (max discrepancy 4e-15).

    Tolerance: each tilted orthant value is correct to 2.3e-13 (Owen form, kept only
    where its estimated error is <= 1e-12) or 1.1e-15 (conditioning integral); the ELU
    kernels are sums of such terms with sum|term|/|k| <= 20.5 on this grid (largest at
    rho = -0.9), so |error| <= 5e-12 relative; 1e-10 leaves a margin of 20. The old
    exp(E) * Phi2 form missed by up to 1e3 relative at q = 100 and gave garbage above."""
    rows = ELU_LARGE["rows"]
    for alpha in (1.0, 0.5):
        act = get("elu", alpha=alpha)
        for derivative in (False, True):
            sel = [r for r in rows if r["alpha"] == alpha and r["derivative"] == derivative]
            q11, q12, q22, ref = (np.array([r[k] for r in sel]) for k in
                                  ("q11", "q12", "q22", "value"))
            got = kernels.dual_kernel(act, q11, q12, q22, derivative=derivative)
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=0)
    assert len(rows) == 200


@pytest.mark.parametrize("q", [25.0, 100.0, 400.0])
def test_elu_mpmath_reference_matches_independent_quadrature(q):
    """theory.dual.dual_kernel (closed form, stable tilted orthant in mpmath) against
    theory.dual.quadrature_dual_kernel (nested kink-split quadrature, no closed form,
    ~15 digits relative to E|s(u)s(v)| <= 20 |k| here): 1e-12. The old mpmath form
    exp(E) * Phi2 at dps + 10 digits was off by 2e-9 at q = 100 and 4% at q = 400."""
    q22 = 0.8 * q
    q12 = 0.3 * math.sqrt(q * q22)
    for derivative in (False, True):
        closed = mp_dual_kernel("elu", q, q12, q22, derivative=derivative, dps=20)
        quad = quadrature_dual_kernel("elu", q, q12, q22, derivative=derivative)
        assert float(closed) == pytest.approx(quad, rel=1e-12)


@pytest.mark.usefixtures("both_engines")
def test_deep_elu_large_sigma_w_finite_psd_and_accurate():
    """sigma_w = 2.5, 4 hidden layers: the variances grow ~3x a layer to ~700, through the
    range where exp(E) Phi2 is finite but wrong (the old closed form missed by 1e27
    here and gave a Gram with negative eigenvalues). Reference: the same recursion with
    every dual kernel by panel quadrature (numerics.quadrature, ~1e-12 an evaluation,
    condition O(1) per layer): 1e-10."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3))
    for alpha in (1.0, 0.5):
        kw = dict(activation=get("elu", alpha=alpha), hidden_layers=4, sigma_w=2.5,
                  sigma_b=0.1)
        K, T = kernels.nngp_ntk(x, **kw)
        assert np.diag(K).max() > 500
        Kq, Tq = kernels.nngp_ntk(x, quadrature_method="panels", **kw)
        for M, Mq in ((K, Kq), (T, Tq)):
            assert np.all(np.isfinite(M)) and np.array_equal(M, M.T)
            assert np.linalg.eigvalsh(M).min() >= -16 * len(x) * EPS * np.abs(M).max()
            np.testing.assert_allclose(M, Mq, rtol=1e-10, atol=0)
    # much larger variances (q ~ 1e7): still finite and PSD
    K, T = kernels.nngp_ntk(x, activation="elu", hidden_layers=6, sigma_w=4.0, sigma_b=0.1)
    for M in (K, T):
        assert np.all(np.isfinite(M)) and np.diag(K).max() > 1e6
        assert np.linalg.eigvalsh(M).min() >= -16 * len(x) * EPS * np.abs(M).max()


# ---------------------------------------------------------------------------
# dispatch by family (capability), never by name
# ---------------------------------------------------------------------------

def test_numpy_path_evaluators():
    # every closed form takes the one generated path (no hand-written twins per activation)
    for name, params in [("relu", {}), ("leaky_relu", {"a": 0.1}), ("abs", {}), ("identity", {}),
                         ("step", {}), ("erf", {}), ("gelu", {}), ("elu", {})]:
        assert isinstance(kernels._dual_map(get(name, **params)), kernels._Compiled), name
    assert isinstance(kernels._dual_map(get("tanh")), kernels._Quadrature)


def test_an_entry_called_relu_with_another_expression_gets_no_relu_fast_path():
    import sympy as sp

    from theory.activations import Activation, x

    impostor = Activation(name="relu", expr=sp.tanh(x), derivative=1 - sp.tanh(x) ** 2)
    assert isinstance(kernels._dual_map(impostor), kernels._Quadrature)
    value = kernels.dual_kernel(impostor, 1.0, 0.5, 1.0)
    assert value == pytest.approx(kernels.dual_kernel("tanh", 1.0, 0.5, 1.0), rel=1e-9)
    assert abs(value - kernels.dual_kernel("relu", 1.0, 0.5, 1.0)) > 0.05


def test_a_new_piecewise_linear_entry_without_closed_form_is_integrated_exactly():
    import sympy as sp

    from theory.activations import Activation, x

    a, b = sp.Rational(1, 5), sp.Integer(2)
    act = Activation(name="my_leaky", expr=sp.Piecewise((b * x, x > 0), (a * x, True)),
                     derivative=sp.Piecewise((b, x > 0), (a, True)), kinks=(0,),
                     family="ab_relu", family_params=(("a", a), ("b", b)))
    # no closed form given: the kink-split panels, exact for a piecewise-linear integrand
    assert isinstance(kernels._dual_map(act), kernels._Quadrature)
    # E[s(u)s(v)] at rho = 0.3, unit variances: (a-b)^2 J1(rho) + ab rho (Cho & Saul)
    rho = 0.3
    j1 = (math.sqrt(1 - rho**2) + (math.pi - math.acos(rho)) * rho) / (2 * math.pi)
    expected = float((a - b) ** 2) * j1 + float(a * b) * rho
    assert kernels.dual_kernel(act, 1.0, rho, 1.0) == pytest.approx(expected, rel=1e-14)
