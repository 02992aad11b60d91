"""How far the investigations still open could move the intention-to-treat comparison.

Open cases are left out of the main analysis; these scenarios fill them in and compare again:
every open case ends in the outcome, none does, and the worst-case bounds of Manski (1990): every
open SRC case and no open business-as-usual case, and the reverse. Under a blocked design each
comparison is block-weighted (the difference) and Mantel-Haenszel (the ratio).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.methods.arms import TwoByTwo, weighted_difference
from helpers.methods.design import COMPLETE, UNIT, Design
from helpers.methods.differences import mantel_haenszel_risk_ratio

SCENARIOS = {"all_open_cases": (1, 1), "no_open_cases": (0, 0), "src_open_cases_only": (1, 0),
             "bau_open_cases_only": (0, 1)}
FILLED = "_filled"


def open_investigation_bounds(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *,
                              treatment: str = "assigned") -> dict | None:
    """The effect if open investigations all end, or none end, in the outcome, and the worst cases.

    None when no investigation is open, or only one arm was allocated. Each scenario gives the risk
    difference and the risk ratio with the open cases filled in as it says.
    """
    open_case = data[outcome].isna()
    if not open_case.any() or data[treatment].nunique() < 2:
        return None
    frame = design.with_units(data)
    z = (frame[treatment] == 1).to_numpy()
    bounds = {"open_treatment": int((open_case & (frame[treatment] == 1)).sum()),
              "open_control": int((open_case & (frame[treatment] != 1)).sum())}
    for name, (in_src, in_bau) in SCENARIOS.items():
        filled = frame[outcome].astype("Float64").fillna(0.0).to_numpy(dtype=float)
        filled = np.where(open_case.to_numpy() & z, in_src, np.where(open_case.to_numpy() & ~z, in_bau, filled))
        table = frame.assign(**{FILLED: filled})
        bounds[name] = (_blocked_scenario if design.blocked else _scenario)(table, treatment)
    return bounds


def _scenario(table: pd.DataFrame, treatment: str) -> dict:
    counts = TwoByTwo.from_data(table, FILLED, treatment)
    ratio = counts.treatment_risk / counts.control_risk if counts.control_risk else None
    return {"risk_difference": counts.treatment_risk - counts.control_risk, "risk_ratio": ratio}


def _blocked_scenario(table: pd.DataFrame, treatment: str) -> dict:
    difference = weighted_difference(table[FILLED].to_numpy(), table)
    ratio = mantel_haenszel_risk_ratio(table, FILLED, treatment=treatment, block=UNIT).estimate
    return {"risk_difference": difference if np.isfinite(difference) else None, "risk_ratio": ratio}
