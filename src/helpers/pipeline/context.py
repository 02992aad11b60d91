"""What every stage notebook starts with: its parameters resolved and its files named."""
from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import config
from helpers.methods.design import Design
from helpers.methods.tidy import clean
from helpers.parameters import load_parameters


class StageResults:
    """Writing and reading the stage files of a run (``files.stages_dir``), each checked against its model
    (:mod:`helpers.pipeline.models.stages`) when read; shared by the trial's and the monitoring's contexts."""

    files: config.StageFiles

    def write_stage_result(self, stage: str, result: dict) -> dict:
        """Write a stage's result as JSON and return it as later stages will read it."""
        plain = to_jsonable(result)
        write_json(self.files.stage_result(stage), plain)
        return plain

    def read_stage_result(self, stage: str) -> dict:
        """A stage's result, checked against its model.

        Raises
        ------
        FileNotFoundError
            The stage has not run.
        StageFileError
            The file is not JSON, or does not follow its model (edited, or from another version).
        """
        from pydantic import ValidationError

        from helpers.errors import StageFileError
        from helpers.pipeline.models.common import describe_errors
        from helpers.pipeline.models.stages import STAGE_MODELS

        path = self.files.stage_result(stage)
        if not path.is_file():
            raise FileNotFoundError(f"{path.name} is missing: run stage {stage} first")
        again = f"Run the stages again from {stage} (srceval run, or srceval monitor, writes them anew)."
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise StageFileError(f"The stage file {path} cannot be read as JSON ({error}). {again}") from None
        try:  # strict: a figure written as text ("0.5") is not the number a stage writes
            STAGE_MODELS[stage].model_validate_json(text, strict=True)
        except ValidationError as error:
            raise StageFileError(f"The stage file {path} is not what stage {stage} of this version of srceval "
                                 f"writes ({describe_errors(error)}): it was edited, or written by another "
                                 f"version. {again}") from None
        return data


@dataclass
class StageContext(StageResults):
    """Resolved inputs, outputs and parameters of one run, shared by the stage notebooks."""

    allocation_path: Path
    extract_path: Path
    files: config.StageFiles
    params: dict
    params_file: Path
    sheets: dict = field(default_factory=dict)
    checked_dir: Path | None = None
    command: str | None = None  # the srceval command that started the run, for the provenance

    @property
    def conf_level(self) -> float:
        """The level of every interval (the parameters file's ``confidence_level``)."""
        return float(self.params["confidence_level"])

    @cached_property
    def design(self) -> Design:
        """The declared design (the parameters file's ``design``), resolved once."""
        return Design.from_parameters(self.params["design"])

    @property
    def seed(self) -> int:
        return int(self.params["seed"])

    @property
    def draws(self) -> int:
        return int(self.params["randomisation_draws"])

    def read_analysis_table(self) -> pd.DataFrame:
        if not self.files.analysis_table.is_file():
            raise FileNotFoundError("the analysis table is missing: run stage 01_data_cleaning first")
        return pd.read_parquet(self.files.analysis_table)


