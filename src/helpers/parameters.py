"""The run's parameters: one YAML file, validated against a declared schema.

Every field is typed and ranged and unknown keys are refused, so a slip in the file (a quoted
number, ``codes: 14, 16`` written as one string, a misspelt key) stops the run before any
kernel starts, with a message naming the key, the value found and what is allowed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from helpers import config
from helpers.errors import InputError, Problem
from helpers.inputs.outcomes import normalise_outcome_code

OUTCOME_NAMES = ("attrition", "charge", "positive_outcome")


def short_label(label: str, *, capital: bool = False) -> str:
    """An outcome's label without its explanation in brackets, for a sentence or an axis:
    'positive outcome (charge, caution, ...)' -> 'positive outcome' ('Positive outcome' if ``capital``)."""
    short = label.split(" (")[0].strip()
    return short[:1].upper() + short[1:] if capital else short

# Strict types: YAML's "0.95" (a string) or `yes` (a boolean) is refused, not coerced.
Probability = Annotated[float, Field(strict=True, gt=0, lt=1)]
Share = Annotated[float, Field(strict=True, ge=0, le=1)]
NonNegative = Annotated[float, Field(strict=True, ge=0)]
Text = Annotated[str, Field(strict=True, min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllocationRule(Strict):
    """The documented rule of the allocation log's random number."""

    threshold: Probability
    below: Literal["SRC", "BAU"]


class OutcomeDefinition(Strict):
    """The Home Office outcome codes that make up one outcome."""

    label: Text
    codes: Annotated[list[str], Field(min_length=1)]

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_are_a_list(cls, value: Any) -> list[str]:
        # `codes: 14, 16` is one YAML string; read character by character it would mean 1, 4 and 6.
        if not isinstance(value, list):
            raise ValueError("must be a list of outcome codes, for example [\"14\", \"16\"]")
        codes = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise ValueError(f"{item!r} is not an outcome code")
            code, problem = normalise_outcome_code(item)
            if code is None:
                raise ValueError(problem or f"{item!r} is not an outcome code")
            codes.append(code)
        return codes


class Outcomes(Strict):
    attrition: OutcomeDefinition
    charge: OutcomeDefinition
    positive_outcome: OutcomeDefinition


class Economics(Strict):
    """Labelled costing assumptions of the delivery."""

    minutes_per_phone_contact: NonNegative
    minutes_per_visit: NonNegative
    minutes_per_unsuccessful_attempt: NonNegative
    share_by_constables: Share
    hourly_cost_constable: NonNegative
    hourly_cost_pcso: NonNegative
    source: Text


class InputLimits(Strict):
    """Largest inputs a run accepts; raise them for a genuinely larger extract."""

    max_rows: Annotated[int, Field(strict=True, ge=1)] = 2_000_000
    max_columns: Annotated[int, Field(strict=True, ge=1)] = 500
    max_xlsx_uncompressed_mb: Annotated[int, Field(strict=True, ge=1)] = 1_000


COVARIATES = ("victim_age_band", "victim_sex", "repeat_victim", "suspect_identified", "offence_group", "borough",
              "hate_strand")
SUBGROUP_COLUMNS = ("primary_strand", "offence_group", "borough")


class Covariates(Strict):
    """Baseline covariates named for adjustment before the data are read, with the reason."""

    columns: list[Literal[COVARIATES]]  # type: ignore[valid-type]
    reason: Text


class Subgroups(Strict):
    columns: list[Literal[SUBGROUP_COLUMNS]]  # type: ignore[valid-type]
    prespecified: bool


class Bayesian(Strict):
    """Beta priors for each arm's risk: the default (uniform) and a sceptical one shown beside it."""

    prior: Annotated[list[Annotated[float, Field(strict=True, gt=0)]], Field(min_length=2, max_length=2)]
    sceptical_prior: Annotated[list[Annotated[float, Field(strict=True, gt=0)]], Field(min_length=2, max_length=2)]
    relative_threshold: Probability


class AnalysisPlan(Strict):
    """What the analysis will be, declared before the data are read (CONSORT 2025 item 28)."""

    primary_outcome: Literal[OUTCOME_NAMES]  # type: ignore[valid-type]
    primary_analysis: Text
    sided: Literal["two-sided"]
    directions: dict[Literal[OUTCOME_NAMES], Literal["decrease", "increase"]]  # type: ignore[valid-type]
    covariates: Covariates
    subgroups: Subgroups
    target_relative_reduction: Probability
    bayesian: Bayesian
    source: Text

    @field_validator("directions")
    @classmethod
    def _every_outcome_has_a_direction(cls, value: dict) -> dict:
        missing = [name for name in OUTCOME_NAMES if name not in value]
        if missing:
            raise ValueError(f"needs a direction for {', '.join(missing)}")
        return value


