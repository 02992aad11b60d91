"""results.json: every figure of one run, each in one place, in the form evaluators and the report read.

The top-level sections and the keys the published results contract names (``schema_version``
"1"; ``inputs.allocation_sha256``; the ``flow`` counts; ``allocation_audit``'s four summary
figures; ``compliance.treatment_received_rate`` and ``control_contamination_rate``; each
outcome's ``itt``, ``cace`` and ``power`` figures; ``extrapolation.prevented`` and
``share_of_hate_crimes``; ``provenance``) keep the contract's names. Everything else appears
once: a detail object does not repeat the summary figure the contract names (the ratio test's
p-value is ``allocation_audit.allocation_ratio_p_value``, not also ``ratio.p_value``), the
parameters are recorded once (``provenance.parameters``), and each estimate's method,
standard error, statistic, degrees of freedom and confidence level are on its row of
``estimates`` (estimatr's tidy form). An outcome's ``itt.risk_difference`` and ``cace`` figures
are the contract's names for the rows of ``estimates`` with the same outcome and estimand:
:func:`helpers.pipeline.effects.outcome_entry` builds them from those rows, and a test checks they agree.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from helpers.pipeline.models.common import (
    Assignment,
    Closed,
    Count,
    Difference,
    Interval,
    Pair,
    Probability,
    ProbabilityInterval,
    PValue,
    Ratio,
    Reason,
    Skipped,
)
from helpers.pipeline.models.estimates import (
    Outcomes,
    TidyRow,
)

# -- inputs, trial, flow ---------------------------------------------------------------------------


class InputFile(Closed):
    """One input file as read: its name (never its folder), the sheet of a workbook, its size and rows."""

    file: str
    sheet: str | None = Field(description="the workbook sheet that was read (null for a CSV file)")
    sheet_reason: str | None = Field(description="why that sheet: named on the command line, the only visible sheet "
                                                 "with the required columns, or the active one of several; hidden "
                                                 "sheets are read only when named")
    size_bytes: Count
    rows: Count = Field(description="data rows read (blank rows skipped)")
    dropped_identifier_columns: list[str] = Field(description="columns dropped on reading because they could "
                                                              "identify a person or hold free text")


class Origin(Closed):
    """Whether the inputs are files the project's generator made, unedited (its manifest lists their hashes)."""

    synthetic: bool
    generator: str | None
    seed: int | None
    published: str | None = Field(description="what the synthetic files take from the published trial")
    invented: str | None = Field(description="what the synthetic files invent")


Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class Inputs(Closed):
    allocation_sha256: Sha256
    extract_sha256: Sha256
    allocation: InputFile
    extract: InputFile
    origin: Origin


class Trial(Closed):
    """When and where the trial ran."""

    reported_from: str | None = Field(description="date of the first randomised report (ISO)")
    reported_to: str | None = Field(description="date of the last randomised report (ISO)")
    boroughs: list[str] = Field(description="the boroughs held by enough reports to be named")
    boroughs_not_named: Count = Field(description="boroughs held by too few reports to be named")
    last_outcome_on: str | None = Field(description="date of the last outcome recorded: the end of follow-up (null "
                                                    "when the extract has no outcome dates)")


class Flow(Closed):
    """The CONSORT flow: every record assessed is randomised or excluded with a reason (``exclusions``)."""

    assessed: Count
    excluded_before_randomisation: Count
    randomised: Count
    allocated: Pair
    received_src: Pair
    outcome_recorded: Pair
    outcome_open: Pair
    analysed: Pair


class Exclusion(Closed):
    """Rows not analysed, by file and reason; the exclusion log lists every one."""

    file: str
    stage: str = Field(description="where the rows left: before randomisation, or after")
    reason: str
    rows: Annotated[int, Field(ge=1)]
    first_rows: Annotated[list[int], Field(max_length=20, description="the first row numbers as a person sees "
                                                                      "them opening the file")]


# -- allocation audit ------------------------------------------------------------------------------


