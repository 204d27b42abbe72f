"""numerics.mehler: Mehler-series dual kernels with a bound on every entry.

References: tests/reference/mehler_dual_{tanh,user}.json (20 digits, made by
tests/reference/make_mehler_reference.py with theory.dual) and, for sin(x) + x, exact
closed forms: a_n(s) = [n odd] (-1)^((n-1)/2) s^n e^{-s^2/2}/sqrt(n!) + s [n = 1]
(E[sin(sZ) He_n(Z)] = s^n e^{-s^2/2} times the sign, by Rodrigues' formula) and
E[(sin u + u)(sin v + v)] = e^{-(q11+q22)/2} sinh q12 + q12 (e^{-q11/2} + e^{-q22/2} + 1).
"""

import json
import math
import pathlib

import mpmath
import numpy as np
import pytest

import numerics.kernels as nk
import numerics.mehler as M
from numerics.quadrature import gaussian_diagonal, gaussian_dual
from theory import activations as A

REFERENCE = pathlib.Path(__file__).parent / "reference"
USER_EXPRESSION = "sin(x) + x"


@pytest.fixture(scope="module")
def user():
    name = "mehler_test_user"
    act = A.register(name, USER_EXPRESSION, overwrite=True)
    yield act
    A.unregister(name)


def _rows(label):
    path = REFERENCE / f"mehler_dual_{label}.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["rows"]


ROWS = _rows("tanh") + _rows("user")


def _act(row, user):
    return "tanh" if row["activation"] == "tanh" else user


