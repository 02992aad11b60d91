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
          "instrument", "Newcombe", "intention to treat", "exclusion restriction", "runs test")


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
    assert "every parameter in the full report's appendix" in page_one and "Appendix" not in text


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


def test_the_leadership_summary_agrees_with_page_one_when_only_the_yearly_range_includes_none(shipped_like):
    """A risk difference clear of zero whose yearly figure's interval includes none: page 1 says the trial points
    to fewer withdrawals but does not settle it, and the summary must not call it evidence that SRC works."""
    import copy

    results, output_dir = shipped_like
    results = copy.deepcopy(results)
    results["outcomes"]["attrition"]["itt"]["risk_difference_ci"] = [-0.25, -0.01]
    results["extrapolation"]["prevented"]["itt_ci"] = [-20.0, 900.0]
    text = _text("\n".join(Report(results, output_dir, audience="leadership").render_all()))
    assert "points to fewer withdrawals but does not settle it" in text
    assert "the trial is evidence that SRC reduces withdrawal" not in text
    assert "does not settle the decision" in text
    results["extrapolation"]["prevented"]["itt_ci"] = [20.0, 900.0]  # both clear of zero: evidence
    text = _text("\n".join(Report(results, output_dir, audience="leadership").render_all()))
    assert "the trial is evidence that SRC reduces withdrawal" in text


def test_text_from_the_input_files_is_escaped_in_every_section(shipped_like):
    results, output_dir = shipped_like
    hostile = "<img src=x onerror=alert(1)>"
    link = "[King](javascript:alert(1))*ston*"
    changed = {**results, "warnings": [f"{hostile}.csv: 2 duplicate records"],
               "allocation_audit": {**results["allocation_audit"], "flags": [hostile]},
               "trial": {**results["trial"], "boroughs": [hostile, link, *results["trial"]["boroughs"][2:]]}}
    for audience in SECTIONS:
        page = "\n".join(Report(changed, output_dir, audience=audience).render_all())
        assert "<img src=x" not in page, audience
        assert "javascript:" not in page.replace(link, ""), audience
    abstract = Report(changed, output_dir).render("abstract")
    assert "<em>" not in abstract and "[King](javascript:alert(1))*ston*" in abstract  # shown as typed
    assert "&lt;img src=x onerror=alert(1)&gt;" in "\n".join(Report(changed, output_dir).render_all())


# The degenerate trials of the wording tests: each builds (allocation, extract).
DEGENERATE = {
    "no events": lambda: trials.simulated(control_withdrawal=0, complier_withdrawal=0, noncomplier_withdrawal=0),
    "all events": lambda: trials.simulated(control_withdrawal=1, complier_withdrawal=1, noncomplier_withdrawal=1,
                                           control_charge=0, treatment_charge=0, control_positive=0,
                                           treatment_positive=0),
    "no delivery": lambda: trials.simulated(compliance=0.0, n_control=60, n_treatment=60),
    "full delivery": lambda: trials.simulated(compliance=1.0),
    "one arm tiny": lambda: trials.simulated(n_control=3, n_treatment=120),
    "all open": lambda: (lambda a, e: (a, e.assign(**{"Outcome Code": "", "outcome_on": ""})))(*trials.simulated()),
}


@pytest.fixture(scope="module")
def degenerate(tmp_path_factory) -> dict:
    """Each degenerate trial: (full report HTML, leadership report HTML, results.json)."""
    reports = {}
    for name, build in DEGENERATE.items():
        folder = tmp_path_factory.mktemp(name.replace(" ", "_"))
        results = trials.run_in_process(*build(), folder, report=False)
        reports[name] = tuple("\n".join(Report(results, folder / "out", audience=audience).render_all())
                              for audience in ("full", "leadership")) + (results,)
    return reports


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_no_table_is_a_caption_without_rows_and_no_empty_chart_is_shown(degenerate, name):
    for page in degenerate[name][:2]:
        for table in re.findall(r"<table.*?</table>", page, re.S):
            assert "<tr>" in table.partition("<tbody>")[2], table[:300]
        for alt in re.findall(r'<img alt="([^"]*)"', page):
            assert "not estimable" not in alt, alt
        text = _text(page)
        if "The chart shows" in text:
            assert 'id="national"' in page and page.count("<figure>") >= 1
            national = page[page.index('id="national"'):]
            assert "<figure>" in national, "the chart is mentioned but not shown"


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_every_not_estimable_figure_carries_its_reason(degenerate, name):
    page, _, results = degenerate[name]
    text = _text(page)
    for outcome, entry in results["outcomes"].items():
        for key, reason in entry["notes"].items():
            assert _text(html.escape(reason)) in text, (outcome, key)
    for key, value in results["extrapolation"]["prevented"].items():
        if value is None and key in ("itt", "full_compliance"):
            label = {"itt": "SRC as delivered in the trial", "full_compliance": "SRC delivered to every victim"}[key]
            assert re.search(re.escape(label) + r": not estimable, because [^.]{10,}\.", text), key
    # an Anderson-Rubin set is never printed beside a complier effect that is not estimable
    table = page[page.index("Anderson-Rubin set</th>"):]
    table = table[:table.index("</table>")]
    for outcome, entry in results["outcomes"].items():
        if entry["cace"]["risk_difference"] is None:
            row = next(r for r in table.split("<tr>") if html.escape(trials_label(results, outcome)) in r)
            assert row.count("not estimable") >= 1 and "%" not in row, row


