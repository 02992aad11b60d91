"""The monitoring report's words and tables, from monitoring.json alone.

Page 1 says where the data come from (files, SHA-256, the command, the parameters), whether the
roll-out's order was randomised (else: an observational comparison), and the bottom line. Every
number is formatted by :mod:`helpers.report.numbers`; a ward is named only when it holds at least
the disclosure threshold's number of reports.
"""
from __future__ import annotations

import pandas as pd

from helpers.report.numbers import count, interval, level, p_value, pct, points, with_interval

REFERENCES = [
    "Anhøj J, Olesen AV (2014). Run charts revisited: a simulation study of run chart rules for detection of "
    "non-random variation in health care processes. PLoS ONE 9(11):e113825.",
    "Callaway B, Sant'Anna PHC (2021). Difference-in-differences with multiple time periods. Journal of "
    "Econometrics 225(2):200–230.",
    "Cameron AC, Gelbach JB, Miller DL (2008). Bootstrap-based improvements for inference with clustered "
    "errors. Review of Economics and Statistics 90(3):414–427.",
    "Hemming K, Haines TP, Chilton PJ, Girling AJ, Lilford RJ (2015). The stepped wedge cluster randomised "
    "trial: rationale, design, analysis, and reporting. BMJ 350:h391.",
    "Hussey MA, Hughes JP (2007). Design and analysis of stepped wedge cluster randomized trials. "
    "Contemporary Clinical Trials 28(2):182–191.",
    "Laney DB (2002). Improved control charts for attributes. Quality Engineering 14(4):531–537.",
    "Roth J, Sant'Anna PHC (2023). Efficient estimation for staggered rollout designs. Journal of Political "
    "Economy Microeconomics 1(4):669–709.",
    "Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Statistics in Medicine "
    "24(8):1185–1202.",
]


def provenance_lines(monitoring: dict) -> list[str]:
    """Page 1: the data's origin, every file with its SHA-256, the command, when."""
    extract, provenance = monitoring["extract"], monitoring["provenance"]
    lines = [extract["origin"] + ". No row describes a real person or crime." if extract["synthetic"] else
             "Data: the files named below, not made by the project's generator (no synthetic manifest matches them)."]
    lines += [f"{f['role'].capitalize()}: {f['file']}, SHA-256 {f['sha256']}" for f in provenance["files"]]
    lines.append(f"Command: {provenance['command']}")
    lines.append(parameters_line(monitoring))
    lines.append(f"Run on {provenance['generated_at']} by srceval {provenance['package_version']} (git commit "
                 f"{provenance['git_commit'] or 'unknown'})")
    return lines


def parameters_line(monitoring: dict) -> str:
    """The parameters that move a figure, in one line (all of them in the appendix)."""
    params = monitoring["provenance"]["parameters"]
    settings = params["monitoring"]
    return (f"Parameters: confidence level {level(params['confidence_level'])}, seed {params['seed']}, disclosure "
            f"threshold {params['disclosure_threshold']}, withdrawal codes "
            f"{', '.join(params['outcomes']['attrition']['codes'])}, {settings['bootstrap_draws']:,} bootstrap draws, "
            f"{settings['randomisation_test_draws']:,} randomisation-test draws")


def parameters_table(monitoring: dict) -> pd.DataFrame:
    """The parameters the monitoring used."""
    params = monitoring["provenance"]["parameters"]
    rows = [("Confidence level", level(params["confidence_level"])), ("Seed", str(params["seed"])),
            ("Disclosure threshold", f"{params['disclosure_threshold']} reports"),
            ("Withdrawal codes", ", ".join(params["outcomes"]["attrition"]["codes"]))]
    rows += [(f"monitoring.{key}", str(value)) for key, value in params["monitoring"].items()]
    return pd.DataFrame(rows, columns=["Parameter", "Value"])


