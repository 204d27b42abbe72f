r"""Generator of the pages in ``papers/``: one per seed paper plus ``kernels.md``.

A page is Markdown with hand-written prose and generated blocks between
marker comments::

    <!-- BEGIN GENERATED: name -->
    ...
    <!-- END GENERATED -->

Blocks: ``claims`` (the paper's claims from ``verify.registry``, each marked
implemented — with its verify command — or "not yet implemented", from
``verify.registry.CLAIMS``), ``formulas`` (kernels.md: LaTeX of every registry
dual kernel and of the depth-L recursion, from :func:`theory.latex.latex_for`),
``fixedpoints`` (kernels.md: ``verify.kernels_page.fixed_point_table_markdown()``),
``formulas`` of 002 (:func:`theory.odes.mean_field.latex_formulas`)
and ``last-result`` (refreshed by ``python -m verify --update-papers`` only,
never by this generator, and not tested).

``python -m verify.papers`` rewrites the generated blocks (creating missing
pages from their templates); ``python -m verify.papers --check`` exits 1 if a
committed page is not current (the test ``tests/test_papers.py`` does the same).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from verify import registry

__all__ = [
    "PAPERS",
    "PAPERS_DIR",
    "generated_blocks",
    "render",
    "regenerate",
    "stale_pages",
    "update_last_results",
    "main",
]

PAPERS_DIR = Path(__file__).resolve().parent.parent / "papers"

BEGIN = "<!-- BEGIN GENERATED: {name} -->"
END = "<!-- END GENERATED -->"
_BLOCK = re.compile(
    r"<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- END GENERATED -->", re.DOTALL
)


@dataclass(frozen=True)
class Paper:
    key: str  # registry "paper" field: "000".."004" or "kernels"
    filename: str
    title: str
    authors: str
    arxiv: str | None
    summary: str


PAPERS: dict[str, Paper] = {p.key: p for p in (
    Paper(
        key="kernels",
        filename="kernels.md",
        title="Kernels and depth: dual kernels, NNGP/NTK, fixed points, edge of chaos",
        authors="(background results: Neal 1996; Williams 1997; Cho & Saul 2009; Lee et al. "
                "2018; Jacot et al. 2018; Poole et al. 2016; Schoenholz et al. 2017; "
                "Tsuchida et al. 2021)",
        arxiv=None,
        summary="",
    ),
    Paper(
        key="000",
        filename="000_berthier_montanari_zhou.md",
        title="Learning time-scales in two-layers neural networks",
        authors="Raphaël Berthier, Andrea Montanari, Kangjie Zhou",
        arxiv="2303.00055",
        summary=(
            "Gradient-based training of multi-layer networks shows long plateaus with almost "
            "no progress, alternating with short intervals of rapid decrease of the risk, on "
            "very different time scales; early phases learn 'simpler' functions. The paper "
            "studies gradient flow of a wide two-layer network in high dimension on "
            "single-index data (the target depends on one projection of the input). Combining "
            "rigorous results, non-rigorous derivations and simulations, it proposes a "
            "scenario with separated time scales and intermittency, which arise because the "
            "population gradient flow is a singularly perturbed dynamical system."
        ),
    ),
    Paper(
        key="001",
        filename="001_beneventano_pinto_poggio.md",
        title="How Neural Networks Learn the Support is an Implicit Regularization Effect of SGD",
        authors="Pierfrancesco Beneventano, Andrea Pinto, Tomaso Poggio",
        arxiv="2406.11110",
        summary=(
            "Can a deep network identify the support of its target (the input coordinates it "
            "depends on)? Mini-batch SGD learns the support in the first layer by shrinking "
            "to zero the weights of irrelevant input components, while full-batch gradient "
            "descent approximates the target too but needs an explicit regularizer to find "
            "the support. The effect is a second-order implicit regularization proportional "
            "to eta/b (step size over batch size); smaller batches give more interpretable "
            "features and less dependence on the initialization."
        ),
    ),
    Paper(
        key="002",
        filename="002_takakura_suzuki.md",
        title="Mean-field Analysis on Two-layer Neural Networks from a Kernel Perspective",
        authors="Shokichi Takakura, Taiji Suzuki",
        arxiv="2403.14917",
        summary=(
            "Feature learning of two-layer networks in the mean-field regime, seen through "
            "kernel methods. In a two-timescale limit where the second layer moves much "
            "faster than the first, learning reduces to minimizing a functional of the "
            "kernel induced by the first layer. The paper proves global convergence of "
            "mean-field Langevin dynamics with time- and particle-discretization errors, "
            "shows that such networks learn a union of several RKHSs more efficiently than "
            "any kernel method and acquire a data-dependent kernel aligned with the target, "
            "and gives a label-noise procedure converging to the global optimum in which the "
            "degrees of freedom act as an implicit regularizer."
        ),
    ),
    Paper(
        key="003",
        filename="003_holzmuller_steinwart.md",
        title="Training Two-Layer ReLU Networks with Gradient Descent is Inconsistent",
        authors="David Holzmüller, Ingo Steinwart",
        arxiv="2002.04861",
        summary=(
            "Two-layer (leaky) ReLU networks, initialized as proposed by He et al. (2015) "
            "and trained by gradient descent on the squared loss are not universally consistent. "
            "For a large class of one-dimensional data distributions, gradient descent finds "
            "with high probability only a bad local minimum, because it cannot move the "
            "biases far from their initial value zero: the network essentially performs "
            "linear regression on each side of the origin even when the target is "
            "non-linear. Experiments show the same in some multi-dimensional settings and "
            "for SGD, and how initialization and optimizer change it."
        ),
    ),
    Paper(
        key="004",
        filename="004_sun_lao_sundaramoorthi_yezzi.md",
        title="Surprising Instabilities in Training Deep Networks and a Theoretical Analysis",
        authors="Yuxin Sun, Dong Lao, Ganesh Sundaramoorthi, Anthony Yezzi",
        arxiv="2206.02001",
        summary=(
            "Training deep networks with SGD has restrained numerical instabilities: an "
            "error of the order of the last floating-point bit can be amplified into a "
            "test-accuracy variance comparable to that caused by SGD's randomness. The paper "
            "explains this with a PDE view of gradient descent for convolutional networks: "
            "the linearized dynamics are stable only for certain learning rates and weight "
            "decays; beyond them the instability is restrained (localized over iterations "
            "and weights) rather than blowing up, because the non-linear PDE's local "
            "linearization changes when the step size is over-driven. Restrained "
            "instabilities are linked to the edge of stability, with new predictions on the "
            "role of regularization and network complexity."
        ),
    ),
)}


# ---------------------------------------------------------------------------
# generated blocks
# ---------------------------------------------------------------------------

def _paper_claims(key: str) -> list:
    """The paper's claims in registry order: implemented (``registry.CLAIMS``), then
    planned (``registry.PLANNED``); statements come from the registry only."""
    return ([c for c in registry.CLAIMS if c.paper == key]
            + [c for c in registry.PLANNED if c.paper == key])


def _claims_block(paper: Paper) -> str:
    lines = ["| claim | statement | status |", "| --- | --- | --- |"]
    implemented = []
    for claim in _paper_claims(paper.key):
        if isinstance(claim, registry.Claim):
            implemented.append(claim)
            status = (f"implemented: `verify/{claim.module}.py`, ~{claim.runtime_quick_s:.0f} s "
                      f"quick / ~{claim.runtime_full_s:.0f} s full")
        else:
            status = "not yet implemented"
        lines.append(f"| {claim.id} | {claim.statement} | {status} |")
    lines.append("")
    if implemented:
        for claim in implemented:
            lines.append(f"- **{claim.id}** tolerance: {claim.tolerance}. Detects: "
                         f"{claim.detects}.")
        lines.append("")
        ids = " ".join(c.id for c in implemented)
        lines += [
            "Verify (from the repository root; add `--full` for the stated sizes, "
            "`--update-papers` to refresh the last result below):",
            "",
            "```",
            f"python -m verify {ids}",
            f"nntheory verify --full {ids}",
            "```",
        ]
    else:
        lines.append("No claim of this paper is implemented yet, so there is nothing to verify.")
    return "\n".join(lines) + "\n"


def _latex(kind, act, hidden_layers=None) -> str:
    from theory.latex import latex_for

    return latex_for(kind, act, hidden_layers=hidden_layers).strip()


def _formulas_block() -> str:
    try:
        import theory.latex  # noqa: F401
    except ImportError as exc:
        return f"_The LaTeX export (`theory.latex`) is not available: {exc}._\n"
    from theory.activations import builtin_examples

    lines = [
        "Per activation: $\\sigma$, the NNGP dual kernel "
        "$k = \\mathbb{E}[\\sigma(u)\\sigma(v)]$ and the derivative kernel "
        "$\\dot k = \\mathbb{E}[\\sigma'(u)\\sigma'(v)]$ (`latex_for(kind, activation)`). "
        "$\\operatorname{erfcx}(x) = e^{x^2}\\operatorname{erfc}(x)$; "
        "$\\mathcal{A}(a, b; \\rho) = \\mathbb{E}[e^{aZ_1+bZ_2}1\\{Z_1<0, Z_2<0\\}] "
        "= e^{(a^2+2ab\\rho+b^2)/2}\\,\\Phi_2(-(a+b\\rho), -(a\\rho+b); \\rho)$ for "
        "standard normals with correlation $\\rho$ (`theory.gaussian.TiltedOrthant`).",
        "",
    ]
    for act in builtin_examples():
        lines += [f"#### `{act.label}`", "", f"$${_latex('activation', act)}$$", "",
                  f"$${_latex('dual', act)}$$", ""]
        if act.has_ntk:
            lines.append(f"$${_latex('dual_derivative', act)}$$")
        else:
            lines.append("$\\dot k$ is undefined (the derivative is a Dirac delta): this "
                         "activation has no NTK.")
        lines.append("")
    lines += [
        "#### Depth-L recursion",
        "",
        "The NTK recursion as it holds for any activation (shown for tanh, whose kernels are "
        "evaluated by quadrature), L = 2 (`latex_for('ntk', 'tanh', hidden_layers=2)`):",
        "",
        f"$${_latex('ntk', 'tanh', 2)}$$",
        "",
        "With a closed-form kernel the recursion is substituted; ReLU, L = 1 "
        "(`latex_for('nngp', 'relu', hidden_layers=1)`):",
        "",
        f"$${_latex('nngp', 'relu', 1)}$$",
    ]
    return "\n".join(lines) + "\n"


def _fixedpoints_block() -> str:
    from verify import kernels_page

    return kernels_page.fixed_point_table_markdown().strip("\n") + "\n"


def _mean_field_formulas_block() -> str:
    """Paper 002: the two-timescale objective, its first variation, df and the label-noise
    expectations, printed from :func:`theory.odes.mean_field.latex_formulas`."""
    from theory.odes.mean_field import latex_formulas

    f = latex_formulas()
    labels = {"objective": "Objective (second layer at its ridge optimum)",
              "first_variation": "First variation (the particle drift is its gradient in w)",
              "degrees_of_freedom": "Degrees of freedom",
              "refit_expectation": "Label noise, second layer fitted on y + eps, loss on y",
              "naive_expectation": "Label noise added inside G"}
    lines = []
    for key, label in labels.items():
        lines += [f"{label} (`latex_formulas()['{key}']`):", "", f"$${f[key]}$$", ""]
    return "\n".join(lines)


def generated_blocks(paper: Paper) -> dict[str, str]:
    """The content of every generated block of a page except ``last-result``."""
    blocks = {"claims": _claims_block(paper)}
    if paper.key == "kernels":
        blocks["formulas"] = _formulas_block()
        blocks["fixedpoints"] = _fixedpoints_block()
    if paper.key == "002":
        blocks["formulas"] = _mean_field_formulas_block()
    return blocks


def render(text: str, blocks: dict[str, str]) -> str:
    """Replace the body of each named block in ``text``; a block named in
    ``blocks`` but missing from the text is a ValueError (the page lost its markers)."""
    found = set()

    def replace(match):
        name = match.group("name")
        if name not in blocks:
            return match.group(0)
        found.add(name)
        return f"{BEGIN.format(name=name)}\n{blocks[name]}{END}"

    out = _BLOCK.sub(replace, text)
    missing = set(blocks) - found
    if missing:
        raise ValueError(f"page lacks the generated block(s) {sorted(missing)}; restore the "
                         f"markers '{BEGIN.format(name='<name>')}' ... '{END}'")
    return out


def _block(name: str, body: str) -> str:
    return f"{BEGIN.format(name=name)}\n{body}{END}\n"


def _template(paper: Paper) -> str:
    """A new page: prose plus empty generated blocks (filled by :func:`render`)."""
    if paper.key == "kernels":
        return _KERNELS_TEMPLATE.format(
            claims=_block("claims", ""), formulas=_block("formulas", ""),
            fixedpoints=_block("fixedpoints", ""),
            last=_block("last-result",
                        "_Not run yet: `python -m verify --update-papers K1 K2`._\n"),
        )
    return (
        f"# {paper.title}\n\n"
        f"{paper.authors}. arXiv:{paper.arxiv}, <https://arxiv.org/abs/{paper.arxiv}>.\n\n"
        f"## Summary\n\n{paper.summary}\n\n"
        f"## Claims checked here\n\n"
        f"From the claims catalog of the project's design; each implemented claim is a module "
        f"in `verify/` with a quick and a full size, a figure and a JSON record, and a test "
        f"shows it FAILs on a deliberately broken input.\n\n"
        f"{_block('claims', '')}\n"
        f"## Last result\n\n"
        f"{_block('last-result', '_Not run yet._' + chr(10))}"
    )


_KERNELS_TEMPLATE = """# Kernels and depth

