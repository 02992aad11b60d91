"""Reading an input file (CSV or Excel) into strings, with contract column names.

Everything is read as text: the cleaning module decides what each value means, so that a
value it cannot understand is reported rather than silently coerced.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from helpers.errors import InputError, Problem

# Columns that identify a person directly, recognised by what the header means rather than its exact
# spelling. Matched against the header with case and every character other than a letter or digit
# removed ("D.O.B" -> "dob"); contract columns are matched first and never dropped. Words below match
# anywhere in the header ("Caller's phone", "OfficerInCase"); the short words of _IDENTIFIER_TOKENS
# only as a whole word of it ("OIC", "Tel no", "victim_age"), so that "hotel", "choice" or "damage"
# are not taken for them.
_IDENTIFIER_WORDS = (
    # names and people
    "name", "surname", "forename", "initials", "complainant", "witness", "caller", "informant", "reportedby",
    "reportingperson", "contact", "nextofkin", "guardian", "carer", "spouse", "partner",
    # officers (an officer in the case names a person, and narrows a report to a handful)
    "officer", "investigator", "collarnumber", "warrantnumber", "shouldernumber", "payroll",
    # addresses and places a person lives or was
    "address", "street", "housenumber", "houseno", "postcode", "postalcode", "zipcode", "uprn",
    "(?<!al)location", "locality", "venue", "premises", "whereabouts", "gridref", "latitude", "longitude",
    "coordinates", "easting", "northing", "geocode", "what3words",
    # contact details
    "phone", "mobile", "email", "contactno", "contactnumber", "contactdetails", "telno", "telnumber",
    # birth and age
    "dob", "dateofbirth", "birth",
    # official numbers
    "nationalinsurance", "ninumber", "nino", "passport", "drivinglicen", "licenceno", "pncid", "cronumber",
    "vrm", "vehiclereg", "numberplate", "ipaddress",
    # free text, whatever it is called
    "note", "freetext", "comment", "narrative", "summary", "description", "remark", "details", "detail",
    "modusoperandi", "occurrencetext", "circumstances", "observation", "information", "synopsis", "statement",
    "memo", "message", "annotation", "transcript", "story",
)
_IDENTIFIER_WHOLE = (
    "victim", "suspect", "offender", "person", "tel", "telephone", "mo", "flat", "flatno", "flatnumber",
    "age", "victimage", "victimsage", "ageofvictim", "ageyears", "ageinyears", "victimageyears", "exactage",
    "ni", "cro", "pnc",
    "registration", "reg", "text", "zip", "ip",
)
# Short words that identify when they are a whole word of the header, wherever it stands.
_IDENTIFIER_TOKENS = frozenset({
    "oic", "tel", "mo", "ni", "cro", "pnc", "reg", "zip", "ip", "age", "dob", "nok", "pc", "ds", "dc", "di",
    "text", "info", "log", "desc", "obs", "update", "account", "lat", "lon", "lng", "geo", "gps", "flat", "who",
})
IDENTIFIER_PATTERN = re.compile(
    "|".join(sorted(set(_IDENTIFIER_WORDS), key=len, reverse=True))
    + "|" + "|".join(rf"^{w}$" for w in _IDENTIFIER_WHOLE)
)
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
HEADER_ROW = 1  # the header is the first line a person sees; data start on line 2
HEADER_SEARCH_LINES = 10
CSV_CHUNK_ROWS = 200_000
# The delimiters a CSV export uses, with the name a person knows them by.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
# Characters that show as nothing (zero-width spaces and joiners, byte-order marks, soft hyphens).
# Zero-width and soft characters, and the bidirectional controls (U+200E/F, U+061C, U+202A-E,
# U+2066-9), which reverse how text displays and split one place into several.
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u061c\u202a-\u202e"
                       "\u2066-\u2069]")


@dataclass(frozen=True)
class InputLimits:
    """The largest input the run accepts; beyond these a file is refused, not read.

    The limits protect the machine from a file that would exhaust its memory (an extract
    exported with every column, or an Excel "zip bomb"). Raise them with the ``input_limits``
    parameter when a real file is larger.
    """

    max_rows: int = 2_000_000
    max_columns: int = 500
    max_xlsx_uncompressed_mb: float = 1000.0  # 1 GB, in megabytes of 10**6 bytes

    def __post_init__(self) -> None:
        for name in ("max_rows", "max_columns", "max_xlsx_uncompressed_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"input_limits: {name} must be a positive number, not {value!r}")

    @classmethod
    def from_parameters(cls, values: "InputLimits | Mapping | None") -> "InputLimits":
        """Limits from the ``input_limits`` parameter (a mapping); missing keys keep their defaults."""
        if values is None:
            return cls()
        if isinstance(values, cls):
            return values
        unknown = set(values) - {"max_rows", "max_columns", "max_xlsx_uncompressed_mb"}
        if unknown:
            raise ValueError(f"input_limits: unknown setting(s) {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in values.items() if v is not None})


def normalise_text(text: str) -> str:
    """Text as a person reads it: invisible characters removed, NFKC, single spaces, trimmed.

    NFKC turns compatibility forms into their plain letters (a non-breaking space into a space,
    full-width "Ｗ０１" into "W01"), so that values that look the same compare the same.
    """
    text = INVISIBLE.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def header_key(name: object) -> str:
    """A header as the contract compares it: lower case, no spaces, hyphens or underscores."""
    return re.sub(r"[\s\-_]+", "", normalise_text(str(name))).casefold()


def identifier_key(name: object) -> str:
    """A header as the identifier pattern sees it: lower-case letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", normalise_text(str(name)).casefold())


