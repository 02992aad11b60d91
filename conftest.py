"""Test session set-up shared by the unit tests and nbval.

The committed notebooks write wherever SRCEVAL_OUTPUT_DIR and SRCEVAL_PROCESSED_DIR point;
the kernels nbval starts inherit this process's environment, so the tests never touch
reports/ or data/processed/.
"""
import os
import tempfile
from pathlib import Path

import pytest

_scratch = tempfile.mkdtemp(prefix="srceval-tests-")
os.environ.setdefault("SRCEVAL_OUTPUT_DIR", os.path.join(_scratch, "reports"))
os.environ.setdefault("SRCEVAL_PROCESSED_DIR", os.path.join(_scratch, "processed"))
os.environ.setdefault("MPLBACKEND", "Agg")


def _notebook(item) -> str | None:
    path = str(item.fspath)
    return Path(path).stem if path.endswith(".ipynb") else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """A notebook's cells run together and in their order, whatever reordered the session
    (``pytest -p randomly`` shuffles the notebooks, and would shuffle and interleave their cells):
    each notebook's cells are put back in cell order, as one block where its first cell was."""
    cells: dict[str, list] = {}
    for item in items:
        if _notebook(item) is not None:
            cells.setdefault(_notebook(item), []).append(item)
    reordered, placed = [], set()
    for item in items:
        notebook = _notebook(item)
        if notebook is None:
            reordered.append(item)
        elif notebook not in placed:
            placed.add(notebook)
            reordered.extend(sorted(cells[notebook], key=lambda cell: getattr(cell, "cell_num", 0)))
    items[:] = reordered


def pytest_collection_finish(session):
    """Let any stage notebook run alone, or in any order, under nbval: write the files it reads first.

    The monitoring notebooks (m1, m2, m3) are handled the same way, among themselves.

    A stage notebook reads only what earlier stages wrote. Each earlier stage that the session does
    not run before it (the session starts at 04_effect_estimation, or runs 05 before 01) runs here
    first, in process, into the same scratch folders the notebooks' kernels read (its notebook is not
    executed or compared here).
    """
    order = list(dict.fromkeys(filter(None, map(_notebook, session.items))))
    if not order:
        return
    from helpers import config
    from helpers.pipeline import monitor, stages
    from helpers.pipeline.context import open_stage

    _monitoring_stages_first(order, monitor)

    needed = set()
    for index, notebook in enumerate(order):
        if notebook in config.STAGES:
            needed |= set(config.STAGES[:config.STAGES.index(notebook)]) - set(order[:index])
    if needed:
        stages.run_stages(open_stage(), sorted(needed))


def _monitoring_stages_first(order: list[str], monitor) -> None:
    """The monitoring stages a monitoring notebook reads and the session does not run before it, run in process."""
    stages = list(monitor.MONITOR_STAGES)
    needed = set()
    for index, notebook in enumerate(order):
        if notebook in stages:
            needed |= set(stages[:stages.index(notebook)]) - set(order[:index])
    if needed:
        ctx = monitor.open_monitor()
        for stage, function in zip(stages, (monitor.delivery_stage, monitor.effect_stage)):
            if stage in needed:
                function(ctx)
