"""Statistical disclosure control of everything the report publishes by a category.

Counts of reports by a category (a borough, a ward, a hate strand, a level of a baseline
characteristic, a month, a contact mode) can single out a victim when they are small, and a
hidden count can be worked back as a published total minus the published parts. The report
follows the guidance of the Office for National Statistics and the Government Statistical
Service on small cells in tables (Government Statistical Service, *Disclosure control guidance
for tables produced from administrative sources*, 2014), whose methods are table redesign
(combining categories), cell suppression with secondary (complementary) suppression, and
rounding; see also Hundepool et al., *Statistical Disclosure Control* (Wiley, 2012), ch. 4-5.
It uses table redesign only, so that no cell is ever hidden and none can be recovered by
subtraction:

- **Every published cell is 0 or at least the threshold.** A *cell* is any count a table
  publishes or implies: the reports of a category in each arm (the balance table's shares times
  the arm sizes), those who received the contact and those who did not (the delivery tables),
  those who withdrew and those who did not in each arm (a subgroup's risks: every per-arm
  denominator behind a published risk is a cell too), and, for a category that is not a
  partition (a report may carry several hate strands), the reports *without* it.
- **A category whose cells are not all safe is not published on its own:** its reports count
  under one combined level ("other boroughs", "other wards", ...). That combined level is a
  category too: while any of its cells is unsafe, the smallest named category joins it; if every
  category has joined, the level is the whole trial, whose totals are published anyway.
- **A category held by fewer reports than the threshold is therefore never named** (its arm
  counts cannot all be safe), in any table, figure, flag or warning: a free-text label such as
  a ward's may be a person's name.
- **One grouping per characteristic, shared by every table that shows it** (the balance table,
  the delivery tables, the subgroup effects, the design's blocks): a table whose own cells need
  more (the delivery tables, the subgroup effects) starts from the shared grouping and only
  merges whole groups, and the subgroup effects then combine groups of fewer than 10 reports an
  arm. A characteristic is shown in one view only: a report's hate strands as its first strand
  everywhere, since counts of each strand beside counts of first strands would give back the
  reports holding each combination. Every published figure is then a sum of safe cells, and no difference of
  two tables isolates a cell that is not: what a linear attacker can solve from all the tables
  and the trial's totals (``tests/test_disclosure_attack.py`` does it by linear programming)
  is a cell of 0, or at least the threshold.
- **Wards are grouped within their borough's group**, so that a borough row minus its ward
  rows is itself a published (safe) row: "other wards" in each borough.
- **Time is grouped by merging neighbours** (a week or month with few reports joins the next),
  and the weeks of a chart within the published months, so that a month minus its weeks is
  published too.

The trial's own figures (reports, delivery and outcomes by arm, the participant flow) are
published whole: they are the trial's result, and they are the totals every table above is
protected against.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

NOT_RECORDED = "not recorded"
# The combined level of each characteristic: never a name, and distinct from any level it replaces.
OTHER = {
    "borough": "other boroughs", "ward": "other wards", "offence_group": "other offence groups",
    "primary_strand": "other strands", "strands": "other strands", "victim_age_band": "other age bands",
    "victim_sex": "other values", "repeat_victim": "other values", "suspect_identified": "other values",
    "src_mode": "other or not recorded",
}
# The cells each table family publishes for a category, from :func:`report_cells`.
ARMS = ("SRC", "BAU")
DELIVERY = ("SRC received", "SRC not received")
OUTCOME = ("SRC withdrew", "SRC did not withdraw", "BAU withdrew", "BAU did not withdraw")
CONTACTS = ("contacted", "contacted, withdrew", "contacted, did not withdraw")


def other_label(column: str) -> str:
    return OTHER.get(column, "other values")


def safe(values: Iterable[float], threshold: int) -> bool:
    """Whether every count is 0 or at least ``threshold``."""
    array = np.asarray(list(values), dtype=float)
    return bool(((array == 0) | (array >= threshold)).all())


def report_cells(data: pd.DataFrame, *, outcome: str = "attrition", treatment: str = "assigned",
                 received: str = "received") -> pd.DataFrame:
    """One row per report, one 0/1 column per kind of cell a table can publish about it."""
    src = data[treatment].astype(int) == 1
    got = data[received].astype(int) == 1
    known = data[outcome].notna() if outcome in data else pd.Series(False, index=data.index)
    event = data[outcome].fillna(0).astype(int) == 1 if outcome in data else pd.Series(False, index=data.index)
    cells = {
        "SRC": src, "BAU": ~src,
        "SRC received": src & got, "SRC not received": src & ~got,
        "SRC withdrew": src & known & event, "SRC did not withdraw": src & known & ~event,
        "BAU withdrew": ~src & known & event, "BAU did not withdraw": ~src & known & ~event,
        "contacted": got, "contacted, withdrew": got & known & event, "contacted, did not withdraw": got & known & ~event,
    }
    return pd.DataFrame({name: values.to_numpy(dtype=np.int64) for name, values in cells.items()}, index=data.index)


def levels_of(data: pd.DataFrame, column: str) -> pd.Series:
    """A characteristic's values as text, 'not recorded' where missing (yes/no for true/false)."""
    codes, names = level_codes(data[column])
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object)), index=data.index)


