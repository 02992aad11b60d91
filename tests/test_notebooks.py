"""The stage notebooks: their generated cells match their one definition, and the steps they run
give exactly what the stage functions give."""
from __future__ import annotations

import json

import nbformat
import pytest

from helpers import config
from helpers.pipeline.context import parameters_cell, parameters_text, setup_cell

from . import trials


def _cell(stage: str, tag: str) -> str:
    notebook = nbformat.read(config.NOTEBOOKS_DIR / f"{stage}.ipynb", as_version=4)
    tagged = [cell.source for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{stage}: one cell tagged {tag!r}"
    return tagged[0]


@pytest.mark.parametrize("stage", config.STAGES)
def test_parameters_and_setup_cells_are_the_generated_ones(stage):
    assert _cell(stage, "parameters") == parameters_cell(stage), "run `make notebooks` to regenerate"
    assert _cell(stage, "setup") == setup_cell(stage), "run `make notebooks` to regenerate"
    notebook = nbformat.read(config.NOTEBOOKS_DIR / f"{stage}.ipynb", as_version=4)
    index = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    assert notebook.cells[index - 1].source == parameters_text(stage)


def test_the_notebooks_steps_give_what_the_stage_functions_give(tmp_path):
    allocation, extract = trials.simulated(seed=11)
    trials.run_in_process(allocation, extract, tmp_path / "functions", report=False)
    trials.run_in_process(allocation, extract, tmp_path / "notebooks", report=True)
    for stage in config.STAGES[:-1]:
        by_function = json.loads((tmp_path / "functions" / "out" / "stages" / f"{stage}.json").read_text())
        by_notebook = json.loads((tmp_path / "notebooks" / "out" / "stages" / f"{stage}.json").read_text())
        assert by_notebook == by_function, stage
