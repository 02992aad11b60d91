"""Run the stage notebooks in order with papermill, then write the report.

Everything is written to a staging folder beside the output folder and moved into place only
when every stage has succeeded, so a failed run leaves an earlier report as it was.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import papermill
from jupyter_client.kernelspec import KernelSpecManager
from papermill.exceptions import PapermillExecutionError

from . import config
from .kernel import NAME as KERNEL_NAME
from .errors import InputError
from .parameters import load_parameters
from .report import render_report

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


@dataclass
class RunFailure(Exception):
    """A stage failed; ``message`` is the one paragraph shown to the user."""

    message: str
    exit_code: int = EXIT_FAILED

    def __str__(self) -> str:
        return self.message


def kernel_name() -> str:
    """The project's registered kernel, or the running Python's own when it is not registered."""
    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def run_pipeline(*, allocation: Path, extract: Path, out: Path, params_file: Path, processed_dir: Path,
                 audience: str = "full", allocation_sheet: str | None = None, extract_sheet: str | None = None,
                 progress: Callable[[str], None] = print) -> dict:
    """Run every stage and write the report; return the paths written.

    Raises
    ------
    RunFailure
        A stage failed: bad input (exit code 2) or an error in the analysis (exit code 1).
    """
    load_parameters(params_file)  # a broken parameters file stops the run before any kernel starts
    for role, path in (("allocation log", allocation), ("crime extract", extract)):
        if not Path(path).is_file():
            raise RunFailure(f"The {role} {path} does not exist.", EXIT_BAD_INPUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-", dir=out.parent))
    try:
        files = config.StageFiles(staging, staging / "processed")
        files.notebooks_dir.mkdir(parents=True)
        parameters = {"allocation_path": str(Path(allocation).resolve()), "extract_path": str(Path(extract).resolve()),
                      "output_dir": str(files.output_dir), "processed_dir": str(files.processed_dir),
                      "params_file": str(Path(params_file).resolve())}
        started = time.perf_counter()
        for number, stage in enumerate(config.STAGES, start=1):
            stage_parameters = dict(parameters)
            if stage == "06_report":
                stage_parameters["audience"] = audience
            if stage == "01_data_cleaning":
                stage_parameters.update(allocation_sheet=allocation_sheet, extract_sheet=extract_sheet)
            progress(f"[{number}/{len(config.STAGES)}] {stage} ...")
            stage_started = time.perf_counter()
            _execute(stage, files, stage_parameters)
            progress(f"      done in {time.perf_counter() - stage_started:.1f} s")
        progress("[report] writing report.html and report.pdf ...")
        try:
            render_report(files.notebooks_dir / "06_report.ipynb", files.report_html, files.report_pdf,
                          subtitle=f"Inputs: {Path(allocation).name}, {Path(extract).name}")
        except Exception as exc:  # nbconvert or WeasyPrint (a missing system library, a font)
            raise RunFailure(f"Writing the report failed ({type(exc).__name__}: {exc}). No results were "
                             "written. If the message names a library, see the README on Pango.") from None
        written = _move_into_place(files, out, processed_dir)
        progress(f"Finished in {time.perf_counter() - started:.1f} s. Report: {out / 'report.html'}")
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _execute(stage: str, files: config.StageFiles, parameters: dict) -> None:
    source = config.NOTEBOOKS_DIR / f"{stage}.ipynb"
    executed = files.notebooks_dir / f"{stage}.ipynb"
    try:
        papermill.execute_notebook(str(source), str(executed), parameters=parameters, kernel_name=kernel_name(),
                                   progress_bar=False, cwd=str(config.NOTEBOOKS_DIR), log_output=False)
    except PapermillExecutionError as exc:
        if exc.ename == InputError.__name__:
            raise RunFailure(f"Stage {stage} stopped: {exc.evalue}\nNo results were written.", EXIT_BAD_INPUT) from None
        kept = _keep_for_diagnosis(executed, stage)
        raise RunFailure(f"Stage {stage} failed with {exc.ename}: {exc.evalue.rstrip('.')}. No results were written; the "
                         f"executed notebook, with the failing cell marked, is kept at {kept}.") from None
    except Exception as exc:  # the kernel died or could not start: still one paragraph, never a traceback
        raise RunFailure(f"Stage {stage} could not run ({type(exc).__name__}: {exc}). No results were written.") from None


def _keep_for_diagnosis(executed: Path, stage: str) -> Path | None:
    if not executed.is_file():
        return None
    folder = Path(tempfile.mkdtemp(prefix="srceval-failed-"))
    return Path(shutil.copy2(executed, folder / f"{stage}.ipynb"))


def _move_into_place(files: config.StageFiles, out: Path, processed_dir: Path) -> dict:
    """Replace the previous run's outputs with this run's, item by item."""
    out.mkdir(parents=True, exist_ok=True)
    processed_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for item in sorted(files.processed_dir.iterdir()):
        written[item.name] = _replace(item, processed_dir / item.name)
    shutil.rmtree(files.processed_dir)
    for item in sorted(files.output_dir.iterdir()):
        written[item.name] = _replace(item, out / item.name)
    return written


def _replace(source: Path, target: Path) -> Path:
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    return Path(shutil.move(str(source), str(target)))
