"""The executive summary and the bottom line, in plain English, written from results.json alone.

The wording lives in two Jinja templates (``templates/summary.md.j2`` and
``templates/bottom_line.md.j2``); this module gives them the numbers, through the formatters of
:mod:`helpers.report.numbers` and a few phrases that turn a number into words. No number in the
summary is typed by hand, so a new extract gives a new summary.
"""
from __future__ import annotations

import re
from functools import cache

import jinja2

from helpers import config
from helpers.parameters import short_label
from helpers.report import numbers
from helpers.report.numbers import count, missing, pct, points

__all__ = ["executive_summary", "bottom_line", "verdict", "answer_word", "settle_reason", "relative_change_phrase", "p_value_phrase"]


def relative_change_phrase(low_ratio: float | None, high_ratio: float | None) -> str:
    """A risk-ratio interval in words: 'between 39% fewer and 1% more withdrawals'."""
    if missing(low_ratio) or missing(high_ratio):
        return "an interval that cannot be estimated"

    def word(ratio: float) -> str:
        change = ratio - 1
        return f"{abs(change):.0%} {'fewer' if change < 0 else 'more'}"

    return f"between {word(low_ratio)} and {word(high_ratio)} withdrawals"


def p_value_phrase(p: float | None) -> str:
    if missing(p):
        return "no p-value (the comparison is not estimable)"
    return f"p = {p:.3f}: if SRC had no effect at all, a difference this large would arise by chance in about " \
           f"{round(p * 100)} trials in 100"


def verdict(itt: dict, identification: dict | None = None) -> str:
    """Benefit likely, harm likely or no evidence either way, from the risk difference's interval; "no contrast"
    when the allocation did not change who received the contact (``identification``, results.json), so that
    no difference between the arms is an effect of SRC, whatever its interval."""
    if (identification or {}).get("identified") is False:
        return "no contrast"
    low, high = itt["risk_difference_ci"]
    if itt["risk_difference"] is None or low is None or high is None:
        return "not estimable"
    if high < 0:
        return "benefit"
    if low > 0:
        return "harm"
    return "unclear"


VERDICT_SENTENCES = {
    "benefit": "The interval lies wholly below no effect: the trial is evidence that SRC reduces withdrawal.",
    "harm": "The interval lies wholly above no effect: the trial is evidence that SRC increases withdrawal.",
    "unclear": "The interval includes no effect, so the trial alone does not establish whether SRC reduces or "
               "increases withdrawal.",
    "not estimable": "The trial's data cannot estimate the effect on withdrawal.",
    "no contrast": "No effect of SRC can be read from this trial: {reason}.",
}


JUDGEMENTS = {
    "benefit": "the trial is evidence that SRC reduces withdrawal",
    "harm": "the trial is evidence that SRC increases withdrawal",
    "unclear": "the trial alone does not establish whether SRC reduces withdrawal",
    "not estimable": "the trial's data cannot estimate the effect on withdrawal",
    "no contrast": "the trial cannot show whether SRC reduces withdrawal, because {delivery}",
}


def change(difference: float, unit: str = "per 100 victims") -> str:
    """A signed difference in risk as words: '12.0 fewer withdrawals per 100 victims'."""
    if abs(difference) < 0.0005:
        return f"no difference in withdrawals {unit}"
    return f"{abs(difference) * 100:.1f} {'fewer' if difference < 0 else 'more'} withdrawals {unit}"


def points_range(interval) -> str:
    """A risk-difference interval: '−23.9 to 0.4 percentage points'."""
    low, high = interval
    if missing(low) or missing(high):
        return "not estimable"
    return f"{points(low)} to {points(high)} percentage points"


def pct_range(interval) -> str:
    """A relative-reduction interval, whose lower end may be unbounded: 'no lower limit to 45%'."""
    low, high = interval
    if missing(high):
        return "not estimable"
    return f"{'no lower limit' if missing(low) else pct(low, 0)} to {pct(high, 0)}"


