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


# What each kind of validation error says, in words (the value itself is never quoted).
_ERRORS = {"dict_type": "is not an object", "model_type": "is not an object", "model_attributes_type":
           "is not an object", "list_type": "is not a list", "tuple_type": "is not a list of two",
           "int_type": "is not a whole number", "float_type": "is not a number", "string_type": "is not text",
           "bool_type": "is not true or false", "missing": "is missing", "extra_forbidden": "is not a field of this form",
           "literal_error": "is not one of the values allowed", "finite_number": "is not a finite number"}


def describe_errors(error, shown: int = 3) -> str:
    """A pydantic ``ValidationError`` in words: its first problems, each the field's path and what is wrong."""
    problems = []
    for item in error.errors()[:shown]:
        where = ".".join(str(part) for part in item["loc"]) or "the top level"
        context = item.get("ctx") or {}
        if item["type"] in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
            bound = next(iter(context.values()), "")
            what = {"less_than_equal": "is more than", "greater_than_equal": "is less than",
                    "less_than": "is not less than", "greater_than": "is not more than"}[item["type"]]
            problems.append(f"{where} {what} {bound}")
        else:
            problems.append(f"{where} {_ERRORS.get(item['type'], item['msg'].lower())}")
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
