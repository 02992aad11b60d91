"""Stage 4's results as results.json holds them: each outcome's entry, and the design section.

:func:`outcome_entry` is the one place an outcome's entry (``outcomes.<name>``: the arms, ``itt``,
``cace``, ``power``, ``notes``, ``design``) is built, from the tidy rows and the other figures of
:func:`helpers.methods.registry.analyse_outcome`; the names are those of the published results
contract (:class:`helpers.pipeline.models.estimates.Outcome`), and each figure that is also a row of
the estimates table (its risk ratio, risk difference, complier effect and complier reduction) is
that row's estimate and interval, so the two cannot differ. A row's method, standard error and
the rest stay on the row. ``notes`` holds the reason for every figure left None.
"""
from __future__ import annotations

import pandas as pd

from helpers.methods.arms import risk_or_none
from helpers.methods.design import Design
from helpers.methods.registry import OutcomeAnalysis


def outcome_entry(analysis: OutcomeAnalysis) -> dict:
    """The results.json entry of one outcome."""
    rows, counts = analysis.rows, analysis.counts
    rr, rd, odds = rows["risk_ratio"], rows["risk_difference"], rows["odds_ratio"]
    cace, rrr = rows["complier_average_causal_effect"], rows["complier_relative_risk_reduction"]
    exact, tested, risks, weak = (analysis.exact, analysis.randomisation, analysis.complier_risks,
                                  analysis.anderson_rubin)
    randomisation_method = tested.method if tested.two_sided is not None else tested.reason
    itt = {
        "risk_ratio": rr.estimate, "risk_ratio_ci": rr.interval,
        "relative_risk_reduction": None if rr.estimate is None else 1 - rr.estimate,
        "relative_risk_reduction_ci": [None if v is None else 1 - v for v in reversed(rr.interval)],
        "risk_difference": rd.estimate, "risk_difference_ci": rd.interval,
        "p_value_exact": exact.two_sided, "p_value_exact_one_sided": exact.one_sided,
        "p_value_randomisation": tested.two_sided, "p_value_randomisation_one_sided": tested.one_sided,
        "randomisation_method": randomisation_method,
        "one_sided_direction": analysis.direction,
        "bayesian": analysis.bayesian, "bayesian_sceptical": analysis.bayesian_sceptical,
        "open_investigation_bounds": analysis.open_investigations,
    }
    complier = {
        "risk_difference": cace.estimate, "risk_difference_ci": cace.interval,
        "complier_control_risk": risks.control, "complier_treated_risk": risks.treated,
        "relative_risk_reduction": rrr.estimate, "relative_risk_reduction_ci": rrr.interval,
        "first_stage_f": weak["first_stage_f"], "weak_instrument": weak["weak_instrument"],
        "anderson_rubin": {key: value for key, value in weak.items() if key not in ("first_stage_f",
                                                                                    "weak_instrument")},
    }
    design = {"assignment": analysis.design.assignment, "columns": list(analysis.design.columns)}
    icc_reason = None
    if analysis.clustering is not None:
        icc, effect = analysis.clustering
        design.update(intracluster_correlation=icc.estimate, intracluster_correlation_method=icc.method,
                      design_effect=effect.estimate, design_effect_method=effect.method, clusters=analysis.clusters)
        icc_reason = icc.reason if icc.estimate is None else None
    notes = {"itt.risk_ratio": rr.reason, "itt.risk_difference": rd.reason, "itt.odds_ratio": odds.reason,
             "itt.p_value_exact": exact.reason, "itt.bayesian": analysis.bayesian.get("reason"),
             "cace.risk_difference": cace.reason, "cace.relative_risk_reduction": rrr.reason,
             "cace.first_stage_f": weak.get("reason"), "power": analysis.power.get("reason"),
             "cace.complier_risks": risks.reason, "itt.p_value_randomisation": None if tested.two_sided is not None
             else tested.reason, "design.intracluster_correlation": icc_reason}
    return {
        "codes": list(analysis.codes),
        "control": {"events": counts.control_events, "n": counts.control_n, "risk": risk_or_none(counts.control_risk)},
        "treatment": {"events": counts.treatment_events, "n": counts.treatment_n,
                      "risk": risk_or_none(counts.treatment_risk)},
        "itt": itt,
        "cace": complier,
        "power": {key: value for key, value in analysis.power.items() if key != "reason"},
        "notes": {key: reason for key, reason in notes.items() if reason},
        "design": design,
    }


def design_section(design: Design, data: pd.DataFrame, outcomes: dict, primary: str,
                   not_valid_analyses: list[dict]) -> dict:
    """Stage 4's design section: the declared design, its sentence and the ICC (each estimator is on its row)."""
    entry = outcomes[primary]["design"]
    units = design.units(data)
    breaches = 0
    if design.clustered:
        arms = data["assigned"].groupby(units.to_numpy()).nunique()
        breaches = int((arms > 1).sum())
    return {
        "assignment": design.assignment, "name": design.name, "columns": list(design.columns),
        "probability": design.probability if design.assignment == "simple" else None,
        "units": None if units is None else int(units.nunique()),
        "description": design.describe(data, entry, breaches),
        "intracluster_correlation": entry.get("intracluster_correlation"),
        "design_effect": entry.get("design_effect"),
        "icc_outcome": primary if design.clustered else None,
        "not_valid": not_valid_analyses,
    }