def yearly(prevented: float) -> str:
    if round(prevented) == 0:
        return "no change in withdrawals a year"
    return f"about {count(abs(prevented))} {'fewer' if prevented > 0 else 'more'} withdrawals a year"


def about(prevented: float) -> str:
    """A yearly figure beside one already said in full: 'about 1,769 fewer'."""
    if round(prevented) == 0:
        return "no change"
    return f"about {count(abs(prevented))} {'fewer' if prevented > 0 else 'more'}"


def fewer_range(interval) -> str:
    """An interval of prevented withdrawals in words: 'from 171 more to 3,139 fewer'."""
    low, high = interval
    if missing(low) or missing(high):
        return "not estimable"
    word = lambda v: f"{count(abs(v))} {'fewer' if v >= 0 else 'more'}"
    return f"from {word(low)} to {word(high)}"


def includes_zero(interval) -> bool:
    low, high = interval
    return not missing(low) and not missing(high) and low <= 0 <= high


def _bayes_judgement(probability: float) -> str:
    """The probability of a reduction in words; one that rounds to 50% (as with no events in either arm) favours
    neither direction."""
    return ("SRC very probably reduces withdrawal" if probability >= 0.95 else
            "a reduction and an increase are equally likely" if round(probability, 2) == 0.5 else
            "a reduction is more likely than not, but not established" if probability > 0.5 else
            "SRC is more likely to increase withdrawal than to reduce it")


def answer_word(itt: dict, identification: dict, prevented: dict) -> str:
    """Page 1's one-word answer: the verdict of the risk difference, made "inconclusive" whenever the interval of
    the yearly figure it leads with includes no effect as well, so the two never disagree."""
    result = verdict(itt, identification)
    if result in ("benefit", "harm") and includes_zero(prevented["itt_ci"]):
        return "unclear"
    return result


ANSWERS = {"benefit": "SRC reduces withdrawal", "harm": "SRC increases withdrawal", "unclear": "Inconclusive",
           "not estimable": "Not estimable", "no contrast": "No answer from this trial"}


def _reason(notes: dict, *keys: str) -> str | None:
    """The first of ``keys`` that ``notes`` explains, without its "not estimable: " prefix."""
    for key in keys:
        if notes.get(key):
            return notes[key].removeprefix("not estimable: ")
    return None


def settle_reason(outcome: dict) -> str:
    """Why no trial size can be given for an outcome, in one sentence, the same for every outcome."""
    power = outcome["power"]
    reason = _reason(outcome.get("notes", {}), "power.n_per_arm_for_target_power", "power")
    if reason:
        return f"No trial size can be planned from this trial: {reason}"
    if power["minimum_detectable_difference"] is None:
        return "No trial size can be planned from this trial: it gives no control risk to plan around"
    return (f"No trial of any size would detect a {pct(power['target_relative_reduction'], 0)} relative reduction "
            f"with {pct(power['target_power'], 0)} power, because the control risk leaves no room for it")


@cache
def _environment(escape: bool = False) -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(config.TEMPLATES_DIR), trim_blocks=True,
                                     lstrip_blocks=True, undefined=jinja2.StrictUndefined, autoescape=escape)
    environment.filters.update(
        pct=lambda value, digits=1: pct(value, digits), count=count, points=points, change=change,
        points_range=points_range, pct_range=pct_range, relative_change=lambda pair: relative_change_phrase(*pair),
        p_phrase=p_value_phrase, yearly=yearly, about=about, fewer_range=fewer_range, includes_zero=includes_zero,
        capitalize_first=lambda text: text[:1].upper() + text[1:])
    return environment


_JOIN_TIGHT = re.compile(r"\n\s*(?=[,.;:)])")


