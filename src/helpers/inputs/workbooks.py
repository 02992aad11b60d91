"""Reading an Excel workbook: choosing the sheet, and refusing cells that cannot be read as values.

A sheet is read as openpyxl gives its cells; formulas with no saved value, Excel errors and merged
cells in the contract's columns are refused with the cells named; numbers in date columns are read
as the dates they stand for. :func:`helpers.inputs.reading.read_input` is the entry point.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers.errors import InputError, Problem
from helpers.inputs.headers import HEADER_SEARCH_LINES, header_key, normalise_text, sheet_label
from helpers.inputs.limits import InputLimits, check_size


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


def read_excel(path: Path, raw: bytes, sheet: str | None, limits: InputLimits, required: list[str] | None,
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
            check_size(sheet_label(file, ws.title), "columns", len(values), limits.max_columns, "max_columns")
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


def refuse_unreadable_cells(workbook: Workbook, header_index: int, contract: dict[int, str], label: str) -> None:
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


def excel_values(body: pd.DataFrame, date_columns: tuple[str, ...], epoch, label: str,
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
    return body.map(excel_cell)


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
    check_size(path.name, "uncompressed", megabytes, limits.max_xlsx_uncompressed_mb,
                "max_xlsx_uncompressed_mb", unit=" MB")
    inflated = [p for p in parts if p.file_size > 1_000_000 and p.file_size > MAX_COMPRESSION_RATIO * max(p.compress_size, 1)]
    if inflated:
        raise InputError([Problem(path.name, f"the workbook's part {inflated[0].filename[:80]!r} inflates "
                                             f"{inflated[0].file_size / max(inflated[0].compress_size, 1):,.0f} times "
                                             "its stored size, which no spreadsheet does (a zip bomb); it was not read")])


def excel_cell(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value
    if hasattr(value, "year") and hasattr(value, "month"):  # datetime.date / datetime
        return pd.Timestamp(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
