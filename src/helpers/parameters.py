"""The run's parameters: one YAML file, optionally overridden one value at a time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import config
from .errors import InputError, Problem

REQUIRED = (
    "seed",
    "confidence_level",
    "randomisation_draws",
    "target_power",
    "disclosure_threshold",
    "allocation_rule",
    "population_file",
    "population",
    "national_population",
    "national_withdrawal_share",
    "outcomes",
    "economics",
    "mechanism",
    "delivery_constraints",
)
ECONOMIC_ASSUMPTIONS = ("minutes_per_phone_contact", "minutes_per_visit", "minutes_per_unsuccessful_attempt",
                        "share_by_constables", "hourly_cost_constable", "hourly_cost_pcso")


def load_parameters(path: Path | str | None = None, **overrides: Any) -> dict:
    """Read the parameters file and apply the overrides that are not None.

    Parameters
    ----------
    path
        A YAML parameters file; None reads ``config/parameters.yml``.
    **overrides
        Single values that replace the file's (a notebook's papermill parameters).

    Returns
    -------
    dict
        The parameters, checked, with ``population_file`` an absolute path.
    """
    path = Path(path) if path is not None else config.PARAMETERS_FILE
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError([Problem(str(path), f"cannot read the parameters file ({exc})")])
    if not isinstance(loaded, dict):
        raise InputError([Problem(str(path), "the parameters file must be a YAML mapping")])
    params = {**loaded, **{k: v for k, v in overrides.items() if v is not None}}
    _check(params, str(path))
    population_file = Path(params["population_file"])
    if not population_file.is_absolute():
        population_file = config.PROJ_ROOT / population_file
    params["population_file"] = str(population_file)
    return params


def _check(params: dict, source: str) -> None:
    problems = [Problem(source, f"parameter '{k}' is missing") for k in REQUIRED if k not in params]
    if problems:
        raise InputError(problems)
    if not 0 < float(params["confidence_level"]) < 1:
        problems.append(Problem(source, "confidence_level must lie strictly between 0 and 1"))
    if not 0 < float(params["target_power"]) < 1:
        problems.append(Problem(source, "target_power must lie strictly between 0 and 1"))
    if int(params["randomisation_draws"]) < 100:
        problems.append(Problem(source, "randomisation_draws must be at least 100"))
    if int(params["disclosure_threshold"]) < 1:
        problems.append(Problem(source, "disclosure_threshold must be at least 1"))
    share = params["national_withdrawal_share"]
    if share is not None and not (isinstance(share, (int, float)) and 0 < share < 1):
        problems.append(Problem(source, "national_withdrawal_share must be null or lie strictly between 0 and 1"))
    for key in ECONOMIC_ASSUMPTIONS:
        value = params["economics"].get(key) if isinstance(params["economics"], dict) else None
        if not isinstance(value, (int, float)) or value < 0:
            problems.append(Problem(source, f"economics.{key} must be a number of at least 0"))
    if isinstance(params["economics"], dict) and not 0 <= float(params["economics"].get("share_by_constables", 0)) <= 1:
        problems.append(Problem(source, "economics.share_by_constables must lie between 0 and 1"))
    rule = params["allocation_rule"]
    if not isinstance(rule, dict) or rule.get("below") not in ("SRC", "BAU") or not 0 < float(rule.get("threshold", -1)) < 1:
        problems.append(Problem(source, "allocation_rule needs a threshold between 0 and 1 and below: SRC or BAU"))
    for name in ("attrition", "charge", "positive_outcome"):
        if name not in params["outcomes"]:
            problems.append(Problem(source, f"outcome '{name}' is not defined under 'outcomes'"))
    if problems:
        raise InputError(problems)


def load_population(params: dict) -> dict:
    """The population figures file, as a mapping of population key to its figures."""
    path = Path(params["population_file"])
    try:
        figures = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError([Problem(str(path), f"cannot read the population figures ({exc})")])
    missing = [params[k] for k in ("population", "national_population")
               if not isinstance(figures, dict) or params[k] not in figures]
    if missing:
        raise InputError([Problem(str(path), f"population '{key}' is not in the file") for key in missing])
    return figures
