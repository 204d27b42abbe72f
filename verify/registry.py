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
        return importlib.import_module(f"verify.{self.module}")


CLAIMS: list[Claim] = []


def get_claim(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id.lower() == claim_id.lower() or c.module == claim_id:
            return c
    valid = ", ".join(c.id for c in CLAIMS)
    raise ValueError(f"unknown claim {claim_id!r}; valid claims: {valid}")
