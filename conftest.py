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