def _sin_coefficients(s, n_max, derivative):
    # in mpmath: in float64, n log s - s^2/2 loses ~n eps relative (3e-14 at n = 110)
    with mpmath.workdps(30):
        s = mpmath.mpf(s)
        mag = [s**n * mpmath.exp(-s * s / 2) / mpmath.sqrt(mpmath.factorial(n))
               for n in range(n_max + 1)]
    n = np.arange(n_max + 1)
    mag = np.array([float(m) for m in mag])
    if derivative:  # cos(x) + 1
        a = np.where(n % 2 == 0, (-1.0) ** (n // 2) * mag, 0.0)
        a[0] += 1.0
    else:  # sin(x) + x
        a = np.where(n % 2 == 1, (-1.0) ** ((n - 1) // 2) * mag, 0.0)
        a[1] += float(s)
    return a


def _sin_dual(q11, q12, q22, derivative):
    e1, e2 = math.exp(-q11 / 2), math.exp(-q22 / 2)
    if derivative:
        return e1 * e2 * math.cosh(q12) + e1 + e2 + 1
    return e1 * e2 * math.sinh(q12) + q12 * (e1 + e2 + 1)


# ---------------------------------------------------------------------------
# coefficients
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("derivative", [False, True])
def test_coefficients_of_sin_plus_x_are_exact(user, derivative):
    # the whole vector a_0..a_1024 at once, oscillating activation included
    s = np.array([0.0, 0.01, 1.0, 3.0, 10.0, 30.0])
    table = M.hermite_table(user, s, derivative=derivative, n_max=M.N_MAX)
    for i, si in enumerate(s):
        exact = _sin_coefficients(si, M.N_MAX, derivative)
        err = np.linalg.norm(table.coefficients[i] - exact)
        assert err <= M.COEFFICIENT_RTOL * math.sqrt(table.second_moment[i]), (si, err)


@pytest.mark.parametrize("derivative", [False, True])
def test_tanh_coefficients_converge_under_refinement(derivative, monkeypatch):
    s = np.array([0.05, 0.9, 1.5, 3.0, 10.0, 40.0])
    table = M.hermite_table("tanh", s, derivative=derivative)
    monkeypatch.setattr(M, "PANEL_LENGTH", M.PANEL_LENGTH / 2)
    monkeypatch.setattr(M, "TRUNCATION", 15.0)
    M._rule.cache_clear()
    try:
        finer = M.hermite_table("tanh", s, derivative=derivative)
    finally:
        M._rule.cache_clear()
    err = np.linalg.norm(table.coefficients - finer.coefficients, axis=1)
    assert np.all(err <= M.COEFFICIENT_RTOL * np.sqrt(table.second_moment)), err


@pytest.mark.parametrize("derivative", [False, True])
def test_second_moment_matches_mpmath(derivative):
    s = [0.01, 0.3, 1.0, 1.5, 3.0, 10.0, 30.0]
    table = M.hermite_table("tanh", np.array(s), derivative=derivative)
    with mpmath.workdps(30):
        def f(z):
            return mpmath.sech(z) ** 4 if derivative else mpmath.tanh(z) ** 2

        for si, got in zip(s, table.second_moment, strict=True):
            # even integrand: twice the half line, split where tanh(s z) bends
            pts = [0] + [mpmath.mpf(2) ** j / si for j in range(-4, 5)] + [14]
            ref = 2 * mpmath.quad(lambda z, si=si: f(si * z) * mpmath.npdf(z), sorted(pts))
            assert abs(got - float(ref)) <= 1e-15 * float(ref), (si, got - float(ref))
    # numerics.quadrature's panels agree (before their graded panels reached 2 s they lost
    # 6e-10 relative at s = 30)
    panels = gaussian_diagonal("tanh", np.array(s) ** 2, derivative=derivative)
    np.testing.assert_allclose(table.second_moment, panels, rtol=1e-14, atol=0)


@pytest.mark.parametrize("q", [900.0, 1e4])
def test_panels_agree_with_the_series_at_large_variance(q):
    # two independent rules; before the panels were graded up to 2 s, they were off by
    # 2e-10 (NNGP) and 2e-7 of the scale (derivative kernel) at q = 1e4
    for rho in (0.5, 0.9):
        for derivative in (False, True):
            v, b = M.mehler_dual("tanh", q, rho * q, q, derivative=derivative, fallback=None)
            scale = gaussian_diagonal("tanh", q, derivative=derivative)
            p = gaussian_dual("tanh", q, rho * q, q, derivative=derivative)
            assert abs(p - v) <= b + 1e-12 * scale, (rho, derivative, p - v, b)


def test_tails_and_lengths():
    s = np.array([0.0, 0.1, 1.0, 1.5, 3.0, 10.0])
    table = M.hermite_table("tanh", s)
    assert np.all(np.diff(table.tails, axis=1) <= 0)  # non-increasing in n
    assert np.all(table.tails >= M.TAIL_RTOL * table.second_moment[:, None] * (1 - 1e-12))
    # small scales converge early, large ones use every order
    assert table.lengths[1] < table.lengths[3] < table.lengths[4] <= M.N_MAX + 1
    assert table.lengths[-1] == M.N_MAX + 1
    # Parseval: sum a_n^2 never exceeds E[f^2] beyond rounding
    total = (table.coefficients ** 2).sum(axis=1)
    assert np.all(total <= table.second_moment * (1 + 1e-14))



def test_trimmed_table_is_the_full_one_cut_at_the_longest_row():
    s = np.linspace(0.0, 3.0, 301)
    full, trimmed = M.hermite_table("tanh", s), M.hermite_table("tanh", s, trim=True)
    width = int(full.lengths.max())
    assert full.coefficients.shape == (s.size, M.N_MAX + 1) and width < M.N_MAX + 1
    assert trimmed.coefficients.shape == trimmed.tails.shape == (s.size, width)
    assert np.array_equal(trimmed.coefficients, full.coefficients[:, :width])
    assert np.array_equal(trimmed.tails, full.tails[:, :width])
    assert np.array_equal(trimmed.lengths, full.lengths)
    assert trimmed.coefficients.flags["C_CONTIGUOUS"] and trimmed.tails.flags["C_CONTIGUOUS"]

@pytest.mark.parametrize("derivative", [False, True])
def test_no_length_past_the_computed_coefficients(derivative):
    # A row whose remainder after FIRST_ORDER terms is within rounding of TAIL_RTOL can
    # pass the redo test (kept at FIRST_ORDER + 1 coefficients) and fail the length test
    # (roundings of two different sums): its length then was N_MAX + 1 with zeros past
    # FIRST_ORDER, which widened the table of every point 2-4x (gram_mehler's memory).
    # The scales of benchmarks/kernels.py's n = 20 000 tanh Gram (first layer) hit that
    # for 3 rows of tanh and 2 of tanh' before the fix.
    x = np.random.RandomState(0).randn(20000, 50)
    s = np.sqrt(1.5 ** 2 * (x * x).sum(axis=1) / 50 + 0.1 ** 2)
    table = M.hermite_table("tanh", s, derivative=derivative)
    kept_short = ~np.any(table.coefficients[:, M.FIRST_ORDER + 1:] != 0, axis=1)
    assert kept_short.sum() > s.size / 10  # many rows are not redone at these scales
    assert np.all(table.lengths[kept_short] <= M.FIRST_ORDER + 1)
    # the tail at the length: 2 TAIL_RTOL E[f^2] plus the rounding of the remainder,
    # E[f^2] - sum_{n <= 256} a_n^2 (257 roundings of terms at most E[f^2]: 64 eps is
    # (n/4) eps, as in mehler_sum's bound)
    at_length = table.tails[np.arange(s.size), table.lengths - 1]
    assert np.all(at_length <= (2 * M.TAIL_RTOL + 64 * 2.2e-16) * table.second_moment)

# ---------------------------------------------------------------------------
# dual kernels against the 20-digit reference
# ---------------------------------------------------------------------------

def test_reference_files_present():
    assert len(_rows("tanh")) == 44 and len(_rows("user")) == 44


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['activation']}-q{r['q11']}-"
                         f"{r['q22']}-rho{r['rho']}-{'d' if r['derivative'] else 'k'}")
def test_reference_within_bound(row, user):
    act = _act(row, user)
    args = (row["q11"], row["q12"], row["q22"])
    ref = float(row["value"])
    scale = math.sqrt(float(row["diagonal_1"]) * float(row["diagonal_2"]))
    for tol in (1e-10, 1e-13):
        value, bound = M.mehler_dual(act, *args, derivative=row["derivative"], tol=tol)
        err = abs(float(value) - ref)
        # the reference is correct to 20 digits; float64 rounding of the result adds eps
        assert err <= float(bound) + 2e-16 * scale, (tol, err, float(bound))
        assert float(bound) <= 1e-8 * scale  # the target of issue 14
    # the Mehler series alone, without the fallback: measured error below its bound
    value, bound = M.mehler_dual(act, *args, derivative=row["derivative"], fallback=None)
    assert abs(float(value) - ref) <= float(bound) + 2e-16 * scale


def test_user_reference_matches_closed_form():
    # the stored values (mpmath closed form) against this file's float64 closed form, and
    # theory.dual's quadrature of the registered entry where the generator ran it
    rows = _rows("user")
    assert rows and sum("quadrature" in r for r in rows) >= 20
    for row in rows:
        exact = _sin_dual(row["q11"], row["q12"], row["q22"], row["derivative"])
        scale = math.sqrt(float(row["diagonal_1"]) * float(row["diagonal_2"]))
        assert abs(float(row["value"]) - exact) <= 1e-15 * scale
        if "quadrature" in row:
            assert abs(float(row["quadrature"]) - float(row["value"])) <= 1e-16 * scale


def test_which_entries_need_the_fallback():
    # Mehler alone is below 1e-8 of the scale everywhere except |rho| near 1 at large
    # variance (tanh at q >= 10, coefficients falling like n^(-3/4))
    flagged = []
    for row in _rows("tanh"):
        _, bound = M.mehler_dual("tanh", row["q11"], row["q12"], row["q22"],
                                 derivative=row["derivative"], fallback=None)
        scale = math.sqrt(float(row["diagonal_1"]) * float(row["diagonal_2"]))
        if bound > 1e-8 * scale:
            flagged.append((row["q11"], abs(row["rho"])))
    assert flagged, "the reference has no entry beyond the series: it does not test it"
    assert all(q >= 10 and rho >= 0.99 and rho < 1 for q, rho in flagged), flagged


def test_wrong_coefficient_is_caught():
    # a 1e-6 (relative to sqrt(E f^2)) error in one coefficient of one scale moves the
    # value by far more than the bound, so the reference comparison fails
    row = next(r for r in _rows("tanh") if (r["q11"], r["q22"], r["rho"]) == (1.0, 2.0, 0.5)
               and not r["derivative"])
    s = np.sqrt([row["q11"], row["q22"]])
    table = M.hermite_table("tanh", s)
    rho = np.array([row["q12"] / (s[0] * s[1])])
    i, j, stop = np.array([0]), np.array([1]), np.zeros(1)

    def value_and_bound(coef):
        v, b = M.mehler_sums(coef, table.tails, table.lengths, i, coef, table.tails,
                             table.lengths, j, rho, stop)
        return v[0], b[0]

    ref = float(row["value"])
    v, b = value_and_bound(table.coefficients)
    assert abs(v - ref) <= b
    for n in (1, 3, 5):
        wrong = table.coefficients.copy()
        wrong[0, n] += 1e-6 * math.sqrt(table.second_moment[0])
        v, b = value_and_bound(wrong)
        assert abs(v - ref) > b, n


# ---------------------------------------------------------------------------
# edges, contract, errors
# ---------------------------------------------------------------------------

def test_rho_plus_minus_one_and_zero_variance():
    q11, q22 = 9.0, 4.0
    for sign in (1.0, -1.0):
        for derivative in (False, True):
            v, b = M.mehler_dual("tanh", q11, sign * 6.0, q22, derivative=derivative)
            ref = gaussian_dual("tanh", q11, sign * 6.0, q22, derivative=derivative)
            assert abs(v - ref) <= b + 1e-14 and b < 1e-12
    # a zero variance: u = 0, so E[f(0) f(v)]
    v, b = M.mehler_dual("tanh", 0.0, 0.0, 2.0, derivative=True)
    assert abs(v - gaussian_dual("tanh", 0.0, 0.0, 2.0, derivative=True)) <= b + 1e-15
    v, b = M.mehler_dual("tanh", 0.0, 0.0, 2.0)
    assert v == 0.0


def test_mehler_sum_early_stop_respects_stop():
    s = np.array([3.0, 3.5])
    table = M.hermite_table("tanh", s)
    a, t = table.coefficients, table.tails
    n0, n1 = table.lengths
    full, full_bound = M.mehler_sum(a[0, :n0], a[1, :n1], t[0, :n0], t[1, :n1], 0.6)
    part, part_bound = M.mehler_sum(a[0, :n0], a[1, :n1], t[0, :n0], t[1, :n1], 0.6, 1e-9)
    assert part_bound <= 1e-9 + 1e-13 and abs(part - full) <= part_bound + full_bound


def test_invalid_arguments(user):
    with pytest.raises(ValueError, match="tol"):
        M.mehler_dual("tanh", 1.0, 0.5, 1.0, tol=0.0)
    with pytest.raises(ValueError, match="fallback"):
        M.mehler_dual("tanh", 1.0, 0.5, 1.0, fallback="hermite")
    with pytest.raises(ValueError, match="q11"):
        M.mehler_dual("tanh", -1.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="rho"):
        M.mehler_dual("tanh", 1.0, 1.5, 1.0)
    with pytest.raises(ValueError, match="n_max"):
        M.hermite_table("tanh", [1.0], n_max=0)
    with pytest.raises(ValueError, match="standard deviations"):
        M.hermite_table("tanh", [-1.0])
    with pytest.raises(ValueError, match="derivative"):
        M.mehler_dual("step", 1.0, 0.5, 1.0, derivative=True)
    kinked = A.register("mehler_test_kink", "Max(x, 1)", overwrite=True)
    try:
        with pytest.raises(ValueError, match="kinks"):
            M.mehler_dual(kinked, 1.0, 0.5, 1.0)
    finally:
        A.unregister("mehler_test_kink")


# ---------------------------------------------------------------------------
# the Gram evaluator
# ---------------------------------------------------------------------------

def test_gram_matches_panels_including_duplicates():
    x = np.random.RandomState(0).randn(8, 5)
    kw = dict(activation="tanh", hidden_layers=3, sigma_w=1.5, sigma_b=0.1)
    K0, T0 = nk.nngp_ntk(x, **kw)
    K1, T1 = nk.nngp_ntk(x, quadrature_method="mehler", **kw)
    # each layer's entry is within DEFAULT_TOL of its scale (the panels within ~1e-13);
    # a layer multiplies the inherited error by at most sigma_w^2 E[f'^2] <= sigma_w^2
    # (Price: dk/dq12 = E[f'(u) f'(v)] <= 1 for tanh) and the NTK adds both kernels, so
    # after L layers the error is below 2 (1 + sw^2 + ... + sw^(2L)) (DEFAULT_TOL + 1e-13)
    def allowed(sigma_w, layers):
        return 2 * sum(sigma_w ** (2 * k) for k in range(layers + 1)) * (M.DEFAULT_TOL + 1e-13)

    for A0, A1 in ((K0, K1), (T0, T1)):
        scale = np.sqrt(np.outer(np.diag(A0), np.diag(A0)))
        assert np.max(np.abs(A1 - A0) / scale) <= allowed(1.5, 3)
    # x against itself (rho = 1 off the symmetric path) and near-duplicates at large
    # variance (the fallback); the panel evaluator is the reference
    wide = dict(activation="tanh", hidden_layers=2, sigma_w=4.0, sigma_b=0.1)
    x2 = np.vstack([x[:3], x[:3] + 1e-4])
    K0, T0 = nk.nngp_ntk(x2[:3], x2, **wide)
    K1, T1 = nk.nngp_ntk(x2[:3], x2, quadrature_method="mehler", **wide)
    for A0, A1 in ((K0, K1), (T0, T1)):
        assert np.abs(A1 - A0).max() <= allowed(4.0, 2) * np.abs(A0).max()


@pytest.mark.skipif(not (REFERENCE / "mehler_gram_tanh.json").exists(),
                    reason="run tests/reference/make_mehler_gram_reference.py")
def test_gram_against_20_digit_reference():
    # issue 14's target: the depth-3 tanh NTK (and NNGP) within 1e-8 of a 20-digit
    # reference relative to sqrt(k(x,x) k(x',x'))
    ref = json.loads((REFERENCE / "mehler_gram_tanh.json").read_text())
    x = np.random.RandomState(0).randn(2000, 50)[ref["rows"]]
    K, T = nk.nngp_ntk(x, activation="tanh", hidden_layers=3, sigma_w=1.5, sigma_b=0.1,
                       quadrature_method="mehler")
    for got, name in ((K, "nngp"), (T, "ntk")):
        exact = np.array([[float(v) for v in row] for row in ref[name]])
        scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
        assert np.max(np.abs(got - exact) / scale) <= 1e-8, name


def test_random_covariances_against_panels_and_shapes():
    # 40 covariances, q log-uniform in [1e-3, 30], rho uniform in [-1, 1]; the panel rule
    # is accurate to ~1e-12 of the scale (numerics.quadrature: Bernstein bound for m = 10)
    rng = np.random.default_rng(7)
    q11, q22 = 10.0 ** rng.uniform(-3, np.log10(30), (2, 40))
    q12 = rng.uniform(-1, 1, 40) * np.sqrt(q11 * q22)
    for derivative in (False, True):
        v, b = M.mehler_dual("tanh", q11, q12, q22, derivative=derivative)
        p = gaussian_dual("tanh", q11, q12, q22, derivative=derivative)
        scale = np.sqrt(gaussian_diagonal("tanh", q11, derivative=derivative)
                        * gaussian_diagonal("tanh", q22, derivative=derivative))
        assert np.all(np.abs(v - p) <= b + 1e-12 * scale)
    v, b = M.mehler_dual("tanh", [[1.0], [2.0]], 0.3, [2.0, 3.0, 4.0])
    assert v.shape == b.shape == (2, 3)
    v, b = M.mehler_dual("tanh", np.zeros(0), np.zeros(0), np.zeros(0))
    assert v.shape == b.shape == (0,)
    v, b = M.mehler_dual("tanh", 1.0, 0.3, 2.0)
    assert np.ndim(v) == 0 and np.ndim(b) == 0
