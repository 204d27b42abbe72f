"""numerics.gram: the compiled Gram engine against the NumPy path (its reference), on
every builtin activation with a closed form, in every layout (symmetric, cross, pairs,
NNGP only, standard parameterization), at the numerical edges (identical and
near-identical points, zero inputs, overflow), and its disk cache."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from numerics import gram, gram_loops, kernels
from theory.activations import builtin_examples, get, register

pytestmark = pytest.mark.skipif(not gram.available(), reason="numba not available")

EPS = np.finfo(float).eps
CLOSED = [a for a in builtin_examples() if gram.engine(a) is not None]
# Both paths evaluate the same closed forms in float64 with different operation order;
# each layer multiplies the relative rounding error by the condition number of the
# layer map (<= ~10 for these inputs away from rho = 1) and adds ~50 ulp of its own,
# so after L = 3 layers the two agree to 1e3 * 50 ulp ~ 1e-11 relative to the kernel
# scale; observed ~1e-15. A formula error (the smallest the tests below inject, 1e-6)
# is 1e5 times larger.
TOL = 1e-11


def _scale(A, B=None):
    da = np.sqrt(np.abs(np.diag(A))) if B is None else np.sqrt(np.abs(A))
    return da[:, None] * da[None, :]


def _both(x1, x2=None, all_compiled=True, **kw):
    """(compiled, NumPy path); with ``all_compiled`` the engine must have computed every
    entry itself (a NaN of its own, e.g. a special function failing at rho = 1, would
    otherwise be hidden by the NumPy path's recomputation of non-finite entries)."""
    info = {}
    a = kernels.nngp_ntk(x1, x2, engine="compiled", info=info, **kw)
    if all_compiled:
        assert info["recomputed_entries"] == 0
    b = kernels.nngp_ntk(x1, x2, engine="numpy", **kw)
    return a, b


def _kw(act, **extra):
    act = get(act) if isinstance(act, str) else act
    kw = dict(activation=act, hidden_layers=3, sigma_w=1.5, sigma_b=0.1,
              want_ntk=act.dual_derivative is not None and act.derivative is not None)
    kw.update(extra)
    return kw


def _rel(u, v, scale):
    return 0.0 if u is None else float(np.max(np.abs(u - v) / scale))


def test_every_closed_form_builtin_is_compiled():
    names = {a.name for a in CLOSED}
    assert {"relu", "erf", "gelu", "elu", "step", "sin", "cos", "identity", "abs"} <= names
    assert "tanh" not in names  # no closed form: numerics.gram_mehler
    assert kernels.kernel_path("relu") == "compiled"
    assert kernels.kernel_path("relu", engine="numpy") == "numpy closed form"
    assert kernels.kernel_path("tanh") == "compiled (Mehler series)"
    assert kernels.kernel_path("tanh", engine="numpy") == "quadrature"
    kinked = register("gram_test_kink_at_one", "Max(x - 1, 0)")
    with pytest.raises(ValueError, match="engine='compiled' is not available"):
        kernels.nngp_ntk(np.ones((2, 3)), activation=kinked, hidden_layers=1, sigma_w=1.0,
                         sigma_b=0.0, engine="compiled")
    with pytest.raises(ValueError, match="engine must be one of"):
        kernels.nngp_ntk(np.ones((2, 3)), activation="relu", hidden_layers=1, sigma_w=1.0,
                         sigma_b=0.0, engine="jit")


@pytest.mark.parametrize("act", CLOSED, ids=[a.label for a in CLOSED])
def test_compiled_equals_numpy_path(act):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((40, 7)), rng.standard_normal((25, 7))
    (K, T), (Kn, Tn) = _both(x1, **_kw(act))
    assert np.array_equal(K, K.T) and (T is None or np.array_equal(T, T.T))
    assert np.array_equal(np.diag(K), np.diag(Kn))  # the same exact diagonal formula
    assert _rel(K, Kn, _scale(Kn)) < TOL and _rel(T, Tn, _scale(Tn) if T is not None else 1) \
        < TOL
    (K, T), (Kn, Tn) = _both(x1, x2, **_kw(act))
    assert _rel(K, Kn, np.abs(Kn).max()) < TOL
    assert _rel(T, Tn, np.abs(Tn).max() if Tn is not None else 1) < TOL
    (K, T), (Kn, Tn) = _both(x1[:25], x2, diagonal=True, **_kw(act))
    assert _rel(K, Kn, np.abs(Kn).max()) < TOL


@pytest.mark.parametrize("name", ["relu", "erf", "gelu"])
def test_standard_parameterization_and_nngp_only(name):
    x = np.random.default_rng(1).standard_normal((30, 5))
    (K, T), (Kn, Tn) = _both(x, **_kw(name, parameterization="standard", width=64))
    assert _rel(K, Kn, _scale(Kn)) < TOL and _rel(T, Tn, _scale(Tn)) < TOL
    (K, T), (Kn, _) = _both(x, **_kw(name, want_ntk=False))
    assert T is None and _rel(K, Kn, _scale(Kn)) < TOL


@pytest.mark.parametrize("name", ["relu", "erf", "gelu", "elu"])
def test_identical_and_near_identical_points(name):
    """x against itself reversed (rho = 1 off the diagonal of the cross Gram) and against
    copies moved by 1e-9 (1 - rho ~ 1e-18, below float64 resolution) or 1e-5: the snapped
    rho gives the diagonal value up to the rounding of the first layer's dot product (the
    Gram diagonal uses |x|^2 / d, the cross entry <x, x> inv_d), and both paths agree.
    x against an equal copy is the symmetric Gram itself."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20, 6))
    kw = _kw(name)
    (Kx, Tx), _ = _both(x, x[::-1], **kw)
    (K, T), _ = _both(x, **kw)
    np.testing.assert_allclose(np.diag(Kx[:, ::-1]), np.diag(K), rtol=TOL, atol=0)
    np.testing.assert_allclose(np.diag(Tx[:, ::-1]), np.diag(T), rtol=TOL, atol=0)
    same = kernels.nngp_ntk(x, x.copy(), **kw)
    assert np.array_equal(same[0], K) and np.array_equal(same[1], T)
    for step in (1e-9, 1e-5):
        y = x + step * rng.standard_normal(x.shape)
        (K, T), (Kn, Tn) = _both(x, y, **kw)
        assert _rel(K, Kn, np.abs(Kn).max()) < TOL
        # the derivative kernels of ReLU-like maps have a sqrt(1 - rho) singularity:
        # a rounding error of eps in rho moves them by ~sqrt(eps) ~ 1.5e-8
        assert _rel(T, Tn, np.abs(Tn).max()) < (2e-8 if name == "relu" else TOL)


def test_zero_inputs_and_zero_sigmas_fall_back_cleanly():
    """s = 0 (a zero input with sigma_b = 0): the engine flags such entries and the NumPy
    path recomputes them (the step kernel's closed form at rho = 0 would give 1/4 where
    E[step(0) step(v)] = 0)."""
    # 7 points with the zero one in the middle: the row both work items of a symmetric
    # pass touch (its second, empty side must not clear the flag)
    for n, zero in ((8, 2), (7, 3)):
        x = np.random.default_rng(3).standard_normal((n, 4))
        x[zero] = 0.0
        for act in CLOSED:
            kw = _kw(act, sigma_b=0.0)
            (K, T), (Kn, Tn) = _both(x, all_compiled=False, **kw)
            assert np.all(np.isfinite(K)), act.label
            np.testing.assert_allclose(K, Kn, rtol=0, atol=TOL * np.abs(Kn).max(),
                                       err_msg=act.label)


def test_overflow_raises_the_same_clear_error():
    x = np.random.default_rng(4).standard_normal((4, 3))
    for engine in ("compiled", "numpy"):
        with pytest.raises(ValueError, match="exceeds the float64 range"):
            kernels.nngp_ntk(x, activation="sin", hidden_layers=3, sigma_w=1e200,
                             sigma_b=0.0, engine=engine)


def test_a_wrong_registry_formula_is_seen():
    """The engine compiles whatever the registry holds: a dual kernel scaled by
    1 + 1e-6 gives kernels that differ from the NumPy path's fused ReLU by ~1e-6."""
    import dataclasses

    relu = get("relu")
    wrong = dataclasses.replace(relu, name="relu_wrong", dual=relu.dual * (1 + 1e-6),
                                family=None, family_params=())
    x = np.random.default_rng(5).standard_normal((10, 4))
    K = kernels.nngp_ntk(x, engine="compiled", **_kw(wrong))[0]
    Kn = kernels.nngp_ntk(x, engine="numpy", **_kw(relu))[0]
    assert _rel(K, Kn, _scale(Kn)) > 1e-7


def test_second_process_uses_the_disk_cache(tmp_path):
    """A second process imports the generated module (no SymPy generation) and numba's
    cached machine code."""
    code = (
        "import numpy as np\n"
        "from numerics import gram, kernels\n"
        "from theory.activations import get\n"
        "{patch}"
        "k = kernels.nngp_ntk(np.eye(3), activation='erf', hidden_layers=2, sigma_w=1.0,\n"
        "                     sigma_b=0.1, engine='compiled')[0]\n"
        "print(repr(float(k[0, 1])))\n"
    )
    env = {**os.environ, "NNTHEORY_CACHE_DIR": str(tmp_path)}
    run = [sys.executable, "-c"]
    first = subprocess.run(run + [code.format(patch="")], env=env, capture_output=True,
                           text=True, check=True).stdout
    refuse = ("def _refuse(act):\n    raise AssertionError('regenerated')\n"
              "gram._generate = _refuse\n")
    second = subprocess.run(run + [code.format(patch=refuse)], env=env, capture_output=True,
                            text=True, check=True).stdout
    assert first == second
    assert list(tmp_path.glob("_nntheory_gram_*.py"))


def test_only_the_activations_that_use_it_import_jit_special(tmp_path):
    """numerics.jit_special compiles (or loads) its C tilted orthant on import: importing
    numerics.kernels and computing a ReLU Gram must not import it; ELU's Gram does."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from numerics import kernels\n"
        "kw = dict(hidden_layers=1, sigma_w=1.0, sigma_b=0.1)\n"
        "kernels.nngp_ntk(np.eye(3), activation='relu', **kw)\n"
        "print('numerics.jit_special' in sys.modules)\n"
        "kernels.nngp_ntk(np.eye(3), activation='elu', **kw)\n"
        "print('numerics.jit_special' in sys.modules)\n"
    )
    env = {**os.environ, "NNTHEORY_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "True"]


@pytest.mark.parametrize("act", CLOSED, ids=[a.label for a in CLOSED])
def test_small_and_large_variances(act):
    """Inputs of size 1e-3 (variances ~1e-6, where ELU's closed-form terms of order one
    cancel and the engine switches to numerics.jit_special's stable pair, as the NumPy
    path does) and of size 10 (variances ~200)."""
    rng = np.random.default_rng(6)
    for size, sb in ((1e-3, 1e-4), (10.0, 0.1)):
        x = size * rng.standard_normal((12, 5))
        if act.name in ("sin", "cos", "monomial") and size > 1:
            continue  # e^{-q} and q^k: no kernel scale to compare at q ~ 200
        if act.name == "sin" and size < 1:
            # the registry's diagonal 1/2 - e^{-2q}/2 cancels at q ~ 1e-6 (relative error
            # ~eps/q ~ 1e-10 on both paths, measured 2e-11 against 30 digits): not a
            # comparison of the two paths
            continue
        # ELU (alpha != 1) at q ~ 200 leaves an entry to the NumPy path (its jit_special
        # pieces give a non-finite value there; so before the vectorized loop too)
        (K, T), (Kn, Tn) = _both(x, all_compiled=act.family != "elu" or size < 1,
                                 **_kw(act, sigma_b=sb))
        assert _rel(K, Kn, _scale(Kn)) < TOL
        assert _rel(T, Tn, _scale(Tn) if T is not None else 1) < TOL


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_threaded_pass_equals_numpy_path(name, monkeypatch):
    """Split over threads (forced here on small inputs; by default from 2^16 entry-layers
    on): symmetric with odd n (the middle row is shared by two work items), cross, pairs,
    and a zero point in the middle row (flagged and recomputed)."""
    import numba

    monkeypatch.setattr(gram_loops, "THREAD_MIN_WORK", 0)
    if numba.get_num_threads() < 2:
        pytest.skip("one thread")
    rng = np.random.default_rng(7)
    x1, x2 = rng.standard_normal((41, 6)), rng.standard_normal((17, 6))
    (K, T), (Kn, Tn) = _both(x1, **_kw(name))
    assert _rel(K, Kn, _scale(Kn)) < TOL and _rel(T, Tn, _scale(Tn)) < TOL
    (K, T), (Kn, Tn) = _both(x1, x2, **_kw(name))
    assert _rel(K, Kn, np.abs(Kn).max()) < TOL and _rel(T, Tn, np.abs(Tn).max()) < TOL
    (K, T), (Kn, Tn) = _both(x1[:17], x2, diagonal=True, **_kw(name))
    assert _rel(K, Kn, np.abs(Kn).max()) < TOL and _rel(T, Tn, np.abs(Tn).max()) < TOL
    x1[20] = 0.0
    (K, T), (Kn, Tn) = _both(x1, all_compiled=False, **_kw(name, sigma_b=0.0))
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(T))
    assert _rel(K, Kn, np.abs(Kn).max()) < TOL and _rel(T, Tn, np.abs(Tn).max()) < TOL


def test_generated_row_loop_is_vectorized(tmp_path):
    """The loop over a row's entries compiles to vector instructions (what makes the
    engine fast: libm calls or branches in it would leave it scalar). Compiled here from
    the generated source without numba's cache, which disables inspection."""
    import importlib.util

    path = tmp_path / "relu_gram.py"
    path.write_text(gram._generate(get("relu")).replace("cache=True", "cache=False"))
    spec = importlib.util.spec_from_file_location("relu_gram", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    n = 5
    K, T, S = np.full((n, n), 0.5), np.zeros((n, n)), np.ones((2, n))
    COL = module.columns(S, 2)
    bad = np.zeros(n, dtype=np.bool_)
    module.gram(K, T, S, S, S, S, COL, S[0], S[0], 2, 1.0, 0.1, 1.0, False, 0.0, True, 1,
                bad, 0, 3)
    ir = next(iter(module.gram.inspect_llvm().values()))
    # vector square roots occur only in the loops over entries (acos's and the kernel's);
    # with libm's acos printed instead, LLVM still vectorizes but calls acos once per lane
    assert re.search(r"@llvm\.sqrt\.v\d+f64", ir), "the row loop is not vectorized"
    assert not re.search(r"call [^\n]*@(acos|asin|atan)\b", ir), "a scalar libm call"
