"""Typed models of every machine-readable file the tool writes, and the JSON Schemas made from them.

``python -m helpers.pipeline.models`` writes each schema into ``src/helpers/report/schema/``;
``tests/test_results_schema.py`` fails when a committed schema differs from what its model gives.
"""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from helpers import config
from helpers.pipeline.models.monitoring import Monitoring, Plan
from helpers.pipeline.models.pooled import Pooled, PoolInput
from helpers.pipeline.models.results import Results
from helpers.pipeline.models.stages import STAGE_MODELS

SCHEMA_DIR = config.SCHEMA_FILE.parent
# Each schema file and the model it is generated from.
SCHEMAS: dict[str, type[BaseModel]] = {"results.schema.json": Results, "monitoring.schema.json": Monitoring,
                                       "plan.schema.json": Plan, "pooled.schema.json": Pooled,
                                       "pool-input.schema.json": PoolInput,
                                       **{f"stage-{stage}.schema.json": model for stage, model in STAGE_MODELS.items()}}

__all__ = ["Monitoring", "Plan", "PoolInput", "Pooled", "Results", "SCHEMAS", "SCHEMA_DIR", "schema_of", "schema_text", "write_schemas"]


def schema_of(model: type[BaseModel]) -> dict:
    """The JSON Schema (draft 2020-12) of what ``model`` writes."""
    schema = model.model_json_schema(mode="serialization", by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text(model: type[BaseModel]) -> str:
    return json.dumps(schema_of(model), indent=1, ensure_ascii=False) + "\n"


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for name, model in SCHEMAS.items():
        path = folder / name
        path.write_text(schema_text(model), encoding="utf-8")
        written.append(path)
    return written
