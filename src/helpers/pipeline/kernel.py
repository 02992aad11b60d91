"""The project's Jupyter kernel: registering it, and what runs inside it between two stages.

``python -m helpers.pipeline.kernel`` registers the kernel inside the virtual environment, like
``python -m ipykernel install --sys-prefix``, but the kernel logs only errors, so a run's
progress is not interleaved with the kernel's start-up notices.

A run executes every stage notebook in one kernel (``helpers.pipeline.runner``). Before the first stage,
:func:`preload` imports what the notebooks import and records the state of the process that a
notebook could change; before each stage, :func:`reset` empties the notebook namespace (IPython's
``reset``, as ``%reset -f`` does, with the execution count back at 1), drops the project's own
modules so that the stage imports them afresh (their module-level state, such as the figure
numbering of ``helpers.report.tables``, starts anew as in a new kernel; importing them again takes
some 0.06 s), and puts back the recorded state: the working folder, the environment, ``sys.path``,
the warning filters (and which warnings were already shown), the random states of ``random`` and
NumPy, NumPy's floating-point error handling, matplotlib's settings, unit converters and open
figures. The third-party libraries stay imported, which is the point: they are the cost a new
kernel pays again. State a library keeps elsewhere (pandas' display options, say) is not put
back; no stage changes it, and benchmarks/kernel_strategies.py checks that every executed
notebook's outputs are those of one kernel per stage.

This module imports only the standard library, so that importing it costs a kernel nothing.
"""
from __future__ import annotations

import ast
import gc
import json
import os
import random
import sys
import warnings
from pathlib import Path

NAME = "srceval"

_STATE: dict | None = None


def install(prefix: Path | None = None) -> Path:
    folder = Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--log-level=ERROR"],
        "display_name": f"Python ({NAME})",
        "language": "python",
        "metadata": {"debugger": True},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return folder


# In the runner's process ---------------------------------------------------------------------

def notebook_imports(notebooks: list[Path]) -> list[tuple[str, tuple[str, ...]]]:
    """The modules the notebooks' code cells import, in order: ``(module, names imported from it)``."""
    found: dict[str, set[str]] = {}
    for path in notebooks:
        for cell in json.loads(path.read_text(encoding="utf-8")).get("cells", []):
            if cell.get("cell_type") != "code":
                continue
            source = "".join(cell.get("source", ""))
            try:
                tree = ast.parse(source)
            except SyntaxError:  # IPython syntax (a magic): the cell imports nothing we need to know
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        found.setdefault(alias.name, set())
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.setdefault(node.module, set()).update(alias.name for alias in node.names)
    return [(module, tuple(sorted(names))) for module, names in found.items()]


def preload_code(modules: list[tuple[str, tuple[str, ...]]]) -> str:
    """The code the runner sends a new kernel: import ``modules``, then record the state to restore."""
    return f"__import__('helpers.pipeline.kernel', fromlist=['preload']).preload({modules!r})"


RESET_CODE = "__import__('helpers.pipeline.kernel', fromlist=['reset']).reset()"


# In the kernel -------------------------------------------------------------------------------

def preload(modules: list[tuple[str, tuple[str, ...]]]) -> None:
    """Import ``modules`` (a failing one is left to the notebook that imports it), then record the state."""
    global _STATE
    for module, names in modules:
        try:
            __import__(module, fromlist=list(names))  # names that are submodules are imported too
        except Exception:  # the stage importing it fails in its own notebook, with its own traceback
            pass
    _STATE = _snapshot()
    _drop_project_modules()
    # What is imported now lives as long as the kernel: the garbage collector need not scan it again at
    # each reset (IPython's reset collects), only what the stages leave.
    gc.collect()
    gc.freeze()


def reset() -> None:
    """Empty the notebook namespace, drop the project's modules and put back the state recorded by :func:`preload`."""
    from IPython import get_ipython

    get_ipython().reset(new_session=True)
    _drop_project_modules()
    if _STATE is not None:
        _restore(_STATE)


def _drop_project_modules() -> None:
    """Forget the project's modules (this one aside), so that the next ``import`` runs them afresh."""
    package = __name__.partition(".")[0]
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        if name != __name__:
            del sys.modules[name]


def _snapshot() -> dict:
    state = {"cwd": os.getcwd(), "environ": dict(os.environ), "path": list(sys.path),
             "filters": list(warnings.filters), "random": random.getstate()}
    if "numpy" in sys.modules:
        state["numpy_random"] = sys.modules["numpy"].random.get_state()
        state["numpy_errors"] = sys.modules["numpy"].geterr()
    if "matplotlib" in sys.modules:
        state["rc"] = dict(sys.modules["matplotlib"].rcParams.copy())
    if "matplotlib.units" in sys.modules:
        state["units"] = dict(sys.modules["matplotlib.units"].registry)
    return state


def _restore(state: dict) -> None:
    os.chdir(state["cwd"])
    if dict(os.environ) != state["environ"]:
        os.environ.clear()
        os.environ.update(state["environ"])
    sys.path[:] = state["path"]
    warnings.filters[:] = state["filters"]
    warnings._filters_mutated()  # forgets which warnings were shown once, as a new process would
    random.setstate(state["random"])
    if "numpy_random" in state:
        sys.modules["numpy"].random.set_state(state["numpy_random"])
        sys.modules["numpy"].seterr(**state["numpy_errors"])
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    if "rc" in state:
        dict.update(sys.modules["matplotlib"].rcParams, state["rc"])  # as matplotlib's rc_context restores
    if "units" in state:
        registry = sys.modules["matplotlib.units"].registry
        registry.clear()
        registry.update(state["units"])


if __name__ == "__main__":
    print(f"Installed kernel {NAME} in {install()}")
