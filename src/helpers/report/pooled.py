"""The pooled report: a forest plot per outcome and one self-contained HTML page."""
from __future__ import annotations

import base64
from pathlib import Path

from helpers.methods.pooling import MEASURES, RISK_RATIO
from helpers.report import numbers

FOREST_DPI = 200


def forest_plot(entry: dict, outcome: str, path: Path, level: float) -> Path:
    """Forest plot of one outcome: a row per run, then the fixed- and random-effects rows.

    Left panel the risk ratio (log axis), right panel the risk difference; squares sized by
    the run's random-effects weight, diamonds for the pooled estimates, and a last row for the
    prediction interval of a new run's effect. Saved as PNG at 200 dpi.
    """
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    labels = [row["run"] for row in entry[RISK_RATIO]["studies"]] + ["Fixed effect", "Random effects",
                                                                      "Prediction interval"]
    fig = Figure(figsize=(9, 1.2 + 0.4 * len(labels)))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, measure in zip(axes, MEASURES):
        _forest_panel(ax, entry[measure], measure)
    axes[0].set_yticks(range(len(labels)))
    axes[0].set_yticklabels(labels)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)
    fig.suptitle(f"{entry['label'].capitalize()}: SRC against business as usual ({numbers.level(level)} intervals)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FOREST_DPI, bbox_inches="tight", metadata={"Software": None})
    return path


def _forest_panel(ax, pooled: dict, measure: str) -> None:
    """One measure's rows: runs (squares and intervals), pooled diamonds, the prediction interval."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    blue, orange, vermilion, grey = "#0072B2", "#E69F00", "#D55E00", "#555555"
    tau2 = (pooled.get("heterogeneity") or {}).get("tau2") or 0.0
    studies = pooled["studies"]
    weights = [1 / (s["vi"] + tau2) if s["included"] else 0.0 for s in studies]
    biggest = max(weights) or 1.0
    for i, (study, weight) in enumerate(zip(studies, weights)):
        if not study["included"]:
            ax.text(0.02, i, "left out", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color=grey)
            continue
        ax.plot([study["conf_low"], study["conf_high"]], [i, i], color=grey, lw=1)
        ax.plot(study["estimate"], i, "s", color=blue, markersize=4 + 6 * weight / biggest)
    row = len(studies)
    for offset, (key, colour) in enumerate((("fixed_effect", blue), ("random_effects", orange))):
        fit = pooled[key]
        if fit["estimate"] is None:
            ax.text(0.02, row + offset, "not estimable", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
            continue
        ax.fill([fit["conf_low"], fit["estimate"], fit["conf_high"], fit["estimate"]],
                [row + offset, row + offset - 0.25, row + offset, row + offset + 0.25], color=colour, zorder=3)
    low, high = pooled["prediction_interval"]
    if low is not None:
        ax.plot([low, high], [row + 2] * 2, color=vermilion, lw=2.5, solid_capstyle="butt")
    ax.axvline(1.0 if measure == RISK_RATIO else 0.0, color="#999999", lw=0.8, ls="--")
    if measure == RISK_RATIO:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(_ratio_ticks(*ax.get_xlim()))
        ax.set_xlabel("risk ratio (log scale; below 1: fewer with SRC)")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel("risk difference (below 0: fewer with SRC)")
    ax.spines[["top", "right"]].set_visible(False)


RATIO_TICKS = ((0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5), (0.1, 0.2, 0.5, 1, 2, 5, 10), (0.01, 0.1, 1, 10, 100))


def _ratio_ticks(low: float, high: float) -> list[float]:
    """The finest of a few tick sets that puts at most six ticks on a log axis from low to high."""
    for ticks in RATIO_TICKS:
        inside = [t for t in ticks if low <= t <= high]
        if len(inside) <= 6:
            return inside or [1]
    return [t for t in RATIO_TICKS[-1] if low <= t <= high] or [1]


def render_html(pooled: dict, figures: dict[str, Path]) -> str:
    """The short pooled report as one self-contained HTML page (figures embedded)."""
    import jinja2

    from helpers import config

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(config.TEMPLATES_DIR), autoescape=True)
    images = {name: "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
              for name, path in figures.items()}
    return environment.get_template("pool.html.j2").render(
        pooled=pooled, images=images, fmt=numbers.num, pfmt=numbers.p_value,
        interval=lambda low, high, digits=3: numbers.interval((low, high), lambda v: numbers.num(v, digits)),
        with_interval=lambda value, low, high, digits=3: numbers.with_interval(
            value, (low, high), lambda v: numbers.num(v, digits)),
        pct=numbers.pct, level=numbers.level(pooled["confidence_level"]))


