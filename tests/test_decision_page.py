"""Page 1, the decision page, read as a reader gets it and checked fact by fact against results.json.

The shipped data's page 1 is read from the PDF (pdftotext, page 1) laid out from the committed report
notebook; the degenerate trials' from the report notebook's outputs up to the end-of-page-1 marker,
with every stage run in this process (tests/trials.py). Each page 1 is also opened in Chromium, at desktop and phone
widths, and its rendered text checked the same way.
"""
from __future__ import annotations

import copy
import html
import re
import shutil
import subprocess

import pytest

from helpers import config
from helpers.report import decision, summary
from helpers.report.numbers import count, points
from helpers.report.render import PAGE_ONE_END, TITLE, body_to_html, html_to_pdf, notebook_to_html

from . import trials
from .test_report_in_browser import browser  # noqa: F401  (the Chromium fixture)

DEGENERATE = {
    "no withdrawals in either arm": dict(control_withdrawal=0, complier_withdrawal=0, noncomplier_withdrawal=0),
    "no delivery": dict(compliance=0.0),
    "open investigations": dict(open_investigations=30),
}

# What only a trial with an effect to carry may say.
YEARLY_FIGURE = r"about [\d,]+ (?:fewer|more) withdrawals a year"


def _flat(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).replace("**", "").split())


@pytest.fixture(scope="module")
def degenerate_pages(tmp_path_factory) -> dict:
    """Each degenerate trial run in process: (page 1 as text, the whole report as text, results.json, the report's
    sections as HTML)."""
    import IPython.display
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from helpers.report import tables

    pages = {}
    for name, design in DEGENERATE.items():
        shown: list[str] = []

        def keep(obj, *args, **kwargs):
            data = getattr(obj, "data", obj)
            shown.append(markdown2html_mistune(data) if isinstance(obj, IPython.display.Markdown) else str(data))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(IPython.display, "display", keep)
            patch.setattr(tables, "display", keep)
            results = trials.run_in_process(*trials.simulated(**design), tmp_path_factory.mktemp("trial"))
        body = "\n".join(shown)
        assert body.count(PAGE_ONE_END) == 1
        pages[name] = (_flat(body.partition(PAGE_ONE_END)[0]), _flat(body), results, body)
    return pages


@pytest.fixture(scope="module")
def shipped_page(tmp_path_factory) -> str:
    """Page 1 of the PDF laid out from the committed report notebook (the shipped data's reference run)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils)")
    folder = tmp_path_factory.mktemp("shipped-report")
    page = notebook_to_html(config.NOTEBOOKS_DIR / "06_report.ipynb")
    pdf = html_to_pdf(page, folder / "report.pdf")
    first = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    second = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(pdf), "-"], capture_output=True, text=True,
                            check=True).stdout
    assert "Contents" in second  # the contents list starts page 2
    return " ".join(first.split())


def expected_answer(results: dict) -> str:
    """The answer page 1 must give, decided here from the intervals, independently of the report's code."""
    identification, itt = results["identification"], results["outcomes"]["attrition"]["itt"]
    if identification["identified"] is False:
        return f"No answer from this trial: {identification['delivery']}"
    if itt["risk_difference"] is None:
        return "Not estimable"
    low, high = itt["risk_difference_ci"]
    prevented_low, prevented_high = results["extrapolation"]["prevented"]["itt_ci"]
    if low <= 0 <= high or (prevented_low is not None and prevented_low <= 0 <= prevented_high):
        return "Inconclusive"
    return "SRC reduces withdrawal" if high < 0 else "SRC increases withdrawal"


def _fewer(value: float) -> str:
    return f"{count(abs(value))} {'fewer' if value >= 0 else 'more'}"


