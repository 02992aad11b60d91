"""The ``srceval`` command: run the evaluation, simulate an extract, compare two runs."""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import fields
from pathlib import Path

from helpers import __version__, config
from helpers.inputs.simulate import (
    BLOCK_COLUMNS,
    CLUSTER_COLUMNS,
    MAX_REPLICATIONS,
    MAX_REPORTS,
    Assignment,
    TrialDesign,
    block_names,
)
from helpers.pipeline.outputs import command_line

EXAMPLES = """examples:
  srceval run                                   # the shipped synthetic trial, report in reports/
  srceval run --allocation log.xlsx --extract extract.csv --out reports/bcu-2024
  srceval simulate --out data/raw --force       # regenerate the shipped synthetic extract
  srceval simulate --out trials/blocked --blocks borough --block-shares 0.3,0.5,0.7,0.5
  srceval simulate --out trials/cluster --clusters ward --n-control 300 --n-treatment 300
  srceval simulate --out trials/replications --replications 5 --effect-spread 0.05
  srceval diff reports/old/results.json reports/new/results.json
  srceval simulate --rollout --out rollout      # a roll-out: monitoring extract, schedule, wards
  srceval plan-rollout --wards rollout/wards.csv --steps 6 --start 2023-02-01 --out plan
  srceval monitor --extract rollout/monitoring_extract.csv --rollout rollout/rollout_schedule.csv --out reports/monitoring
"""


# The generator's design, read from TrialDesign so the calibration lives in one place.
DESIGN_DEFAULTS = {f.name: f.default for f in fields(TrialDesign)}
DESIGN_HELP = {"compliance": "share of the SRC arm contacted",
               "control_positive": "positive outcome rate (charges included), control arm",
               "treatment_positive": "positive outcome rate (charges included), SRC arm",
               "open_investigations": "randomised reports with no outcome yet"}


