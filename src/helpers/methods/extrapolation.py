"""Stage 5: what the trial's effect would mean across a force, or nationally.

Prevented withdrawals = annual withdrawals x relative risk reduction, the published
method, with the interval of the relative reduction carried through unchanged: the
population counts are treated as known, so all the uncertainty is the trial's.

Every figure stays in its parameter space: a contact cannot prevent more withdrawals than
there are, nor add more than the hate crimes that did not end in withdrawal; an interval end
beyond those limits is cut to them, and one the trial cannot bound is None.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def prevented_withdrawals(withdrawals: int, reduction: float | None, interval: list,
                          hate_crimes: int | None = None) -> tuple:
    """Withdrawals prevented a year, and its interval, from a relative reduction and its interval.

    Bounded to [-(hate_crimes - withdrawals), withdrawals]: at most every withdrawal prevented,
    at worst every other report turned into a withdrawal. An interval end that is None (the
    trial cannot bound the reduction below) becomes that worst case.
    """
    if reduction is None:
        return None, [None, None]
    most_added = (hate_crimes - withdrawals) if hate_crimes is not None else None
    bound = lambda v: min(v, withdrawals) if most_added is None else min(max(v, -most_added), withdrawals)
    low, high = interval
    scaled_low = (-most_added if most_added is not None else None) if low is None else bound(withdrawals * low)
    scaled_high = None if high is None else bound(withdrawals * high)
    if scaled_low is not None and scaled_high is not None and scaled_high - scaled_low <= 1e-9:
        # the whole interval lies beyond a limit: the trial's change cannot be carried to this population
        return None, [None, None]
    return bound(withdrawals * reduction), [scaled_low, scaled_high]


def _cut(withdrawals: int, interval: list, carried_interval: list) -> bool:
    """Whether an end of the carried interval was cut to a limit (or stands for a reduction the trial cannot bound)."""
    return any(end is None or abs(withdrawals * end - shown) > 1e-6 for end, shown in zip(interval, carried_interval)
               if shown is not None)


def carried(attrition: dict, estimand: str, not_an_effect: str | None = None) -> tuple[float | None, list]:
    """The relative reduction the extrapolation carries for ``estimand`` ("itt" or "cace"), and its interval;
    none when the arms' difference is not an effect of SRC (``not_an_effect`` says why: no contact delivered)."""
    if not_an_effect:
        return None, [None, None]
    return attrition[estimand]["relative_risk_reduction"], attrition[estimand]["relative_risk_reduction_ci"]


def force_extrapolation(attrition: dict, population: dict, key: str, *, not_an_effect: str | None = None) -> dict:
    """The results.json ``extrapolation`` section for one population with known withdrawals.

    ``not_an_effect`` (from :func:`helpers.methods.identification.delivery_contrast`) says why the arms'
    difference is not an effect of SRC: nothing is carried then, and the notes give that reason.
    """
    withdrawals, hate_crimes = int(population["withdrawals"]), int(population["hate_crimes"])
    itt_rrr, full_rrr = carried(attrition, "itt", not_an_effect), carried(attrition, "cace", not_an_effect)
    itt, itt_ci = prevented_withdrawals(withdrawals, *itt_rrr, hate_crimes)
    full, full_ci = prevented_withdrawals(withdrawals, *full_rrr, hate_crimes)
    share = lambda v: None if v is None else v / hate_crimes
    notes = {key: "not estimable: " + (not_an_effect if not_an_effect else
                                       "the trial gives no relative change to carry" if rrr is None else
                                       "the trial's change, carried to this population, lies wholly beyond the "
                                       "number of reports that could change")
             for key, value, rrr in (("itt", itt, itt_rrr[0]), ("full_compliance", full, full_rrr[0]))
             if value is None}
    for key, value, rrr, interval in (("itt", itt, itt_rrr, itt_ci), ("full_compliance", full, full_rrr, full_ci)):
        if value is not None and _cut(withdrawals, rrr[1], interval):
            notes[f"{key}_ci"] = (f"interval cut to the limits of what the force's figures allow: at most all "
                                  f"{withdrawals:,} withdrawals prevented, at worst all {hate_crimes - withdrawals:,} "
                                  "other reports turned into withdrawals")
    return {
        "population": population["label"],
        "population_key": key,
        "source": population["source"].strip(),
        "hate_crimes": hate_crimes,
        "withdrawals": withdrawals,
        "prevented": {"itt": itt, "itt_ci": itt_ci, "full_compliance": full, "full_compliance_ci": full_ci},
        "share_of_hate_crimes": {"itt": share(itt), "full_compliance": share(full)},
        "interval_includes_zero": (None if itt is None or None in itt_ci else bool(itt_ci[0] <= 0 <= itt_ci[1])),
        "notes": notes,
        "method": "annual withdrawals x relative risk reduction; interval of the reduction carried through",
    }


def national_scenario(attrition: dict, figures: dict, *, key: str, assumed_share: float,
                      assumption: str, not_an_effect: str | None = None) -> dict:
    """Prevented withdrawals for a population whose withdrawal count is not published.

    The withdrawals are hate crimes x ``assumed_share``: an assumption, labelled as such.
    ``not_an_effect`` as in :func:`force_extrapolation`.
    """
    population = figures[key]
    withdrawals = int(round(population["hate_crimes"] * assumed_share))
    hate_crimes = int(population["hate_crimes"])
    itt, itt_ci = prevented_withdrawals(withdrawals, *carried(attrition, "itt", not_an_effect), hate_crimes)
    full, full_ci = prevented_withdrawals(withdrawals, *carried(attrition, "cace", not_an_effect), hate_crimes)
    scenario = {"population": population["label"], "source": population["source"].strip(),
                "hate_crimes": int(population["hate_crimes"]), "assumed_withdrawal_share": assumed_share,
                "assumed_withdrawals": withdrawals, "assumption": assumption,
                "prevented": {"itt": itt, "itt_ci": itt_ci, "full_compliance": full, "full_compliance_ci": full_ci}}
    return {**scenario, "reason": f"not estimable: {not_an_effect}"} if not_an_effect else scenario


