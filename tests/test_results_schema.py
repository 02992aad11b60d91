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
