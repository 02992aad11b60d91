"""How to pay for the stage kernels: the measurements behind the runner's choice of one warm kernel.

Runs the six stage notebooks (not the report's HTML and PDF) on one extract in each of these ways,
in the same process, one after another:

  fresh      each stage in a new kernel, one after another (``papermill.execute_notebook``, the
             runner before it kept one kernel);
  prestart   each stage in a new kernel, the next stage's kernel started, with its imports, while
             the current stage runs;
  warm       every stage in one kernel, its namespace reset between stages (the runner now);
  warm+2     as warm, with a second warm kernel that runs the audit (02) and the compliance
             analysis (03) while the first runs the effect estimation (04): the three read only
             the cleaned table.

For each: wall seconds for the six stages, the peak memory of the process tree (PSS, sampled every
0.1 s, this process included) and whether every executed notebook's outputs equal those of the
first strategy run (``fresh``), the run's folder, timestamps and stderr (which the report leaves
out) aside. Writes
benchmarks/results/kernel_strategies.json.

    python benchmarks/kernel_strategies.py                 # the shipped data
    python benchmarks/kernel_strategies.py --size 25000    # a generated extract
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil

from helpers import config
from helpers.pipeline import outputs
from helpers.pipeline.stage_kernel import StageKernel, kernel_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import _pss_mb, generated  # noqa: E402

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?")
RESULTS = Path(__file__).resolve().parent / "results" / "kernel_strategies.json"
STAGES = config.STAGES


def stage_parameters(files: config.StageFiles, allocation: Path, extract: Path) -> dict[str, dict]:
    base = {"allocation_path": str(allocation), "extract_path": str(extract), "output_dir": str(files.output_dir),
            "processed_dir": str(files.processed_dir), "params_file": str(config.PARAMETERS_FILE)}
    return {stage: {**base, **({"audience": "full"} if stage == "06_report" else {})} for stage in STAGES}


def source(stage: str) -> Path:
    return config.NOTEBOOKS_DIR / f"{stage}.ipynb"


def fresh(files, parameters) -> None:
    import papermill

    for stage in STAGES:
        papermill.execute_notebook(str(source(stage)), str(files.notebooks_dir / f"{stage}.ipynb"),
                                   parameters=parameters[stage], kernel_name=kernel_name(), progress_bar=False,
                                   cwd=str(config.NOTEBOOKS_DIR))


def prestart(files, parameters) -> None:
    kernels = [StageKernel() for _ in STAGES]
    kernels[0].start()
    for index, stage in enumerate(STAGES):
        if index + 1 < len(STAGES):
            kernels[index + 1].start()  # its imports run while this stage does
        kernels[index].execute(source(stage), files.notebooks_dir / f"{stage}.ipynb", parameters[stage])
        kernels[index].request_shutdown()
        kernels[index].close()


def warm(files, parameters) -> None:
    kernel = StageKernel()
    for stage in STAGES:
        kernel.execute(source(stage), files.notebooks_dir / f"{stage}.ipynb", parameters[stage])
    kernel.request_shutdown()
    kernel.close()


def warm_two(files, parameters) -> None:
    """Kernel A: 01, 04, 05, 06; kernel B, started with A: 02 and 03 while A runs 04.

    Each kernel is driven from its own thread (its client's event loop is that thread's)."""
    cleaned, second_ready = threading.Event(), threading.Event()

    def run(kernel: StageKernel, stages: list[str]) -> None:
        for stage in stages:
            kernel.execute(source(stage), files.notebooks_dir / f"{stage}.ipynb", parameters[stage])
            if stage == "01_data_cleaning":
                cleaned.set()

    def first() -> None:
        kernel = StageKernel()
        run(kernel, ["01_data_cleaning", "04_effect_estimation"])
        second_ready.wait()
        run(kernel, ["05_extrapolation", "06_report"])
        kernel.request_shutdown()
        kernel.close()

    def second() -> None:
        kernel = StageKernel()
        kernel.start()
        kernel.wait_preloaded()
        cleaned.wait()
        run(kernel, ["02_allocation_audit", "03_compliance_analysis"])
        second_ready.set()
        kernel.request_shutdown()
        kernel.close()

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(first), pool.submit(second)]:
            future.result()


STRATEGIES = {"fresh": fresh, "prestart": prestart, "warm": warm, "warm+2": warm_two}


def measured(strategy, files, parameters) -> dict:
    me, peak, done = psutil.Process(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(_pss_mb(p) for p in [me, *me.children(recursive=True)]))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    strategy(files, parameters)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"seconds": round(seconds, 2), "peak_memory_mb": round(peak[0])}


def outputs_of(files: config.StageFiles) -> dict:
    """Every code cell's outputs, stderr left out, the run's own folder names replaced."""
    root = str(files.output_dir.parent)
    found = {}
    for stage in STAGES:
        notebook = nbformat.read(files.notebooks_dir / f"{stage}.ipynb", as_version=4)
        cells = [[o for o in cell.get("outputs", []) if o.get("name") != "stderr"]
                 for cell in notebook.cells if cell.cell_type == "code"]
        text = TIMESTAMP.sub("TIMESTAMP", json.dumps(cells, sort_keys=True).replace(root, "RUN"))
        found[stage] = text
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=0, help="randomised reports of a generated extract "
                        "(default: the shipped data)")
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES), choices=list(STRATEGIES))
    args = parser.parse_args(argv)
    rows, reference = {}, None
    with tempfile.TemporaryDirectory(prefix="srceval-strategies-") as scratch:
        scratch = Path(scratch)
        if args.size:
            allocation, extract, _ = generated(scratch / "raw", args.size)
        else:
            allocation, extract = config.DEFAULT_ALLOCATION, config.DEFAULT_EXTRACT
        for name in args.strategies:
            files = outputs.staged_files(scratch / name)
            files.notebooks_dir.mkdir(parents=True)
            print(f"{name} ...", flush=True)
            rows[name] = measured(STRATEGIES[name], files, stage_parameters(files, allocation, extract))
            found = outputs_of(files)
            reference = reference or found
            rows[name]["outputs_equal_first"] = found == reference
            rows[name]["stages_differing"] = [s for s in STAGES if found[s] != reference[s]]
            print(f"   {rows[name]}", flush=True)
    size = args.size or 250
    RESULTS.parent.mkdir(exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    previous[str(size)] = {"compared_with": args.strategies[0], "strategies": rows,
                           "cpus": psutil.cpu_count(), "git": subprocess.run(
                               ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                               cwd=config.PROJ_ROOT).stdout.strip()}
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
    print(f"\n{size:,} reports\n{'strategy':<12}{'seconds':>10}{'peak MB':>10}  outputs as {args.strategies[0]}")
    for name, row in rows.items():
        print(f"{name:<12}{row['seconds']:>10.2f}{row['peak_memory_mb']:>10}  {row['outputs_equal_first']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
