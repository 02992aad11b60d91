"""The run's parameters: one YAML file, validated against a declared schema.

Every field is typed and ranged and unknown keys are refused, so a slip in the file (a quoted
number, ``codes: 14, 16`` written as one string, a misspelt key) stops the run before any
kernel starts, with a message naming the key, the value found and what is allowed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from helpers import config
from helpers.errors import InputError, Problem
from helpers.inputs.bounded import (
    MAX_YAML_BYTES,
    BoundedInputError,
    bounded_yaml_loader,
    clean_message,
    excerpt,
    load_yaml,
    read_regular_file,
)
from helpers.inputs.outcomes import normalise_outcome_code

OUTCOME_NAMES = ("attrition", "charge", "positive_outcome")


def short_label(label: str, *, capital: bool = False) -> str:
    """An outcome's label without its explanation in brackets, for a sentence or an axis:
    'positive outcome (charge, caution, ...)' -> 'positive outcome' ('Positive outcome' if ``capital``)."""
    short = label.split(" (")[0].strip()
    return short[:1].upper() + short[1:] if capital else short

# Strict types: YAML's "0.95" (a string) or `yes` (a boolean) is refused, not coerced; YAML's
# `.inf` and `.nan` are refused too (a cost of infinity is a slip, not an assumption).
Probability = Annotated[float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False)]
Share = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Text = Annotated[str, Field(strict=True, min_length=1, max_length=2_000)]


def at_most_items(limit: int, reason: str):
    """A validator refusing lists longer than ``limit``, with the reason."""
    def check(value):
        if len(value) > limit:
            raise ValueError(f"holds {len(value):,} values; at most {limit} are allowed ({reason})")
        return value
    return AfterValidator(check)


def at_most(limit: int, reason: str):
    """A validator refusing values above ``limit``, with the reason the limit exists."""
    def check(value):
        if value > limit:
            raise ValueError(f"must be at most {limit:,}: {reason}")
        return value
    return AfterValidator(check)


# Every value that drives the cost of a run is capped here, with the reason.
MAX_DRAWS = 100_000
DRAWS_REASON = ("draws beyond this change no reported digit (the Monte Carlo error of a p-value near 0.05 is "
                "0.0007 at 100,000 draws) while the randomisation tests and the bootstrap take time in proportion")
MAX_SCENARIOS = 20


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllocationRule(Strict):
    """The documented rule of the allocation log's random number."""

    threshold: Probability
    below: Literal["SRC", "BAU"]


class OutcomeDefinition(Strict):
    """The Home Office outcome codes that make up one outcome."""

    label: Text
    codes: Annotated[list[str], Field(min_length=1, max_length=100)]

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_are_a_list(cls, value: Any) -> list[str]:
        # `codes: 14, 16` is one YAML string; read character by character it would mean 1, 4 and 6.
        if not isinstance(value, list):
            raise ValueError("must be a list of outcome codes, for example [\"14\", \"16\"]")
        codes = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise ValueError(f"{excerpt(item)} is not an outcome code")
            code, problem = normalise_outcome_code(item)
            if code is None:
                raise ValueError(f"{excerpt(item)} is {problem.removesuffix('; the value is not shown')}" if problem
                                 else f"{excerpt(item)} is not an outcome code")
            codes.append(code)
        return codes


class Outcomes(Strict):
    attrition: OutcomeDefinition
    charge: OutcomeDefinition
    positive_outcome: OutcomeDefinition


class Economics(Strict):
    """Labelled costing assumptions of the delivery.

    Money and the time a contact takes are finite and positive: a contact that costs nothing, or
    infinitely much, makes every cost figure meaningless. An unsuccessful attempt may take no time.
    """

    minutes_per_phone_contact: Positive
    minutes_per_visit: Positive
    minutes_per_unsuccessful_attempt: NonNegative
    share_by_constables: Share
    hourly_cost_constable: Positive
    hourly_cost_pcso: Positive
    source: Text


class InputLimits(Strict):
    """Largest inputs a run accepts; raise them for a genuinely larger extract."""

    max_rows: Annotated[int, Field(strict=True, ge=1), at_most(
        100_000_000, "an extract this size takes tens of GB of memory to clean")] = 2_000_000
    max_columns: Annotated[int, Field(strict=True, ge=1), at_most(
        10_000, "the contract has 17 columns; a wider file is a whole database export")] = 500
    max_xlsx_uncompressed_mb: Annotated[int, Field(strict=True, ge=1), at_most(
        20_000, "a workbook expands in memory several times over its size when it is read")] = 1_000


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

    prior: Annotated[list[Positive], Field(min_length=2, max_length=2)]
    sceptical_prior: Annotated[list[Positive], Field(min_length=2, max_length=2)]
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


DesignColumn = Literal[DESIGN_COLUMNS]  # type: ignore[valid-type]


