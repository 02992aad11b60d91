"""The two arms of a trial, as every estimator family reads them: counts by arm, differences of means
between the arms (plain or block-weighted), and why the arms cannot be compared.

Reports with no outcome recorded are left out of every comparison; ``assigned`` is the arm
allocated (1 SRC, 0 business as usual) and ``received`` whether the contact was made.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.methods.design import UNIT

NO_DELIVERY_CONTRAST = "the contact was no more often delivered in the SRC arm than in the business-as-usual arm"


@dataclass(frozen=True)
class TwoByTwo:
    """Event counts by arm for one outcome, among reports with an outcome recorded."""

    treatment_events: int
    treatment_n: int
    control_events: int
    control_n: int

    @classmethod
    def from_data(cls, data: pd.DataFrame, outcome: str, treatment: str = "assigned") -> "TwoByTwo":
        known = data[data[outcome].notna()]
        y, z = known[outcome].astype(int), known[treatment].astype(int)
        return cls(int(y[z == 1].sum()), int((z == 1).sum()), int(y[z == 0].sum()), int((z == 0).sum()))

    @property
    def treatment_risk(self) -> float:
        return self.treatment_events / self.treatment_n if self.treatment_n else float("nan")

    @property
    def control_risk(self) -> float:
        return self.control_events / self.control_n if self.control_n else float("nan")

    @property
    def empty_arm(self) -> str | None:
        """Why no comparison is possible (an arm with no outcome recorded), or None."""
        empty = [arm for arm, n in (("SRC", self.treatment_n), ("business-as-usual", self.control_n)) if n == 0]
        return f"no {' or '.join(empty)} report has an outcome recorded" if empty else None

    @property
    def n(self) -> int:
        return self.treatment_n + self.control_n

    @property
    def table(self) -> np.ndarray:
        """Rows treatment, control; columns event, no event (the layout of Table2x2)."""
        return np.array([[self.treatment_events, self.treatment_n - self.treatment_events],
                         [self.control_events, self.control_n - self.control_events]])


def risk_or_none(value: float) -> float | None:
    """A risk, or None when it is undefined or outside [0, 1] (a moment estimate in a small arm)."""
    return float(value) if np.isfinite(value) and 0 <= value <= 1 else None


def known(data: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The reports with the outcome recorded."""
    return data[data[outcome].notna()]


def instrument_problem(z: np.ndarray, d: np.ndarray) -> str | None:
    """Why the allocation cannot instrument the contact on these data, or None."""
    if min((z == 1).sum(), (z == 0).sum()) < 2:
        return "an arm has fewer than two reports with an outcome recorded, too few for a variance"
    if d[z == 1].mean() - d[z == 0].mean() <= 0:
        return NO_DELIVERY_CONTRAST
    return None


def cluster_problem(known_rows: pd.DataFrame, treatment: str, cluster: str) -> str | None:
    """Why a cluster-randomised comparison cannot be made on these reports, or None."""
    if known_rows[cluster].isna().any():
        return "a report has no cluster recorded"
    arms = known_rows.groupby(cluster)[treatment].nunique()
    if (arms > 1).any():
        split = int((arms > 1).sum())  # counted, not named: the allocation audit names those it may
        return (f"{'a cluster has' if split == 1 else f'{split} clusters have'} reports in both arms, so the "
                "allocation was not by cluster (the allocation audit names those with enough reports to be named)")
    per_arm = known_rows.groupby(treatment)[cluster].nunique()
    if len(per_arm) < 2 or per_arm.min() < 2:
        return "an arm has fewer than two clusters, too few for a cluster-robust variance"
    return None


def weighted_difference(values: np.ndarray | pd.Series, known_rows: pd.DataFrame, block: str = UNIT) -> float:
    """Block-size-weighted difference in means of ``values`` (SRC minus BAU); NaN if a block lacks an arm."""
    frame = pd.DataFrame({"v": np.asarray(values, dtype=float), "z": known_rows["assigned"].to_numpy(dtype=int),
                          "b": known_rows[block].to_numpy()})
    means = frame.groupby(["b", "z"])["v"].mean().unstack("z")
    if means.shape[1] < 2 or means.isna().to_numpy().any():
        return float("nan")
    sizes = frame.groupby("b").size().reindex(means.index)
    return float(((means[1] - means[0]) * sizes).sum() / sizes.sum())


def plain_difference(values: np.ndarray | pd.Series, known_rows: pd.DataFrame) -> float:
    """Difference in means of ``values`` between the arms (SRC minus BAU); NaN if an arm is empty."""
    v, z = np.asarray(values, dtype=float), known_rows["assigned"].to_numpy(dtype=int)
    return float(v[z == 1].mean() - v[z == 0].mean()) if (z == 1).any() and (z == 0).any() else float("nan")
