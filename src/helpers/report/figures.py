"""The report's figures: plain titles and axis labels, a colour-blind-safe palette.

Each function draws one figure twice, at the width of the PDF's text (7 inches) and at the width
of a phone's screen (4 inches, 400 px less the margins), with the same text sizes, so that the text is as
legible on a phone as on paper; it saves both under the run's figures folder (the phone's as
``<name>.narrow.svg``, :func:`narrow_path`) and returns the page's, so a notebook can show it and
the report can embed both. The report's figures are SVG, with their text as text: sharp at any
size, a fifth of the bytes of a 200 dpi PNG, and laid out in the PDF as fast. Text is never
smaller than 8 pt at print size.
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt  # the backend is the caller's: inline in JupyterLab, Agg when headless
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from helpers.report import numbers
from helpers.report.numbers import count

# Okabe & Ito (2008): distinguishable with every common form of colour blindness. "neutral" and
# "text_muted" are the darkest greys that still read as grey: 4.5:1 against white or more (WCAG
# 2.1, 1.4.3), so that text and the marks of the biased estimates stay legible.
PALETTE = {"src": "#0072B2", "bau": "#E69F00", "neutral": "#767676", "accent": "#009E73", "warn": "#D55E00",
           "text_muted": "#4D4D4D"}
DPI = 200  # sharp in print: the PDF shows figures at about 16 cm wide
# Widths in inches, with the margin _save adds (PADDING on each side): the PDF's text width (178 mm,
# 7 inches), so that a figure is printed at its own size, and a phone's screen (400 px at 96 px an
# inch, less the page's margins).
PADDING = 0.04
PAGE_WIDTH = 7.0 - 2 * PADDING
PHONE_WIDTH = 4.0
SMALLEST_TEXT = 8  # pt, at print size

plt.rcParams.update({
    "figure.dpi": DPI, "savefig.dpi": DPI, "font.size": 10, "axes.titlesize": 11,
    "axes.spines.top": False, "axes.spines.right": False,
})


# Axis numbers as the text writes them: thousands separators and a true minus sign.
COUNT_FORMAT = FuncFormatter(lambda value, _: count(value))


# The same figure gives the same file: no date, and the SVG's internal ids from a fixed salt.
METADATA = {".svg": {"Date": None, "Creator": None}, ".png": {"Software": None}}


def narrow_path(path: Path) -> Path:
    """Where the phone's version of a figure is saved: ``forest_plot.svg`` -> ``forest_plot.narrow.svg``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.narrow{path.suffix}")


