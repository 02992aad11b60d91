"""Statistical disclosure control of the tables the report publishes.

Counts of reports by a category (a ward, a hate strand, a level of a baseline characteristic)
can single out a victim when they are small. Following the practice of statistical offices
(primary suppression below a threshold, then secondary, or complementary, suppression; see
the Government Statistical Service's guidance on disclosure control of tables, and Hundepool
et al., *Statistical Disclosure Control*, 2012, ch. 4), a cell is hidden when

- it is above zero and below the threshold (primary);
- it is the part of a published total whose remainder is small (the remainder would be revealed);
- it is the only hidden cell of its column within a group whose total is published elsewhere
  (the total minus the shown cells would give it back): then the smallest other cell of that
  column and group is hidden as well (secondary).

The rules are applied until nothing changes, so hiding one cell never makes another derivable.
"""
from __future__ import annotations

import pandas as pd

SUPPRESSED = "suppressed"


def hidden_cells(table: pd.DataFrame, columns: list[str], *, threshold: int, total: str | None = None,
                 group: str | None = None, forced: pd.Series | None = None) -> pd.DataFrame:
    """Which cells of ``columns`` to hide (a boolean frame), by primary and secondary suppression.

    Parameters
    ----------
    table
        One row per category, with count columns.
    columns
        The count columns published.
    threshold
        Counts above zero and below this are hidden.
    total
        A column the other counts are parts of (allocated, of which received): a part whose
        remainder is small is hidden too.
    group
        A column whose groups have their totals published elsewhere (the borough of a ward); None
        treats the whole table as one group (its total is published: the arm's size).
    forced
        Rows to hide whatever their counts (their figures are derivable from a linked table).
    """
    counts = table[columns].astype(float)
    small = lambda values: (values > 0) & (values < threshold)
    hidden = small(counts)
    if forced is not None:
        hidden.loc[forced.reindex(table.index, fill_value=False).astype(bool), :] = True
    groups = table[group] if group is not None else pd.Series(0, index=table.index)
    while True:
        before = hidden.copy()
        if total is not None:
            for column in (c for c in columns if c != total):
                remainder = counts[total] - counts[column]
                hidden[column] |= small(remainder)
        for column in columns:
            for _, rows in hidden[column].groupby(groups):
                if rows.sum() == 1:
                    _hide_next_smallest(hidden, counts, column, rows.index)
        if hidden.equals(before):
            return hidden


def _hide_next_smallest(hidden: pd.DataFrame, counts: pd.DataFrame, column: str, rows: pd.Index) -> None:
    candidates = counts.loc[rows, column][~hidden.loc[rows, column] & (counts.loc[rows, column] > 0)]
    if len(candidates):
        hidden.loc[candidates.idxmin(), column] = True


def suppress(table: pd.DataFrame, columns: list[str], *, threshold: int, total: str | None = None,
             group: str | None = None, forced: pd.Series | None = None, rate: str | None = "rate") -> pd.DataFrame:
    """The table as published: hidden counts shown as '<threshold' (primary) or 'suppressed'.

    A rate computed from a hidden count is hidden too. Counts stay text so that a reader sees
    which were hidden and why.
    """
    hidden = hidden_cells(table, columns, threshold=threshold, total=total, group=group, forced=forced)
    shown = table.copy()
    counts = table[columns].astype(float)
    for column in columns:
        primary = (counts[column] > 0) & (counts[column] < threshold)
        shown[column] = [(f"<{threshold}" if p else SUPPRESSED) if h else str(int(v))
                         for h, p, v in zip(hidden[column], primary, counts[column])]
    if rate is not None and rate in shown:
        row_hidden = hidden.any(axis=1)
        shown[rate] = [SUPPRESSED if h else (f"{r:.0%}" if pd.notna(r) else "–") for h, r in zip(row_hidden, table[rate])]
    return shown


def suppressed_groups(table: pd.DataFrame, columns: list[str], *, threshold: int, total: str | None = None,
                      group: str) -> pd.Series:
    """Groups (boroughs) in which a hidden cell could not be complemented inside the group.

    A borough with one ward, or with one nonzero ward in a column, gives its hidden ward back
    through the borough table: that borough's row must be hidden there.
    """
    hidden = hidden_cells(table, columns, threshold=threshold, total=total, group=group)
    exposed = set()
    for column in columns:
        for name, rows in hidden[column].groupby(table[group]):
            if rows.sum() == 1:
                exposed.add(name)
    return pd.Series(sorted(exposed), dtype=object)


def suppress_balance(balance: pd.DataFrame, *, threshold: int) -> pd.DataFrame:
    """The baseline balance table with small levels hidden, and one more level where one is hidden.

    A level's share in each arm times the arm's size gives its count, so a level whose count is
    small has its shares and standardised difference hidden; the levels of a characteristic add
    up to the arm, so where only one level is hidden, the next smallest is hidden with it.
    """
    if balance.empty:
        return balance
    shares = balance["level"] != "mean"
    table = balance.assign(count=balance["n"].where(shares, 0))
    hidden = hidden_cells(table, ["count"], threshold=threshold, group="covariate")["count"]
    shown = balance.copy().astype({"n": object})
    for column in ("control", "treatment", "standardised_difference"):
        shown[column] = balance[column].astype(object).where(~hidden, None)
    shown["n"] = [f"<{threshold}" if h and 0 < n < threshold else (SUPPRESSED if h else int(n))
                  for h, n in zip(hidden, balance["n"])]
    shown["suppressed"] = hidden.to_numpy()
    return shown
