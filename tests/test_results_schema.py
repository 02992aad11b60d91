"""results.json is built from typed models, its schema is generated from them, and both can fail."""
import copy
import json

import jsonschema
import pytest
from pydantic import ValidationError

from helpers.pipeline.models import SCHEMA_DIR, SCHEMAS, Results, schema_text
from helpers.pipeline.results import validate_results

# The published results contract: every field it requires, by path (a list's items as []). The
# project's schema may add to it, never drop or rename one.
CONTRACT = [
    "schema_version", "inputs.allocation_sha256", "inputs.extract_sha256",
    "flow.assessed", "flow.excluded_before_randomisation", "flow.randomised", "flow.allocated.treatment",
    "flow.allocated.control", "flow.received_src.treatment", "flow.received_src.control",
    "flow.outcome_recorded.treatment", "flow.analysed.control",
    "allocation_audit.allocation_ratio_p_value", "allocation_audit.balance_omnibus_p_value",
    "allocation_audit.max_abs_standardised_difference", "allocation_audit.flags",
    "compliance.treatment_received_rate", "compliance.control_contamination_rate",
    *[f"outcomes.{name}.{field}" for name in ("attrition", "charge", "positive_outcome") for field in (
        "codes", "control.events", "control.n", "control.risk", "treatment.events", "treatment.n", "treatment.risk",
        "itt.risk_ratio", "itt.risk_ratio_ci", "itt.relative_risk_reduction", "itt.risk_difference",
        "itt.risk_difference_ci", "itt.p_value_exact", "itt.p_value_randomisation", "cace.risk_difference",
        "cace.risk_difference_ci", "cace.complier_control_risk", "cace.relative_risk_reduction",
        "power.minimum_detectable_difference", "power.n_per_arm_for_target_power", "power.target_power")],
    "extrapolation.population", "extrapolation.hate_crimes", "extrapolation.withdrawals",
    "extrapolation.prevented.itt", "extrapolation.prevented.itt_ci", "extrapolation.prevented.full_compliance",
    "extrapolation.prevented.full_compliance_ci", "extrapolation.share_of_hate_crimes.itt",
    "extrapolation.share_of_hate_crimes.full_compliance",
    "provenance.package_version", "provenance.parameters", "provenance.python",
]


def schema() -> dict:
    return json.loads((SCHEMA_DIR / "results.schema.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_each_committed_schema_is_the_one_its_model_generates(name):
    """Run ``python -m helpers.pipeline.models`` after changing a model; this fails until then."""
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == schema_text(SCHEMAS[name]), f"{name} differs from its model: regenerate it"


def test_the_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["title"] == "SRC trial evaluation results"


def _required(node: dict, path: list[str], root: dict) -> bool:
    """Whether the schema requires the field at ``path`` (following $ref and nullable anyOf)."""
    while "$ref" in node or "anyOf" in node:
        if "$ref" in node:
            node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        else:
            node = next(option for option in node["anyOf"] if option.get("type") != "null")
    if not path:
        return True
    key, rest = path[0], path[1:]
    if key not in node.get("required", []):
        return False
    return _required(node["properties"][key], rest, root)


@pytest.mark.parametrize("path", CONTRACT)
def test_every_field_the_published_contract_requires_is_required(path, reference_results):
    assert _required(schema(), path.split("."), schema()), path
    node = reference_results
    for key in path.split("."):
        node = node[key]


def test_reference_results_are_valid(reference_results):
    validate_results(reference_results)
    Results.model_validate(reference_results)


@pytest.mark.parametrize("path", [("flow",), ("outcomes", "charge"), ("provenance", "python"),
                                  ("outcomes", "attrition", "itt", "p_value_exact"), ("estimates", 0, "conf_level")])
def test_a_missing_field_fails(reference_results, path):
    broken = copy.deepcopy(reference_results)
    node = broken
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)
    with pytest.raises(ValidationError):
        Results.model_validate(broken)


@pytest.mark.parametrize("path, value", [(("flow", "randomised"), "250"), (("outcomes", "attrition", "itt",
                                         "risk_difference"), 1.5), (("compliance", "treatment_received_rate"), -0.1)])
def test_a_wrong_type_or_a_value_off_its_parameter_space_fails(reference_results, path, value):
    broken = copy.deepcopy(reference_results)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)


def _objects(node, path="#"):
    """Every object-typed definition in the schema, with its JSON pointer."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{path}/{index}")


def test_every_object_of_the_schema_is_closed_or_a_map_keyed_by_the_data():
    """A field the schema does not name fails validation; a map keyed by the data (contact modes, notes,
    packages) says what its values are."""
    loose = [path for path, node in _objects(schema()) if node.get("additionalProperties", True) is True
             and path not in ("#/$defs/Provenance/properties/parameters",)]
    assert not loose


def test_an_unknown_field_fails_anywhere(reference_results):
    for place in (lambda r: r, lambda r: r["outcomes"]["attrition"]["itt"], lambda r: r["estimates"][0]):
        broken = copy.deepcopy(reference_results)
        place(broken)["risk_diference"] = -0.1  # a typo of a real field
        with pytest.raises(jsonschema.ValidationError, match="risk_diference"):
            validate_results(broken)


# Each figure an outcome's entry names (the published contract's names) and the row of `estimates` it is.
ENTRY_ROWS = {("itt", "risk_difference"): "risk_difference", ("itt", "risk_ratio"): "risk_ratio",
              ("cace", "risk_difference"): "complier_average_causal_effect",
              ("cace", "relative_risk_reduction"): "complier_relative_risk_reduction"}


def test_an_outcomes_contract_figures_are_its_rows_of_estimates(reference_results):
    rows = {(r["outcome"], r["estimand"]): r for r in reference_results["estimates"]}
    for outcome, entry in reference_results["outcomes"].items():
        for (part, name), estimand in ENTRY_ROWS.items():
            row = rows[outcome, estimand]
            assert entry[part][name] == row["estimate"], (outcome, part, name)
            assert entry[part][f"{name}_ci"] == [row["conf_low"], row["conf_high"]], (outcome, part, name)


def test_provenance_records_the_command_stage_one_was_given(tmp_path):
    from helpers.pipeline import stages
    from helpers.pipeline.context import open_stage
    from helpers.pipeline.results import assemble_results

    ctx = open_stage(output_dir=tmp_path / "reports", processed_dir=tmp_path / "processed",
                     command="srceval run --out 'my out'")
    stages.run_stages(ctx)
    assert ctx.read_stage_result("01_data_cleaning")["command"] == "srceval run --out 'my out'"
    assert assemble_results(ctx)["provenance"]["command"] == "srceval run --out 'my out'"