def _save(fig, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context({"svg.hashsalt": "srceval", "svg.fonttype": "none"}):
        fig.savefig(path, bbox_inches="tight", pad_inches=PADDING, metadata=METADATA.get(Path(path).suffix, {}))
    plt.close(fig)
    return fig


def _save_both(path: Path, draw: Callable[[float], object]):
    """Draw a figure at the page's width and at a phone's, save both, and return the page's."""
    _save(draw(PHONE_WIDTH), narrow_path(path))
    return _save(draw(PAGE_WIDTH), Path(path))


def _fit(text: str, width: float, size: float = 10) -> str:
    """Text wrapped to lines that fit ``width`` inches at ``size`` points (an average glyph is 0.6 em)."""
    return textwrap.fill(text, width=max(12, int(width * 72 / (0.6 * size))))


def _title(ax, text: str, width: float) -> None:
    """The figure's title, flush with its left edge and wrapped to its width (never past its edge)."""
    ax.figure.suptitle(_fit(text, width * 0.95, 11), x=0.01, ha="left", fontsize=11)


def _axis_label(text: str, width: float) -> str:
    """An x-axis label wrapped to the axes, which leave the y labels about a third of the width."""
    return _fit(text, width * 0.6)


def flow_diagram(flow: dict, path: Path):
    """CONSORT flow diagram: assessed, excluded, randomised, allocated, received, analysed."""
    return _save_both(path, lambda width: _flow_diagram(flow, width))


def _flow_diagram(flow: dict, width: float):
    narrow = width < PAGE_WIDTH
    fig, ax = plt.subplots(figsize=(width, 7.4 if narrow else 6.2))
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    size = 8.5 if narrow else 9
    trunk, side = (3.0, 7.6) if narrow else (4.8, 8.0)
    line = 26 if narrow else 40  # characters a line, so that a box fits its column

    def box(x, y, lines, fontsize=size):
        text = "\n".join(textwrap.fill(part, line) for part in lines)
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize,
                bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": "#333333"})

    def arrow(x1, y1, x2, y2):
        ax.annotate("", xy=(x2, y2), xytext=(x1, y1), arrowprops={"arrowstyle": "->", "color": "#333333"})

    reasons = [f"{n} {reason.split(':')[0]}" for reason, n in flow.get("exclusion_reasons", {}).items()]
    box(trunk, 9.3, ["Hate-flagged records assessed", f"n = {flow['assessed']}"])
    box(side, 8.1, [f"Excluded before randomisation: {flow['excluded_before_randomisation']}", *reasons],
        fontsize=max(SMALLEST_TEXT, size - 1))
    arrow(trunk, 8.9, trunk, 7.2)
    arrow(trunk, 8.1, side - (2.0 if narrow else 1.8), 8.1)
    box(trunk, 6.8, ["Randomised", f"n = {flow['randomised']}"])
    arms = (2.5, 7.5) if narrow else (2.6, 7.4)
    for x, arm, label in ((arms[0], "treatment", "SRC"), (arms[1], "control", "business as usual")):
        arrow(trunk, 6.4, x, 5.5)
        allocated, received = flow["allocated"][arm], flow["received_src"][arm]
        box(x, 4.7, [f"Allocated to {label}", f"n = {allocated}", f"received the contact: {received}",
                     f"did not: {allocated - received}"])
        arrow(x, 3.9, x, 2.9)
        box(x, 2.4, [f"Outcome recorded: {flow['outcome_recorded'][arm]}",
                     f"investigation open: {flow.get('outcome_open', {}).get(arm, 0)}"])
        arrow(x, 1.9, x, 1.2)
        box(x, 0.8, ["Analysed (intention to treat)", f"n = {flow['analysed'][arm]}"])
    _title(ax, "Participant flow (CONSORT)", width)
    return fig


def balance_plot(balance: pd.DataFrame, path: Path, *, large: float = 0.25):
    """Standardised difference of every baseline characteristic between the arms."""
    return _save_both(path, lambda width: _balance_plot(balance, width, large))


def _balance_plot(balance: pd.DataFrame, width: float, large: float):
    narrow = width < PAGE_WIDTH
    table = balance.iloc[::-1]
    labels = [f"{name}: {level}" for name, level in zip(table["covariate"], table["level"])]
    if narrow:  # the labels take two lines, so that the plot keeps half the width
        labels = [textwrap.fill(label, 20) for label in labels]
    row = 0.34 if narrow else 0.22
    fig, ax = plt.subplots(figsize=(width, row * len(table) + 1.6), layout="constrained")
    ax.axvline(0, color="#333333", linewidth=0.8)
    # Austin's (2009) rule of thumb, 0.1, and the wider line the audit lists, since with about 125
    # reports an arm chance alone often passes 0.1.
    for edge, style, label in ((0.1, ":", "±0.1 (Austin 2009)"), (large, "--", f"±{large:g} (listed by the audit)")):
        for sign in (-1, 1):
            ax.axvline(sign * edge, color=PALETTE["neutral"], linestyle=style, linewidth=0.8,
                       label=label if sign == 1 else None)
    ax.scatter(table["standardised_difference"], range(len(table)), color=PALETTE["src"], s=18, zorder=3)
    fig.legend(frameon=False, fontsize=SMALLEST_TEXT, loc="outside lower center", ncol=1 if narrow else 2)
    ax.set_yticks(range(len(table)), labels, fontsize=SMALLEST_TEXT + (0 if narrow else 0.5))
    ax.set_xlabel(_axis_label("Standardised difference (SRC minus business as usual, in standard deviations)", width))
    _title(ax, "Baseline balance between the arms", width)
    return fig


def delivery_over_time(data: pd.DataFrame, path: Path, *, threshold: int = 5, months: pd.Series | None = None):
    """Share of SRC-arm reports that received the contact, by week reported.

    Weeks whose SRC reports, or those of them reached or not, would be fewer than ``threshold``
    are merged with a neighbour (disclosure control: a bar is a rate over its reports), within the
    published months of the delivery table (``months``, each report's), and a bar spans the days it covers.
    """
    from helpers.methods import disclosure

    days = data["reported_on"]
    weeks = days.dt.to_period("W-SUN").dt.start_time
    if months is not None:  # a week split at a month's edge: each part starts where its month's reports do
        weeks = pd.Series(np.maximum(weeks.to_numpy(), days.groupby(months.to_numpy()).transform("min").to_numpy()),
                          index=days.index)
    runs = disclosure.group_ordered(weeks, disclosure.report_cells(data), threshold, ("SRC",) + disclosure.DELIVERY,
                                    lambda first, last: f"{first.date()}/{last.date()}", within=months)
    src = data["assigned"] == 1
    periods = data.loc[src, "received"].groupby(runs[src].to_numpy()).mean()
    overall = data.loc[src, "received"].mean() * 100
    return _save_both(path, lambda width: _delivery_over_time(periods, overall, width))


def _delivery_over_time(periods: pd.Series, overall: float, width: float):
    fig, ax = plt.subplots(figsize=(width, 3.4), layout="constrained")
    for label, share in periods.items():
        first, last = (pd.Timestamp(part) for part in label.split("/"))
        ax.bar(first, share * 100, width=(last - first).days + 5, align="edge", color=PALETTE["src"],
               label="share contacted" if label == periods.index[0] else None)
    ax.axhline(overall, color=PALETTE["warn"], linestyle="--", label=f"whole trial: {overall:.0f}%")
    ax.set_ylabel("Received the contact (%)")
    ax.set_xlabel(_axis_label("Week the crime was reported (bars: share of that week's SRC reports; weeks with few "
                              "reports combined)", width))
    _title(ax, "Delivery of the contact in the SRC arm, week by week", width)
    # In a band above 100%, which no bar reaches, so that the legend never covers one.
    ax.set_ylim(0, 122)
    ax.set_yticks(range(0, 101, 20))
    ax.legend(frameon=False, loc="upper right", ncol=2, fontsize=SMALLEST_TEXT + 0.5)
    ax.tick_params(axis="x", labelrotation=45 if width < PAGE_WIDTH else 30)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    return fig


def contact_timing_plot(data: pd.DataFrame, path: Path, *, threshold: int = 5):
    """Distribution of days from report to contact, in bins of 7 days; a bin of fewer than ``threshold``
    contacts is merged with a neighbour (disclosure control), each bar's height the contacts it holds."""
    from helpers.methods import disclosure

    contacted = data[(data["received"] == 1) & data["days_report_to_contact"].notna()]
    days = contacted["days_report_to_contact"]
    runs = None
    if len(days):
        bins = ((days - days.min()) // 7).astype(int)
        runs = disclosure.group_ordered(bins, disclosure.report_cells(contacted), threshold, ("contacted",),
                                        lambda first, last: f"{first}/{last}")
    return _save_both(path, lambda width: _contact_timing_plot(days, runs, width))


def _contact_timing_plot(days: pd.Series, runs: pd.Series | None, width: float):
    fig, ax = plt.subplots(figsize=(width, 3), layout="constrained")
    if len(days):
        start = days.min()
        for label, count in runs.value_counts().items():
            first, last = (int(part) for part in label.split("/"))
            ax.bar(start + 7 * first, count, width=7 * (last - first + 1), align="edge", color=PALETTE["src"],
                   edgecolor="white")
        ax.axvline(days.median(), color=PALETTE["warn"], linestyle="--", label=f"median {days.median():.0f} days")
        ax.legend(frameon=False)
    ax.set_xlabel("Days from the report to the contact (weeks with few contacts combined)")
    ax.set_ylabel("Reports")
    _title(ax, "How long after the report the contact was made", width)
    return fig


def forest_plot(effects: pd.DataFrame, path: Path, *, confidence_level: float = 0.95):
    """Risk differences (percentage points) with intervals, each outcome's methods under its name.

    ``effects`` holds the rows of :func:`helpers.pipeline.stages.forest_rows`. A figure the data
    could not give reads "not estimable" with its reason (the ``reason`` column), in dark grey.
    """
    return _save_both(path, lambda width: _forest_plot(effects, width, confidence_level))


def _forest_plot(effects: pd.DataFrame, width: float, confidence_level: float):
    narrow = width < PAGE_WIDTH
    outcome = effects["outcome_label"]
    # Top to bottom: each outcome's name on a line of its own, then one line per method.
    lines: list[tuple[str, object]] = []
    for name in dict.fromkeys(outcome):
        lines.append(("heading", name))
        lines += [("row", row) for _, row in effects[outcome == name].iterrows()]
    positions = np.arange(len(lines))[::-1]
    fig, ax = plt.subplots(figsize=(width, 0.25 * len(lines) + 1.4), layout="constrained")
    ax.axvline(0, color="#333333", linewidth=0.8)
    ticks, labels = [], []
    span = _forest_span(effects)
    for y, (kind, item) in zip(positions, lines):
        if kind == "heading":
            ticks.append(y)
            labels.append(_fit(str(item), 2.0 if narrow else 3.0, 9))
            continue
        ticks.append(y)
        labels.append(item["method_label"])
        biased = "biased" in item["method_label"]
        colour = PALETTE["neutral"] if biased else PALETTE["src"]
        if numbers.missing(item["estimate"]):
            reason = item.get("reason")
            reason = reason.removeprefix(f"{numbers.NOT_ESTIMABLE}: ") if isinstance(reason, str) else ""
            text = numbers.NOT_ESTIMABLE + (f": {reason}" if reason else "")
            ax.text(span[0], y, _fit(text, width * 0.5, SMALLEST_TEXT), va="center", ha="left",
                    fontsize=SMALLEST_TEXT, color=PALETTE["text_muted"])
            continue
        ax.errorbar(item["estimate"] * 100, y, xerr=_error_bar(item["estimate"] * 100, _scaled(item["conf_low"], 100),
                                                               _scaled(item["conf_high"], 100)),
                    fmt="s" if biased else "o", color=colour, capsize=3)
    ax.set_xlim(*span)
    ax.set_ylim(-0.7, len(lines) - 0.3)
    ax.set_yticks(ticks, labels, fontsize=9)
    for tick, (kind, _) in zip(ax.get_yticklabels(), lines):
        if kind == "heading":
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel(_axis_label(f"Difference in risk, SRC minus business as usual (percentage points, "
                              f"{numbers.level(confidence_level)} interval)", width))
    _title(ax, "Effect of SRC on each outcome (left of zero: fewer with SRC)", width)
    return fig


def _forest_span(effects: pd.DataFrame) -> tuple[float, float]:
    """The x-axis of the forest plot: every interval and zero, with a margin (percentage points)."""
    values = pd.concat([effects[c] for c in ("estimate", "conf_low", "conf_high") if c in effects])
    values = pd.to_numeric(values, errors="coerce").dropna() * 100
    low, high = (min(values.min(), 0.0), max(values.max(), 0.0)) if len(values) else (-10.0, 10.0)
    margin = max(2.0, (high - low) * 0.05)
    return low - margin, high + margin


def _scaled(value, factor: float):
    return None if value is None or pd.isna(value) else value * factor


def _error_bar(estimate: float, low, high) -> list[list[float]]:
    """Error-bar lengths; an interval end that is None (unbounded or not estimable) draws none."""
    return [[max(0.0, estimate - low) if low is not None else 0.0],
            [max(0.0, high - estimate) if high is not None else 0.0]]


def extrapolation_plot(prevented: dict, path: Path, *, population_label: str, confidence_level: float = 0.95):
    """Withdrawals prevented a year across the force, with intervals carried from the trial."""
    return _save_both(path, lambda width: _extrapolation_plot(prevented, width, population_label, confidence_level))


def _extrapolation_plot(prevented: dict, width: float, population_label: str, confidence_level: float):
    # plain labels: the chart is also the leadership report's (the tables name the estimands)
    rows = [("As delivered\nin the trial", prevented["itt"], prevented["itt_ci"]),
            ("If every victim\nreceived it", prevented["full_compliance"],
             prevented["full_compliance_ci"])]
    fig, ax = plt.subplots(figsize=(width, 3.0), layout="constrained")
    ax.axvline(0, color="#333333", linewidth=0.8)
    for i, (label, estimate, (low, high)) in enumerate(rows):
        if estimate is None:
            continue
        ax.barh(i, estimate, color=PALETTE["src"] if i == 0 else PALETTE["accent"], height=0.5)
        ax.errorbar(estimate, i, xerr=_error_bar(estimate, low, high), fmt="none", color="#333333", capsize=4)
        interval = numbers.interval([low, high], count)
        ax.annotate(f"{count(estimate)}\n({interval})", (max(high if high is not None else estimate, estimate), i),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize=SMALLEST_TEXT + 0.5)
    ax.set_yticks([0, 1], [r[0] for r in rows], fontsize=9)
    ax.invert_yaxis()  # SRC as delivered, the figure a decision rests on, on top
    ax.set_xlabel(_axis_label(f"Withdrawals prevented a year ({numbers.level(confidence_level)} interval)", width))
    ax.xaxis.set_major_formatter(COUNT_FORMAT)
    _title(ax, f"What SRC would mean across the {population_label}", width)
    ax.margins(x=0.35 if width < PAGE_WIDTH else 0.25)
    return fig


def sensitivity_plot(curve: pd.DataFrame, path: Path, *, label: str, assumed_share: float):
    """Withdrawals prevented nationally against the assumed share of hate crimes withdrawn."""
    return _save_both(path, lambda width: _sensitivity_plot(curve, width, label, assumed_share))


def _sensitivity_plot(curve: pd.DataFrame, width: float, label: str, assumed_share: float):
    fig, ax = plt.subplots(figsize=(width, 3.4), layout="constrained")
    ax.fill_between(curve["share"] * 100, curve["itt_low"], curve["itt_high"], color=PALETTE["src"], alpha=0.2,
                    label="interval (intention to treat)")
    ax.plot(curve["share"] * 100, curve["itt"], color=PALETTE["src"], label="intention to treat")
    ax.plot(curve["share"] * 100, curve["full_compliance"], color=PALETTE["accent"], linestyle="--",
            label="full delivery (complier estimate)")
    ax.axvline(assumed_share * 100, color=PALETTE["neutral"], linestyle=":", label="assumed share")
    ax.set_xlabel(_axis_label("Share of hate crimes ending in victim withdrawal (%), an assumption", width))
    ax.set_ylabel("Withdrawals prevented a year")
    ax.yaxis.set_major_formatter(COUNT_FORMAT)
    _title(ax, f"{label}: how the answer moves with the assumption", width)
    ax.legend(frameon=False, fontsize=SMALLEST_TEXT + 0.5)
    return fig


def cost_plot(curve: pd.DataFrame, path: Path, *, population_label: str):
    """Cost per withdrawal prevented against the delivery rate (central estimate of the effect)."""
    return _save_both(path, lambda width: _cost_plot(curve, width, population_label))


def _cost_plot(curve: pd.DataFrame, width: float, population_label: str):
    fig, ax = plt.subplots(figsize=(width, 3.4), layout="constrained")
    shown = curve.dropna(subset=["cost_per_prevented"])
    ax.plot(shown["delivery_rate"] * 100, shown["cost_per_prevented"], color=PALETTE["src"], marker="o")
    ax.set_xlabel(_axis_label("Share of victims who receive the contact (%)", width))
    ax.set_ylabel("Cost per withdrawal prevented (GBP)")
    ax.yaxis.set_major_formatter(COUNT_FORMAT)
    ax.set_ylim(bottom=0)
    _title(ax, f"Cost per withdrawal prevented, {population_label} (assumed costs)", width)
    return fig