def header_words(name: object) -> list[str]:
    """The words of a header: split at anything but letters and digits, and where camelCase turns."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])", " ", normalise_text(str(name)))
    return [word for word in re.split(r"[^0-9a-z]+", text.casefold()) if word]


def is_identifier_header(name: object) -> bool:
    """Whether a header names a column that identifies a person or holds free text (checked after the
    contract's names): by the words it contains, not only its exact spelling."""
    key = identifier_key(name)
    if not key:
        return False
    return IDENTIFIER_PATTERN.search(key) is not None or any(word in _IDENTIFIER_TOKENS for word in header_words(name))


def column_letter(position: int) -> str:
    """The spreadsheet letter of a 0-based column position: 0 -> A, 27 -> AB."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


@dataclass
class InputTable:
    """One input file read as text, with its provenance.

    ``data`` has contract column names where a header matched one, and a ``source_row``
    column giving the line a person sees in a spreadsheet or text editor. ``notes`` says how
    the file was read when that was not the plain default (another delimiter or encoding, a
    sheet chosen among several, dates stored as numbers). For a workbook, ``sheet`` is the
    sheet read and ``sheet_reason`` why it was the one.
    """

    path: Path
    data: pd.DataFrame
    sha256: str
    size_bytes: int
    dropped_identifier_columns: list[str] = field(default_factory=list)
    header_line: int = HEADER_ROW
    notes: list[str] = field(default_factory=list)
    sheet: str | None = None
    sheet_reason: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """The file as a message names it: with the sheet that was read, for a workbook."""
        return sheet_label(self.path.name, self.sheet)


def sheet_label(file: str, sheet: str | None) -> str:
    return file if sheet is None else f"{file} (sheet '{sheet}')"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_input(path: Path | str, contract_columns: list[str], *, sheet: str | None = None,
               required: list[str] | None = None, limits: InputLimits = InputLimits(),
               date_columns: tuple[str, ...] = (), sheet_option: str = "--allocation-sheet or --extract-sheet"
               ) -> InputTable:
    """Read a CSV or Excel input file, normalise its headers and drop identifier columns.

    Parameters
    ----------
    path
        The file an evaluator handed over.
    contract_columns
        The column names the input contract defines for this file.
    sheet
        For Excel, the sheet to read, hidden or not; None chooses among the visible sheets
        (:func:`choose_sheet`), never a hidden one.
    required
        The contract's required columns: when the first line lacks them but a later line among
        the first few has them all (a title or merged header rows above the real header), that
        line is the header and the lines above it are skipped. In a workbook, the sheets that
        have them are the ones that could hold the data.
    limits
        The largest file accepted (rows, columns, uncompressed size of a workbook).
    date_columns
        The contract's date columns: in a workbook, a number in one of them (a date cell
        formatted as a number) is read as the date it stands for, and said so in ``notes``.
    sheet_option
        The command-line option that names this file's sheet, for messages.

    Raises
    ------
    InputError
        The file is missing or not a regular file, empty, too big, not a CSV or Excel file,
        has clashing headers; a workbook names no such sheet, or its data cells hold formulas
        with no saved value, Excel errors or merged cells.
    """
    path = Path(path)
    limits = InputLimits.from_parameters(limits)
    check_input_file(path)
    raw = _read_bytes(path)
    notes: list[str] = []
    suffix = path.suffix.lower()
    delimiter, widths = None, {}  # CSV: the delimiter, and the values on each of the first lines
    workbook = None
    if suffix in EXCEL_SUFFIXES:
        if not raw.strip():
            raise InputError([Problem(path.name, "the file is empty")])
        workbook = _read_excel(path, raw, sheet, limits, required, sheet_option)
        frame = workbook.frame
        notes += workbook.notes
    elif suffix in CSV_SUFFIXES:
        frame, delimiter, widths = _read_csv(path, raw, limits, notes)
    elif suffix == ".xls":
        raise InputError([Problem(path.name, "this is an old Excel 97-2003 (.xls) workbook; "
                                             "save it as an Excel .xlsx workbook or as CSV UTF-8")])
    else:
        raise InputError([Problem(path.name, "expected a .csv or .xlsx file")])
    label = sheet_label(path.name, workbook.name if workbook else None)
    frame = frame[~blank_rows(frame)]  # blank rows are skipped, but still counted in the index
    if len(frame) == 0:
        raise InputError([Problem(label, "the file is empty")])
    header_position = _find_header(frame, required)
    header_line = int(frame.index[header_position]) + 1
    if header_line - 1 in widths:
        _refuse_long_lines(frame, header_position, widths[header_line - 1], path.name, delimiter)
    header, body = list(frame.iloc[header_position]), frame.iloc[header_position + 1:]
    if workbook is not None:  # header cells as text, as every other cell becomes below
        header = [_excel_cell(cell) for cell in header]
    body, dropped, kept = _normalise_headers(body, header, contract_columns, label)
    if workbook is not None:
        contract = {position: name for position, name in kept.items() if name in contract_columns}
        _refuse_unreadable_cells(workbook, header_line - 1, contract, label)
        body = _excel_values(body, date_columns, workbook.epoch, label, notes)
    _check_size(label, "data rows", len(body), limits.max_rows, "max_rows")
    if len(body) == 0:  # rows, not cells: a sheet whose columns were all dropped still has rows
        raise InputError([Problem(label, "the file has a header but no data rows")])
    # The index counts every line of the file from 0 (blank ones included), so the line a
    # person sees in a spreadsheet or editor is the index plus one.
    body.insert(0, "source_row", (body.index.to_numpy() + 1).astype("int64"))
    return InputTable(path, body.reset_index(drop=True), sha256_of(path), len(raw), dropped, header_line, notes,
                      sheet=workbook.name if workbook else None, sheet_reason=workbook.reason if workbook else None)


# --- what the path is ---------------------------------------------------------------------------

def check_input_file(path: Path) -> None:
    """Refuse anything but a regular file before opening it: a named pipe would block the run
    and a device such as /dev/zero would be read forever.

    Raises
    ------
    InputError
        The path does not exist, or is a folder, a named pipe, a device or a socket.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError([Problem(path.name, f"the file does not exist (looked for {path})")])
    except OSError as exc:
        raise InputError([Problem(path.name, f"the file cannot be reached ({exc.strerror})")])
    kinds = [(stat.S_ISDIR, "is a folder, not a file"), (stat.S_ISFIFO, "is a named pipe, not a file"),
             (stat.S_ISCHR, "is a device, not a file"), (stat.S_ISBLK, "is a device, not a file"),
             (stat.S_ISSOCK, "is a socket, not a file")]
    for test, description in kinds:
        if test(mode):
            raise InputError([Problem(path.name, f"{path} {description}")])
    if not stat.S_ISREG(mode):
        raise InputError([Problem(path.name, f"{path} is not a regular file")])


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError:
        raise InputError([Problem(path.name, "the file cannot be read (permission denied)")])
    except OSError as exc:
        raise InputError([Problem(path.name, f"the file cannot be read ({exc.strerror or exc})")])


