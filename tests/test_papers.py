"""papers/: generated blocks are current; last results are merged, not lost."""

from __future__ import annotations

import pytest

from verify import papers, registry


def test_committed_pages_are_current():
    stale = papers.stale_pages()
    assert not stale, (
        f"generated blocks out of date in {[str(p) for p in stale]}: "
        "run `python -m verify.papers` and commit papers/"
    )


def test_every_paper_has_a_page_with_its_catalog():
    for paper in papers.PAPERS.values():
        text = (papers.PAPERS_DIR / paper.filename).read_text(encoding="utf-8")
        assert text.startswith("# ")
        if paper.arxiv:
            assert f"https://arxiv.org/abs/{paper.arxiv}" in text
            assert paper.authors.split(",")[0] in text
        for claim in papers._paper_claims(paper.key):
            assert f"| {claim.id} |" in text


def test_statements_live_in_one_place():
    # every catalog claim is either implemented or planned, never both; each paper key
    # exists; the page shows the registry's statement verbatim
    implemented = [c.id for c in registry.CLAIMS]
    planned = [c.id for c in registry.PLANNED]
    assert len(set(implemented)) == len(implemented) and not set(implemented) & set(planned)
    for c in [*registry.CLAIMS, *registry.PLANNED]:
        assert c.paper in papers.PAPERS
        block = papers.generated_blocks(papers.PAPERS[c.paper])["claims"]
        assert f"| {c.id} | {c.statement} |" in block
    for c in registry.CLAIMS:
        assert c.detects and c.detects in papers.generated_blocks(papers.PAPERS[c.paper])[
            "claims"]


def test_status_is_honest():
    registered = {c.id for c in registry.CLAIMS}
    for paper in papers.PAPERS.values():
        block = papers.generated_blocks(paper)["claims"]
        for claim_id in (c.id for c in papers._paper_claims(paper.key)):
            (row,) = [r for r in block.splitlines() if r.startswith(f"| {claim_id} |")]
            if claim_id in registered:
                assert "implemented:" in row and "not yet" not in row
                assert "python -m verify" in block
            else:
                assert row.endswith("| not yet implemented |")


def test_render_replaces_only_named_blocks():
    text = ("intro\n<!-- BEGIN GENERATED: a -->\nold a\n<!-- END GENERATED -->\nmiddle\n"
            "<!-- BEGIN GENERATED: b -->\nold b\n<!-- END GENERATED -->\nend\n")
    out = papers.render(text, {"a": "new a\n"})
    assert "new a" in out and "old a" not in out and "old b" in out
    assert out.startswith("intro\n") and out.endswith("end\n")
    with pytest.raises(ValueError, match="lacks the generated block"):
        papers.render(text, {"c": "x\n"})


def test_update_last_results_merges(tmp_path):
    # a fresh page (the committed one carries whatever the last real run wrote)
    kernels = papers.PAPERS["kernels"]
    (tmp_path / "kernels.md").write_text(
        papers.render(papers._template(kernels), papers.generated_blocks(kernels)))

    def record(claim, verdict, summary):
        return {"claim": claim, "paper": "kernels", "verdict": verdict, "summary": summary,
                "mode": "quick", "seed": 0, "elapsed_s": 1.25, "finished_at": "2026-01-02T00:00",
                "record_path": f"runs/{claim}/abc/record.json"}

    papers.update_last_results([record("K1", "PASS", "z ok"), record("K2", "FAIL", "slope 0")],
                               tmp_path)
    papers.update_last_results([record("K2", "PASS", "slope -0.5 | fine")], tmp_path)
    text = (tmp_path / "kernels.md").read_text()
    block = text.split("<!-- BEGIN GENERATED: last-result -->")[1].split("<!-- END")[0]
    rows = [r for r in block.splitlines() if r.startswith("| K")]
    assert len(rows) == 2
    assert rows[0].startswith("| K1 | **PASS** | z ok |")  # kept from the first run
    assert rows[1].startswith("| K2 | **PASS** | slope -0.5 \\| fine |")  # replaced
    # the other generated blocks are untouched by a results update
    assert papers.render(text, papers.generated_blocks(kernels)) == text


def test_update_last_results_needs_papers_dir(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        papers.update_last_results([], tmp_path / "missing")


def test_result_row_names_records_outside_the_repository_by_run(tmp_path):
    record = {"claim": "H2", "verdict": "PASS", "summary": "s", "mode": "full", "seed": 0,
              "elapsed_s": 1.0, "finished_at": "2026-01-02T00:00",
              "record_path": str(tmp_path / "run-H2" / "H2" / "7f2f" / "record.json")}
    assert papers._result_row(record).endswith("| `(--out) H2/7f2f/record.json` |")
    record["record_path"] = str(papers.PAPERS_DIR.parent / "runs" / "H2" / "7f2f" / "record.json")
    assert papers._result_row(record).endswith("| `runs/H2/7f2f/record.json` |")
