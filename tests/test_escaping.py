"""Text from the input files (file names, headers, category values) is shown as text, never as markup."""
from __future__ import annotations

from helpers.report import tables

HOSTILE = "<img src=x onerror=alert(1)>"


def _shown(monkeypatch, function, *args) -> str:
    shown = []
    monkeypatch.setattr(tables, "display", lambda obj: shown.append(obj.data))
    function(*args)
    return "".join(shown)


def test_warnings_naming_a_hostile_header_are_escaped(monkeypatch):
    """A dropped column's header reaches the warnings list: it must arrive as text."""
    html = _shown(monkeypatch, tables.bullets, [f"extract.csv: dropped columns that could identify a person: "
                                                      f"{HOSTILE} notes", f"{HOSTILE}.csv: 2 duplicate records"])
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<li>") == 2


def test_tables_escape_category_values_and_file_names(monkeypatch):
    frame = tables.pd.DataFrame({"File": [f"{HOSTILE}.csv"], "Reason": ["duplicate"], "Rows": ["2"]})
    html = _shown(monkeypatch, tables.table, frame)
    assert "<img" not in html and "&lt;img" in html