def path_argument(text: str) -> Path:
    """A path argument as an absolute path: relative to the folder srceval is run from, ``~`` expanded.

    The stages run elsewhere (their kernels start in ``notebooks/``), so every path is fixed
    here, before anything starts.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no file or folder")
    return Path(os.getcwd(), Path(text).expanduser()).resolve()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srceval", description="Evaluate the SRC randomised trial from its "
                                     "allocation log and crime extract.", epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"srceval {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run every stage and write the report")
    run.add_argument("--allocation", type=path_argument, default=config.DEFAULT_ALLOCATION,
                     help="allocation log, .xlsx or .csv (default: the shipped synthetic log)")
    run.add_argument("--extract", type=path_argument, default=config.DEFAULT_EXTRACT,
                     help="crime extract, .csv or .xlsx (default: the shipped synthetic extract)")
    run.add_argument("--out", type=path_argument, default=config.REPORTS_DIR, help="output folder (default: reports/)")
    run.add_argument("--params", type=path_argument, default=config.PARAMETERS_FILE,
                     help="parameters file, YAML (default: config/parameters.yml)")
    run.add_argument("--processed", type=path_argument, default=None,
                     help="folder for the analysis table and exclusion log (default: data/processed/ for the "
                          "default output folder, otherwise OUT/processed, so runs on other extracts stay apart)")
    run.add_argument("--allocation-sheet", help="Excel sheet of the allocation log (default: the first)")
    run.add_argument("--extract-sheet", help="Excel sheet of the crime extract (default: the first)")
    run.add_argument("--audience", choices=("full", "leadership"), default="full",
                     help="'leadership' writes the short decision report: a recommendation, the figures and limitations that matter, no jargon (default: full)")

    simulate = commands.add_parser("simulate", help="write a synthetic allocation log and crime extract")
    simulate.add_argument("--out", type=Path, required=True, help="folder to write the two files to")
    simulate.add_argument("--seed", type=int, default=None, help="random seed (default: the shipped data's)")
    for name, default in DESIGN_DEFAULTS.items():
        simulate.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default,
                              help=f"{DESIGN_HELP.get(name, name.replace('_', ' '))} (default: {default:.4g})")
    simulate.add_argument("--allocation-format", choices=("xlsx", "csv"), default="xlsx")
    simulate.add_argument("--force", action="store_true",
                          help="replace the generator's files if the folder already holds them (default: refuse)")
    other = simulate.add_argument_group(
        "other designs", "a blocked or cluster trial (not calibrated to the published one; its folder gets a "
        "parameters.yml declaring the design, for srceval run --params), and replications")
    unit = other.add_mutually_exclusive_group()
    unit.add_argument("--blocks", choices=BLOCK_COLUMNS, help="randomise within each value of this column")
    unit.add_argument("--clusters", choices=CLUSTER_COLUMNS, help="randomise whole units of this column")
    other.add_argument("--block-shares", type=shares_argument, default=None, metavar="S1,S2,...",
                       help="SRC share in each block, in the blocks' alphabetical order (boroughs: "
                            f"{', '.join(block_names('borough'))}), or one share for all (default: n-treatment / n)")
    other.add_argument("--block-risk-spread", type=float, default=0.0, metavar="D",
                       help="withdrawal risks move by -D in the first block to +D in the last (default: 0)")
    other.add_argument("--cluster-share", type=float, default=None, metavar="S",
                       help="share of clusters allocated to SRC (default: n-treatment / n)")
    other.add_argument("--cluster-risk-sd", type=float, default=0.0, metavar="SD",
                       help="SD of each cluster's shift in withdrawal risk, which makes reports of a cluster alike "
                            "(default: 0)")
    other.add_argument("--replications", type=int, default=1, metavar="N",
                       help="write N trials to OUT/run1 ... OUT/runN, with seeds SEED, SEED + 1, ... (default: 1, "
                            f"written to OUT itself; at most {MAX_REPLICATIONS})")
    other.add_argument("--effect-spread", type=float, default=0.0, metavar="SD",
                       help="with replications, SD of the run-to-run change in the SRC arm's withdrawal rates, so "
                            "the true effect differs between runs (default: 0)")

    rollout = simulate.add_argument_group(
        "roll-out", "--rollout writes a monitoring extract, a go-live schedule and the list of wards instead of a "
        "trial: a secular trend, a known effect of going live and one ward whose delivery falls away")
    rollout.add_argument("--rollout", action="store_true", help="simulate a ward-by-ward roll-out")
    rollout.add_argument("--schedule", type=path_argument, default=None, metavar="PLAN_CSV",
                         help="with --rollout: the wards and go-live dates to simulate (a plan-rollout plan); "
                              "the schedule is not written again")
    rollout.add_argument("--reports-per-ward-month", type=float, default=None, metavar="R",
                         help="with --rollout: mean reports per ward and month (default: 6)")
    rollout.add_argument("--months", type=int, default=None, help="with --rollout: months in the extract (default: 36)")

    monitor = commands.add_parser("monitor", help="monitor a roll-out: delivery by ward and month, and the effect "
                                                  "of going live on withdrawal")
    monitor.add_argument("--extract", type=path_argument, required=True,
                         help="crime extract covering months before and after go-live (.csv or .xlsx)")
    monitor.add_argument("--rollout", type=path_argument, required=True, metavar="SCHEDULE",
                         help="schedule, one row per ward: borough, ward, go_live (blank: not live yet)")
    monitor.add_argument("--out", type=path_argument, required=True,
                         help="output folder for monitoring.json, monitoring.html and monitoring.pdf")
    monitor.add_argument("--params", type=path_argument, default=config.PARAMETERS_FILE,
                         help="parameters file, YAML (default: config/parameters.yml)")
    monitor.add_argument("--trial-results", type=path_argument, default=None, metavar="RESULTS_JSON",
                         help="the trial's results.json, whose complier relative reduction the prediction carries "
                              "(default: the parameters file's trial figure)")
    monitor.add_argument("--extract-sheet", help="Excel sheet of the extract (default: the first)")
    monitor.add_argument("--schedule-sheet", help="Excel sheet of the schedule (default: the first)")

    plan = commands.add_parser("plan-rollout", help="a randomised ward order for the roll-out, with the power of "
                                                    "the stepped-wedge design")
    plan.add_argument("--wards", type=path_argument, required=True, help="the wards: borough, ward (.csv or .xlsx)")
    plan.add_argument("--steps", type=int, required=True, help="number of steps (groups of wards going live together)")
    plan.add_argument("--out", type=path_argument, required=True, help="folder for rollout_plan.csv and plan.json")
    plan.add_argument("--seed", type=int, default=None, help="random seed (default: the parameters file's)")
    plan.add_argument("--start", default=None, metavar="DATE",
                      help="first day of the all-control period; step 1 goes live one step later "
                           "(default: the 1st of next month)")
    plan.add_argument("--months-per-step", type=int, default=None, metavar="M",
                      help="months between steps (default: rollout_planning.months_per_step)")
    plan.add_argument("--params", type=path_argument, default=config.PARAMETERS_FILE,
                      help="parameters file, YAML (default: config/parameters.yml)")
    for name, text in (("baseline-risk", "withdrawal risk before go-live"),
                       ("relative-reduction", "relative reduction in withdrawal from going live"),
                       ("icc", "intra-cluster (ward) correlation"),
                       ("reports-per-ward-month", "reports per ward per month")):
        plan.add_argument(f"--{name}", type=float, default=None,
                          help=f"{text} (default: rollout_planning.{name.replace('-', '_')})")
    stratify = plan.add_mutually_exclusive_group()
    stratify.add_argument("--stratify-by-borough", dest="stratify", action="store_true", default=None,
                          help="deal each borough's wards across the steps (default: rollout_planning)")
    stratify.add_argument("--no-stratify", dest="stratify", action="store_false", help="one order for all wards")
    plan.add_argument("--wards-sheet", help="Excel sheet of the wards file (default: the first)")

    diff = commands.add_parser("diff", help="list what changed between two results.json files")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    diff.add_argument("--tolerance", type=float, default=0.0, help="ignore numeric changes up to this size")

    pool = commands.add_parser("pool", help="pool the effects of several runs (meta-analysis of their results.json)")
    pool.add_argument("results", type=path_argument, nargs="+", metavar="RESULTS_JSON",
                      help="two or more results.json files written by srceval run")
    pool.add_argument("--out", type=path_argument, required=True,
                      help="folder for pooled.json, pooled.html, pooled.pdf and the forest plots")
    pool.add_argument("--labels", default=None,
                      help="comma-separated run labels, one per file (default: each file's folder name)")
    pool.add_argument("--confidence-level", type=float, default=None,
                      help="level of every interval (default: the runs' own, which must agree)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from helpers.pipeline.safewrite import FolderBusy, Interrupted, RefusedPath

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = command_line(argv)
    handlers = {"run": _run, "simulate": _simulate, "diff": _diff, "pool": _pool, "monitor": _monitor,
                "plan-rollout": _plan_rollout}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:  # Ctrl-C outside a run's own handling (while importing, say): no traceback
        print("srceval: interrupted", file=sys.stderr)
        return 130
    except Interrupted as interrupted:  # a signal while a command held its output folder: the lock is released
        print(f"srceval {args.command}: interrupted; the output folder's lock was released", file=sys.stderr)
        return interrupted.exit_code
    except (FolderBusy, RefusedPath) as refused:
        print(f"srceval {args.command}: {refused}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout went away (srceval diff ... | head): nothing more to say
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _run(args) -> int:
    from helpers.pipeline.runner import run_pipeline

    return _failures("srceval", lambda: run_pipeline(
        allocation=args.allocation, extract=args.extract, out=args.out, params_file=args.params,
        processed_dir=args.processed or default_processed(args.out), audience=args.audience,
        allocation_sheet=args.allocation_sheet, extract_sheet=args.extract_sheet, command=args.command_line))


def default_processed(out: Path) -> Path:
    """data/processed for the shipped run's output folder; beside the report for any other."""
    return config.PROCESSED_DIR if out.resolve() == config.REPORTS_DIR.resolve() else out / "processed"


