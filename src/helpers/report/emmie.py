"""The EMMIE summary (Effect, Mechanism, Moderators, Implementation, Economic cost).

The College of Policing's frame for weighing evidence, written from results.json and the
parameters: no number is typed by hand. The words are in ``templates/emmie.md.j2``, one macro per
element; this module gives each its figures.
"""
from __future__ import annotations

import functools

import jinja2

from helpers import config
from helpers.report import numbers
from helpers.report.numbers import count, pct
from helpers.report.summary import relative_change_phrase

SUBGROUP_NAMES = {"primary_strand": "hate strand", "offence_group": "offence group", "borough": "borough"}


def effect(results: dict) -> str:
    attrition = results["outcomes"]["attrition"]
    return _render("effect", identification=results.get("identification") or {}, itt=attrition["itt"],
                   cace=attrition["cace"], level=_level(results),
                   one_sided_threshold=(1 - results["provenance"]["parameters"]["confidence_level"]) * 50)


def mechanism(params: dict) -> str:
    return " ".join(str(params["mechanism"]).split())


def moderators(results: dict) -> str:
    tested = [s for s in results.get("subgroups") or [] if s.get("interaction_p_value") is not None]
    rows = [{"name": SUBGROUP_NAMES.get(s["by"], s["by"]), "p": s["interaction_p_value"],
             "adjusted": s.get("interaction_p_value_holm", s["interaction_p_value"])} for s in tested]
    return _render("moderators", identification=results.get("identification") or {}, tested=len(tested),
                   differing=[row for row in rows if row["adjusted"] < 0.05],
                   alike=[row for row in rows if row["adjusted"] >= 0.05],
                   synthetic=(results.get("inputs", {}).get("origin") or {}).get("synthetic"),
                   prespecified=results["provenance"]["parameters"]["analysis_plan"]["subgroups"]["prespecified"],
                   randomised=results["flow"]["randomised"])


def implementation(results: dict, params: dict) -> str:
    modes = results["compliance"].get("contact_modes") or {}
    return _render("implementation", compliance=results["compliance"], delivered=sum(modes.values()),
                   mix=", ".join(f"{n} {mode}" for mode, n in modes.items()),
                   constraints=" ".join(str(params["delivery_constraints"]).split()))


def economic_cost(results: dict) -> str:
    econ = results["economics"]
    return _render("economic_cost", econ=econ, level=_level(results),
                   not_costed=not_costed_reason(results) if econ is None else None)


def emmie_sections(results: dict, params: dict) -> list[tuple[str, str]]:
    """(heading, text) for each of the five EMMIE elements."""
    return [("Effect", effect(results)), ("Mechanism", mechanism(params)), ("Moderators", moderators(results)),
            ("Implementation", implementation(results, params)), ("Economic cost", economic_cost(results))]


def _level(results: dict) -> str:
    return numbers.level(results["provenance"]["parameters"]["confidence_level"])


def _render(element: str, **figures) -> str:
    """One element's words: its macro in ``templates/emmie.md.j2``, given its figures; line breaks become spaces."""
    return " ".join(str(getattr(_template().module, element)(**figures)).split())


@functools.cache
def _template():
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(config.TEMPLATES_DIR), trim_blocks=True,
                                     lstrip_blocks=True, undefined=jinja2.StrictUndefined, autoescape=False,
                                     extensions=["jinja2.ext.do"])
    environment.filters.update(pct=lambda value, digits=1: pct(value, digits), count=count,
                               thousands=lambda value: f"{value:,}",
                               relative_change=lambda pair: relative_change_phrase(*pair),
                               capitalize_first=lambda text: text[:1].upper() + text[1:])
    return environment.get_template("emmie.md.j2")


def not_costed_reason(results: dict) -> str:
    """Why the cost of delivery is not estimated: no contact modes, or too few of one to publish the mix."""
    if results["compliance"].get("contact_modes") is None:
        return "the extract does not record how contacts were made, on which the cost rests"
    return ("too few contacts were made by phone to publish how many, and the cost, which rests on the mix of "
            "calls and visits, would give the number back (disclosure control)")
