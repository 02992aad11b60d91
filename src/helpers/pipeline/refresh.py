"""Re-execute the committed stage notebooks in place: their outputs become the reference run's.

Run by ``make notebooks`` after an analysis changes; review the diff of the outputs as you
would review code, since nbval compares against them. Each notebook's ``parameters`` and ``setup``
cells are first rewritten from :mod:`helpers.pipeline.context`, their one definition. The notebooks run with their default
parameters (the shipped data); what they write goes to a temporary folder, never to
``reports/`` or ``data/processed/``.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers import config
from helpers.pipeline import context, monitor
from helpers.pipeline.stage_kernel import kernel_name


def generated_cells(notebook, stage: str) -> None:
    """Rewrite the ``parameters`` and ``setup`` cells of a stage notebook from their definition
    (:mod:`helpers.pipeline.context` for the trial's stages, :mod:`helpers.pipeline.monitor` for the monitoring's)."""
    cells = monitor if stage in monitor.MONITOR_STAGES else context
    for index, cell in enumerate(notebook.cells):
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags:
            cell.source = cells.parameters_cell(stage)
            if index and notebook.cells[index - 1].cell_type == "markdown":
                notebook.cells[index - 1].source = cells.parameters_text(stage)
        elif "setup" in tags:
            cell.source = cells.setup_cell(stage)


def refresh(notebooks: list[Path] | None = None) -> None:
    notebooks = notebooks or [config.NOTEBOOKS_DIR / f"{stage}.ipynb" for stage in (*config.STAGES,
                                                                                     *monitor.MONITOR_STAGES)]
    with tempfile.TemporaryDirectory(prefix="srceval-reference-") as scratch:
        os.environ[config.OUTPUT_DIR_ENV] = str(Path(scratch) / "reports")
        os.environ[config.PROCESSED_DIR_ENV] = str(Path(scratch) / "processed")
        for path in notebooks:
            print(f"executing {path.name} ...", flush=True)
            notebook = nbformat.read(path, as_version=4)
            generated_cells(notebook, path.stem)
            NotebookClient(notebook, kernel_name=kernel_name(), timeout=600, record_timing=False,
                           resources={"metadata": {"path": str(config.NOTEBOOKS_DIR)}}).execute()
            notebook.metadata.pop("papermill", None)
            nbformat.write(notebook, path)


if __name__ == "__main__":
    refresh([Path(p).resolve() for p in sys.argv[1:]] or None)
