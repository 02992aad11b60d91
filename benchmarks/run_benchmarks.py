"""Time the pipeline against its floor, the cost of importing the libraries the stages use.

Measures, in one run (`make bench`):
  floor      one Python process importing the third-party libraries the stages use (numpy, pandas,
             scipy.stats, statsmodels.api, linearmodels, pyarrow, weasyprint, matplotlib.pyplot,
             seaborn); not the project's own modules;
  shipped    `srceval run` on the shipped data (250 reports), end to end;
  generated  `srceval run` on generated extracts of 25,000 and 1,000,000 randomised reports;
  refusal    `srceval run` on the shipped extract with a required column removed (exit code 2);
  pdf        the PDF step alone on the shipped run's report.html: WeasyPrint as `srceval` runs it
             (in a new process, WeasyPrint imported first), beside Chromium printing the same HTML
             (`chromium --headless --print-to-pdf`, its start-up included) as the yardstick; with
             --pdf, only this, on the report.html files named (a report of an earlier version, say);
  monitor    `srceval monitor` on a generated roll-out of about 70,000 reports (three years of a force's
             wards, `srceval simulate --rollout --reports-per-ward-month 25`);
  tests      `python -m pytest` (only with --tests: it takes minutes);
and prints the ratios shipped / floor and 25,000 / shipped, with the peak memory of each run, and
writes them to benchmarks/results/benchmarks.json.

Peak memory is the largest sum, over the run's whole process tree (srceval and its kernels), of
each process's proportional set size (PSS: shared library pages split between the processes that
map them), sampled every 0.1 s. Short runs are repeated (--repeat, default 3) and the median is
kept; the seconds of each stage are read from srceval's progress lines. A run still going after
--limit seconds (default 300) is stopped and recorded as unfinished, with the stages it finished.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from helpers import config

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SRCEVAL = str(Path(sys.executable).with_name("srceval"))
FLOOR_LIBRARIES = ("numpy", "pandas", "scipy.stats", "statsmodels.api", "linearmodels", "pyarrow", "weasyprint",
                   "matplotlib.pyplot", "seaborn")
GOALS = {"shipped_over_floor": 2.0, "n25000_over_shipped": 1.3, "n1000000_seconds": 60.0,
         "n1000000_peak_memory_mb": 2048.0, "refusal_seconds": 2.0, "tests_seconds": 150.0}


def _pss_mb(process: psutil.Process) -> float:
    """Proportional set size of one process, MB (0 once it has gone)."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def timed(command: list[str], *, expect: int | None = 0, cwd: Path | None = None, interval: float = 0.1,
          limit: float | None = None) -> dict:
    """Run a command; wall time, peak PSS of its process tree and peak RSS of its largest process.

    A command still running after ``limit`` seconds is stopped with SIGTERM (srceval then removes
    its staging folder) and recorded as unfinished.
    """
    started = time.perf_counter()
    errors = tempfile.TemporaryFile(mode="w+")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=cwd,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})  # progress lines as they are printed
    root, peak, done, lines = psutil.Process(child.pid), [0.0], threading.Event(), []

    def sample() -> None:
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            peak[0] = max(peak[0], sum(_pss_mb(p) for p in tree))
            if limit is not None and time.perf_counter() - started > limit and child.poll() is None:
                child.terminate()
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for line in child.stdout:  # each progress line with the second it arrived
        lines.append((round(time.perf_counter() - started, 2), line.rstrip("\n")))
    child.wait()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    errors.seek(0)
    stdout, stderr = "\n".join(line for _, line in lines), errors.read()
    errors.close()
    row = {"seconds": round(seconds, 2), "peak_memory_mb": round(peak[0]), "stdout": stdout,
           "stages": stage_seconds(stdout), "exit_code": child.returncode}
    if lines and lines[0][1].startswith("[1/"):
        row["first_stage_started_at"] = lines[0][0]  # after the checks of the inputs, the contract's included
    report_line = next((at for at, line in lines if line.startswith("[report]")), None)
    if report_line is not None:
        row["report_started_at"] = report_line
    if limit is not None and seconds >= limit:
        row["unfinished"] = f"stopped after {limit:.0f} s; {lines[-1][1] if lines else ''}"
        return row
    if expect is not None and child.returncode != expect:
        raise RuntimeError(f"{' '.join(command)} exited {child.returncode}, expected {expect}:\n{stderr[-3000:]}")
    return row


