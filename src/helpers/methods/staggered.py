"""The effect of going live on withdrawal, for a roll-out in which wards went live at different times.

A before-and-after comparison credits SRC with everything else that changed over the same months
(force-wide trends, policy, recording practice). Callaway and Sant'Anna (2021, *Journal of
Econometrics* 225:200–230) compare, for each cohort g of wards that went live in month g and each
month t, the change in the cohort's withdrawal risk with the change, over the same months, in the
wards not yet live by t (their "not-yet-treated" comparison, eq. 2.6 unconditional):

    ATT(g, t) = [Ȳ_g(t) − Ȳ_g(b)] − [Ȳ_C(t) − Ȳ_C(b)],   C = {wards with go-live month > t, not in g}

with base month b = g − 1 for t ≥ g, and b = t − 1 for t < g (their "varying" base period, so that
the months before go-live are placebo checks: month-to-month changes that should be near zero).
Ȳ_S(m) is the withdrawal risk of the reports of wards S in month m (reports pooled: the
estimand is the effect on a report's risk). Each cell is a two-by-two difference in differences.

Aggregations (Callaway and Sant'Anna 2021, section 3.1): overall, the average of the post-go-live
cells weighted by their reports (the average effect over the reports of live wards' months that
have a not-yet-live comparison); by event time e = t − g, the same within each e.

Inference respects wards: a ward bootstrap (resampling whole wards with replacement, within each
cohort, so that every cohort keeps its size; Cameron, Gelbach and Miller 2008, *Review of
Economics and Statistics* 90:414–427, on the cluster bootstrap), with normal intervals from the
bootstrap standard error, as Callaway and Sant'Anna's own (pointwise) intervals.

Everything is computed from ward-by-month counts, so a draw of the bootstrap, or a re-drawn
roll-out order of the randomisation test, is a weighted sum: (draws x cohorts x wards) @ (wards x months).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

NEVER = np.inf  # the go-live month of a ward not live within the extract
DRAW_CHUNK = 500  # bootstrap draws computed at once (memory: chunk x months x months)
METHOD = ("Callaway & Sant'Anna (2021) group-time effects, not-yet-live wards as comparison, reports pooled; "
          "ward bootstrap (resampling wards within cohorts)")
COMPARISON = "wards not yet live in the same month (not-yet-treated)"


@dataclass
class Panel:
    """Ward-by-month counts: reports with an outcome and withdrawals, and each ward's first live month.

    ``first_live[w]`` is the index (into ``months``) of the ward's first month wholly after go-live,
    NEVER for a ward not live by the extract's end.
    """

    wards: pd.DataFrame  # borough, ward, key, first_live
    months: pd.DatetimeIndex
    reports: np.ndarray  # wards x months
    events: np.ndarray  # wards x months

    @property
    def first_live(self) -> np.ndarray:
        return self.wards["first_live"].to_numpy(dtype=float)


def build_panel(reports: pd.DataFrame, schedule: pd.DataFrame, outcome: str = "attrition") -> tuple[Panel, dict]:
    """Ward-by-month counts of the reports whose outcome is recorded, and what was left out and why.

    A ward's first live month is the month of its go-live date when that is the 1st, else the next
    month; the reports of a month in which the ward went live part-way are left out of the effect
    (some of them before, some after). Wards live from the extract's first month have no month
    before go-live and add nothing (Callaway and Sant'Anna drop "always treated" units).
    """
    months = pd.date_range(reports["month"].min(), reports["month"].max(), freq="MS")
    wards = schedule.loc[schedule["key"].isin(reports["key"].unique()), ["borough", "ward", "key", "go_live"]].copy()
    wards = wards.sort_values(["borough", "ward"]).reset_index(drop=True)
    go_live = wards["go_live"]
    first = go_live.dt.to_period("M").dt.to_timestamp() + pd.offsets.MonthBegin(0)
    first = first.where(go_live.dt.day == 1, first + pd.offsets.MonthBegin(1))
    index = pd.Series(np.searchsorted(months.values, first.values), index=wards.index).astype(float)
    wards["first_live"] = index.where(go_live.notna() & (first <= months[-1]), NEVER)
    recorded = reports[reports[outcome].notna()]
    partial = recorded["go_live"].notna() & (recorded["go_live"].dt.day != 1) & \
        (recorded["month"] == recorded["go_live"].dt.to_period("M").dt.to_timestamp())
    used = recorded[~partial]
    always = wards["first_live"] <= 0
    counts = used.groupby(["key", "month"])[outcome].agg(["size", "sum"])
    shape = (len(wards), len(months))
    full = pd.MultiIndex.from_product([wards["key"], months], names=["key", "month"])
    counts = counts.reindex(full, fill_value=0)
    panel = Panel(wards[~always].reset_index(drop=True), months,
                  counts["size"].to_numpy(dtype=float).reshape(shape)[~always.to_numpy()],
                  counts["sum"].to_numpy(dtype=float).reshape(shape)[~always.to_numpy()])
    left_out = {"open_investigations": int(reports[outcome].isna().sum()),
                "month_of_go_live": int(partial.sum()),
                "wards_live_from_the_first_month": int(always.sum()),
                "reports_of_wards_live_from_the_first_month": int(used["key"].isin(wards.loc[always, "key"]).sum())}
    return panel, left_out


# -- the estimator, on weighted ward sums --------------------------------------------------------

def cohort_sums(weights: np.ndarray, panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """Withdrawals and reports of each cohort by month, for each draw: (draws x cohorts x months) twice.

    ``weights[d, c, w]`` is how often ward w counts in cohort c in draw d (0 or 1 for the data
    themselves and for a re-drawn order; a bootstrap count for the bootstrap).
    """
    return weights @ panel.events, weights @ panel.reports


def cells(cohorts: np.ndarray, months: int) -> pd.DataFrame:
    """Every (cohort, month) cell with its base month: g live in 1 .. months-1, t in 1 .. months-1."""
    rows = [(c, int(g), t, (int(g) - 1) if t >= g else t - 1)
            for c, g in enumerate(cohorts) if math.isfinite(g) and 1 <= g < months for t in range(1, months)]
    return pd.DataFrame(rows, columns=["cohort", "g", "t", "base"])


def cell_effects(events: np.ndarray, reports: np.ndarray, cohorts: np.ndarray, grid: pd.DataFrame
                 ) -> tuple[np.ndarray, np.ndarray]:
    """ATT(g, t) of every cell for every draw, and each cell's weight (the cohort's reports in month t).

    ``events`` and ``reports`` are (draws x cohorts x months); ``cohorts`` the first live month
    of each cohort (NEVER for the wards not live). A cell whose four risks are not all defined
    (no report, or no not-yet-live ward) is NaN.
    """
    later = (cohorts[:, None] > np.arange(events.shape[2])[None, :]).astype(float)  # cohorts x months: not live by t
    c, t, b = (grid[name].to_numpy() for name in ("cohort", "t", "base"))
    draws = np.arange(events.shape[0])[:, None]
    # sums over the comparison set C(t) = {cohorts not live by t}, at month t and at the base month
    compare_e = np.einsum("ct,dcm->dtm", later, events)
    compare_n = np.einsum("ct,dcm->dtm", later, reports)
    own_later = later[c, t]  # the cohort itself is in C(t) before it goes live: take it out
    control = lambda sums, own, month: sums[draws, t, month] - own_later * own[draws, c, month]
    risk = lambda e, n: np.divide(e, n, out=np.full_like(e, np.nan), where=n > 0)
    treated_change = risk(events[draws, c, t], reports[draws, c, t]) - risk(events[draws, c, b], reports[draws, c, b])
    control_change = (risk(control(compare_e, events, t), control(compare_n, reports, t))
                      - risk(control(compare_e, events, b), control(compare_n, reports, b)))
    return treated_change - control_change, reports[draws, c, t]


def aggregate(effects: np.ndarray, weights: np.ndarray, select: np.ndarray) -> np.ndarray:
    """The report-weighted mean of the selected cells' effects, per draw (NaN cells left out)."""
    ok = select[None, :] & np.isfinite(effects) & (weights > 0)
    total = np.where(ok, weights, 0).sum(axis=1)
    return np.divide(np.where(ok, effects * weights, 0).sum(axis=1), total,
                     out=np.full(effects.shape[0], np.nan), where=total > 0)


