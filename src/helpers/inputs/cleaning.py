"""Stage 1: read the two input files, check them against the input contract, join them.

Every row that enters is accounted for: it becomes a row of the analysis table, or a row of
the exclusion log with its reason. Problems that make the data unusable are collected and
raised together as one :class:`~helpers.errors.InputError`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.errors import InputError, ProblemList
from helpers.inputs.csvsafe import write_csv_safely
from helpers.inputs.limits import InputLimits
from helpers.inputs.outcomes import classify, normalise_outcome_code, unmatched_codes
from helpers.inputs.reading import InputTable, read_input, sha256_of
from helpers.inputs.values import (
    ARMS,
    CONTACT_MODES,
    HATE_STRANDS,
    NOT_RECORDED,
    OTHER,
    RECORD_TYPES,
    SEXES,
    _age_band,
    _check_not_before_report,
    _check_not_in_future,
    _check_references_as_places,
    _contained,
    _covariate,
    _date_warnings,
    _dates,
    _has_columns,
    _hate_strands,
    _map_distinct,
    _mapped,
    _offence_group,
    _place_names,
    _references,
    _report_invalid,
    _spelling_warning,
    _text,
    _vocabulary,
    _yes_no,
)

ALLOCATION_REQUIRED = ["crime_ref", "allocated_on", "allocation"]
ALLOCATION_COLUMNS = ALLOCATION_REQUIRED + ["random_number"]
EXTRACT_REQUIRED = [
    "crime_ref", "reported_on", "record_type", "borough", "ward", "hate_strand",
    "offence_group", "src_completed", "outcome_code",
]
COVARIATE_COLUMNS = ["victim_age_band", "victim_sex", "repeat_victim", "suspect_identified"]
EXTRACT_COLUMNS = EXTRACT_REQUIRED + ["src_completed_on", "src_mode", "outcome_on"] + COVARIATE_COLUMNS
DATE_COLUMNS = ("allocated_on", "reported_on", "src_completed_on", "outcome_on")
SHEET_OPTIONS = {"allocation": "--allocation-sheet", "extract": "--extract-sheet"}
# Characters that are not text: C0 and C1 control codes (NUL, escape, ...), and line and paragraph
# separators. Inside a value (not at its ends) they split one place into two or hide what the cell holds.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


REFERENCE = "crime_ref"  # joins the two files; never written to processed data or a report
REASON_INCIDENT = "non-crime hate incident: not eligible"
REASON_NOT_RANDOMISED = "hate crime not randomised"
REASON_DUPLICATE_RECORD = "duplicate record of the same report"
REASON_DUPLICATE_ALLOCATION = "duplicate allocation entry (same arm): kept once"
REASON_CONFLICTING_ALLOCATION = ("duplicate allocation entry (same arm, another date or random number): the first "
                                 "entry kept, flagged by the audit")


@dataclass
class CleaningResult:
    """What stage 1 hands to the later stages."""

    analysis: pd.DataFrame
    exclusions: pd.DataFrame
    flow: dict
    warnings: list[str]
    inputs: dict = field(default_factory=dict)

    def write_exclusion_log(self, path: Path | str) -> None:
        """Write the exclusion log as CSV, safe to open in a spreadsheet (see :mod:`helpers.inputs.csvsafe`).

        Each row is named by its file and the row number a person sees when opening it; the crime
        reference, which links to a victim, is not written.
        """
        write_csv_safely(self.exclusions.drop(columns=[REFERENCE], errors="ignore"), path)

    def write_analysis_table(self, path: Path | str) -> None:
        """Write the analysis table as Parquet, without the crime reference (the join is done)."""
        self.analysis.drop(columns=[REFERENCE], errors="ignore").to_parquet(path, index=False)

    def save(self, folder: Path, settings: dict) -> None:
        """Keep the result in ``folder`` (two Parquet tables and a JSON file), for :meth:`load`.

        ``settings`` are whatever else the cleaning depended on (outcome codes, limits, sheets).
        """
        folder = Path(folder)
        self.write_analysis_table(folder / "analysis.parquet")
        self.exclusions.drop(columns=[REFERENCE], errors="ignore").to_parquet(folder / "exclusions.parquet",
                                                                              index=False)
        meta = {"flow": self.flow, "warnings": self.warnings, "inputs": self.inputs, "settings": _key(settings)}
        plain = lambda value: value.item() if hasattr(value, "item") else str(value)  # numpy numbers, dates
        (folder / "cleaned.json").write_text(json.dumps(meta, default=plain), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, allocation_path: Path, extract_path: Path, settings: dict) -> "CleaningResult | None":
        """The result kept by :meth:`save`, or None when ``folder`` holds none or it was made from other
        files than these two (their SHA-256 differs) or other settings: the caller then cleans the
        files itself."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "cleaned.json").read_text(encoding="utf-8"))
            same = meta["settings"] == _key(settings) and all(
                meta["inputs"][role]["sha256"] == sha256_of(Path(path))
                for role, path in (("allocation", allocation_path), ("extract", extract_path)))
            if not same:
                return None
            return cls(pd.read_parquet(folder / "analysis.parquet"), pd.read_parquet(folder / "exclusions.parquet"),
                       meta["flow"], meta["warnings"], meta["inputs"])
        except (OSError, KeyError, ValueError):
            return None