# Columns a design may block or cluster on: required by the input contract, so every analysis table
# has them, with a value in every row, once the contract check (before any kernel) has passed.
DESIGN_COLUMNS = ("borough", "ward", "offence_group", "primary_strand")
ASSIGNMENTS = ("complete", "simple", "blocked", "cluster")


class Design(Strict):
    """How reports were allocated: the estimators, tests and audit checks follow it.

    complete: a fixed number of reports to SRC, completely at random (the published trial);
    simple: each report to SRC with ``probability``, independently (Bernoulli);
    blocked: complete randomisation within each value of ``blocks`` (shares may differ by block);
    cluster: whole units (``clusters``, e.g. wards) randomised, every report following its unit.
    """

    assignment: Literal[ASSIGNMENTS] = "complete"  # type: ignore[valid-type]
    blocks: Literal[DESIGN_COLUMNS] | None = Field(None, validate_default=True)  # type: ignore[valid-type]
    clusters: Literal[DESIGN_COLUMNS] | None = Field(None, validate_default=True)  # type: ignore[valid-type]
    probability: Probability = 0.5

    @field_validator("blocks", "clusters")
    @classmethod
    def _column_fits_the_assignment(cls, value: str | None, info) -> str | None:
        own = {"blocks": "blocked", "clusters": "cluster"}[info.field_name]
        assignment = info.data.get("assignment")
        if assignment is None:  # the assignment itself is wrong, and said so
            return value
        if assignment == own and value is None:
            what = "the column randomised within" if own == "blocked" else "the column whose units were randomised"
            raise ValueError(f"a {own} design needs '{info.field_name}': {what}, one of {', '.join(DESIGN_COLUMNS)}")
        if assignment != own and value is not None:
            raise ValueError(f"'{info.field_name}' belongs to a {own} design, and the assignment is '{assignment}' "
                             f"(set assignment: {own}, or {info.field_name}: null)")
        return value

    @property
    def column(self) -> str | None:
        """The column of the design's units (blocks or clusters), or None."""
        return self.blocks or self.clusters


class Monitoring(Strict):
    """``srceval monitor``: the trial figure its prediction carries, and the draws of its resampling."""

    # The trial's complier relative reduction in withdrawal (the published 26%), used when no trial
    # results.json is named (srceval monitor --trial-results); its interval, if known.
    trial_relative_reduction: Annotated[float, Field(strict=True, gt=-1, lt=1)] = 0.26
    trial_relative_reduction_ci: Annotated[list[Annotated[float, Field(strict=True, lt=1)]],
                                           Field(min_length=2, max_length=2)] | None = None
    trial_source: Text = ("published evaluation: compliance-adjusted relative reduction in withdrawal, 26% "
                          "(no interval published)")
    bootstrap_draws: Annotated[int, Field(strict=True, ge=200, le=100_000)] = 2000
    randomisation_test_draws: Annotated[int, Field(strict=True, ge=100, le=100_000)] = 1000


class RolloutPlanning(Strict):
    """``srceval plan-rollout``: the design assumptions of the stepped-wedge power calculation."""

    baseline_risk: Probability = 0.305  # the force's share of hate crimes ending in withdrawal (6,839 / 22,421)
    relative_reduction: Probability = 0.22  # the trial's intention-to-treat relative reduction (published 22%)
    icc: Annotated[float, Field(strict=True, ge=0, lt=1)] = 0.02
    reports_per_ward_month: Annotated[float, Field(strict=True, gt=0)] = 2.5
    months_per_step: Annotated[int, Field(strict=True, ge=1, le=60)] = 3
    stratify_by_borough: bool = True
    source: Text = "project defaults: the force's withdrawal share, the trial's relative reduction, an assumed ICC"