def cohort_weights(panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """The cohorts (distinct first live months, NEVER last) and the 0/1 weights (1 x cohorts x wards)."""
    first = panel.first_live
    cohorts = np.unique(first)
    return cohorts, (first[None, :] == cohorts[:, None]).astype(float)[None, :, :]


def bootstrap_weights(panel: Panel, cohorts: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Ward bootstrap within cohorts: (draws x cohorts x wards) counts, each cohort resampled to its own size."""
    first = panel.first_live
    weights = np.zeros((draws, len(cohorts), len(first)))
    for c, g in enumerate(cohorts):
        members = np.flatnonzero(first == g)
        weights[:, c, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=draws)
    return weights


# -- the estimates ----------------------------------------------------------------------------------

def staggered_effect(panel: Panel, *, alpha: float, draws: int, seed: int) -> dict:
    """Group-time effects, the overall effect and the event study, with ward-bootstrap intervals.

    Returns
    -------
    dict
        ``overall`` (estimate, std_error, conf_low, conf_high, p_value, n_cells, reports, method,
        comparison, reason), ``event_time`` (one row per months since go-live) and ``cells`` (one
        row per cohort and month).
    """
    cohorts, observed = cohort_weights(panel)
    grid = cells(cohorts, len(panel.months))
    if grid.empty:
        return _not_estimable("no ward went live after the extract's first month and before its last")
    point, weight = cell_effects(*cohort_sums(observed, panel), cohorts, grid)
    boot = _bootstrap(panel, cohorts, grid, draws=draws, seed=seed)
    grid = grid.assign(event_time=grid["t"] - grid["g"], estimate=point[0], reports=weight[0])
    post = (grid["event_time"] >= 0).to_numpy()
    if not np.isfinite(point[0][post]).any():
        return _not_estimable("no month after a go-live still has a not-yet-live ward to compare with",
                              cells=_cell_rows(grid, panel))
    overall = _summary(aggregate(point, weight, post)[0], aggregate(*boot, post), alpha)
    overall.update(n_cells=int((post & np.isfinite(point[0])).sum()),
                   reports=int(weight[0][post & np.isfinite(point[0])].sum()), method=METHOD, comparison=COMPARISON,
                   reason=None)
    events = []
    for e in sorted(grid["event_time"].unique()):
        select = (grid["event_time"] == e).to_numpy()
        if np.isfinite(point[0][select]).any():
            row = _summary(aggregate(point, weight, select)[0], aggregate(*boot, select), alpha)
            events.append({"event_time": int(e), **row, "reports": int(np.nansum(np.where(
                np.isfinite(point[0][select]), weight[0][select], 0))), "placebo": bool(e < 0)})
    return {"overall": overall, "event_time": events, "cells": _cell_rows(grid, panel)}


def _bootstrap(panel: Panel, cohorts: np.ndarray, grid: pd.DataFrame, *, draws: int, seed: int):
    rng = np.random.default_rng(seed)
    effects, weights = [], []
    for start in range(0, draws, DRAW_CHUNK):
        chunk = bootstrap_weights(panel, cohorts, min(DRAW_CHUNK, draws - start), rng)
        e, w = cell_effects(*cohort_sums(chunk, panel), cohorts, grid)
        effects.append(e)
        weights.append(w)
    return np.vstack(effects), np.vstack(weights)


def _summary(estimate: float, draws: np.ndarray, alpha: float) -> dict:
    """Estimate with the bootstrap standard error, a normal interval and a two-sided p-value."""
    finite = draws[np.isfinite(draws)]
    if not math.isfinite(estimate) or len(finite) < 2:
        return {"estimate": None, "std_error": None, "conf_low": None, "conf_high": None, "p_value": None}
    se = float(np.std(finite, ddof=1))
    z = stats.norm.ppf(1 - alpha / 2)
    p = float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else None
    return {"estimate": float(estimate), "std_error": se, "conf_low": max(-1.0, estimate - z * se),
            "conf_high": min(1.0, estimate + z * se), "p_value": p}


def _cell_rows(grid: pd.DataFrame, panel: Panel) -> list[dict]:
    months = panel.months
    return [{"cohort": months[int(r.g)].strftime("%Y-%m"), "month": months[int(r.t)].strftime("%Y-%m"),
             "base_month": months[int(r.base)].strftime("%Y-%m"), "event_time": int(r.event_time),
             "estimate": None if not np.isfinite(r.estimate) else float(r.estimate), "reports": int(r.reports),
             "reason": None if np.isfinite(r.estimate) else
             "not estimable: no report in one of the four cohort-months, or no ward still not live in "
             f"{months[int(r.t)].strftime('%Y-%m')} to compare with"}
            for r in grid.itertuples()]


def _not_estimable(reason: str, cells: list | None = None) -> dict:
    overall = {"estimate": None, "std_error": None, "conf_low": None, "conf_high": None, "p_value": None,
               "n_cells": 0, "reports": 0, "method": METHOD, "comparison": COMPARISON,
               "reason": f"not estimable: {reason}"}
    return {"overall": overall, "event_time": [], "cells": cells or []}


# -- what the staggered estimate corrects, and what the trial predicts --------------------------

def naive_before_after(panel: Panel, *, alpha: float, draws: int, seed: int) -> dict:
    """Withdrawal after go-live minus before, in the wards that went live: the comparison that credits
    SRC with the months' trend. Same ward bootstrap."""
    live = np.isfinite(panel.first_live)
    after = np.arange(len(panel.months))[None, :] >= panel.first_live[:, None]
    def difference(weights: np.ndarray) -> np.ndarray:  # weights: draws x wards
        w = weights * live[None, :]
        sums = lambda values, mask: (w @ np.where(mask, values, 0)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sums(panel.events, after) / sums(panel.reports, after)
                    - sums(panel.events, ~after) / sums(panel.reports, ~after))
    estimate = difference(np.ones((1, len(live))))[0]
    cohorts, _ = cohort_weights(panel)
    rng = np.random.default_rng(seed)
    boot = np.concatenate([difference(bootstrap_weights(panel, cohorts, min(DRAW_CHUNK, draws - s), rng).sum(axis=1))
                           for s in range(0, draws, DRAW_CHUNK)])
    row = _summary(estimate, boot, alpha)
    reason = None if row["estimate"] is not None else "not estimable: no live ward has reports both before and after"
    return {**row, "method": "naive before-and-after: withdrawal risk after go-live minus before, wards that went "
                             "live, reports pooled; credits SRC with the months' trend (ward bootstrap)",
            "reason": reason}


def trial_prediction(*, delivered_after: np.ndarray, reports_after: np.ndarray, events_before: np.ndarray,
                     reports_before: np.ndarray, relative_reduction: float, relative_reduction_ci, alpha: float,
                     draws: int, seed: int) -> dict:
    """What the trial predicts for these wards: − (complier relative reduction) x (delivery after go-live)
    x (withdrawal risk before go-live), as a risk difference; ward bootstrap of the two rates, and the
    trial's own uncertainty (a normal draw with the standard error its interval implies, kept at most 1).

    The inputs are per ward (wards that went live).
    """
    def prediction(w: np.ndarray, reduction: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            delivery = (w @ delivered_after) / (w @ reports_after)
            risk = (w @ events_before) / (w @ reports_before)
        return -reduction * delivery * risk
    rng = np.random.default_rng(seed)
    z = stats.norm.ppf(1 - alpha / 2)
    low, high = (relative_reduction_ci or (None, None))
    se = (high - low) / (2 * z) if low is not None and high is not None else 0.0
    estimate = float(prediction(np.ones((1, len(reports_after))), np.array([relative_reduction]))[0])
    n = len(reports_after)
    weights = rng.multinomial(n, np.full(n, 1 / n), size=draws) if n else np.zeros((draws, 0))
    reductions = np.minimum(rng.normal(relative_reduction, se, draws), 1.0)
    boot = prediction(weights, reductions)
    finite = boot[np.isfinite(boot)]
    if not math.isfinite(estimate) or not len(finite):
        return {"estimate": None, "conf_low": None, "conf_high": None, "method": "trial prediction",
                "reason": "not estimable: no report before or after go-live in the wards that went live"}
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return {"estimate": estimate, "conf_low": float(lo), "conf_high": float(hi),
            "method": "trial's complier relative reduction x delivery after go-live x withdrawal risk before "
                      "go-live; percentile interval from a ward bootstrap and the trial's interval"
                      + ("" if se else " (the trial figure used has no interval: its uncertainty is not included)"),
            "relative_reduction": relative_reduction, "relative_reduction_ci": list(relative_reduction_ci or [None, None]),
            "delivery_after": float(delivered_after.sum() / reports_after.sum()) if reports_after.sum() else None,
            "risk_before": float(events_before.sum() / reports_before.sum()) if reports_before.sum() else None,
            "reason": None}
