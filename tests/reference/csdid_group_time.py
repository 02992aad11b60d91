"""Group-time effects of a generated staggered roll-out from two maintained packages, for test_vs_csdid.py.

Neither package is a dependency of the project (see the README: ``csdid`` pulls in plotnine and
twine, ``differences`` polars), so their figures are computed here once and frozen:

    python -m venv /tmp/didenv && /tmp/didenv/bin/pip install -c requirements.lock csdid==0.4.3 differences==0.3.0
    /tmp/didenv/bin/python tests/reference/csdid_group_time.py > tests/reference/csdid_group_time.out

The panel (``csdid_panel.csv``: 24 wards x 10 months, 20 reports in every ward-month, so a
cohort's pooled risk equals the mean of its wards' risks and the two definitions coincide) is
written by this script with a fixed seed; the test reads the same file. Each line
``att_g{g}_t{t} = value`` is csdid's ATT(g, t) (not-yet-treated comparison, varying base period,
regression estimator without covariates, which is the plain difference in differences), and
``differences_g{g}_t{t}`` the same from ``differences``; g = 0 marks wards never live.
"""
from __future__ import annotations

import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
PANEL = HERE / "csdid_panel.csv"
REPORTS = 20


def make_panel(seed: int = 2021) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    wards, months = 24, 10
    first = np.repeat([3, 5, 7, 0], wards // 4)  # three cohorts and wards never live (0)
    rows = []
    for w in range(wards):
        level = rng.normal(0.45, 0.05)
        for m in range(1, months + 1):
            live = first[w] and m >= first[w]
            risk = np.clip(level - 0.004 * m - (0.08 if live else 0.0), 0.05, 0.95)
            rows.append((w + 1, m, int(first[w]), rng.binomial(REPORTS, risk)))
    panel = pd.DataFrame(rows, columns=["ward", "month", "first_live", "events"])
    panel["reports"] = REPORTS
    panel["risk"] = panel["events"] / REPORTS
    return panel


def main() -> None:
    panel = make_panel()
    panel.to_csv(PANEL, index=False)
    print(f"python: {sys.version.split()[0]}")
    print(f"csdid: {version('csdid')}")
    print(f"differences: {version('differences')}")
    warnings.simplefilter("ignore")
    from csdid.att_gt import ATTgt

    fitted = ATTgt(yname="risk", tname="month", idname="ward", gname="first_live", data=panel,
                   control_group=["notyettreated"]).fit(est_method="reg", base_period="varying", bstrap=False)
    results = fitted.results  # unrounded (the summary table rounds to 4 decimals)
    for group, time, att in zip(results["group"], results["year"], results["att"]):
        print(f"att_g{int(group)}_t{int(time)} = {float(att):.17g}")

    from differences import ATTgt as DiffATTgt

    data = panel.assign(cohort=panel["first_live"].replace(0, np.nan)).set_index(["ward", "month"])
    result = DiffATTgt(data=data, cohort_column="cohort", base_period="varying").fit(
        formula="risk", control_group="not_yet_treated", progress_bar=False)
    table = result.to_pandas()
    for index, row in table.iterrows():
        cohort, time = index[0], index[-1]
        print(f"differences_g{int(cohort)}_t{int(time)} = {float(row.iloc[0]):.17g}")


if __name__ == "__main__":
    main()
