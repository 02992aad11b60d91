"""A contract breach or a bad parameters file is refused before any kernel starts (exit 2)."""
from __future__ import annotations

import subprocess
import time

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
