"""The CONSORT 2025 checklist: every item in its own numbering, and where this report answers it.

The items, and this report's standing answer to each, are data (``templates/consort2025.yml``,
checked here as it is read); a few answers depend on the run (the trial's dates, its design, its
flow, its open investigations) and are written from results.json by the functions in
:data:`FACTS`. An item the report answers links to the section that does (``#flow``), and in
the PDF its page number follows the link (the print styles of ``report.html.j2``); an item the
report cannot answer says why, and links nowhere.
"""
from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, model_validator

from helpers.parameters import short_label
from helpers.report import abstract
from helpers.report.decision import open_bounds
from helpers.report.numbers import count, points

__all__ = ["Item", "checklist", "checklist_rows", "checklist_html", "ITEMS_2025", "CAPTION"]

CAPTION = "Where this report answers each item of the CONSORT 2025 checklist"
# The statement's items (Hopewell et al. 2025, Table 1): 30 numbered items, 12 of them in two or more parts.
ITEMS_2025 = ("1a", "1b", "2", "3", "4", "5a", "5b", "6", "7", "8", "9", "10", "11", "12a", "12b", "13", "14", "15",
              "16a", "16b", "17a", "17b", "18", "19", "20a", "20b", "21a", "21b", "21c", "21d", "22a", "22b", "23a",
              "23b", "24a", "24b", "25", "26", "27", "28", "29", "30")


