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
        runtime_quick_s=10.0,  # measured 10 s / 110 s on a shared 2-core machine
        runtime_full_s=110.0,
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
        runtime_quick_s=15.0,  # measured 15 s / 60 s on a shared 2-core machine
        runtime_full_s=60.0,
    ),
    Claim(
        id="K3",
        module="kernels_k3",
        paper="kernels",
        statement=(
            "ReLU (sigma_w^2=2, sigma_b=0): rho*=1 with l^2(1-rho_l) -> 9 pi^2/2 and increments of "
            "(1-rho_l)^(-1/2) -> sqrt(2)/(3 pi); GELU and ELU at their norm-preserving sigma* "
            "(q=1): stable rho* < 1 (|C'(rho*)| < 1, chi1 > 1), rho_l -> rho*, and finite nets "
            "(width 2000, depth 20) follow the exact layer map one layer at a time (V_{l+1} vs "
            "F(V_l) at their own V_l); ELU nets also follow the joint (q_l, rho_l) recursion"
        ),
        tolerance=(
            "ReLU constants within 1% at l=1e5 (O(log l/l) ~ 1e-4 left); |rho_L - rho*| <= 1e-3 "
            "and late contraction ratio within 2% of C'(rho*); nets: one-step residuals "
            "standardized by their derived O(N^-1/2) covariance, max|z| <= "
            "Phi^-1(1 - 1e-3/(2n)) and whitened mean z^2 inside the 99.9% chi^2_n/n interval; "
            "ELU also |seed mean - recursion| <= 4 max(sample, predicted sd)/sqrt(seeds) + "
            "2 |moment-closure bias| per layer"
        ),
        runtime_quick_s=12.0,
        runtime_full_s=150.0,
    ),
    Claim(
        id="K4",
        module="kernels_k4",
        paper="kernels",
        statement=(
            "edge of chaos: at sigma_b=0 the critical sigma_w^2 is 1 (tanh) and pi/4 (erf), "
            "derived in SymPy; xi_c = -1/log chi_c diverges as (3 sigma_w*^2/2)/(sigma_w - "
            "sigma_w*)^2 (SymPy expansion); EOC curves chi1=1 for tanh, erf, ELU, GELU"
        ),
        tolerance=(
            "exact symbolic equality of sigma_w*^2; computed xi_c within 10% of the asymptote at "
            "three distances (the SymPy O(eps) correction is <= 3.3% there); EOC points give "
            "chi1 = 1 to 1e-9 by an independent route"
        ),
        runtime_quick_s=15.0,
        runtime_full_s=60.0,
    ),
]


def get_claim(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id.lower() == claim_id.lower() or c.module == claim_id:
            return c
    valid = ", ".join(c.id for c in CLAIMS)
    raise ValueError(f"unknown claim {claim_id!r}; valid claims: {valid}")