ROWS_LISTED = 20  # row numbers listed per reason in results.json and the report; the exclusion log has all


def exclusion_counts(exclusions: list[dict] | pd.DataFrame) -> list[dict]:
    """The exclusions by file and reason: how many rows, and the first row numbers a person sees."""
    frame = pd.DataFrame(exclusions, columns=["file", "stage", "reason", "source_row"])
    return [{"file": file, "stage": stage, "reason": reason, "rows": int(len(group)),
             "first_rows": sorted(int(v) for v in group["source_row"])[:ROWS_LISTED]}
            for (file, stage, reason), group in frame.groupby(["file", "stage", "reason"], sort=True)]


def cleaning_settings(params: dict, sheets: dict) -> dict:
    """Everything besides the two files that cleaning depends on: outcome codes, limits, sheets, and the
    disclosure threshold (which places a warning may name)."""
    return {"outcomes": params["outcomes"], "input_limits": params["input_limits"], "sheets": sheets,
            "disclosure_threshold": params["disclosure_threshold"]}


def _key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def clean_inputs(allocation_path, extract_path, outcome_definitions: dict, *, sheet=None,
                 limits: InputLimits | dict | None = None, disclosure_threshold: int = 5) -> CleaningResult:
    """Read, validate, normalise and join the allocation log and the crime extract.

    Parameters
    ----------
    allocation_path, extract_path
        The two input files (CSV or Excel).
    outcome_definitions
        Outcome name to ``{"codes": [...]}`` (the ``outcomes`` parameter).
    sheet
        Excel sheet name for both files, or ``{"allocation": ..., "extract": ...}``; None reads
        the first sheet.
    limits
        The largest input accepted: :class:`~helpers.inputs.limits.InputLimits`, or the
        ``input_limits`` parameter as a mapping; None takes the defaults.
    disclosure_threshold
        A warning names a borough or ward only if at least this many randomised reports hold it
        (a place name held by fewer could single out a victim, or be a name).

    Raises
    ------
    InputError
        Every problem found in either file, listed together.
    """
    problems = ProblemList()
    limits = InputLimits.from_parameters(limits)
    tables = {}
    sheets = sheet if isinstance(sheet, dict) else {"allocation": sheet, "extract": sheet}
    for role, path, columns, required in (("allocation", allocation_path, ALLOCATION_COLUMNS, ALLOCATION_REQUIRED),
                                          ("extract", extract_path, EXTRACT_COLUMNS, EXTRACT_REQUIRED)):
        try:
            tables[role] = read_input(path, columns, sheet=sheets.get(role), required=required, limits=limits,
                                      date_columns=DATE_COLUMNS, sheet_option=SHEET_OPTIONS[role])
        except InputError as exc:
            problems.problems.extend(exc.problems)
    problems.raise_if_any()
    for role, columns in (("allocation", ALLOCATION_COLUMNS), ("extract", EXTRACT_COLUMNS)):
        refuse_control_characters(tables[role], columns, problems)
    problems.raise_if_any()  # before any message could quote such a value
    value_warnings: list[str] = []
    allocation, alloc_dupes = normalise_allocation(tables["allocation"], problems, value_warnings)
    spellings: dict = {}
    extract, extract_dupes = normalise_extract(tables["extract"], problems, value_warnings, spellings=spellings)
    problems.raise_if_any()
    _check_all_allocated_reports_present(allocation, extract, tables["allocation"].label, problems)
    problems.raise_if_any()

    analysis = _join(allocation, extract, outcome_definitions)
    for column, (file, found) in spellings.items():
        held = analysis[column].value_counts()
        named = {place for place, count in held.items() if count >= disclosure_threshold}
        value_warnings.append(_spelling_warning(file, column, found, named))
    exclusions = _exclusion_log(tables, allocation, extract, alloc_dupes, extract_dupes)
    flow = consort_flow(tables["extract"].data, analysis, exclusions, tables["extract"].name)
    warnings = _warnings(tables, analysis, alloc_dupes, extract_dupes, value_warnings)
    warnings += _unmatched_code_warnings(extract["outcome_code"], outcome_definitions, tables["extract"].name)
    inputs = {role: _describe(table) for role, table in tables.items()}
    return CleaningResult(analysis, exclusions, flow, warnings, inputs)