Background results every other page builds on: the dual kernels of the
activation registry, the NNGP/NTK of deep fully connected networks, kernel
fixed points and the edge of chaos. (Neal 1996; Williams 1997; Cho & Saul 2009;
Lee et al. 2018, arXiv:1711.00165; Jacot et al. 2018, arXiv:1806.07572; Poole
et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017, arXiv:1611.01232;
Tsuchida et al. 2021, "Avoiding kernel fixed points".)

## Conventions

Depth L = number of hidden layers; NTK parameterization; inputs $x \\in \\mathbb{{R}}^d$.
With $(u, v)$ centred Gaussian, $\\mathrm{{Var}}\\,u = q_{{11}}$, $\\mathrm{{Var}}\\,v = q_{{22}}$,
$\\mathrm{{Cov}}(u, v) = q_{{12}}$:

$$\\Sigma^1(x,x') = \\sigma_w^2 \\frac{{\\langle x, x'\\rangle}}{{d}} + \\sigma_b^2, \\qquad
\\Sigma^{{l+1}} = \\sigma_w^2\\, \\mathbb{{E}}[\\sigma(u)\\sigma(v)] + \\sigma_b^2, \\qquad
\\dot\\Sigma^{{l+1}} = \\sigma_w^2\\, \\mathbb{{E}}[\\sigma'(u)\\sigma'(v)],$$

