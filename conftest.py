"""Test session set-up shared by the unit tests and nbval.

The committed notebooks write wherever SRCEVAL_OUTPUT_DIR and SRCEVAL_PROCESSED_DIR point;
the kernels nbval starts inherit this process's environment, so the tests never touch
reports/ or data/processed/.
"""
import os
import tempfile

_scratch = tempfile.mkdtemp(prefix="srceval-tests-")
os.environ.setdefault("SRCEVAL_OUTPUT_DIR", os.path.join(_scratch, "reports"))
os.environ.setdefault("SRCEVAL_PROCESSED_DIR", os.path.join(_scratch, "processed"))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_finish(session):
    """Let any stage notebook run alone under nbval: write the files of the stages before it first.

    A stage notebook reads only what earlier stages wrote. When the session starts at, say,
    04_effect_estimation, the earlier stages run here, in process, into the same scratch folders
    the notebooks' kernels read (their own notebooks are not executed or compared).
    """
    from pathlib import Path

    selected = sorted({Path(str(item.fspath)).stem for item in session.items if str(item.fspath).endswith(".ipynb")})
    if not selected:
        return
    from helpers import config
    from helpers.pipeline import stages
    from helpers.pipeline.context import open_stage

    functions = dict(zip(config.STAGES, (stages.data_cleaning, stages.allocation_audit, stages.compliance_analysis,
                                         stages.effect_estimation, stages.extrapolate)))
    before = config.STAGES[:config.STAGES.index(selected[0])]
    if before:
        ctx = open_stage()
        for stage in before:
            functions[stage](ctx)
