"""Fixtures shared by the unit tests: the shipped data cleaned once, and builders of small inputs.

Session-scoped, so made once per process (per worker under pytest-xdist), whichever test asks first:

- ``params``: the project's parameters; ``shipped`` / ``analysis``: the shipped extract through stage 1;
- ``reference_results``: results.json of the shipped data, every stage called in process (no kernel),
  with the project's parameters: the figures a test of the shipped data reads, unless it is about the
  command line or the notebooks themselves;
- ``monitoring_in_process``: monitoring.json of the shipped roll-out, built the same way.

Function-scoped builders: ``write_inputs`` (DataFrames to CSV files in tmp_path), ``small_trial`` (a
tidy 40-report trial to corrupt). Whole trials run in process come from tests/trials.py
(``run_in_process``); full command-line runs shared by the end-to-end modules from tests/e2e_runs.py.
Hypothesis profiles (HYPOTHESIS_PROFILE) are in tests/hypothesis_profiles.py, loaded here.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from helpers import config
from helpers.inputs.cleaning import clean_inputs
from helpers.inputs.simulate import TrialDesign, simulate_trial
from helpers.parameters import load_parameters

from . import hypothesis_profiles  # noqa: F401  (loads the profile HYPOTHESIS_PROFILE names)


@pytest.fixture(scope="session")
def params() -> dict:
    return load_parameters()


@pytest.fixture(scope="session")
def shipped(params):
    """The shipped synthetic extract, through stage 1."""
    return clean_inputs(config.DEFAULT_ALLOCATION, config.DEFAULT_EXTRACT, params["outcomes"])


@pytest.fixture(scope="session")
def analysis(shipped) -> pd.DataFrame:
    return shipped.analysis


@pytest.fixture
def write_inputs(tmp_path):
    """Write an allocation log and an extract (DataFrames) as CSV files; return their paths."""

    def write(allocation: pd.DataFrame, extract: pd.DataFrame) -> tuple[Path, Path]:
        allocation_path, extract_path = tmp_path / "allocation.csv", tmp_path / "extract.csv"
        allocation.to_csv(allocation_path, index=False)
        extract.to_csv(extract_path, index=False)
        return allocation_path, extract_path

    return write


@pytest.fixture
def small_trial():
    """A tidy 40-report trial with no unrandomised reports, as DataFrames to corrupt."""
    design = TrialDesign(n_control=20, n_treatment=20, incidents_not_randomised=0, crimes_not_randomised=0,
                         duplicate_records=0)
    trial = simulate_trial(design, seed=7)
    return trial.allocation.copy(), trial.extract.copy()


@pytest.fixture(scope="session")
def reference_results(tmp_path_factory) -> dict:
    """results.json of the shipped data, built by calling the stages in process (no kernels)."""
    from helpers.pipeline import stages
    from helpers.pipeline.context import open_stage
    from helpers.pipeline.results import assemble_results

    folder = tmp_path_factory.mktemp("in-process-run")
    ctx = open_stage(output_dir=folder / "reports", processed_dir=folder / "processed")
    stages.run_stages(ctx)
    return assemble_results(ctx)


@pytest.fixture(scope="session")
def monitoring_in_process(tmp_path_factory) -> dict:
    """monitoring.json of the shipped roll-out, built by calling the monitoring stages in process."""
    from helpers.pipeline import monitor
    from helpers.pipeline.monitoring_results import assemble_monitoring

    folder = tmp_path_factory.mktemp("monitoring")
    ctx = monitor.open_monitor(output_dir=folder / "out", processed_dir=folder / "processed")
    monitor.delivery_stage(ctx)
    monitor.effect_stage(ctx)
    return assemble_monitoring(ctx)
