"""register(): only real expressions in x that are finite on the real line; bounded input,
prompt refusals, short quotations (issue: the numeric edge never returns a silently wrong
number)."""

from __future__ import annotations

import time

import pytest
import sympy as sp

from theory.activations import MAX_EXPRESSION_LENGTH, register, x


@pytest.mark.parametrize("text,match", [
    ("Rational(1,0)", "not finite and real"),      # zoo
    ("Min()", "not finite and real"),              # oo
    ("x,x", "one real expression"),                # a tuple
    ("1/x", "whole real line"),                    # infinite at 0
    ("log(x)", "whole real line"),
    ("sqrt(x)", "whole real line"),                # not real for x < 0
    ("sin(x)/x", "whole real line"),               # nan at 0 as written
    ("9**9**9", "numeric exponent"),               # would never return
    ("2**2**2**2**2", "numeric exponent"),
    ("(" * 100_000 + "x" + ")" * 100_000, "characters long"),
    ("(" * 60 + "x" + ")" * 60, "nests parentheses"),
    ("x" * 1_000_000, "characters long"),
])
def test_bad_strings_are_refused_quickly_with_a_short_quote(text, match):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match) as info:
        register("bad_user_activation", text)
    assert time.perf_counter() - start < 1.0
    assert len(str(info.value)) < 400  # quotes a prefix, never the whole input


def test_bad_objects_are_refused():
    for bad in (None, object(), [x], sp.Tuple(x, x), sp.zoo * x, sp.I * x, sp.Eq(x, 1)):
        with pytest.raises(ValueError):
            register("bad_user_activation", bad)


@pytest.mark.parametrize("text", ["x*tanh(log(1+exp(x)))", "exp(x**2/4)", "x^2", "2**x",
                                  "1/(1+x**2)", "Abs(x)", "Max(x, 0)", "Heaviside(x)",
                                  "erf(x/2) + 0.5", "x**64"])
def test_good_strings_register(text):
    act = register("good_user_activation", text, overwrite=True)
    assert act.expr.free_symbols <= {x}


def test_length_limit_is_documented():
    assert MAX_EXPRESSION_LENGTH >= 200  # room for any reasonable closed-form activation
    register("long_but_fine", "+".join(["x"] * 100), overwrite=True)
