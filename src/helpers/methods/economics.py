"""The cost of delivering SRC in officer time, and the cost of each withdrawal it prevents.

Every input is an assumption from the parameters file, labelled as such in the report: the
published evaluation says only "minimal cost". The mix of phone and in-person contacts is the
trial's own.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.methods.extrapolation import delivery_scenarios


def blended_hourly_cost(assumptions: dict) -> float:
    """Cost of an hour of contact time, weighting constables and PCSOs by their share of contacts."""
    share = float(assumptions["share_by_constables"])
    return share * float(assumptions["hourly_cost_constable"]) + (1 - share) * float(assumptions["hourly_cost_pcso"])


def minutes_per_contact(assumptions: dict, phone_share: float) -> float:
    """Average minutes of a delivered contact, at the trial's mix of phone calls and visits."""
    return phone_share * float(assumptions["minutes_per_phone_contact"]) + \
        (1 - phone_share) * float(assumptions["minutes_per_visit"])


def delivery_cost(victims: int, delivery_rate: float, assumptions: dict, phone_share: float) -> dict:
    """Officer hours and cost a year when every victim is offered SRC and ``delivery_rate`` get it.

    Victims not reached still cost the unsuccessful attempts' minutes.
    """
    minutes = victims * (delivery_rate * minutes_per_contact(assumptions, phone_share)
                         + (1 - delivery_rate) * float(assumptions["minutes_per_unsuccessful_attempt"]))
    hours = minutes / 60
    return {"hours_per_year": hours, "cost_per_year": hours * blended_hourly_cost(assumptions)}


def cost_per_prevented(cost: float, prevented: float | None, interval: list) -> tuple[float | None, list]:
    """Cost per withdrawal prevented, with its interval from the interval of the prevented count.

    When the prevented count's interval reaches zero or below (no effect is possible), the cost
    per prevented withdrawal has no upper bound: None stands for unbounded, never a huge number.
    """
    if prevented is None or prevented <= 0:
        return None, [None, None]
    low, high = interval
    upper = None if low is None or low <= 0 else cost / low
    lower = None if high is None or high <= 0 else cost / high
    return cost / prevented, [lower, upper]


METHOD = "every victim offered SRC and reached; prevented withdrawals from the complier estimate"


def not_estimable(force: dict, assumptions: dict, reason: str) -> dict:
    """The ``economics`` section with no figure, and why (no contact delivered, no contact mode recorded)."""
    return {"hours_per_year": None, "cost_per_year": None, "cost_per_prevented_withdrawal": None,
            "cost_per_prevented_withdrawal_ci": [None, None], "upper_bound_unbounded": None,
            "victims_per_year": force["hate_crimes"], "phone_share": None, "minutes_per_contact": None,
            "blended_hourly_cost": blended_hourly_cost(assumptions), "assumptions": assumptions, "method": METHOD,
            "reason": f"not estimable: {reason}"}


def economics(attrition: dict, force: dict, compliance: dict, assumptions: dict, *,
              not_an_effect: str | None = None) -> dict:
    """The results.json ``economics`` section: delivering SRC to every victim in the force for a year.

    With no contact delivered there is no mix of calls and visits to cost, and no effect to set against
    the cost (``not_an_effect`` says why): every figure is then not estimable, with the reason.
    ``upper_bound_unbounded`` is True when the cost per prevented withdrawal has no upper limit, False
    when it has one, and None when there is no cost per prevented withdrawal at all.
    """
    modes = compliance["contact_modes"]
    delivered = sum(modes.values())
    if not_an_effect or not delivered:
        return not_estimable(force, assumptions, not_an_effect or "no contact was delivered, so the trial gives no "
                                                                   "mix of calls and visits to cost")
    phone_share = modes.get("phone", 0) / delivered
    costs = delivery_cost(force["hate_crimes"], 1.0, assumptions, phone_share)
    per_prevented, interval = cost_per_prevented(costs["cost_per_year"], force["prevented"]["full_compliance"],
                                                 force["prevented"]["full_compliance_ci"])
    result = {
        **costs,
        "cost_per_prevented_withdrawal": per_prevented,
        "cost_per_prevented_withdrawal_ci": interval,
        "upper_bound_unbounded": None if per_prevented is None else interval[1] is None,
        "victims_per_year": force["hate_crimes"],
        "phone_share": phone_share,
        "minutes_per_contact": minutes_per_contact(assumptions, phone_share),
        "blended_hourly_cost": blended_hourly_cost(assumptions),
        "assumptions": assumptions,
        "method": METHOD,
    }
    if per_prevented is None:
        prevented = force["prevented"]["full_compliance"]
        result["reason"] = ("not estimable: " + ("the complier estimate is not estimable, so there is no prevented "
                                                 "withdrawal to cost" if prevented is None else
                                                 "the complier estimate prevents no withdrawals (it is no change or "
                                                 "an increase), so no cost buys one"))
    return result


def cost_curve(attrition: dict, force: dict, assumptions: dict, phone_share: float,
               rates=np.linspace(0.5, 1.0, 11)) -> pd.DataFrame:
    """Cost per prevented withdrawal against the delivery rate (for the cost chart).

    Prevented withdrawals grow with the share reached (the complier effect on each contact);
    the attempts that fail still cost time, so the cost per prevented withdrawal falls as
    delivery improves.
    """
    rows = []
    for scenario in delivery_scenarios(attrition, force["withdrawals"], rates=rates,
                                       hate_crimes=force["hate_crimes"]):
        rate, prevented = scenario["delivery_rate"], scenario["prevented"]
        cost = delivery_cost(force["hate_crimes"], rate, assumptions, phone_share)["cost_per_year"]
        rows.append({"delivery_rate": rate, "cost_per_year": cost,
                     "cost_per_prevented": cost / prevented if prevented and prevented > 0 else None})
    return pd.DataFrame(rows, columns=["delivery_rate", "cost_per_year", "cost_per_prevented"])
