"""Reading an input file (CSV or Excel) into strings, with contract column names.

Everything is read as text: the cleaning module decides what each value means, so that a
value it cannot understand is reported rather than silently coerced.
"""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import InputError, Problem

# Columns that identify a person directly. Matched against the header with case, spaces,
# hyphens and underscores removed; contract columns are never matched.
IDENTIFIER_PATTERN = re.compile(
    r"name|address|postcode|postalcode|zip|phone|mobile|telephone|email|"
    r"dob|dateofbirth|birth|note|freetext|comment|narrative|summary|description"
)
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
CSV_SUFFIXES = {".csv", ".txt"}
HEADER_ROW = 1  # the header is the first line a person sees; data start on line 2


def header_key(name: object) -> str:
    """A header as the contract compares it: lower case, no spaces, hyphens or underscores."""
    return re.sub(r"[\s\-_]+", "", str(name)).lower()


@dataclass
class InputTable:
    """One input file read as text, with its provenance.

    ``data`` has contract column names where a header matched one, and a ``source_row``
    column giving the line a person sees in a spreadsheet or text editor.
    """

    path: Path
    data: pd.DataFrame
    sha256: str
    size_bytes: int
    dropped_identifier_columns: list[str] = field(default_factory=list)
    header_line: int = HEADER_ROW

    @property
    def name(self) -> str:
        return self.path.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_input(path: Path | str, contract_columns: list[str], *, sheet: str | None = None,
               required: list[str] | None = None) -> InputTable:
    """Read a CSV or Excel input file, normalise its headers and drop identifier columns.

    Parameters
    ----------
    path
        The file an evaluator handed over.
    contract_columns
        The column names the input contract defines for this file.
    sheet
        For Excel, the sheet to read; None reads the first.
    required
        The contract's required columns: when the first line lacks them but a later line among
        the first few has them all (a title or merged header rows above the real header), that
        line is the header and the lines above it are skipped.

    Raises
    ------
    InputError
        The file is missing, empty, not a CSV or Excel file, or has clashing headers.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError([Problem(path.name, f"file not found: {path}")])
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError([Problem(path.name, "the file is empty")])
    if path.suffix.lower() in EXCEL_SUFFIXES:
        frame = _read_excel(path, raw, sheet)
    elif path.suffix.lower() in CSV_SUFFIXES:
        frame = _read_csv(path, raw)
    else:
        raise InputError([Problem(path.name, "expected a .csv or .xlsx file")])
    header_line = HEADER_ROW
    if required:
        frame, header_line = _find_header(frame, required)
    frame, dropped = _normalise_headers(frame, contract_columns, path.name)
    if len(frame) == 0:  # rows, not cells: a sheet whose columns were all dropped still has rows
        raise InputError([Problem(path.name, "the file has a header but no data rows")])
    # The index still counts every line after the first (blank ones included), so the line a
    # person sees in a spreadsheet or editor is the index plus two.
    frame.insert(0, "source_row", [HEADER_ROW + 1 + int(i) for i in frame.index])
    return InputTable(path, frame.reset_index(drop=True), sha256_of(path), len(raw), dropped, header_line)


def _read_csv(path: Path, raw: bytes) -> pd.DataFrame:
    if b"\x00" in raw[:4096] or raw[:2] == b"PK":
        raise InputError([Problem(path.name, "this is a binary file, not a CSV text file")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(
            path.name,
            f"the file is not UTF-8 text (undecodable byte at position {exc.start}); "
            "save it as 'CSV UTF-8' and try again",
        )])
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        raise InputError([Problem(path.name, f"not a well-formed CSV file ({exc})")])
    except pd.errors.EmptyDataError:
        raise InputError([Problem(path.name, "the file is empty")])
    frame = frame.fillna("")
    return frame[(frame != "").any(axis=1)]  # blank lines: skipped, but still counted in the index


def _read_excel(path: Path, raw: bytes, sheet: str | None) -> pd.DataFrame:
    if raw[:2] != b"PK":
        raise InputError([Problem(path.name, "this is not an Excel .xlsx workbook")])
    try:
        frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=object, engine="openpyxl")
    except ValueError as exc:  # unknown sheet name
        raise InputError([Problem(path.name, f"cannot read the sheet ({exc})")])
    except Exception as exc:  # openpyxl raises many types for a corrupt workbook
        raise InputError([Problem(path.name, f"this is not a readable Excel workbook ({type(exc).__name__})")])
    frame = frame.dropna(how="all")
    # Keep Excel date cells as dates, everything else as trimmed text; blanks become "".
    return frame.map(_excel_cell)


def _excel_cell(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value
    if hasattr(value, "year") and hasattr(value, "month"):  # datetime.date / datetime
        return pd.Timestamp(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


HEADER_SEARCH_LINES = 10


def _find_header(frame: pd.DataFrame, required: list[str]) -> tuple[pd.DataFrame, int]:
    """Use the first of the first few lines that holds every required column as the header."""
    wanted = {header_key(c) for c in required}
    if wanted <= {header_key(c) for c in frame.columns}:
        return frame, HEADER_ROW
    for position in range(min(HEADER_SEARCH_LINES, len(frame))):
        cells = [str(v) for v in frame.iloc[position]]
        if wanted <= {header_key(c) for c in cells}:
            body = frame.iloc[position + 1:].copy()
            body.columns = [c if c.strip() else f"Unnamed: {i}" for i, c in enumerate(cells)]
            return body, HEADER_ROW + 1 + int(frame.index[position])
    return frame, HEADER_ROW


def _normalise_headers(frame: pd.DataFrame, contract_columns: list[str], file: str):
    by_key = {header_key(c): c for c in contract_columns}
    renamed: dict[str, str] = {}
    dropped: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for original in frame.columns:
        if str(original).startswith("Unnamed:") and (frame[original].astype(str).str.strip() == "").all():
            dropped.append(str(original))  # an empty column left by a spreadsheet
            continue
        key = header_key(original)
        name = by_key.get(key)
        if name is None and IDENTIFIER_PATTERN.search(key):
            dropped.append(str(original))
            continue
        name = name or str(original).strip()
        if name in seen:
            problems.append(Problem(file, f"the headers '{seen[name]}' and '{original}' are the same column", name))
            continue
        seen[name] = str(original)
        renamed[original] = name
    if problems:
        raise InputError(problems)
    identifiers = [c for c in dropped if not c.startswith("Unnamed:")]
    return frame[list(renamed)].rename(columns=renamed), identifiers
