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
  needs to execute the notebooks and to write the report.
- Each notebook is executed with papermill's own parameterising and bookkeeping, so its executed
  copy carries the injected parameters cell and papermill's metadata as before.
- results.json is checked against its schema here, not in the kernel.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import weakref
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
from helpers.pipeline.kernel import NAME as KERNEL_NAME

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
REPORT_STAGE = "06_report"  # the stage that writes results.json and the notebook the report is made of
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class RunFailure(Exception):
    """A stage failed; ``message`` is the one paragraph shown to the user."""

    message: str
    exit_code: int = EXIT_FAILED

    def __str__(self) -> str:
        return self.message


class RunInterrupted(BaseException):
    """The run was stopped by a signal (Ctrl-C, ``kill``, a closed terminal).

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way (papermill,
    nbclient, the report's renderer) takes it for an ordinary error.
    """

    def __init__(self, signum: int, out: Path | None = None, published: bool = False):
        super().__init__(signum)
        self.signum, self.out, self.published = signum, out, published

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process stopped by it."""
        return 128 + self.signum

    def __str__(self) -> str:
        if self.published:
            return f"run interrupted after its results were written to {self.out}"
        if self.out is not None and (self.out / "results.json").is_file():
            return f"run interrupted; no results were written, the earlier report in {self.out} is unchanged"
        return "run interrupted; no results were written"


def kernel_name() -> str:
    """The project's registered kernel, or the running Python's own when it is not registered."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


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
    with _interruptions(out) as stop:
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
        with _deferred():
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
                inputs: dict[str, Path], stop: "_Interruptions", progress: Callable[[str], None], *,
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


def _execute(stage: str, files: config.StageFiles, parameters: dict, stop: "_Interruptions",
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


# The kernels of this process's stages, so that a signal can stop them whatever the kernel is doing.
_KERNELS: "weakref.WeakSet" = weakref.WeakSet()
_ACTIVE: list["_Interruptions"] = []


@functools.cache
def stage_kernel_manager() -> type:
    """The kernel manager class of the run's kernel (defined on first use: jupyter_client is imported then).

    Its kernel can be stopped from a signal handler, and it shuts down without the interrupt
    jupyter_client sends first: jupyter_client (>= 7) sends SIGINT to a kernel before asking it to
    shut down, in case it is busy. The run's kernel is idle by then, and when the signal lands while
    ipykernel is still finishing its last reply, ipykernel logs "KeyboardInterrupt caught in kernel"
    to stderr. The shutdown request alone stops an idle kernel; one that does not answer is still
    terminated, then killed, after ``shutdown_wait_time``.
    """
    from jupyter_client import AsyncKernelManager

    class StageKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kwargs) -> None:
            with _deferred():  # a signal during the launch is acted on once the kernel's process is known
                await super().start_kernel(**kwargs)
                _KERNELS.add(self)

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return StageKernelManager


