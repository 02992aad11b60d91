"""Run the stage notebooks in order in one kernel, then write the report.

Everything is written to a private staging folder inside the output folder and put in place only
when every stage has succeeded, through the guarded writer (``helpers.pipeline.safewrite``: the
folder locked, no link followed), so a failed or interrupted run leaves an earlier report as it was.

What a run costs, and why it is done this way:

- The checks of the inputs and of the folders written to come first, before any kernel starts:
  a refused run pays for no kernel. Only the light modules are imported by then; papermill,
  nbconvert and WeasyPrint are imported once the checks have passed.
- The check of both files against the input contract runs in a child process (forked), so that
  the memory a large extract takes is returned before the stages start.
- Every stage runs in one kernel, started once: the libraries the notebooks import are imported
  once instead of six times. Between two stages the kernel's namespace is emptied and the process
  state a notebook could change is put back (``helpers.pipeline.kernel``); each stage still reads only the
  files earlier stages wrote. While the kernel starts and imports, this process imports what it
  needs to execute the notebooks and to write the report. The kernel, and stopping a run on a
  signal, are :mod:`helpers.pipeline.stage_kernel`'s.
- Each notebook is executed with papermill's own parameterising and bookkeeping, so its executed
  copy carries the injected parameters cell and papermill's metadata as before.
- results.json is checked against its schema here, not in the kernel.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from helpers import config
from helpers.errors import InputError, StageFileError
from helpers.inputs.reading import check_input_file
from helpers.parameters import load_parameters
from helpers.pipeline import outputs
from helpers.pipeline.context import STAGE_PARAMETERS
from helpers.pipeline.stage_kernel import (
    STOP_SIGNALS,
    Interruptions,
    StageKernel,
    deferred_signals,
    interruptions,
    stop_kernels,
)

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
REPORT_STAGE = "06_report"  # the stage that writes results.json and the notebook the report is made of


@dataclass
class RunFailure(Exception):
    """A stage failed; ``message`` is the one paragraph shown to the user."""

    message: str
    exit_code: int = EXIT_FAILED

    def __str__(self) -> str:
        return self.message


def run_pipeline(*, allocation: Path, extract: Path, out: Path, params_file: Path, processed_dir: Path,
                 audience: str = "full", allocation_sheet: str | None = None, extract_sheet: str | None = None,
                 command: str | None = None, progress: Callable[[str], None] = print) -> list[Path]:
    """Run every stage and write the report; return the files written.

    Relative paths are taken from the current directory. Every check of the inputs and of the
    folders written to is made before the first kernel starts. ``command`` is the command line
    that started the run, recorded in results.json's provenance.

    Raises
    ------
    RunFailure
        Bad input or a folder that must not be written to (exit code 2), or an error in the
        analysis (exit code 1).
    RunInterrupted
        SIGINT, SIGTERM or SIGHUP arrived: the kernels are stopped and nothing is written.
    """
    try:
        allocation, extract, out, params_file = (outputs.absolute(p) for p in (allocation, extract, out, params_file))
        # its folder resolved, not the folder itself: OUT/processed that is a link is refused, never followed
        processed_dir = outputs.absolute(Path(processed_dir).parent) / Path(processed_dir).name
    except outputs.RefusedPath as refused:
        raise RunFailure(str(refused), EXIT_BAD_INPUT) from None
    with interruptions(out) as stop:
        inputs = _check_inputs(allocation, extract, params_file)
        created = _check_outputs(out, processed_dir, inputs)
        published = False
        try:
            with _held(out, processed_dir, progress) as folders:
                staging = _staging(folders, progress)
                checked = staging / "checked"
                checked.mkdir()
                sheets = {"allocation": allocation_sheet, "extract": extract_sheet}
                _check_contract(allocation, extract, params_file, sheets, checked)
                written = _run_staged(allocation, extract, out, params_file, processed_dir, inputs, stop, progress,
                                      folders=folders, staging=staging, audience=audience,
                                      allocation_sheet=allocation_sheet, extract_sheet=extract_sheet,
                                      checked_dir=checked, command=command)
            published = True
            return written
        finally:
            if not published:
                outputs.remove_if_empty(created)


@contextmanager
def _held(out: Path, processed_dir: Path, progress: Callable[[str], None]) -> Iterator[outputs.RunFolders]:
    """The run's folders, locked and checked (no link, no file where a folder goes) before anything runs."""
    try:
        folders = outputs.RunFolders(out, processed_dir, note=lambda text: progress(f"Note: {text}."))
        folders.__enter__()
    except outputs.RefusedPath as refused:
        raise RunFailure(str(refused), EXIT_BAD_INPUT) from None
    try:
        try:
            folders.check(config.StageFiles(out, processed_dir))
        except outputs.RefusedPath as refused:
            raise RunFailure(f"{refused} Nothing was written.", EXIT_BAD_INPUT) from None
        yield folders
    finally:
        with deferred_signals():
            folders.close()


