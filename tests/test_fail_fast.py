"""A contract breach or a bad parameters file is refused before any kernel starts (exit 2)."""
from __future__ import annotations

import subprocess
import time

import pandas as pd

from helpers import config

SRCEVAL = config.PROJ_ROOT / ".venv" / "bin" / "srceval"
# Starting one kernel and importing the stage's libraries takes several seconds on the
# reference machine; a refusal well inside that shows no kernel was started.
NO_KERNEL_SECONDS = 6


def _run(tmp_path, *args):
    started = time.monotonic()
    done = subprocess.run([str(SRCEVAL), "run", "--out", str(tmp_path / "out"), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - started


def test_a_contract_breach_is_refused_before_any_kernel(tmp_path):
    (tmp_path / "log.csv").write_text("crime_ref,allocated_on,allocation\nA1,2022-10-01,maybe\n", encoding="utf-8")
    done, seconds = _run(tmp_path, "--allocation", "log.csv")
    assert done.returncode == 2
    assert "log.csv, column 'allocation', row 2: expected SRC or BAU" in done.stderr
    assert "Traceback" not in done.stderr and "[1/6]" not in done.stdout
    assert seconds < NO_KERNEL_SECONDS
    assert not (tmp_path / "out").exists()


def test_a_bad_parameters_file_is_refused_before_any_kernel(tmp_path):
    text = config.PARAMETERS_FILE.read_text(encoding="utf-8").replace('codes: ["14", "16"]', "codes: 14, 16")
    (tmp_path / "run.yml").write_text(text, encoding="utf-8")
    done, seconds = _run(tmp_path, "--params", "run.yml")
    assert done.returncode == 2
    assert "parameter 'outcomes.attrition.codes' is '14, 16': must be a list of outcome codes" in done.stderr
    assert "Traceback" not in done.stderr and seconds < NO_KERNEL_SECONDS


def test_stage_1_reads_what_the_contract_check_cleaned_only_if_made_from_the_same_files(tmp_path, monkeypatch):
    """The contract check cleans both files; stage 1 uses that instead of cleaning again, but only when
    it was made from the very same files and settings."""
    from helpers.inputs import cleaning
    from helpers.pipeline import stages
    from helpers.pipeline.context import open_stage

    from .trials import simulated

    allocation, extract = simulated(seed=4)
    paths = {"allocation_path": tmp_path / "allocation.csv", "extract_path": tmp_path / "extract.csv"}
    allocation.to_csv(paths["allocation_path"], index=False)
    extract.to_csv(paths["extract_path"], index=False)
    checked = tmp_path / "checked"
    checked.mkdir()
    ctx = open_stage(**paths, output_dir=tmp_path / "out", processed_dir=tmp_path / "p", checked_dir=checked)
    settings = cleaning.cleaning_settings(ctx.params, ctx.sheets)
    fresh = cleaning.clean_inputs(paths["allocation_path"], paths["extract_path"], settings["outcomes"],
                                  limits=settings["input_limits"])
    fresh.save(checked, settings)
    calls = []
    monkeypatch.setattr(stages, "clean_inputs", lambda *a, **k: calls.append(a) or fresh)
    reused = stages.clean(ctx)
    assert not calls
    # as stage 1 writes it and the later stages read it: through Parquet
    fresh.write_analysis_table(tmp_path / "fresh.parquet")
    pd.testing.assert_frame_equal(reused.analysis, pd.read_parquet(tmp_path / "fresh.parquet"))
    pd.testing.assert_frame_equal(reused.exclusions, fresh.exclusions.drop(columns=["crime_ref"]), check_dtype=False)
    assert (reused.flow, reused.warnings, reused.inputs) == (fresh.flow, fresh.warnings, fresh.inputs)
    extract.iloc[:5].to_csv(paths["extract_path"], index=False)  # another extract under the same name
    stages.clean(ctx)
    assert len(calls) == 1
    extract.to_csv(paths["extract_path"], index=False)
    other = open_stage(**paths, output_dir=tmp_path / "out", processed_dir=tmp_path / "p", checked_dir=checked,
                       allocation_sheet="Sheet2")  # other settings
    stages.clean(other)
    assert len(calls) == 2
