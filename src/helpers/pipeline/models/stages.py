"""The stage files: what each stage writes into ``stages/`` for the stages after it to read.

A stage reads earlier stages' files only, so each file is a contract between two notebooks. Where a
stage file holds what results.json or monitoring.json holds, its model is built from the same
parts; where it holds more (a p-value results.json keeps once, elsewhere), the part says so.
:meth:`helpers.pipeline.context.StageContext.read_stage_result` checks every file it reads against
its model, so that a file edited by hand, or written by another version of srceval, is refused with
its name rather than read as if it were right.
"""
from __future__ import annotations

from pydantic import BaseModel, Field, create_model

from helpers.pipeline.models.common import Closed, Count, Pair, Probability, PValue, Reason, Skipped
from helpers.pipeline.models.estimates import Outcomes, TidyRow
from helpers.pipeline.models.monitoring import Delivery, Effect
from helpers.pipeline.models.monitoring import Exclusion as MonitoringExclusion
from helpers.pipeline.models.monitoring import Extract as MonitoringExtract
from helpers.pipeline.models.results import (
    BalanceRow,
    ContactTiming,
    DeliveryRow,
    DeliveryScenario,
    Design,
    DesignAudit,
    Economics,
    Extrapolation,
    Flow,
    Identification,
    InputFile,
    NationalScenario,
    OmnibusCheck,
    Origin,
    PeriodCheck,
    Predictors,
    RandomisationCheck,
    RunsCheck,
    Sha256,
    Subgroup,
    Trial,
)


def without(model: type[BaseModel], *names: str, title: str) -> type[Closed]:
    """``model`` less the fields ``names`` (what results.json adds to a stage's part), under another title."""
    fields = {name: (info.annotation, info) for name, info in model.model_fields.items() if name not in names}
    return create_model(title, __base__=Closed, __doc__=model.__doc__, **fields)


# -- 01_data_cleaning ------------------------------------------------------------------------------

class StageInputFile(InputFile):
    """One input file as read, with its SHA-256 (results.json keeps the hash beside the file's record)."""

    sha256: Sha256


class StageInputs(Closed):
    allocation: StageInputFile
    extract: StageInputFile
    origin: Origin


class StageFlow(Flow):
    """The CONSORT flow, with the count of each reason for exclusion before randomisation."""

    exclusion_reasons: dict[str, Count] = Field(description="reports excluded before randomisation, by reason")


class ExcludedRow(Closed):
    """One row left out, by its row number in its file (no crime reference)."""

    file: str
    source_row: int | None
    reason: str
    stage: str


class CleaningStage(Closed):
    """01_data_cleaning.json"""

    model_config = Closed.model_config | {"title": "Stage 01: data cleaning"}

    inputs: StageInputs
    flow: StageFlow
    warnings: list[str]
    trial: Trial
    exclusions: list[ExcludedRow]
    analysis_rows: Count
    skipped: list[Skipped]
    command: str | None = Field(None, description="the srceval command that started the run, as typed; null when "
                                                  "the notebooks were executed directly")


# -- 02_allocation_audit ---------------------------------------------------------------------------

class StageRatioCheck(Closed):
    """Allocation ratio against the declared share, with its p-value (results.json: allocation_ratio_p_value)."""

    treatment: Count
    control: Count
    p_value: PValue | None
    expected_share: Probability | None = None
    reason: Reason = None


class StageOmnibusCheck(OmnibusCheck):
    """The omnibus balance test with its p-value (results.json: balance_omnibus_p_value)."""

    p_value: PValue | None


class WeekdayRow(Closed):
    weekday: str
    SRC: Count
    BAU: Count


class MonthRow(Closed):
    month: str
    SRC: Count
    BAU: Count


_PeriodTest = without(PeriodCheck, "table", title="PeriodTest")


class WeekdayCheck(_PeriodTest):
    table: list[WeekdayRow]


class MonthCheck(_PeriodTest):
    table: list[MonthRow]


class AuditThresholds(Closed):
    flag_p_value: PValue
    min_level_count: Count
    large_standardised_difference: float


class AuditStage(Closed):
    """02_allocation_audit.json"""

    model_config = Closed.model_config | {"title": "Stage 02: allocation audit"}

    ratio: StageRatioCheck
    runs: RunsCheck
    omnibus: StageOmnibusCheck
    omnibus_randomisation: RandomisationCheck
    allocated_before_report: Count
    threshold_rule_breaches: Count | None
    random_numbers_out_of_range: Count
    allocated_after_outcome: Count
    conflicting_log_entries: Count
    by_weekday: WeekdayCheck
    by_month: MonthCheck
    max_abs_standardised_difference: float | None = Field(ge=0)
    flags: list[str]
    balance: list[BalanceRow]
    thresholds: AuditThresholds
    design: DesignAudit | None = None


