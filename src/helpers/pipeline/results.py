"""results.json: every stage's figures in one machine-readable file, checked against its schema.

The check against the schema runs where jsonschema is cheap to have: in the srceval process,
once the report stage has written results.json (``helpers.pipeline.runner``), and in the tests. A kernel
never imports jsonschema: its format checker imports rfc3987_syntax, which builds some 35 Lark
grammars on import (a second or more), so the report notebook assembles with ``validate=False``.
"""
from __future__ import annotations

import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from helpers import __version__, config
from helpers.inputs.cleaning import exclusion_counts
from helpers.pipeline.context import StageContext, to_jsonable, write_json

SCHEMA_VERSION = "1"
# Packages whose version can change a number or a figure in the report.
KEY_PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "linearmodels", "matplotlib", "papermill", "nbconvert",
                "weasyprint")


def package_versions() -> dict:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def load_schema() -> dict:
    return json.loads(config.SCHEMA_FILE.read_text(encoding="utf-8"))


def validate_results(results: dict) -> None:
    """Raise ``jsonschema.ValidationError`` if ``results`` does not follow the schema."""
    import jsonschema  # here, not at the top: see the module's docstring

    jsonschema.Draft202012Validator(load_schema()).validate(results)


def git_commit() -> str | None:
    """The commit of the source tree that ran, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.PROJ_ROOT, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


PUBLISHED_FIGURES = config.EXTERNAL_DIR / "published_figures.yml"


def reconciliation() -> list[dict]:
    """Each published figure, and the paths of this run's figures that reproduce it (:func:`lookup` reads them)."""
    from helpers.inputs.bounded import read_yaml

    return [{"published": figure["published"], "is": figure["is"], "scale": figure["scale"],
             "results": figure["results"]} for figure in read_yaml(PUBLISHED_FIGURES, what="published figures file")]


def lookup(results: dict, path: str):
    """The figure at a dotted path of results.json (``outcomes.attrition.itt.risk_difference``), or None."""
    node = results
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def analyses(plan: dict) -> list[dict]:
    """Every analysis the report shows, marked pre-specified (declared in the plan) or exploratory."""
    primary = plan["primary_outcome"]
    return [
        {"analysis": f"{primary}: {plan['primary_analysis']}", "role": "primary", "prespecified": True},
        {"analysis": "other outcomes (charge, positive outcome): unadjusted intention to treat, two-sided",
         "role": "secondary", "prespecified": True},
        {"analysis": "one-sided tests in each outcome's declared direction", "role": "secondary",
         "prespecified": True},
        {"analysis": "covariate-adjusted intention to treat (Lin; logistic) on the plan's covariates: "
                     + ", ".join(plan["covariates"]["columns"]), "role": "secondary", "prespecified": True},
        {"analysis": "complier average causal effect and complier relative reduction", "role": "secondary",
         "prespecified": True},
        {"analysis": "Bayesian probability of benefit, uniform and sceptical priors", "role": "secondary",
         "prespecified": True},
        {"analysis": "force-wide and national extrapolation", "role": "secondary", "prespecified": True},
        {"analysis": "subgroups by " + ", ".join(plan["subgroups"]["columns"]), "role": "exploratory",
         "prespecified": bool(plan["subgroups"]["prespecified"])},
        {"analysis": "per-protocol and as-treated comparisons (biased by who was reached)", "role": "exploratory",
         "prespecified": False},
    ]


def parameters_file_name(path: Path) -> str:
    """The parameters file as results.json records it: the project's own by its place in the project, a user's by
    its name alone (its folder may name a person or a place)."""
    if Path(path).resolve() == config.PARAMETERS_FILE.resolve():
        return config.PARAMETERS_FILE.relative_to(config.PROJ_ROOT).as_posix()
    return Path(path).name