def refuse_control_characters(table: InputTable, columns: list[str], problems: ProblemList) -> None:
    """Refuse a contract value holding a control character (a NUL byte, a line break, a tab) inside it.

    A line break inside a borough ("Mer", "ton") makes another place, a NUL byte hides what the
    cell holds, and neither can be shown safely: the rows and the column are named, never the
    value. Line breaks and spaces around a value are only trimmed, as elsewhere.
    """
    for column in columns:
        if column not in table.data:
            continue
        values = table.data[column]
        text = values if pd.api.types.is_string_dtype(values) else values.map(lambda v: v if isinstance(v, str) else "")
        suspect = text.str.contains(CONTROL_CHARACTERS.pattern, regex=True)
        if not suspect.any():  # the usual case: one vectorised pass
            continue
        inside = text[suspect].map(lambda v: bool(CONTROL_CHARACTERS.search(v.strip()))).astype(bool)
        if inside.any():
            problems.add(table.label, "a value holds a control character (a line break, tab, NUL byte or another "
                                      "invisible code) inside it; the values are not shown here: retype these cells "
                                      "as plain text", column, table.data.loc[inside[inside].index, "source_row"])


def _unmatched_code_warnings(codes: pd.Series, definitions: dict, file: str) -> list[str]:
    """One warning per outcome whose definition holds codes that no report in the extract counts under."""
    lines = []
    for name, unused in unmatched_codes(codes, definitions).items():
        every = len(unused) == len(definitions[name]["codes"])
        lines.append(f"outcome '{name}' (parameters, outcomes.{name}.codes): code(s) {', '.join(unused)} match no "
                     f"report in {file}" + ("; no report counts as this outcome, so check its codes (a variant such "
                                            "as 1A counts only reports coded 1A; a number such as 1 counts 1 and its "
                                            "variants)" if every else ""))
    return lines


