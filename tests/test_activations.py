
"""The activation registry: lookup errors, safe parsing of user strings, and property
tests of the closed-form kernels (hypothesis)."""

import math
import pickle
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import activations as A
from theory.dual import dual_diagonal, dual_kernel, expectation, quadrature_dual_kernel

# ---------------------------------------------------------------------------
# lookup
# ---------------------------------------------------------------------------


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'swishy'.*relu"):
        A.get("swishy")


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown parameter.*valid parameters: alpha"):
        A.get("elu", beta=2)
    with pytest.raises(ValueError, match="valid parameters: none"):
        A.get("relu", a=1)


@pytest.mark.parametrize("kwargs", [{"alpha": -1}, {"alpha": float("nan")}, {"alpha": "x"}])
def test_bad_elu_alpha(kwargs):
    with pytest.raises(ValueError, match="alpha"):
        A.get("elu", **kwargs)


@pytest.mark.parametrize("k", [0, -2, 1.5, True])
def test_bad_monomial_k(k):
    with pytest.raises(ValueError, match="k must be an integer"):
        A.get("monomial", k=k)


def test_parameters_are_exact_and_entries_cached():
    assert A.get("elu", alpha=0.5) is A.get("elu", alpha=0.5)
    assert A.get("elu", alpha=0.5).param("alpha") == A.sp.Rational(1, 2)
    assert A.get("elu", alpha=0.5).label == "elu(alpha=1/2)"


def test_step_has_no_ntk():
    step = A.get("step")
    assert not step.has_ntk
    with pytest.raises(ValueError, match="no derivative kernel"):
        step.require_derivative()
    with pytest.raises(ValueError, match="NTK is undefined"):
        dual_kernel(step, 1.0, 0.5, 1.0, derivative=True)


def test_tanh_has_no_closed_form():
    tanh = A.get("tanh")
    assert tanh.dual is None and tanh.has_ntk


def test_builtin_examples_come_from_the_factory_table():
    # the list tests and claim K1 loop over: every factory at its example parameters
    labels = [a.label for a in A.builtin_examples()]
    assert labels == ["relu", "leaky_relu(a=1/10)", "step", "abs", "erf", "tanh", "gelu",
                      "elu(alpha=1)", "elu(alpha=1/2)", "identity", "sin", "cos", "monomial(k=2)",
                      "monomial(k=3)"]
    assert {a.name for a in A.builtin_examples()} == set(A._FACTORIES)


@pytest.mark.parametrize("name, params, family, family_params", [
    ("relu", {}, "ab_relu", (("a", 0), ("b", 1))),
    ("leaky_relu", {"a": 0.1}, "ab_relu", (("a", sp.Rational(1, 10)), ("b", 1))),
    ("abs", {}, "ab_relu", (("a", -1), ("b", 1))),
    ("identity", {}, "ab_relu", (("a", 1), ("b", 1))),
    ("step", {}, "step", ()),
    ("erf", {}, "erf", ()),
    ("gelu", {}, "gelu", ()),
    ("elu", {"alpha": 0.5}, "elu", (("alpha", sp.Rational(1, 2)),)),
    ("tanh", {}, None, ()),
    ("sin", {}, None, ()),
    ("monomial", {"k": 3}, None, ()),
])
def test_families(name, params, family, family_params):
    act = A.get(name, **params)
    assert act.family == family
    assert act.family_params == family_params


def test_family_is_part_of_identity():
    relu = A.get("relu")
    bare = A.Activation(name="relu", expr=relu.expr, derivative=relu.derivative, dual=relu.dual,
                        dual_diagonal=relu.dual_diagonal, kinks=relu.kinks)
    assert bare.family is None and bare != relu
    same = A.Activation(name="relu", expr=relu.expr, derivative=relu.derivative,
                        family="ab_relu", family_params=relu.family_params)
    assert same == relu and hash(same) == hash(relu)


# ---------------------------------------------------------------------------
# register(): user activations from strings, parsed in a closed namespace
# ---------------------------------------------------------------------------


@pytest.fixture
def fresh_name():
    names = []

    def make(base):
        name = f"{base}_{len(names)}_test"
        names.append(name)
        return name

    yield make
    for name in names:
        if name in A.names():
            A.unregister(name)


