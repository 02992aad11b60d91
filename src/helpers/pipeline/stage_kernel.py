"""The run's kernel, and stopping a run on a signal.

Every stage of a run executes in one kernel (:class:`StageKernel`), started when the first stage
needs it and reset between stages (:mod:`helpers.pipeline.kernel`). SIGINT, SIGTERM and SIGHUP
become :class:`RunInterrupted` in the main thread once every kernel is killed
(:func:`interruptions`); inside :func:`deferred_signals` a signal waits until the step that must not
be cut short (a kernel's launch, putting results in place) is done.
"""
from __future__ import annotations

import functools
import os
import signal
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from helpers import config
from helpers.pipeline.kernel import NAME as KERNEL_NAME

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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


# The kernels of this process's stages, so that a signal can stop them whatever the kernel is doing.
_KERNELS: "weakref.WeakSet" = weakref.WeakSet()
_ACTIVE: list["Interruptions"] = []


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
            with deferred_signals():  # a signal during the launch is acted on once the kernel's process is known
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


class Interruptions:
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
def deferred_signals() -> Iterator[None]:
    """Defer signals within the active run, if there is one."""
    if not _ACTIVE:
        yield
        return
    with _ACTIVE[-1].deferred():
        yield


@contextmanager
def interruptions(out: Path) -> Iterator[Interruptions]:
    """Install the run's signal handlers for its duration (only possible in the main thread)."""
    guard = Interruptions(out)
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