def shares_argument(text: str) -> tuple[float, ...]:
    """Comma-separated SRC shares, each between 0 and 1."""
    try:
        shares = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of shares, e.g. 0.3,0.5,0.7") from None
    if not all(0 <= share <= 1 for share in shares):
        raise argparse.ArgumentTypeError(f"every share must lie between 0 and 1: {text}")
    return shares


def _assignment(args) -> Assignment:
    """The design the simulate options ask for; ValueError names an option used without its design."""
    if args.blocks is None and (args.block_shares is not None or args.block_risk_spread):
        raise ValueError("--block-shares and --block-risk-spread need --blocks")
    if args.clusters is None and (args.cluster_share is not None or args.cluster_risk_sd):
        raise ValueError("--cluster-share and --cluster-risk-sd need --clusters")
    if args.replications == 1 and args.effect_spread:
        raise ValueError("--effect-spread needs --replications of 2 or more")
    if args.cluster_share is not None and not 0 < args.cluster_share < 1:
        raise ValueError(f"--cluster-share must lie strictly between 0 and 1, not {args.cluster_share:g}")
    if args.blocks:
        return Assignment("blocked", args.blocks, args.block_shares or (), risk_spread=args.block_risk_spread)
    if args.clusters:
        return Assignment("cluster", args.clusters, () if args.cluster_share is None else (args.cluster_share,),
                          cluster_sd=args.cluster_risk_sd)
    return Assignment()


