r"""How a claim is written: sizes as data, typed overrides, seeds by position,
checks, a figure — the base does the bookkeeping.

A claim module (``verify/<paper>_<claim>.py``, an importable name such as
``kernels_k4`` or ``bmz_b1``) declares its sizes and overrides and decorates
one function that measures and compares::

    from verify.claim import Override, claim

    @claim(
        sizes={"quick": {"widths": (64, 256), "seeds": 4},
               "full": {"widths": (64, 256, 1024, 4096), "seeds": 32}},
        overrides={"analytic_sigma_b": Override(float, "bias scale of the analytic kernel "
                                                "(a wrong value must FAIL)", positive=True)},
    )
    def compute(run):
        rng = run.rng(0)                      # child 0 of SeedSequence(run.seed)
        ...
        run.checks.slope("rate", fit, expected=-0.5, band=0.1, source="CLT")
        run.figure = figure                   # a matplotlib Figure
        return "slope -0.49 vs -1/2"          # headline of the table's summary

The decorated ``compute(mode="quick", seed=0, **overrides) -> ClaimResult`` is
what the runner calls. The statement, paper, tolerance text and runtimes of a
claim live in ``verify/registry.py`` only.

Checklist for implementers
--------------------------
1. **Sizes** for ``"quick"`` (seconds, runs in CI) and ``"full"`` (the paper's
   sizes): the same keys in both. Every size is also an override of the type of
   its quick value (a tuple size takes a list or tuple).
2. **Overrides** (:class:`Override`) for the deliberately wrong inputs that the
   FAIL tests feed (a wrong kernel, a 1 % wrong sigma_w, GD instead of SGD) and
   for exploration. Unknown or mistyped overrides are a ValueError naming the
   valid ones; read them as ``run.options[name]`` (None when not given, unless
   the Override has a default).
3. **Seeds**: draw randomness only from ``run.rng(k)`` / ``run.seed_sequence(k)``,
   child ``k`` of ``SeedSequence(seed)`` by position (as ``spawn`` would give),
   never from global state, so a result depends on the seed and the position
   alone.
4. **Library code** (simulators, kernels, statistics, ODEs) lives in
   ``numerics/`` and ``theory/`` with its own tests; the claim calls it. No claim
   module imports another one (``tests/test_layers.py``).
5. **Checks**: every comparison that decides the verdict goes through
   ``run.checks`` (:mod:`verify.checks`), with a tolerance derived from theory
   and its ``source``; ``run.note(name, value)`` records figures that inform
   but do not decide.
6. **Figure**: set ``run.figure`` (panels in :mod:`verify.figures`);
   ``run.details`` takes bulky arrays for the record.
7. **Return** a one-line headline: the measured figure next to the expected one.
8. **Register** the claim in ``verify/registry.py`` and add a test that it PASSes
   at reduced size and FAILs at the smallest error it is meant to catch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verify.checks import Checks

__all__ = ["MODES", "ClaimResult", "Override", "Run", "claim"]

MODES = ("quick", "full")


@dataclass
class ClaimResult:
    """What ``compute`` returns and the runner turns into ``record.json`` and
    ``figure.png``: ``params`` (inputs, sizes, seed, overrides),
    ``measured``/``expected``/``tolerance`` (name -> JSON-able value), the
    verdict ``passed``, a one-line ``summary`` for the table, a matplotlib
    ``figure`` (or None) and bulky ``details``."""

    params: dict[str, Any]
    measured: dict[str, Any]
    expected: dict[str, Any]
    tolerance: dict[str, Any]
    passed: bool
    summary: str
    figure: Any = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Override:
    """A knob a claim accepts: its type, what it is for, and its valid range.

    ``kind``: ``int``, ``float``, ``bool``, ``str``, ``tuple`` (list or tuple
    given, stored as a tuple), ``dict``, or ``callable``. ``positive`` /
    ``minimum`` bound numbers (and every number of a tuple); ``choices`` lists
    valid values (of a str, or of every element of a tuple, or of every key of a
    dict); ``check`` is a further validator that raises ValueError."""

    kind: Any
    help: str
    default: Any = None
    positive: bool = False
    minimum: float | None = None
    choices: tuple | None = None
    check: Callable | None = None

    def describe(self) -> str:
        name = "callable" if self.kind is callable else self.kind.__name__
        return f"{name}: {self.help}"

    def convert(self, key: str, value):
        kind = self.kind
        if kind is callable:
            if not callable(value):
                raise ValueError(f"override {key!r} must be callable ({self.help}), got "
                                 f"{value!r}")
            out = value
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating,
                                                                 np.integer)):
                raise ValueError(f"override {key!r} must be a real number ({self.help}), "
                                 f"got {value!r}")
            out = float(value)
            if not math.isfinite(out):
                raise ValueError(f"override {key!r} must be finite, got {value!r}")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"override {key!r} must be an integer ({self.help}), got "
                                 f"{value!r}")
            out = int(value)
        elif kind is tuple:
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"override {key!r} must be a list or tuple ({self.help}), "
                                 f"got {value!r}")
            out = tuple(value)
        elif kind is dict:
            if not isinstance(value, Mapping):
                raise ValueError(f"override {key!r} must be a mapping ({self.help}), got "
                                 f"{value!r}")
            out = dict(value)
        else:
            if not isinstance(value, kind):
                raise ValueError(f"override {key!r} must be {kind.__name__} ({self.help}), "
                                 f"got {value!r}")
            out = value
        self._check_range(key, out)
        if self.check is not None:
            self.check(out)
        return out

    def _check_range(self, key, out):
        numbers = out if isinstance(out, tuple) else (out,)
        for v in numbers:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if self.positive and not v > 0:
                    raise ValueError(f"override {key!r} must be > 0 ({self.help}), got {v!r}")
                if self.minimum is not None and v < self.minimum:
                    raise ValueError(f"override {key!r} must be >= {self.minimum:g} "
                                     f"({self.help}), got {v!r}")
        if self.choices is not None:
            items = (out if isinstance(out, tuple) else tuple(out) if isinstance(out, dict)
                     else (out,))
            bad = [v for v in items if v not in self.choices]
            if bad:
                raise ValueError(f"override {key!r}: {bad!r} not among the valid "
                                 f"{list(self.choices)}")


def _size_override(key: str, quick_value) -> Override:
    if isinstance(quick_value, bool):
        return Override(bool, f"size {key}")
    if isinstance(quick_value, int):
        return Override(int, f"size {key}", minimum=1)
    if isinstance(quick_value, float):
        return Override(float, f"size {key}", positive=True)
    if isinstance(quick_value, (tuple, list)):
        return Override(tuple, f"size {key}")
    if isinstance(quick_value, dict):
        return Override(dict, f"size {key}")
    return Override(type(quick_value), f"size {key}")


def _jsonable_param(value):
    if callable(value) and not isinstance(value, type):
        return f"<{getattr(value, '__qualname__', type(value).__name__)}>"
    if isinstance(value, dict):
        return {str(k): _jsonable_param(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable_param(v) for v in value]
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


@dataclass
class Run:
    """What a claim's body works with: mode, root seed, sizes (after
    overrides), validated options, the checks, figure, notes and details."""

    mode: str
    seed: int
    sizes: dict
    options: dict
    checks: Checks = field(default_factory=Checks)
    figure: Any = None
    details: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def __getattr__(self, name):  # run.widths == run.sizes["widths"]
        sizes = self.__dict__.get("sizes", {})
        if name in sizes:
            return sizes[name]
        raise AttributeError(f"Run has no attribute or size {name!r}")

    def seed_sequence(self, *position: int) -> np.random.SeedSequence:
        """Child ``position`` of ``SeedSequence(seed)``: ``seed_sequence(k)`` equals
        ``SeedSequence(seed).spawn(k + 1)[k]``; ``seed_sequence(k, j)`` is child j of it."""
        if not position or any(not isinstance(p, (int, np.integer)) or p < 0 for p in position):
            raise ValueError(f"positions must be integers >= 0, got {position!r}")
        return np.random.SeedSequence(self.seed, spawn_key=tuple(int(p) for p in position))

    def rng(self, *position: int) -> np.random.Generator:
        """A NumPy Generator on :meth:`seed_sequence` ``(*position)``."""
        return np.random.default_rng(self.seed_sequence(*position))

    def note(self, name: str, value) -> None:
        """Record a measured figure that informs but does not decide the verdict."""
        self.notes[name] = value


def claim(*, sizes: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Override] | None
          = None):
    """Turn ``body(run) -> headline`` into ``compute(mode, seed, **overrides) -> ClaimResult``
    (see the module docstring for the checklist)."""
    sizes = {m: dict(v) for m, v in sizes.items()}
    if set(sizes) != set(MODES):
        raise ValueError(f"sizes must be given for exactly the modes {MODES}, got {sorted(sizes)}")
    if set(sizes["quick"]) != set(sizes["full"]):
        raise ValueError("quick and full sizes must have the same keys")
    knobs = {k: _size_override(k, v) for k, v in sizes["quick"].items()}
    clash = set(knobs) & set(overrides or {})
    if clash:
        raise ValueError(f"overrides {sorted(clash)} repeat size names")
    knobs.update(overrides or {})

    def decorate(body: Callable[[Run], str | None]):
        @functools.wraps(body)
        def compute(mode: str = "quick", seed: int = 0, **given) -> ClaimResult:
            if mode not in MODES:
                raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
            unknown = sorted(set(given) - set(knobs))
            if unknown:
                valid = "; ".join(f"{k} ({knobs[k].describe()})" for k in sorted(knobs))
                raise ValueError(f"unknown override(s) {unknown}; valid: {valid}")
            values = {k: knobs[k].convert(k, v) for k, v in given.items()}
            run_sizes = {k: values.get(k, v) for k, v in sizes[mode].items()}
            options = {k: values.get(k, o.default) for k, o in knobs.items()
                       if k not in run_sizes}
            run = Run(mode=mode, seed=int(seed), sizes=run_sizes, options=options)
            headline = body(run) or ""
            measured, expected, tolerance = run.checks.record()
            overlap = set(run.notes) & set(measured)
            if overlap:
                raise ValueError(f"notes {sorted(overlap)} repeat check names")
            params = {"mode": mode, "seed": int(seed), **_jsonable_param(run_sizes),
                      **_jsonable_param(run.params),
                      "overridden": {k: _jsonable_param(v) for k, v in sorted(values.items())}}
            return ClaimResult(
                params=params,
                measured={**measured, **run.notes},
                expected=expected,
                tolerance=tolerance,
                passed=run.checks.passed,
                summary=run.checks.summary(headline),
                figure=run.figure,
                details=run.details,
            )

        compute.sizes = sizes
        compute.overrides = dict(knobs)
        return compute

    return decorate
