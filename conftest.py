"""Test session set-up shared by the unit tests and nbval.

The committed notebooks write wherever SRCEVAL_OUTPUT_DIR and SRCEVAL_PROCESSED_DIR point;
the kernels nbval starts inherit this process's environment, so the tests never touch
reports/ or data/processed/.

The suite runs in two or more processes (pytest-xdist: ``-n auto --maxprocesses 4 --dist loadfile``
in pyproject's ``addopts``; ``-n 0`` runs it in one process). Each file, a test module or a notebook,
runs whole in one worker, so that a module-scoped fixture is made once; each worker writes in a
scratch folder of its own; a notebook whose earlier stages its worker has not run gets their files
first (:func:`pytest_runtest_setup`).
"""
import os
import tempfile
from pathlib import Path

import pytest

# A worker's environment is a copy of the controller's, scratch folder included: each process, controller
# or worker, writes in a subfolder of its own, unless the user named the folders.
_scratch = os.environ.setdefault("SRCEVAL_TESTS_SCRATCH", tempfile.mkdtemp(prefix="srceval-tests-"))
_own = os.path.join(_scratch, os.environ.get("PYTEST_XDIST_WORKER", "main"))
for _variable, _folder in (("SRCEVAL_OUTPUT_DIR", "reports"), ("SRCEVAL_PROCESSED_DIR", "processed")):
    if os.environ.get(_variable, _scratch).startswith(_scratch):
        os.environ[_variable] = os.path.join(_own, _folder)
os.environ.setdefault("MPLBACKEND", "Agg")

_run_here: set[str] = set()  # the stages whose files this process has written, by a notebook or in process


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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Let any stage notebook run alone, in any order, or in any worker under nbval: write the files it reads first.

    The monitoring notebooks (m1, m2, m3) are handled the same way, among themselves.

    A stage notebook reads only what earlier stages wrote. Before a notebook's first cell, each earlier
    stage that this process has not yet run (the session starts at 04_effect_estimation, runs 05 before
    01, or another worker ran 01) runs here, in process, into the same scratch folders the notebooks'
    kernels read (its notebook is not executed or compared here).
    """
    notebook = _notebook(item)
    if notebook is None or notebook in _run_here:
        return
    from helpers import config
    from helpers.pipeline import monitor

    for family in (list(config.STAGES), list(monitor.MONITOR_STAGES)):
        if notebook in family:
            needed = [stage for stage in family[:family.index(notebook)] if stage not in _run_here]
            if needed:
                _run_in_process(needed, monitor if family[0] in monitor.MONITOR_STAGES else None)
            _run_here.update(needed)
    _run_here.add(notebook)


def _run_in_process(needed: list[str], monitor) -> None:
    if monitor is None:
        from helpers.pipeline import stages
        from helpers.pipeline.context import open_stage

        stages.run_stages(open_stage(), needed)
        return
    ctx = monitor.open_monitor()
    for stage, function in zip(monitor.MONITOR_STAGES, (monitor.delivery_stage, monitor.effect_stage)):
        if stage in needed:
            function(ctx)