def check_page_one(page: str, results: dict) -> None:
    """Every fact of page 1 against results.json, each flag present exactly when it applies."""
    attrition = results["outcomes"]["attrition"]
    itt, power, notes = attrition["itt"], attrition["power"], attrition["notes"]
    force = results["extrapolation"]
    prevented = force["prevented"]
    identified = results["identification"]["identified"] is not False

    assert "The decision. Whether the secondary reassurance contact (SRC) should be kept force-wide, on the " \
           "evidence of this trial." in page
    answer = page[page.index("The answer."):page.index("How sure.")]
    assert answer.startswith(f"The answer. {expected_answer(results)}"), answer

    # The as-delivered figure first, with its interval; then the figure if every victim received it.
    if identified and prevented["itt"] is not None:
        low, high = prevented["itt_ci"]
        delivered = (f"about {_fewer(prevented['itt'])} withdrawals a year as SRC is delivered (95% interval from "
                     f"{_fewer(low)} to {_fewer(high)}")
        assert delivered in answer, answer
        assert (", which includes none" in answer) == (low <= 0 <= high)
        if prevented["full_compliance"] is not None:
            full = f"about {_fewer(prevented['full_compliance'])} if every victim received it"
            assert full in answer and answer.index(delivered) < answer.index(full)
    else:
        assert not re.search(YEARLY_FIGURE, page), "a yearly figure the results do not support"
        if identified:
            reason = force["notes"]["itt"].removeprefix("not estimable: ")
            assert f"would prevent a year is not estimable ({reason})" in answer

    # How sure: the interval of the difference, and the probability only when it was estimated.
    if itt["risk_difference"] is not None:
        low, high = itt["risk_difference_ci"]
        assert f"(95% interval {points(low)} to {points(high)} percentage points)" in page
    probability = itt["bayesian"]["probability_of_reduction"]
    if probability is None or not identified:
        assert "probability" not in page
    else:
        assert f"the probability that it reduces withdrawal at all is {round(probability * 100)}%" in page
    assert "more likely than not" not in page and "very probably" not in page

    # What would settle it: the trial size, or one sentence why there is none.
    settle = page[page.index("What would settle it."):]
    needed = power["n_per_arm_for_target_power"]
    if needed is not None:
        assert f"A trial of {needed:,} reports per arm (about {2 * needed:,} in all) would detect a 20% relative " \
               f"reduction with {round(power['target_power'] * 100)}% power." in settle
        if answer.startswith("The answer. Inconclusive"):
            assert f"a trial of about {2 * needed:,} reports would settle it." in answer
    else:
        reason = (notes.get("power.n_per_arm_for_target_power") or notes["power"]).removeprefix("not estimable: ")
        assert f"What would settle it. No trial size can be planned from this trial: {reason}." in page
        assert "reports per arm" not in page and "would settle it." not in answer

    # The critical flags, each exactly when it applies.
    assert ("NO CONTRAST IN DELIVERY" in page) == (not identified)
    audit = results["allocation_audit"]
    breaches = audit["threshold_rule_breaches"] or 0
    assert ("ALLOCATION AUDIT:" in page) == bool(breaches or audit["flags"])
    assert (f"ALLOCATION AUDIT: {count(breaches)} of {count(results['flow']['randomised'])} reports are in the arm "
            "their random number does not give them" in page) == bool(breaches)
    for flag in audit["flags"]:
        assert " ".join(flag.split()) in page
    open_cases = results["flow"]["outcome_open"]
    total_open = open_cases["treatment"] + open_cases["control"]
    assert ("OPEN INVESTIGATIONS" in page) == bool(total_open)
    if total_open:
        assert (f"OPEN INVESTIGATIONS: {total_open} reports ({open_cases['treatment']} SRC, {open_cases['control']} "
                "business as usual) have no outcome yet and are not analysed") in page
        bounds = [scenario["risk_difference"] for key, scenario in itt["open_investigation_bounds"].items()
                  if key.endswith("_cases") or key.endswith("_only")]
        assert (f"lies between {points(min(bounds), signed=True)} and {points(max(bounds), signed=True)} "
                "percentage points") in page
    assert all(word == "not" for word in re.findall(r"(\w+) analysed", page)), "open investigations called analysed"
    assert ("SYNTHETIC DATA" in page) == bool(results["inputs"]["origin"]["synthetic"])

    # Provenance in one block: files with short hashes, the parameters file, the version.
    for role in ("allocation", "extract"):
        file = results["inputs"][role]["file"]
        assert re.search(re.escape(file) + r".{0,120}SHA-256 " + results["inputs"][f"{role}_sha256"][:12] + r"\b", page)
    assert "Parameters file: " in page
    command = results["provenance"].get("command")
    assert (f"Command, each path by its last part: {command}" if command else "Command: none recorded (the stage notebooks were executed "
            "directly, not by srceval)") in page
    assert f"srceval {results['provenance']['package_version']} (commit " in page
    assert "Contents" not in page


