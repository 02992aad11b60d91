"""The forms of ``monitoring.json`` (``srceval monitor``) and ``plan.json`` (``srceval plan-rollout``).

Both files are built from these pydantic models and validated by them; their JSON Schemas are
generated from the same models (``python -m helpers.pipeline.models`` writes them to
``helpers/report/schema/``), and a test fails if a committed schema differs from the models.
Every estimate carries its interval and its method; a figure the data cannot support is None with
a ``reason`` that starts "not estimable".
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from helpers.pipeline.models.common import Closed

SCHEMA_VERSION = "1"


class FileRecord(Closed):
    role: str
    file: str
    sha256: str
    rows: int | None = None


class Provenance(Closed):
    command: str = Field(description="the command line as typed")
    files: list[FileRecord]
    parameters: dict = Field(description="every parameter of the run, as validated")
    package_version: str
    git_commit: str | None
    python: str
    packages: dict[str, str | None]
    generated_at: str


# -- monitoring.json ----------------------------------------------------------------------------

class WardDelivery(Closed):
    """One live ward's delivery since go-live, on the funnel plot. Wards whose counts (reports, reached, not
    reached) would be small count together under "other wards" of their borough (and boroughs too small
    under "other boroughs"): every published count is 0 or at least the disclosure threshold."""

    borough: str = Field(description="the borough, or 'other boroughs' for boroughs combined")
    ward: str = Field(description="the ward, or 'other wards' for the wards of the borough combined")
    wards: int = Field(ge=1, description="how many wards the row holds (1 for a named ward)")
    combined: bool = Field(description="the row combines wards (or boroughs) too small to publish alone")
    reports: int = Field(ge=0)
    delivered: int = Field(ge=0)
    rate: float = Field(ge=0, le=1)
    lower_limit: float = Field(ge=0, le=1, description="lower 99.8% funnel limit")
    lower_limit_95: float = Field(ge=0, le=1)
    upper_limit: float = Field(ge=0, le=1, description="upper 99.8% funnel limit")
    flagged: bool = Field(description="a named ward's delivery below the lower 99.8% limit (a combined row never)")


class MonthDelivery(Closed):
    month: str
    reports: int
    delivered: int
    rate: float = Field(ge=0, le=1)
    centre: float = Field(ge=0, le=1)
    lower_limit: float = Field(ge=0, le=1)
    upper_limit: float = Field(ge=0, le=1)
    signal: bool = Field(description="beyond a limit, or part of a run-rule signal")


class RunRules(Closed):
    median: float | None
    useful_points: int
    longest_run: int
    longest_run_limit: int
    crossings: int
    crossings_limit: int
    long_run: bool
    few_crossings: bool


class Delivery(Closed):
    force_rate: float | None = Field(ge=0, le=1, description="delivery since go-live, all live wards")
    reports_after_go_live: int
    chart: Literal["p", "laney"] = Field(description="p-chart, or Laney's p' where months vary more than binomially")
    sigma_z: float
    run_rules: RunRules
    by_month: list[MonthDelivery]
    by_ward: list[WardDelivery]
    flagged_wards: list[str] = Field(description="named wards below the lower 99.8% funnel limit")
    disclosure_threshold: int
    method: str


class EventTime(Closed):
    event_time: int = Field(description="months since go-live (negative: before, a placebo check)")
    estimate: float | None
    std_error: float | None
    conf_low: float | None
    conf_high: float | None
    p_value: float | None
    reports: int
    placebo: bool


class Cell(Closed):
    cohort: str
    month: str
    base_month: str
    event_time: int
    estimate: float | None
    reports: int
    reason: str | None


class NaiveBeforeAfter(Closed):
    estimate: float | None
    std_error: float | None
    conf_low: float | None
    conf_high: float | None
    p_value: float | None
    method: str
    reason: str | None


class TrialPrediction(Closed):
    estimate: float | None
    conf_low: float | None
    conf_high: float | None
    method: str
    relative_reduction: float | None = None
    relative_reduction_ci: list[float | None] = Field(default_factory=lambda: [None, None])
    delivery_after: float | None = None
    risk_before: float | None = None
    source: str = ""
    within_observed_interval: bool | None = Field(
        None, description="whether the prediction lies within the staggered estimate's interval")
    reason: str | None


class RandomisationTest(Closed):
    p_value: float = Field(ge=0, le=1)
    draws: int
    statistic: str
    method: str


class Effect(Closed):
    """The effect of going live on the risk of withdrawal: after go-live against not yet (risk difference)."""

    estimate: float | None = Field(ge=-1, le=1)
    std_error: float | None
    conf_low: float | None = Field(ge=-1, le=1)
    conf_high: float | None = Field(ge=-1, le=1)
    p_value: float | None
    conf_level: float
    method: str
    comparison: str
    reason: str | None
    n_cells: int
    reports: int
    event_time: list[EventTime]
    naive_before_after: NaiveBeforeAfter
    trial_prediction: TrialPrediction
    randomisation_test: RandomisationTest | None
    cells: list[Cell]
    left_out: dict[str, int]


class Design(Closed):
    randomised: bool
    statement: str
    plan_seed: int | None = None
    stratified_by: str | None = None
    steps: int | None = None


class Extract(Closed):
    first_report: str
    last_report: str
    reports: int
    wards: int
    wards_live: int
    wards_not_live: int
    boroughs: list[str]
    synthetic: bool
    origin: str | None


class Exclusion(Closed):
    file: str
    reason: str
    rows: int


class Monitoring(Closed):
    """monitoring.json: delivery and effect monitoring of a ward-by-ward roll-out."""

    model_config = Closed.model_config | {"title": "SRC roll-out monitoring"}
    schema_version: Literal["1"] = SCHEMA_VERSION
    provenance: Provenance
    design: Design
    extract: Extract
    delivery: Delivery
    effect: Effect
    warnings: list[str]
    exclusions: list[Exclusion]


# -- plan.json ------------------------------------------------------------------------------------

class PlanWard(Closed):
    borough: str
    ward: str
    step: int = Field(ge=1)
    go_live: str


class Assumptions(Closed):
    baseline_risk: float = Field(gt=0, lt=1)
    relative_reduction: float = Field(gt=0, lt=1)
    effect: float = Field(description="risk difference of going live: - baseline_risk x relative_reduction")
    icc: float = Field(ge=0, lt=1)
    reports_per_ward_month: float = Field(gt=0)
    months_per_step: int
    alpha: float
    source: str


class Power(Closed):
    power: float = Field(ge=0, le=1)
    variance: float = Field(gt=0)
    std_error: float = Field(gt=0)
    sigma2: float
    tau2: float
    clusters: int
    periods: int
    reports_per_ward_period: float
    method: str


class ScheduleFile(Closed):
    file: str
    sha256: str


class Plan(Closed):
    """plan.json: a roll-out in a randomised ward order, planned as a stepped-wedge trial."""

    model_config = Closed.model_config | {"title": "SRC roll-out plan"}
    schema_version: Literal["1"] = SCHEMA_VERSION
    generator: Literal["srceval plan-rollout"] = "srceval plan-rollout"
    seed: int
    stratified_by: Literal["borough"] | None
    steps: int = Field(ge=1)
    wards_count: int = Field(ge=2)
    start: str = Field(description="first day of the all-control period before step 1")
    months_per_step: int
    step_dates: dict[str, str] = Field(description="go-live date of each step")
    wards: list[PlanWard]
    assumptions: Assumptions
    power: Power
    schedule: ScheduleFile
    provenance: Provenance