def stage_seconds(stdout: str) -> dict:
    """Seconds of each stage from srceval's progress lines, and of what followed them (the report)."""
    seconds, stage = {}, None
    for line in stdout.splitlines():
        if match := re.match(r"\[\d+/\d+\] (\S+) \.\.\.", line):
            stage = match.group(1)
        elif (match := re.match(r"\s+done in ([\d.]+) s", line)) and stage:
            seconds[stage] = float(match.group(1))
        elif match := re.match(r"Finished in ([\d.]+) s", line):
            seconds["report"] = round(float(match.group(1)) - sum(seconds.values()), 1)
    return seconds


def median_of(runs: list[dict]) -> dict:
    middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    row = {k: v for k, v in middle.items() if k != "stdout"}
    row["all_seconds"] = [r["seconds"] for r in runs]
    return row


def floor(repeat: int) -> dict:
    code = "import " + ", ".join(FLOOR_LIBRARIES)
    return median_of([timed([sys.executable, "-c", code], cwd=config.NOTEBOOKS_DIR) for _ in range(repeat)])


def pipeline(folder: Path, allocation: Path, extract: Path, *, expect: int = 0, limit: float | None = None) -> dict:
    return timed([SRCEVAL, "run", "--allocation", str(allocation), "--extract", str(extract),
                  "--out", str(folder / "reports"), "--processed", str(folder / "processed")], expect=expect,
                 limit=limit)


def generated(folder: Path, size: int) -> tuple[Path, Path, float]:
    """Write a generated trial of ``size`` randomised reports (in a child process, so that its memory is freed)."""
    code = ("import sys; from helpers.inputs.simulate import TrialDesign, simulate_trial; size = int(sys.argv[1]); "
            "design = TrialDesign(n_control=size // 2, n_treatment=size - size // 2, "
            "incidents_not_randomised=size // 40, crimes_not_randomised=size // 50, duplicate_records=size // 100); "
            "simulate_trial(design, seed=1).write(sys.argv[2], allocation_name='allocation_log.csv')")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(size), str(folder)], check=True)
    return folder / "allocation_log.csv", folder / "crime_extract.csv", round(time.perf_counter() - started, 1)


