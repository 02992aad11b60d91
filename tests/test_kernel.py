"""The run's one kernel: a stage finds nothing another stage left, papermill's conventions are kept,
no kernel imports jsonschema, and results.json is checked by the runner."""
from __future__ import annotations

import ast
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from helpers import config
from helpers.pipeline import kernel, outputs, runner, stage_kernel

NOTEBOOKS = [config.NOTEBOOKS_DIR / f"{stage}.ipynb" for stage in config.STAGES]

# A stage that changes everything a notebook can change in its process.
LEAVES = r"""
import os, sys, random, types, warnings
import numpy as np
import matplotlib
import matplotlib.pyplot as plt
import matplotlib.units
from helpers.report import tables
library = types.ModuleType('srceval_test_library')  # a library that warns, imported once for the kernel's life
exec("import warnings\ndef warn():\n    warnings.warn('a library warns')", library.__dict__)
sys.modules['srceval_test_library'] = library
library.warn()
leaked = 1
os.chdir('/')
os.environ['SRCEVAL_LEAKED'] = '1'
sys.path.append('/leaked')
warnings.simplefilter('error')
np.seterr(all='raise')
np.random.seed(1); random.seed(1)
matplotlib.rcParams['lines.linewidth'] = 9
matplotlib.units.registry['srceval-leaked'] = None
plt.figure()
tables._FIGURES_SHOWN.append('leaked')
"""
# The next stage: finds the kernel as a new kernel would be; the library's warning is shown again.
FINDS = """
import os, sys, random, warnings
import numpy as np
import matplotlib
import matplotlib.pyplot as plt
import matplotlib.units
from helpers.report import tables
assert 'leaked' not in globals()
assert os.getcwd() == NOTEBOOKS_DIR, os.getcwd()
assert 'SRCEVAL_LEAKED' not in os.environ
assert '/leaked' not in sys.path
assert not any(f[0] == 'error' and f[2] is Warning for f in warnings.filters)
assert np.geterr()['divide'] != 'raise'
assert matplotlib.rcParams['lines.linewidth'] != 9
assert 'srceval-leaked' not in matplotlib.units.registry
assert plt.get_fignums() == []
assert tables._FIGURES_SHOWN == []
state = np.random.get_state()[1].copy(), random.getstate()
np.random.seed(1); random.seed(1)
assert not (state[0] == np.random.get_state()[1]).all() and state[1] != random.getstate()
import srceval_test_library
srceval_test_library.warn()
assert not [m for m in sys.modules if m.startswith(('jsonschema', 'rfc3987'))]  # nor did the real stages' imports
"""


def stage_notebook(path, code: str) -> None:
    parameters = new_code_cell("marker = None\nNOTEBOOKS_DIR = None")
    parameters.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[parameters, new_code_cell(code)],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"}})
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def two_stages(tmp_path_factory):
    """Two stage notebooks run one after the other in one kernel; their executed copies."""
    folder = tmp_path_factory.mktemp("kernel")
    first, second = folder / "first.ipynb", folder / "second.ipynb"
    stage_notebook(first, LEAVES)
    stage_notebook(second, FINDS)
    stage = stage_kernel.StageKernel(notebooks=[*NOTEBOOKS, first, second])  # preloads what the real stages import
    try:
        stage.execute(first, folder / "first_run.ipynb", {"marker": "first", "NOTEBOOKS_DIR": None})
        parameters = {"marker": "second", "NOTEBOOKS_DIR": str(config.NOTEBOOKS_DIR)}
        stage.execute(second, folder / "second_run.ipynb", parameters)
    finally:
        stage.request_shutdown()
        stage.close()
    return {name: nbformat.read(folder / f"{name}_run.ipynb", as_version=4) for name in ("first", "second")}


def test_a_stage_finds_nothing_the_stage_before_left(two_stages):
    second = two_stages["second"]
    errors = [o for cell in second.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    # IPython's reset starts a new session: each notebook counts its cells from 1, as in a new kernel
    counts = [cell.execution_count for cell in second.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    # a library's warning shown in the first stage is shown again in the second, as a new kernel shows it
    for notebook in two_stages.values():
        assert any("a library warns" in o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))


def test_each_executed_notebook_keeps_papermills_parameters_and_metadata(two_stages):
    second = two_stages["second"]
    injected = second.cells[1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert 'marker = "second"' in injected.source
    assert second.metadata["papermill"]["parameters"]["marker"] == "second"
    assert second.metadata["papermill"]["input_path"].endswith("second.ipynb")
    assert second.metadata["papermill"]["output_path"].endswith("second_run.ipynb")
    assert all(cell.metadata["papermill"]["status"] == "completed" for cell in second.cells)
    assert second.metadata["papermill"]["duration"] is not None


def test_the_kernel_imports_what_the_notebooks_import():
    modules = dict(kernel.notebook_imports(NOTEBOOKS))
    assert "tables" in modules["helpers.report"] and "stages" in modules["helpers.pipeline"]
    assert "open_stage" in modules["helpers.pipeline.context"]
    assert "assemble_results" in modules["helpers.pipeline.results"]


def test_no_kernel_imports_jsonschema(two_stages):
    """The kernel that imported everything the stage notebooks import has no jsonschema (whose format
    checker builds some 35 grammars on import: the second stage asserts it); the report notebook
    assembles results.json through its typed models, and the runner checks the file against the schema."""
    assert not [o for cell in two_stages["second"].cells for o in cell.get("outputs", []) if o.output_type == "error"]
    calls = [node for path in NOTEBOOKS for cell in nbformat.read(path, as_version=4).cells
             if cell.cell_type == "code" for node in ast.walk(ast.parse(cell.source))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "assemble_results"]
    assert calls and not [k for call in calls for k in call.keywords if k.arg == "validate"]


def test_the_runner_refuses_a_results_json_that_breaks_the_schema(tmp_path, reference_results):
    files = outputs.staged_files(tmp_path)
    files.notebooks_dir.mkdir(parents=True)
    executed = files.notebooks_dir / "06_report.ipynb"
    executed.write_text("{}")
    files.results.write_text(json.dumps(reference_results))
    runner._check_results("06_report", files, executed)  # follows the schema: nothing raised
    broken = dict(reference_results, flow={**reference_results["flow"], "randomised": "250"})
    files.results.write_text(json.dumps(broken))
    with pytest.raises(runner.RunFailure) as failure:
        runner._check_results("06_report", files, executed)
    message = str(failure.value)
    assert message.startswith("Stage 06_report wrote a results.json that does not follow its schema (at "
                              "flow/randomised: '250' is not of type 'integer')")
    assert message.endswith("06_report.ipynb.")
