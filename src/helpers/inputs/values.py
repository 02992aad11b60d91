"""What a cell of an input file may hold: the vocabularies, and the checks that read a column.

Each check reads one column of one file and adds a problem naming the file, the column and the
rows (:class:`~helpers.errors.ProblemList`), or a warning; a value outside a covariate's vocabulary is
recoded, never shown, since a mistyped cell may hold a name, a date of birth or an address.
:mod:`helpers.inputs.cleaning` applies them to the allocation log and the extract, and
:mod:`helpers.inputs.rollout` to the roll-out's files.
"""
from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from helpers.errors import format_rows
from helpers.inputs.dates import SERIAL_NUMBER, parse_dates
from helpers.inputs.headers import normalise_text

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