def _simulate(args) -> int:
    from helpers.inputs.simulate import DEFAULT_SEED, replications, simulate_trial
    from helpers.inputs.simulate_files import write_trials

    if args.rollout or args.schedule or args.reports_per_ward_month or args.months:
        return _simulate_rollout(args)
    seed = DEFAULT_SEED if args.seed is None else args.seed
    try:
        if not 1 <= args.replications <= MAX_REPLICATIONS:
            raise ValueError(f"--replications must be at least 1 and at most {MAX_REPLICATIONS}, not {args.replications}")
        design = TrialDesign(**{name: getattr(args, name) for name in DESIGN_DEFAULTS})
        if design.n * args.replications > MAX_REPORTS:
            raise ValueError(f"{args.replications} replications of {design.n:,} reports is more than the generator "
                             f"makes at once ({MAX_REPORTS:,} reports, the largest extract srceval run reads without "
                             "raising its input limits)")
        if not 0 <= args.effect_spread <= 1:  # NaN fails too
            raise ValueError(f"--effect-spread must lie between 0 and 1, not {args.effect_spread}")
        assignment = _assignment(args)
        if args.replications == 1:
            trials = [(Path(args.out), simulate_trial(design, seed=seed, assignment=assignment))]
        else:
            made = replications(design, runs=args.replications, seed=seed, assignment=assignment,
                                effect_spread=args.effect_spread)
            trials = [(Path(args.out) / f"run{number}", trial) for number, trial in enumerate(made, start=1)]
    except ValueError as error:
        print(f"srceval simulate: {error}", file=sys.stderr)
        return 2
    written = write_trials(trials, allocation_name=f"allocation_log.{args.allocation_format}", overwrite=args.force)
    for (folder, trial), (allocation, extract) in zip(trials, written):
        print(f"Wrote {allocation} ({len(trial.allocation)} rows) and {extract} ({len(trial.extract)} rows)"
              + ("" if trial.assignment.kind == "complete" else
                 f", with {folder / 'parameters.yml'} declaring the {trial.assignment.kind} design"))
    return 0


def _diff(args) -> int:
    from helpers.pipeline.compare import NotResults, diff_files, format_changes

    if not math.isfinite(args.tolerance) or args.tolerance < 0:
        print(f"srceval diff: --tolerance must be a number of at least 0, not {args.tolerance}", file=sys.stderr)
        return 2
    try:
        changes = diff_files(args.old, args.new, tolerance=args.tolerance)
    except NotResults as error:
        print(f"srceval diff: {error}", file=sys.stderr)
        return 2
    print(format_changes(changes))
    return 0


def _pool(args) -> int:
    from helpers.pipeline.pool import (
        PoolInputError,
        check_output_folder,
        confidence_level,
        pool_runs,
        read_runs,
        write_outputs,
    )

    try:
        if args.confidence_level is not None and not 0 < args.confidence_level < 1:
            raise PoolInputError(f"--confidence-level must lie between 0 and 1, not {args.confidence_level}")
        labels = [label.strip() for label in args.labels.split(",")] if args.labels else None
        check_output_folder(args.out, args.results)
        runs = read_runs(args.results, labels)
        conf_level = confidence_level(runs, args.confidence_level)
    except PoolInputError as error:
        print(f"srceval pool: {error}", file=sys.stderr)
        return error.exit_code
    try:
        written = write_outputs(pool_runs(runs, conf_level=conf_level), args.out,
                                note=lambda text: print(f"srceval pool: note: {text}", file=sys.stderr))
    except OSError as error:  # a folder that cannot be written, a full disk, Pango missing for the PDF
        print(f"srceval pool: cannot write the pooled results to {args.out}: {error}", file=sys.stderr)
        return 2
    print(f"Pooled {len(runs)} runs: {written['json']}, {written['html']}, {written['pdf']}")
    return 0


