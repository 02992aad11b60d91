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


def reconciliation(results: dict) -> list[dict]:
    """Each published figure beside the figures of this run that reproduce it."""
    from helpers.inputs.bounded import read_yaml

    rows = []
    for figure in read_yaml(PUBLISHED_FIGURES, what="published figures file"):
        values = [_lookup(results, path) for path in figure["results"]]
        rows.append({"published": figure["published"], "is": figure["is"], "scale": figure["scale"],
                     "this_run": values, "results": figure["results"]})
    return rows


def _lookup(results: dict, path: str):
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
        {"analysis": "one-sided tests in each outcome's pre-stated direction", "role": "secondary",
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


# The stage results' tables that the report shows, carried whole into results.json: the report
# reads results.json alone.
AUDIT_DETAIL = ("ratio", "runs", "omnibus", "omnibus_randomisation", "by_weekday", "by_month", "balance")
COMPLIANCE_DETAIL = ("rates", "by_borough", "by_month", "by_hate_strand", "by_ward", "contact_timing",
                     "predictors_of_delivery", "disclosure_threshold")


def assemble_results(ctx: StageContext, *, validate: bool = True) -> dict:
    """Build results.json from the stage results of this run, checked against the schema unless ``validate``
    is False (the report notebook: the runner checks the file it writes)."""
    cleaning = ctx.read_stage_result("01_data_cleaning")
    audit = ctx.read_stage_result("02_allocation_audit")
    compliance = ctx.read_stage_result("03_compliance_analysis")
    effects = ctx.read_stage_result("04_effect_estimation")
    extrapolation = ctx.read_stage_result("05_extrapolation")
    flow = cleaning["flow"]
    results = {
        "schema_version": SCHEMA_VERSION,
        "inputs": {
            "allocation_sha256": cleaning["inputs"]["allocation"]["sha256"],
            "extract_sha256": cleaning["inputs"]["extract"]["sha256"],
            "allocation": cleaning["inputs"]["allocation"],
            "extract": cleaning["inputs"]["extract"],
            "origin": cleaning["inputs"]["origin"],
        },
        "trial": cleaning["trial"],
        "flow": flow,
        "allocation_audit": {
            "allocation_ratio_p_value": audit["ratio"]["p_value"],
            "balance_omnibus_p_value": audit["omnibus"]["p_value"],
            "max_abs_standardised_difference": audit["max_abs_standardised_difference"],
            "flags": audit["flags"],
            "balance_randomisation_p_value": audit["omnibus_randomisation"]["p_value"],
            "runs_test_p_value": audit["runs"]["p_value"],
            "weekday_p_value": audit["by_weekday"]["p_value"],
            "month_p_value": audit["by_month"]["p_value"],
            "allocated_before_report": audit["allocated_before_report"],
            "threshold_rule_breaches": audit["threshold_rule_breaches"],
            "random_numbers_out_of_range": audit["random_numbers_out_of_range"],
            "allocated_after_outcome": audit["allocated_after_outcome"],
            "conflicting_log_entries": audit["conflicting_log_entries"],
            # The same checks in full, as the report shows them.
            **{key: audit[key] for key in AUDIT_DETAIL},
        },
        "compliance": {
            "treatment_received_rate": compliance["rates"]["treatment"]["rate"],
            "treatment_received_rate_ci": [compliance["rates"]["treatment"]["conf_low"],
                                           compliance["rates"]["treatment"]["conf_high"]],
            "control_contamination_rate": compliance["rates"]["control"]["rate"],
            "contact_modes": compliance["contact_modes"],
            "days_report_to_contact_median": compliance["contact_timing"]["median"],
            **{key: compliance[key] for key in COMPLIANCE_DETAIL},
        },
        "estimates": effects["estimates"],
        # The rules the report states (flag threshold, smallest level, weak instrument), as this run applied them.
        "thresholds": {**audit["thresholds"], **effects["thresholds"],
                       "disclosure_threshold": compliance["disclosure_threshold"]},
        "exclusions": exclusion_counts(cleaning["exclusions"]),
        "outcomes": effects["outcomes"],
        # whether a difference between the arms can be an effect of the contact (delivery differs by arm)
        "identification": effects.get("identification"),
        "extrapolation": {**extrapolation["extrapolation"],
                          "delivery_scenarios": extrapolation["delivery_scenarios"]},
        "subgroups": effects["subgroups"],
        "economics": extrapolation["economics"],
        "national_scenario": extrapolation.get("national"),
        "analysis_plan": ctx.params["analysis_plan"],
        "analyses": analyses(ctx.params["analysis_plan"]),
        # The declared design: how reports were allocated, in a sentence, and its audit checks.
        "design": {**(effects.get("design") or {"assignment": ctx.params["design"]["assignment"]}),
                   "audit": audit.get("design")},
        "warnings": cleaning["warnings"] + list((audit.get("design") or {}).get("warnings") or []),
        "skipped": cleaning["skipped"],
        "provenance": {
            "package_version": __version__,
            "git_commit": git_commit(),
            "parameters": {**ctx.params, "population_file": _relative(ctx.params["population_file"])},
            "python": platform.python_version(),
            "packages": package_versions(),
            "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        },
    }
    results["reconciliation"] = reconciliation(results)
    results = to_jsonable(results)
    if validate:
        validate_results(results)
    return results


def _relative(path: str) -> str:
    """A path inside the project as a relative one, so results do not depend on the clone's location."""
    try:
        return str(Path(path).resolve().relative_to(config.PROJ_ROOT))
    except ValueError:
        return str(path)


def write_results(ctx: StageContext, results: dict):
    return write_json(ctx.files.results, results)
