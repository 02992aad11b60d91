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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.errors import InputError, Problem
from helpers.inputs.headers import (
    HEADER_SEARCH_LINES,
    INVISIBLE,
    column_letter,
    header_key,
    is_identifier_header,
    normalise_text,
    sheet_label,
)
from helpers.inputs.limits import InputLimits, check_size
from helpers.inputs.workbooks import excel_cell, excel_values, read_excel, refuse_unreadable_cells

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
HEADER_ROW = 1  # the header is the first line a person sees; data start on line 2
CSV_CHUNK_ROWS = 200_000
# The delimiters a CSV export uses, with the name a person knows them by.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}


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
        workbook = read_excel(path, raw, sheet, limits, required, sheet_option)
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
        header = [excel_cell(cell) for cell in header]
    body, dropped, kept = _normalise_headers(body, header, contract_columns, label)
    if workbook is not None:
        contract = {position: name for position, name in kept.items() if name in contract_columns}
        refuse_unreadable_cells(workbook, header_line - 1, contract, label)
        body = excel_values(body, date_columns, workbook.epoch, label, notes)
    check_size(label, "data rows", len(body), limits.max_rows, "max_rows")
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
    check_size(path.name, "columns", width, limits.max_columns, "max_columns")
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
            check_size(file, "data rows", rows - 1 - HEADER_SEARCH_LINES, limits.max_rows, "max_rows",
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
