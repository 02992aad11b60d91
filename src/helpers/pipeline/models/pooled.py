"""``srceval pool``: what it reads from each results.json, and pooled.json, the file it writes.

:class:`PoolInput` is the part of the results form that pooling reads, with the same types as
:class:`helpers.pipeline.models.results.Results` and counts bounded: a run's results.json is
checked against it before any field is used (a missing field, a string where a count goes, a
count beyond any extract all refuse the file, exit 2). Sections pooling does not read are not
checked, so a results.json of an earlier form pools if these fields are as they were.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from helpers.pipeline.models.common import Assignment, Closed, Count, Interval, PValue

# Reports in one run: far beyond any extract srceval reads; a larger count is not a run's.
MAX_COUNT = 100_000_000
RunCount = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Text = Annotated[str, Field(max_length=2_000)]


class Read(BaseModel):
    """An object pooling reads: the fields it names are checked, any others are left alone."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)


class InputArm(Read):
    events: RunCount
    n: RunCount


class InputOutcome(Read):
    control: InputArm
    treatment: InputArm


class InputDefinition(Read):
    codes: Annotated[list[Annotated[str, Field(max_length=20)] | Annotated[int, Field(ge=0, le=1000)]],
                     Field(max_length=100)]
    label: Text | None = None


class InputParameters(Read):
    outcomes: Annotated[dict[Annotated[str, Field(max_length=100)], InputDefinition], Field(max_length=50)]
    confidence_level: Annotated[float, Field(gt=0, lt=1)] | None = None


class InputProvenance(Read):
    parameters: InputParameters
    git_commit: Annotated[str, Field(max_length=100)] | None = None
    generated_at: Annotated[str, Field(max_length=100)] | None = None


class InputDesign(Read):
    assignment: Assignment = "complete"


class InputIdentification(Read):
    identified: bool | None = None
    reason: Text | None = None


class InputFiles(Read):
    allocation_sha256: Annotated[str, Field(max_length=128)] | None = None
    extract_sha256: Annotated[str, Field(max_length=128)] | None = None


class PoolInput(Read):
    """The fields of a results.json that ``srceval pool`` reads."""

    outcomes: Annotated[dict[Annotated[str, Field(max_length=100)], InputOutcome], Field(max_length=50)]
    provenance: InputProvenance
    design: InputDesign = InputDesign()
    identification: InputIdentification = InputIdentification()
    inputs: InputFiles = InputFiles()


# -- pooled.json -------------------------------------------------------------------------------------


class PooledRun(Closed):
    label: str
    file: str
    sha256: str
    git_commit: str | None
    generated_at: str | None


class RunCounts(Closed):
    run: str
    treatment: InputArm
    control: InputArm


class Study(Closed):
    """One run's effect on the reporting scale (ratios exponentiated) with its normal interval."""

    run: str
    included: bool
    corrected: bool = Field(description="0.5 added to every cell of a table with a zero cell")
    n: Count
    estimate: float | None
    conf_low: float | None
    conf_high: float | None
    yi: float | None = Field(description="the effect on the analysis scale (log risk ratio, or risk difference)")
    vi: float | None = Field(description="its variance")


class PooledEstimate(Closed):
    """A pooled effect on the reporting scale, in the tidy row's form."""

    outcome: str
    estimand: str
    estimate: float | None
    conf_low: float | None
    conf_high: float | None
    method: str
    n: Count
    std_error: float | None = Field(description="of the log ratio for a risk ratio")
    p_value: PValue | None
    reason: str | None
    statistic: float | None = None
    df: float | None = None


class Heterogeneity(Closed):
    q: float | None
    df: Count | None
    p_value: PValue | None
    tau2: float | None
    tau: float | None
    i2: float | None = Field(description="a fraction, not a percentage")
    h2: float | None
    i2_from_q: float | None


class ScaleFit(Closed):
    estimate: float | None
    std_error: float | None
    conf_low: float | None
    conf_high: float | None
    prediction_low: float | None
    prediction_high: float | None


class AnalysisScale(Closed):
    fixed_effect: ScaleFit
    random_effects: ScaleFit


class PooledMeasure(Closed):
    """One outcome pooled on one measure: the runs' effects, both models and the heterogeneity."""

    k: Count = Field(description="runs pooled")
    studies: list[Study]
    notes: list[str]
    fixed_effect: PooledEstimate
    random_effects: PooledEstimate
    prediction_interval: Interval | None = None
    heterogeneity: Heterogeneity | None = None
    scale: str | None = None
    log_scale: AnalysisScale | None = Field(default=None, description="the fits on the analysis scale: the log risk "
                                                                      "ratio, or the risk difference itself")


class PooledOutcome(Closed):
    label: str
    codes: list[str]
    runs: list[RunCounts]
    risk_ratio: PooledMeasure
    risk_difference: PooledMeasure


class PooledProvenance(Closed):
    package_version: str
    generated_at: str
    packages: dict[str, str | None]


class Pooled(Closed):
    """pooled.json: the runs' effects pooled by outcome (fixed and random effects, heterogeneity)."""

    model_config = Closed.model_config | {"title": "SRC trial runs pooled"}

    kind: Literal["srceval pooled results"]
    confidence_level: Annotated[float, Field(gt=0, lt=1)]
    runs: list[PooledRun]
    outcomes: dict[str, PooledOutcome] = Field(description="each outcome pooled (keys: outcome names)")
    skipped: dict[str, str] = Field(description="why an outcome was not pooled (keys: outcome names)")
    methods: dict[str, str] = Field(description="the method of each part (keys: parts)")
    provenance: PooledProvenance
