"""results.json follows the project's copy of the schema, and the schema can fail."""
import copy
import json

import jsonschema
import pytest

from helpers import config
from helpers.pipeline.results import validate_results


def test_schema_is_the_projects_own_copy():
    schema = json.loads(config.SCHEMA_FILE.read_text())
    assert schema["title"] == "SRC trial evaluation results"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_reference_results_are_valid(reference_results):
    validate_results(reference_results)


@pytest.mark.parametrize("path", [("flow",), ("outcomes", "charge"), ("provenance", "python"),
                                  ("outcomes", "attrition", "itt", "p_value_exact")])
def test_a_missing_field_fails(reference_results, path):
    broken = copy.deepcopy(reference_results)
    node = broken
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)


def test_a_wrong_type_fails(reference_results):
    broken = copy.deepcopy(reference_results)
    broken["flow"]["randomised"] = "250"
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)


def _objects(node, path="#"):
    """Every object-typed definition in the schema, with its JSON pointer."""
    if isinstance(node, dict):
        types = node.get("type")
        if types == "object" or (isinstance(types, list) and "object" in types):
            yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{path}/{index}")


def test_every_object_of_the_schema_is_closed_or_declared_open():
    """A field the schema does not name fails validation, except in maps keyed by the data
    (outcome names, packages, exclusion reasons), which say so with additionalProperties."""
    schema = json.loads(config.SCHEMA_FILE.read_text())
    assert schema["additionalProperties"] is False
    undeclared = [path for path, node in _objects(schema) if "additionalProperties" not in node and "$ref" not in node]
    assert not undeclared


@pytest.mark.parametrize("section", ["trial", "estimates", "exclusions", "subgroups", "economics",
                                     "national_scenario", "warnings", "allocation_audit", "compliance"])
def test_every_section_is_described_and_an_unknown_field_fails(reference_results, section):
    schema = json.loads(config.SCHEMA_FILE.read_text())
    assert section in schema["properties"] and section in schema["required"]
    broken = copy.deepcopy(reference_results)
    broken["unknown_section"] = {}
    with pytest.raises(jsonschema.ValidationError, match="unknown_section"):
        validate_results(broken)


def test_an_unknown_field_inside_a_fixed_shape_fails(reference_results):
    broken = copy.deepcopy(reference_results)
    broken["outcomes"]["attrition"]["itt"]["risk_diference"] = -0.1  # a typo of a real field
    with pytest.raises(jsonschema.ValidationError, match="risk_diference"):
        validate_results(broken)
    broken = copy.deepcopy(reference_results)
    broken["estimates"][0]["p"] = 0.5
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)
