"""The estimates and outcomes of results.json: the tidy rows of ``estimates`` and each outcome's entry
(:mod:`helpers.pipeline.models.results` holds the whole file)."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from helpers.pipeline.models.common import (
    Assignment,
    Closed,
    Count,
    Difference,
    DifferenceInterval,
    Direction,
    Interval,
    Probability,
    PValue,
    Ratio,
    RatioInterval,
    Reason,
    Reduction,
    ReductionInterval,
)

# -- estimates -------------------------------------------------------------------------------------


class TidyRow(Closed):
    """One estimate of one estimand for one outcome, as estimatr's ``tidy()`` gives it."""

    outcome: str
    estimand: str
    estimate: float | None
    std_error: Annotated[float, Field(ge=0)] | None = Field(description="of the log ratio for a ratio")
    statistic: float | None = Field(description="the statistic of the test whose p-value is beside it")
    p_value: PValue | None
    conf_low: float | None
    conf_high: float | None
    df: Annotated[float, Field(gt=0)] | None = Field(description="degrees of freedom of a t interval and test")
    conf_level: Annotated[float, Field(gt=0, lt=1)]
    design: Assignment
    method: str
    n: Count
    prespecified: bool
    reason: Reason


# -- outcomes --------------------------------------------------------------------------------------


class Arm(Closed):
    events: Count
    n: Count
    risk: Probability | None


class Bayes(Closed):
    """Posterior probabilities of benefit with independent Beta priors on each arm's risk."""

    prior: str
    relative_threshold: Annotated[float, Field(ge=0, lt=1)]
    method: str
    probability_of_reduction: Probability | None
    probability_of_relative_reduction_at_least: Probability | None
    reason: Reason = None


class Scenario(Closed):
    risk_difference: Difference | None
    risk_ratio: Ratio | None


class OpenBounds(Closed):
    """The effect if the open investigations all end in the outcome, none do, or the worst cases (Manski 1990)."""

    open_treatment: Count
    open_control: Count
    all_open_cases: Scenario
    no_open_cases: Scenario
    src_open_cases_only: Scenario
    bau_open_cases_only: Scenario


class ITT(Closed):
    """Intention to treat: the contract's names for the estimates rows, and the tests."""

    risk_ratio: Ratio | None
    risk_ratio_ci: RatioInterval
    relative_risk_reduction: Reduction | None
    relative_risk_reduction_ci: ReductionInterval
    risk_difference: Difference | None
    risk_difference_ci: DifferenceInterval
    p_value_exact: PValue | None = Field(description="Fisher's exact test, two-sided (null where the design makes it "
                                                     "invalid: see notes)")
    p_value_exact_one_sided: PValue | None
    p_value_randomisation: PValue | None
    p_value_randomisation_one_sided: PValue | None
    randomisation_method: str
    one_sided_direction: Direction
    bayesian: Bayes
    bayesian_sceptical: Bayes
    open_investigation_bounds: OpenBounds | None


class AndersonRubin(Closed):
    """The complier effects the Anderson-Rubin test does not reject: valid however weak the instrument."""

    interval: Interval
    shape: str
    method: str
    reason: Reason = None


class CACE(Closed):
    """The complier average causal effect: the contract's names for the estimates rows, complier risks, the
    first stage and the Anderson-Rubin set."""

    risk_difference: Difference | None
    risk_difference_ci: DifferenceInterval
    complier_control_risk: Probability | None
    complier_treated_risk: Probability | None
    relative_risk_reduction: Reduction | None
    relative_risk_reduction_ci: ReductionInterval
    first_stage_f: Annotated[float, Field(ge=0)] | None
    weak_instrument: bool | None
    anderson_rubin: AndersonRubin


class Power(Closed):
    """The smallest effect the trial's arms could detect, in the outcome's direction, and the size a trial needs."""

    minimum_detectable_difference: Difference | None
    n_per_arm_for_target_power: Annotated[int, Field(ge=1)] | None
    target_power: Annotated[float, Field(gt=0, lt=1)]
    target_relative_reduction: float
    method: str
    effect_size_h: float | None = None
    effective_n_per_arm: float | None = None
    design_effect: float | None = None


class OutcomeDesign(Closed):
    """The declared design as it applies to this outcome; a cluster design's ICC and design effect."""

    assignment: Assignment
    columns: list[str]
    clusters: Count | None = None
    intracluster_correlation: Annotated[float, Field(le=1)] | None = None
    intracluster_correlation_method: str | None = None
    design_effect: Annotated[float, Field(ge=1)] | None = None
    design_effect_method: str | None = None


class Outcome(Closed):
    codes: list[str]
    control: Arm
    treatment: Arm
    itt: ITT
    cace: CACE
    power: Power
    notes: dict[str, str] = Field(description="why each figure left null is not estimable, or why an interval was cut "
                                              "or is unbounded, by the figure's path (keys: paths)")
    design: OutcomeDesign


class Outcomes(Closed):
    """The three outcomes of the analysis plan, by the names the published results contract gives them."""

    attrition: Outcome = Field(description="the victim withdrew support (codes 14, 16 by default)")
    charge: Outcome
    positive_outcome: Outcome
