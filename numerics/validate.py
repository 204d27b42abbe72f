"""One argument checker per kind of argument, for all of ``numerics``.

Real numbers follow the rule of :func:`theory.arithmetic.check_real` (Python, NumPy,
mpmath, SymPy numbers and ``fractions.Fraction`` accepted; bool, str, complex and
non-finite refused), so ``theory`` and ``numerics`` accept the same inputs; here the
value comes back as a float. Every refusal is a ValueError naming the argument and the
valid range.
"""

from __future__ import annotations

import numbers

import numpy as np

from theory.arithmetic import check_real as _theory_check_real

__all__ = ["check_int", "check_real", "check_rng"]


def check_int(name: str, value, minimum: int | None = None) -> int:
    """An integer (Python or NumPy, not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (
            minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


def check_real(name: str, value, *, positive=False, nonnegative=False, low=None,
               high=None) -> float:
    """A finite real scalar as a float (``> 0`` with ``positive``, ``>= 0`` with
    ``nonnegative``, inside ``[low, high]`` when given)."""
    v = float(_theory_check_real(name, value, positive=positive, nonnegative=nonnegative))
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return v


def check_rng(rng) -> np.random.Generator:
    """A NumPy Generator (seeds are explicit: ``numpy.random.default_rng(seed)``)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)),"
                         f" got {type(rng).__name__}")
    return rng
