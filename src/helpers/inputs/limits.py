"""The largest input a run reads: its limits, and the refusal of a file beyond them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from helpers.errors import InputError, Problem


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


def check_size(file: str, what: str, measured: float, limit: float, setting: str, unit: str = "",
                *, at_least: bool = False) -> None:
    if measured > limit:
        raise InputError([Problem(file, (
            f"the file is too big: {'at least ' if at_least else ''}{measured:,.0f}{unit} {what}, more than the "
            f"limit of {limit:,.0f}{unit}; "
            f"if the file is right, raise the limit with the input_limits parameter ({setting})"))])