def level_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's level as a code, and the levels' names (text; 'not recorded' where missing; yes/no for
    true/false). Factorised once, so that a million reports cost one pass, not one per table."""
    codes, uniques = pd.factorize(values)
    names = [{"True": "yes", "False": "no"}.get(str(u), str(u)) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(NOT_RECORDED)
    merged, distinct = pd.factorize(pd.Index(names, dtype=object))  # two spellings of one name: one level
    return merged[codes], list(distinct)


def _sums(codes: np.ndarray, count: int, report: pd.DataFrame, cells: list[str]) -> np.ndarray:
    """Each code's counts of each cell (count x cells), by one bincount a cell."""
    matrix = report[cells].to_numpy()
    return np.column_stack([np.bincount(codes, weights=matrix[:, j], minlength=count) for j in range(len(cells))])


def group_levels(sums: pd.DataFrame, threshold: int, *, other: str, start: Mapping | None = None) -> dict:
    """Each level's published group: itself, or ``other`` where a cell of it is unsafe.

    Parameters
    ----------
    sums
        One row per level, one column per cell (the level's counts).
    threshold
        A count of 1 to threshold - 1 is unsafe.
    other
        The combined level's label.
    start
        Levels already grouped (a coarser table starts from the shared grouping); None starts
        from the levels themselves.

    Returns
    -------
    dict
        Level -> published label. The combined level is safe too, or holds every level.
    """
    mapping = {level: (start or {}).get(level, level) for level in sums.index}
    while True:
        grouped = sums.groupby(pd.Series(mapping).reindex(sums.index).to_numpy()).sum()
        failing = [g for g in grouped.index if g != other and not safe(grouped.loc[g], threshold)]
        if failing:
            mapping = {level: other if group in failing else group for level, group in mapping.items()}
            continue
        if other in grouped.index and not safe(grouped.loc[other], threshold):
            named = [g for g in grouped.index if g != other]
            if not named:  # every level combined: the trial's own totals
                return mapping
            sizes = sums.sum(axis=1).groupby(pd.Series(mapping).reindex(sums.index).to_numpy()).sum()
            smallest = min(named, key=lambda g: (sizes[g], str(g)))
            mapping = {level: other if group == smallest else group for level, group in mapping.items()}
            continue
        return mapping


def group_column(data: pd.DataFrame, column: str, threshold: int, cells: Iterable[str], *,
                 start: Mapping | None = None, within: pd.Series | None = None,
                 report: pd.DataFrame | None = None) -> pd.Series:
    """Each report's published level of ``column``: safe in every one of ``cells`` (names of :func:`report_cells`).

    ``within`` groups separately inside each of its values (wards inside their borough's group);
    ``start`` maps levels to the groups a coarser table starts from.
    """
    return group_values(data[column], threshold, cells, other=other_label(column), start=start,
                        within=within, report=report_cells(data) if report is None else report)


