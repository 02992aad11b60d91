"""The roll-out's two inputs: a monthly crime extract and the schedule of each ward's go-live date.

The extract follows the trial's input contract (:mod:`helpers.inputs.cleaning` checks it, with the
same messages); no allocation log is needed. The schedule has one row per ward: ``borough``,
``ward`` and ``go_live`` (blank while the ward is not live), optionally the ``step`` of a planned
roll-out. Every problem names the file, the column and the rows, and all of them are raised
together as one :class:`~helpers.errors.InputError` (exit code 2).

A schedule written by ``srceval plan-rollout`` is recognised by the ``plan.json`` beside it, which
records the schedule's SHA-256: such a roll-out's order was randomised, its planned go-live dates
may lie after the extract ends (those wards are simply not live yet), and the monitoring adds the
randomisation test. Any other schedule is an observational roll-out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers.errors import InputError, ProblemList, format_rows
from helpers.inputs.cleaning import EXTRACT_COLUMNS, EXTRACT_REQUIRED, REFERENCE, normalise_extract
from helpers.inputs.limits import InputLimits
from helpers.inputs.outcomes import classify
from helpers.inputs.reading import read_input, sha256_of
from helpers.inputs.values import _dates, _has_columns, _place_names, _report_invalid

SCHEDULE_REQUIRED = ["borough", "ward", "go_live"]
SCHEDULE_COLUMNS = SCHEDULE_REQUIRED + ["step"]
PLAN_FILE = "plan.json"
REASON_INCIDENT = "non-crime hate incident: not eligible for the contact"
REASON_DUPLICATE = "duplicate record of the same report"


@dataclass
class RolloutInputs:
    """The checked extract (one row per report, no crime reference) and schedule (one row per ward)."""

    reports: pd.DataFrame
    schedule: pd.DataFrame
    inputs: dict
    warnings: list[str] = field(default_factory=list)
    exclusions: list[dict] = field(default_factory=list)
    plan: dict | None = None

    @property
    def randomised(self) -> bool:
        return self.plan is not None


def ward_key(borough: pd.Series, ward: pd.Series) -> pd.Series:
    """A ward as the two files are matched: borough and ward, without case."""
    return borough.str.casefold() + "\x1f" + ward.str.casefold()


def read_rollout(extract_path: Path, schedule_path: Path, outcome_definitions: dict, *,
                 disclosure_threshold: int, sheets: dict | None = None,
                 limits: InputLimits | dict | None = None) -> RolloutInputs:
    """Read and check the monitoring extract and the roll-out schedule.

    Raises
    ------
    InputError
        Every problem of either file, and of the two together: a ward of the extract missing from
        the schedule, a go-live date after the extract ends (unless the schedule is a plan written
        by ``srceval plan-rollout``), no ward live, a ward listed twice, a date that is not one.
    """
    sheets = sheets or {}
    limits = InputLimits.from_parameters(limits)
    problems, warnings = ProblemList(), []
    tables = {}
    for role, path, columns, required in (("extract", extract_path, EXTRACT_COLUMNS, EXTRACT_REQUIRED),
                                          ("schedule", schedule_path, SCHEDULE_COLUMNS, SCHEDULE_REQUIRED)):
        try:
            tables[role] = read_input(path, columns, sheet=sheets.get(role), required=required, limits=limits)
        except InputError as exc:
            problems.problems.extend(exc.problems)
    problems.raise_if_any()
    extract, duplicates = normalise_extract(tables["extract"], problems, warnings)
    schedule = _normalise_schedule(tables["schedule"], problems, warnings)
    problems.raise_if_any()
    plan = planned_randomisation(Path(schedule_path))
    reports, exclusions = _eligible_reports(extract, duplicates, tables["extract"].name, outcome_definitions)
    _check_together(reports, schedule, tables, plan, problems, disclosure_threshold)
    problems.raise_if_any()
    reports = _attach_schedule(reports, schedule)
    schedule = _live_by_extract_end(schedule, reports)
    warnings += _schedule_warnings(schedule, reports, tables["schedule"].name)
    warnings += [note for table in tables.values() for note in table.notes]
    for table in tables.values():
        if table.dropped_identifier_columns:
            warnings.append(f"{table.name}: dropped columns that could identify a person: "
                            + ", ".join(table.dropped_identifier_columns))
    inputs = {role: {"file": t.name, "sha256": t.sha256, "size_bytes": t.size_bytes, "rows": int(len(t.data))}
              for role, t in tables.items()}
    return RolloutInputs(reports.drop(columns=[REFERENCE], errors="ignore"), schedule, inputs, warnings,
                         exclusions, plan)


def planned_randomisation(schedule_path: Path) -> dict | None:
    """The randomisation recorded by ``srceval plan-rollout`` in ``plan.json`` beside the schedule, if the
    schedule is that plan's, unedited (same SHA-256); None for any other schedule."""
    try:
        plan = json.loads((Path(schedule_path).parent / PLAN_FILE).read_text(encoding="utf-8"))
        if plan["schedule"]["sha256"] != sha256_of(Path(schedule_path)):
            return None
        return plan
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _normalise_schedule(table, problems: ProblemList, warnings: list[str]) -> pd.DataFrame:
    data, file = table.data, table.name
    if not _has_columns(data, SCHEDULE_REQUIRED, file, problems):
        return pd.DataFrame()
    out = pd.DataFrame({"source_row": data["source_row"]})
    for column in ("borough", "ward"):
        out[column] = _place_names(data, column, file, problems, warnings)
    out["go_live"] = _dates(data, "go_live", file, problems)
    if "step" in data:
        step = pd.to_numeric(data["step"].replace("", None), errors="coerce")
        bad = (step.isna() & (data["step"].astype(str).str.strip() != "")) | (step < 1) | (step % 1 != 0)
        _report_invalid(bad, data, "step", file, "expected a whole number of at least 1", problems)
        out["step"] = step.astype("Int64")
    out["key"] = ward_key(out["borough"], out["ward"])
    repeated = out[out.duplicated("key", keep=False) & (out["ward"] != "")]
    for _, rows in repeated.groupby("key")["source_row"]:
        problems.add(file, "the same ward is listed more than once (one row per ward, with its go-live date)",
                     "ward", rows)
    return out


