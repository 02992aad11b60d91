"""The one shape every estimator returns: a tidy row with its interval and its method."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import pandas as pd

TIDY_COLUMNS = ["outcome", "estimand", "estimate", "std_error", "conf_low", "conf_high", "p_value", "method", "n",
                "reason"]


@dataclass(frozen=True)
class Estimate:
    """One estimate of one estimand for one outcome.

    ``std_error`` and ``p_value`` are None where the method gives none (an exact or
    bootstrap interval has no standard error). ``reason`` says why an estimate is None (not
    estimable on these data) or why an interval end is None (unbounded) or was truncated.
    """

    outcome: str
    estimand: str
    estimate: float | None
    conf_low: float | None
    conf_high: float | None
    method: str
    n: int
    std_error: float | None = None
    p_value: float | None = None
    reason: str | None = None

    @classmethod
    def not_estimable(cls, outcome: str, estimand: str, method: str, n: int, reason: str) -> "Estimate":
        """An estimand the data cannot support: every number None, with the reason."""
        return cls(outcome, estimand, None, None, None, method, int(n), reason=f"not estimable: {reason}")

    def as_dict(self) -> dict:
        return {k: clean(v) for k, v in asdict(self).items()}

    @property
    def interval(self) -> list[float | None]:
        return [clean(self.conf_low), clean(self.conf_high)]


def clean(value):
    """Plain Python numbers for JSON; NaN and infinity become None."""
    if value is None or isinstance(value, (str, bool)):
        return value
    value = float(value) if not isinstance(value, int) else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def tidy(estimates: Iterable[Estimate]) -> pd.DataFrame:
    """Stack estimates into one table, one row each, in the columns of :data:`TIDY_COLUMNS`."""
    return pd.DataFrame([e.as_dict() for e in estimates], columns=TIDY_COLUMNS)


# The tidy table of a stage, in the order of R's estimatr (``estimand`` is its ``term``, per outcome).
TABLE_COLUMNS = ["outcome", "estimand", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high",
                 "conf_level", "method", "n", "prespecified", "reason"]


# Estimands on the ratio scale, whose std_error is that of the log ratio.
RATIO_ESTIMANDS = frozenset({"risk_ratio", "odds_ratio"})


def statistic(estimate: float | None, std_error: float | None, estimand: str) -> float | None:
    """The estimate over its standard error, against no effect: on the log scale for a ratio, whose
    ``std_error`` is that of the log ratio; None where the method gives no standard error."""
    if estimate is None or std_error is None or not std_error > 0:
        return None
    if estimand in RATIO_ESTIMANDS:
        return clean(math.log(estimate) / std_error) if estimate > 0 else None
    return clean(estimate / std_error)


def estimates_table(estimates: Iterable[Estimate], *, conf_level: float, exploratory: Iterable[str] = ()) -> pd.DataFrame:
    """The tidy table of a stage: :func:`tidy` with the statistic, the confidence level and whether the
    analysis plan named each estimand (``exploratory`` lists those it did not)."""
    rows = tidy(estimates)
    rows["statistic"] = [statistic(e, se, name) for e, se, name in
                         zip(rows["estimate"], rows["std_error"], rows["estimand"])]
    rows["conf_level"] = conf_level
    rows["prespecified"] = ~rows["estimand"].isin(list(exploratory))
    return rows[TABLE_COLUMNS]