def assemble_results(ctx: StageContext, *, validate: bool = True) -> dict:
    """Build results.json from the stage results of this run, in the form of
    :class:`helpers.pipeline.models.Results` (checked by the model unless ``validate`` is False)."""
    cleaning = ctx.read_stage_result("01_data_cleaning")
    audit = ctx.read_stage_result("02_allocation_audit")
    compliance = ctx.read_stage_result("03_compliance_analysis")
    effects = ctx.read_stage_result("04_effect_estimation")
    extrapolation = ctx.read_stage_result("05_extrapolation")
    results = {
        "schema_version": SCHEMA_VERSION,
        "inputs": inputs_section(cleaning["inputs"]),
        "trial": cleaning["trial"],
        "flow": {key: value for key, value in cleaning["flow"].items() if key != "exclusion_reasons"},
        "exclusions": exclusion_counts(cleaning["exclusions"]),
        "allocation_audit": audit_section(audit),
        "compliance": compliance_section(compliance),
        "identification": {key: effects["identification"][key] for key in ("identified", "reason", "delivery",
                                                                            "assumption")},
        "estimates": effects["estimates"],
        "outcomes": effects["outcomes"],
        "subgroups": effects["subgroups"],
        "design": {**effects["design"], "audit": audit.get("design")},
        "extrapolation": {**{k: v for k, v in extrapolation["extrapolation"].items() if k != "interval_includes_zero"},
                          "delivery_scenarios": extrapolation["delivery_scenarios"]},
        "national_scenario": extrapolation.get("national"),
        "economics": None if extrapolation["economics"] is None else
        {k: v for k, v in extrapolation["economics"].items() if k != "assumptions"},
        # The rules the report states (flag threshold, smallest level, weak instrument), as this run applied them.
        "thresholds": {**audit["thresholds"], **effects["thresholds"]},
        "analyses": analyses(ctx.params["analysis_plan"]),
        "reconciliation": reconciliation(),
        # every warning of the run in one list: the reading's, then the declared design's
        "warnings": cleaning["warnings"] + list((audit.get("design") or {}).get("warnings") or []),
        "skipped": cleaning["skipped"],
        "provenance": {
            "command": cleaning["command"],
            "package_version": __version__,
            "git_commit": git_commit(),
            "parameters": {**ctx.params, "population_file": _relative(ctx.params["population_file"])},
            "parameters_file": parameters_file_name(ctx.params_file),
            "python": platform.python_version(),
            "packages": package_versions(),
            "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        },
    }
    results = to_jsonable(results)
    if not validate:
        return results
    from helpers.pipeline.models import Results

    return Results.model_validate(results).model_dump(mode="json", by_alias=True)


def inputs_section(inputs: dict) -> dict:
    """Each file's hash once, under the names the results contract gives them."""
    files = {role: {k: v for k, v in inputs[role].items() if k != "sha256"} for role in ("allocation", "extract")}
    return {"allocation_sha256": inputs["allocation"]["sha256"], "extract_sha256": inputs["extract"]["sha256"],
            **files, "origin": inputs["origin"]}


# Summary figures the results contract names, and the detail object whose p-value each one is.
AUDIT_SUMMARY = {"allocation_ratio_p_value": "ratio", "balance_omnibus_p_value": "omnibus"}


def audit_section(audit: dict) -> dict:
    """Stage 2's checks: the contract's summary p-values once, each detail without the figure it names."""
    section = {name: audit[detail]["p_value"] for name, detail in AUDIT_SUMMARY.items()}
    section.update({key: audit[key] for key in (
        "max_abs_standardised_difference", "flags", "allocated_before_report", "threshold_rule_breaches",
        "random_numbers_out_of_range", "allocated_after_outcome", "conflicting_log_entries", "runs",
        "omnibus_randomisation", "balance")})
    section["ratio"] = {"expected_share": None, "reason": None,
                        **{k: v for k, v in audit["ratio"].items() if k != "p_value"}}
    section["omnibus"] = {k: v for k, v in audit["omnibus"].items() if k != "p_value"}
    for period in ("weekday", "month"):
        check = audit[f"by_{period}"]
        table = [{"period": row[period], "SRC": row["SRC"], "BAU": row["BAU"]} for row in check["table"]]
        section[f"by_{period}"] = {**check, "table": table}
    return section


def compliance_section(compliance: dict) -> dict:
    """Stage 3's delivery: the contract's two rates with their intervals, then the tables."""
    rates = compliance["rates"]
    section = {"treatment_received_rate": rates["treatment"]["rate"],
               "treatment_received_rate_ci": [rates["treatment"]["conf_low"], rates["treatment"]["conf_high"]],
               "control_contamination_rate": rates["control"]["rate"],
               "control_contamination_rate_ci": [rates["control"]["conf_low"], rates["control"]["conf_high"]],
               "rate_method": rates["treatment"].get("method") or rates["control"].get("method")}
    section.update({key: compliance[key] for key in ("contact_modes", "contact_timing", "by_borough", "by_month",
                                                     "by_hate_strand", "by_ward", "predictors_of_delivery")})
    return section


def _relative(path: str) -> str:
    """A path inside the project as a relative one, so results do not depend on the clone's location."""
    try:
        return str(Path(path).resolve().relative_to(config.PROJ_ROOT))
    except ValueError:
        return str(path)


def write_results(ctx: StageContext, results: dict):
    return write_json(ctx.files.results, results)
