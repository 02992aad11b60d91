"""monitoring.json and plan.json: their committed schemas are the models', and the forms can fail."""
from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from pydantic import ValidationError

from helpers.pipeline.models import SCHEMA_DIR, SCHEMAS, Monitoring, schema_text


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_committed_schema_is_generated_from_the_models(name):
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == schema_text(SCHEMAS[name]), (
        "the models changed: run `python -m helpers.pipeline.models` and commit the schema")
    jsonschema.Draft202012Validator.check_schema(json.loads(committed))


@pytest.fixture(scope="module")
def monitoring(monitoring_in_process) -> dict:
    return monitoring_in_process


def test_the_fields_evaluators_read_are_required():
    schema = json.loads((SCHEMA_DIR / "monitoring.schema.json").read_text())
    defs = schema["$defs"]
    assert {"borough", "ward", "reports", "delivered", "rate", "lower_limit", "flagged"} <= set(
        defs["WardDelivery"]["required"])
    assert {"month", "reports", "delivered", "rate", "centre", "lower_limit", "upper_limit", "signal"} <= set(
        defs["MonthDelivery"]["required"])
    assert {"estimate", "conf_low", "conf_high", "method", "comparison", "event_time", "naive_before_after",
            "trial_prediction"} <= set(defs["Effect"]["required"])
    assert {"event_time", "estimate", "conf_low", "conf_high"} <= set(defs["EventTime"]["required"])


def test_a_run_validates_and_a_broken_one_does_not(monitoring):
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "monitoring.schema.json").read_text()))
    validator.validate(monitoring)
    for path in (("effect", "estimate"), ("delivery", "by_ward"), ("effect", "naive_before_after", "estimate")):
        broken = copy.deepcopy(monitoring)
        node = broken
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)
        with pytest.raises(ValidationError):
            Monitoring.model_validate(broken)
    broken = copy.deepcopy(monitoring)
    broken["effect"]["estimat"] = 0.1  # a typo of a real field
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