def normalise_allocation(table: InputTable, problems: ProblemList,
                         warnings: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The allocation log with one row per reference, and the duplicate rows left out.

    ``warnings`` (when given) receives what was changed in the values, for the run's warnings.
    """
    data, file = table.data, table.label
    warnings = [] if warnings is None else warnings
    if not _has_columns(data, ALLOCATION_REQUIRED, file, problems):
        return pd.DataFrame(), pd.DataFrame()
    out = pd.DataFrame({"alloc_row": data["source_row"]})
    out["crime_ref"] = _references(data, file, problems, warnings)
    arm = _text(data["allocation"]).str.lower().map(ARMS)
    _report_invalid(arm.isna(), data, "allocation", file, "expected SRC or BAU (or treatment / control)", problems)
    out["allocation"] = arm
    out["allocated_on"] = _dates(data, "allocated_on", file, problems, required=True)
    _check_not_in_future(out, "allocated_on", file, problems, rows="alloc_row")
    if "random_number" in data:
        number = pd.to_numeric(data["random_number"].replace("", None), errors="coerce")
        bad = number.isna() & (data["random_number"].astype(str).str.strip() != "")
        _report_invalid(bad, data, "random_number", file, "expected a number", problems)
        out["random_number"] = number
    else:
        out["random_number"] = float("nan")
    out = out[out["crime_ref"] != ""]
    arms_per_ref = out.dropna(subset=["allocation"]).groupby("crime_ref")["allocation"].nunique()
    for ref in arms_per_ref[arms_per_ref > 1].index:
        rows = out.loc[out["crime_ref"] == ref, "alloc_row"]
        problems.add(file, "one reference is allocated to both SRC and BAU (the reference is not shown)", "allocation",
                     rows)
    # Entries of one report in the same arm that disagree on the date or the random number: the first is
    # kept, and the audit flags them (which entry records the randomisation is not known).
    repeated = out[out.duplicated("crime_ref", keep=False)]
    versions = repeated.drop_duplicates(["crime_ref", "allocated_on", "random_number"]).groupby("crime_ref").size()
    out["allocation_entries_differ"] = _contained(out["crime_ref"], versions.index[versions > 1].to_series())
    duplicated = out.duplicated("crime_ref", keep="first")
    return out[~duplicated].reset_index(drop=True), out[duplicated]


def normalise_extract(table: InputTable, problems: ProblemList, warnings: list[str] | None = None, *,
                      spellings: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The crime extract with one row per reference, normalised, and the duplicate rows left out.

    ``warnings`` (when given) receives what was changed in the values, for the run's warnings.
    ``spellings`` (when given) receives the place spellings merged, by column, instead of a
    warning naming them: the caller names only places held by enough reports.
    """
    data, file = table.data, table.label
    warnings = [] if warnings is None else warnings
    if not _has_columns(data, EXTRACT_REQUIRED, file, problems):
        return pd.DataFrame(), pd.DataFrame()
    out = pd.DataFrame({"source_row": data["source_row"]})
    out["crime_ref"] = _references(data, file, problems, warnings)
    out["reported_on"] = _dates(data, "reported_on", file, problems, required=True)
    record_type = _text(data["record_type"]).str.lower().map(RECORD_TYPES)
    _report_invalid(record_type.isna(), data, "record_type", file, "expected crime or incident", problems)
    out["record_type"] = record_type
    for column in ("borough", "ward"):
        out[column] = _place_names(data, column, file, problems, warnings, spellings)
    offence = _text(data["offence_group"])
    _report_invalid(offence == "", data, "offence_group", file, "a value is required", problems)
    out["offence_group"] = _vocabulary(data, "offence_group", offence, _offence_group, OTHER, file, warnings)
    out["hate_strand"] = _hate_strands(data, file, problems)
    out["received"] = _yes_no(data, "src_completed", file, problems, required=True)
    out["src_completed_on"] = _dates(data, "src_completed_on", file, problems)
    out["src_mode"] = _mapped(data, "src_mode", CONTACT_MODES, file, "expected phone or in person", problems)
    codes = _map_distinct(data["outcome_code"], normalise_outcome_code)
    bad_code = codes.map(lambda c: c[1] is not None)
    for message, rows in data.loc[bad_code, "source_row"].groupby(codes[bad_code].map(lambda c: c[1])):
        problems.add(file, message, "outcome_code", rows)
    out["outcome_code"] = codes.map(lambda c: c[0])
    out["outcome_on"] = _dates(data, "outcome_on", file, problems)
    for column in ("reported_on", "src_completed_on", "outcome_on"):
        _check_not_in_future(out, column, file, problems)
    _check_references_as_places(out, file, problems)
    _check_not_before_report(out, "outcome_on", "the outcome is dated before the report", file, problems)
    _check_not_before_report(out, "src_completed_on", "the contact is dated before the report", file, problems)
    out["victim_age_band"] = _covariate(data, "victim_age_band", _age_band, NOT_RECORDED, file, warnings)
    out["victim_sex"] = _covariate(data, "victim_sex", SEXES.get, OTHER, file, warnings)
    for column in ("repeat_victim", "suspect_identified"):
        out[column] = _yes_no(data, column, file, problems) if column in data else pd.NA
    out = out[out["crime_ref"] != ""]
    return _drop_duplicate_records(out, file, problems)


def _drop_duplicate_records(out: pd.DataFrame, file: str, problems: ProblemList):
    """Identical records of one report are kept once; differing records of one report are refused."""
    compared = [c for c in out.columns if c != "source_row"]
    repeated = out[out.duplicated("crime_ref", keep=False)]
    versions = repeated.drop_duplicates(compared).groupby("crime_ref").size()
    conflicting = repeated[_contained(repeated["crime_ref"], versions.index[versions > 1].to_series())]
    for ref, rows in conflicting.groupby("crime_ref")["source_row"]:
        problems.add(file, "one reference appears on several rows with different values (the reference is not "
                           "shown)", "crime_ref", rows)
    identical = out.duplicated(compared, keep="first")
    return out[~identical].reset_index(drop=True), out[identical]


def _check_all_allocated_reports_present(allocation, extract, file, problems) -> None:
    missing = ~_contained(allocation["crime_ref"], extract["crime_ref"])
    if missing.any():
        problems.add(file, f"{int(missing.sum())} allocated reference(s) are not in the crime extract (the references "
                           "are not shown)", "crime_ref", allocation.loc[missing, "alloc_row"])


def _join(allocation: pd.DataFrame, extract: pd.DataFrame, outcome_definitions: dict) -> pd.DataFrame:
    analysis = allocation.merge(extract, on="crime_ref", how="inner", validate="one_to_one")
    analysis["assigned"] = (analysis["allocation"] == "SRC").astype("int8")
    analysis["received"] = analysis["received"].astype("int8")
    analysis["outcome_recorded"] = analysis["outcome_code"].notna()
    analysis = pd.concat([analysis, classify(analysis["outcome_code"], outcome_definitions)], axis=1)
    analysis["days_report_to_allocation"] = (analysis["allocated_on"] - analysis["reported_on"]).dt.days
    analysis["days_report_to_contact"] = (analysis["src_completed_on"] - analysis["reported_on"]).dt.days
    strands = analysis["hate_strand"].str.split(";")
    analysis["primary_strand"] = strands.str[0]
    for strand in HATE_STRANDS:
        analysis[f"strand_{strand.replace(' ', '_')}"] = strands.map(lambda s, strand=strand: strand in s).astype("int8")
    order = ["alloc_row", "allocated_on", "random_number"]
    analysis = analysis.sort_values(order, kind="stable").reset_index(drop=True)
    analysis.insert(0, "allocation_order", range(1, len(analysis) + 1))
    return analysis


def _exclusion_log(tables, allocation, extract, alloc_dupes, extract_dupes) -> pd.DataFrame:
    extract_file, alloc_file = tables["extract"].name, tables["allocation"].name
    not_randomised = extract[~_contained(extract["crime_ref"], allocation["crime_ref"])]
    reasons = not_randomised["record_type"].map({"incident": REASON_INCIDENT, "crime": REASON_NOT_RANDOMISED})
    parts = [
        pd.DataFrame({"file": extract_file, "source_row": not_randomised["source_row"],
                      "crime_ref": not_randomised["crime_ref"], "reason": reasons,
                      "stage": "before randomisation"}),
        pd.DataFrame({"file": extract_file, "source_row": extract_dupes.get("source_row", []),
                      "crime_ref": extract_dupes.get("crime_ref", []), "reason": REASON_DUPLICATE_RECORD,
                      "stage": "before randomisation"}),
        pd.DataFrame({"file": alloc_file, "source_row": alloc_dupes.get("alloc_row", []),
                      "crime_ref": alloc_dupes.get("crime_ref", []),
                      "reason": np.where(alloc_dupes.get("allocation_entries_differ", pd.Series(dtype=bool))
                                         .astype(bool), REASON_CONFLICTING_ALLOCATION, REASON_DUPLICATE_ALLOCATION),
                      "stage": "allocation log"}),
    ]
    columns = ["file", "source_row", "crime_ref", "reason", "stage"]
    log = pd.concat([pd.DataFrame(columns=columns)] + [p for p in parts if len(p)], ignore_index=True)
    return log.astype({"source_row": "int64"}).sort_values(["file", "source_row"]).reset_index(drop=True)


def consort_flow(extract_rows: pd.DataFrame, analysis: pd.DataFrame, exclusions: pd.DataFrame,
                 extract_file: str) -> dict:
    """Participant flow counts (CONSORT 2010), from the extract's records to the analysis.

    Every extract row is either randomised or excluded before randomisation, so
    ``assessed == excluded_before_randomisation + randomised`` holds by construction.
    """
    before = exclusions[(exclusions["file"] == extract_file) & (exclusions["stage"] == "before randomisation")]
    by_arm = analysis.groupby("allocation")
    arm = lambda series: {"treatment": int(series.get("SRC", 0)), "control": int(series.get("BAU", 0))}
    flow = {
        "assessed": int(len(extract_rows)),
        "excluded_before_randomisation": int(len(before)),
        "exclusion_reasons": {k: int(v) for k, v in before["reason"].value_counts().sort_index().items()},
        "randomised": int(len(analysis)),
        "allocated": arm(by_arm.size()),
        "received_src": arm(by_arm["received"].sum()),
        "outcome_recorded": arm(by_arm["outcome_recorded"].sum()),
        "outcome_open": arm(by_arm["outcome_recorded"].apply(lambda s: int((~s).sum()))),
        "analysed": arm(by_arm["outcome_recorded"].sum()),
    }
    if flow["assessed"] != flow["excluded_before_randomisation"] + flow["randomised"]:
        raise AssertionError("participant flow does not add up: a row was lost")  # a bug, not bad input
    return flow


def _warnings(tables, analysis, alloc_dupes, extract_dupes, value_warnings=()) -> list[str]:
    warnings = []
    for role, table in tables.items():
        warnings += table.notes
        if table.header_line > 1:
            warnings.append(f"{table.name}: the header is on line {table.header_line}; the "
                            f"{table.header_line - 1} line(s) above it (a title or merged header cells) were skipped")
        if table.dropped_identifier_columns:
            warnings.append(f"{table.name}: dropped columns that could identify a person: "
                            + ", ".join(table.dropped_identifier_columns))
    if len(alloc_dupes):
        differ = alloc_dupes["allocation_entries_differ"].astype(bool)
        if (~differ).any():
            warnings.append(f"{tables['allocation'].name}: {int((~differ).sum())} reference(s) entered twice with "
                            "the same arm, date and random number; each is kept once")
        if differ.any():
            warnings.append(f"{tables['allocation'].name}: {int(differ.sum())} entry(ies) repeat a reference in the "
                            "same arm with another date or random number; the first entry of each is kept and the "
                            "audit flags them")
    if len(extract_dupes):
        warnings.append(f"{tables['extract'].name}: {len(extract_dupes)} duplicate record(s) of the same report; "
                        "each report is kept once")
    warnings += value_warnings
    warnings += _date_warnings(analysis, tables["allocation"].name, tables["extract"].name)
    ineligible = analysis[analysis["record_type"] == "incident"]
    if len(ineligible):
        warnings.append(f"{len(ineligible)} randomised report(s) are non-crime incidents and so were not eligible; "
                        "they stay in the intention-to-treat analysis (rows "
                        + ", ".join(str(r) for r in ineligible["source_row"]) + f" of {tables['extract'].name})")
    open_cases = int((~analysis["outcome_recorded"]).sum())
    if open_cases:
        warnings.append(f"{open_cases} randomised report(s) have no outcome yet (open investigations); "
                        "they are left out of the outcome analysis")
    return warnings


def _describe(table: InputTable) -> dict:
    return {"file": table.name, "sheet": table.sheet, "sheet_reason": table.sheet_reason, "sha256": table.sha256,
            "size_bytes": table.size_bytes, "rows": int(len(table.data)),
            "dropped_identifier_columns": table.dropped_identifier_columns}
