"""Tables and figures that read: column widths, captions, the ward table, legible figures.

The browser and the PDF themselves are checked in test_report_in_browser.py; these tests check
what the report's HTML is built from, on the shipped data's results (built in process).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from helpers import config
from helpers.methods.disclosure import OTHER
from helpers.pipeline import stages
from helpers.report import figures, layout, tables
from helpers.report.render import notebook_to_html


@pytest.fixture(scope="module")
def results(reference_results) -> dict:
    plain = json.loads(json.dumps(reference_results))
    tables.use_parameters(plain["provenance"]["parameters"])
    return plain


@pytest.fixture(scope="module")
def report_notebook_html() -> str:
    """The report of the committed report notebook (the reference run's outputs)."""
    return notebook_to_html(config.NOTEBOOKS_DIR / "06_report.ipynb")


@pytest.mark.parametrize("text", ["0.783 (0.606 to 1.011)", "54/125 (43.2%)", "−12.0% (−23.9% to −0.4%)", "p < 0.001",
                                  "not estimable", "<5", "£147 to unbounded", "1,487", "−72 to 2,694", "2022-10",
                                  "−12.5% (no lower limit to 64.3%)", "suppressed"])
def test_cells_of_numbers_are_set_on_one_line(text):
    assert layout.is_numeric(text)


@pytest.mark.parametrize("text", ["125 SRC, 125 BAU", "chi-squared 21.4 on 20 df", "Kingston", "KIN-07", "",
                                  "pre-specified", "data/external/population_figures.yml"])
def test_cells_of_words_may_wrap(text):
    assert not layout.is_numeric(text)


def _columns(frame: pd.DataFrame):
    header = [str(c) for c in frame.columns]
    rows = [[tables._cell_text(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return header, rows, layout.column_layout(header, rows)


def test_the_main_results_fit_a_portrait_page_with_every_number_on_one_line(results):
    for frame in (tables.outcome_table(results["outcomes"], 0.95), tables.p_value_table(results["outcomes"])):
        header, rows, fitted = _columns(frame)
        assert fitted is not None and not fitted.landscape and fitted.width <= layout.PORTRAIT_EM + 0.05
        assert fitted.numeric == (False,) + (True,) * (len(header) - 1)
        for column, (width, numeric) in enumerate(zip(fitted.widths, fitted.numeric)):
            cells = [row[column] for row in rows]
            needed = max(layout.text_width(cell) if numeric else layout.longest_word(cell) for cell in cells)
            assert width >= needed + 1.2, (header[column], width, needed)


def test_a_table_too_wide_for_a_portrait_page_is_set_landscape():
    wide = pd.DataFrame([[f"{i}.123 (0.456 to 7.891)" for i in range(5)]], columns=[f"Estimate {i}" for i in range(5)])
    assert layout.column_layout(*_columns(wide)[:2]).landscape
    html = tables.table_html(wide, "Table 1. Five estimates")
    assert 'class="data landscape short"' in html and html.count('<td class="num">') == 5


def test_a_table_too_wide_even_for_a_landscape_page_is_laid_out_by_the_browser():
    wider = pd.DataFrame([["0.123456789 (0.456789 to 7.891234)"] * 9], columns=list("abcdefghi"))
    assert layout.column_layout(*_columns(wider)[:2]) is None
    assert 'class="data short unfitted"' in tables.table_html(wider)


def test_a_table_without_columns_leaves_its_caption_the_pages_width():
    assert layout.column_layout([], []) is None
    assert 'class="data short unfitted"' in tables.table_html(pd.DataFrame(), "Table 4. Nothing to show")


def test_short_columns_keep_their_line_and_long_ones_share_the_rest():
    frame = pd.DataFrame({"Item": ["Parameter: economics.hourly_cost_pcso"],
                          "Value": ["a long explanation " * 12]})
    _, _, fitted = _columns(frame)
    assert fitted.width == pytest.approx(layout.PORTRAIT_EM, abs=0.05)
    assert fitted.widths[0] >= layout.text_width(frame["Item"][0]) + layout.CELL_PADDING_EM - 0.01


def test_names_and_paths_wrap_at_their_joints_and_hashes_anywhere():
    sha256 = "50c5cdf0a07cf23661fbc63747c22fd125ad1e9551eaf5f0b1cc7a771d825418"
    assert layout.with_wrap_points(f"data/external/population_figures.yml {sha256} 0.5") == (
        f"data/<wbr>external/<wbr>population_<wbr>figures.<wbr>yml {sha256} 0.5")
    assert layout.longest_word(sha256) == pytest.approx(layout.text_width("0" * 16))
    html = tables.table_html(pd.DataFrame({"Item": ["Extract SHA-256"], "Value": [sha256]}))
    assert f'<td class="hash">{sha256}</td>' in html  # whole, so that it reads (and is sanitised) as one


def test_column_widths_do_not_change_with_a_hash_only_with_its_length():
    frame = lambda commit: pd.DataFrame({"Item": ["Git commit", "Note"], "Value": [commit, "a note " * 20]})
    assert tables.table_html(frame("f" * 40)) != tables.table_html(frame("0" * 40))
    widths = lambda html: re.findall(r"--w: [\d.]+em", html)
    assert widths(tables.table_html(frame("f" * 40))) == widths(tables.table_html(frame("0123456789" * 4)))


def test_table_html_names_its_columns_and_escapes_its_cells():
    frame = pd.DataFrame({"Ward": ["<b>KIN-07</b>"], "Reports": [1234], "Rate": [None]})
    html = tables.table_html(frame, "Table 3. Wards")
    assert "<caption>Table 3. Wards</caption>" in html and "&lt;b&gt;KIN-07&lt;/" in html and "<b>" not in html
    assert '<th scope="col" class="num">Reports</th>' in html and '<td class="num">1,234</td>' in html
    assert re.search(r'<col class="num" style="--w: [\d.]+em">', html) and "--table-width:" in html


def test_every_report_table_has_its_own_caption_and_table_1_is_the_analysis_plan(report_notebook_html):
    captions = re.findall(r"<caption>Table (\d+)\. (.*?)</caption>", report_notebook_html)
    headings = {re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h[23][^>]*>(.*?)</h[23]>", report_notebook_html)}
    assert [int(n) for n, _ in captions] == list(range(1, len(captions) + 1))
    assert report_notebook_html.count("<table") == len(captions)
    texts = [text for _, text in captions]
    assert len(set(texts)) == len(texts), "two tables share a caption"
    assert not headings & set(texts), "a caption copied from a heading"
    assert texts[0].startswith("The analysis plan")


CHART_TYPES = ("bar chart", "line chart", "histogram", "dot plot", "forest plot", "flow diagram", "chart of")


def test_figure_captions_and_alt_text_state_the_finding(report_notebook_html):
    found = re.findall(r'<img alt="([^"]*)"[^>]*>.*?<figcaption>Figure (\d+)\. (.*?)</figcaption>',
                       report_notebook_html, re.S)
    assert len(found) >= 7
    for alt, _, caption in found:
        assert alt == caption
        assert not caption.lower().startswith(CHART_TYPES) and "chart" not in caption.lower()
        assert re.search(r"\d", caption), caption  # a finding carries its figures


def test_every_figure_has_a_finding_on_the_shipped_data_and_on_an_empty_one(results):
    empty = json.loads(json.dumps(results))
    empty["compliance"].update(treatment_received_rate=None, by_month=[], contact_timing={"n": 0})
    empty["economics"], empty["national_scenario"] = None, None
    empty["allocation_audit"]["balance"] = []
    for name in tables.FINDINGS:
        for data in (results, empty):
            text = tables.finding(name, data)
            assert text and "None" not in text and "nan" not in text, (name, text)
    assert tables.finding("delivery_by_week", empty) == "No report was allocated to SRC, so there is no delivery to show"
    one_interval = json.loads(json.dumps(results))
    one_interval["extrapolation"]["prevented"].update(full_compliance=None, full_compliance_ci=[None, None])
    assert tables.finding("extrapolation", one_interval).endswith(
        f"interval {tables.interval(results['extrapolation']['prevented']['itt_ci'], tables.count)}); the interval includes zero")
    assert tables.finding("forest_plot", results).startswith(
        "Difference in risk with SRC as randomised, in percentage points (95% intervals): victim withdrew support "
        "for the investigation −12.0 (−23.9 to 0.4), and −15.0 if delivered to every victim")


def test_the_ward_table_shows_the_wards_published_alone_and_one_line_for_the_rest(results):
    wards = results["compliance"]["by_ward"]
    alone = [w for w in wards if w["group"] != OTHER["ward"]]
    rest = [w for w in wards if w not in alone]
    shown = tables.ward_table(wards)
    assert alone and rest
    assert list(shown["Ward"][:-1]) == [w["group"] for w in alone]
    assert list(shown["Borough"][:-1]) == [w["borough"] for w in alone]
    assert shown.iloc[-1].tolist() == ["every other ward (each too small to show alone)", "–",
                                       sum(w["allocated"] for w in rest), sum(w["received"] for w in rest),
                                       tables.pct(sum(w["received"] for w in rest) / sum(w["allocated"] for w in rest), 0)]


def test_the_combined_wards_of_every_borough_are_one_line_that_names_none():
    wards = [{"borough": "Kingston", "group": "KIN-01", "allocated": 7, "received": 5, "rate": 5 / 7},
             {"borough": "Kingston", "group": OTHER["ward"], "allocated": 6, "received": 3, "rate": 0.5},
             {"borough": OTHER["borough"], "group": OTHER["ward"], "allocated": 5, "received": 0, "rate": 0.0}]
    shown = tables.ward_table(wards)
    assert shown["Ward"].tolist() == ["KIN-01", "every other ward (each too small to show alone)"]
    assert shown.iloc[-1, 2:].tolist() == [11, 3, "27%"]
    assert tables.ward_table([]).empty


def _contrast(colour: str) -> float:
    """WCAG 2.1 contrast ratio of a colour against white."""
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def _texts(svg: str) -> list[tuple[float, str, str]]:
    """(font size in pt, fill, text) of every text of a matplotlib SVG (whose units are points); the
    lines of one text, which matplotlib writes as one <text> each, joined."""
    out = []
    for group in re.findall(r'<g id="text_\d+">(.*?)</g>', svg, re.S):
        lines = re.findall(r'<text[^>]*style="([^"]*)"[^>]*>(.*?)</text>', group, re.S)
        for style, _ in lines[:1]:
            size = float(re.search(r"font-size:\s*([\d.]+)px", style).group(1))
            fill = re.search(r"fill:\s*(#[0-9a-fA-F]{6})", style)
            out.append((size, fill.group(1) if fill else "#000000", " ".join(text for _, text in lines)))
    return out


def _print_scale(svg: str) -> float:
    """How much the PDF shrinks the figure: its width against the page's text width (504.6 pt)."""
    width = float(re.search(r'<svg[^>]*width="([\d.]+)pt"', svg).group(1))
    return min(1.0, 504.6 / width)


@pytest.fixture(scope="module")
def drawn(results, tmp_path_factory) -> Path:
    """The figures that results.json alone can draw, as the stages draw them."""
    folder = tmp_path_factory.mktemp("figures")
    rows = stages.forest_rows(pd.DataFrame(results["estimates"]), results["provenance"]["parameters"]["outcomes"])
    figures.forest_plot(rows, folder / "forest_plot.svg")
    figures.flow_diagram(results["flow"], folder / "flow_diagram.svg")
    balance = pd.DataFrame(results["allocation_audit"]["balance"])
    figures.balance_plot(balance, folder / "balance.svg")
    figures.extrapolation_plot(results["extrapolation"]["prevented"], folder / "extrapolation.svg",
                               population_label=results["extrapolation"]["population"])
    return folder


@pytest.mark.parametrize("name", ["forest_plot", "flow_diagram", "balance", "extrapolation"])
def test_figure_text_is_at_least_8_pt_in_print_and_has_a_version_for_phones(drawn, name):
    svg = (drawn / f"{name}.svg").read_text()
    scale = _print_scale(svg)
    assert min(size for size, _, _ in _texts(svg)) * scale >= figures.SMALLEST_TEXT - 0.01
    narrow = (drawn / f"{name}.narrow.svg").read_text()
    phone = (figures.PHONE_WIDTH + 2 * figures.PADDING) * 72
    assert float(re.search(r'<svg[^>]*width="([\d.]+)pt"', narrow).group(1)) <= phone + 0.5
    assert min(size for size, _, _ in _texts(narrow)) >= figures.SMALLEST_TEXT


def test_not_estimable_is_printed_with_its_reason_in_a_legible_grey(drawn, results):
    reasons = {row["reason"].removeprefix("not estimable: ") for row in results["estimates"]
               if row["estimate"] is None and row["estimand"].startswith("risk_difference")}
    assert reasons, "the shipped data have a figure the logistic model cannot give"
    shown = [(fill, " ".join(text.split())) for _, fill, text in _texts((drawn / "forest_plot.svg").read_text())
             if text.startswith("not estimable")]
    assert shown and all(_contrast(fill) >= 4.5 for fill, _ in shown)
    assert all(any(text.endswith(reason) for reason in reasons) for _, text in shown)
    assert _contrast(figures.PALETTE["text_muted"]) >= 4.5 and _contrast(figures.PALETTE["neutral"]) >= 4.5