# -- 03_compliance_analysis ------------------------------------------------------------------------

class DeliveryRate(Closed):
    """The share of one arm that received the contact, with its interval."""

    received: Count
    n: Count
    rate: Probability | None
    conf_low: Probability | None
    conf_high: Probability | None
    method: str | None = None


class DeliveryRates(Closed):
    treatment: DeliveryRate
    control: DeliveryRate


class ComplianceStage(Closed):
    """03_compliance_analysis.json"""

    model_config = Closed.model_config | {"title": "Stage 03: compliance analysis"}

    rates: DeliveryRates
    by_borough: list[DeliveryRow]
    by_month: list[DeliveryRow]
    by_hate_strand: list[DeliveryRow]
    by_ward: list[DeliveryRow]
    contact_modes: dict[str, Count] | None
    contact_timing: ContactTiming
    predictors_of_delivery: Predictors


# -- 04_effect_estimation --------------------------------------------------------------------------

class ContactModeRisk(Closed):
    """Withdrawal by how SRC was delivered (descriptive: who was reached by which mode is not randomised)."""

    group: str
    n: Count
    risk: Probability | None


class StageIdentification(Identification):
    """Whether the allocation changed delivery, with the counts it was decided from."""

    allocated: Pair
    received: Pair


class EffectThresholds(Closed):
    weak_instrument_f: float
    min_subgroup_per_arm: Count


DeclaredDesign = without(Design, "audit", title="DeclaredDesign")


class EffectStage(Closed):
    """04_effect_estimation.json"""

    model_config = Closed.model_config | {"title": "Stage 04: effect estimation"}

    outcomes: Outcomes
    estimates: list[TidyRow]
    subgroups: list[Subgroup]
    contact_mode: list[ContactModeRisk] | None = Field(description="null when the extract records no contact mode")
    design: DeclaredDesign
    identification: StageIdentification
    thresholds: EffectThresholds


# -- 05_extrapolation ------------------------------------------------------------------------------

class StageExtrapolation(without(Extrapolation, "delivery_scenarios", title="ExtrapolationFigures")):
    interval_includes_zero: bool | None = Field(description="whether the interval of prevented withdrawals "
                                                        "includes none; null when it is not estimable")


class StageEconomics(Economics):
    """The cost figures with the assumptions they rest on (results.json states them in the parameters)."""

    assumptions: dict[str, float | str]


class ExtrapolationStage(Closed):
    """05_extrapolation.json"""

    model_config = Closed.model_config | {"title": "Stage 05: extrapolation"}

    extrapolation: StageExtrapolation
    delivery_scenarios: list[DeliveryScenario]
    economics: StageEconomics | None
    national: NationalScenario | None


# -- monitoring: m1_delivery_monitoring, m2_effect_monitoring ----------------------------------------

class MonitorInputFile(Closed):
    file: str
    sha256: Sha256
    size_bytes: Count
    rows: Count


class MonitorInputs(Closed):
    extract: MonitorInputFile
    schedule: MonitorInputFile


class DeliveryMonitoringStage(Closed):
    """m1_delivery_monitoring.json"""

    model_config = Closed.model_config | {"title": "Stage m1: delivery monitoring"}

    inputs: MonitorInputs
    warnings: list[str]
    exclusions: list[MonitoringExclusion]
    plan: dict | None = Field(description="plan.json of srceval plan-rollout as read beside the schedule, when the "
                                          "schedule is that plan's (its form is plan.json's own schema)")
    origin: Origin
    extract: without(MonitoringExtract, "synthetic", "origin", title="ExtractSummary")
    delivery: Delivery


class EffectMonitoringStage(Effect):
    """m2_effect_monitoring.json: the effect as monitoring.json holds it."""

    model_config = Effect.model_config | {"title": "Stage m2: effect monitoring"}


# Each stage's file and the model it must follow.
STAGE_MODELS: dict[str, type[Closed]] = {
    "01_data_cleaning": CleaningStage, "02_allocation_audit": AuditStage, "03_compliance_analysis": ComplianceStage,
    "04_effect_estimation": EffectStage, "05_extrapolation": ExtrapolationStage,
    "m1_delivery_monitoring": DeliveryMonitoringStage, "m2_effect_monitoring": EffectMonitoringStage,
}
