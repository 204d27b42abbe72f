"""What every claim module returns, and helpers they share.

A claim module ``verify/<paper>_<claim>.py`` defines::

    def compute(mode: str = "quick", seed: int = 0, **overrides) -> ClaimResult

``mode`` is ``"quick"`` or ``"full"`` (sizes), ``seed`` the root seed (every
random draw derives from it), ``overrides`` the knobs tests use to feed a
deliberately wrong input (e.g. ``kernel=<wrong callable>``) and show the
claim then FAILs. The runner (``verify/runner.py``) turns the result into
``record.json`` + ``figure.png`` (DESIGN.md, "The verify record").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClaimResult:
    """Outcome of one claim computation.

    ``measured``/``expected``/``tolerance`` map a figure's name to its value
    (JSON-serializable). ``passed`` is the verdict. ``figure`` is a
    matplotlib Figure (or None). ``summary`` is one short line for the table:
    the measured figure next to the expected one.
    """

    params: dict[str, Any]
    measured: dict[str, Any]
    expected: dict[str, Any]
    tolerance: dict[str, Any]
    passed: bool
    summary: str
    figure: Any = None
    details: dict[str, Any] = field(default_factory=dict)