class RatioCheck(Closed):
    """The arm sizes the ratio test compares (its p-value is ``allocation_ratio_p_value``)."""

    treatment: Count
    control: Count
    expected_share: Probability | None = Field(description="the SRC share the declared design expects when it is not "
                                                           "one half (a simple design's probability); null: one half")
    reason: Reason = None


class RunsCheck(Closed):
    """Wald-Wolfowitz runs test on the arms in allocation order."""

    runs: Count
    longest_run: Count
    p_value: PValue | None
    reason: Reason = None


class OmnibusCheck(Closed):
    """Likelihood-ratio test of a logistic regression of the arm on every baseline covariate (its p-value is
    ``balance_omnibus_p_value``)."""

    statistic: float | None
    df: Count
    method: str


class RandomisationCheck(Closed):
    """The balance test by randomisation inference on the R-squared of allocation on the covariates."""

    p_value: PValue | None
    draws: Count
    r_squared: Annotated[float, Field(ge=0, le=1)] | None = None
    method: str


class PeriodRow(Closed):
    """Allocations to each arm in one period (a weekday, or a month; neighbouring months merged where few)."""

    period: str
    SRC: Count
    BAU: Count


class PeriodCheck(Closed):
    """Allocation by weekday or by month: a chi-squared test, or its randomisation version under a design."""

    table: list[PeriodRow]
    p_value: PValue | None
    statistic: float | None = None
    df: Count | None = None
    draws: Count | None = None
    method: str | None = None


class BalanceRow(Closed):
    """The share of each arm with one level of one characteristic, and the standardised difference."""

    covariate: str
    level: str
    n: Count = Field(description="reports with the level (a continuous covariate: reports with a value)")
    control: float | None = Field(description="share of the business-as-usual arm (a mean for a continuous covariate)")
    treatment: float | None = Field(description="share of the SRC arm (a mean for a continuous covariate)")
    standardised_difference: float | None


class AllocationAudit(Closed):
    """Was the allocation random, and was it kept? Each check flags below ``thresholds.flag_p_value``."""

    allocation_ratio_p_value: PValue | None
    balance_omnibus_p_value: PValue | None
    max_abs_standardised_difference: Annotated[float, Field(ge=0)] | None
    flags: list[str]
    allocated_before_report: Count
    threshold_rule_breaches: Count | None = Field(description="reports whose arm breaks the random number's "
                                                              "documented rule (null: no random numbers)")
    random_numbers_out_of_range: Count
    allocated_after_outcome: Count
    conflicting_log_entries: Count
    ratio: RatioCheck
    runs: RunsCheck
    omnibus: OmnibusCheck
    omnibus_randomisation: RandomisationCheck
    by_weekday: PeriodCheck
    by_month: PeriodCheck
    balance: list[BalanceRow] = Field(description="levels whose count in either arm would be below the disclosure "
                                                  "threshold are combined ('other ...'); hate strands are each "
                                                  "report's first strand")


# -- compliance ------------------------------------------------------------------------------------


class DeliveryRow(Closed):
    """Delivery in one group: every count 0 or at least the disclosure threshold (small groups combined)."""

    group: str
    borough: str | None = Field(default=None, description="the borough group a ward row belongs to")
    allocated: Count
    received: Count
    rate: Probability | None


class ContactTiming(Closed):
    """Days from report to contact (null when no contact date is recorded)."""

    n: Count
    median: float | None
    q1: float | None
    q3: float | None
    min: float | None = None
    max: float | None = None


class PredictorTerm(Closed):
    term: str
    odds_ratio: Ratio | None
    conf_low: Ratio | None
    conf_high: Ratio | None
    p_value: PValue | None


class Predictors(Closed):
    """Odds ratios of delivery by baseline characteristic within the SRC arm (descriptive, not causal)."""

    terms: list[PredictorTerm]
    dropped: list[str]
    method: str
    reason: Reason


class Compliance(Closed):
    """Who received the contact: by arm with intervals, and by group."""

    treatment_received_rate: Probability | None
    treatment_received_rate_ci: ProbabilityInterval
    control_contamination_rate: Probability | None
    control_contamination_rate_ci: ProbabilityInterval
    rate_method: str = Field(description="Wilson interval, or its cluster-robust version under a cluster design")
    contact_modes: dict[str, Count] | None = Field(description="contacts by mode (keys from the extract, small modes "
                                                               "combined); null without src_mode")
    contact_timing: ContactTiming
    by_borough: list[DeliveryRow]
    by_month: list[DeliveryRow]
    by_hate_strand: list[DeliveryRow]
    by_ward: list[DeliveryRow]
    predictors_of_delivery: Predictors


