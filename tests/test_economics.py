"""Economic cost and the EMMIE summary: hand-computed costs, unbounded upper limits, no typed numbers."""
import copy

import pytest

from helpers.methods import economics
from helpers.report.emmie import emmie_sections

ASSUMPTIONS = {"minutes_per_phone_contact": 20, "minutes_per_visit": 80, "minutes_per_unsuccessful_attempt": 10,
               "share_by_constables": 0.25, "hourly_cost_constable": 48, "hourly_cost_pcso": 32}


def test_blended_hourly_cost_by_hand():
    assert economics.blended_hourly_cost(ASSUMPTIONS) == pytest.approx(0.25 * 48 + 0.75 * 32)


def test_delivery_cost_by_hand():
    # 1,000 victims, 80% reached; 3 in 4 contacts by phone: 0.75*20 + 0.25*80 = 35 minutes each;
    # 200 unsuccessful attempts of 10 minutes.
    cost = economics.delivery_cost(1000, 0.8, ASSUMPTIONS, phone_share=0.75)
    hours = (800 * 35 + 200 * 10) / 60
    assert cost["hours_per_year"] == pytest.approx(hours)
    assert cost["cost_per_year"] == pytest.approx(hours * 36)


def test_cost_per_prevented_is_unbounded_when_the_effect_may_be_nil():
    value, interval = economics.cost_per_prevented(1_000_000, 1769, [-137, 3109])
    assert value == pytest.approx(1_000_000 / 1769)
    assert interval == [pytest.approx(1_000_000 / 3109), None]


def test_cost_per_prevented_bounded_when_the_effect_is_clear():
    _, interval = economics.cost_per_prevented(1_000_000, 2000, [1000, 3000])
    assert interval == [pytest.approx(1_000_000 / 3000), pytest.approx(1000.0)]


def test_shipped_economics(reference_results):
    econ = reference_results["economics"]
    params = reference_results["provenance"]["parameters"]["economics"]
    phone = 77 / 100  # the trial's mix: 77 phone, 23 in person
    minutes = phone * params["minutes_per_phone_contact"] + (1 - phone) * params["minutes_per_visit"]
    assert econ["phone_share"] == pytest.approx(phone)
    assert econ["hours_per_year"] == pytest.approx(22421 * minutes / 60)
    assert econ["cost_per_prevented_withdrawal"] == pytest.approx(
        econ["cost_per_year"] / reference_results["extrapolation"]["prevented"]["full_compliance"])
    assert econ["cost_per_prevented_withdrawal_ci"][1] is None and econ["upper_bound_unbounded"]


def test_changing_an_assumption_changes_every_cost(reference_results):
    attrition = reference_results["outcomes"]["attrition"]
    force, compliance = reference_results["extrapolation"], reference_results["compliance"]
    base = economics.economics(attrition, force, compliance, ASSUMPTIONS)
    dearer = economics.economics(attrition, force, compliance, {**ASSUMPTIONS, "hourly_cost_pcso": 64})
    for key in ("cost_per_year", "cost_per_prevented_withdrawal"):
        assert dearer[key] > base[key]
    assert dearer["cost_per_prevented_withdrawal_ci"][0] > base["cost_per_prevented_withdrawal_ci"][0]


def test_cost_falls_as_delivery_improves(reference_results):
    curve = economics.cost_curve(reference_results["outcomes"]["attrition"], reference_results["extrapolation"],
                                 ASSUMPTIONS, 0.77)
    assert curve["cost_per_prevented"].is_monotonic_decreasing


def test_emmie_sections_come_from_the_results(reference_results, params):
    sections = dict(emmie_sections(reference_results, params))
    assert list(sections) == ["Effect", "Mechanism", "Moderators", "Implementation", "Economic cost"]
    assert "between 39% fewer and 1% more withdrawals" in sections["Effect"]
    assert "p = 0.038" in sections["Effect"] and "p = 0.076" in sections["Effect"]
    assert "Exploratory" in sections["Moderators"]
    assert "80% of victims allocated to SRC received the contact (77 phone, 23 in person)" in sections["Implementation"]
    assert "no upper bound" in sections["Economic cost"]
    changed = copy.deepcopy(reference_results)
    changed["economics"]["cost_per_year"] = 123456789
    assert "£123,456,789" in dict(emmie_sections(changed, params))["Economic cost"]


def test_a_parameters_file_change_reaches_every_cost_figure(tmp_path, reference_results):
    """Edit one assumption in a copy of the parameters file and rerun stages 1 to 5 in process."""
    import yaml

    from helpers import config
    from helpers.pipeline import stages
    from helpers.pipeline.context import open_stage
    from helpers.pipeline.results import assemble_results

    params = yaml.safe_load(config.PARAMETERS_FILE.read_text())
    params["economics"]["minutes_per_phone_contact"] *= 2
    edited = tmp_path / "run.yml"
    edited.write_text(yaml.safe_dump(params))
    ctx = open_stage(params_file=edited, output_dir=tmp_path / "out", processed_dir=tmp_path / "p",
                     randomisation_draws=1000)
    stages.run_stages(ctx)
    results = assemble_results(ctx)
    econ, base = results["economics"], reference_results["economics"]
    for key in ("hours_per_year", "cost_per_year", "cost_per_prevented_withdrawal"):
        assert econ[key] > base[key], key
    minutes = lambda r: r["provenance"]["parameters"]["economics"]["minutes_per_phone_contact"]
    assert minutes(results) == 2 * minutes(reference_results)


def test_the_unbounded_flag_agrees_with_the_interval(reference_results):
    """True only when there is a cost per prevented withdrawal with no upper limit; None when there is none."""
    force = reference_results["extrapolation"]
    delivery = {"contact_modes": {"phone": 77, "in person": 23}}
    attrition = reference_results["outcomes"]["attrition"]
    shipped = economics.economics(attrition, force, delivery, ASSUMPTIONS)
    assert shipped["upper_bound_unbounded"] is True and shipped["cost_per_prevented_withdrawal_ci"][1] is None
    clear = economics.economics(attrition, {**force, "prevented": {**force["prevented"], "full_compliance_ci": [1000, 3000]}},
                                delivery, ASSUMPTIONS)
    assert clear["upper_bound_unbounded"] is False and None not in clear["cost_per_prevented_withdrawal_ci"]
    harm = economics.economics(attrition, {**force, "prevented": {**force["prevented"], "full_compliance": -200,
                                                                  "full_compliance_ci": [-900, 400]}},
                               delivery, ASSUMPTIONS)
    assert harm["cost_per_prevented_withdrawal"] is None and harm["cost_per_prevented_withdrawal_ci"] == [None, None]
    assert harm["upper_bound_unbounded"] is None
    assert harm["reason"] == ("not estimable: the complier estimate prevents no withdrawals (it is no change or an "
                              "increase), so no cost buys one")


def test_no_contact_delivered_is_no_cost_figure(reference_results):
    force = reference_results["extrapolation"]
    attrition = reference_results["outcomes"]["attrition"]
    none = economics.economics(attrition, force, {"contact_modes": {}}, ASSUMPTIONS)
    assert none["cost_per_year"] is None and none["phone_share"] is None and none["upper_bound_unbounded"] is None
    assert none["reason"].startswith("not estimable: no contact was delivered")
    why = economics.economics(attrition, force, {"contact_modes": {"phone": 3}}, ASSUMPTIONS, not_an_effect="because")
    assert why["cost_per_year"] is None and why["reason"] == "not estimable: because"
