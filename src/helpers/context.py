"""What every stage notebook starts with: its parameters resolved and its files named."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import config
from .parameters import load_parameters


@dataclass
class StageContext:
    """Resolved inputs, outputs and parameters of one run, shared by the stage notebooks."""

    allocation_path: Path
    extract_path: Path
    files: config.StageFiles
    params: dict
    params_file: Path
    sheets: dict = field(default_factory=dict)

    @property
    def alpha(self) -> float:
        return 1 - float(self.params["confidence_level"])

    @property
    def seed(self) -> int:
        return int(self.params["seed"])

    @property
    def draws(self) -> int:
        return int(self.params["randomisation_draws"])

    def write_stage_result(self, stage: str, result: dict) -> dict:
        """Write a stage's result as JSON and return it as later stages will read it."""
        plain = to_jsonable(result)
        write_json(self.files.stage_result(stage), plain)
        return plain

    def read_stage_result(self, stage: str) -> dict:
        path = self.files.stage_result(stage)
        if not path.is_file():
            raise FileNotFoundError(f"{path.name} is missing: run stage {stage} first")
        return json.loads(path.read_text(encoding="utf-8"))

    def read_analysis_table(self) -> pd.DataFrame:
        if not self.files.analysis_table.is_file():
            raise FileNotFoundError("the analysis table is missing: run stage 01_data_cleaning first")
        return pd.read_parquet(self.files.analysis_table)


def open_stage(*, allocation_path=None, extract_path=None, output_dir=None, processed_dir=None,
               params_file=None, allocation_sheet=None, extract_sheet=None, **overrides: Any) -> StageContext:
    """Resolve a stage notebook's parameters; None takes the default for each.

    ``allocation_sheet`` and ``extract_sheet`` name the Excel sheet to read (None: the first).
    ``overrides`` (seed, confidence_level, randomisation_draws, population_file, ...) replace
    single values of the parameters file.
    """
    params_file = Path(params_file) if params_file else config.PARAMETERS_FILE
    params = load_parameters(params_file, **overrides)
    files = config.StageFiles(
        Path(output_dir) if output_dir else config.default_output_dir(),
        Path(processed_dir) if processed_dir else config.default_processed_dir(),
    )
    for folder in (files.output_dir, files.processed_dir, files.stages_dir, files.figures_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return StageContext(
        Path(allocation_path) if allocation_path else config.DEFAULT_ALLOCATION,
        Path(extract_path) if extract_path else config.DEFAULT_EXTRACT,
        files, params, params_file, {"allocation": allocation_sheet, "extract": extract_sheet},
    )


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: numpy numbers unwrapped, NaN and infinity as null, dates as ISO text."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.date().isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n",
                    encoding="utf-8")
    return path