$$\\Theta^1 = \\Sigma^1, \\qquad
\\Theta^{{l+1}} = \\Sigma^{{l+1}} + \\dot\\Sigma^{{l+1}}\\,\\Theta^l,$$

with $(q_{{11}}, q_{{12}}, q_{{22}}) = (\\Sigma^l(x,x), \\Sigma^l(x,x'), \\Sigma^l(x',x'))$. The
network's output kernels are $\\Sigma^{{L+1}}$ (NNGP) and $\\Theta^{{L+1}}$ (NTK).

## Claims

{claims}
## Dual kernels of the registry

Generated from `theory/latex.py` (`python -m verify.papers` regenerates this
block; a test checks it is current).

{formulas}
## Fixed points

{fixedpoints}
## Last result

{last}"""


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def regenerate(papers_dir: Path | str = PAPERS_DIR, *, write: bool = True) -> dict[Path, str]:
    """Regenerate every page's generated blocks; returns ``{path: new text}`` for
    the pages whose text changes (written unless ``write=False``). Writing also
    refreshes the figures the fixed-point block links to
    (``verify.kernels_page.write_figures`` into ``papers/figures``)."""
    papers_dir = Path(papers_dir)
    if write:
        from verify import kernels_page

        kernels_page.write_figures(str(papers_dir / "figures"))
    changed = {}
    for paper in PAPERS.values():
        path = papers_dir / paper.filename
        old = path.read_text(encoding="utf-8") if path.exists() else None
        new = render(old if old is not None else _template(paper), generated_blocks(paper))
        if new != old:
            changed[path] = new
            if write:
                _atomic_write(path, new)
    return changed


def stale_pages(papers_dir: Path | str = PAPERS_DIR) -> list[Path]:
    """Pages whose generated blocks are not current (missing pages included)."""
    return sorted(regenerate(papers_dir, write=False))


# ---------------------------------------------------------------------------
# last results (python -m verify --update-papers)
# ---------------------------------------------------------------------------

_ROW = re.compile(r"^\| (?P<claim>[A-Za-z0-9_-]+) \|")


def _result_row(record: dict) -> str:
    summary = str(record.get("summary", "")).replace("|", "\\|")
    when = str(record.get("finished_at", ""))[:10]
    path = record.get("record_path", "")
    try:
        path = os.path.relpath(path, PAPERS_DIR.parent)
    except ValueError:
        pass
    if path.startswith(".."):  # written outside the repository: its run directory's part
        path = "(--out) " + "/".join(Path(path).parts[-3:])
    return (f"| {record['claim']} | **{record['verdict']}** | {summary} | {record['mode']} | "
            f"{record['seed']} | {record['elapsed_s']:.1f} | {when} | `{path}` |")


def update_last_results(records: list[dict], papers_dir: Path | str = PAPERS_DIR) -> list[Path]:
    """Rewrite the ``last-result`` block of each page that has a claim in
    ``records``: rows of the claims just run are replaced, rows of other claims
    kept. Returns the pages written."""
    papers_dir = Path(papers_dir)
    if not papers_dir.is_dir():
        raise ValueError(f"papers directory {papers_dir} not found (--update-papers works in a "
                         "source checkout)")
    by_paper: dict[str, dict[str, dict]] = {}
    for r in records:
        by_paper.setdefault(r["paper"], {})[r["claim"]] = r
    written = []
    header = ("| claim | verdict | measured vs expected | mode | seed | seconds | date | "
              "record |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for key, new in by_paper.items():
        paper = PAPERS.get(key)
        if paper is None:
            continue
        path = papers_dir / paper.filename
        text = path.read_text(encoding="utf-8") if path.exists() else render(
            _template(paper), generated_blocks(paper))
        match = next((m for m in _BLOCK.finditer(text) if m.group("name") == "last-result"), None)
        old_rows = {}
        if match:
            for line in match.group("body").splitlines():
                m = _ROW.match(line)
                if m and m.group("claim") not in ("claim", "---"):
                    old_rows[m.group("claim")] = line
        rows = {**old_rows, **{cid: _result_row(r) for cid, r in new.items()}}
        known = [c.id for c in _paper_claims(key)]
        order = known + sorted(set(rows) - set(known))
        body = "\n".join([header] + [rows[c] for c in order if c in rows]) + "\n"
        if match is None:
            text = text.rstrip("\n") + "\n\n## Last result\n\n" + _block("last-result", body)
        else:
            text = render(text, {"last-result": body})
        _atomic_write(path, text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify.papers",
                                     description="Regenerate the generated blocks of papers/*.md")
    parser.add_argument("--check", action="store_true",
                        help="only check: exit 1 and list the pages that are not current")
    parser.add_argument("--dir", default=str(PAPERS_DIR), help="papers directory")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(args.dir)
        for path in stale:
            print(f"not current: {path}")
        return 1 if stale else 0
    for path in regenerate(args.dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