def bottom_line(monitoring: dict) -> str:
    """The findings in plain words, each with its interval."""
    delivery, effect = monitoring["delivery"], monitoring["effect"]
    conf = level(effect["conf_level"])
    flagged = delivery["flagged_wards"]
    parts = [f"**Delivery.** Since go-live, {pct(delivery['force_rate'], 0)} of victims in live wards received the "
             f"contact ({count(delivery['reports_after_go_live'])} reports). "
             + (f"{len(flagged)} ward(s) deliver less than chance allows: {', '.join(flagged)}." if flagged else
                "No ward delivers less than chance allows.")]
    if effect["estimate"] is None:
        parts.append(f"**Withdrawal.** The effect of going live is not estimable: {effect['reason']}.")
    else:
        parts.append(f"**Withdrawal.** Going live changed a victim's risk of withdrawing by "
                     f"{points(effect['estimate'], signed=True)} points ({conf} interval "
                     f"{interval([effect['conf_low'], effect['conf_high']], lambda v: points(v, signed=True))}), "
                     f"against wards not yet live in the same months. " + _direction(effect))
    test = effect["randomisation_test"]
    if test is not None:
        parts.append(f"The order was randomised: the randomisation test of this estimate gives {p_value(test['p_value'])} "
                     f"({test['draws']:,} re-drawn orders).")
    naive = effect["naive_before_after"]
    if naive["estimate"] is not None:
        parts.append(f"A plain before-and-after comparison would say {points(naive['estimate'], signed=True)} points: "
                     "it credits SRC with everything else that changed over the same months.")
    trial = effect["trial_prediction"]
    if trial["estimate"] is not None:
        verdict = {True: "within", False: "outside", None: "not comparable with"}[trial["within_observed_interval"]]
        parts.append(f"The trial predicts {points(trial['estimate'], signed=True)} points for these wards, "
                     f"{verdict} the interval observed.")
    return "\n\n".join(parts)


def _direction(effect: dict) -> str:
    if effect["conf_high"] < 0:
        return "Withdrawal fell where SRC went live."
    if effect["conf_low"] > 0:
        return "Withdrawal rose where SRC went live."
    return "The interval includes no change: no clear evidence either way yet."


def effect_table(effect: dict) -> pd.DataFrame:
    """The staggered estimate, the naive comparison and the trial prediction side by side."""
    conf = level(effect["conf_level"])
    signed = lambda v: points(v, signed=True)
    naive, trial, test = effect["naive_before_after"], effect["trial_prediction"], effect["randomisation_test"]
    rows = [("Going live against not yet live (staggered)", with_interval(effect["estimate"], [
        effect["conf_low"], effect["conf_high"]], signed), p_value(effect["p_value"]), effect["method"]),
            ("Before and after go-live (naive, biased by the trend)", with_interval(naive["estimate"], [
                naive["conf_low"], naive["conf_high"]], signed), p_value(naive["p_value"]), naive["method"]),
            ("What the trial predicts for these wards", with_interval(trial["estimate"], [
                trial["conf_low"], trial["conf_high"]], signed), "–", trial["method"] + f" (source: {trial['source']})")]
    if test is not None:
        rows.append(("Randomisation test of the staggered estimate", "–", p_value(test["p_value"]),
                     test["method"] + f", {test['draws']:,} draws"))
    return pd.DataFrame(rows, columns=["Comparison", f"Change in withdrawal, points ({conf} interval)", "p-value",
                                       "Method"])


def event_table(effect: dict, window: tuple[int, int] = (-12, 24)) -> pd.DataFrame:
    """The event study within ``window`` months of go-live (as drawn; monitoring.json holds every month)."""
    rows = [{"Months since go-live": e["event_time"], "Reports": count(e["reports"]),
             "Change (points)": with_interval(e["estimate"], [e["conf_low"], e["conf_high"]],
                                              lambda v: points(v, signed=True)),
             "Kind": "placebo (before go-live)" if e["placebo"] else "effect"} for e in effect["event_time"]
            if window[0] <= e["event_time"] <= window[1]]
    return pd.DataFrame(rows)