class Item(BaseModel):
    """One checklist item: answered in sections of the report (``where``, with ``answer`` or a ``fact``), or not
    reported, or not applicable, with the reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str
    topic: str
    asks: str
    where: tuple[str, ...] = ()
    answer: str | None = None
    fact: str | None = None
    not_reported: str | None = None
    not_applicable: str | None = None

    @model_validator(mode="after")
    def _one_kind_of_answer(self) -> Item:
        kinds = [bool(self.where), bool(self.not_reported), bool(self.not_applicable)]
        if sum(kinds) != 1:
            raise ValueError(f"item {self.item}: give exactly one of where, not_reported, not_applicable")
        if self.where and (self.answer is None) == (self.fact is None):
            raise ValueError(f"item {self.item}: a linked item needs an answer or a fact, not both")
        if self.fact is not None and self.fact not in FACTS:
            raise ValueError(f"item {self.item}: no fact named {self.fact!r}")
        return self


class Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sections: dict[str, str]
    items: tuple[Item, ...]

    @model_validator(mode="after")
    def _every_item_once_and_linked_to_a_named_section(self) -> Checklist:
        numbers = tuple(item.item for item in self.items)
        if numbers != ITEMS_2025:
            raise ValueError(f"the checklist's items are {numbers}, not the 2025 statement's {ITEMS_2025}")
        unnamed = {anchor for item in self.items for anchor in item.where} - set(self.sections)
        if unnamed:
            raise ValueError(f"sections linked but not named: {sorted(unnamed)}")
        return self


# -- answers that depend on the run ------------------------------------------------------------------


def _design(results: dict) -> str:
    flow = results["flow"]["allocated"]
    plan = results["provenance"]["parameters"]["analysis_plan"]
    return (f"A parallel-group trial of SRC against business as usual, {count(flow['treatment'])} and "
            f"{count(flow['control'])} reports allocated. {results['design']['description']} A superiority "
            f"framework, tested {plan['sided']}")


def _randomisation(results: dict) -> str:
    return f"{results['design']['name'][:1].upper()}{results['design']['name'][1:]}, as the parameters declare it; " \
           "the audit tests the allocation's ratio, its sequence and its balance"


def _setting(results: dict) -> str:
    places = abstract.places(results.get("trial") or {})
    return (f"Hate crimes reported to the police in {places}" if places else
            "The extract names no borough") + "; delivery by borough and ward"


def _outcomes(results: dict) -> str:
    outcomes = results["provenance"]["parameters"]["outcomes"]
    primary = results["provenance"]["parameters"]["analysis_plan"]["primary_outcome"]
    named = {name: f"{short_label(definition['label'])} (code{'s' if len(definition['codes']) > 1 else ''} "
                   f"{', '.join(definition['codes'])})" for name, definition in outcomes.items()}
    secondary = "; ".join(text for name, text in named.items() if name != primary) or "none"
    end = abstract.follow_up_period(results)["last_outcome"]
    when = f"at the last outcome recorded ({end})" if end else "at the extract's date (it holds no outcome dates)"
    return (f"Primary: {named[primary]}; secondary: {secondary}. Each is the share of an arm whose report was closed "
            f"with those Home Office outcome codes, {when}, compared as a risk difference and a risk ratio")


def _missing_data(results: dict) -> str:
    rule = ("Investigations still open have no outcome: they are left out of the outcome analysis and bounded by "
            "filling them in every way they could end (Manski 1990)")
    open_cases = results["flow"]["outcome_open"]
    total = open_cases["treatment"] + open_cases["control"]
    if not total:
        return rule + ". In this run none was open"
    reach = open_bounds(results["outcomes"]["attrition"]["itt"])
    bounds = (f"; however they end, the risk difference of withdrawal lies between {points(reach[0], signed=True)} "
              f"and {points(reach[1], signed=True)} percentage points" if reach else "")
    return (f"{rule}. In this run {count(total)} were open ({count(open_cases['treatment'])} SRC, "
            f"{count(open_cases['control'])} business as usual){bounds}")


def _flow(results: dict) -> str:
    flow = results["flow"]
    return (f"{count(flow['randomised'])} randomised: {count(flow['allocated']['treatment'])} to SRC, of whom "
            f"{count(flow['received_src']['treatment'])} received it, and {count(flow['allocated']['control'])} to "
            f"business as usual, of whom {count(flow['received_src']['control'])} received it; "
            f"{count(flow['analysed']['treatment'])} and {count(flow['analysed']['control'])} analysed")


def _follow_up(results: dict) -> str:
    period = abstract.follow_up_period(results)
    recruitment = (f"Recruitment: reports from {period['first_report']} to {period['last_report']}"
                   if period["first_report"] else "Recruitment: not reported, the extract holds no report dates")
    follow_up = (f"follow-up: from each report to the last outcome recorded, on {period['last_outcome']}"
                 if period["last_outcome"] else "follow-up: not reported, the extract holds no outcome dates")
    return f"{recruitment}; {follow_up}"


FACTS: dict[str, Callable[[dict], str]] = {
    "design": _design, "randomisation": _randomisation, "setting": _setting, "outcomes": _outcomes,
    "missing_data": _missing_data, "flow": _flow, "follow_up": _follow_up}


# -- the checklist -----------------------------------------------------------------------------------


@functools.cache
def checklist() -> Checklist:
    """The checklist as ``templates/consort2025.yml`` gives it, checked: every 2025 item once, in order."""
    from helpers import config
    from helpers.inputs.bounded import read_yaml

    return Checklist.model_validate(read_yaml(config.TEMPLATES_DIR / "consort2025.yml", what="report template"))


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def checklist_rows(results: dict) -> list[dict]:
    """Each item as the report shows it: its number, topic, what it asks, the answer and the sections it links to
    (``links``: anchor and name)."""
    sections = checklist().sections
    rows = []
    for item in checklist().items:
        if item.not_reported:
            answer = _sentence(f"Not reported: {item.not_reported}")
        elif item.not_applicable:
            answer = _sentence(f"Not applicable: {item.not_applicable}")
        else:
            answer = _sentence(FACTS[item.fact](results) if item.fact else item.answer)
        rows.append({"item": item.item, "topic": item.topic, "asks": " ".join(item.asks.split()), "answer": answer,
                     "links": [(anchor, sections[anchor]) for anchor in item.where]})
    return rows


# A link in a table cell, written as plain text that survives the table's escaping, then made a link.
_OPEN, _CLOSE = "\u27e6", "\u27e7"
_LINK = re.compile(f"{_OPEN}(\\d+){_CLOSE} (.*?) {_OPEN}/{_CLOSE}")


def checklist_html(results: dict, caption: str | None = CAPTION) -> str:
    """The checklist as an HTML table whose answers link to the report's sections (``<a class="consort-ref">``)."""
    import pandas as pd

    from helpers.report import tables

    anchors: list[str] = []

    def marked(anchor: str, name: str) -> str:
        anchors.append(anchor)
        return f"{_OPEN}{len(anchors) - 1}{_CLOSE} {name} {_OPEN}/{_CLOSE}"

    frame = pd.DataFrame([{
        "Item": row["item"], "What it asks": f"{row['topic']}: {row['asks'][:1].lower()}{row['asks'][1:]}",
        "Where this report answers it": row["answer"] + ("" if not row["links"] else
                                                        " See " + "; ".join(marked(*link) for link in row["links"]) + ".")
    } for row in checklist_rows(results)])
    table = tables.table_html(frame, caption)
    return _LINK.sub(lambda m: f'<a class="consort-ref" href="#{html.escape(anchors[int(m.group(1))])}">'
                               f"{m.group(2)}</a>", table)