def group_values(levels: pd.Series, threshold: int, cells: Iterable[str], *, other: str, report: pd.DataFrame,
                 start: Mapping | None = None, within: pd.Series | None = None) -> pd.Series:
    """:func:`group_column` for any per-report values (a design's blocks or clusters, say).

    Returns a categorical Series of the published labels, its categories in alphabetical order
    with the combined level last.
    """
    codes, names = level_codes(levels)
    parents = np.zeros(len(codes), dtype=np.int64) if within is None else pd.factorize(within)[0].astype(np.int64)
    key_codes, keys = pd.factorize(parents * len(names) + codes)
    cells = list(cells)
    sums = _sums(key_codes, len(keys), report, cells)
    key_parent, key_level = keys // len(names), np.asarray(names, dtype=object)[keys % len(names)]
    labels = np.empty(len(keys), dtype=object)
    for parent in np.unique(key_parent):
        at = np.flatnonzero(key_parent == parent)
        mapping = group_levels(pd.DataFrame(sums[at], index=key_level[at], columns=cells), threshold, other=other,
                               start=start)
        labels[at] = [mapping[level] for level in key_level[at]]
    categories = sorted({str(label) for label in labels} - {other}) + ([other] if other in set(labels) else [])
    label_codes = pd.Index(categories).get_indexer(labels)
    return pd.Series(pd.Categorical.from_codes(label_codes[key_codes], categories=pd.Index(categories, dtype=object)),
                     index=levels.index)


