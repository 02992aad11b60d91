"""The report's figures: plain titles and axis labels, a colour-blind-safe palette.

Each function draws one figure, saves it under the run's figures folder and returns it, so a
notebook can show it and the report can embed it. The report's figures are SVG, with their text
as text: sharp at any size, a fifth of the bytes of a 200 dpi PNG, and laid out in the PDF as fast.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt  # the backend is the caller's: inline in JupyterLab, Agg when headless
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from helpers.report import numbers
from helpers.report.numbers import count

# Okabe & Ito (2008): distinguishable with every common form of colour blindness.
PALETTE = {"src": "#0072B2", "bau": "#E69F00", "neutral": "#999999", "accent": "#009E73", "warn": "#D55E00"}
DPI = 200  # sharp in print: the PDF shows figures at about 16 cm wide
# Alternative text of each figure, for screen readers and the report's accessibility.
DESCRIPTIONS = {
    "flow_diagram": "CONSORT flow diagram: records assessed, excluded, randomised, allocated, analysed",
    "balance": "Dot plot of standardised differences between the arms for every baseline characteristic",
    "delivery_by_week": "Bar chart of the share of SRC-arm victims who received the contact, week by week",
    "contact_timing": "Histogram of days from the report to the contact",
    "forest_plot": "Forest plot of risk differences with intervals for each outcome and method",
    "extrapolation": "Bar chart of withdrawals prevented a year across the force, with intervals",
    "cost_per_prevented": "Line chart of the cost per withdrawal prevented against the share of victims reached",
    "national_sensitivity": "Line chart of withdrawals prevented nationally against the assumed withdrawal share",
}

plt.rcParams.update({
    "figure.dpi": DPI, "savefig.dpi": DPI, "font.size": 10, "axes.titlesize": 11,
    "axes.spines.top": False, "axes.spines.right": False,
})


# Axis numbers as the text writes them: thousands separators and a true minus sign.
COUNT_FORMAT = FuncFormatter(lambda value, _: count(value))


# The same figure gives the same file: no date, and the SVG's internal ids from a fixed salt.
METADATA = {".svg": {"Date": None, "Creator": None}, ".png": {"Software": None}}


def _save(fig, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context({"svg.hashsalt": "srceval", "svg.fonttype": "none"}):
        fig.savefig(path, bbox_inches="tight", metadata=METADATA.get(Path(path).suffix, {}))
    plt.close(fig)
    return fig


def flow_diagram(flow: dict, path: Path):
    """CONSORT flow diagram: assessed, excluded, randomised, allocated, received, analysed."""
    fig, ax = plt.subplots(figsize=(8, 6.2))
    ax.set_axis_off()
    ax.set_xlim(0, 10.5)
    ax.set_ylim(0, 10)

    def box(x, y, text, width=3.6):
        ax.text(x, y, text, ha="center", va="center", fontsize=9, wrap=True,
                bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": "#333333"})

    def arrow(x1, y1, x2, y2):
        ax.annotate("", xy=(x2, y2), xytext=(x1, y1), arrowprops={"arrowstyle": "->", "color": "#333333"})

    reasons = "\n".join(f"{n} {reason.split(':')[0]}" for reason, n in flow.get("exclusion_reasons", {}).items())
    box(5, 9.3, f"Hate-flagged records assessed\nn = {flow['assessed']}")
    ax.text(8.4, 8.1, f"Excluded before randomisation: {flow['excluded_before_randomisation']}\n{reasons}",
            ha="center", va="center", fontsize=8,
            bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": "#333333"})
    arrow(5, 8.9, 5, 7.2)
    arrow(5, 8.1, 6.6, 8.1)
    box(5, 6.8, f"Randomised\nn = {flow['randomised']}")
    arrow(5, 6.4, 2.6, 5.4)
    arrow(5, 6.4, 7.4, 5.4)
    for x, arm, label in ((2.6, "treatment", "SRC"), (7.4, "control", "Business as usual")):
        allocated, received = flow["allocated"][arm], flow["received_src"][arm]
        box(x, 4.7, f"Allocated to {label}\nn = {allocated}\nreceived the contact: {received}\n"
                    f"did not: {allocated - received}")
        arrow(x, 3.9, x, 2.9)
        box(x, 2.4, f"Outcome recorded: {flow['outcome_recorded'][arm]}\n"
                    f"investigation open: {flow.get('outcome_open', {}).get(arm, 0)}")
        arrow(x, 1.9, x, 1.2)
        box(x, 0.8, f"Analysed (intention to treat)\nn = {flow['analysed'][arm]}")
    ax.set_title("Participant flow (CONSORT)", loc="left")
    return _save(fig, path)


def balance_plot(balance: pd.DataFrame, path: Path, *, large: float = 0.25):
    """Standardised difference of every baseline characteristic between the arms."""
    table = balance.iloc[::-1]
    labels = [f"{name}: {level}" for name, level in zip(table["covariate"], table["level"])]
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(table) + 1.2))
    ax.axvline(0, color="#333333", linewidth=0.8)
    # Austin's (2009) rule of thumb, 0.1, and the wider line the audit lists, since with about 125
    # reports an arm chance alone often passes 0.1.
    for edge, style, label in ((0.1, ":", "±0.1 (Austin 2009)"), (large, "--", f"±{large:g} (listed by the audit)")):
        for sign in (-1, 1):
            ax.axvline(sign * edge, color=PALETTE["neutral"], linestyle=style, linewidth=0.8,
                       label=label if sign == 1 else None)
    ax.scatter(table["standardised_difference"], range(len(table)), color=PALETTE["src"], s=18, zorder=3)
    ax.legend(frameon=False, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.04 - 1.2 / max(len(table), 4)),
              ncol=2)
    ax.set_yticks(range(len(table)), labels, fontsize=8)
    ax.set_xlabel("Standardised difference (SRC minus business as usual, in standard deviations)")
    ax.set_title("Baseline balance between the arms", loc="left")
    return _save(fig, path)


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
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for label, share in periods.items():
        first, last = (pd.Timestamp(part) for part in label.split("/"))
        ax.bar(first, share * 100, width=(last - first).days + 5, align="edge", color=PALETTE["src"],
               label="share contacted" if label == periods.index[0] else None)
    overall = data.loc[src, "received"].mean() * 100
    ax.axhline(overall, color=PALETTE["warn"], linestyle="--", label=f"whole trial: {overall:.0f}%")
    ax.set_ylabel("Received the contact (%)")
    ax.set_xlabel("Week the crime was reported (bars: share of that week's SRC reports; weeks with few reports "
                  "combined)")
    ax.set_title("Delivery of the contact in the SRC arm, week by week", loc="left")
    # In a band above 100%, which no bar reaches, so that the legend never covers one.
    ax.set_ylim(0, 122)
    ax.set_yticks(range(0, 101, 20))
    ax.legend(frameon=False, loc="upper right", ncol=2, fontsize=8)
    fig.autofmt_xdate()
    return _save(fig, path)


def contact_timing_plot(data: pd.DataFrame, path: Path, *, threshold: int = 5):
    """Distribution of days from report to contact, in bins of 7 days; a bin of fewer than ``threshold``
    contacts is merged with a neighbour (disclosure control), each bar's height the contacts it holds."""
    from helpers.methods import disclosure

    contacted = data[(data["received"] == 1) & data["days_report_to_contact"].notna()]
    days = contacted["days_report_to_contact"]
    fig, ax = plt.subplots(figsize=(7, 3))
    if len(days):
        start = days.min()
        bins = ((days - start) // 7).astype(int)
        runs = disclosure.group_ordered(bins, disclosure.report_cells(contacted), threshold, ("contacted",),
                                        lambda first, last: f"{first}/{last}")
        for label, count in runs.value_counts().items():
            first, last = (int(part) for part in label.split("/"))
            ax.bar(start + 7 * first, count, width=7 * (last - first + 1), align="edge", color=PALETTE["src"],
                   edgecolor="white")
        ax.axvline(days.median(), color=PALETTE["warn"], linestyle="--", label=f"median {days.median():.0f} days")
        ax.legend(frameon=False)
    ax.set_xlabel("Days from the report to the contact (weeks with few contacts combined)")
    ax.set_ylabel("Reports")
    ax.set_title("How long after the report the contact was made", loc="left")
    return _save(fig, path)


def forest_plot(effects: pd.DataFrame, path: Path, *, confidence_level: float = 0.95):
    """Risk differences (percentage points) with intervals, one row per outcome and method."""
    table = effects.iloc[::-1].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(table) + 1.3))
    ax.axvline(0, color="#333333", linewidth=0.8)
    for i, row in table.iterrows():
        colour = PALETTE["src"] if "biased" not in row["label"] else PALETTE["neutral"]
        if row["estimate"] is None or pd.isna(row["estimate"]):
            ax.text(0.5, i, "not estimable", va="center", fontsize=8, color=PALETTE["neutral"])
            continue
        ax.errorbar(row["estimate"] * 100, i, xerr=_error_bar(row["estimate"] * 100, _scaled(row["conf_low"], 100),
                                                              _scaled(row["conf_high"], 100)),
                    fmt="o", color=colour, capsize=3)
    ax.set_yticks(range(len(table)), table["label"], fontsize=8.5)
    ax.set_xlabel(f"Difference in risk, SRC minus business as usual (percentage points, "
                  f"{numbers.level(confidence_level)} interval)")
    ax.set_title("Effect of SRC on each outcome (left of zero: fewer with SRC)", loc="left")
    return _save(fig, path)


