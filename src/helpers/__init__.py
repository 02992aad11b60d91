"""srceval: reproducible evaluation of the secondary reassurance contact (SRC) trial.

Each stage of the evaluation is one module; the notebooks in ``notebooks/`` call them.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("srceval")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
