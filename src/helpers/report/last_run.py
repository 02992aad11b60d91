"""The headline figures of the last run into an output folder beside this run's, for the report's
"What changed since the last run" section (its words are in ``templates/sections/changes.html.j2``)."""
from __future__ import annotations

import pandas as pd

from helpers.report.findings import outcome_name
from helpers.report.numbers import count, interval, num, pct

__all__ = ["last_run_table"]


# The format of each headline figure of "What changed since the last run", by the last part of its path.
_HEADLINE_FORMATS = {"risk": pct, "treatment_received_rate": pct, "relative_risk_reduction": pct,
                     "risk_difference": pct, "risk_ratio": num, "p_value_exact": num}


def _headline_value(path: str, value) -> str:
    from helpers.pipeline.compare import ABSENT

    if value == ABSENT:
        return "not in that run"
    name = path.rsplit(".", 1)[-1]
    fmt = _HEADLINE_FORMATS.get(name.removesuffix("_ci"), count)
    return interval(value, fmt) if isinstance(value, list) else fmt(value)


def last_run_table(previous: dict, results: dict) -> pd.DataFrame:
    """The headline figures of the last run into the output folder and of this run, side by side;
    a figure's interval in the same cell as the figure."""
    from helpers.pipeline.compare import headline_rows

    primary = outcome_name(results, results["provenance"]["parameters"]["analysis_plan"]["primary_outcome"])
    rows: list[dict] = []
    for row in headline_rows(previous, results):
        label = row["label"].replace("Primary outcome", primary[:1].upper() + primary[1:])
        shown = {"Figure": label, "Last run": _headline_value(row["path"], row["old"]),
                 "This run": _headline_value(row["path"], row["new"]), "Changed": "yes" if row["changed"] else "no"}
        if rows and row["path"] == rows[-1]["path"] + "_ci":
            merged = rows[-1]
            for run in ("Last run", "This run"):
                if not merged[run].startswith("not ") and not shown[run].startswith("not "):
                    merged[run] += f" ({shown[run]})"
            merged["Changed"] = "yes" if "yes" in (merged["Changed"], shown["Changed"]) else "no"
        else:
            rows.append({**shown, "path": row["path"]})
    return pd.DataFrame(rows, columns=["Figure", "Last run", "This run", "Changed"])