def test_mish_from_string(fresh_name):
    name = fresh_name("mish")
    mish = A.register(name, "x*tanh(log(1+exp(x)))")
    assert mish.dual is None and mish.kinks == ()
    assert A.get(name) is mish
    # derivative by SymPy; check at x = 0: tanh(log 2) + 0 = 3/5
    assert math.isclose(float(mish.mpmath_function(derivative=True)(0)), 0.6, rel_tol=1e-15)
    # kernels by quadrature; independence at q12 = 0: k = E[mish(u)] E[mish(v)]
    f = mish.mpmath_function()
    means = [expectation(lambda u: float(f(u)), variance=v) for v in (1.0, 2.0)]
    assert math.isclose(dual_kernel(name, 1.0, 0.0, 2.0), means[0] * means[1], rel_tol=1e-13)
    k = dual_kernel(name, 1.0, 0.4, 2.0)
    # agrees with the high-precision path
    assert math.isclose(k, float(dual_kernel(name, 1, Fraction("0.4"), 2, dps=20)), rel_tol=1e-13)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('ls')",
        "x.__class__",
        "lambda: 1",
        "foo(x)",
        "x + y",
        "open('f')",
        "exec('1')",
        "x; 1",
        "[x]",
    ],
)
def test_unsafe_or_unknown_strings_are_refused(text, fresh_name):
    with pytest.raises(ValueError, match="not allowed|cannot parse|only depend"):
        A.register(fresh_name("bad"), text)


def test_register_refuses_builtin_names_and_duplicates(fresh_name):
    with pytest.raises(ValueError, match="already registered"):
        A.register("relu", "x")
    name = fresh_name("dup")
    A.register(name, "x**3")
    with pytest.raises(ValueError, match="already registered"):
        A.register(name, "x**3")
    with pytest.raises(ValueError, match="identifier"):
        A.register("not a name", "x")


def test_register_sympy_expression(fresh_name):
    act = A.register(fresh_name("swish"), A.x * A.sp.exp(A.x) / (1 + A.sp.exp(A.x)))
    assert act.derivative is not None and act.kinks == ()


def test_find_kinks():
    assert A.find_kinks(A.sp.Abs(A.x - 1)) == (1,)
    assert A.find_kinks(A.sp.Min(A.sp.Max(A.x, -2), 3)) == (-2, 3)
    with pytest.raises(ValueError, match="cannot locate the kinks"):
        A.find_kinks(A.sp.Abs(A.sp.sin(A.x)))


def test_user_kernel_by_quadrature_matches_builtin(fresh_name):
    # a user-registered erf has the same kernels as the closed form
    act = A.register(fresh_name("erf"), "erf(x)")
    for derivative in (False, True):
        assert math.isclose(dual_kernel(act, 0.7, -0.2, 1.4, derivative=derivative),
                            dual_kernel("erf", 0.7, -0.2, 1.4, derivative=derivative),
                            rel_tol=1e-12)


# ---------------------------------------------------------------------------
# properties of the closed-form kernels (hypothesis)
# ---------------------------------------------------------------------------

CHEAP = [a for a in A.builtin_examples() if a.dual is not None and a.name != "elu"]
CHEAP += [A.get("elu", alpha=0.5)]
variances = st.floats(min_value=0.05, max_value=4.0)
correlations = st.floats(min_value=-1.0, max_value=1.0)


@pytest.mark.parametrize("act", CHEAP, ids=[a.label for a in CHEAP])
@settings(max_examples=8, deadline=None, derandomize=True)
@given(a=variances, b=variances, rho=correlations)
def test_symmetry(act, a, b, rho):
    # (u, v) -> (v, u) swaps q11 and q22 and leaves E[s(u)s(v)] unchanged
    q12 = rho * math.sqrt(a * b)
    k1 = dual_kernel(act, a, q12, b)
    k2 = dual_kernel(act, b, q12, a)
    scale = math.sqrt(dual_diagonal(act, a) * dual_diagonal(act, b))
    assert abs(k1 - k2) <= 1e-13 * max(scale, 1e-300)


