"""Claim metadata: one entry per claim (paper, statement, tolerance, runtime).

The runner and the tests loop over ``CLAIMS``; adding a claim is adding a
module ``verify/<paper>_<claim>.py`` with a ``compute`` function
(see ``verify/common.py``) and one entry here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    id: str  # short id used on the command line, e.g. "K1"
    module: str  # module under verify/, e.g. "kernels_k1"
    paper: str  # page in papers/ ("kernels" or a seed paper id such as "000")
    statement: str  # what is claimed, in one sentence
    tolerance: str  # how PASS is decided, and where the tolerance comes from
    runtime_quick_s: float  # expected wall time, quick mode, one core
    runtime_full_s: float  # expected wall time, full mode, one core

    def load(self):
        """Import the claim module (``verify.<module>``; a dotted name is taken as absolute)."""
        name = self.module if "." in self.module else f"verify.{self.module}"
        return importlib.import_module(name)


CLAIMS: list[Claim] = [
    Claim(
        id="K1",
        module="kernels_k1",
        paper="kernels",
        statement=(
            "every registry dual kernel E[s(u)s(v)] (and E[s'(u)s'(v)] where the NTK exists): "
            "closed form = quadrature (rtol 1e-10) = Monte Carlo of a wide random layer"
        ),
        tolerance=(
            "|closed - quadrature| <= 1e-10 x kernel scale; |closed - MC| <= 4 standard errors "
            "(two-sided normal tail 6.3e-5 per test, union bound over all tests)"
        ),
        runtime_quick_s=15.0,
        runtime_full_s=120.0,
    ),
    Claim(
        id="K2",
        module="kernels_k2",
        paper="kernels",
        statement=(
            "the empirical NNGP and NTK of a random finite network converge to the analytic "
            "kernels with Frobenius error ~ width^(-1/2)"
        ),
        tolerance=(
            "log-log slope of the seed-averaged relative error over widths 64..4096 within 0.1 "
            "of -1/2 (the CLT rate)"
        ),
        runtime_quick_s=20.0,
        runtime_full_s=180.0,
    ),
]


def get_claim(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id.lower() == claim_id.lower() or c.module == claim_id:
            return c
    valid = ", ".join(c.id for c in CLAIMS)
    raise ValueError(f"unknown claim {claim_id!r}; valid claims: {valid}")
