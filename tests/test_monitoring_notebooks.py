"""The monitoring notebooks: their generated cells match their one definition, and the steps they run give
exactly what the stage functions give."""
from __future__ import annotations

import json

import nbformat
import pytest

from helpers import config
from helpers.pipeline import monitor


def _notebook(stage: str):
    return nbformat.read(config.NOTEBOOKS_DIR / f"{stage}.ipynb", as_version=4)


@pytest.mark.parametrize("stage", monitor.MONITOR_STAGES)
def test_parameters_and_setup_cells_are_the_generated_ones(stage):
    cells = _notebook(stage).cells
    tagged = {tag: [c for c in cells if tag in c.metadata.get("tags", [])] for tag in ("parameters", "setup")}
    assert len(tagged["parameters"]) == 1 and len(tagged["setup"]) == 1
    assert tagged["parameters"][0].source == monitor.parameters_cell(stage), "run `make notebooks` to regenerate"
    assert tagged["setup"][0].source == monitor.setup_cell(stage), "run `make notebooks` to regenerate"
    index = cells.index(tagged["parameters"][0])
    assert cells[index - 1].source == monitor.parameters_text(stage)


def run_cells(stage: str, parameters: dict) -> None:
    """Execute a notebook's code here, its parameters set as papermill sets them."""
    namespace: dict = {}
    for number, cell in enumerate(_notebook(stage).cells, start=1):
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, f"{stage}.ipynb, cell {number}", "exec"), namespace)  # noqa: S102 - our own
        if "parameters" in cell.metadata.get("tags", []):
            namespace.update({k: v for k, v in parameters.items() if k in namespace})


def test_the_notebooks_steps_give_what_the_stage_functions_give(tmp_path):
    by_function = monitor.open_monitor(output_dir=tmp_path / "f", processed_dir=tmp_path / "fp")
    monitor.delivery_stage(by_function)
    monitor.effect_stage(by_function)
    paths = {"output_dir": str(tmp_path / "n"), "processed_dir": str(tmp_path / "np")}
    for stage in monitor.MONITOR_STAGES:
        run_cells(stage, paths)
    by_notebook = monitor.open_monitor(**paths)
    for stage in monitor.MONITOR_STAGES[:2]:
        assert by_notebook.read_stage_result(stage) == by_function.read_stage_result(stage), stage
    written = json.loads(by_notebook.monitoring_json.read_text())
    assert written["effect"]["estimate"] == by_function.read_stage_result("m2_effect_monitoring")["estimate"]