def figure_caption(name: str, monitoring: dict) -> str:
    """What a monitoring figure shows, with its finding, for its caption and alternative text."""
    delivery, effect = monitoring["delivery"], monitoring["effect"]
    signals = sum(1 for month in delivery["by_month"] if month["signal"])
    flagged = len(delivery["flagged_wards"])
    estimate = ("not estimable" if effect["estimate"] is None else
                f"{points(effect['estimate'], signed=True)} points on average after go-live")
    captions = {
        "delivery_p_chart": f"Delivery of the contact in live wards, month by month, with its control limits: "
                            f"{signals} month{'s' if signals != 1 else ''} signal",
        "delivery_funnel": f"Each live ward's delivery since go-live against its reports, with 95% and 99.8% limits: "
                           f"{flagged} ward{'s' if flagged != 1 else ''} below the lower 99.8% limit",
        "event_study": f"Change in withdrawal by months since go-live (months before are placebo checks): {estimate}",
        "withdrawal_by_month": "Withdrawal by month in wards already live and wards not yet live",
    }
    return captions[name]


def month_table(delivery: dict) -> pd.DataFrame:
    rows = [{"Month": m["month"], "Reports": count(m["reports"]), "Delivered": count(m["delivered"]),
             "Rate": pct(m["rate"]), "Limits": f"{pct(m['lower_limit'])} to {pct(m['upper_limit'])}",
             "Signal": "yes" if m["signal"] else ""} for m in delivery["by_month"]]
    return pd.DataFrame(rows)


def ward_table(delivery: dict) -> pd.DataFrame:
    """The live wards, flagged first; wards too small to publish alone as one "other wards" row a borough."""
    rows = [{"Borough": w["borough"],
             "Ward": f"{w['ward']} ({w['wards']} combined)" if w["combined"] else w["ward"],
             "Reports": count(w["reports"]), "Delivered": count(w["delivered"]), "Rate": pct(w["rate"]),
             "Lower 99.8% limit": pct(w["lower_limit"]),
             "Flagged": "FLAGGED" if w["flagged"] else ""} for w in delivery["by_ward"]]
    frame = pd.DataFrame(rows)
    return frame.sort_values("Flagged", ascending=False, kind="stable") if len(frame) else frame


def chart_sentence(delivery: dict) -> str:
    runs = delivery["run_rules"]
    chart = ("Laney's p' chart (the months vary more than binomial noise: sigma_z = "
             f"{delivery['sigma_z']:.2f})" if delivery["chart"] == "laney" else
             f"p-chart (sigma_z = {delivery['sigma_z']:.2f}, no over-dispersion)")
    signals = sum(1 for m in delivery["by_month"] if m["signal"])
    rules = (f"longest run on one side of the median {runs['longest_run']} (signal above {runs['longest_run_limit']}), "
             f"{runs['crossings']} crossings (signal below {runs['crossings_limit']})")
    return f"{chart}; {signals} month(s) signal; Anhøj's rules: {rules}."


def limitations(monitoring: dict) -> list[str]:
    effect = monitoring["effect"]
    lines = [
        "Observational unless the order was randomised: wards chosen to go first may differ in ways that change "
        "withdrawal; the comparison with wards not yet live removes the trend they share, not that." if not
        monitoring["design"]["randomised"] else
        "The order was randomised; going live late (or not at all) against the plan would weaken that protection.",
        "Parallel trends: the estimate assumes that live wards' withdrawal would have moved as the not-yet-live "
        "wards' did; the placebo months before go-live test this, and are shown in the event study.",
        f"Months without a ward still not live give no estimate; {sum(1 for c in effect['cells'] if c['estimate'] is None)}"
        f" of {len(effect['cells'])} cohort-months are not estimable and left out, so the overall figure covers "
        "the earlier months after go-live more than the later.",
        "Outcomes recorded later are missing: open investigations are left out of the effect "
        f"({count(effect['left_out'].get('open_investigations', 0))} reports), which biases it if open cases differ.",
        "Funnel and control limits assume binomial variation around the force's rate; a ward that serves a "
        "different population can fall outside them for that reason alone.",
        f"Wards whose reports since go-live, reached or not reached, number 1 to "
        f"{monitoring['delivery']['disclosure_threshold'] - 1} are not named: they count together as \"other wards\" "
        "of their borough (months likewise join their neighbour), so no published count singles out a victim; a "
        "combined row is never flagged.",
    ]
    return lines