def test_the_shipped_datas_page_one_is_true_and_complete(shipped_page, reference_results):
    check_page_one(shipped_page, reference_results)
    assert "Inconclusive: about 1,487 fewer withdrawals a year as SRC is delivered (95% interval from 72 more to " \
           "2,694 fewer, which includes none), about 1,769 fewer if every victim received it" in shipped_page
    assert "a trial of about 642 reports would settle it." in shipped_page
    assert "Parameters file: config/parameters.yml (the project's default)" in shipped_page


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_a_degenerate_trials_page_one_is_true_and_complete(degenerate_pages, name):
    page, _, results, _ = degenerate_pages[name]
    check_page_one(page, results)


def test_page_one_of_each_degenerate_trial_raises_its_own_flag(degenerate_pages):
    """The checks above would pass on a page that never raises a flag: each trial must raise its own."""
    assert "NO CONTRAST IN DELIVERY: no victim received the contact (none of the 125 allocated to SRC)" \
        in degenerate_pages["no delivery"][0]
    assert "OPEN INVESTIGATIONS: 30 reports" in degenerate_pages["open investigations"][0]
    page, _, results, _ = degenerate_pages["no withdrawals in either arm"]
    assert results["outcomes"]["attrition"]["power"]["n_per_arm_for_target_power"] is None
    assert "Inconclusive: how many withdrawals SRC as delivered would prevent a year is not estimable" in page


def test_zero_events_give_no_direction_anywhere_in_the_report(degenerate_pages):
    _, report, results, _ = degenerate_pages["no withdrawals in either arm"]
    assert round(results["outcomes"]["attrition"]["itt"]["bayesian"]["probability_of_reduction"], 2) == 0.5
    assert "more likely than not" not in report and "more likely to increase" not in report
    assert "a reduction and an increase are equally likely" in report


def test_allocation_breaches_are_flagged_with_their_count(reference_results):
    results = copy.deepcopy(reference_results)
    assert decision.critical_flags(results)[0].startswith("SYNTHETIC DATA")  # the shipped data: synthetic only
    assert not [flag for flag in decision.critical_flags(results) if "ALLOCATION AUDIT" in flag]
    results["allocation_audit"]["threshold_rule_breaches"] = 57
    results["allocation_audit"]["flags"] = ["57 reports are in the arm their random number does not give them."]
    flags = decision.critical_flags(results)
    assert flags[0] == ("ALLOCATION AUDIT: 57 of 250 reports are in the arm their random number does not give them, "
                        "so the allocation was not kept as documented.")
    assert flags[1] == "ALLOCATION AUDIT: 57 reports are in the arm their random number does not give them."


def test_an_answer_never_outruns_the_interval_of_the_figure_it_leads_with(reference_results):
    """A risk difference clear of zero with a yearly figure whose interval includes none is still inconclusive."""
    results = copy.deepcopy(reference_results)
    itt = results["outcomes"]["attrition"]["itt"]
    itt["risk_difference_ci"] = [-0.239, -0.004]
    assert summary.verdict(itt) == "benefit"
    assert summary.bottom_line(results).startswith(
        "**The decision.** Whether the secondary reassurance contact (SRC) should be kept force-wide")
    assert "**The answer.** Inconclusive: about 1,487 fewer" in summary.bottom_line(results)
    results["extrapolation"]["prevented"]["itt_ci"] = [100.0, 2694.0]
    assert "**The answer.** SRC reduces withdrawal: about 1,487 fewer" in summary.bottom_line(results)
    assert "would settle it" not in summary.bottom_line(results).split("**How sure.**")[0]


@pytest.mark.parametrize("width", [1280, 400])
@pytest.mark.parametrize("name", ["shipped data", *DEGENERATE])
def test_page_one_read_in_a_browser_states_the_facts_of_results_json(browser, degenerate_pages, reference_results,  # noqa: F811
                                                                     tmp_path, name, width):
    """Page 1 as a reader sees it on a screen (Chromium's rendered text, desktop and phone widths), fact by fact."""
    if name == "shipped data":
        page, results = notebook_to_html(config.NOTEBOOKS_DIR / "06_report.ipynb"), reference_results
    else:
        _, _, results, body = degenerate_pages[name]
        page = body_to_html(body)
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    tab = browser.new_page(viewport={"width": width, "height": 900})
    tab.goto(path.as_uri())
    shown = tab.evaluate("document.body.innerText")
    tab.close()
    page_one = " ".join(shown.partition("Contents")[0].split())  # the contents list opens page 2
    assert page_one.startswith(render_title := " ".join(html.unescape(TITLE).split()))
    check_page_one(page_one[len(render_title):], results)