def _scaled(value, factor: float):
    return None if value is None or pd.isna(value) else value * factor


def _error_bar(estimate: float, low, high) -> list[list[float]]:
    """Error-bar lengths; an interval end that is None (unbounded or not estimable) draws none."""
    return [[max(0.0, estimate - low) if low is not None else 0.0],
            [max(0.0, high - estimate) if high is not None else 0.0]]


def extrapolation_plot(prevented: dict, path: Path, *, population_label: str, confidence_level: float = 0.95):
    """Withdrawals prevented a year across the force, with intervals carried from the trial."""
    rows = [("As delivered in the trial\n(intention to treat)", prevented["itt"], prevented["itt_ci"]),
            ("If every victim received it\n(complier estimate)", prevented["full_compliance"],
             prevented["full_compliance_ci"])]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.axvline(0, color="#333333", linewidth=0.8)
    for i, (label, estimate, (low, high)) in enumerate(rows):
        if estimate is None:
            continue
        ax.barh(i, estimate, color=PALETTE["src"] if i == 0 else PALETTE["accent"], height=0.5)
        ax.errorbar(estimate, i, xerr=_error_bar(estimate, low, high), fmt="none", color="#333333", capsize=4)
        interval = numbers.interval([low, high], numbers.count)
        ax.text(max(high if high is not None else estimate, estimate) + 60, i, f"{numbers.count(estimate)}\n({interval})",
                va="center", fontsize=8.5)
    ax.set_yticks([0, 1], [r[0] for r in rows], fontsize=8.5)
    ax.set_xlabel(f"Withdrawals prevented a year ({numbers.level(confidence_level)} interval)")
    ax.xaxis.set_major_formatter(COUNT_FORMAT)
    ax.set_title(f"What SRC would mean across the {population_label}", loc="left")
    ax.margins(x=0.25)
    return _save(fig, path)


