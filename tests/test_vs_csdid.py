"""Group-time effects against two maintained implementations and a hand-computed two-by-two.

References, independent of ``helpers.methods.staggered``:
- ``csdid`` 0.4.3 (the Python port of Callaway and Sant'Anna's ``did``) and ``differences`` 0.3.0,
  run once by ``tests/reference/csdid_group_time.py`` on the panel it writes (``csdid_panel.csv``)
  and frozen in ``csdid_group_time.out`` with the packages' versions; neither is a dependency;
- the difference in differences of four cell means, written out by hand for one cell.
On that panel every ward-month has the same number of reports, so pooling reports (this project's
estimand) and averaging wards (the packages') define the same ATT(g, t).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.methods import staggered
from tests.reference_values import REFERENCE_DIR, load, versions

EXACT = 1e-12  # the same arithmetic on the same counts


@pytest.fixture(scope="module")
def panel() -> staggered.Panel:
    data = pd.read_csv(REFERENCE_DIR / "csdid_panel.csv")
    wards = data.drop_duplicates("ward").sort_values("ward")
    first = wards["first_live"].map(lambda g: staggered.NEVER if g == 0 else g - 1).astype(float)  # months 1.. -> 0..
    shape = (len(wards), data["month"].nunique())
    by = data.sort_values(["ward", "month"])
    return staggered.Panel(pd.DataFrame({"borough": "B", "ward": wards["ward"].astype(str), "key": wards["ward"],
                                         "first_live": first.to_numpy()}),
                           pd.date_range("2024-01-01", periods=shape[1], freq="MS"),
                           by["reports"].to_numpy(float).reshape(shape), by["events"].to_numpy(float).reshape(shape))


@pytest.fixture(scope="module")
def cells(panel) -> pd.DataFrame:
    cohorts, weights = staggered.cohort_weights(panel)
    grid = staggered.cells(cohorts, len(panel.months))
    effects, _ = staggered.cell_effects(*staggered.cohort_sums(weights, panel), cohorts, grid)
    return grid.assign(estimate=effects[0], g_package=grid["g"] + 1, t_package=grid["t"] + 1)


def test_the_packages_versions_are_recorded():
    assert versions("csdid_group_time")["csdid"] == "0.4.3"
    assert versions("csdid_group_time")["differences"] == "0.3.0"


@pytest.mark.parametrize("package", ["att", "differences"])
def test_every_group_time_effect_equals_the_packages(cells, package):
    reference = load("csdid_group_time")
    names = [f"{package}_g{g}_t{t}" for g, t in zip(cells["g_package"], cells["t_package"])]
    assert set(names) == {name for name in reference if name.startswith(f"{package}_")}
    assert cells["estimate"].to_numpy() == pytest.approx([reference[n] for n in names], abs=EXACT)


def test_one_cell_by_hand(panel, cells):
    """ATT(g=2, t=5) (package months 3 and 6): the cohort live from month index 2 against wards not live by 5."""
    first, risk = panel.first_live, panel.events / panel.reports
    mean = lambda wards, month: panel.events[wards, month].sum() / panel.reports[wards, month].sum()
    cohort, control = np.flatnonzero(first == 2), np.flatnonzero(first > 5)
    by_hand = (mean(cohort, 5) - mean(cohort, 1)) - (mean(control, 5) - mean(control, 1))
    row = cells[(cells["g"] == 2) & (cells["t"] == 5)]
    assert row["estimate"].item() == pytest.approx(by_hand, abs=EXACT)
    assert risk.shape == panel.reports.shape


def test_negative_control_never_live_wards_alone_give_other_effects(panel, cells):
    """A comparison of never-live wards only (not the not-yet-live) differs: the test can tell them apart."""
    mean = lambda wards, month: panel.events[wards, month].sum() / panel.reports[wards, month].sum()
    cohort, never = np.flatnonzero(panel.first_live == 2), np.flatnonzero(~np.isfinite(panel.first_live))
    never_only = (mean(cohort, 3) - mean(cohort, 1)) - (mean(never, 3) - mean(never, 1))
    row = cells[(cells["g"] == 2) & (cells["t"] == 3)]
    assert abs(row["estimate"].item() - never_only) > 1e-3
