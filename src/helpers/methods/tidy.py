"""The one shape every estimator returns: a tidy row with its interval and its method."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import pandas as pd

TIDY_COLUMNS = ["outcome", "estimand", "estimate", "std_error", "conf_low", "conf_high", "p_value", "df", "method",
                "n", "reason"]


@dataclass(frozen=True)
class Estimate:
    """One estimate of one estimand for one outcome.

    ``std_error`` and ``p_value`` are None where the method gives none (an exact or
    bootstrap interval has no standard error). ``reason`` says why an estimate is None (not
    estimable on these data) or why an interval end is None (unbounded) or was truncated.
    ``statistic`` is the statistic of the test that gave ``p_value`` when that test is not the
    Wald test of the estimate over its standard error (a score test, say); ``df`` the degrees of
    freedom of a t interval and test (None: the normal distribution's).
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
    statistic: float | None = None
    df: float | None = None

    @classmethod
    def not_estimable(cls, outcome: str, estimand: str, method: str, n: int, reason: str) -> "Estimate":
        """An estimand the data cannot support: every number None, with the reason."""
        return cls(outcome, estimand, None, None, None, method, int(n), reason=f"not estimable: {reason}")

    def as_dict(self) -> dict:
        return {**{k: clean(v) for k, v in asdict(self).items()}, "statistic": self.test_statistic}

    @property
    def test_statistic(self) -> float | None:
        """The statistic of the test whose p-value the estimate carries, and None without a p-value: the
        test's own (:attr:`statistic`), else the estimate over its standard error (a Wald or t test; on
        the log scale for a ratio, whose ``std_error`` is that of the log ratio)."""
        if self.p_value is None:
            return None
        if self.statistic is not None:
            return clean(self.statistic)
        return statistic(self.estimate, self.std_error, self.estimand)

    @property
    def interval(self) -> list[float | None]:
        return [clean(self.conf_low), clean(self.conf_high)]


ZERO = 1e-12  # a number this close to zero is zero: rounding error, never a finding (and no -0.0)


def clean(value):
    """Plain Python numbers for JSON; NaN and infinity become None, and a number within
    :data:`ZERO` of zero (1.7e-18, -0.0) becomes 0."""
    if value is None or isinstance(value, (str, bool)):
        return value
    value = float(value) if not isinstance(value, int) else value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if abs(value) < ZERO:
            return 0.0
    return value


def tidy(estimates: Iterable[Estimate]) -> pd.DataFrame:
    """Stack estimates into one table, one row each, in the columns of :data:`TIDY_COLUMNS`."""
    return pd.DataFrame([e.as_dict() for e in estimates], columns=TIDY_COLUMNS)


# The tidy table of a stage, in the order of R's estimatr (``estimand`` is its ``term``, per outcome).
TABLE_COLUMNS = ["outcome", "estimand", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high",
                 "df", "conf_level", "method", "n", "prespecified", "reason"]


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
    """The tidy table of a stage: :func:`tidy` with the statistic of the test each p-value comes from
    (None beside no p-value), the confidence level and whether the analysis plan named each estimand
    (``exploratory`` lists those it did not)."""
    estimates = list(estimates)
    rows = tidy(estimates)
    rows["statistic"] = [e.test_statistic for e in estimates]
    rows["conf_level"] = conf_level
    rows["prespecified"] = ~rows["estimand"].isin(list(exploratory))
    return rows[TABLE_COLUMNS]
