"""The report's fixed content: references are complete (the CONSORT checklist: tests/test_consort.py)."""
from __future__ import annotations

import re

from helpers.report import tables


def test_every_work_cited_in_a_methods_key_has_a_full_reference():
    keys = {entry["key"] for entry in tables._template_yaml("references.yml")}
    for cited in ("Newcombe 1998", "Wilson 1927", "Lin 2013", "Holm 1979", "Hopewell et al. 2025",
                  "Angrist, Imbens & Rubin 1996", "Anderson & Rubin 1949"):
        assert cited in keys, cited
    assert all(len(text) > 40 for text in tables.references())


def _report_text(monkeypatch, tmp_path, params: dict) -> tuple[str, dict]:
    """Every table, heading and sentence the report notebook shows, for a trial run with ``params``."""
    import IPython.display

    from . import trials

    shown: list[str] = []
    keep = lambda obj, *args, **kwargs: shown.append(str(getattr(obj, "data", obj)))
    monkeypatch.setattr(IPython.display, "display", keep)
    monkeypatch.setattr(tables, "display", keep)
    results = trials.run_in_process(*trials.simulated(), tmp_path, params=params)
    return "\n".join(shown), results


def test_power_is_stated_at_the_level_the_parameters_set(monkeypatch, tmp_path):
    text, results = _report_text(monkeypatch, tmp_path, {"target_power": 0.9})
    power = results["outcomes"]["attrition"]["power"]
    assert power["target_power"] == 0.9
    assert "90% power" in text and f"{power['n_per_arm_for_target_power']:,}" in text
    assert not re.search(r"80 ?%[^.]{0,40}power|power[^.]{0,20}80 ?%", text), "a power level typed by hand"


def test_a_number_that_rounds_to_zero_has_no_sign():
    from helpers.report import numbers

    assert numbers.pct(-0.00001) == "0.0%" and numbers.points(-0.0001) == "0.0" and numbers.num(-1e-9) == "0.000"
    assert numbers.count(-0.4) == "0" and numbers.points(0.0, signed=True) == "0.0"
    assert numbers.pct(-0.05) == "\u22125.0%" and numbers.points(0.05, signed=True) == "+5.0"
    assert numbers.count(-1500) == "\u22121,500" and numbers.num(-0.0001, 3) == "0.000"
