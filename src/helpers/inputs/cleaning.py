"""Stage 1: read the two input files, check them against the input contract, join them.

Every row that enters is accounted for: it becomes a row of the analysis table, or a row of
the exclusion log with its reason. Problems that make the data unusable are collected and
raised together as one :class:`~helpers.errors.InputError`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.errors import InputError, ProblemList, format_rows
from helpers.inputs.csvsafe import write_csv_safely
from helpers.inputs.dates import SERIAL_NUMBER, parse_dates
from helpers.inputs.headers import normalise_text
from helpers.inputs.limits import InputLimits
from helpers.inputs.outcomes import classify, normalise_outcome_code, unmatched_codes
from helpers.inputs.reading import InputTable, read_input, sha256_of

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

ARMS = {"src": "SRC", "treatment": "SRC", "bau": "BAU", "control": "BAU", "business as usual": "BAU"}
RECORD_TYPES = {
    "crime": "crime", "incident": "incident", "non-crime incident": "incident",
    "non-crime hate incident": "incident", "nchi": "incident",
}
HATE_STRANDS = ("race", "religion", "disability", "sexual orientation", "transgender")
STRAND_ALIASES = {"faith": "religion", "religion/faith": "religion", "trans": "transgender",
                  "transgender identity": "transgender", "sexual-orientation": "sexual orientation"}
YES_NO = {"y": True, "yes": True, "n": False, "no": False}
CONTACT_MODES = {"phone": "phone", "telephone": "phone", "in person": "in person",
                 "in-person": "in person", "face to face": "in person", "visit": "in person"}
NOT_RECORDED = "not recorded"
OTHER = "other"
# Words for "we do not know", in any covariate.
UNKNOWN_WORDS = {"unknown", "not known", "not recorded", "not stated", "not specified", "n/k", "nk", "n/a",
                 "na", "prefer not to say", "refused", "declined"}
# Covariate vocabularies (disclosure control): a value outside them is recoded, never shown,
# since a mistyped cell may hold a name, a date of birth or an address.
SEXES = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female",
         "other": OTHER, "non-binary": OTHER, "nonbinary": OTHER, "non binary": OTHER, "x": OTHER,
         "intersex": OTHER, "u": NOT_RECORDED, **{word: NOT_RECORDED for word in UNKNOWN_WORDS}}
AGE_BANDS = ("under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_UNDER_18 = re.compile(r"(?:under|below|less than|<|u) ?-?18s?|0?0-17|17 (?:and|or) (?:under|below|younger)")
_65_PLUS = re.compile(r"65 ?(?:\+|plus|(?:and|or) (?:over|above|older))|(?:over|>=?) ?65|65-(?:99|100|\+)")
# Home Office offence groups (and common ways of writing them) -> the group as reported.
OFFENCE_GROUPS = {
    "violence against the person": ("vap", "violence", "violence against person", "violence with injury",
                                    "violence without injury", "assault", "common assault"),
    "public order": ("public order offences", "public order offence", "public fear alarm or distress",
                     "public fear, alarm or distress"),
    "criminal damage": ("criminal damage and arson", "arson and criminal damage", "arson"),
    "theft": ("theft offences", "theft from the person", "other theft", "shoplifting"),
    "burglary": ("residential burglary", "domestic burglary", "business and community burglary"),
    "robbery": ("robbery of personal property", "robbery of business property", "personal robbery"),
    "sexual offences": ("sexual offence", "sexual"),
    "harassment": ("harassment offences",),
    "stalking": ("stalking offences",),
    "stalking and harassment": ("harassment and stalking",),
    "malicious communications": ("malicious communication", "malicious comms"),
    "drug offences": ("drugs", "drug offence"),
    "possession of weapons": ("possession of weapons offences", "weapons", "weapon possession"),
    "miscellaneous crimes against society": ("miscellaneous crimes", "misc crimes against society"),
    OTHER: ("other offences", "other crime", "other crimes"),
}
OFFENCE_ALIASES = {alias: group for group, aliases in OFFENCE_GROUPS.items() for alias in (group, *aliases)}
# Values of a place name that are personal data typed into the wrong column.
PERSONAL_DATA = {
    "an email address": re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+"),
    "a phone number": re.compile(r"(?<!\w)\+?\(?\d[\d\s().-]{7,}\d(?!\w)"),
    "a postcode": re.compile(r"\b(?:[a-z]{1,2}\d[a-z\d]?|gir) ?\d[a-z]{2}\b", re.IGNORECASE),
    "a date": re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}(?:st|nd|rd|th)? "
                         r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,? \d{4}\b", re.IGNORECASE),
    "a person's name": re.compile(r"^(?:mr|mrs|ms|miss|mx|dr)\.? +[a-z]", re.IGNORECASE),  # a title, then a name
    "a street address": re.compile(r"\b\d+[a-z]?,? (?:[a-z'.-]+ ){0,4}(?:street|st|road|rd|avenue|ave|lane|close|"
                                   r"drive|way|court|crescent|gardens|grove|place|terrace|square|mews|walk|parade)\b",
                                   re.IGNORECASE),
}
PHONE_MIN_DIGITS = 10  # a UK number has 10 or 11; ward codes such as E05000123 have fewer
# An allocation this long after the report is possible but worth checking (a mistyped date?).
ALLOCATION_DELAY_WARNING_DAYS = 28

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


# --- small validators; each adds a problem naming the file, column and rows -------------------

def _has_columns(data, required, file, problems) -> bool:
    missing = [c for c in required if c not in data.columns]
    for column in missing:
        problems.add(file, "required column is missing", column)
    return not missing


def _text(values: pd.Series) -> pd.Series:
    """Text as a person reads it (:func:`~helpers.inputs.headers.normalise_text`); once per distinct value."""
    return _map_distinct(values, normalise_text)


def _references(data, file, problems, warnings) -> pd.Series:
    """Crime references as compared across files: no spaces or invisible characters, upper case."""
    refs = data["crime_ref"].astype(str)
    special = ~refs.str.isascii()
    if special.any():  # only the few references with other characters need the slower clean-up
        refs[special] = refs[special].map(normalise_text)
        _note_special_characters(special, data, "crime_ref", file, warnings)
    refs = refs.str.upper()
    spaced = refs.str.contains(r"\s", regex=True)
    if spaced.any():  # only the few references typed with spaces need the slower replacement
        refs[spaced] = refs[spaced].str.replace(r"\s+", "", regex=True)
    _report_invalid(refs == "", data, "crime_ref", file, "a crime reference is required", problems)
    return refs


def _note_special_characters(special: pd.Series, data, column, file, warnings) -> None:
    """Say how many values held invisible characters or special forms, which were cleaned up."""
    raw = data.loc[special, column].astype(str)
    changed = raw.map(lambda text: " ".join(text.split()) != normalise_text(text)).astype(bool)
    if changed.any():
        rows = data.loc[changed[changed].index, "source_row"]
        warnings.append(f"{file}, column '{column}': {int(changed.sum())} value(s) held invisible characters "
                        "(such as zero-width spaces) or special forms of letters and digits (such as full-width "
                        f"ones), which were removed or replaced by plain ones ({format_rows(rows)})")


MAX_PLACE_NAME_CHARACTERS = 100


def _place_names(data, column, file, problems, warnings, found: dict | None = None) -> pd.Series:
    """A borough or ward: free text, one spelling per place, and never personal data.

    The spellings merged go to ``found`` (by column) when given, otherwise into a warning that names
    no place (a place name may be a person's).
    """
    values = _text(data[column])
    _report_invalid(values == "", data, column, file, "a value is required", problems)
    too_long = values.str.len() > MAX_PLACE_NAME_CHARACTERS
    if too_long.any():  # a place name is short; a long one is pasted text, and would swamp every table
        problems.add(file, f"a value is longer than {MAX_PLACE_NAME_CHARACTERS} characters, too long for a "
                           "borough or ward name (the value is not shown)", column, data.loc[too_long, "source_row"])
    _refuse_personal_data(values, data, column, file, problems)
    special = ~data[column].astype(str).str.isascii()
    if special.any():
        _note_special_characters(special, data, column, file, warnings)
    merged, spellings = merge_spellings(values)
    if spellings and found is not None:
        found[column] = (file, spellings)
    elif spellings:
        warnings.append(_spelling_warning(file, column, spellings, set()))
    return merged


def _spelling_warning(file: str, column: str, spellings: dict, named: set) -> str:
    return (f"{file}, column '{column}': spellings that differ only in capitals were counted as one place: "
            + _describe_spellings(spellings, named))


def merge_spellings(values: pd.Series) -> tuple[pd.Series, dict[str, list[tuple[str, int]]]]:
    """One spelling per value compared without case: the most frequent one (ties: the first in order).

    Returns
    -------
    (merged, spellings)
        ``merged`` has every value replaced by its group's spelling; ``spellings`` maps the
        spelling kept to every spelling found and its count, for the groups of more than one.
    """
    groups: dict[str, list[tuple[str, int]]] = {}
    for spelling, count in values[values != ""].value_counts().items():
        groups.setdefault(spelling.casefold(), []).append((spelling, int(count)))
    canonical = {"": ""}
    spellings = {}
    for found in groups.values():
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        canonical.update({spelling: found[0][0] for spelling, _ in found})
        if len(found) > 1:
            spellings[found[0][0]] = found
    return values.map(canonical), spellings


MAX_SPELLINGS_SHOWN = 10


def _describe_spellings(spellings: dict[str, list[tuple[str, int]]], named: set) -> str:
    """The spellings merged, quoted only for the places in ``named`` (held by enough reports to be named)."""
    parts = []
    for kept, found in sorted(spellings.items(), key=lambda item: (item[0] not in named, item[0]))[:MAX_SPELLINGS_SHOWN]:
        total = sum(count for _, count in found)
        if kept not in named:
            parts.append(f"a place held by too few reports to be named ({len(found)} spellings)")
            continue
        others = ", ".join(f"'{spelling}' ({count})" for spelling, count in found[1:])
        parts.append(f"'{kept}' ({total} rows) includes {others}")
    if len(spellings) > MAX_SPELLINGS_SHOWN:
        parts.append(f"and {len(spellings) - MAX_SPELLINGS_SHOWN} more")
    return "; ".join(parts)


def _check_references_as_places(out, file, problems) -> None:
    """A borough or ward that is one of the file's crime references was pasted into the wrong column; a
    reference links to a victim, so it is refused (not quoted) before it reaches a table."""
    references = out.loc[out["crime_ref"] != "", "crime_ref"]
    for column in ("borough", "ward"):
        pasted = _contained(out[column], references) & (out[column] != "")
        if pasted.any():
            problems.add(file, "a crime reference, not a place name; the values are not shown here, check these "
                               "rows in the file", column, out.loc[pasted, "source_row"])


def _refuse_personal_data(values, data, column, file, problems) -> None:
    """A place name that looks like a phone number, email, postcode, date or address is refused,
    without quoting it: the message goes to the screen and logs."""
    kinds = _map_distinct(values, _personal_data_kind)
    for kind, rows in data.loc[kinds != "", "source_row"].groupby(kinds[kinds != ""]):
        problems.add(file, f"looks like personal data ({kind}), not a place name; the values are not shown here, "
                           "check these rows in the file", column, rows)


def _personal_data_kind(text: str) -> str:
    for kind, pattern in PERSONAL_DATA.items():
        for match in pattern.finditer(text):
            if kind != "a phone number" or sum(c.isdigit() for c in match.group(0)) >= PHONE_MIN_DIGITS:
                return kind
    return ""


def _covariate(data, column, recode, fallback, file, warnings) -> pd.Series | str:
    """An optional baseline covariate in its vocabulary; blank or unknown is 'not recorded'."""
    if column not in data:
        return NOT_RECORDED
    return _vocabulary(data, column, _text(data[column]), recode, fallback, file, warnings)


def _vocabulary(data, column, text, recode, fallback, file, warnings) -> pd.Series:
    """Values mapped into a fixed vocabulary; a value outside it becomes ``fallback``, with one
    warning for the column that counts the rows but never shows the values (they could be a
    name, a date of birth or an address typed in the wrong column)."""
    lowered = text.str.lower()
    values = _map_distinct(lowered, lambda value: NOT_RECORDED if value == "" else recode(value))
    outside = values.isna()
    if outside.any():
        rows = format_rows(data.loc[outside, "source_row"])
        warnings.append(f"{file}, column '{column}': {int(outside.sum())} row(s) held a value outside the expected "
                        f"categories and were counted as '{fallback}' ({rows}); the values are not shown because "
                        "they could identify a person")
    return values.fillna(fallback)


def _age_band(text: str) -> str | None:
    """An age band as the contract writes it ('18-24', 'under 18', '65+'), from tolerant variants."""
    if text in UNKNOWN_WORDS:
        return NOT_RECORDED
    text = re.sub(r"\s*(?:[-\u2010-\u2015]|\bto\b)\s*", "-", text)  # "18 - 24", "18 to 24", "18–24"
    text = re.sub(r"\s*(?:years?(?: old)?|yrs|year olds)$", "", text)
    if _UNDER_18.fullmatch(text):
        return "under 18"
    if _65_PLUS.fullmatch(text):
        return "65+"
    return text if text in AGE_BANDS else None


def _offence_group(text: str) -> str | None:
    return OFFENCE_ALIASES.get(text.replace("&", "and"))


def _date_warnings(analysis, allocation_file, extract_file) -> list[str]:
    """Dates that are possible but worth checking; allocation before the report is an audit finding."""
    warnings = []
    late = analysis["days_report_to_allocation"] > ALLOCATION_DELAY_WARNING_DAYS
    if late.any():
        warnings.append(f"{int(late.sum())} randomised report(s) were allocated more than "
                        f"{ALLOCATION_DELAY_WARNING_DAYS} days after they were reported; check the dates "
                        f"({format_rows(analysis.loc[late, 'alloc_row'])} of {allocation_file})")
    early = analysis["src_completed_on"] < analysis["allocated_on"]
    if early.any():
        warnings.append(f"{int(early.sum())} contact(s) are dated before the report was allocated; check the "
                        f"dates ({format_rows(analysis.loc[early, 'source_row'])} of {extract_file}, "
                        "column 'src_completed_on')")
    return warnings


def _report_invalid(mask, data, column, file, expected, problems) -> None:
    """Name the column and rows of values outside what the contract allows, never the values themselves:
    any cell can hold a name or an address typed in the wrong column, and the message reaches screens and logs."""
    if mask.any():
        distinct = data.loc[mask, column].astype(str).str.strip().nunique()
        problems.add(file, f"{expected} ({distinct} other value{'s' if distinct != 1 else ''} found; not shown, since a "
                           "cell may hold personal data: check these rows in the file)", column,
                     data.loc[mask, "source_row"])


def _dates(data, column, file, problems, *, required=False) -> pd.Series:
    if column not in data:
        return pd.Series(pd.NaT, index=data.index, dtype="datetime64[ns]")
    dates, bad = parse_dates(data[column])
    rows_by_reason: dict[str, list[int]] = {}
    for position, reason in bad.items():
        rows_by_reason.setdefault(reason, []).append(int(data["source_row"].iloc[position]))
    for reason, rows in rows_by_reason.items():
        if reason == SERIAL_NUMBER:  # one problem for the column, not one per number
            reason = (f"{len(rows)} value(s) look like Excel serial date numbers (days counted from 30/12/1899: "
                      "44835 is 01/10/2022), not dates; in the spreadsheet, format the column as dates before "
                      "saving it as CSV, or write the dates as 2022-10-03 or 03/10/2022")
        problems.add(file, reason, column, rows)
    if required:
        values = data[column]
        if pd.api.types.is_string_dtype(values):
            blank = values.str.strip() == ""
        else:  # Excel: date cells and text
            blank = values.map(lambda v: isinstance(v, str) and not v.strip())
        if blank.any():
            problems.add(file, "a date is required", column, data.loc[blank, "source_row"])
    return dates


def _check_not_in_future(out, column, file, problems, rows: str = "source_row") -> None:
    """A date after today has not happened yet: a typing error (often the year)."""
    today = pd.Timestamp(date.today())
    late = out[column] > today
    if late.any():
        problems.add(file, f"the date is after today ({today.date()}), so it cannot have happened yet: a typing "
                           "error?", column, out.loc[late, rows])


def _check_not_before_report(out, column, message, file, problems) -> None:
    early = out[column] < out["reported_on"]
    if early.any():
        problems.add(file, message, column, out.loc[early, "source_row"])


def _yes_no(data, column, file, problems, *, required=False) -> pd.Series:
    text = _text(data[column]).str.lower()
    values = text.map(YES_NO)
    bad = values.isna() & ((text != "") | required)
    _report_invalid(bad, data, column, file, "expected Y or N", problems)
    return values.astype("boolean")


def _mapped(data, column, mapping, file, expected, problems) -> pd.Series:
    if column not in data:
        return pd.Series(pd.NA, index=data.index, dtype="string")
    text = _text(data[column]).str.lower()
    values = text.map(mapping)
    _report_invalid(values.isna() & (text != ""), data, column, file, expected, problems)
    return values.astype("string")


def _contained(values: pd.Series, pool: pd.Series) -> pd.Series:
    """Whether each value occurs in ``pool``, by hash lookup (fast for a million references)."""
    return pd.Series(pd.Index(pool.unique()).get_indexer(values) >= 0, index=values.index)


def _map_distinct(values: pd.Series, function) -> pd.Series:
    """Apply ``function`` once per distinct value: a column of a million codes holds a few dozen."""
    keys = values.astype(str)
    codes, distinct = pd.factorize(keys)
    results = [function(key) for key in distinct]
    if all(isinstance(result, str) for result in results):  # text stays a text column
        return pd.Series(pd.array(results, dtype=keys.dtype).take(codes), index=values.index)
    mapped = np.empty(len(results), dtype=object)
    for position, result in enumerate(results):  # one by one: a tuple is one value, not a row
        mapped[position] = result
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _hate_strands(data, file, problems) -> pd.Series:
    def parse(cell: str) -> tuple[str, list[str]]:
        parts = [STRAND_ALIASES.get(p, p) for p in (" ".join(s.split()).lower() for s in str(cell).split(";")) if p]
        unknown = [p for p in parts if p not in HATE_STRANDS]
        return ";".join(s for s in HATE_STRANDS if s in parts), unknown

    parsed = _map_distinct(data["hate_strand"], parse)
    unknown = parsed.map(lambda p: bool(p[1]) or not p[0])
    _report_invalid(unknown, data, "hate_strand", file,
                    "expected one or more of " + ", ".join(HATE_STRANDS) + " separated by ';'", problems)
    return parsed.map(lambda p: p[0])