def _staging(folders: outputs.RunFolders, progress: Callable[[str], None]) -> Path:
    """This run's staging folder inside the output folder, after removing those of runs that were killed."""
    stale = folders.out.remove_stale_staging()  # the lock is held: no other run can be using one
    if stale:
        progress(f"Removed {stale} staging folder(s) left in {folders.out.root} by interrupted runs.")
    try:
        return folders.staging()
    except OSError as exc:
        raise RunFailure(f"The staging folder cannot be created in the output folder {folders.out.root} "
                         f"({exc.strerror or exc}).", EXIT_BAD_INPUT) from None


def _check_inputs(allocation: Path, extract: Path, params_file: Path) -> dict[str, Path]:
    """Check the input files; return every file the run reads, by what it is."""
    params = load_parameters(params_file)  # a broken parameters file stops the run before any kernel starts
    for role, path in (("allocation log", allocation), ("crime extract", extract)):
        if not path.exists():
            raise RunFailure(f"The {role} {path} does not exist.", EXIT_BAD_INPUT)
        check_input_file(path)  # a folder, a named pipe or a device is named as such, never opened
    inputs = {"allocation log": allocation, "crime extract": extract, "parameters file": params_file,
              "population figures file": Path(params["population_file"]).resolve()}
    inputs.update({f"stage notebook {stage}": (config.NOTEBOOKS_DIR / f"{stage}.ipynb").resolve()
                   for stage in config.STAGES})
    return inputs


def _check_contract(allocation: Path, extract: Path, params_file: Path, sheets: dict, checked: Path) -> None:
    """Check both files against the input contract here, so a breach is refused before any kernel starts.

    The check runs in a forked child process: a large extract's memory is returned when it exits,
    instead of staying with this process while the stages run. Checking the contract cleans both
    files; the child keeps what it cleaned in ``checked``, a file stage 1 reads instead of cleaning
    again (a stage reads only files, never this process's state). On a contract breach stage 1 is
    never reached; an error other than a breach is left to stage 1 to meet again and report, with
    its notebook.
    """
    breach = _in_child(_contract_breach, allocation, extract, params_file, sheets, checked)
    if breach is not None:
        raise RunFailure(f"{breach}\nNo results were written.", EXIT_BAD_INPUT)


def _contract_breach(allocation: Path, extract: Path, params_file: Path, sheets: dict, checked: Path) -> str | None:
    """The message of the input contract's breach, or None after keeping the cleaned tables in ``checked``."""
    # pandas: imported only once the cheap checks have passed
    from helpers.inputs.cleaning import clean_inputs, cleaning_settings

    settings = cleaning_settings(load_parameters(params_file), sheets)
    try:
        cleaned = clean_inputs(allocation, extract, settings["outcomes"], sheet=sheets, limits=settings["input_limits"],
                               disclosure_threshold=settings["disclosure_threshold"])
    except InputError as error:
        return str(error)
    cleaned.save(checked, settings)
    return None