class Design(Strict):
    """How reports were allocated: the estimators, tests and audit checks follow it.

    complete: a fixed number of reports to SRC, completely at random (the published trial);
    simple: each report to SRC with ``probability``, independently (Bernoulli);
    blocked: complete randomisation within each value of ``blocks`` (shares may differ by block);
    cluster: whole units (``clusters``, e.g. wards) randomised, every report following its unit.

    ``blocks`` and ``clusters`` name one column, whose values are the units as written (``ward``: each
    ward label is one unit, in whatever borough it appears), or a list of columns whose combinations
    are the units (``[borough, ward]``: a ward within its borough, so that two boroughs' wards of the
    same name are two units).
    """

    assignment: Literal[ASSIGNMENTS] = "complete"  # type: ignore[valid-type]
    blocks: DesignColumn | list[DesignColumn] | None = Field(None, validate_default=True)
    clusters: DesignColumn | list[DesignColumn] | None = Field(None, validate_default=True)
    probability: Probability = 0.5

    @field_validator("blocks", "clusters")
    @classmethod
    def _column_fits_the_assignment(cls, value: str | list[str] | None, info) -> str | list[str] | None:
        own = {"blocks": "blocked", "clusters": "cluster"}[info.field_name]
        assignment = info.data.get("assignment")
        if isinstance(value, list):
            if not value:
                raise ValueError(f"an empty list names no column; name one of {', '.join(DESIGN_COLUMNS)}, or a "
                                 "list of them whose combinations are the units, such as [borough, ward]")
            if len(set(value)) < len(value):
                raise ValueError("a column is named twice; each column of the list is named once")
            value = value[0] if len(value) == 1 else list(value)
        if assignment is None:  # the assignment itself is wrong, and said so
            return value
        if assignment == own and value is None:
            what = "the column randomised within" if own == "blocked" else "the column whose units were randomised"
            raise ValueError(f"a {own} design needs '{info.field_name}': {what}, one of {', '.join(DESIGN_COLUMNS)} "
                             "(or a list of them, such as [borough, ward] for wards within boroughs)")
        if assignment != own and value is not None:
            raise ValueError(f"'{info.field_name}' belongs to a {own} design, and the assignment is '{assignment}' "
                             f"(set assignment: {own}, or {info.field_name}: null)")
        return value

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns whose values (together) make the design's units, outermost first; empty for none."""
        value = self.blocks or self.clusters
        return () if value is None else (value,) if isinstance(value, str) else tuple(value)

    @property
    def column(self) -> str | None:
        """The column of the design's units (the innermost of a nested list), or None."""
        return self.columns[-1] if self.columns else None


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
    confidence_level: Annotated[float, Field(strict=True, ge=0.5, lt=1, allow_inf_nan=False)]
    randomisation_draws: Annotated[int, Field(strict=True, ge=100), at_most(MAX_DRAWS, DRAWS_REASON)]
    target_power: Annotated[float, Field(strict=True, ge=0.5, lt=1, allow_inf_nan=False)]
    # Below 3, a published count could single out a victim (the problem of small cells).
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
    delivery_scenarios: Annotated[list[Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)]],
                                  Field(min_length=1), at_most_items(MAX_SCENARIOS, "one table row each")] = [0.8, 0.9, 1.0]
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
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(None, None, "a key must be a single value",
                                                        key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {excerpt(key)} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Aliases are allowed, but a document that expands to more values than a parameters file can hold is
# refused before any value is constructed (helpers.inputs.bounded).
ParametersLoader = bounded_yaml_loader(_UniqueKeyLoader)
PopulationLoader = bounded_yaml_loader(yaml.SafeLoader)
MAX_POPULATION_BYTES = 1_000_000


def read_yaml_file(path: Path, *, what: str, loader=ParametersLoader, max_bytes: int = MAX_YAML_BYTES) -> object:
    """A YAML file, bounded: a regular file under ``max_bytes``, at most MAX_YAML_NODES values after aliases.

    Raises
    ------
    InputError
        Naming the file and why it cannot be read; any quoted text is a short, cleaned excerpt.
    """
    try:
        return load_yaml(read_regular_file(path, max_bytes=max_bytes, what=what), loader)
    except BoundedInputError as exc:
        raise InputError([Problem(str(path), str(exc))]) from None
    except UnicodeDecodeError:
        raise InputError([Problem(str(path), f"cannot read the {what}: it is not UTF-8 text")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(str(path), f"cannot read the {what} ({_yaml_problem(exc)})")]) from None
    except RecursionError:
        raise InputError([Problem(str(path), f"cannot read the {what}: it nests too deep")]) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error as a short line: the problem and where, never a quoted stretch of the file."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" on line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return clean_message(f"{problem}{where}", 200)


def _read_yaml(path: Path) -> dict:
    loaded = read_yaml_file(path, what="parameters file")
    if not isinstance(loaded, dict):
        raise InputError([Problem(str(path), "the parameters file must be a YAML mapping of keys to values")])
    return loaded


def _describe(error: dict) -> str:
    """One pydantic error as a sentence: the key, the value found and what is allowed."""
    key = clean_message(".".join(str(part) for part in error["loc"]), 100)
    if error["type"] == "missing":
        return f"parameter '{key}' is missing"
    if error["type"] == "extra_forbidden":
        return f"parameter '{key}' is not a known parameter (misspelt?); known ones are listed in config/parameters.yml"
    found_text = excerpt(error.get("input"))  # never the whole value: it may be an expanded alias
    allowed = clean_message(error["msg"].removeprefix("Value error, "), 400)
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
    figures = read_yaml_file(path, what="population figures file", loader=PopulationLoader,
                             max_bytes=MAX_POPULATION_BYTES)
    if not isinstance(figures, dict):
        raise InputError([Problem(str(path), "the population figures file must be a YAML mapping")])
    problems = []
    for role in ("population", "national_population"):
        key = params[role]
        if key not in figures:
            problems.append(Problem(str(path), f"population {excerpt(key)} (parameter '{role}') is not in the file"))
            continue
        try:
            population = Population.model_validate(figures[key])
        except ValidationError as exc:
            problems += [Problem(str(path), _describe({**e, "loc": (key, *e["loc"])})) for e in exc.errors()]
            continue
        if role == "population" and population.withdrawals is None:
            problems.append(Problem(str(path), f"population {excerpt(key)} needs its withdrawals for the extrapolation"))
        elif population.withdrawals is not None and population.withdrawals > population.hate_crimes:
            problems.append(Problem(str(path), f"population {excerpt(key)}: withdrawals exceed hate crimes"))
    if problems:
        raise InputError(problems)
    return figures
