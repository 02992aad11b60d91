"""The monitoring report's figures: the delivery p-chart, the funnel plot, the event study, withdrawal by month.

Drawn like the trial report's (:mod:`helpers.report.figures`: palette, SVG with text as text). The
funnel plot shows only wards whose counts are published, and names only the flagged ones.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.methods.control_charts import funnel_curve
from helpers.report import numbers
from helpers.report.figures import PALETTE, _save

# What each figure is, for its caption and alternative text.
DESCRIPTIONS = {
    "delivery_p_chart": "Control chart of the live wards' monthly delivery of the contact, with 3-sigma limits",
    "delivery_funnel": "Funnel plot of each live ward's delivery since go-live against its number of reports",
    "event_study": "Event study: the effect on withdrawal by months since go-live, with intervals",
    "withdrawal_by_month": "Line chart of withdrawal by month in wards live and not yet live",
}


def p_chart(frame: pd.DataFrame, path: Path, *, kind: str = "p"):
    """Monthly delivery with its centre line and limits; signals marked (months merged for disclosure at their
    first month)."""
    x = pd.to_datetime(frame["month"].str.split(" to ").str[0])
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.step(x, frame["upper_limit"] * 100, where="mid", color=PALETTE["neutral"], linestyle="--", linewidth=0.9,
            label="3-sigma limits" + (" (Laney's p')" if kind == "laney" else ""))
    ax.step(x, frame["lower_limit"] * 100, where="mid", color=PALETTE["neutral"], linestyle="--", linewidth=0.9)
    ax.axhline(frame["centre"].iloc[0] * 100 if len(frame) else 0, color=PALETTE["accent"], linewidth=1,
               label="centre (all live wards)")
    ax.plot(x, frame["rate"] * 100, color=PALETTE["src"], marker="o", markersize=3, linewidth=1, label="month")
    signals = frame[frame["signal"].astype(bool)]
    if len(signals):
        ax.scatter(pd.to_datetime(signals["month"].str.split(" to ").str[0]), signals["rate"] * 100, color=PALETTE["warn"], zorder=3, s=22,
                   label="signal")
    ax.set_ylim(0, 105)
    ax.set_ylabel("Contact delivered (%)")
    ax.set_xlabel("Month reported (reports in wards already live)")
    ax.set_title("Delivery of the contact in live wards, month by month", loc="left")
    ax.legend(frameon=False, fontsize=7.5, loc="lower left", ncol=2)
    fig.autofmt_xdate()
    return _save(fig, path)


def funnel_plot(wards: list[dict], target: float | None, path: Path):
    """Each published ward's delivery since go-live against its reports, with 95% and 99.8% limits."""
    fig, ax = plt.subplots(figsize=(7, 4))
    frame = pd.DataFrame(wards, columns=["borough", "ward", "reports", "rate", "flagged"])
    if target is not None and len(frame):
        curve = funnel_curve(target, int(frame["reports"].max() * 1.1) + 1)
        for name, style, label in (("95", ":", "95% limits"), ("998", "--", "99.8% limits")):
            ax.plot(curve["reports"], curve[f"lower_{name}"] * 100, color=PALETTE["neutral"], linestyle=style,
                    linewidth=0.9, label=label)
            ax.plot(curve["reports"], curve[f"upper_{name}"] * 100, color=PALETTE["neutral"], linestyle=style,
                    linewidth=0.9)
        ax.axhline(target * 100, color=PALETTE["accent"], linewidth=1, label=f"force rate {numbers.pct(target, 0)}")
        steady = frame[~frame["flagged"].astype(bool)]
        ax.scatter(steady["reports"], steady["rate"] * 100, color=PALETTE["src"], s=14, label="ward")
        flagged = frame[frame["flagged"].astype(bool)]
        ax.scatter(flagged["reports"], flagged["rate"] * 100, color=PALETTE["warn"], s=26, label="flagged ward")
        for row in flagged.itertuples():
            ax.annotate(f"{row.ward}", (row.reports, row.rate * 100), textcoords="offset points", xytext=(5, -3),
                        fontsize=8, color=PALETTE["warn"])
        ax.legend(frameon=False, fontsize=7.5, loc="lower right", ncol=2)
    ax.set_ylim(0, 105)
    ax.set_xlabel("Reports since the ward went live")
    ax.set_ylabel("Contact delivered (%)")
    ax.set_title("Delivery by ward since go-live (funnel plot)", loc="left")
    return _save(fig, path)


def event_study(rows: list[dict], path: Path, *, confidence_level: float, window: tuple[int, int] = (-12, 24)):
    """Effect on withdrawal by months since go-live (placebo months before), within ``window``."""
    frame = pd.DataFrame(rows, columns=["event_time", "estimate", "conf_low", "conf_high", "placebo"])
    frame = frame[(frame["event_time"] >= window[0]) & (frame["event_time"] <= window[1])].dropna(subset=["estimate"])
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.axvline(-0.5, color=PALETTE["neutral"], linestyle=":", linewidth=0.8)
    for placebo, colour, label in ((True, PALETTE["neutral"], "before go-live (placebo)"),
                                   (False, PALETTE["src"], "after go-live")):
        part = frame[frame["placebo"] == placebo]
        if len(part):
            low = (part["estimate"] - part["conf_low"]).clip(lower=0) * 100
            high = (part["conf_high"] - part["estimate"]).clip(lower=0) * 100
            ax.errorbar(part["event_time"], part["estimate"] * 100, yerr=np.vstack([low, high]), fmt="o",
                        color=colour, markersize=3, capsize=2, linewidth=0.8, label=label)
    ax.set_xlabel("Months since the ward went live")
    ax.set_ylabel("Change in withdrawal (points)")
    ax.set_title(f"Effect of going live on withdrawal, by month ({numbers.level(confidence_level)} intervals)",
                 loc="left")
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, path)


def withdrawal_by_month(reports: pd.DataFrame, path: Path):
    """Withdrawal month by month in wards already live and in wards not yet live: the trend they share."""
    recorded = reports[reports["attrition"].notna()]
    table = recorded.groupby(["month", "after_go_live"])["attrition"].mean().unstack()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for column, colour, label in ((0, PALETTE["bau"], "wards not yet live"), (1, PALETTE["src"], "wards live")):
        if column in table:
            ax.plot(table.index, table[column] * 100, color=colour, marker="o", markersize=2.5, linewidth=1,
                    label=label)
    ax.set_ylabel("Withdrew support (%)")
    ax.set_xlabel("Month reported")
    ax.set_title("Withdrawal by month: the trend that a before-and-after comparison credits to SRC", loc="left")
    ax.legend(frameon=False, fontsize=8)
    fig.autofmt_xdate()
    return _save(fig, path)