class Identification(Closed):
    """Whether the allocation changed who received the contact: without that, no figure credits SRC."""

    identified: bool | None
    reason: str | None = Field(description="why no figure credits SRC: what delivery did, and the assumption it breaks")
    delivery: str | None = Field(description="what delivery did, when it breaks identification")
    assumption: str


# -- extrapolation, economics ----------------------------------------------------------------------


class Prevented(Closed):
    itt: float | None
    itt_ci: Interval
    full_compliance: float | None
    full_compliance_ci: Interval


class ShareOfHateCrimes(Closed):
    itt: float | None
    full_compliance: float | None


class AbsoluteTransport(Closed):
    prevented: float | None
    prevented_ci: Interval
    method: str
    reason: Reason = None


class DeliveryScenario(Closed):
    delivery_rate: Probability
    prevented: float | None
    prevented_ci: Interval


class Extrapolation(Closed):
    """The trial's effect carried to the force: annual withdrawals x relative reduction, intervals carried."""

    population: str
    population_key: str
    source: str
    hate_crimes: Count
    withdrawals: Count
    prevented: Prevented
    share_of_hate_crimes: ShareOfHateCrimes
    notes: dict[str, str]
    method: str
    absolute_transport: AbsoluteTransport
    delivery_scenarios: list[DeliveryScenario]


class NationalScenario(Closed):
    """The effect carried to a national population whose withdrawals are assumed: an assumption, not a finding."""

    population: str
    source: str
    hate_crimes: Count
    assumed_withdrawal_share: Probability
    assumed_withdrawals: Count
    assumption: str
    prevented: Prevented
    reason: Reason = None


class Economics(Closed):
    """Officer time and cost of offering SRC to every victim a year, and the cost per prevented withdrawal."""

    hours_per_year: float | None
    cost_per_year: float | None
    cost_per_prevented_withdrawal: float | None
    cost_per_prevented_withdrawal_ci: Interval
    upper_bound_unbounded: bool | None = Field(description="the interval has no upper end because the effect's "
                                                           "interval includes no effect (null without a cost)")
    victims_per_year: Count
    phone_share: Probability | None
    minutes_per_contact: float | None
    blended_hourly_cost: float
    method: str
    reason: Reason = None


# -- subgroups, design, plan, provenance -----------------------------------------------------------


class SubgroupLevel(Closed):
    subgroup: str
    n: Count
    control_risk: Probability | None
    treatment_risk: Probability | None
    risk_difference: Difference | None
    conf_low: Difference | None
    conf_high: Difference | None
    reason: Reason = None


class Subgroup(Closed):
    """Exploratory subgroup effects on withdrawal, Cochran's Q for interaction, Holm across the families."""

    by: str
    levels: list[SubgroupLevel]
    interaction_p_value: PValue | None
    interaction_p_value_holm: PValue | None
    interaction_statistic: float | None
    interaction_df: Count | None
    interaction_method: str
    rule: str | None = None
    reason: Reason = None


class Breach(Closed):
    cluster: str | None = Field(description="null for a cluster too small to be named")
    arm: str | None
    reports: Count | None
    in_other_arm: Count | None


class BlockShare(Closed):
    block: str
    reports: Count
    src: Count
    bau: Count
    share: Probability


class ArmClusters(Closed):
    clusters: Count
    reports: Count
    mean_size: float | None
    median_size: float | None


class ClusterSummary(Closed):
    treatment: ArmClusters
    control: ArmClusters
    size_standardised_difference: float | None


class ClusterBalanceRow(Closed):
    covariate: str
    level: str
    clusters: Count
    control: float | None
    treatment: float | None
    standardised_difference: float | None


