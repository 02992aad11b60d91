"""The building blocks of every machine-readable file the tool writes: closed objects, typed numbers.

Every object is closed (an unknown key is an error), except a map whose keys come from the data
(the contact modes, an outcome's notes), which says so with ``dict[str, ...]``. No number is NaN
or infinite: a figure the data cannot support is null, with the reason beside it. The JSON
Schemas of these files are generated from the models (``python -m helpers.pipeline.models``).
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Closed(BaseModel):
    """An object with exactly the keys its model names, and finite numbers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)


NOT_ESTIMABLE = "why a figure here is null (not estimable), or why its interval is cut or unbounded"

Count = Annotated[int, Field(ge=0)]
Probability = Annotated[float, Field(ge=0, le=1)]
Difference = Annotated[float, Field(ge=-1, le=1)]
Ratio = Annotated[float, Field(ge=0)]
Reduction = Annotated[float, Field(le=1)]
PValue = Annotated[float, Field(ge=0, le=1)]
Reason = Annotated[str | None, Field(description=NOT_ESTIMABLE)]

_INTERVAL = "[low, high] at the run's confidence level; an end that is null is unbounded or not estimable"
ProbabilityInterval = Annotated[tuple[Probability | None, Probability | None], Field(description=_INTERVAL)]
DifferenceInterval = Annotated[tuple[Difference | None, Difference | None], Field(description=_INTERVAL)]
RatioInterval = Annotated[tuple[Ratio | None, Ratio | None], Field(description=_INTERVAL)]
ReductionInterval = Annotated[tuple[Reduction | None, Reduction | None], Field(description=_INTERVAL)]
Interval = Annotated[tuple[float | None, float | None], Field(description=_INTERVAL)]

Assignment = Literal["complete", "simple", "blocked", "cluster"]
Direction = Literal["decrease", "increase"]


class Pair(Closed):
    """A count in each arm."""

    treatment: Count
    control: Count


class Skipped(Closed):
    """An analysis not run, and why."""

    analysis: str
    reason: str