def _check_size(file: str, what: str, measured: float, limit: float, setting: str, unit: str = "",
                *, at_least: bool = False) -> None:
    if measured > limit:
        raise InputError([Problem(file, (
            f"the file is too big: {'at least ' if at_least else ''}{measured:,.0f}{unit} {what}, more than the "
            f"limit of {limit:,.0f}{unit}; "
            f"if the file is right, raise the limit with the input_limits parameter ({setting})"))])


# --- CSV ------------------------------------------------------------------------------------------

def _read_csv(path: Path, raw: bytes, limits: InputLimits, notes: list[str]):
    """The file's lines as text cells, the delimiter, and how many values each of the first
    few lines has (by line index)."""
    text = _decode(path.name, raw, notes)
    if not normalise_text(text):
        raise InputError([Problem(path.name, "the file is empty")])
    first_lines = _first_lines(text)
    delimiter = _sniff_delimiter(first_lines)
    if delimiter != ",":
        notes.append(f"{path.name}: read as {DELIMITERS[delimiter]}-separated values (the header line is "
                     f"separated by {DELIMITERS[delimiter]}s, not commas)")
    widths = {index: len(next(csv.reader([line], delimiter=delimiter))) for index, line in first_lines.items()}
    width = max(widths.values())
    _check_size(path.name, "columns", width, limits.max_columns, "max_columns")
    fast = _read_csv_with_pyarrow(text, delimiter, width)
    if fast is not None:
        return _collect_chunks(path.name, [fast], limits), delimiter, widths
    try:
        chunks = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, names=range(width), dtype=str,
                             keep_default_na=False, skip_blank_lines=False, chunksize=CSV_CHUNK_ROWS)
        return _collect_chunks(path.name, chunks, limits), delimiter, widths
    except pd.errors.ParserError as exc:
        raise InputError([Problem(path.name, _parser_message(str(exc), delimiter))])
    except pd.errors.EmptyDataError:
        raise InputError([Problem(path.name, "the file is empty")])