class StageKernel:
    """The one kernel a run executes its stage notebooks in, started when the first stage needs it.

    On start, the kernel is sent the imports of every stage notebook (``helpers.pipeline.kernel.preload``),
    and this process imports what it needs later (papermill's executor, nbconvert, WeasyPrint,
    jsonschema) while the kernel works. Before each notebook the kernel's namespace is emptied and
    its process state put back (``helpers.pipeline.kernel.reset``). A notebook is executed as
    ``papermill.execute_notebook`` does it, with papermill's parameterising, its
    NotebookExecutionManager (the cells' and the notebook's ``papermill`` metadata) and its
    notebook client, given this kernel instead of a new one.
    """

    def __init__(self, notebooks: list[Path] | None = None):
        self.notebooks = notebooks or [config.NOTEBOOKS_DIR / f"{stage}.ipynb" for stage in config.STAGES]
        self.manager = self.client = self.name = None
        self.preloading: str | None = None

    def start(self) -> None:
        from jupyter_core.utils import run_sync

        from helpers.pipeline.kernel import notebook_imports, preload_code

        self.name = kernel_name()
        self.manager = stage_kernel_manager()(kernel_name=self.name)
        run_sync(self.manager.start_kernel)(cwd=str(config.NOTEBOOKS_DIR),
                                            extra_arguments=["--HistoryManager.hist_file=:memory:"])
        self.client = self.manager.client()
        self.client.start_channels()
        # sent now, queued until the kernel is listening: it imports while this process does
        self.preloading = self.client.execute(preload_code(notebook_imports(self.notebooks)), silent=True,
                                              store_history=False)
        _import_for_later()

    def execute(self, source: Path, executed: Path, parameters: dict) -> None:
        """Execute ``source`` with ``parameters`` into ``executed``; raise PapermillExecutionError on a cell's error."""
        if self.manager is None:
            self.start()  # before papermill is imported: the kernel starts while it is
        from papermill.clientwrap import PapermillNotebookClient
        from papermill.engines import NotebookExecutionManager
        from papermill.execute import prepare_notebook_metadata, raise_for_execution_errors, remove_error_markers
        from papermill.iorw import load_notebook_node, write_ipynb
        from papermill.log import logger
        from papermill.parameterize import parameterize_notebook

        notebook = load_notebook_node(str(source))
        notebook = parameterize_notebook(notebook, parameters, kernel_name=self.name, language="python")
        notebook = remove_error_markers(prepare_notebook_metadata(notebook, str(source), str(executed)))
        self.wait_preloaded()
        self._wait(self.client.execute(_reset_code(), silent=True, store_history=False), check=True)
        # the executed copy is written once, at the end, rather than after every cell
        manager = NotebookExecutionManager(notebook, output_path=None, progress_bar=False)
        manager.notebook_start()
        try:
            notebook_client = PapermillNotebookClient(manager, km=self.manager, kernel_name=self.name, log=logger,
                                                      log_output=False, startup_timeout=60, timeout=None)
            notebook_client.kc = self.client
            notebook_client.execute()
        finally:
            manager.cleanup_pbar()
            manager.notebook_complete()
        raise_for_execution_errors(notebook, str(executed))  # writes the notebook, the error marked, first
        write_ipynb(notebook, str(executed))

    def wait_preloaded(self) -> None:
        """Wait until the kernel has imported what the notebooks import."""
        if self.preloading is not None:
            self._wait(self.preloading)
            self.preloading = None

    def _wait(self, msg_id: str, check: bool = False) -> dict:
        """The kernel's reply to ``msg_id``; a kernel that died is an error."""
        from jupyter_core.utils import run_sync

        while True:
            try:
                reply = run_sync(self.client.get_shell_msg)(timeout=1)
            except Exception:  # queue.Empty: no reply yet
                if not run_sync(self.manager.is_alive)():
                    raise RuntimeError("the kernel died") from None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if check and reply["content"].get("status") != "ok":
            content = reply["content"]
            raise RuntimeError(f"resetting the kernel failed: {content.get('ename')}: {content.get('evalue')}")
        return reply

    def request_shutdown(self) -> None:
        """Ask the kernel to stop (no interrupt first); :meth:`close` waits for it."""
        if self.manager is None or self.manager.shutting_down:
            return
        from jupyter_core.utils import run_sync

        self.client.stop_channels()
        self.manager.shutting_down = True
        run_sync(self.manager.request_shutdown)()

    def close(self, interrupted: bool = False) -> None:
        """Stop the kernel: asked to, then terminated, then killed, as jupyter_client does.

        After a signal nothing is asked of the kernel (``stop_kernels`` has killed it), and the
        event loop a signal may have left with pending work is not run again.
        """
        manager, self.manager = self.manager, None
        if manager is None or self.client is None or interrupted:
            return
        from jupyter_core.utils import run_sync

        try:
            if not manager.shutting_down:  # a stage failed: the kernel is idle
                self.manager = manager
                self.request_shutdown()
                self.manager = None
            run_sync(manager.finish_shutdown)()
            run_sync(manager.cleanup_resources)()
        except Exception:  # stop_kernels() is the last resort
            pass


def _reset_code() -> str:
    from helpers.pipeline.kernel import RESET_CODE

    return RESET_CODE


def _import_for_later() -> None:
    """Import, while the kernel starts, what this process needs after the stages: papermill's executor,
    nbconvert and WeasyPrint with the report's templates compiled, jsonschema. A module that fails
    here is imported again where it is used, and fails there with its message."""
    from helpers.report import render

    for module in ("papermill.clientwrap", "papermill.engines", "papermill.execute", "papermill.parameterize",
                   "jsonschema"):
        try:
            __import__(module)
        except Exception:
            pass
    render.prepare()


def stop_kernels() -> None:
    """Kill the process group of every stage kernel still running (the kernel and anything it started)."""
    for manager in list(_KERNELS):
        process = getattr(manager.provisioner, "process", None)
        if process is None or process.poll() is not None:
            continue
        try:
            os.killpg(getattr(manager.provisioner, "pgid", None) or process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        try:
            process.wait(timeout=5)
        except Exception:  # not reaped: the kill has still been sent
            pass
        # papermill's own clean-up may never run (the signal can arrive while the kernel starts)
        manager.cleanup_connection_file()


class _Interruptions:
    """Turns SIGINT, SIGTERM and SIGHUP into RunInterrupted in the main thread, after killing the kernels.

    Inside ``deferred()`` a signal is remembered and acted on at its end; once the run is being
    stopped, further signals are ignored so that the clean-up can finish.
    """

    def __init__(self, out: Path):
        self.out, self.signum, self.pending, self.depth, self.published = out, None, None, 0, False

    def handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            return
        if self.depth:
            self.pending = signum
            return
        self.stop(signum)

    def stop(self, signum: int) -> None:
        self.signum = signum
        stop_kernels()
        raise RunInterrupted(signum, self.out, self.published)

    def raise_if_stopped(self) -> None:
        """Raise RunInterrupted if a signal has stopped the run (its kernel's death is no failure)."""
        if self.signum is not None:
            raise RunInterrupted(self.signum, self.out, self.published)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending is not None and self.signum is None:
                self.stop(self.pending)


@contextmanager
def _deferred() -> Iterator[None]:
    """Defer signals within the active run, if there is one."""
    if not _ACTIVE:
        yield
        return
    with _ACTIVE[-1].deferred():
        yield


@contextmanager
def _interruptions(out: Path) -> Iterator[_Interruptions]:
    """Install the run's signal handlers for its duration (only possible in the main thread)."""
    guard = _Interruptions(out)
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous = {signum: signal.signal(signum, guard.handle) for signum in STOP_SIGNALS}
    _ACTIVE.append(guard)
    try:
        yield guard
    finally:
        _ACTIVE.remove(guard)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