def _eligible_reports(extract: pd.DataFrame, duplicates: pd.DataFrame, file: str,
                      outcome_definitions: dict) -> tuple[pd.DataFrame, list[dict]]:
    """Crimes only (a non-crime incident gets no contact), each report once, with its outcomes classified."""
    incident = extract["record_type"] == "incident"
    exclusions = [{"file": file, "reason": REASON_INCIDENT, "rows": int(incident.sum())},
                  {"file": file, "reason": REASON_DUPLICATE, "rows": int(len(duplicates))}]
    reports = extract[~incident].reset_index(drop=True)
    reports["received"] = reports["received"].astype("int8")
    reports = pd.concat([reports, classify(reports["outcome_code"], outcome_definitions)], axis=1)
    reports["key"] = ward_key(reports["borough"], reports["ward"])
    return reports, [e for e in exclusions if e["rows"]]


def _check_together(reports: pd.DataFrame, schedule: pd.DataFrame, tables: dict, plan: dict | None,
                    problems: ProblemList, threshold: int) -> None:
    """What neither file shows alone: wards missing from the schedule, go-live dates beyond the extract, no ward live."""
    extract_file, schedule_file = tables["extract"].name, tables["schedule"].name
    if reports.empty:
        problems.add(extract_file, "the extract holds no crime report (non-crime incidents get no contact)")
        return
    missing = ~reports["key"].isin(schedule["key"].unique())
    if missing.any():
        counts = reports.loc[missing].groupby("key").size()
        named = sorted(reports.loc[missing & reports["key"].isin(counts.index[counts >= threshold]), "ward"].unique())
        hidden = int((counts < threshold).sum())
        what = (f"ward(s) {', '.join(repr(w) for w in named[:10])}" if named else "")
        if hidden:
            what += f"{' and ' if what else ''}{hidden} ward(s) with fewer than {threshold} reports (not named here)"
        problems.add(extract_file, f"{what} are not in the roll-out schedule {schedule_file}: add each ward with its "
                                   "go-live date (blank if it is not live yet)", "ward",
                     reports.loc[missing, "source_row"])
    last = reports["reported_on"].max()
    late = schedule["go_live"] > last
    if late.any() and plan is None:
        problems.add(schedule_file, f"the go-live date is after the extract's last report ({last.date()}): no report "
                                    "can show the ward live; leave go_live blank for a ward that is not live yet",
                     "go_live", schedule.loc[late, "source_row"])
    live = schedule["go_live"].notna() & (schedule["go_live"] <= last)
    if not live.any():
        problems.add(schedule_file, "no ward is live within the extract (every go_live is blank"
                                    f"{' or after ' + str(last.date()) if plan is not None else ''}): there is nothing "
                                    "to monitor yet", "go_live", schedule["source_row"])


def _attach_schedule(reports: pd.DataFrame, schedule: pd.DataFrame) -> pd.DataFrame:
    """Each report with its ward's go-live date and whether it was reported after it."""
    go_live = schedule.set_index("key")["go_live"]
    reports = reports.assign(go_live=reports["key"].map(go_live))
    reports["after_go_live"] = (reports["reported_on"] >= reports["go_live"]).astype("int8")
    reports["month"] = reports["reported_on"].dt.to_period("M").dt.to_timestamp()
    return reports


def _live_by_extract_end(schedule: pd.DataFrame, reports: pd.DataFrame) -> pd.DataFrame:
    """The schedule with ``live``: whether the ward went live by the extract's last report."""
    last = reports["reported_on"].max()
    return schedule.assign(live=schedule["go_live"].notna() & (schedule["go_live"] <= last))


def _schedule_warnings(schedule: pd.DataFrame, reports: pd.DataFrame, file: str) -> list[str]:
    warnings = []
    first = reports["reported_on"].min()
    early = schedule["go_live"] < first
    if early.any():
        warnings.append(f"{file}: {int(early.sum())} ward(s) went live before the extract's first report "
                        f"({first.date()}); with no report before go-live they add nothing to the effect estimate "
                        f"({format_rows(schedule.loc[early, 'source_row'])})")
    empty = ~schedule["key"].isin(reports["key"].unique())
    if empty.any():
        warnings.append(f"{file}: {int(empty.sum())} ward(s) of the schedule have no report in the extract "
                        f"({format_rows(schedule.loc[empty, 'source_row'])})")
    return warnings