def _read_csv_with_pyarrow(text: str, delimiter: str, width: int) -> pd.DataFrame | None:
    """The cells of a well-formed file as text, read by pyarrow's CSV reader (several times faster than
    pandas' on a large extract), or None when the file is not one pyarrow reads exactly as pandas does:
    a line with more or fewer values than the widest of the first lines, or a blank line. pandas then
    reads it, and names any problem."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [str(i) for i in range(width)]
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    frame = table.to_pandas()
    frame.columns = range(width)
    return frame


def _collect_chunks(file: str, chunks, limits: InputLimits) -> pd.DataFrame:
    """Parse chunk by chunk, stopping as soon as the file has more rows than the limit allows
    (the header and the few title lines above it count too), so that a huge file is not parsed whole."""
    kept, rows = [], 0
    ceiling = limits.max_rows + 1 + HEADER_SEARCH_LINES
    for chunk in chunks:
        chunk = chunk.fillna("")
        chunk = chunk[~blank_rows(chunk)]
        rows += len(chunk)
        if rows > ceiling:  # even with the most title lines, more data rows than the limit
            _check_size(file, "data rows", rows - 1 - HEADER_SEARCH_LINES, limits.max_rows, "max_rows",
                        at_least=True)
        kept.append(chunk)
    return pd.concat(kept) if kept else pd.DataFrame()


def _parser_message(error: str, delimiter: str) -> str:
    if match := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", error):
        expected, line, seen = match.groups()
        return (f"not a well-formed CSV file: line {line} has {seen} values but the lines above have {expected} "
                f"(a value containing a {DELIMITERS[delimiter]} must be in double quotes)")
    return f"not a well-formed CSV file ({error})"


def _refuse_long_lines(frame: pd.DataFrame, header_position: int, width: int, file: str, delimiter: str) -> None:
    """Lines with values beyond the header line's last: an unquoted delimiter inside a value
    would otherwise shift the rest of the line into the wrong columns."""
    body = frame.iloc[header_position + 1:, width:]
    longer = (body != "").any(axis=1)
    if longer.any():
        raise InputError([Problem(file, (
            f"more values than the header line has ({width}); a value containing a {DELIMITERS[delimiter]} "
            "must be in double quotes"), rows=tuple(int(i) + 1 for i in body.index[longer]))])


def _decode(file: str, raw: bytes, notes: list[str]) -> str:
    """The file's text, from UTF-8 (with or without a byte-order mark) or UTF-16/32 with one."""
    for bom, encoding, name in ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
                                (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16", "UTF-16")):
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                raise InputError([Problem(file, f"the file starts as {name} text but is not valid {name}; "
                                                "save it as 'CSV UTF-8' and try again")])
            notes.append(f"{file}: decoded as {name} text (as Excel's 'Unicode text' saves it)")
            return _refuse_binary(file, text)
    if raw[:2] == b"PK":
        raise InputError([Problem(file, "this is a zip file (perhaps an Excel workbook named .csv), not a CSV "
                                        "text file; give it the .xlsx name or export it as 'CSV UTF-8'")])
    head = raw[:4096]
    if b"\x00" in head:
        odd, even = head[1::2], head[0::2]
        if len(head) > 8 and (odd.count(0) > 0.9 * len(odd) or even.count(0) > 0.9 * len(even)):
            raise InputError([Problem(file, "the file looks like UTF-16 text without a byte-order mark; "
                                            "save it as 'CSV UTF-8' and try again")])
        if _mostly_binary(head.count(0), len(head)):
            raise InputError([Problem(file, "this is a binary file, not a CSV text file")])
    try:
        return _refuse_binary(file, raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError([Problem(file, (
            f"the file is not UTF-8 text: the byte 0x{raw[exc.start]:02X} on line {line} is not valid UTF-8 "
            "(the file is probably in a Windows or Latin-1 encoding, which cannot be told apart reliably); "
            "save it as 'CSV UTF-8' and try again"))])


def _refuse_binary(file: str, text: str) -> str:
    head = text[:4096]
    if _mostly_binary(head.count("\x00"), len(head)):
        raise InputError([Problem(file, "this is a binary file, not a CSV text file")])
    return text


def _mostly_binary(nul_bytes: int, length: int) -> bool:
    """Whether NUL bytes are a binary file's (many) rather than a stray one in a text file (a value that the
    contract check then refuses by row and column)."""
    return nul_bytes > max(1, length // 100) or (nul_bytes > 0 and length < 100)


def _first_lines(text: str) -> dict[int, str]:
    """The first few non-blank lines by index: the header and any title lines above it."""
    lines = {}
    for index, line in enumerate(io.StringIO(text)):
        if normalise_text(line):
            lines[index] = line
            if len(lines) > HEADER_SEARCH_LINES:
                break
    return lines


def _sniff_delimiter(lines: dict[int, str]) -> str:
    """The delimiter the header line uses: the candidate found most often outside quotes."""
    unquoted = [re.sub(r'"[^"]*"', "", line) for line in lines.values()]
    counts = {d: max(line.count(d) for line in unquoted) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: (counts[d], d == ","))  # a tie, or none at all: comma


# --- Excel ----------------------------------------------------------------------------------------

@dataclass
class Workbook:
    """The sheet of a workbook that was read: its cells, which sheet and why, and what cannot be read.

    ``frame`` holds each cell's value as openpyxl gives it (text, number, date; "" when empty),
    row and column positions those of the sheet (row 0 is line 1, column 0 is A). ``errors``,
    ``uncached`` and ``merged`` locate the cells whose value is not in the file: Excel errors
    (#N/A), formulas never calculated, and merged ranges.
    """

    frame: pd.DataFrame
    name: str
    reason: str
    epoch: object
    notes: list[str] = field(default_factory=list)
    errors: list[tuple[int, int, str]] = field(default_factory=list)
    uncached: list[tuple[int, int]] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)


def _read_excel(path: Path, raw: bytes, sheet: str | None, limits: InputLimits, required: list[str] | None,
                option: str) -> Workbook:
    if raw[:2] != b"PK":
        raise InputError([Problem(path.name, "this is not an Excel .xlsx workbook")])
    _check_workbook_size(path, limits)
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types for a corrupt workbook
        raise InputError([Problem(path.name, f"this is not a readable Excel workbook ({type(exc).__name__})")])
    try:  # openpyxl parses a sheet as it is read: a corrupt sheet raises here, named as unreadable
        return _read_book(book, path, sheet, limits, required, option)
    except InputError:
        raise
    except Exception as exc:
        raise InputError([Problem(path.name, f"this is not a readable Excel workbook ({type(exc).__name__})")])
    finally:
        book.close()


def _read_book(book, path: Path, sheet: str | None, limits: InputLimits, required: list[str] | None,
               option: str) -> Workbook:
    chosen, reason, notes = choose_sheet(book, path.name, sheet, required, option)
    frame, errors = _sheet_cells(chosen, path.name, limits)
    uncached, merged = _sheet_markup(path, chosen._worksheet_path)
    return Workbook(frame, chosen.title, reason, book.epoch, notes, errors, uncached, merged)


def choose_sheet(book, file: str, sheet: str | None, required: list[str] | None, option: str):
    """The sheet to read, why, and the notes a person should see about the choice.

    A named sheet is read whether visible or hidden. Otherwise only visible sheets are candidates
    (a hidden sheet is often a draft or a lookup table): those whose first lines hold the required
    columns could be the data. One such sheet is read; of several, the active one (shown when
    the workbook was last saved), else the first, and the notes say which were passed over;
    with none, the first visible sheet with any content, so that the missing columns are named.
    """
    sheets = list(book.worksheets)
    describe = lambda ws: f"'{ws.title}'" + ("" if ws.sheet_state == "visible" else " (hidden)")
    listing = ", ".join(describe(ws) for ws in sheets)
    if sheet is not None:
        match = [ws for ws in sheets if ws.title == sheet] or \
            [ws for ws in sheets if normalise_text(ws.title).casefold() == normalise_text(sheet).casefold()]
        if not match:
            raise InputError([Problem(file, f"cannot read the sheet: the workbook has no sheet named '{sheet}'; its "
                                            f"sheets are {listing}")])
        hidden = match[0].sheet_state != "visible"
        return match[0], "named with " + option.split(" or ")[0] + (", although it is hidden" if hidden else ""), (
            [f"{file}: read the hidden sheet '{match[0].title}', as named"] if hidden else [])
    visible = [ws for ws in sheets if ws.sheet_state == "visible"]
    hidden = [ws for ws in sheets if ws.sheet_state != "visible"]
    if not visible:
        raise InputError([Problem(file, f"every sheet of the workbook is hidden ({listing}); name the sheet that "
                                        f"holds the data with {option}")])
    holds = (lambda ws: _holds_columns(ws, required)) if required else (lambda ws: _has_content(ws))
    candidates = [ws for ws in visible if holds(ws)]
    notes: list[str] = []
    wanted = ", ".join(required or [])
    if len(candidates) == 1:
        chosen = candidates[0]
        reason = ("the workbook's only visible sheet" if len(visible) == 1 else
                  f"the only visible sheet with the required columns ({wanted})" if required else
                  "the only visible sheet with content")
    elif candidates:
        active = book.active
        chosen = active if any(ws is active for ws in candidates) else candidates[0]
        others = ", ".join(f"'{ws.title}'" for ws in candidates if ws is not chosen)
        why = "the active sheet (the one shown when the workbook was last saved)" if chosen is active else \
            "the first of them, none being the active sheet"
        reason = (f"{why}, of {len(candidates)} visible sheets with the required columns (also {others}); "
                  f"name another with {option}")
        notes.append(f"{file}: {len(candidates)} visible sheets have the required columns; read '{chosen.title}', "
                     f"{why}; the others ({others}) were not read: name the right one with {option} if it is not "
                     "this one")
    else:
        chosen = next((ws for ws in visible if _has_content(ws)), visible[0])
        reason = (f"the first visible sheet with content; no visible sheet has all the required columns ({wanted})"
                  if required else "the first visible sheet with content")
    if hidden:
        with_columns = [ws for ws in hidden if required and _holds_columns(ws, required)]
        described = ", ".join(f"'{ws.title}'" + (" (which has the required columns)" if ws in with_columns else "")
                              for ws in hidden)
        notes.append(f"{file}: read the sheet '{chosen.title}' ({reason}); the hidden sheet(s) {described} were not "
                     f"read: a hidden sheet is read only when named with {option}")
    return chosen, reason, notes


PEEK_ROWS = 50  # lines of a sheet looked at for the header when choosing a sheet


def _peek(ws) -> list[tuple]:
    ws.reset_dimensions()  # a workbook's declared dimensions can be too small
    return [row for row in ws.iter_rows(min_row=1, max_row=PEEK_ROWS, values_only=True)
            if any(v is not None and normalise_text(str(v)) for v in row)]


def _holds_columns(ws, required: list[str]) -> bool:
    """Whether one of the sheet's first non-blank lines holds every required column's header."""
    wanted = {header_key(c) for c in required}
    return any(wanted <= {header_key(v) for v in row if v is not None} for row in _peek(ws)[:HEADER_SEARCH_LINES + 1])


def _has_content(ws) -> bool:
    return bool(_peek(ws))


def _sheet_cells(ws, file: str, limits: InputLimits) -> tuple[pd.DataFrame, list[tuple[int, int, str]]]:
    """Every cell's value (text, number or date; "" when empty), and where the Excel errors are (#N/A, #REF!)."""
    ws.reset_dimensions()  # the dimensions a workbook declares can be wrong: read every row there is
    rows, errors = [], []
    for row_index, row in enumerate(ws.iter_rows()):
        values = []
        for column_index, cell in enumerate(row):
            value = cell.value
            if value is None:
                values.append("")
            elif cell.data_type == "e":
                errors.append((row_index, column_index, str(value)))
                values.append("")
            else:
                values.append(value)
        while values and values[-1] == "":
            values.pop()
        if len(values) > limits.max_columns:
            _check_size(sheet_label(file, ws.title), "columns", len(values), limits.max_columns, "max_columns")
        rows.append(values)
    while rows and not rows[-1]:
        rows.pop()
    width = max((len(r) for r in rows), default=0)
    frame = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object) if rows else pd.DataFrame()
    return frame, errors


_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")
_MERGED_RANGE = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Za-z]+\d+(?::[A-Za-z]+\d+)?)\"")
XML_CHUNK = 1 << 24


