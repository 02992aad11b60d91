"""Time the pipeline against its floor, the cost of starting the stage kernels.

Measures, in one run:
  (a) floor: papermill executing one notebook per stage that only imports the libraries;
  (b) the full pipeline on the shipped data;
  (c) the pipeline on generated extracts of 25,000 and 1,000,000 randomised reports;
and prints the ratios (b)/(a) and (c)/(b) with the peak memory of any process, as a table, and
writes them to benchmarks/results/benchmarks.json. Run with `make bench`.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from helpers import config
from helpers.simulate import TrialDesign, simulate_trial

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SIZES = (25_000, 1_000_000)
# What every stage notebook imports before it does any work: the floor of the pipeline's cost.
FLOOR_IMPORTS = ("import numpy, pandas, scipy.stats, statsmodels.api, linearmodels, matplotlib.pyplot, pyarrow\n"
                 "import helpers.stages, helpers.results, helpers.presentation")


def timed(command: list[str]) -> dict:
    """Run a command in a fresh process tree; wall time and the peak resident memory of any process."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "code = subprocess.run(sys.argv[1:]).returncode; "
               "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")
    out = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True)
    seconds, peak_kib, code = out.stdout.split()[-3:]
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-2000:]}")
    return {"seconds": round(float(seconds), 2), "peak_memory_mb": round(int(peak_kib) / 1024, 1)}


def floor(folder: Path) -> dict:
    script = folder / "floor.py"
    notebooks = []
    for stage in config.STAGES:
        notebook = new_notebook(cells=[new_code_cell(FLOOR_IMPORTS)],
                                metadata={"kernelspec": {"name": "srceval", "display_name": "srceval",
                                                         "language": "python"}})
        path = folder / f"floor_{stage}.ipynb"
        nbformat.write(notebook, path)
        notebooks.append(str(path))
    script.write_text(
        "import sys, papermill\nfrom helpers.runner import kernel_name\n"
        "for path in sys.argv[1:]:\n"
        "    papermill.execute_notebook(path, path, kernel_name=kernel_name(), progress_bar=False)\n")
    return timed([sys.executable, str(script), *notebooks])


def pipeline(folder: Path, allocation: Path, extract: Path) -> dict:
    srceval = str(Path(sys.executable).with_name("srceval"))
    return timed([srceval, "run", "--allocation", str(allocation), "--extract", str(extract),
                  "--out", str(folder / "reports"), "--processed", str(folder / "processed")])


def generated(folder: Path, size: int) -> tuple[Path, Path]:
    design = TrialDesign(n_control=size // 2, n_treatment=size - size // 2, incidents_not_randomised=size // 40,
                         crimes_not_randomised=size // 50, duplicate_records=size // 100)
    return simulate_trial(design, seed=1).write(folder, allocation_name="allocation_log.csv")


def main() -> int:
    RESULTS_DIR.mkdir(exist_ok=True)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="srceval-bench-") as scratch:
        scratch = Path(scratch)
        print("(a) floor: one import-only notebook per stage ...", flush=True)
        rows["floor"] = floor(scratch)
        print("(b) pipeline on the shipped data (250 reports) ...", flush=True)
        rows["shipped_250"] = pipeline(scratch / "shipped", config.DEFAULT_ALLOCATION, config.DEFAULT_EXTRACT)
        for size in SIZES:
            print(f"(c) pipeline on {size:,} generated reports ...", flush=True)
            started = time.perf_counter()
            allocation, extract = generated(scratch / f"n{size}", size)
            generation = time.perf_counter() - started
            rows[f"generated_{size}"] = {**pipeline(scratch / f"n{size}", allocation, extract),
                                         "generation_seconds": round(generation, 1)}
    base, shipped = rows["floor"]["seconds"], rows["shipped_250"]["seconds"]
    ratios = {"shipped_over_floor": round(shipped / base, 2),
              **{f"n{size}_over_shipped": round(rows[f"generated_{size}"]["seconds"] / shipped, 2) for size in SIZES}}
    report = {"machine": {"python": platform.python_version(), "processor": platform.machine(),
                          "cpus": __import__("os").cpu_count()}, "runs": rows, "ratios": ratios}
    (RESULTS_DIR / "benchmarks.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'run':<22}{'seconds':>10}{'peak MB':>10}")
    for name, row in rows.items():
        print(f"{name:<22}{row['seconds']:>10.1f}{row['peak_memory_mb']:>10.0f}")
    print("\n" + "\n".join(f"{k}: {v}" for k, v in ratios.items()))
    print(f"\nwritten {RESULTS_DIR / 'benchmarks.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
