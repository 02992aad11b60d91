"""The report as section templates: each audience's list, the leadership report's promises, the notebook's size."""
from __future__ import annotations

import ast
import html
import re

import nbformat
import pytest

from helpers import config
from helpers.report.sections import SECTIONS, Report

from . import trials

JARGON = ("Beta(", "Holm", "CACE", "complier", "Wilson", "Anderson-Rubin", "Fisher", "one-sided", "p = ",
          "instrument", "Newcombe", "intention to treat")


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).replace("**", "").split())


@pytest.fixture(scope="module")
def shipped_like(tmp_path_factory) -> tuple[dict, object]:
    """A simulated trial with duplicate records (so cleaning warns), run through every stage in process."""
    folder = tmp_path_factory.mktemp("sections")
    results = trials.run_in_process(*trials.simulated(duplicate_records=2), folder, report=False)
    return results, folder / "out"


def test_every_section_of_every_audience_has_its_template_and_the_audiences_differ_in_their_lists():
    folder = config.TEMPLATES_DIR / "sections"
    for names in SECTIONS.values():
        for name in names:
            assert (folder / f"{name}.html.j2").is_file(), name
    assert SECTIONS["leadership"] != SECTIONS["full"]
    assert not {"flow", "audit", "effects", "warnings", "emmie"} & set(SECTIONS["leadership"])


def test_the_report_notebook_is_a_short_narrative_with_no_prose_in_code():
    notebook = nbformat.read(config.NOTEBOOKS_DIR / "06_report.ipynb", as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert sum(len(source) for source in code) <= 4000
    assert sum(cell.cell_type == "markdown" for cell in notebook.cells) >= 3
    source = "\n".join(code)
    assert "if full" not in source and "audience ==" not in source
    strings = [node.value for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert not [s for s in strings if len(s.split()) > 4], "prose in a Python string"
    assert any("parameters" in cell.metadata.get("tags", []) for cell in notebook.cells)


def test_the_leadership_report_keeps_its_promises(shipped_like):
    results, output_dir = shipped_like
    assert results["warnings"], "the trial must have cleaning warnings for this test to mean anything"
    page = "\n".join(Report(results, output_dir, audience="leadership").render_all())
    text = _text(page)
    page_one = _text(page.partition('<div class="page-one-end"></div>')[0])

    # a one-line recommendation, on page 1, before the decision page's paragraphs
    recommendations = re.findall(r"<p><strong>Recommendation\.</strong>([^<]*)</p>", page.replace("\n", " "))
    assert len(recommendations) == 1 and recommendations[0].count(". ") == 0, recommendations
    assert page_one.index("Recommendation.") < page_one.index("The answer.")
    # leads with SRC as delivered: the first yearly figure is the as-delivered one, and the first chart shows it
    prevented = results["extrapolation"]["prevented"]
    first = re.search(r"about ([\d,]+) (?:fewer|more) withdrawals a year", page_one)
    assert first and first.group(1) == f"{abs(prevented['itt']):,.0f}"
    assert page.index("<figure>") > page.index('<div class="page-one-end">')
    assert "as delivered in the trial" in _text(page[page.index("<figure>"):page.index("</figure>")])
    # the limitations that matter for the decision, with the trial's own figures
    assert 'id="limitations"' in page
    assert f"One trial of {results['flow']['randomised']:,} reports" in text
    rate = results["compliance"]["treatment_received_rate"]
    assert f"Only {rate:.0%} of victims allocated to SRC received it" in text
    # no statistical jargon
    for word in JARGON:
        assert word.lower() not in text.lower(), word
    # no cleaning warning, but their count and where they are
    for warning in results["warnings"]:
        assert warning not in text
    n = len(results["warnings"])
    assert f"{n} data-cleaning warning{'s' if n != 1 else ''}" in text
    assert "The full report" in text and "without --audience leadership" in text


def test_the_leadership_recommendation_follows_the_verdict(tmp_path):
    """A trial with no contact delivered gets no recommendation to keep or drop SRC."""
    results = trials.run_in_process(*trials.simulated(compliance=0.0, n_control=40, n_treatment=40), tmp_path,
                                    report=False)
    text = _text("\n".join(Report(results, tmp_path / "out", audience="leadership").render_all()))
    assert "Recommendation. Do not decide on this trial: " in text
    assert "Keep SRC" not in text and "points to fewer withdrawals" not in text
    assert "No effect of SRC can be estimated" in text
    for word in JARGON:
        assert word.lower() not in text.lower(), word


def test_text_from_the_input_files_is_escaped_in_every_section(shipped_like):
    results, output_dir = shipped_like
    hostile = "<img src=x onerror=alert(1)>"
    changed = {**results, "warnings": [f"{hostile}.csv: 2 duplicate records"],
               "allocation_audit": {**results["allocation_audit"], "flags": [hostile]}}
    for audience in SECTIONS:
        page = "\n".join(Report(changed, output_dir, audience=audience).render_all())
        assert "<img src=x" not in page, audience
    assert "&lt;img src=x onerror=alert(1)&gt;" in "\n".join(Report(changed, output_dir).render_all())