def trials_label(results: dict, outcome: str) -> str:
    from helpers.report import tables

    tables.use_parameters(results["provenance"]["parameters"])
    return tables.OUTCOME_LABELS[outcome]


def test_no_events_gives_even_odds_and_compares_the_real_withdrawal_rates(degenerate):
    page, leadership, results = degenerate["no events"]
    text = _text(page)
    assert results["outcomes"]["attrition"]["itt"]["bayesian"]["probability_of_reduction"] == pytest.approx(0.5)
    assert "more likely than not" not in text and "equally likely" in text
    assert "equally likely" in _text(leadership)
    # the transport paragraph compares the actual figures: 0% in the trial, the force's share
    force = results["extrapolation"]
    share = f"{force['withdrawals'] / force['hate_crimes']:.1%}"
    assert f"withdrew less often than the force as a whole (0.0% against {share})" in text
    assert "withdrew far more often" not in text and "more often than the force" not in text
    assert "Here the relative reduction is not estimable" in text
    assert "Recommendation. The trial gives no sign that SRC reduces withdrawal" in _text(leadership)


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_planning_phrases_follow_one_rule_for_every_outcome(degenerate, name):
    page, _, results = degenerate[name]
    summary = _text(page[page.index('id="summary"'):page.index('id="emmie"')])
    for outcome, entry in results["outcomes"].items():
        if outcome == "attrition":
            continue
        label = _text(html.escape(trials_label(results, outcome)))
        power = entry["power"]
        sentence = summary[summary.index(f"{label.split(' (')[0].lower()}"):] if label.split(" (")[0].lower() in \
            summary else summary
        if power["minimum_detectable_difference"] is None:
            assert "no control risk to plan a larger trial around" in sentence
        elif power["n_per_arm_for_target_power"] is None:
            assert "no trial of any size would be enough" in sentence


def test_no_delivery_has_no_weak_instrument_limitation_and_no_yearly_figure(degenerate):
    page, leadership, results = degenerate["no delivery"]
    limitations = _text(page[page.index('id="limitations"'):page.index('id="appendix"')])
    assert "instrument is weak" not in limitations and "complier effect assumes" not in limitations
    assert "No effect of SRC can be estimated" in limitations
    for text in (_text(page), _text(leadership)):
        assert not re.search(r"about [\d,]+ fewer withdrawals a year", text)
    assert "Neither the relative reduction nor the absolute difference is carried to the force" in _text(page)


@pytest.mark.parametrize("name", ["no delivery", "one arm tiny"])
def test_the_covariate_note_states_the_trials_own_size(degenerate, name):
    page, _, results = degenerate[name]
    text = _text(page)
    n = results["flow"]["randomised"]
    assert n != 250 and f"this trial randomised {n:,} reports" in text
    assert "250 reports" not in text


def test_open_investigations_limitation_gives_the_bounds_it_promises(degenerate):
    from helpers.report.decision import open_bounds
    from helpers.report.numbers import points

    page, leadership, results = degenerate["all open"]
    low, high = open_bounds(results["outcomes"]["attrition"]["itt"])
    limitations = _text(page[page.index('id="limitations"'):page.index('id="appendix"')])
    assert (f"the bounds show how far they could move it: however they end, the difference in withdrawal lies between "
            f"{points(low, signed=True)} and {points(high, signed=True)} percentage points") in limitations
    assert f"between {points(low, signed=True)} and {points(high, signed=True)}" in _text(leadership)