# Every parameter a stage notebook can take, with the comment its parameters cell shows. The
# parameters cell and the setup cell of each notebook are written from these two tables by
# ``make notebooks`` (:func:`parameters_cell`, :func:`setup_cell`), and ``srceval run`` passes a
# stage only the parameters it takes, so there is one definition and no copy to drift.
PARAMETERS = {
    "allocation_path": "allocation log (.xlsx or .csv)",
    "extract_path": "crime extract (.csv or .xlsx)",
    "allocation_sheet": "Excel sheet of the allocation log; None: the first",
    "extract_sheet": "Excel sheet of the crime extract; None: the first",
    "checked_dir": "the tables srceval's contract check cleaned; None: clean here",
    "command": "the srceval command that started the run, as typed; None: run directly",
    "output_dir": "folder for stage results, figures and the report",
    "processed_dir": "folder for the analysis table and the exclusion log",
    "params_file": "the run's parameters (YAML)",
    "seed": "seed of every random draw",
    "confidence_level": "of every interval",
    "randomisation_draws": "draws for randomisation inference and the bootstrap",
    "population_file": "population figures for the extrapolation",
    "audience": "full, or leadership for the short decision report (its own list of sections)",
    "previous_results": "results.json of the last run into the same folder; None: no comparison",
}
DEFAULTS = {"audience": "full"}  # every other parameter's default is None: the value below applies
FILES = ("output_dir", "processed_dir", "params_file")
STAGE_PARAMETERS = {
    "01_data_cleaning": ("allocation_path", "extract_path", "allocation_sheet", "extract_sheet", "checked_dir", *FILES,
                         "command"),
    "02_allocation_audit": (*FILES, "seed", "randomisation_draws"),
    "03_compliance_analysis": (*FILES, "confidence_level"),
    "04_effect_estimation": (*FILES, "seed", "confidence_level", "randomisation_draws"),
    "05_extrapolation": (*FILES, "confidence_level", "population_file"),
    "06_report": (*FILES, "seed", "confidence_level", "randomisation_draws", "population_file", "audience",
                  "previous_results"),
}
NOT_FOR_CONTEXT = ("audience", "previous_results")  # the report notebook's own: not the stage context's
OVERRIDES = ("seed", "confidence_level", "randomisation_draws", "population_file")


def parameters_text(stage: str) -> str:
    """The Markdown cell above a stage notebook's ``parameters`` cell."""
    overrides = [f"`{name}`" for name in STAGE_PARAMETERS[stage] if name in OVERRIDES]
    text = ("## Parameters\nThe next cell holds this stage's parameters; `srceval run` replaces them through "
            "papermill. Each `None` takes the default: ")
    text += ("the shipped synthetic extract in `data/raw/`, " if "extract_path" in STAGE_PARAMETERS[stage] else "")
    text += ("outputs in `reports/` (or the folder named by `SRCEVAL_OUTPUT_DIR`), the analysis table in "
             "`data/processed/`, and the values of `config/parameters.yml`")
    if overrides:
        text += f", of which {', '.join(overrides[:-1]) + ' and ' if len(overrides) > 1 else ''}{overrides[-1]} " \
                f"{'replace single values' if len(overrides) > 1 else 'replaces a single value'}"
    return text + "."


def parameters_cell(stage: str) -> str:
    """The source of a stage notebook's ``parameters`` cell."""
    names = STAGE_PARAMETERS[stage]
    width = max(len(f"{name} = {DEFAULTS.get(name)!r}") for name in names) + 2
    return "\n".join(f"{name} = {DEFAULTS.get(name)!r}".ljust(width) + f"# {PARAMETERS[name]}" for name in names)


def setup_cell(stage: str) -> str:
    """The source of a stage notebook's setup cell: its context opened from its parameters."""
    arguments = ", ".join(f"{name}={name}" for name in STAGE_PARAMETERS[stage] if name not in NOT_FOR_CONTEXT)
    call = textwrap.fill(arguments, width=100, initial_indent="ctx = open_stage(", subsequent_indent=" " * 17)
    return (("" if stage == "06_report" else "from helpers.pipeline import stages\n") +
            "from helpers.pipeline.context import open_stage\n"
            "from helpers.report import tables as show\n\n"
            f"{call})\n"
            "show.use_parameters(ctx.params)  # outcome labels and codes from the parameters file")


def open_stage(*, allocation_path=None, extract_path=None, output_dir=None, processed_dir=None,
               params_file=None, allocation_sheet=None, extract_sheet=None, checked_dir=None, command=None,
               **overrides: Any) -> StageContext:
    """Resolve a stage notebook's parameters; None takes the default for each.

    ``allocation_sheet`` and ``extract_sheet`` name the Excel sheet to read (None: the first);
    ``checked_dir`` holds what ``srceval run``'s contract check cleaned (see :func:`stages.clean`);
    ``command`` is the srceval command line that started the run (recorded by stage 1 for the provenance).
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
        Path(checked_dir) if checked_dir else None, command,
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
        return clean(float(value))
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
