"""The claims: the one place for a claim's statement, paper, tolerance text,
what it detects and its runtime.

``python -m verify --list``, the records (``record.json``) and the claims
tables of ``papers/*.md`` all read these entries. Implemented claims are
``CLAIMS``; claims of the catalog not yet implemented are ``PLANNED`` (their
statement moves into a ``Claim`` when the module lands). A claim module is
``verify/<module>.py`` (an importable name such as ``kernels_k4`` or ``bmz_b1``;
the paper key is data here) built on :mod:`verify.claim`.
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
    detects: str  # the smallest errors its FAIL tests show it catches, and what it cannot see
    runtime_quick_s: float  # expected wall time, quick mode, one core
    runtime_full_s: float  # expected wall time, full mode, one core

    def load(self):
        """Import the claim module (``verify.<module>``; a dotted name is taken as absolute)."""
        name = self.module if "." in self.module else f"verify.{self.module}"
        return importlib.import_module(name)


@dataclass(frozen=True)
class PlannedClaim:
    id: str
    paper: str
    statement: str


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
        detects=(
            "a closed form off by more than 1e-10 of its scale anywhere on the five covariance "
            "points (quadrature check); a kernel error above about 1% in quick mode and 0.2% in "
            "full mode against the Monte Carlo of a wide layer (4 standard errors of 2e5 / 4e6 "
            "draws; FAIL tests: a sign-flipped ReLU kernel, the step kernel in place of ReLU). "
            "Cannot see: errors only in the diagonal (rho = 1) formulas, which are not checked "
            "separately yet"
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
        detects=(
            "a rate that is not width^(-1/2) (slope off by more than 0.1, about 4 standard "
            "deviations of the seed scatter); an O(1) error in the analytic kernel (FAIL test: "
            "sigma_b = 0.5 instead of 0.1 flattens the slope). Cannot see: a 2-3% kernel error "
            "(sigma_b 0.15 instead of 0.1), since only the slope is judged, not the error level"
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
        detects=(
            "a wrong ReLU correlation map (constants off by more than 1%); a sign-flipped "
            "GELU/ELU correlation map (no stable rho* < 1); networks built with a 5% wrong "
            "sigma_w, or judged by the wrong layer map (ReLU's in place of GELU's). Cannot see: "
            "a 1% error in sigma_w at width 2000 with 3 seeds"
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
        detects=(
            "a wrong critical sigma_w^2 (exact symbolic comparison; FAIL test 4/5 for erf); an "
            "asymptotic constant off by more than 10% (FAIL test: a factor 2); edge-of-chaos "
            "points off chi1 = 1 by more than 1e-9. Cannot see: a constant off by less than "
            "about 7% (the 10% band minus the 3.3% O(eps) correction)"
        ),
        runtime_quick_s=15.0,
        runtime_full_s=60.0,
    ),
    Claim(
        id="B1",
        module="bmz_b1",
        paper="000",
        statement=(
            "plateaus: the reduced single-index flow (ELU, target phi = (0, 1, 0.5, 0.25), "
            "r_i(0) = 0) has risk plateaus 1/2 sum_{k>l} phi_k^2 between rapid drops, reached as "
            "eps -> 0; with phi_1 = 0 and r_i(0) ~ d^(-1/2) the risk stays near its initial "
            "value for a time growing linearly in ln d (our finite-d formulation of the paper's "
            "appendix E.2 point; the paper's full text was not available here)"
        ),
        tolerance=(
            "reading rule: drops = first crossings of sqrt(P_{l-1} P_l) (P_2/10 for the last), "
            "plateau l = risk at the geometric mean of the crossing times of drops l and l+1; "
            "the Aitken extrapolation of the readings over the three smallest eps within its "
            "own step (the last reading's remaining error, floor 1e-3 relative) of P_l, and the "
            "deviation decreasing with eps (SETUPS.md: 23/9/4% at 1e-8/1e-10/1e-12 with unit "
            "coefficients); stuck time: increasing in d and its increments per unit ln d equal "
            "within 15%; moment state within 1e-5 of its definition"
        ),
        detects=(
            "a 5% error in c_1 of the flow (first plateau 0.7% high, FAIL test); a 20% error "
            "in c_2 (the last drop never reaches its level); a wrong target (phi_3 0.3 for "
            "0.25). Cannot see: a 10% error in c_2 (plateau 2 moves by 3%, inside its Aitken "
            "tolerance of about 7% in quick mode); errors in c_3 alone beyond the plateau-2 "
            "tolerance; the law of the stuck time beyond 'linear in ln d'"
        ),
        runtime_quick_s=17.0,  # measured 17 s (verify --quick --jobs 2, shared machine)
        runtime_full_s=60.0,
    ),
    Claim(
        id="B2",
        module="bmz_b2",
        paper="000",
        statement=(
            "separated time scales (Theorem 1, section 6.5): from r_i(0) = 0 the degree-l "
            "component is learnt at t_l ~ eps^(1/(2l)) (ELU, phi = (0, 1, 0.5, 0.25)); "
            "t_1 ~ sqrt(eps) ln(1/eps) / (4 c_1 phi_1)"
        ),
        tolerance=(
            "t_l = first crossing of sqrt(P_{l-1} P_l) (P_2/10 for the last); log-log slopes "
            "over eps = 1e-10..1e-14 (quick; to 1e-16 and l = 3 in full) within 0.05 of "
            "1/(2l) (l = 1 after dividing by ln(1/eps)); adjacent drops a decade apart at every "
            "eps (measured separation); t_1 within 15% of the linearized prediction at every "
            "eps (its O(1/ln(1/eps)) correction is 9-12% here); moment state within 1e-4"
        ),
        detects=(
            "a 10% error in c_1 of the flow (t_1 off the prediction, FAIL test); the second "
            "layer as slow as the first (flow eps = 1: exponent 0.04, later drops never "
            "happen, FAIL test); a 20% error in c_1 also moves the l = 2 exponent to 0.33. "
            "Cannot see: errors in c_2 or c_3 that keep the exponents within 0.05 (the "
            "exponents do not depend on the prefactors)"
        ),
        runtime_quick_s=15.0,  # measured 15 s (verify --quick --jobs 2, shared machine)
        runtime_full_s=60.0,
    ),
    Claim(
        id="SS1",
        module="bmz_ss1",
        paper="000",
        statement=(
            "the Saad-Solla ODEs (I2, I3, I4 derived in SymPy by Gaussian tilting) match online "
            "SGD of an erf soft committee machine: K = M = 2, T = I, lr = 0.5, second layers "
            "fixed at 1, no label noise, student entries N(0, 0.25) (our choice), each run's ODE "
            "from its own initial overlaps"
        ),
        tolerance=(
            "per N: seed-mean of (SGD - ODE) plateau height and of the time-averaged "
            "eps_g difference up to 0.8 x the escape within 3 standard errors of the seed "
            "spread; escape-time shift within 3 SE + 2/lambda (lambda = the plateau's unstable "
            "eigenvalue of the ODE Jacobian: initial asymmetry and noise are both O(N^-1/2), "
            "so the shift is O(1)/lambda and does not vanish); RMS(SGD - ODE) ~ N^slope with "
            "slope within 0.25 of -1/2"
        ),
        detects=(
            "a wrong Gaussian integral in the ODE (I2 in place of I3: the ODE leaves the reals, "
            "FAIL test); plateau or curve offsets above 3 SE of the seed spread (about 3e-4 in "
            "eps_g at N = 400 with 8 seeds). Cannot see: an error in the lr^2 (I4) terms "
            "smaller than that spread, or one that only shifts the escape by less than "
            "2/lambda (about 80 time units)"
        ),
        runtime_quick_s=30.0,  # measured 11 s CPU; 56 s wall with --jobs 2 on the loaded machine
        runtime_full_s=400.0,
    ),
    Claim(
        id="B3",
        module="bmz_b3",
        paper="000",
        statement=(
            "a finite ELU network (unit rows, m = d/4 neurons) trained by online mini-batch SGD "
            "at large d on phi = (0, 1, 0.5) follows the reduced ODE with the finite-m "
            "self-interaction (degree 8, started from each network's own a_i(0), r_i(0)); the "
            "gap max_t |R_net - R_ODE| shrinks as d grows. Time map (our formulation): a step "
            "with a fresh batch of ceil(sqrt d) samples is dt = 0.5/d, lr_u = dt, "
            "lr_a = dt/eps, eps = 0.1"
        ),
        tolerance=(
            "fitted slope of the seed-mean gap vs d in [-1.1, -0.4] (-1 from the O(1/m) "
            "orthogonal dynamics with m ~ d and the a-step discretization dt/eps ~ 1/d, -1/2 "
            "from SGD noise and the d^-1/2 overlaps of the orthogonal parts; measured -0.87); "
            "at every d the gap below the size of the finite-m term itself (a network that "
            "followed the mean-field ODE would give 1; measured 0.5-0.7)"
        ),
        detects=(
            "the finite-m term dropped from the ODE (gap 1.6x the term's size, FAIL test). "
            "Cannot see: errors in the ODE smaller than the remaining gap (about 1e-2 of the "
            "risk at d = 100-400); with 2 runs per d the slope is too noisy (-1.3 seen), so the "
            "quick form uses 3"
        ),
        runtime_quick_s=40.0,  # measured 22 s CPU; 83 s wall with --jobs 2 on the loaded machine
        runtime_full_s=600.0,
    ),
]


#: the catalog's claims not implemented yet; when one lands its entry
#: moves into CLAIMS with its full statement
PLANNED: list[PlannedClaim] = [
    PlannedClaim("S1", "001", "mini-batch SGD drives first-layer weights on irrelevant inputs "
                 "toward zero; full-batch GD does not (irrelevant-input weight norm relative to "
                 "its value at initialization)"),
    PlannedClaim("S2", "001", "the effect is governed by eta/b: runs with equal eta/b agree"),
    PlannedClaim("S3", "001", "GD needs explicit regularization to find the support"),
    PlannedClaim("T1", "002", "the reduced kernel objective G(mu) is convex in mu (on mixtures of "
                 "particle measures; the entropy term is not part of this check)"),
    PlannedClaim("T2", "002", "mean-field Langevin converges; particle error O(1/N), time error "
                 "O(eta)"),
    PlannedClaim("T3", "002", "the learned kernel aligns with the target (alignment rises during "
                 "training)"),
    PlannedClaim("T4", "002", "label noise: the degrees of freedom Tr K(K + n lambda I)^-1 act as "
                 "a regularizer"),
    PlannedClaim("H1", "003", "1-D data, He init, biases 0, GD on squared loss: with high "
                 "probability the net ends at the per-side least-squares fit (one affine function "
                 "on the negative inputs, one on the positive), kinks do not cross the data, "
                 "probability -> 1 as width grows"),
    PlannedClaim("H2", "003", "SGD behaves alike; other initializations change it"),
    PlannedClaim("I1", "004", "a last-bit perturbation of one weight grows to O(1) differences in "
                 "a trained net; the divergence step grows linearly with the mantissa bits "
                 "(float32 / float64 / 106 / 212 bits)"),
    PlannedClaim("I2", "004", "the linearized gradient-descent PDE is stable only for lr / weight "
                 "decay in the predicted region; beyond it the instability is restrained "
                 "(bounded)"),
    PlannedClaim("I3", "004", "edge of stability: sharpness rises to ~2/eta and hovers there"),
]


def get_claim(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id.lower() == claim_id.lower() or c.module == claim_id:
            return c
    valid = ", ".join(c.id for c in CLAIMS)
    raise ValueError(f"unknown claim {claim_id!r}; valid claims: {valid}")