def render_markdown(template: str, *, escape: bool = False, **context) -> str:
    """Render a Markdown template: a blank line separates paragraphs, other line breaks are spaces.
    ``escape``: every value is HTML-escaped first, for templates that show text from the input files."""
    text = str(_environment(escape).get_template(template).render(**context))
    paragraphs = [_JOIN_TIGHT.sub("", part).strip() for part in re.split(r"\n\s*\n", text)]
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _context(results: dict) -> dict:
    """What both templates read: the primary outcome's figures, the extrapolation and the labels."""
    attrition = results["outcomes"]["attrition"]
    itt = attrition["itt"]
    notes = attrition.get("notes", {})
    identification = results.get("identification") or {}
    return {"level": numbers.level(results['provenance']['parameters']['confidence_level']), "attrition": attrition,
            "no_contrast": verdict(itt, identification) == "no contrast", "identification": identification,
            "itt": itt, "cace": attrition["cace"], "power": attrition["power"], "force": results["extrapolation"],
            "bayes": itt.get("bayesian") or {"probability_of_reduction": None},
            "sceptical": itt.get("bayesian_sceptical") or {"probability_of_reduction": None},
            "economics": results.get("economics"),
            "itt_reason": notes.get("itt.risk_difference", "not estimable").removeprefix("not estimable: "),
            "cace_reason": (notes.get("cace.risk_difference") or "the data do not support it").removeprefix(
                "not estimable: ")}


def _rare_outcomes(results: dict) -> dict:
    """The secondary outcomes, named as the parameters name them, with the trial size each would need."""
    labels = results["provenance"]["parameters"]["outcomes"]
    rows = [{"label": short_label(labels.get(name, {}).get("label", name.replace("_", " "))),
             "treatment": outcome["treatment"]["events"], "control": outcome["control"]["events"],
             "needed": outcome["power"]["n_per_arm_for_target_power"],
             # the same rule as the primary outcome's: no detectable difference means no control risk to plan around
             "no_control_risk": outcome["power"]["minimum_detectable_difference"] is None,
             "relative": outcome["power"]["target_relative_reduction"],
             "direction": outcome["itt"].get("one_sided_direction") or "increase"}
            for name, outcome in results["outcomes"].items() if name != "attrition"]
    sentence = ("The other outcomes are too rare in a trial of this size to show a difference:" if rows else "")
    return {"sentence": sentence, "rows": rows}


def executive_summary(results: dict) -> str:
    """The summary as Markdown: what was tested, what changed, how sure we are, what it means.

    Every sentence follows the numbers: the verdict from the interval, the direction from the
    sign, and a figure the data cannot support is named as not estimable, never printed.
    """
    context = _context(results)
    trial = results.get("trial", {})
    bayes = context["bayes"]
    threshold = (1 - results["provenance"]["parameters"]["confidence_level"]) / 2
    return render_markdown(
        "summary.md.j2", **context, flow=results["flow"],
        period=f" reported between {trial['reported_from']} and {trial['reported_to']}"
        if trial.get("reported_from") else "",
        delivery_rate=results["compliance"]["treatment_received_rate"],
        verdict_sentence=VERDICT_SENTENCES[verdict(context["itt"], context["identification"])].format(
            reason=context["identification"].get("reason")),
        one_sided_threshold=f"{threshold * 100:g}%",
        bayes_judgement=None if missing(bayes.get("probability_of_reduction"))
        else _bayes_judgement(bayes["probability_of_reduction"]),
        rare_outcomes=_rare_outcomes(results))


def bottom_line(results: dict) -> str:
    """Page 1's paragraphs: the decision asked, the answer in one sentence (the as-delivered figure first), how sure
    we are, and what would settle it."""
    context = _context(results)
    judgement = JUDGEMENTS[verdict(context["itt"], context["identification"])]
    force_notes = results["extrapolation"].get("notes", {})
    return render_markdown("bottom_line.md.j2", **context,
                   judgement=judgement.format(delivery=context["identification"].get("delivery")),
                   answer=ANSWERS[answer_word(context["itt"], context["identification"],
                                              results["extrapolation"]["prevented"])],
                   delivered_reason=_reason(force_notes, "itt") or "the trial gives no relative change to carry",
                   full_reason=_reason(force_notes, "full_compliance") or _reason(
                       results["outcomes"]["attrition"].get("notes", {}), "cace.relative_risk_reduction")
                   or "the trial gives no complier effect to carry",
                   settle_reason=settle_reason(results["outcomes"]["attrition"]))