class DesignAudit(Closed):
    """The declared design's own allocation checks (simple: the share; blocked: each block; cluster: each cluster)."""

    assignment: Assignment
    columns: list[str]
    warnings: list[str]
    flags: list[str]
    balance_method: str | None = None
    blocks: list[BlockShare] | None = None
    blocks_with_one_arm: list[str] | None = None
    share_range: tuple[Probability, Probability] | None = None
    clusters: ClusterSummary | None = None
    breaches: list[Breach] | None = None
    cluster_balance: list[ClusterBalanceRow] | None = None
    max_abs_cluster_standardised_difference: float | None = None
    wards_in_several_boroughs: dict[str, Count] | None = Field(
        default=None, description="ward labels (held by enough reports to be named) found in several boroughs, with "
                                  "how many; keys: ward labels")


class Design(Closed):
    """How reports were allocated (parameters: design), in a sentence, with its consequences."""

    assignment: Assignment
    name: str
    columns: list[str] = Field(description="the column of the blocks or clusters, or the nested columns, outermost "
                                           "first; empty for complete or simple randomisation")
    probability: Probability | None = Field(description="simple randomisation: the declared chance of SRC")
    units: Count | None = Field(description="blocks or clusters randomised")
    description: str
    intracluster_correlation: Annotated[float, Field(le=1)] | None
    design_effect: Annotated[float, Field(ge=1)] | None
    icc_outcome: str | None
    not_valid: list[Skipped] = Field(description="analyses not run because the design does not support them")
    audit: DesignAudit | None


class Analysis(Closed):
    analysis: str
    role: Literal["primary", "secondary", "exploratory"]
    prespecified: bool


class Reconciliation(Closed):
    """A published figure, and the paths of this run's figures that reproduce it."""

    published: str
    is_: str = Field(alias="is", serialization_alias="is")
    scale: str = Field(description="how the published figure reads this run's: points, percent, count or share")
    results: list[str] = Field(description="paths in results.json, e.g. outcomes.attrition.itt.risk_difference")


class Thresholds(Closed):
    """The rules this run applied and the report states (the disclosure threshold is a parameter)."""

    flag_p_value: PValue
    min_level_count: Count
    large_standardised_difference: float
    weak_instrument_f: float
    min_subgroup_per_arm: Count


class Provenance(Closed):
    command: str | None = Field(None, description=(
        "the srceval command that produced this file, as typed (its arguments shell-quoted, each path by its last part "
        "alone, as the input files are named; nothing "
        "from the environment); null when the stage notebooks were executed directly, or the file is older than "
        "this field"))
    package_version: str
    git_commit: str | None
    parameters: dict = Field(description="the run's parameters, as checked by the parameters file's own schema "
                                         "(helpers.parameters) before the run began")
    parameters_file: str | None = Field(None, description="the parameters file the run read: the project's own by its "
                                                          "place in the project, a user's by its name alone (its "
                                                          "folder may name a person or a place)")
    python: str
    packages: dict[str, str | None]
    generated_at: str


class Results(Closed):
    """Machine-readable results written by every run next to the report, as results.json.

    Proportions are fractions in [0, 1]; risk differences are SRC minus business as usual (negative:
    fewer events with SRC); a relative risk reduction is 1 - risk ratio; every interval is [low,
    high] at the run's confidence level (``provenance.parameters.confidence_level``, and
    ``conf_level`` on every row of ``estimates``).
    """

    model_config = Closed.model_config | {"title": "SRC trial evaluation results"}

    schema_version: Literal["1"]
    inputs: Inputs
    trial: Trial
    flow: Flow
    exclusions: list[Exclusion]
    allocation_audit: AllocationAudit
    compliance: Compliance
    identification: Identification
    estimates: list[TidyRow]
    outcomes: Outcomes
    subgroups: list[Subgroup]
    design: Design
    extrapolation: Extrapolation
    national_scenario: NationalScenario | None
    economics: Economics | None = Field(description="null when the extract records no contact mode, or too few "
                                                    "calls or visits to publish their mix")
    thresholds: Thresholds
    analyses: list[Analysis]
    reconciliation: list[Reconciliation]
    warnings: list[str]
    skipped: list[Skipped]
    provenance: Provenance
