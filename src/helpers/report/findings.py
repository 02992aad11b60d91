"""What each figure of the report shows, as a finding in a sentence from results.json.

The sentences are in ``templates/findings.txt.j2``, one macro per figure; this module gives each its figures.

The sentence is the figure's caption and its alternative text, so a reader who cannot see the chart
(or a print where it is small) still gets its finding; where the data could not support the chart, the
sentence says so and why.
"""
from __future__ import annotations

import functools

import jinja2

from helpers import config
from helpers.parameters import short_label
from helpers.report import numbers
from helpers.report.numbers import NOT_ESTIMABLE, count, interval, minus, missing, pct, points

__all__ = ["FINDINGS", "finding", "drawn"]


def finding(name: str, results: dict) -> str:
    """What a figure shows, as a finding in a sentence from results.json: its caption and its alt text.

    The words are the figure's macro in ``templates/findings.txt.j2``; ``FINDINGS[name]`` gives it its figures.
    """
    macro = getattr(_template().module, name)
    return " ".join(str(macro(**FINDINGS[name](results))).split())


@functools.cache
def _template():
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(config.TEMPLATES_DIR), trim_blocks=True,
                                     lstrip_blocks=True, undefined=jinja2.StrictUndefined, autoescape=False)
    environment.filters.update(
        pct=lambda value, digits=1: pct(value, digits), points=points, thousands=lambda value: f"{value:,}",
        signed2=lambda value: minus(format(value, "+.2f")), more_or_fewer=_more_or_fewer,
        money=lambda value: f"£{value:,.0f}", interval=interval,
        capitalize_first=lambda text: text[:1].upper() + text[1:])
    environment.globals.update(points=points, count=count)
    return environment.get_template("findings.txt.j2")


def drawn(name: str, results: dict) -> bool:
    """Whether the figure has something to show on these data; a figure that has not is replaced by its finding,
    which says why (an empty chart would show only axes)."""
    shows = SHOWS.get(name)
    return shows is None or shows(results)


def _forest_shows(results: dict) -> bool:
    return any(not missing(entry["itt"]["risk_difference"]) for entry in results["outcomes"].values())


def _level(results: dict) -> str:
    return numbers.level(results["provenance"]["parameters"]["confidence_level"])


def outcome_name(results: dict, name: str) -> str:
    """An outcome's label for a sentence: 'victim withdrew support for the investigation'."""
    definition = results["provenance"]["parameters"].get("outcomes", {}).get(name)
    return short_label(str(definition["label"])) if definition else name.replace("_", " ")


def _why(notes: dict, key: str) -> str:
    """' (the reason)' for a figure that is not estimable, from an outcome's or section's notes."""
    reason = (notes or {}).get(key)
    return f" ({reason.removeprefix(NOT_ESTIMABLE + ': ')})" if reason else ""


def _more_or_fewer(value: float) -> str:
    """'about 1,487 fewer' for a positive number prevented, 'about 300 more' for a negative one."""
    return f"about {count(abs(value))} {'fewer' if value >= 0 else 'more'}"


def _flow_finding(results: dict) -> dict:
    flow = results["flow"]
    return {"flow": flow, "analysed": sum(flow["analysed"].values()),
            "open_cases": sum((flow.get("outcome_open") or {}).values())}


def _balance_finding(results: dict) -> dict:
    rows = [row for row in results["allocation_audit"]["balance"]
            if not missing(row.get("standardised_difference"))]
    large = results["thresholds"].get("large_standardised_difference", 0.25)
    return {"largest": max(rows, key=lambda row: abs(row["standardised_difference"])) if rows else None,
            "large": large, "beyond": sum(abs(row["standardised_difference"]) > large for row in rows),
            "shown": len(rows)}


def _delivery_finding(results: dict) -> dict:
    compliance = results["compliance"]
    rate = compliance["treatment_received_rate"]
    monthly = [r["rate"] * 100 for r in compliance["by_month"] if r["rate"] is not None]
    months = ({"low": min(monthly), "high": max(monthly), "same": round(min(monthly)) == round(max(monthly))}
              if len(monthly) >= 2 else None)
    return {"rate": None if missing(rate) else rate, "months": months}


def _timing_finding(results: dict) -> dict:
    return {"timing": results["compliance"].get("contact_timing") or {}}


def _forest_finding(results: dict) -> dict:
    primary = results["provenance"]["parameters"]["analysis_plan"]["primary_outcome"]
    parts = []
    for name, entry in results["outcomes"].items():
        itt, cace = entry["itt"], entry["cace"]
        complier = name == primary and not missing(cace["risk_difference"])
        parts.append({"name": outcome_name(results, name),
                      "difference": None if missing(itt["risk_difference"]) else itt["risk_difference"],
                      "interval": itt["risk_difference_ci"], "why": _why(entry.get("notes"), "itt.risk_difference"),
                      "complier": cace["risk_difference"] if complier else None,
                      "complier_interval": cace["risk_difference_ci"]})
    return {"level": _level(results), "parts": parts}


def _extrapolation_finding(results: dict) -> dict:
    force = results["extrapolation"]
    prevented = force["prevented"]
    return {"force": force, "level": _level(results), "why": _why(force.get("notes"), "itt"),
            "zero": _zero_note([prevented["itt_ci"], prevented["full_compliance_ci"]])}


def _zero_note(intervals: list) -> str:
    """'; both intervals include zero' where they do: the data allow no change at all."""
    spans = [(low, high) for low, high in intervals if not missing(low) and not missing(high)]
    zero = [low <= 0 <= high for low, high in spans]
    if not any(zero):
        return ""
    if len(spans) == 1:
        return "; the interval includes zero"
    return "; " + ("both intervals include" if all(zero) else
                   "the first interval includes" if zero[0] else "the second interval includes") + " zero"


def _cost_finding(results: dict) -> dict:
    return {"econ": results["economics"], "level": _level(results),
            "why": _why(results["extrapolation"].get("notes"), "full_compliance")}


def _national_finding(results: dict) -> dict:
    return {"national": results["national_scenario"], "level": _level(results),
            "why": _why(results["extrapolation"].get("notes"), "itt")}


FINDINGS = {"flow_diagram": _flow_finding, "balance": _balance_finding, "delivery_by_week": _delivery_finding,
            "contact_timing": _timing_finding, "forest_plot": _forest_finding,
            "extrapolation": _extrapolation_finding, "cost_per_prevented": _cost_finding,
            "national_sensitivity": _national_finding}

# What a figure needs in results.json to show anything: without it, its finding alone, as one line.
SHOWS = {"balance": lambda r: any(not missing(row.get("standardised_difference"))
                                  for row in r["allocation_audit"]["balance"]),
         "delivery_by_week": lambda r: not missing(r["compliance"]["treatment_received_rate"]),
         "contact_timing": lambda r: bool((r["compliance"].get("contact_timing") or {}).get("n")),
         "forest_plot": _forest_shows,
         "extrapolation": lambda r: not missing(r["extrapolation"]["prevented"]["itt"]),
         "cost_per_prevented": lambda r: r["economics"] is not None
         and not missing(r["economics"]["cost_per_prevented_withdrawal"]),
         "national_sensitivity": lambda r: bool(r["national_scenario"])
         and not missing(r["national_scenario"]["prevented"]["itt"])}
