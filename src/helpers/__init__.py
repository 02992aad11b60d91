"""srceval: reproducible evaluation of police randomised trials, starting with the secondary
reassurance contact (SRC) trial.

The package follows the data::

    inputs (files -> analysis table) -> methods (estimators) -> pipeline (stages, results.json)
    -> report (tables, figures, summary, HTML and PDF)

``cli`` is the ``srceval`` command; ``config`` holds every path, ``parameters`` the schema of
the parameters file and ``errors`` the messages about bad input.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("srceval")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