def sensitivity_curve(attrition: dict, hate_crimes: int, shares=np.linspace(0.10, 0.50, 41), *,
                      not_an_effect: str | None = None) -> pd.DataFrame | None:
    """Prevented withdrawals across assumed withdrawal shares (for the sensitivity figure).

    None when the trial gives no relative reduction to carry, or its difference is not an effect of SRC.
    """
    itt = attrition["itt"]
    if itt["relative_risk_reduction"] is None or not_an_effect:
        return None
    rows = []
    for share in shares:
        withdrawals = int(round(hate_crimes * share))
        point, (low, high) = prevented_withdrawals(withdrawals, itt["relative_risk_reduction"],
                                                   itt["relative_risk_reduction_ci"], hate_crimes)
        full, _ = prevented_withdrawals(withdrawals, attrition["cace"]["relative_risk_reduction"], [None, None],
                                        hate_crimes)
        rows.append({"share": share, "itt": point, "itt_low": low, "itt_high": high, "full_compliance": full})
    return pd.DataFrame(rows).astype(float)


def delivery_scenarios(attrition: dict, withdrawals: int, *, rates=(0.8, 0.9, 1.0),
                       hate_crimes: int | None = None) -> list[dict]:
    """Withdrawals prevented a year if a given share of victims received the contact.

    One estimand throughout the report for "delivered to every victim" (the 100% row): the
    complier relative reduction (the effect among victims who take the contact when offered)
    applied to the share of the force's withdrawals among victims reached. It assumes victims
    reached in the force respond as the trial's compliers did, relative to their own risk, and
    that victims not reached are unchanged. At 100% it is the ``full_compliance`` figure of the
    force extrapolation and the basis of the cost per prevented withdrawal.
    """
    cace = attrition["cace"]
    reduction = cace["relative_risk_reduction"]
    if reduction is None:
        return []
    low, high = cace["relative_risk_reduction_ci"]
    scenarios = []
    for rate in rates:
        reached = int(round(withdrawals * rate))
        # among the victims reached: their withdrawals, and their other reports as the most that could be added
        point, interval = prevented_withdrawals(reached, reduction, [low, high],
                                                None if hate_crimes is None else reached + int(round(
                                                    (hate_crimes - withdrawals) * rate)))
        scenarios.append(_scenario(rate, point, interval))
    return scenarios


def absolute_transport(attrition: dict, hate_crimes: int, withdrawals: int | None = None, *,
                       not_an_effect: str | None = None) -> dict:
    """Prevented withdrawals if the trial's absolute difference (points) carried to the force.

    The alternative to carrying the relative reduction: hate crimes x (control risk - SRC risk),
    with the risk difference's interval. The trial's control arm withdrew far more often than the
    force (55% against 31% on the shipped data), and an absolute difference of 12 points on a 31%
    baseline is a much larger relative effect than the trial showed, so the report prefers the
    relative figure; both are shown.
    """
    itt = attrition["itt"]
    method = "hate crimes x intention-to-treat risk difference (absolute transport)"
    if not_an_effect:
        return {"prevented": None, "prevented_ci": [None, None], "method": method,
                "reason": f"not estimable: {not_an_effect}"}
    if itt["risk_difference"] is None:
        return {"prevented": None, "prevented_ci": [None, None], "method": "not estimable: no risk difference"}
    low, high = itt["risk_difference_ci"]
    if withdrawals is None:
        return {"prevented": -hate_crimes * itt["risk_difference"],
                "prevented_ci": sorted([-hate_crimes * high, -hate_crimes * low]), "method": method}
    # At most every withdrawal prevented; at worst every other report turned into one.
    bound = lambda v: min(max(v, -(hate_crimes - withdrawals)), withdrawals)
    point, interval = bound(-hate_crimes * itt["risk_difference"]), sorted([bound(-hate_crimes * high),
                                                                              bound(-hate_crimes * low)])
    if interval[1] - interval[0] <= 1e-9:
        return {"prevented": None, "prevented_ci": [None, None],
                "method": f"{method}; not estimable: the whole interval lies beyond the force's withdrawals"}
    cut = (point, interval) != (-hate_crimes * itt["risk_difference"],
                                sorted([-hate_crimes * high, -hate_crimes * low]))
    return {"prevented": point, "prevented_ci": interval,
            "method": method + ("; truncated to the force's withdrawals and other reports" if cut else "")}


def _scenario(rate: float, prevented: float | None, interval: list) -> dict:
    """One delivery scenario; when the whole interval lies beyond a limit, it carries nothing."""
    if interval[0] is not None and interval[1] - interval[0] <= 1e-9:
        return {"delivery_rate": rate, "prevented": None, "prevented_ci": [None, None],
                "reason": "not estimable: the complier effect is larger than the trial's control risk allows to "
                          "carry to the force (every interval end beyond the limit)"}
    return {"delivery_rate": rate, "prevented": prevented, "prevented_ci": interval}
