"""Errors that carry a message meant for the person who supplied the data."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

MAX_ROWS_SHOWN = 10
MAX_PROBLEMS_SHOWN = 50


def format_rows(rows: Sequence[int]) -> str:
    """Row numbers as a person reads them: '4, 9 and 12' or '4, 9, 12, ... (40 rows)'."""
    rows = sorted(set(int(r) for r in rows))
    if len(rows) == 1:
        return f"row {rows[0]}"
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
    if len(rows) > MAX_ROWS_SHOWN:
        return f"rows {shown}, ... ({len(rows)} rows)"
    head, _, last = shown.rpartition(", ")
    return f"rows {head} and {last}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    Row numbers are the lines a person sees when opening the file (the header is line 1).
    """

    file: str
    message: str
    column: str | None = None
    rows: tuple[int, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        where = [self.file]
        if self.column:
            where.append(f"column '{self.column}'")
        if self.rows:
            where.append(format_rows(self.rows))
        return f"{', '.join(where)}: {self.message}"


class InputError(Exception):
    """The input files break the input contract; the run must stop with no outputs.

    Holds every problem found, so that the person fixing the files sees them all at once.
    """

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"The run cannot start: the inputs break their contract ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"  ... and {len(self.problems) - MAX_PROBLEMS_SHOWN} more of the same kinds")
        return "\n".join(lines)


class ProblemList:
    """Collects problems while validating, then raises them together."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, file: str, message: str, column: str | None = None, rows=()) -> None:
        self.problems.append(Problem(file, message, column, tuple(int(r) for r in rows)))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.problems)


class StageFileError(Exception):
    """A stage file that does not follow its model: edited by hand, or written by another version of srceval.

    The run stops with exit code 2 and the file's name, as for bad input: the stages must be run again.
    """

    exit_code = 2