@pytest.mark.parametrize("act", CHEAP, ids=[a.label for a in CHEAP])
@settings(max_examples=6, deadline=None, derandomize=True)
@given(qv=variances)
def test_rho_one_is_second_moment(act, qv):
    # k(q, q, q) = E[s(u)^2]; the general closed form just below rho = 1 tends to it
    # (Hoelder-1/2: rho = 1 - 1e-12 changes the kernel by O(1e-6) relative at most)
    diag = dual_diagonal(act, qv)
    assert math.isclose(dual_kernel(act, qv, qv, qv), diag, rel_tol=1e-14)
    near = dual_kernel(act, qv, qv * (1 - 1e-12), qv)
    assert abs(near - diag) <= 1e-5 * diag


@pytest.mark.parametrize("act", CHEAP, ids=[a.label for a in CHEAP])
@settings(max_examples=6, deadline=None, derandomize=True)
@given(qv=variances, r1=st.floats(0.0, 1.0), r2=st.floats(0.0, 1.0))
def test_monotone_in_rho_on_unit_interval(act, qv, r1, r2):
    # At equal variances q, write s(sqrt(q) z) = sum_k c_k He_k(z)/sqrt(k!): by Mehler,
    # k(q, rho q, q) = sum_k c_k^2 rho^k, a power series with non-negative coefficients,
    # hence non-decreasing on [0, 1] for every activation (not on [-1, 0]: abs, cos are
    # even). Rounding allowance: 1e-14 of the scale E[s^2].
    lo, hi = sorted((r1, r2))
    k_lo = dual_kernel(act, qv, lo * qv, qv)
    k_hi = dual_kernel(act, qv, hi * qv, qv)
    assert k_hi >= k_lo - 1e-14 * dual_diagonal(act, qv)


def test_monotonicity_fails_on_negative_rho_for_even_activations():
    # the restriction to [0, 1] matters: abs is even, so its kernel decreases on [-1, 0]
    assert dual_kernel("abs", 1.0, -0.9, 1.0) > dual_kernel("abs", 1.0, -0.1, 1.0)


@settings(max_examples=5, deadline=None, derandomize=True)
@given(a=variances, b=variances, rho=st.floats(-0.99, 0.99))
def test_tanh_quadrature_symmetry(a, b, rho):
    q12 = rho * math.sqrt(a * b)
    assert math.isclose(quadrature_dual_kernel("tanh", a, q12, b),
                        quadrature_dual_kernel("tanh", b, q12, a), rel_tol=1e-12, abs_tol=1e-14)


# ---------------------------------------------------------------------------
# pickling by value (worker processes; the spawn pool itself: tests/test_spawn.py)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("act", A.builtin_examples(), ids=lambda a: a.label)
def test_builtin_entries_pickle_to_the_registry_entry(act):
    again = pickle.loads(pickle.dumps(act))
    assert again == act and hash(again) == hash(act)
    assert again is A.get(act.name, **dict(act.params))


def test_user_entry_pickles_by_expression(fresh_name):
    name = fresh_name("softsign")
    act = A.register(name, "x/(1+abs(x))")
    data = pickle.dumps(act)
    assert pickle.loads(data) is act
    # a process that never registered it (a spawn worker) registers it on unpickling
    A.unregister(name)
    again = pickle.loads(data)
    assert again == act and again.kinks == act.kinks and A.get(name) is again
    # a process where the name holds another expression keeps its own entry
    A.unregister(name)
    other = A.register(name, "tanh(x)")
    again = pickle.loads(data)
    assert again == act and A.get(name) is other


def test_other_entries_pickle_by_fields():
    relu = A.get("relu")
    wrong = A.Activation(name="relu", expr=relu.expr, derivative=relu.derivative,
                         dual=relu.dual * sp.Rational(101, 100), dual_diagonal=relu.dual_diagonal,
                         kinks=(0,), derivation="test")
    again = pickle.loads(pickle.dumps(wrong))
    assert again == wrong and again is not relu
    assert again.dual == wrong.dual and again.kinks == wrong.kinks and again.family is None


@pytest.mark.parametrize("text", ["__import__('os')", "Symbol('x').subs", "(lambda: 1)()",
                                  "Symbol(**{'a': 1})", "Integer(2)(3)", "open('f')"])
def test_srepr_reader_refuses_anything_but_sympy_classes(text):
    with pytest.raises(ValueError):
        A._from_srepr(text)
