"""Is the allocation a strong enough instrument? The first-stage F, and the Anderson-Rubin confidence set
for the complier effect, which stays valid however weak the instrument is.

Part of the complier family (:mod:`helpers.methods.complier`), under every design: robust variances
of the arms' differences in means (complete, simple), the blocked estimator's variances (blocked),
CR2 variances (cluster).

References
----------
Anderson, T. W. & Rubin, H. (1949). Estimation of the parameters of a single equation in a
    complete system of stochastic equations. Annals of Mathematical Statistics 20, 46-63.
Staiger, D. & Stock, J. H. (1997). Instrumental variables regression with weak instruments.
    Econometrica 65, 557-586.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from helpers.methods.arms import NO_DELIVERY_CONTRAST, known, plain_difference, weighted_difference
from helpers.methods.design import COMPLETE, UNIT, Design
from helpers.methods.differences import blocked_difference_in_means, cluster_difference_in_means
from helpers.methods.identification import not_an_effect

WEAK_INSTRUMENT_F = 10  # Staiger & Stock (1997): a first-stage F below this marks a weak instrument
NOT_ESTIMABLE = {"interval": [None, None], "shape": "not estimable"}


def anderson_rubin(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
                   identification: dict | None = None) -> dict:
    """The Anderson-Rubin set for the complier effect and the first-stage F under ``design``.

    The set credits SRC with an effect, so it is not estimable when the allocation did not change
    delivery (``identification``); the first stage is still given.
    """
    if design.individual:
        result = anderson_rubin_interval(data, outcome, conf_level=conf_level)
    else:
        rows = known(design.with_units(data), outcome)
        if design.blocked:
            result = design_anderson_rubin(
                rows, outcome, lambda frame, column: blocked_difference_in_means(frame, column, block=UNIT,
                                                                                 conf_level=conf_level),
                point=lambda values: weighted_difference(values, rows), conf_level=conf_level,
                method="Anderson-Rubin confidence set, blocked difference-in-means variances")
        else:
            result = design_anderson_rubin(
                rows, outcome, lambda frame, column: cluster_difference_in_means(frame, column, cluster=UNIT,
                                                                                 conf_level=conf_level),
                point=lambda values: plain_difference(values, rows), conf_level=conf_level,
                method="Anderson-Rubin confidence set, CR2 cluster-robust variances")
    why = not_an_effect(identification)
    if why and result["interval"] != [None, None]:
        return {**result, **NOT_ESTIMABLE, "reason": f"not estimable: {why}"}
    return result


def anderson_rubin_set(itt_y: float, itt_d: float, v_yy: float, v_yd: float, v_dd: float,
                       critical: float) -> tuple[str, list]:
    """The complier effects b not rejected by the Anderson-Rubin test, and the set's shape.

    b is kept when (itt_y - b itt_d)^2 <= critical var(itt_y - b itt_d), a quadratic inequality:
    (itt_d^2 - q v_dd) b^2 - 2 (itt_y itt_d - q v_yd) b + (itt_y^2 - q v_yy) <= 0. Its solution
    is an interval, two rays, or every value (Anderson & Rubin 1949).
    """
    a = itt_d ** 2 - critical * v_dd
    b = -2 * (itt_y * itt_d - critical * v_yd)
    c = itt_y ** 2 - critical * v_yy
    discriminant = b * b - 4 * a * c
    if (a > 0 and discriminant >= 0) or (a < 0 and discriminant > 0):
        roots = sorted(((-b - np.sqrt(discriminant)) / (2 * a), (-b + np.sqrt(discriminant)) / (2 * a)))
        shape = "interval" if a > 0 else "two rays: below the first and above the second value"
        return shape, [float(roots[0]), float(roots[1])]
    return "every value: the data cannot bound the effect", [None, None]


def anderson_rubin_interval(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                            received: str = "received", conf_level: float = 0.95) -> dict:
    """Confidence set for the complier effect that stays valid when the instrument is weak.

    Anderson & Rubin (1949), with a binary instrument: the effect b is kept when the
    intention-to-treat effect on Y - b D is not significant, i.e. when
    (itt_y - b itt_d)^2 <= z^2 (v_yy - 2 b v_yd + b^2 v_dd), with v the robust variances and
    covariance of the two difference-in-means. Solving the quadratic in b gives an interval, the
    outside of one (two rays), or every value: the last two say the data cannot bound the effect.
    Reported with the first-stage F statistic (weak below 10; Staiger & Stock 1997).
    """
    alpha = 1 - conf_level
    rows = known(data, outcome)
    y, z, d = (rows[c].astype(float).to_numpy() for c in (outcome, treatment, received))
    t, c = z == 1, z == 0
    method = "Anderson-Rubin confidence set, robust variances (Anderson & Rubin 1949)"
    if min(t.sum(), c.sum()) < 2:
        return {**NOT_ESTIMABLE, "first_stage_f": None, "weak_instrument": None, "method": method,
                "reason": "not estimable: an arm has fewer than two reports with an outcome"}
    itt_y, itt_d = y[t].mean() - y[c].mean(), d[t].mean() - d[c].mean()

    def covariance(a, b):
        return sum(np.cov(a[arm], b[arm], ddof=1)[0, 1] / arm.sum() for arm in (t, c))

    v_yy, v_dd, v_yd = covariance(y, y), covariance(d, d), covariance(y, d)
    critical = stats.norm.ppf(1 - alpha / 2) ** 2
    first_stage_f, weak, reason = first_stage(itt_d, v_dd)
    if itt_d <= 0:  # the allocation does not raise delivery: no complier effect to bound
        return {**NOT_ESTIMABLE, "first_stage_f": first_stage_f, "weak_instrument": True, "method": method,
                "reason": f"not estimable: {NO_DELIVERY_CONTRAST}"}
    shape, interval = anderson_rubin_set(itt_y, itt_d, v_yy, v_yd, v_dd, critical)
    if interval[0] is not None:  # the effect on a risk lies in [-1, 1]
        clipped = [max(-1.0, interval[0]), min(1.0, interval[1])]
        if clipped != interval and shape == "interval":
            shape = "interval, truncated to the parameter space [-1, 1]"
        interval = clipped
    result = {"interval": interval, "shape": shape, "first_stage_f": first_stage_f, "weak_instrument": weak,
              "method": method}
    return {**result, "reason": reason} if reason else result


def first_stage(itt_d: float, v_dd: float) -> tuple[float | None, bool | None, str | None]:
    """First-stage F (weak below :data:`WEAK_INSTRUMENT_F`), or None with the reason it is undefined.

    When delivery does not vary within either arm its variance is zero: with no difference
    between the arms the allocation says nothing about delivery (no instrument at all); with a
    difference, allocation fixes delivery exactly (a perfect instrument, F unbounded).
    """
    if v_dd > 0:
        f = itt_d ** 2 / v_dd
        return float(f), bool(f < WEAK_INSTRUMENT_F), None
    if itt_d > 0:
        return None, False, ("not estimable: delivery does not vary within either arm, so the allocation "
                             "determines it exactly (the instrument is as strong as it can be)")
    return None, True, "not estimable: delivery does not differ between the arms, so there is no instrument"


def design_anderson_rubin(rows: pd.DataFrame, outcome: str, difference, *, point, method: str,
                          conf_level: float = 0.95) -> dict:
    """Anderson-Rubin set and first-stage F with the design's variance of a difference in means.

    ``rows`` are the reports with an outcome; ``difference(frame, column)`` is the design's estimator
    (blocked, or CR2) and ``point(values)`` its point estimate of a difference in means. Its variance
    of the difference in means of y - b d is a quadratic in b, V(b) = V_yy - 2 b V_yd + b² V_dd, for
    both estimators (the block variances and the CR2 meat are quadratic in the residuals, linear in
    b), so three evaluations (b = -2, 0, 2) give its coefficients. The set keeps every b whose
    (ITT_y - b ITT_d)² <= t² V(b), t the design estimator's own critical value; the first-stage F
    is ITT_d² / V_dd.
    """
    y, d = rows[outcome].to_numpy(dtype=float), rows["received"].to_numpy(dtype=float)
    base = {**NOT_ESTIMABLE, "first_stage_f": None, "weak_instrument": None, "method": method}
    first = difference(rows, "received")
    itt_d = first.estimate if first.estimate is not None else point(d)
    v_dd_direct = first.std_error ** 2 if first.std_error is not None else 0.0
    if not np.isfinite(itt_d):
        return {**base, "reason": "not estimable: an arm (or a block's arm) has no report with an outcome"}
    first_stage_f, weak, reason = first_stage(itt_d, v_dd_direct)
    evaluated = {b: difference(rows.assign(_ar=y - b * d), "_ar") for b in (-2.0, 0.0, 2.0)}
    failed = next((e for e in evaluated.values() if e.estimate is None or not e.std_error), None)
    result = {**base, "first_stage_f": first_stage_f, "weak_instrument": weak}
    if failed is not None:
        why = failed.reason or "not estimable: the variance is zero on these data"
        return {**result, "reason": reason or why}
    v = {b: e.std_error ** 2 for b, e in evaluated.items()}
    v_yy, v_yd, v_dd = v[0.0], (v[-2.0] - v[2.0]) / 8, (v[2.0] + v[-2.0] - 2 * v[0.0]) / 8
    centre = evaluated[0.0]
    critical = ((centre.conf_high - centre.estimate) / centre.std_error) ** 2
    shape, interval = anderson_rubin_set(centre.estimate, itt_d, v_yy, v_yd, v_dd, critical)
    result.update(interval=interval, shape=shape)
    return {**result, "reason": reason} if reason else result
