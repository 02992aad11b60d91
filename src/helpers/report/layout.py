"""Column widths of the report's tables, measured in the report's own font.

A table laid out with ``table-layout: fixed`` takes its column widths from the first row (here,
a ``<colgroup>``) instead of measuring every cell, which is most of WeasyPrint's time on an
automatic layout; but it then never widens a column for its content. So the widths are measured
here, once, from the text of the cells: a column of numbers is as wide as its widest number on
one line (numbers never wrap), a column of text at least as wide as its longest word (words never
break), and the rest of the page is shared among the text columns.

Widths are in ``em`` of the table's font, so the same widths hold on screen and in print. Text
is measured in DejaVu Sans, the report's first font (matplotlib ships it, so it is always there to
measure); the fallbacks (Arial, Helvetica, Liberation Sans) are narrower, so a width measured
in DejaVu Sans is never too small.
"""
from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

# The page's text width in em of the table font (8.5 pt): A4 less 16 mm margins each side is
# 178 mm = 504.6 pt, portrait; 265 mm = 751.2 pt, landscape. A little is kept back for rounding.
TABLE_FONT_PT = 8.5
PORTRAIT_EM = 504.6 / TABLE_FONT_PT - 0.4
LANDSCAPE_EM = 751.2 / TABLE_FONT_PT - 0.4
CELL_PADDING_EM = 1.2 + 0.1  # 0.6 em each side (the template's th, td), and a margin for kerning

# A cell that holds only numbers and the words that go with them ("0.783 (0.606 to 1.011)",
# "54/125 (43.2%)", "p < 0.001", "not estimable", "<5", "£259"): it is set on one line.
NUMBER = r"[−+-]?[£$]?\d[\d,]*(?:\.\d+)?%?"
_NUMERIC_WORDS = r"to|no|lower|upper|limit|not|estimable|suppressed|unbounded|p"
_NUMERIC_CELL = re.compile(rf"(?:\s*(?:{NUMBER}|(?:{_NUMERIC_WORDS})\b|[()/,;:<>=≤≥±×–—*]))+\s*", re.I)
# Where a long word may wrap: after the dots, underscores and slashes of names and paths.
_WRAP_AFTER = re.compile(r"(?<=[._/])(?=[A-Za-z])")
# A line may also wrap after the hyphen of a compound word ("Holm-adjusted"), as browsers do.
_HYPHEN = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])")
_HASH = re.compile(r"[0-9a-f]{32,}")


def is_numeric(text: str) -> bool:
    """True for a cell of numbers (with their units, intervals and "not estimable"), set on one line."""
    return bool(text.strip()) and _NUMERIC_CELL.fullmatch(text) is not None


@functools.cache
def _font(bold: bool):
    from matplotlib import ft2font
    from matplotlib.font_manager import FontProperties, findfont

    font = ft2font.FT2Font(findfont(FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal")))
    font.set_size(100, 72)  # 100 px to the em: advances in 1/65536 px
    return font


@functools.cache
def _advance(character: str, bold: bool) -> float:
    from matplotlib import ft2font

    glyph = _font(bold).load_char(ord(character), flags=ft2font.LoadFlags.NO_HINTING)
    return glyph.linearHoriAdvance / 65536 / 100


def has_hash(text: str) -> bool:
    """True for text holding a long hexadecimal hash (a SHA-256, a commit): its cell may wrap it anywhere
    (the template's ``td.hash``), as a hash is read by copying, not across a line."""
    return _HASH.search(text) is not None


def _stable(text: str) -> str:
    """The text as measured: a hash as zeros of its length ('0' is the widest of its glyphs), so that the
    widths do not change with the hash, only with its length."""
    return _HASH.sub(lambda run: "0" * len(run.group()), text)


def with_wrap_points(text: str) -> str:
    """The text escaped as HTML, with ``<wbr>`` where a long name or path may wrap (after '.', '_', '/')."""
    return "<wbr>".join(html.escape(piece) for piece in _WRAP_AFTER.split(text))


def text_width(text: str, *, bold: bool = False) -> float:
    """Width of a line of text, in em (the sum of the glyphs' advances; no kerning, which only narrows)."""
    return sum(_advance(character, bold) for character in _stable(text))


def longest_word(text: str, *, bold: bool = False) -> float:
    """Width of the widest piece of the text that cannot wrap (see :func:`with_wrap_points`), in em; a
    hash, which may wrap anywhere, counts as 16 of its characters."""
    text = _HASH.sub(lambda run: " " + "0" * 16 + " ", text)
    pieces = re.split(r"\s+", _HYPHEN.sub("- ", _WRAP_AFTER.sub(" ", text)))
    return max((text_width(piece, bold=bold) for piece in pieces if piece), default=0.0)


@dataclass(frozen=True)
class Layout:
    """How a table is set: each column's width (em), which columns hold numbers, and on what page."""

    widths: tuple[float, ...]
    numeric: tuple[bool, ...]
    landscape: bool = False

    @property
    def width(self) -> float:
        return sum(self.widths)


def column_layout(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Layout | None:
    """The widths that set every number on one line and no word across two, or None if none fit a page.

    A portrait page first, then a landscape one. Numeric columns take at least the width of their
    widest cell, text columns of their longest word; the columns share what is left of the page
    (see :func:`_share`) up to the width of their longest line, heading included.
    """
    if not header:  # nothing to measure: the table takes the page's width, so that its caption does
        return None
    columns = list(zip(*rows)) if rows else [() for _ in header]
    numeric = tuple(any(cell.strip() for cell in cells) and all(is_numeric(cell) or cell.strip() in ("", "–")
                                                                 for cell in cells)
                    for cells in columns)
    least, most = [], []
    for title, cells, is_number in zip(header, columns, numeric):
        # A heading may wrap between words; given the room, it is set on one line.
        heading, heading_line = longest_word(title, bold=True), text_width(title, bold=True)
        fill = text_width if is_number else longest_word
        least.append(max([heading, *(fill(cell) for cell in cells)]) + CELL_PADDING_EM)
        most.append(max([heading_line, *(text_width(cell) for cell in cells)]) + CELL_PADDING_EM)
    for page, landscape in ((PORTRAIT_EM, False), (LANDSCAPE_EM, True)):
        widths = _share(least, most, page)
        if widths is not None:
            return Layout(tuple(round(w, 2) for w in widths), numeric, landscape)
    return None


def _share(least: list[float], most: list[float], page: float) -> list[float] | None:
    """Each column's least width, and the room left shared out fairly: a column that wants less than
    an equal share gets all it wants (so a short column is never wrapped to widen a long one), and
    the columns that want more share the rest equally."""
    if sum(least) > page:
        return None
    if sum(most) <= page:
        return list(most)
    widths, room = list(least), page - sum(least)
    waiting = sorted(range(len(least)), key=lambda i: most[i] - least[i])
    while waiting:
        share = room / len(waiting)
        column = waiting.pop(0)
        given = min(most[column] - least[column], share)
        widths[column] += given
        room -= given
    return widths
