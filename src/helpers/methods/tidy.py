"""The one shape every estimator returns: a tidy row with its interval and its method, inside its
parameter space; and the shape of a test that gives p-values without an interval."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Iterable

import pandas as pd

TIDY_COLUMNS = ["outcome", "estimand", "estimate", "std_error", "conf_low", "conf_high", "p_value", "df",
                "conf_level", "design", "method", "n", "reason"]
# The fields of a row without the design and level it is stamped with: as the outcome entries of results.json
# (``itt.odds_ratio``, ``itt.adjusted``) and pooled.json carry it; the tidy table's rows carry all.
UNSTAMPED_FIELDS = ("outcome", "estimand", "estimate", "conf_low", "conf_high", "method", "n", "std_error", "p_value",
                    "reason", "statistic", "df")


@dataclass(frozen=True)
class Estimate:
    """One estimate of one estimand for one outcome.

    ``std_error`` and ``p_value`` are None where the method gives none (an exact or
    bootstrap interval has no standard error). ``reason`` says why an estimate is None (not
    estimable on these data) or why an interval end is None (unbounded) or was truncated.
    ``statistic`` is the statistic of the test that gave ``p_value`` when that test is not the
    Wald test of the estimate over its standard error (a score test, say); ``df`` the degrees of
    freedom of a t interval and test (None: the normal distribution's). ``design`` is the assignment
    of the design the estimator assumed ("complete", "simple", "blocked", "cluster") and ``conf_level``
    the level of the interval (:meth:`under` stamps both).
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
    design: str | None = None
    conf_level: float | None = None

    @classmethod
    def not_estimable(cls, outcome: str, estimand: str, method: str, n: int, reason: str) -> "Estimate":
        """An estimand the data cannot support: every number None, with the reason."""
        return cls(outcome, estimand, None, None, None, method, int(n), reason=f"not estimable: {reason}")

    def under(self, design: str, conf_level: float) -> "Estimate":
        """The row stamped with the design's assignment it was estimated under and its confidence level."""
        return replace(self, design=design, conf_level=conf_level)

    def as_dict(self) -> dict:
        return {**{k: clean(v) for k, v in asdict(self).items()}, "statistic": self.test_statistic}

    def unstamped(self) -> dict:
        """The row without its design and level (:data:`UNSTAMPED_FIELDS`)."""
        row = self.as_dict()
        return {key: row[key] for key in UNSTAMPED_FIELDS}

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
                 "df", "conf_level", "design", "method", "n", "prespecified", "reason"]


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


def estimates_table(estimates: Iterable[Estimate], *, exploratory: Iterable[str] = ()) -> pd.DataFrame:
    """The tidy table of a stage: :func:`tidy` with the statistic of the test each p-value comes from
    (None beside no p-value) and whether the analysis plan named each estimand (``exploratory`` lists
    those it did not); each row carries its design and confidence level."""
    estimates = list(estimates)
    rows = tidy(estimates)
    rows["statistic"] = [e.test_statistic for e in estimates]
    rows["prespecified"] = ~rows["estimand"].isin(list(exploratory))
    return rows[TABLE_COLUMNS]


@dataclass(frozen=True)
class PValues:
    """A test with p-values and no interval (Fisher's exact test, randomisation inference): the two-sided
    p-value, the one-sided one in the outcome's pre-stated direction, the method, and ``reason`` when
    the test was not computed (every p-value then None)."""

    two_sided: float | None
    one_sided: float | None
    method: str
    reason: str | None = None


# --------------------------------------------------------------------------------------------
# Intervals inside the parameter space
# --------------------------------------------------------------------------------------------

def truncate_interval(low: float, high: float, lower: float, upper: float) -> tuple[float, float, str | None]:
    """An interval cut to its parameter space [lower, upper], with a note when it was cut."""
    cut_low, cut_high = max(low, lower), min(high, upper)
    if (cut_low, cut_high) == (low, high):
        return low, high, None
    return cut_low, cut_high, f"interval truncated to the parameter space [{lower:g}, {upper:g}]"


def within(estimate: Estimate, lower: float = -1.0, upper: float = 1.0) -> Estimate:
    """A difference kept in its parameter space: the interval cut to [lower, upper] (and said so); not
    estimable when the estimate lies outside, has no standard error, or its interval collapses onto an edge."""
    if estimate.estimate is None:
        return estimate
    if not lower <= estimate.estimate <= upper:
        return Estimate.not_estimable(estimate.outcome, estimate.estimand, estimate.method, estimate.n,
                                      f"the estimate ({estimate.estimate:.2f}) lies outside [{lower:g}, {upper:g}]")
    if not (estimate.std_error and estimate.std_error > 0):
        return Estimate.not_estimable(estimate.outcome, estimate.estimand, estimate.method, estimate.n,
                                      "the standard error is zero or undefined on these data")
    low, high, reason = truncate_interval(estimate.conf_low, estimate.conf_high, lower, upper)
    if high - low <= 1e-9:
        return Estimate.not_estimable(estimate.outcome, estimate.estimand, estimate.method, estimate.n,
                                      "the interval collapses onto the edge of the parameter space")
    reasons = "; ".join(r for r in (estimate.reason, reason) if r) or None
    return replace(estimate, conf_low=low, conf_high=high, reason=reasons)
