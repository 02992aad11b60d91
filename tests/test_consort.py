"""The CONSORT 2025 checklist: every item in its real numbering, each answer a link to a section the report has
(with its page in the PDF), or an honest "not reported"; the title says "randomised".
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest
import yaml

from helpers import config
from helpers.report import consort, render
from helpers.report.numbers import points

from . import trials

# Hopewell et al. 2025 (BMJ 2025;389:e081123), Table 1: the items that come in parts.
PARTS = {"1": "ab", "5": "ab", "12": "ab", "16": "ab", "17": "ab", "20": "ab", "21": "abcd", "22": "ab", "23": "ab",
         "24": "ab"}


def _statement_items() -> list[str]:
    return [f"{n}{part}" for n in range(1, 31) for part in (PARTS.get(str(n)) or [""])]


def _report_anchors() -> set[str]:
    """The ids of the full report's headings, from its section templates, and the title's (in the page template)."""
    from helpers.report.sections import SECTIONS

    folder = config.TEMPLATES_DIR / "sections"
    templates = [folder / f"{name}.html.j2" for name in SECTIONS["full"]] + [config.TEMPLATES_DIR / "report.html.j2"]
    source = "\n".join(path.read_text(encoding="utf-8") for path in templates)
    return set(re.findall(r'<h\d id="([^"{]+)"', source))


def test_the_checklist_holds_every_2025_item_once_in_order_item_8_included():
    items = [item.item for item in consort.checklist().items]
    assert items == _statement_items()
    assert "8" in items and len({re.match(r"\d+", item).group() for item in items}) == 30


def test_a_checklist_without_an_item_or_with_two_answers_is_refused():
    raw = yaml.safe_load((config.TEMPLATES_DIR / "consort2025.yml").read_text(encoding="utf-8"))
    without_8 = {**raw, "items": [item for item in raw["items"] if item["item"] != "8"]}
    with pytest.raises(ValueError, match="2025 statement"):
        consort.Checklist.model_validate(without_8)
    with pytest.raises(ValueError, match="exactly one"):
        consort.Item(item="2", topic="t", asks="a", where=("flow",), answer="x", not_reported="y")


def test_every_link_points_at_a_section_the_report_shows():
    anchors = _report_anchors()
    for item in consort.checklist().items:
        for anchor in item.where:
            assert anchor in anchors, (item.item, anchor)
    assert {"abstract", "harms", "title"} <= anchors


def test_items_the_report_cannot_answer_say_why_and_link_nowhere(reference_results):
    rows = {row["item"]: row for row in consort.checklist_rows(reference_results)}
    for number in ("2", "5a", "5b", "8", "12b", "16b", "19", "23b", "24b"):
        assert rows[number]["answer"].startswith("Not reported: "), number
        assert not rows[number]["links"], number
    assert "registry" in rows["2"]["answer"] and "involvement" in rows["8"]["answer"]
    assert rows["20b"]["answer"].startswith("Not applicable: ")
    assert [anchor for anchor, _ in rows["1a"]["links"]] == ["title"]
    assert [anchor for anchor, _ in rows["15"]["links"]] == ["harms"]


def test_answers_written_from_the_run_state_its_dates_flow_and_design(reference_results):
    results = reference_results
    rows = {row["item"]: row["answer"] for row in consort.checklist_rows(results)}
    assert "follow-up: from each report to the last outcome recorded, on 14 June 2023" in rows["23a"]
    assert results["trial"]["last_outcome_on"] == "2023-06-14"
    flow = results["flow"]
    assert rows["22a"].startswith(f"{flow['randomised']} randomised: {flow['allocated']['treatment']} to SRC, of whom "
                                  f"{flow['received_src']['treatment']} received it")
    assert results["design"]["description"] in rows["9"] and "two-sided" in rows["9"]
    assert rows["21c"].endswith("In this run none was open.") and not sum(flow["outcome_open"].values())
    assert "(codes 14, 16)" in rows["14"] and "14 June 2023" in rows["14"]


@pytest.fixture(scope="module")
def open_trial_report(tmp_path_factory) -> tuple[str, dict]:
    """A trial with open investigations and no outcome dates, run through the report notebook in process: every
    HTML and Markdown output, and results.json."""
    import IPython.display
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from helpers.report import tables

    shown: list[str] = []

    def keep(obj, *args, **kwargs):
        data = getattr(obj, "data", obj)
        shown.append(markdown2html_mistune(data) if isinstance(obj, IPython.display.Markdown) else str(data))

    allocation, extract = trials.required_columns_only(*trials.simulated(seed=5, open_investigations=4))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IPython.display, "display", keep)
        patch.setattr(tables, "display", keep)
        results = trials.run_in_process(allocation, extract, tmp_path_factory.mktemp("trial"))
    return "\n".join(shown), results


def test_in_the_report_every_checklist_link_reaches_a_heading(open_trial_report):
    body, _ = open_trial_report
    ids = set(re.findall(r'id="([^"]+)"', body)) | {"title"}  # the title's heading is the page template's
    links = re.findall(r'<a class="consort-ref" href="#([^"]+)">', body)
    assert len(links) >= 40
    assert set(links) <= ids, set(links) - ids
    assert re.search(r"<caption>Table \d+\. " + re.escape(consort.CAPTION), body)


def test_in_the_report_missing_dates_and_open_investigations_are_stated(open_trial_report):
    body, results = open_trial_report
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    bounds = results["outcomes"]["attrition"]["itt"]["open_investigation_bounds"]
    reach = [bounds[key]["risk_difference"] for key in ("all_open_cases", "no_open_cases", "src_open_cases_only",
                                                        "bau_open_cases_only")]
    assert results["trial"]["last_outcome_on"] is None
    assert "follow-up: not reported, the extract holds no outcome dates" in text
    assert (f"In this run 4 were open (2 SRC, 2 business as usual); however they end, the risk difference of "
            f"withdrawal lies between {points(min(reach), signed=True)} and {points(max(reach), signed=True)}") in text


def test_the_title_says_randomised():
    assert "randomised controlled trial" in render.TITLE
    page = render.notebook_to_html(config.NOTEBOOKS_DIR / "06_report.ipynb")
    assert re.search(r"<title>[^<]*randomised controlled trial[^<]*</title>", page)
    assert re.search(r'<h1 id="title">[^<]*randomised controlled trial', page)


def test_the_pdf_gives_each_linked_section_its_page(reference_results, tmp_path):
    """Each section on a page of its own: the checklist's links read "(p. N)" with the page each heading is on."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils)")
    sections = consort.checklist().sections
    anchors = [anchor for anchor in sections if anchor != "title"]
    body = "".join(f'<h2 id="{anchor}">{sections[anchor]}</h2><div style="break-after: page"></div>'
                   for anchor in anchors)
    page = render._template().render(title=render.TITLE, subtitle="", toc=[], page_one="",
                                     body=body + consort.checklist_html(reference_results))
    pdf = render.html_to_pdf(page, tmp_path / "checklist.pdf")
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    checklist = text[text.index(consort.CAPTION):]
    for number, anchor in enumerate(anchors, start=1):  # the title and the first heading share page 1
        assert f"{sections[anchor]} (p. {number})" in checklist, anchor
    assert "Title (p. 1)" in checklist
