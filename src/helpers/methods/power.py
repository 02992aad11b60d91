"""Power: the smallest change the trial could detect, and the size a trial needs, under every design.

Cohen's arcsine effect size for two arms (Cohen 1988), at the trial's own arm sizes: as they are
under complete or simple randomisation, at their effective size under block weighting, and divided
by the design effect of the clustering under a cluster design. Observed ("post hoc") power is not
given: it is a function of the p-value and adds nothing to it (Hoenig & Heisey 2001).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from helpers.methods.arms import TwoByTwo, known
from helpers.methods.clustering import design_effect
from helpers.methods.design import COMPLETE, UNIT, Design
from helpers.methods.tidy import Estimate


def power(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
          target_power: float = 0.80, target_relative_reduction: float = 0.20, direction: str = "decrease") -> dict:
    """The design questions for ``outcome`` under ``design``: what this trial could detect, what a trial would need.

    ``reason`` says why the figures are None, when they are.
    """
    options = dict(conf_level=conf_level, target_power=target_power,
                   target_relative_reduction=target_relative_reduction, direction=direction)
    if design.blocked:
        return blocked_power(known(design.with_units(data), outcome), outcome, **options)
    if design.clustered:
        frame = design.with_units(data)
        return cluster_power(known(frame, outcome), outcome, design_effect(frame, outcome, cluster=UNIT), **options)
    counts = TwoByTwo.from_data(data, outcome)
    return power_analysis(counts.control_risk, counts.treatment_n, counts.control_n, **options)


def power_analysis(control_risk: float, n_treatment: float, n_control: float, *, conf_level: float = 0.95,
                   target_power: float = 0.80, target_relative_reduction: float = 0.20,
                   direction: str = "decrease") -> dict:
    """The design questions: the smallest effect this trial could detect, and the size a trial needs.

    By Cohen's arcsine effect size h = 2 asin sqrt(p1) - 2 asin sqrt(p0), whose variance is
    1/n1 + 1/n0 (Cohen 1988, unequal arms). Returns the smallest change in risk detectable with
    ``target_power`` at the trial's own arm sizes, two-sided at 1 - ``conf_level``, in the outcome's
    stated ``direction`` (a fall below ``control_risk``, negative, for "decrease"; a rise above
    it, positive, for "increase"), and the reports per arm (equal arms) needed to detect the
    plan's ``target_relative_reduction`` of ``control_risk`` (a relative increase of the same size
    for an outcome whose ``direction`` is "increase").
    """
    alpha = 1 - conf_level
    method = "normal approximation, Cohen's h, two-sided"
    none = {"minimum_detectable_difference": None, "n_per_arm_for_target_power": None, "method": method,
            "target_power": target_power, "target_relative_reduction": target_relative_reduction}
    if min(n_treatment, n_control) < 2 or not np.isfinite(control_risk) or not 0 < control_risk < 1:
        return {**none, "reason": "not estimable: an arm has fewer than two reports, or the control risk is 0 or 1"}
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target_power)
    h = z * np.sqrt(1 / n_treatment + 1 / n_control)
    # the angle 2 asin sqrt(p) runs from 0 (p = 0) to pi (p = 1): a change beyond either end is the whole way
    angle = 2 * np.arcsin(np.sqrt(control_risk)) + (h if direction == "increase" else -h)
    detectable = np.sin(np.clip(angle, 0, np.pi) / 2) ** 2 - control_risk
    change = -target_relative_reduction if direction == "decrease" else target_relative_reduction
    target = min(1.0, control_risk * (1 + change))
    target_h = abs(2 * np.arcsin(np.sqrt(target)) - 2 * np.arcsin(np.sqrt(control_risk)))
    needed = int(np.ceil(2 * (z / target_h) ** 2)) if target_h > 0 else None
    return {**none, "minimum_detectable_difference": float(detectable), "n_per_arm_for_target_power": needed,
            "effect_size_h": float(h)}


def blocked_power(rows: pd.DataFrame, outcome: str, *, conf_level: float = 0.95, target_power: float = 0.80,
                  target_relative_reduction: float = 0.20, direction: str = "decrease") -> dict:
    """Power of a blocked trial: Cohen's h at the arms' effective size under block weighting.

    ``rows`` are the reports with the outcome recorded, each with its block in
    :data:`~helpers.methods.design.UNIT`. The blocked estimator's variance is
    sum_j (N_j / N)^2 (1 / n_1j + 1 / n_0j) in units of the outcome's variance; a trial of two equal
    arms of 2 / that sum has the same, so the smallest detectable effect is computed at that size,
    from the block-weighted control risk. The size for the plan's target is for a future trial of
    two equal arms (blocked with equal shares, or not).
    """
    frame = pd.DataFrame({"z": rows["assigned"].to_numpy(dtype=int), "b": rows[UNIT].to_numpy(),
                          "y": rows[outcome].to_numpy(dtype=float)})
    sizes = frame.groupby(["b", "z"]).size().unstack("z", fill_value=0).reindex(columns=[0, 1], fill_value=0)
    target = dict(target_power=target_power, target_relative_reduction=target_relative_reduction,
                  direction=direction)
    if sizes.empty or (sizes == 0).to_numpy().any():
        return {**power_analysis(float("nan"), 0, 0, **target),
                "reason": "not estimable: a block has no SRC or no business-as-usual report with an outcome"}
    weights = sizes.sum(axis=1) / len(frame)
    variance = float(np.sum(weights ** 2 * (1 / sizes[1] + 1 / sizes[0])))
    effective = 2 / variance
    control = frame[frame["z"] == 0].groupby("b")["y"].mean().reindex(sizes.index)
    control_risk = float(np.sum(weights * control))
    result = power_analysis(control_risk, effective, effective, conf_level=conf_level, **target)
    result["method"] += (f"; blocked design: the trial's arms taken at their effective size under block weighting, "
                         f"2 / sum_j (N_j / N)^2 (1 / n_1j + 1 / n_0j) = {effective:.0f} reports per arm, and the "
                         "block-weighted control risk; the size for the target is for a future trial of two equal "
                         "arms")
    result["effective_n_per_arm"] = effective
    return result


def cluster_power(rows: pd.DataFrame, outcome: str, effect: Estimate, *, conf_level: float = 0.95,
                  target_power: float = 0.80, target_relative_reduction: float = 0.20,
                  direction: str = "decrease") -> dict:
    """Power of a cluster trial: Cohen's h with the sample sizes divided, and the size needed multiplied, by the
    design effect (``effect``, :func:`~helpers.methods.clustering.design_effect`)."""
    counts = TwoByTwo.from_data(rows, outcome)
    target = dict(target_power=target_power, target_relative_reduction=target_relative_reduction,
                  direction=direction)
    if effect.estimate is None:
        return {**power_analysis(float("nan"), 0, 0, **target),
                "reason": "not estimable: the design effect is not estimable ("
                          + effect.reason.removeprefix("not estimable: ") + ")"}
    factor = float(effect.estimate)
    result = power_analysis(counts.control_risk, counts.treatment_n / factor, counts.control_n / factor,
                            conf_level=conf_level, **target)
    if result["n_per_arm_for_target_power"] is not None:
        result["n_per_arm_for_target_power"] = int(np.ceil(result["n_per_arm_for_target_power"] * factor))
    result["method"] += (f"; cluster design: the trial's arm sizes divided by the design effect {factor:.2f} "
                         "(1 + (mean cluster size - 1) x ICC), and the reports per arm needed multiplied by it, for "
                         "clusters of the trial's mean size")
    result["design_effect"] = factor
    return result