def _in_child(function: Callable[..., str | None], *args) -> str | None:
    """``function(*args)`` in a forked child process; its text result, or None (also when the child failed).

    A signal to this process stops the child too; the child itself dies quietly on a signal.
    """
    if not hasattr(os, "fork"):
        return function(*args)
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no Python clean-up on the way out, nothing of the parent's flushed twice
        code = 1
        try:
            os.close(readable)
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)
            os.write(writable, json.dumps({"result": function(*args)}).encode("utf-8"))
            code = 0
        except BaseException:  # reported by the parent as "no result": stage 1 meets the same error
            pass
        finally:
            os._exit(code)
    os.close(writable)
    reaped = False
    try:
        with os.fdopen(readable, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        reaped = True
    finally:
        if not reaped:  # interrupted: stop the child before acting on the signal
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    try:
        return json.loads(data)["result"]
    except (ValueError, KeyError):
        return None


def _check_outputs(out: Path, processed_dir: Path, inputs: dict[str, Path]) -> list[Path]:
    """Refuse output folders the run must not write to; return the folders created for the run."""
    created = []
    try:
        created += outputs.check_folder(out, "output folder")
        created += outputs.check_folder(processed_dir, "processed-data folder")
        outputs.check_inputs_kept(inputs, config.StageFiles(out, processed_dir))
    except outputs.RefusedPath as refused:
        outputs.remove_if_empty(created)
        raise RunFailure(str(refused), EXIT_BAD_INPUT) from None
    return created


def _run_staged(allocation: Path, extract: Path, out: Path, params_file: Path, processed_dir: Path,
                inputs: dict[str, Path], stop: "Interruptions", progress: Callable[[str], None], *,
                folders: outputs.RunFolders, staging: Path, audience: str, allocation_sheet: str | None,
                extract_sheet: str | None, checked_dir: Path | None = None, command: str | None = None) -> list[Path]:
    """Run the stages in the staging folder, then put their results in place."""
    kernel = StageKernel()
    try:
        files = outputs.staged_files(staging)
        files.notebooks_dir.mkdir(parents=True)
        parameters = {"allocation_path": str(allocation), "extract_path": str(extract),
                      "allocation_sheet": allocation_sheet, "extract_sheet": extract_sheet,
                      "checked_dir": str(checked_dir) if checked_dir else None, "command": command,
                      "output_dir": str(files.output_dir), "processed_dir": str(files.processed_dir),
                      "params_file": str(params_file), "audience": audience,
                      "previous_results": _previous_results(out)}
        started = time.perf_counter()
        for number, stage in enumerate(config.STAGES, start=1):
            stage_parameters = {name: parameters[name] for name in STAGE_PARAMETERS[stage] if name in parameters}
            progress(f"[{number}/{len(config.STAGES)}] {stage} ...")
            stage_started = time.perf_counter()
            _execute(stage, files, stage_parameters, stop, kernel)
            progress(f"      done in {time.perf_counter() - stage_started:.1f} s")
        kernel.request_shutdown()  # it stops while the report is written
        progress("[report] writing report.html and report.pdf ...")
        _render(files, allocation, extract)
        with stop.deferred():  # a signal now would leave the output half replaced: act on it once done
            written = _publish(folders, files, config.StageFiles(out, processed_dir), inputs)
            stop.published = True
        progress(f"Finished in {time.perf_counter() - started:.1f} s. Report: {out / 'report.html'}")
        return written
    finally:
        with stop.deferred():
            kernel.close(interrupted=stop.signum is not None)
            stop_kernels()
            shutil.rmtree(staging, ignore_errors=True)


def _previous_results(out: Path) -> str | None:
    """The results.json an earlier run left in the output folder (a regular file, not a link), for the
    report's "What changed since the last run"; None if there is none."""
    earlier = out / "results.json"
    return str(earlier) if earlier.is_file() and not earlier.is_symlink() else None


def _render(files: config.StageFiles, allocation: Path, extract: Path) -> None:
    from helpers.report.render import render_report

    try:
        render_report(files.notebooks_dir / "06_report.ipynb", files.report_html, files.report_pdf,
                      subtitle=f"Inputs: {allocation.name}, {extract.name}")
    except Exception as exc:  # nbconvert or WeasyPrint (a missing system library, a font)
        raise RunFailure(f"Writing the report failed ({type(exc).__name__}: {exc}). No results were "
                         "written. If the message names a library, see the README on Pango.") from None


def _publish(folders: outputs.RunFolders, staged: config.StageFiles, target: config.StageFiles,
             inputs: dict[str, Path]) -> list[Path]:
    try:
        return folders.publish(staged, target, inputs.values())
    except outputs.RefusedPath as refused:  # checked before anything is moved
        raise RunFailure(f"{refused} No results were written.", EXIT_BAD_INPUT) from None
    except OSError as exc:  # a full disk, a file made read-only: some files may already be replaced
        raise RunFailure(f"Putting the results in place in {target.output_dir} failed ({exc}); some of its files "
                         "may be from this run, the others from the earlier one. Run again.") from None


def _execute(stage: str, files: config.StageFiles, parameters: dict, stop: "Interruptions",
             kernel: "StageKernel") -> None:
    """Execute one stage notebook in the run's kernel; its executed copy goes to the staging folder."""
    source = config.NOTEBOOKS_DIR / f"{stage}.ipynb"
    executed = files.notebooks_dir / f"{stage}.ipynb"
    try:
        kernel.execute(source, executed, parameters)
    except Exception as exc:
        stop.raise_if_stopped()  # the kernel was killed because the run is being stopped
        from papermill.exceptions import PapermillExecutionError

        if not isinstance(exc, PapermillExecutionError):  # the kernel died or could not start
            raise RunFailure(f"Stage {stage} could not run ({type(exc).__name__}: {exc}). No results were "
                             "written.") from None
        if exc.ename in (InputError.__name__, StageFileError.__name__):  # bad input, or a stage file not ours
            raise RunFailure(f"Stage {stage} stopped: {exc.evalue}\nNo results were written.", EXIT_BAD_INPUT) from None
        kept = _keep_for_diagnosis(executed, stage)
        raise RunFailure(f"Stage {stage} failed with {exc.ename}: {exc.evalue.rstrip('.')}. No results were written; the "
                         f"executed notebook, with the failing cell marked, is kept at {kept}.") from None
    if stage == REPORT_STAGE:
        _check_results(stage, files, executed)


def _check_results(stage: str, files: config.StageFiles, executed: Path) -> None:
    """results.json against its schema, here rather than in the kernel (jsonschema is slow to import)."""
    from helpers.pipeline.results import validate_results

    try:
        validate_results(json.loads(files.results.read_text(encoding="utf-8")))
    except Exception as exc:  # jsonschema.ValidationError, or a file that is not JSON
        kept = _keep_for_diagnosis(executed, stage)
        message = getattr(exc, "message", None) or str(exc)
        path = "/".join(str(p) for p in getattr(exc, "absolute_path", ()))
        raise RunFailure(f"Stage {stage} wrote a results.json that does not follow its schema "
                         f"({f'at {path}: ' if path else ''}{message}). No results were written; the executed "
                         f"notebook is kept at {kept}.") from None


def _keep_for_diagnosis(executed: Path, stage: str) -> Path | None:
    if not executed.is_file():
        return None
    folder = Path(tempfile.mkdtemp(prefix="srceval-failed-"))
    return Path(shutil.copy2(executed, folder / f"{stage}.ipynb"))