def group_ordered(keys: pd.Series, report: pd.DataFrame, threshold: int, cells: Iterable[str],
                  label: Callable[[object, object], str], within: pd.Series | None = None) -> pd.Series:
    """Each report's published period: consecutive periods merged until every cell of each is safe.

    ``keys`` are sortable (a date, a month, a weekday number); a merged run of periods is named
    ``label(first, last)``, a single period ``label(key, key)``. ``within`` merges separately
    inside each of its values (weeks inside their published month), so that the runs nest in them.
    Returns a categorical Series whose categories are in time order.
    """
    cells = list(cells)
    parents = np.zeros(len(keys), dtype=np.int64) if within is None else pd.factorize(within)[0].astype(np.int64)
    codes, uniques = pd.factorize(keys, sort=True)
    key_codes, pairs = pd.factorize(parents * len(uniques) + codes)
    sums = _sums(key_codes, len(pairs), report, cells)
    names = np.empty(len(pairs), dtype=object)
    first_key = np.empty(len(pairs), dtype=np.int64)
    for parent in np.unique(pairs // len(uniques)):
        at = np.flatnonzero(pairs // len(uniques) == parent)
        at = at[np.argsort(pairs[at] % len(uniques))]  # in time order
        runs = [[i] for i in at]
        while len(runs) > 1:
            totals = [sums[run].sum(axis=0) for run in runs]
            unsafe = [i for i, total in enumerate(totals) if not safe(total, threshold)]
            if not unsafe:
                break
            i = unsafe[0]
            if i == 0:
                j = 1
            elif i == len(runs) - 1:
                j = i - 1
            else:  # join the smaller neighbour
                j = i - 1 if totals[i - 1].sum() <= totals[i + 1].sum() else i + 1
            low, high = min(i, j), max(i, j)
            runs[low:high + 1] = [runs[low] + runs[high]]
        for run in runs:
            first, last = uniques[pairs[run[0]] % len(uniques)], uniques[pairs[run[-1]] % len(uniques)]
            names[run] = label(first, last)
            first_key[run] = pairs[run[0]] % len(uniques)
    order = sorted(set(names), key=lambda name: first_key[np.flatnonzero(names == name)].min())
    label_codes = pd.Index(order).get_indexer(names)
    return pd.Series(pd.Categorical.from_codes(label_codes[key_codes], categories=pd.Index(order, dtype=object)),
                     index=keys.index)


def published_names(labels: pd.Series, column: str) -> list[str]:
    """The names a grouping publishes, in order, with the combined level last."""
    other = other_label(column)
    names = sorted(str(v) for v in labels.dropna().unique() if v != other)
    return names + ([other] if (labels == other).any() else [])


def format_counts(table: pd.DataFrame, columns: list[str], *, rate: str | None = "rate") -> pd.DataFrame:
    """A table of safe counts as the report shows them: counts as text, the rate as a percentage."""
    shown = table.copy()
    for column in columns:
        shown[column] = [str(int(v)) for v in table[column]]
    if rate is not None and rate in shown:
        shown[rate] = [f"{r:.0%}" if pd.notna(r) else "–" for r in table[rate]]
    return shown


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def span(first, last) -> str:
    """A run of periods as a label: '2022-10' or '2022-10 to 2022-12'."""
    return str(first) if first == last else f"{first} to {last}"


class Publication:
    """How one run's characteristics are grouped for publication, from its analysis table.

    Every table of a characteristic uses the grouping of its family, computed here once:
    ``base`` (reports in each arm: the balance table, the design's blocks, any name shown), and
    coarser ones that start from it: ``delivery`` (who received the contact, in the SRC arm) and
    ``subgroups`` (who withdrew, in each arm).
    """

    def __init__(self, data: pd.DataFrame, threshold: int, *, outcome: str = "attrition"):
        self.data, self.threshold = data, int(threshold)
        self.report = report_cells(data, outcome=outcome)
        self._cache: dict = {}

    def _memo(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def levels(self, column: str) -> pd.Series:
        return self._memo(("levels", column), lambda: levels_of(self.data, column))

    def _group(self, column: str, cells, *, start: Mapping | None = None, within: pd.Series | None = None):
        return group_values(self.levels(column), self.threshold, cells, other=other_label(column), start=start,
                            within=within, report=self.report)

    def base(self, column: str) -> pd.Series:
        """Each report's published level of ``column`` in any table that names it."""
        return self._memo(("base", column), lambda: self._group(column, ARMS))

    def _start(self, column: str) -> dict:
        """Each level's group in :meth:`base`, where a coarser grouping starts."""
        levels, groups = self.levels(column), self.base(column)
        pairs = pd.DataFrame({"level": levels.cat.codes, "group": groups.cat.codes}).drop_duplicates("level")
        return {levels.cat.categories[level]: groups.cat.categories[group] for level, group in pairs.to_numpy()}

    def delivery(self, column: str) -> pd.Series:
        """Levels for the delivery tables (and the predictors of delivery): received and not, SRC arm."""
        return self._memo(("delivery", column), lambda: self._group(column, ARMS + DELIVERY,
                                                                    start=self._start(column)))

    def subgroups(self, column: str) -> pd.Series:
        """Levels for the subgroup effects: who withdrew and who did not, in each arm."""
        return self._memo(("subgroups", column), lambda: self._group(column, ARMS + OUTCOME,
                                                                     start=self._start(column)))

    def wards(self) -> pd.DataFrame:
        """The delivery table's wards, each grouped within its borough's delivery group."""
        def compute():
            boroughs = self.delivery("borough")
            wards = self._group("ward", ARMS + DELIVERY, start=self._start("ward"), within=boroughs)
            return pd.DataFrame({"borough": boroughs, "ward": wards}, index=self.data.index)
        return self._memo("wards", compute)

    def units(self, units: pd.Series, noun: str) -> pd.Series:
        """A design's blocks or clusters as published: a unit whose arm counts are unsafe is not named."""
        return group_values(units, self.threshold, ARMS, other=f"other {noun}", report=self.report)

    def periods(self, keys: pd.Series, cells: Iterable[str], label=span, within: pd.Series | None = None) -> pd.Series:
        return group_ordered(keys, self.report, self.threshold, cells, label, within=within)

    def months(self) -> pd.Series:
        """Each report's published month reported, for the delivery tables (SRC arm: received and not)."""
        return self._memo("months", lambda: self.periods(self.data["reported_on"].dt.to_period("M"),
                                                         ("SRC",) + DELIVERY))

    def contact_modes(self) -> pd.Series:
        """How contacts were made, grouped so that the contacts and outcomes of each mode are safe."""
        return self._memo("src_mode", lambda: self._group("src_mode", CONTACTS))

    def recode(self, family: str, columns: Iterable[str]) -> pd.DataFrame:
        """A copy of the analysis table with ``columns`` replaced by their published levels of ``family``."""
        table = self.data.copy()
        group = {"base": self.base, "delivery": self.delivery, "subgroups": self.subgroups}[family]
        for column in columns:
            if column in table:
                table[column] = group(column)
        return table
