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
    the file was read when that was not the plain default (another delimiter or encoding).
    """

    path: Path
    data: pd.DataFrame
    sha256: str
    size_bytes: int
    dropped_identifier_columns: list[str] = field(default_factory=list)
    header_line: int = HEADER_ROW
    notes: list[str] = field(default_factory=list)

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
               required: list[str] | None = None, limits: InputLimits = InputLimits()) -> InputTable:
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
    limits
        The largest file accepted (rows, columns, uncompressed size of a workbook).

    Raises
    ------
    InputError
        The file is missing or not a regular file, empty, too big, not a CSV or Excel file,
        or has clashing headers.
    """
    path = Path(path)
    limits = InputLimits.from_parameters(limits)
    check_input_file(path)
    raw = _read_bytes(path)
    notes: list[str] = []
    suffix = path.suffix.lower()
    delimiter, widths = None, {}  # CSV: the delimiter, and the values on each of the first lines
    if suffix in EXCEL_SUFFIXES:
        if not raw.strip():
            raise InputError([Problem(path.name, "the file is empty")])
        frame = _read_excel(path, raw, sheet, limits)
    elif suffix in CSV_SUFFIXES:
        frame, delimiter, widths = _read_csv(path, raw, limits, notes)
    elif suffix == ".xls":
        raise InputError([Problem(path.name, "this is an old Excel 97-2003 (.xls) workbook; "
                                             "save it as an Excel .xlsx workbook or as CSV UTF-8")])
    else:
        raise InputError([Problem(path.name, "expected a .csv or .xlsx file")])
    frame = frame[~blank_rows(frame)]  # blank rows are skipped, but still counted in the index
    if len(frame) == 0:
        raise InputError([Problem(path.name, "the file is empty")])
    header_position = _find_header(frame, required)
    header_line = int(frame.index[header_position]) + 1
    if header_line - 1 in widths:
        _refuse_long_lines(frame, header_position, widths[header_line - 1], path.name, delimiter)
    header, body = list(frame.iloc[header_position]), frame.iloc[header_position + 1:]
    body, dropped = _normalise_headers(body, header, contract_columns, path.name)
    _check_size(path.name, "data rows", len(body), limits.max_rows, "max_rows")
    if len(body) == 0:  # rows, not cells: a sheet whose columns were all dropped still has rows
        raise InputError([Problem(path.name, "the file has a header but no data rows")])
    # The index counts every line of the file from 0 (blank ones included), so the line a
    # person sees in a spreadsheet or editor is the index plus one.
    body.insert(0, "source_row", (body.index.to_numpy() + 1).astype("int64"))
    return InputTable(path, body.reset_index(drop=True), sha256_of(path), len(raw), dropped, header_line, notes)


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
    if "\x00" in text[:4096]:
        raise InputError([Problem(file, "this is a binary file, not a CSV text file")])
    return text


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

def _read_excel(path: Path, raw: bytes, sheet: str | None, limits: InputLimits) -> pd.DataFrame:
    if raw[:2] != b"PK":
        raise InputError([Problem(path.name, "this is not an Excel .xlsx workbook")])
    _check_workbook_size(path, limits)
    try:
        frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, header=None, dtype=object,
                              engine="openpyxl")
    except ValueError as exc:  # unknown sheet name
        raise InputError([Problem(path.name, f"cannot read the sheet ({exc})")])
    except Exception as exc:  # openpyxl raises many types for a corrupt workbook
        raise InputError([Problem(path.name, f"this is not a readable Excel workbook ({type(exc).__name__})")])
    _check_size(path.name, "columns", frame.shape[1], limits.max_columns, "max_columns")
    frame = frame.dropna(how="all")
    if frame.empty and sheet is None:
        _refuse_empty_first_sheet(path)
    # Keep Excel date cells as dates, everything else as text; blanks become "".
    return frame.map(_excel_cell)


def _refuse_empty_first_sheet(path: Path) -> None:
    """An empty first sheet (a cover page) with the data on another: name them and how to choose one."""
    from openpyxl import load_workbook

    try:
        names = load_workbook(path, read_only=True).sheetnames
    except Exception:  # noqa: BLE001 - the workbook read above; a second read that fails adds nothing
        return
    if len(names) > 1:
        raise InputError([Problem(path.name, f"the first sheet ('{names[0]}') is empty; the workbook's sheets are "
                                             f"{', '.join(repr(n) for n in names)}: name the one with the data with "
                                             "--allocation-sheet or --extract-sheet")])


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

    Contract columns are matched first and never dropped. A column without a header but with
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
    return data, dropped


def _column_has_values(body: pd.DataFrame, position: int) -> bool:
    cells = body.iloc[:, position]
    return bool(len(cells)) and not blank_rows(cells.to_frame()).all()