def sensitivity_plot(curve: pd.DataFrame, path: Path, *, label: str, assumed_share: float):
    """Withdrawals prevented nationally against the assumed share of hate crimes withdrawn."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.fill_between(curve["share"] * 100, curve["itt_low"], curve["itt_high"], color=PALETTE["src"], alpha=0.2,
                    label="interval (intention to treat)")
    ax.plot(curve["share"] * 100, curve["itt"], color=PALETTE["src"], label="intention to treat")
    ax.plot(curve["share"] * 100, curve["full_compliance"], color=PALETTE["accent"], linestyle="--",
            label="full delivery (complier estimate)")
    ax.axvline(assumed_share * 100, color=PALETTE["neutral"], linestyle=":", label="assumed share")
    ax.set_xlabel("Share of hate crimes ending in victim withdrawal (%), an assumption")
    ax.set_ylabel("Withdrawals prevented a year")
    ax.yaxis.set_major_formatter(COUNT_FORMAT)
    ax.set_title(f"{label}: how the answer moves with the assumption", loc="left")
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, path)


def cost_plot(curve: pd.DataFrame, path: Path, *, population_label: str):
    """Cost per withdrawal prevented against the delivery rate (central estimate of the effect)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    shown = curve.dropna(subset=["cost_per_prevented"])
    ax.plot(shown["delivery_rate"] * 100, shown["cost_per_prevented"], color=PALETTE["src"], marker="o")
    ax.set_xlabel("Share of victims who receive the contact (%)")
    ax.set_ylabel("Cost per withdrawal prevented (GBP)")
    ax.yaxis.set_major_formatter(COUNT_FORMAT)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Cost per withdrawal prevented, {population_label} (assumed costs)", loc="left")
    return _save(fig, path)
