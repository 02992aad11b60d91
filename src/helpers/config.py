"""Every path the project uses, in one place.

Paths are absolute, derived from this file's location in the source tree, so notebooks,
the command line and the tests agree whatever the working directory.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
DATA_DIR = PROJ_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
PROCESSED_DIR = DATA_DIR / "processed"
EXTERNAL_DIR = DATA_DIR / "external"
REPORTS_DIR = PROJ_ROOT / "reports"
PARAMETERS_FILE = PROJ_ROOT / "config" / "parameters.yml"

DEFAULT_ALLOCATION = RAW_DIR / "allocation_log.xlsx"
DEFAULT_EXTRACT = RAW_DIR / "crime_extract.csv"

SCHEMA_FILE = Path(__file__).resolve().parent / "report" / "schema" / "results.schema.json"
TEMPLATES_DIR = Path(__file__).resolve().parent / "report" / "templates"

# The stage notebooks, in the order they run; the report notebook comes last.
STAGES = (
    "01_data_cleaning",
    "02_allocation_audit",
    "03_compliance_analysis",
    "04_effect_estimation",
    "05_extrapolation",
    "06_report",
)

# Where a notebook run without injected parameters (nbval, a reviewer in JupyterLab) writes.
# The tests point it at a temporary folder so that they never touch reports/.
OUTPUT_DIR_ENV = "SRCEVAL_OUTPUT_DIR"
PROCESSED_DIR_ENV = "SRCEVAL_PROCESSED_DIR"


def default_output_dir() -> Path:
    """Output folder for a run that did not name one."""
    return Path(os.environ.get(OUTPUT_DIR_ENV, REPORTS_DIR))


def default_processed_dir() -> Path:
    """Processed-data folder for a run that did not name one."""
    return Path(os.environ.get(PROCESSED_DIR_ENV, PROCESSED_DIR))


class StageFiles:
    """Names of the files a run writes inside its output and processed folders.

    A stage reads the previous stage's files through these names, never its state.
    """

    def __init__(self, output_dir: Path | str, processed_dir: Path | str):
        self.output_dir = Path(output_dir)
        self.processed_dir = Path(processed_dir)

    @property
    def analysis_table(self) -> Path:
        return self.processed_dir / "analysis_table.parquet"

    @property
    def exclusion_log(self) -> Path:
        return self.processed_dir / "exclusion_log.csv"

    @property
    def stages_dir(self) -> Path:
        return self.output_dir / "stages"

    def stage_result(self, stage: str) -> Path:
        return self.stages_dir / f"{stage}.json"

    @property
    def figures_dir(self) -> Path:
        return self.output_dir / "figures"

    def figure(self, name: str) -> Path:
        """A figure of the report, as SVG: sharp at any size, and small."""
        return self.figures_dir / f"{name}.svg"

    @property
    def results(self) -> Path:
        return self.output_dir / "results.json"

    @property
    def notebooks_dir(self) -> Path:
        return self.output_dir / "notebooks"

    @property
    def report_html(self) -> Path:
        return self.output_dir / "report.html"

    @property
    def report_pdf(self) -> Path:
        return self.output_dir / "report.pdf"
