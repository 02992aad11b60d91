"""``srceval monitor`` and ``srceval plan-rollout``: checks first, then the work in a staging folder, then publish.

Both commands write every file through :func:`staged_output`, the one place they write: a staging
folder inside the output folder, moved into place file by file once everything has succeeded,
through the guarded writer (``helpers.pipeline.safewrite``: the folder locked, no link followed,
the folder's manifest). A failed or interrupted command leaves an earlier output as it was. An
output folder whose manifest another command wrote (a trial report's, say) is refused, so that one
command never removes another's files.

The monitoring notebooks run as ``srceval run`` runs the trial's (``helpers.pipeline.runner``):
one kernel, papermill's parameters and bookkeeping, signals stopping the kernel and the staging.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable, Iterator

from helpers import config
from helpers.errors import InputError
from helpers.inputs.reading import check_input_file
from helpers.parameters import load_parameters
from helpers.pipeline import outputs, runner, stage_kernel
from helpers.pipeline.monitor import MONITOR_STAGES, STAGE_PARAMETERS
from helpers.pipeline.safewrite import MANIFEST_NAME, OutputFolder, RefusedPath

MONITOR_TITLE = "Secondary reassurance contact: monitoring the roll-out ward by ward"
MONITOR_WRITES = ("monitoring.json", "monitoring.html", "monitoring.pdf")
PLAN_WRITES = ("rollout_plan.csv", "plan.json")


def command_line() -> str:
    """The command as typed (each path by its last part), for the provenance."""
    return outputs.command_line(sys.argv[1:])


@contextmanager
def staged_output(out: Path, inputs: dict[str, Path], *, written_by: str, writes: tuple[str, ...],
                  folders: tuple[str, ...] = (), guard=None) -> Iterator[config.StageFiles]:
    """The one place ``monitor`` and ``plan-rollout`` write: yield staging folders (output and processed)
    inside ``out``, then put what was written there in place through the guarded writer
    (:mod:`helpers.pipeline.safewrite`: the folder locked, no link followed, a manifest) when the block
    succeeds. ``guard`` (a run's ``_Interruptions``) defers a signal that arrives while the files are moved.

    Raises
    ------
    RunFailure
        The output folder cannot be used (exit code 2): a file, a link, a folder another command
        holds, another command's output, or one of the inputs would be overwritten.
    """
    _refuse_overwriting_inputs(out, inputs, writes=writes, folders=folders)
    try:
        created = outputs.check_folder(out, "output folder")  # not the project's own or a system folder
    except outputs.RefusedPath as refused:
        raise runner.RunFailure(str(refused), runner.EXIT_BAD_INPUT) from None
    folder = OutputFolder(out, command=written_by, handle_signals=guard is None)
    try:
        folder.open()
    except RefusedPath as refused:
        outputs.remove_if_empty(created)
        raise runner.RunFailure(str(refused), runner.EXIT_BAD_INPUT) from None
    published = False
    try:
        _check_held_folder(folder, written_by=written_by, writes=writes, folders=folders)
        folder.remove_stale_staging()  # the lock is held: no other command can be using one
        files = outputs.staged_files(folder.staging())
        files.output_dir.mkdir(parents=True)
        yield files
        with guard.deferred() if guard is not None else nullcontext():
            _publish(folder, files, inputs)
            published = True
            if guard is not None:
                guard.published = True
    finally:
        folder.close()
        if not published:
            outputs.remove_if_empty(created)


def _refuse_overwriting_inputs(out: Path, inputs: dict[str, Path], *, writes: tuple[str, ...],
                               folders: tuple[str, ...]) -> None:
    for role, path in inputs.items():
        if path.parent == out and path.name in writes or any(out / f in path.parents for f in folders):
            raise runner.RunFailure(f"The {role} {path} would be overwritten by the output. Move it or choose "
                                    "another output folder.", runner.EXIT_BAD_INPUT)


def _check_held_folder(folder: OutputFolder, *, written_by: str, writes: tuple[str, ...],
                       folders: tuple[str, ...]) -> None:
    """Refuse another command's output folder, and a destination reached through a link, before anything runs."""
    owner = folder.read_manifest()["written_by"]
    if owner is not None and owner != written_by:
        raise runner.RunFailure(f"The output folder {folder.root} holds the output of {owner} (its "
                                f"{MANIFEST_NAME}); {written_by} would replace it. Choose another folder.",
                                runner.EXIT_BAD_INPUT)
    try:
        folder.check(writes, folders=folders)
    except RefusedPath as refused:
        raise runner.RunFailure(f"{refused} Nothing was written.", runner.EXIT_BAD_INPUT) from None


def _publish(folder: OutputFolder, files: config.StageFiles, inputs: dict[str, Path]) -> list[Path]:
    """Move the staged output (and processed) files into place, drop what the last run wrote and this one did
    not, and record what was written."""
    try:
        written = folder.publish(files.output_dir)
        if files.processed_dir.is_dir():
            written += folder.publish(files.processed_dir, under="processed")
        relative = [path.relative_to(folder.root).as_posix() for path in written]
        folder.remove_no_longer_written(relative, keep=inputs.values())
        folder.write_manifest(relative)
    except RefusedPath as refused:
        raise runner.RunFailure(f"{refused} Nothing was written.", runner.EXIT_BAD_INPUT) from None
    except OSError as exc:
        raise runner.RunFailure(f"Putting the results in place in {folder.root} failed ({exc}); run again.") from None
    return written


# -- srceval monitor ------------------------------------------------------------------------------

def run_monitor(*, extract: Path, schedule: Path, out: Path, params_file: Path, trial_results: Path | None = None,
                extract_sheet: str | None = None, schedule_sheet: str | None = None,
                progress: Callable[[str], None] = print) -> Path:
    """Check both files, run the monitoring notebooks, write monitoring.json, .html and .pdf into ``out``."""
    started = time.perf_counter()
    extract, schedule, out, params_file = (Path(p).resolve() for p in (extract, schedule, out, params_file))
    trial_results = Path(trial_results).resolve() if trial_results else None
    inputs = _monitor_inputs(extract, schedule, params_file, trial_results)
    sheets = {"extract": extract_sheet, "schedule": schedule_sheet}
    breach = runner._in_child(_contract_breach, extract, schedule, params_file, sheets)
    if breach is not None:
        raise runner.RunFailure(f"{breach}\nNothing was written.", runner.EXIT_BAD_INPUT)
    with stage_kernel.interruptions(out) as stop:
        with staged_output(out, inputs, written_by="srceval monitor", writes=MONITOR_WRITES,
                           folders=("figures", "stages", "notebooks", "processed"), guard=stop) as files:
            parameters = {"extract_path": str(extract), "schedule_path": str(schedule), "extract_sheet": extract_sheet,
                          "schedule_sheet": schedule_sheet, "trial_results": str(trial_results) if trial_results
                          else None, "output_dir": str(files.output_dir), "processed_dir": str(files.processed_dir),
                          "params_file": str(params_file), "command": command_line()}
            _run_notebooks(files, parameters, stop, progress)
            progress("[report] writing monitoring.html and monitoring.pdf ...")
            _render(files, extract, schedule)
    progress(f"Finished in {time.perf_counter() - started:.1f} s. Report: {out / 'monitoring.html'}")
    return out / "monitoring.html"


def _monitor_inputs(extract: Path, schedule: Path, params_file: Path, trial_results: Path | None) -> dict[str, Path]:
    load_parameters(params_file)  # InputError: a broken parameters file, before anything runs
    named = [("crime extract", extract), ("roll-out schedule", schedule)]
    if trial_results is not None:
        named.append(("trial results", trial_results))
    for role, path in named:
        if not path.exists():
            raise runner.RunFailure(f"The {role} {path} does not exist.", runner.EXIT_BAD_INPUT)
        check_input_file(path)
    if trial_results is not None:
        _check_trial_results(trial_results)
    return {**dict(named), "parameters file": params_file}


def _check_trial_results(path: Path) -> None:
    """--trial-results must be a results.json of ``srceval run`` with the complier relative reduction."""
    import json

    try:
        cace = json.loads(path.read_text(encoding="utf-8"))["outcomes"]["attrition"]["cace"]
        figure = cace["relative_risk_reduction"]
        if not (figure is None or isinstance(figure, (int, float))):
            raise TypeError
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise runner.RunFailure(f"The trial results {path} are not a results.json of srceval run: "
                                "outcomes.attrition.cace.relative_risk_reduction is missing.", runner.EXIT_BAD_INPUT) from None


def _contract_breach(extract: Path, schedule: Path, params_file: Path, sheets: dict) -> str | None:
    from helpers.inputs.rollout import read_rollout

    params = load_parameters(params_file)
    try:
        read_rollout(extract, schedule, params["outcomes"], disclosure_threshold=params["disclosure_threshold"],
                     sheets=sheets, limits=params["input_limits"])
    except InputError as error:
        return str(error)
    return None


def _run_notebooks(files: config.StageFiles, parameters: dict, stop, progress) -> None:
    kernel = stage_kernel.StageKernel([config.NOTEBOOKS_DIR / f"{stage}.ipynb" for stage in MONITOR_STAGES])
    try:
        (files.output_dir / "notebooks").mkdir(parents=True, exist_ok=True)
        for number, stage in enumerate(MONITOR_STAGES, start=1):
            progress(f"[{number}/{len(MONITOR_STAGES)}] {stage} ...")
            stage_started = time.perf_counter()
            runner._execute(stage, files, {name: parameters[name] for name in STAGE_PARAMETERS[stage]}, stop, kernel)
            progress(f"      done in {time.perf_counter() - stage_started:.1f} s")
        kernel.request_shutdown()
    finally:
        with stop.deferred():
            kernel.close(interrupted=stop.signum is not None)
            stage_kernel.stop_kernels()


def _render(files: config.StageFiles, extract: Path, schedule: Path) -> None:
    from helpers.report.render import render_report

    try:
        render_report(files.notebooks_dir / "m3_monitoring_report.ipynb", files.output_dir / "monitoring.html",
                      files.output_dir / "monitoring.pdf", subtitle=f"Inputs: {extract.name}, {schedule.name}",
                      title=MONITOR_TITLE)
    except Exception as exc:  # nbconvert or WeasyPrint (a missing system library, a font)
        raise runner.RunFailure(f"Writing the monitoring report failed ({type(exc).__name__}: {exc}). Nothing was "
                                "written. If the message names a library, see the README on Pango.") from None

