"""The report's fixed content: the CONSORT checklist points at sections that exist, references are complete."""
from __future__ import annotations

import re

import nbformat

from helpers import config, presentation


def _anchors() -> set[str]:
    notebook = nbformat.read(config.NOTEBOOKS_DIR / "06_report.ipynb", as_version=4)
    source = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    return set(re.findall(r"show\.heading\('[^']*', '([^']+)'", source))


def test_every_consort_item_points_at_a_section_of_the_report_or_says_why_not():
    anchors = _anchors()
    items = presentation._template_yaml("consort.yml")
    assert len(items) >= 30
    for item in items:
        assert item.get("status") or item["where"] in anchors, item
        if item.get("status"):
            assert item["status"].startswith(("not applicable:", "not available:")), item


def test_every_work_cited_in_a_methods_key_has_a_full_reference():
    keys = {entry["key"] for entry in presentation._template_yaml("references.yml")}
    for cited in ("Newcombe 1998", "Wilson 1927", "Lin 2013", "Holm 1979", "Hopewell et al. 2025",
                  "Angrist, Imbens & Rubin 1996", "Anderson & Rubin 1949"):
        assert cited in keys, cited
    assert all(len(text) > 40 for text in presentation.references())