def _failures(prefix: str, call) -> int:
    """Run a command's work; bad input exits 2 with its message after ``prefix`` ("srceval monitor"), a failed
    stage 1, a signal 128 + its number."""
    from helpers.errors import InputError
    from helpers.pipeline.runner import RunFailure
    from helpers.pipeline.stage_kernel import RunInterrupted

    try:
        call()
    except (RunFailure, InputError) as error:
        print(f"{prefix}: {error}", file=sys.stderr)
        return error.exit_code
    except RunInterrupted as interrupted:
        print(f"{prefix}: {interrupted}", file=sys.stderr)
        return interrupted.exit_code
    return 0


def _monitor(args) -> int:
    from helpers.pipeline.monitor_run import run_monitor

    return _failures("srceval monitor", lambda: run_monitor(
        extract=args.extract, schedule=args.rollout, out=args.out, params_file=args.params,
        trial_results=args.trial_results, extract_sheet=args.extract_sheet, schedule_sheet=args.schedule_sheet))


def _plan_rollout(args) -> int:
    from helpers.pipeline.plan import PLAN_CSV, plan_rollout

    def plan():
        made = plan_rollout(wards_path=args.wards, steps=args.steps, out=args.out, params_file=args.params,
                            seed=args.seed, start=args.start, months_per_step=args.months_per_step,
                            sheet=args.wards_sheet, baseline_risk=args.baseline_risk,
                            relative_reduction=args.relative_reduction, icc=args.icc,
                            reports_per_ward_month=args.reports_per_ward_month, stratify_by_borough=args.stratify)
        print(f"Wrote {args.out / PLAN_CSV} ({made['wards_count']} wards in {made['steps']} steps, seed {made['seed']}"
              f"{', stratified by borough' if made['stratified_by'] else ''}) and {args.out / 'plan.json'}: power "
              f"{made['power']['power']:.0%} to detect a change of {made['assumptions']['effect'] * 100:+.1f} points")
    return _failures("srceval plan-rollout", plan)


def _simulate_rollout(args) -> int:
    from dataclasses import replace

    from helpers.errors import InputError
    from helpers.inputs.simulate_rollout import DEFAULT_SEED, RolloutDesign, simulate_rollout, trial_wards

    design = RolloutDesign()
    if args.reports_per_ward_month is not None:
        design = replace(design, reports_per_ward_month=args.reports_per_ward_month)
    if args.months is not None:
        design = replace(design, months=args.months)
    try:
        if not design.reports_per_ward_month > 0 or not 2 <= design.months <= MAX_ROLLOUT_MONTHS:
            raise ValueError(f"--reports-per-ward-month must be above 0 and --months from 2 to {MAX_ROLLOUT_MONTHS}")
        schedule = None if args.schedule is None else _read_plan(args.schedule)
        wards = len(trial_wards()) if schedule is None else len(schedule)
        expected = design.reports_per_ward_month * design.months * wards
        if expected > MAX_REPORTS:
            raise ValueError(f"about {expected:,.0f} reports is more than the generator makes ({MAX_REPORTS:,}, the "
                             "largest extract srceval reads without raising its input limits)")
        made = simulate_rollout(design, seed=DEFAULT_SEED if args.seed is None else args.seed, schedule=schedule)
    except (ValueError, InputError) as error:
        print(f"srceval simulate: {error}", file=sys.stderr)
        return 2
    written = made.write(args.out, schedule=schedule is None, overwrite=args.force)
    print(f"Wrote {', '.join(str(p) for p in written)}: {len(made.extract):,} reports, "
          f"{int(made.schedule['go_live'].notna().sum())} of {len(made.schedule)} wards with a go-live date; "
          f"the ward whose delivery falls away is {made.drifting_ward[1]} ({made.drifting_ward[0]})")
    return 0


MAX_ROLLOUT_MONTHS = 240  # twenty years of monthly extracts: more is a slip, and costs memory


def _read_plan(path):
    import pandas as pd

    from helpers.inputs.dates import parse_dates
    from helpers.inputs.reading import read_input

    table = read_input(path, ["borough", "ward", "go_live"], required=["borough", "ward", "go_live"]).data
    if not {"borough", "ward", "go_live"} <= set(table.columns):
        raise ValueError(f"{path.name} needs the columns borough, ward and go_live")
    dates, problems = parse_dates(table["go_live"])
    if problems or dates.isna().all():
        raise ValueError(f"{path.name}: column 'go_live' needs dates")
    return pd.DataFrame({"borough": table["borough"].str.strip(), "ward": table["ward"].str.strip(), "go_live": dates})


if __name__ == "__main__":
    sys.exit(main())