class Parameters(Strict):
    """Every analysis choice of one run (``config/parameters.yml``)."""

    seed: Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)]
    confidence_level: Annotated[float, Field(strict=True, ge=0.5, lt=1)]
    randomisation_draws: Annotated[int, Field(strict=True, ge=100, le=10_000_000)]
    target_power: Annotated[float, Field(strict=True, ge=0.5, lt=1)]
    # Below 3, a published count could single out a victim (the issue of small cells).
    disclosure_threshold: Annotated[int, Field(strict=True, ge=3, le=100)]
    allocation_rule: AllocationRule
    population_file: Text
    population: Text
    national_population: Text
    national_withdrawal_share: Probability | None
    outcomes: Outcomes
    economics: Economics
    mechanism: Text
    delivery_constraints: Text
    input_limits: InputLimits = InputLimits()
    # Shares of victims reached for the "if delivery improved" table; the trial's own share is added.
    delivery_scenarios: Annotated[list[Annotated[float, Field(strict=True, gt=0, le=1)]],
                                  Field(min_length=1)] = [0.8, 0.9, 1.0]
    design: Design = Design()
    analysis_plan: AnalysisPlan
    monitoring: Monitoring = Monitoring()
    rollout_planning: RolloutPlanning = RolloutPlanning()


def load_parameters(path: Path | str | None = None, **overrides: Any) -> dict:
    """Read the parameters file, apply the overrides that are not None, validate the result.

    Parameters
    ----------
    path
        A YAML parameters file; None reads ``config/parameters.yml``.
    **overrides
        Single values that replace the file's (a notebook's papermill parameters).

    Returns
    -------
    dict
        The validated parameters, with ``population_file`` an absolute path.

    Raises
    ------
    InputError
        The file cannot be read, is not a YAML mapping, or breaks the schema; every problem
        names the key, the value found and what is allowed.
    """
    path = Path(path) if path is not None else config.PARAMETERS_FILE
    loaded = _read_yaml(path)
    merged = {**loaded, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        params = Parameters.model_validate(merged).model_dump()
    except ValidationError as exc:
        raise InputError([Problem(str(path), _describe(error)) for error in exc.errors()]) from None
    population_file = Path(params["population_file"])
    if not population_file.is_absolute():
        population_file = config.PROJ_ROOT / population_file
    params["population_file"] = str(population_file)
    load_population(params)  # a missing or broken population is a parameters problem, found now
    return params


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice (the second would silently win)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key '{key}' is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise InputError([Problem(str(path), "the parameters file does not exist or is not a file")])
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError([Problem(str(path), f"cannot read the parameters file ({exc})")]) from None
    if not isinstance(loaded, dict):
        raise InputError([Problem(str(path), "the parameters file must be a YAML mapping of keys to values")])
    return loaded


def _describe(error: dict) -> str:
    """One pydantic error as a sentence: the key, the value found and what is allowed."""
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"parameter '{key}' is missing"
    if error["type"] == "extra_forbidden":
        return f"parameter '{key}' is not a known parameter (misspelt?); known ones are listed in config/parameters.yml"
    found = error.get("input")
    found_text = f"{found!r}" if not isinstance(found, (dict, list)) or len(repr(found)) < 60 else type(found).__name__
    allowed = error["msg"].removeprefix("Value error, ")
    return f"parameter '{key}' is {found_text}: {allowed}"


class Population(BaseModel):
    """One population's figures, each with its source."""

    model_config = ConfigDict(extra="allow")
    label: Text
    hate_crimes: Annotated[int, Field(strict=True, gt=0)]
    withdrawals: Annotated[int, Field(strict=True, ge=0)] | None = None
    source: Text


def load_population(params: dict) -> dict:
    """The population figures file, as a mapping of population key to its figures.

    The force population must publish its withdrawals, and they cannot exceed its hate crimes.
    """
    path = Path(params["population_file"])
    try:
        figures = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError([Problem(str(path), f"cannot read the population figures ({exc})")]) from None
    if not isinstance(figures, dict):
        raise InputError([Problem(str(path), "the population figures file must be a YAML mapping")])
    problems = []
    for role in ("population", "national_population"):
        key = params[role]
        if key not in figures:
            problems.append(Problem(str(path), f"population '{key}' (parameter '{role}') is not in the file"))
            continue
        try:
            population = Population.model_validate(figures[key])
        except ValidationError as exc:
            problems += [Problem(str(path), _describe({**e, "loc": (key, *e["loc"])})) for e in exc.errors()]
            continue
        if role == "population" and population.withdrawals is None:
            problems.append(Problem(str(path), f"population '{key}' needs its withdrawals for the extrapolation"))
        elif population.withdrawals is not None and population.withdrawals > population.hate_crimes:
            problems.append(Problem(str(path), f"population '{key}': withdrawals exceed hate crimes"))
    if problems:
        raise InputError(problems)
    return figures
