"""The per-protocol and as-treated comparisons: shown only beside intention to treat, for contrast.

Both compare groups that chose themselves (the reports an officer managed to reach), so neither is a
randomised comparison, under any design; under a blocked or cluster design even their intervals
would be wrong, so the rows say they are not valid there.
"""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from helpers.methods.arms import known
from helpers.methods.design import COMPLETE, Design
from helpers.methods.differences import NEWCOMBE, newcombe_risk_difference
from helpers.methods.tidy import Estimate

PER_PROTOCOL = "risk_difference_per_protocol"
AS_TREATED = "risk_difference_as_treated"
LABELS = {PER_PROTOCOL: "per protocol: SRC delivered vs BAU (biased)",
          AS_TREATED: "as treated: contact received vs not (biased)"}


def per_protocol(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95) -> Estimate:
    """SRC reports the contact reached against every business-as-usual report."""
    rows = known(data, outcome)
    reached = rows[(rows["assigned"] == 0) | (rows["received"] == 1)]
    return _comparison(reached, outcome, "assigned", PER_PROTOCOL, design, conf_level)


def as_treated(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95) -> Estimate:
    """Reports that received the contact against those that did not, whatever their arm."""
    rows = known(data, outcome)
    return _comparison(rows.assign(as_treated=rows["received"]), outcome, "as_treated", AS_TREATED, design,
                       conf_level)


def _comparison(rows: pd.DataFrame, outcome: str, treatment: str, estimand: str, design: Design,
                conf_level: float) -> Estimate:
    why = design.unsupported("self_selected_comparisons")
    if why:
        row = Estimate.not_estimable(outcome, estimand, f"{LABELS[estimand]}; {NEWCOMBE}", len(rows), why)
    else:
        plain = newcombe_risk_difference(rows, outcome, treatment=treatment, conf_level=conf_level)
        row = replace(plain, estimand=estimand, method=f"{LABELS[estimand]}; {plain.method}")
    return row.under(design.assignment, conf_level)


def biased_comparisons(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *,
                       conf_level: float = 0.95) -> list[Estimate]:
    """The per-protocol and as-treated rows, in that order."""
    return [per_protocol(data, outcome, design, conf_level=conf_level),
            as_treated(data, outcome, design, conf_level=conf_level)]