def _sheet_markup(path: Path, part: str) -> tuple[list[tuple[int, int]], list[str]]:
    """The cells of a sheet's XML that hold a formula with no saved value, and its merged ranges.

    A workbook written by a program (a script, a web export) can hold formulas that no
    spreadsheet has calculated: the file then has no value for them, and a reader sees a blank.
    The XML is scanned in chunks for a formula tag first; only a sheet that has one is parsed.
    """
    found_formula, merged, tail = False, set(), b""
    with zipfile.ZipFile(path) as book, book.open(part) as xml:
        while chunk := xml.read(XML_CHUNK):
            block = tail + chunk
            found_formula = found_formula or _FORMULA_TAG.search(block) is not None
            merged.update(ref.decode("ascii").upper() for ref in _MERGED_RANGE.findall(block))
            tail = block[-512:]
    uncached = _uncached_formulas(path, part) if found_formula else []
    return uncached, sorted(merged)


def _uncached_formulas(path: Path, part: str) -> list[tuple[int, int]]:
    """(row, column), 0-based, of every formula cell whose value was never saved (no ``<v>``, or an empty one
    where the formula does not yield text)."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.utils.cell import coordinate_to_tuple

    local = lambda tag: tag.rsplit("}", 1)[-1]
    found, row, column = [], 0, 0
    with zipfile.ZipFile(path) as book, book.open(part) as xml:
        for event, element in iterparse(xml, events=("start", "end")):
            tag = local(element.tag)
            if event == "start":
                if tag == "row":
                    row, column = int(element.get("r", row + 1)), 0
                continue
            if tag == "c":
                reference = element.get("r")
                row, column = coordinate_to_tuple(reference) if reference else (row, column + 1)
                formula = value = None
                for child in element:
                    name = local(child.tag)
                    formula = child if name == "f" else formula
                    value = child if name == "v" else value
                text_type = element.get("t") in ("str", "inlineStr")
                if formula is not None and (value is None or (not (value.text or "") and not text_type)):
                    found.append((row - 1, column - 1))
                element.clear()
            elif tag == "row":
                element.clear()
    return found


MAX_CELLS_NAMED = 8


def _cell_list(cells: list[tuple[int, int]]) -> str:
    from openpyxl.utils import get_column_letter

    names = [f"{get_column_letter(c + 1)}{r + 1}" for r, c in sorted(cells)]
    shown = ", ".join(names[:MAX_CELLS_NAMED])
    return shown + (f", ... ({len(names)} cells)" if len(names) > MAX_CELLS_NAMED else "")


UNCACHED = ("hold a formula with no saved value ({cells}): the workbook was written by a program and never opened "
            "and saved in a spreadsheet, so the file does not hold what the formulas compute (a reader would see "
            "blanks); open the workbook in Excel or LibreOffice and save it, or export the sheet as CSV")
ERRORS = "hold an Excel error ({kinds}) instead of a value ({cells}): the formulas that fill them failed; correct them in the workbook"


def _refuse_unreadable_cells(workbook: Workbook, header_index: int, contract: dict[int, str], label: str) -> None:
    """Refuse cells whose value the file does not hold, in the header line and in the contract's columns below it
    (``contract``: their labels by position): formulas never calculated, Excel errors, and merged ranges (only
    their first cell has a value). Other columns are never read, so what they hold does not matter."""
    from openpyxl.utils.cell import range_boundaries

    groups: dict[tuple[str, int | None], list[tuple[int, int, str]]] = {}
    for kind, cells in (("uncached", [(r, c, "") for r, c in workbook.uncached]), ("errors", workbook.errors)):
        for r, c, value in cells:
            if r == header_index:  # the header names the columns: any unreadable cell there is refused
                groups.setdefault((kind, None), []).append((r, c, value))
            elif r > header_index and c in contract:
                groups.setdefault((kind, c), []).append((r, c, value))
    problems = []
    for (kind, c), cells in sorted(groups.items(), key=lambda item: (item[0][0], -1 if item[0][1] is None
                                                                     else item[0][1])):
        positions = [(r, column) for r, column, _ in cells]
        text = (UNCACHED if kind == "uncached" else ERRORS).format(
            cells=_cell_list(positions), kinds=", ".join(sorted({v for _, _, v in cells})))
        where = "" if c is not None else "the header line's "
        problems.append(Problem(label, f"{len(cells)} of {where}cell(s) {text}" if where else f"{len(cells)} cell(s) "
                                f"{text}", None if c is None else contract[c], tuple(sorted({r + 1 for r, _ in positions}))))
    for reference in workbook.merged:
        first_col, first_row, last_col, last_row = range_boundaries(reference)
        rows = [r for r in range(first_row - 1, last_row) if r > header_index]
        columns = [c for c in range(first_col - 1, last_col) if c in contract]
        if rows and columns:
            problems.append(Problem(label, (
                f"cells {reference} are merged: a spreadsheet keeps a merged range's value in its first cell and "
                "leaves the others empty, so the rows it spans cannot be read; unmerge the cells (Excel: Home > Merge "
                "& Center > Unmerge Cells) and fill in every row"), contract[columns[0]], tuple(r + 1 for r in rows)))
    if problems:
        raise InputError(problems)


# Excel counts dates in days from its epoch; a date cell formatted as a number shows that count.
SERIAL_DATE_YEARS = (1990, 2100)  # serial numbers read as dates only when they fall in these years


def _excel_values(body: pd.DataFrame, date_columns: tuple[str, ...], epoch, label: str,
                  notes: list[str]) -> pd.DataFrame:
    """Cells as cleaning reads them: dates as dates, everything else as text; a number in a date column (a
    date cell formatted as a number) as the date it counts, in the workbook's own date system, said in ``notes``."""
    from openpyxl.utils.datetime import from_excel

    body = body.copy()
    for column in date_columns:
        if column not in body:
            continue
        values = body[column]
        numeric = values.map(_is_number).astype(bool)
        if not numeric.any():
            continue
        dates = {}
        for number in values[numeric].unique():
            try:
                moment = from_excel(float(number), epoch)
            except (OverflowError, ValueError, TypeError):
                continue
            if moment is not None and SERIAL_DATE_YEARS[0] <= moment.year < SERIAL_DATE_YEARS[1]:
                dates[number] = pd.Timestamp(moment).normalize()
        converted = values.map(lambda v: _is_number(v) and v in dates).astype(bool)
        if not converted.any():
            continue
        body.loc[converted, column] = values[converted].map(dates.__getitem__)
        example = values[converted].iloc[0]
        notes.append(f"{label}, column '{column}': {int(converted.sum())} date(s) were stored as numbers (Excel serial "
                     f"dates, counted in days from {pd.Timestamp(epoch).date()}, this workbook's date system) and were "
                     f"read as the dates they count (for example {example:g} as {dates[example].date()}); format the "
                     "column as dates in the workbook to keep them as dates")
    return body.map(_excel_cell)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# A part of an .xlsx that inflates more than this many times its compressed size is a zip bomb: the