def broken_extract(folder: Path) -> Path:
    """The shipped extract without its required hate-strand column: refused before any kernel starts."""
    import pandas as pd

    path = folder / "crime_extract.csv"
    folder.mkdir(parents=True, exist_ok=True)
    pd.read_csv(config.DEFAULT_EXTRACT, dtype=str, keep_default_na=False).drop(columns=["Hate Strand"]).to_csv(
        path, index=False)
    return path


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The PDF step as srceval takes it: WeasyPrint already imported (srceval imports it while the
# kernel starts), then one layout of the page in a process that has laid out nothing yet.
PDF_STEP = ("import sys, time; from pathlib import Path; import weasyprint; "
            "from helpers.report.render import html_to_pdf; page = Path(sys.argv[1]).read_text(encoding='utf-8'); "
            "started = time.perf_counter(); html_to_pdf(page, Path(sys.argv[2])); "
            "print(round(time.perf_counter() - started, 3))")


def _pages(pdf: Path) -> int | None:
    try:
        from pypdf import PdfReader
    except ImportError:
        return None
    return len(PdfReader(pdf).pages)


def pdf_step(html: Path, repeat: int, scratch: Path) -> dict:
    """Seconds of the PDF step on a report.html (median of ``repeat``), WeasyPrint and Chromium."""
    weasy, out = [], scratch / "weasyprint.pdf"
    for _ in range(repeat):
        child = subprocess.run([sys.executable, "-c", PDF_STEP, str(html), str(out)], capture_output=True, text=True,
                               check=True)
        weasy.append(float(child.stdout.strip().splitlines()[-1]))
    row = {"html": str(html), "weasyprint_seconds": sorted(weasy)[len(weasy) // 2], "weasyprint_all": weasy,
           "weasyprint_pages": _pages(out)}
    if CHROMIUM:
        printed = scratch / "chromium.pdf"
        runs = [timed([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                       f"--print-to-pdf={printed}", html.resolve().as_uri()], expect=None) for _ in range(repeat)]
        row.update(chromium_seconds=median_of(runs)["seconds"], chromium_all=[r["seconds"] for r in runs],
                   chromium_pages=_pages(printed))
    return row
def generated_rollout(folder: Path, reports_per_ward_month: float) -> tuple[Path, Path, float]:
    """A generated roll-out (monitoring extract and schedule), written by ``srceval simulate --rollout``."""
    started = time.perf_counter()
    subprocess.run([SRCEVAL, "simulate", "--rollout", "--reports-per-ward-month", str(reports_per_ward_month),
                    "--out", str(folder)], check=True, capture_output=True)
    return folder / "monitoring_extract.csv", folder / "rollout_schedule.csv", round(time.perf_counter() - started, 1)


def monitor(folder: Path, repeat: int, reports_per_ward_month: float = 25.0) -> dict:
    """``srceval monitor`` on about 70,000 reports (79 wards x 36 months x 25)."""
    extract, schedule, generation = generated_rollout(folder / "raw", reports_per_ward_month)
    reports = sum(1 for _ in extract.open(encoding="utf-8")) - 1
    runs = [timed([SRCEVAL, "monitor", "--extract", str(extract), "--rollout", str(schedule),
                   "--out", str(folder / f"run{i}")]) for i in range(repeat)]
    return {**median_of(runs), "reports": reports, "generation_seconds": generation}


def tests() -> dict:
    """The test suite as ``make test`` runs it (pyproject's addopts: parallel workers), with its processor time:
    user and system seconds of every process it started, which a loaded machine does not inflate as it does
    the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=config.PROJ_ROOT, expect=None)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row["cpu_seconds"] = round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1)
    row["summary"] = row.pop("stdout").strip().splitlines()[-1]
    row.pop("stages")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each short measurement (median kept)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[25_000, 1_000_000],
                        help="generated extracts to run, in randomised reports")
    parser.add_argument("--limit", type=float, default=300, help="seconds after which a generated extract's run "
                        "is stopped and recorded as unfinished")
    parser.add_argument("--tests", action="store_true", help="also time the test suite (python -m pytest)")
    parser.add_argument("--pdf", type=Path, nargs="+", metavar="HTML",
                        help="time only the PDF step, on these report.html files (WeasyPrint and Chromium)")
    parser.add_argument("--monitor-only", action="store_true",
                        help="time srceval monitor on about 70,000 reports alone (written to --output)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "benchmarks.json", help="where to write the results")
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.pdf:
        return pdf_only(args.pdf, args.repeat)
    rows: dict[str, dict] = {}
    if args.monitor_only:
        return monitor_only(args)
    with tempfile.TemporaryDirectory(prefix="srceval-bench-") as scratch:
        scratch = Path(scratch)
        print("srceval monitor, about 70,000 reports ...", flush=True)
        rows["monitor_70000"] = monitor(scratch / "monitor", args.repeat)
        print("floor: one process importing the stages' libraries ...", flush=True)
        rows["floor"] = floor(args.repeat)
        print("contract breach refused ...", flush=True)
        broken = broken_extract(scratch / "broken")
        rows["refusal"] = median_of([pipeline(scratch / f"refused{i}", config.DEFAULT_ALLOCATION, broken, expect=2)
                                     for i in range(args.repeat)])
        print("shipped data, 250 reports ...", flush=True)
        rows["shipped_250"] = median_of([pipeline(scratch / f"shipped{i}", config.DEFAULT_ALLOCATION,
                                                  config.DEFAULT_EXTRACT) for i in range(args.repeat)])
        print("the PDF step on the shipped report, WeasyPrint and Chromium ...", flush=True)
        rows["pdf"] = pdf_step(scratch / "shipped0" / "reports" / "report.html", args.repeat, scratch)
        for size in args.sizes:
            print(f"{size:,} generated reports ...", flush=True)
            allocation, extract, generation = generated(scratch / f"n{size}" / "raw", size)
            runs = [pipeline(scratch / f"n{size}" / f"run{i}", allocation, extract, limit=args.limit)
                    for i in range(args.repeat if size <= 25_000 else 1)]
            rows[f"generated_{size}"] = {**median_of(runs), "generation_seconds": generation}
            for path in (allocation, extract):
                path.unlink()
    if args.tests:
        print("test suite ...", flush=True)
        rows["tests"] = tests()
    ratios = {"shipped_over_floor": round(rows["shipped_250"]["seconds"] / rows["floor"]["seconds"], 2)}
    for size in args.sizes:
        ratios[f"n{size}_over_shipped"] = round(rows[f"generated_{size}"]["seconds"] / rows["shipped_250"]["seconds"], 2)
    measured = {**ratios, "refusal_seconds": rows["refusal"]["seconds"]}
    if "generated_1000000" in rows:
        measured.update(n1000000_seconds=rows["generated_1000000"]["seconds"],
                        n1000000_peak_memory_mb=rows["generated_1000000"]["peak_memory_mb"])
    if "tests" in rows:
        measured["tests_seconds"] = rows["tests"]["seconds"]
    goals = {name: {"goal": GOALS[name], "measured": value, "met": value <= GOALS[name]}
             for name, value in measured.items() if name in GOALS}
    if "unfinished" in rows.get("generated_1000000", {}):
        goals["n1000000_seconds"].update(met=False, unfinished=rows["generated_1000000"]["unfinished"])
    report = {"machine": {"python": platform.python_version(), "processor": platform.machine(),
                          "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30)},
              "runs": rows, "ratios": ratios, "goals": goals}
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'run':<22}{'seconds':>10}{'peak MB':>10}  stages (s)")
    for name, row in rows.items():
        if name == "pdf":
            print(_pdf_line(name, row))
            continue
        stages = " ".join(f"{stage[:2]}:{seconds:g}" for stage, seconds in row.get("stages", {}).items())
        print(f"{name:<22}{row['seconds']:>10.2f}{row['peak_memory_mb']:>10.0f}  {stages}  {row.get('unfinished', '')}")
    print()
    for name, goal in goals.items():
        print(f"{name:<26}{goal['measured']:>10}  goal <= {goal['goal']:<8}{'met' if goal['met'] else 'NOT met'}")
    print(f"\nwritten {args.output}")
    return 0


def _pdf_line(name: str, row: dict) -> str:
    chromium = (f"; Chromium {row['chromium_seconds']:.2f} s, {row['chromium_pages']} pages"
                if "chromium_seconds" in row else "")
    return f"{name:<22}WeasyPrint {row['weasyprint_seconds']:.2f} s, {row['weasyprint_pages']} pages{chromium}"


def pdf_only(pages: list[Path], repeat: int) -> int:
    """Time the PDF step on each report.html named; print, and write nothing."""
    with tempfile.TemporaryDirectory(prefix="srceval-bench-pdf-") as scratch:
        for html in pages:
            row = pdf_step(html, repeat, Path(scratch))
            print(_pdf_line(html.name, row), " all:", row["weasyprint_all"], row.get("chromium_all", ""))
def monitor_only(args) -> int:
    with tempfile.TemporaryDirectory(prefix="srceval-bench-") as scratch:
        row = monitor(Path(scratch), args.repeat)
    report = {"machine": {"python": platform.python_version(), "processor": platform.machine(),
                          "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30)},
              "runs": {"monitor_70000": row}}
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    stages = " ".join(f"{stage[:2]}:{seconds:g}" for stage, seconds in row["stages"].items())
    print(f"srceval monitor, {row['reports']:,} reports: {row['seconds']:.1f} s (runs {row['all_seconds']}), "
          f"peak {row['peak_memory_mb']} MB; stages (s) {stages}\nwritten {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