def test_full_delivery_has_no_incomplete_delivery_limitation(degenerate):
    page, leadership, results = degenerate["full delivery"]
    assert results["compliance"]["treatment_received_rate"] == 1
    assert "Delivery was incomplete" not in _text(page) and "Only 100%" not in _text(leadership)


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_the_leadership_report_stays_plain_on_every_degenerate_trial(degenerate, name):
    text = _text(degenerate[name][1])
    for word in JARGON:
        assert word.lower() not in text.lower(), word
    assert text.count("Recommendation.") == 1 and "The full report" in text


def test_a_run_into_a_folder_with_an_earlier_run_says_what_changed(shipped_like, tmp_path):
    import json

    results, output_dir = shipped_like
    (output_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")  # this run's, as written
    earlier = json.loads(json.dumps(results))
    earlier["outcomes"]["attrition"]["itt"]["p_value_exact"] = 0.5
    earlier["provenance"]["generated_at"] = "2024-01-02T03:04:05+00:00"
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps(earlier), encoding="utf-8")
    page = Report(results, output_dir, previous_results=previous).render("changes")
    text = _text(page)
    assert text.startswith("What changed since the last run The last run into this folder was made on "
                           "2024-01-02T03:04:05+00:00 by srceval")
    assert "read the same allocation file and the same extract file." in text
    assert re.search(r"\b1 of the \d+ headline figures changed\. Other figures that changed, by section of "
                     r"results\.json: none\.", text), text
    assert "The headline figures of the last run into this folder and of this run" in text
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert "cannot be compared with this run" in _text(Report(results, output_dir, previous_results=broken)
                                                       .render("changes"))
    assert Report(results, output_dir).render("changes") == ""


@pytest.mark.parametrize("audience", list(SECTIONS))
def test_synthetic_data_are_described_by_what_their_generator_took_from_the_published_trial(shipped_like, audience):
    """A generated trial's counts are invented: no limitation may say they reproduce the published trial."""
    import copy

    results, output_dir = shipped_like
    results = copy.deepcopy(results)
    origin = results["inputs"]["origin"]
    origin.update(synthetic=True, generator="srceval simulate", seed=11, published="nothing is taken from the published trial (a generated trial of the design recorded in "
                  "the manifest)", invented="every count and characteristic is invented")  # simulate with a design
    text = _text("\n".join(Report(results, output_dir, audience=audience).render_all()))
    assert "reproduce the published trial" not in text
    from helpers.inputs.provenance import PUBLISHED

    origin["published"] = PUBLISHED  # as the shipped extract's manifest says
    text = _text("\n".join(Report(results, output_dir, audience=audience).render_all()))
    assert "reproduce the published trial" in text


def test_a_force_interval_cut_to_its_limits_is_said_to_be(shipped_like):
    import copy

    results, output_dir = shipped_like
    results = copy.deepcopy(results)
    results["extrapolation"]["notes"]["itt_ci"] = ("interval cut to the limits of what the force's figures allow: at "
                                                   "most all 6,839 withdrawals prevented")
    text = _text(Report(results, output_dir).render("extrapolation"))
    assert "SRC as delivered in the trial: its interval cut to the limits of what the force's figures allow" in text


def test_an_adjusted_estimate_that_is_not_estimable_gives_its_reason(degenerate):
    full, _, results = degenerate["no events"]
    reasons = [row["reason"].removeprefix("not estimable: ") for row in results["estimates"]
               if row["estimand"].startswith("risk_difference_adjusted") and row["estimate"] is None]
    assert reasons
    for reason in reasons:
        assert f"not estimable: {html.escape(reason)}" in full or f"not estimable: {reason}" in full


def test_the_leadership_summary_says_a_blocked_difference_is_not_the_gap_between_the_shares(shipped_like):
    import copy

    results, output_dir = shipped_like
    results = copy.deepcopy(results)
    text = _text(Report(results, output_dir, audience="leadership").render("leadership_summary"))
    assert "not simply the gap between the two shares" not in text  # a completely randomised trial
    results["design"]["assignment"] = "blocked"
    text = _text(Report(results, output_dir, audience="leadership").render("leadership_summary"))
    assert "compared within each group the reports were randomised in, so it is not simply the gap" in text