# XML of real workbooks compresses 5 to 30 times, a sheet of one repeated value at most some 200 times.
MAX_COMPRESSION_RATIO = 1_000
MAX_WORKBOOK_PARTS = 10_000


def _check_workbook_size(path: Path, limits: InputLimits) -> None:
    """Sum the uncompressed sizes the zip directory declares for every part of the archive, whatever its
    name, before openpyxl inflates anything: a small .xlsx can expand to gigabytes (a zip bomb), and a
    worksheet part need not end in .xml. A part that inflates far beyond what XML does is refused too.
    (Reading a part never yields more than its declared size: Python's zip reader stops there.)"""
    try:
        with zipfile.ZipFile(path) as book:
            parts = book.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError([Problem(path.name, f"this is not a readable Excel workbook ({exc})")])
    if not any(p.filename == "xl/workbook.xml" for p in parts):
        raise InputError([Problem(path.name, "this is a zip file but not an Excel .xlsx workbook")])
    if len(parts) > MAX_WORKBOOK_PARTS:
        raise InputError([Problem(path.name, f"the workbook's archive holds {len(parts):,} parts, more than a "
                                             f"workbook has (the limit is {MAX_WORKBOOK_PARTS:,})")])
    megabytes = sum(p.file_size for p in parts) / 1e6
    _check_size(path.name, "uncompressed", megabytes, limits.max_xlsx_uncompressed_mb,
                "max_xlsx_uncompressed_mb", unit=" MB")
    inflated = [p for p in parts if p.file_size > 1_000_000 and p.file_size > MAX_COMPRESSION_RATIO * max(p.compress_size, 1)]
    if inflated:
        raise InputError([Problem(path.name, f"the workbook's part {inflated[0].filename[:80]!r} inflates "
                                             f"{inflated[0].file_size / max(inflated[0].compress_size, 1):,.0f} times "
                                             "its stored size, which no spreadsheet does (a zip bomb); it was not read")])


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


# --- rows and headers -----------------------------------------------------------------------------

def blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is empty, spaces or invisible characters (as a spreadsheet leaves them).

    Column by column, only rows not yet known to hold a value are looked at: the first column
    settles almost every row, so this costs about one column's worth of work.
    """
    blank = np.ones(len(frame), dtype=bool)
    for position in range(frame.shape[1]):
        if not blank.any():
            break
        cells = frame.iloc[blank, position].fillna("")
        text = cells.astype(str) if cells.dtype == object else cells
        filled = text.str.strip() != ""
        invisible = filled & text.str.contains(INVISIBLE.pattern, regex=True)
        if invisible.any():  # a cell of only zero-width spaces is blank too
            filled[invisible] = text[invisible].map(normalise_text) != ""
        blank[np.flatnonzero(blank)[filled.to_numpy(dtype=bool)]] = False
    return blank


def _find_header(frame: pd.DataFrame, required: list[str] | None) -> int:
    """The position of the header: the first non-blank line, unless it lacks the required
    columns and one of the next few lines has them all (a title above the real header)."""
    if not required:
        return 0
    wanted = {header_key(c) for c in required}
    for position in range(min(HEADER_SEARCH_LINES + 1, len(frame))):
        if wanted <= {header_key(c) for c in frame.iloc[position]}:
            return position
    return 0


def _normalise_headers(body: pd.DataFrame, header: list, contract_columns: list[str], file: str):
    """Name the columns by the contract and drop every column that could identify a person.

    Returns the named columns, the dropped ones (described), and the kept columns' labels by
    their position in the file. Contract columns are matched first and never dropped. A column without a header but with
    values is dropped too (nothing says what it holds); a column with neither is blank and
    ignored. Every dropped column is listed, by its header or by its letter.
    """
    by_key = {header_key(c): c for c in contract_columns}
    names = [normalise_text(str(h)) if not isinstance(h, pd.Timestamp) else str(h.date()) for h in header]
    keep: list[int] = []
    labels: list[str] = []
    dropped: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    repeated = {n for n in names if n and names.count(n) > 1}
    for position, name in enumerate(names):
        where = f"column {column_letter(position)}"
        contract = by_key.get(header_key(name)) if name else None
        if contract is None and not name:
            if _column_has_values(body, position):
                dropped.append(f"{where} (no header)")
            continue
        if contract is None and is_identifier_header(name):
            dropped.append(f"{name} ({where})" if name in repeated else name)
            continue
        label = contract or (f"{name} ({where})" if name in repeated or name == "source_row" else name)
        if contract and contract in seen:
            problems.append(Problem(file, f"the headers '{seen[contract]}' and '{name}' are the same column",
                                    contract))
            continue
        seen[label] = name
        keep.append(position)
        labels.append(label)
    if problems:
        raise InputError(problems)
    data = body.iloc[:, keep].copy()
    data.columns = labels
    return data, dropped, dict(zip(keep, labels))


def _column_has_values(body: pd.DataFrame, position: int) -> bool:
    cells = body.iloc[:, position]
    return bool(len(cells)) and not blank_rows(cells.to_frame()).all()
