"""`srceval diff` by meaning: records paired by their keys, never by their place in a list.

The reference is results.json of the shipped data (built in process) and the same document with
its lists reordered by hypothesis: a reordering changes no figure, so the diff must find none; and
a change made at a known record must be reported at that record's key, whatever the order.
"""
from __future__ import annotations

import copy
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import config
from helpers.pipeline import compare
from helpers.pipeline.compare import ABSENT, diff_results, format_changes, headline_rows

from .hypothesis_profiles import examples


@pytest.fixture(scope="module")
def results(reference_results) -> dict:
    return json.loads(json.dumps(reference_results))  # plain JSON, as read from the file


def _reordered(value, rng: random.Random, path: tuple = ()):
    """The document with every list whose order means nothing shuffled: lists of records, lists the
    diff treats as sets, and lists named by a list beside them (shuffled together with it)."""
    if isinstance(value, dict):
        out = {key: _reordered(child, rng, path + (key,)) for key, child in value.items()}
        for field, names in compare.NAMED_BY.items():
            name, by = field.rsplit(".", 1)[-1], names
            if isinstance(out.get(name), list) and isinstance(out.get(by), list) and len(out[name]) == len(out[by]):
                pairs = list(zip(value[by], value[name]))  # as they were: the names keep their values
                rng.shuffle(pairs)
                out[by], out[name] = [p[0] for p in pairs], [p[1] for p in pairs]
        return out
    if isinstance(value, list):
        items = [_reordered(item, rng, path + (compare.Key(("x",)),)) for item in value]
        where = compare._pattern(path)
        records = items and all(isinstance(item, dict) for item in items)
        if records or compare._lookup(compare.UNORDERED, where) is not None:
            rng.shuffle(items)
        return items
    return value


QUIET = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # the document's long repr


@QUIET
@settings(max_examples=examples(25))
@given(st.randoms(use_true_random=False))
def test_the_same_results_reordered_have_no_difference(results, rng):
    shuffled = _reordered(results, rng)
    assert diff_results(results, shuffled) == []
    assert format_changes(diff_results(results, shuffled)) == "No differences."


def test_the_reordering_moves_rows(results):
    """The property above would pass vacuously if nothing moved: a positional comparison sees the shuffle."""
    shuffled = _reordered(results, random.Random(3))
    assert [row["level"] for row in shuffled["allocation_audit"]["balance"]] != \
        [row["level"] for row in results["allocation_audit"]["balance"]]
    positional = [path for path, _, _ in _positional_diff(results, shuffled)]
    assert any(path.startswith("allocation_audit.balance[") for path in positional)


def _positional_diff(old, new):
    """The comparison by position that `srceval diff` used to make (a negative control)."""
    def leaves(value, prefix=""):
        if isinstance(value, dict):
            return {k: v for key, child in value.items() for k, v in leaves(child, f"{prefix}.{key}").items()}
        if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
            return {k: v for i, child in enumerate(value) for k, v in leaves(child, f"{prefix}[{i}]").items()}
        return {prefix: value}
    a, b = leaves(old), leaves(new)
    return [(path.lstrip("."), a.get(path), b.get(path)) for path in set(a) | set(b) if a.get(path) != b.get(path)]


@QUIET
@settings(max_examples=examples(15))
@given(st.randoms(use_true_random=False), st.integers(min_value=0, max_value=28))
def test_a_change_is_reported_at_its_records_key_in_any_order(results, rng, row):
    changed = copy.deepcopy(results)
    balance = changed["allocation_audit"]["balance"]
    target = balance[row % len(balance)]
    target["n"] = (target["n"] if isinstance(target["n"], int) else 0) + 1000
    changes = diff_results(results, _reordered(changed, rng))
    assert [(c.path, c.new) for c in changes] == \
        [(f"allocation_audit.balance[{target['covariate']} / {target['level']}].n", target["n"])]


def test_an_interval_is_a_pair_whose_order_matters(results):
    """The ends of an interval are not a set: swapping them is a difference (a negative control)."""
    changed = copy.deepcopy(results)
    low, high = changed["outcomes"]["attrition"]["itt"]["risk_difference_ci"]
    changed["outcomes"]["attrition"]["itt"]["risk_difference_ci"] = [high, low]
    assert [c.path for c in diff_results(results, changed)] == ["outcomes.attrition.itt.risk_difference_ci"]


def test_headline_figures_come_first_then_each_section_in_the_files_order(results):
    changed = copy.deepcopy(results)
    changed["warnings"] = changed["warnings"] + ["a new warning"]
    changed["compliance"]["by_borough"][0]["received"] = "1"
    changed["outcomes"]["attrition"]["itt"]["risk_ratio"] = 0.5
    changed["flow"]["randomised"] += 1
    changes = diff_results(results, changed)
    assert [c.path for c in changes] == [
        "flow.randomised", "outcomes.attrition.itt.risk_ratio",  # the headline, in HEADLINE's order
        f"compliance.by_borough[{results['compliance']['by_borough'][0]['group']}].received", "warnings"]
    text = format_changes(changes)
    assert text.index("Headline figures (2 changed)") < text.index("compliance (1 changed)") < \
        text.index("warnings (1 changed)")
    assert 'warnings  added ["a new warning"]' in text
    assert "Reports randomised" in text and "Risk ratio, as randomised" in text


def test_a_record_in_one_file_only_is_one_change(results):
    changed = copy.deepcopy(results)
    removed = changed["estimates"].pop(5)
    changed["subgroups"][0]["levels"].append({"subgroup": "a new level", "n": 12})
    changes = diff_results(results, changed)
    assert [(c.path, c.old, c.new) for c in changes] == [
        (f"estimates[{removed['outcome']} / {removed['estimand']}]", f"a record of {len(removed)} values", ABSENT),
        (f"subgroups[{results['subgroups'][0]['by']}].levels[a new level]", ABSENT, "a record of 2 values")]


def test_records_sharing_a_key_pair_by_content_not_position():
    old = {"analyses": [{"analysis": "x", "role": "primary"}, {"analysis": "x", "role": "secondary"}]}
    new = copy.deepcopy({"analyses": list(reversed(old["analyses"]))})
    assert diff_results(old, new) == []
    # Records that share a key are told apart by their content, so the pairing does not follow the order.
    new["analyses"][0]["role"] = "exploratory"
    assert {(c.path, c.old, c.new) for c in diff_results(old, new)} == {
        ("analyses[x / #1].role", "primary", "exploratory"), ("analyses[x / #2].role", "secondary", "primary")}


def test_a_list_not_in_the_registry_is_keyed_by_its_names():
    old = {"extra": [{"group": "a", "value": 1}, {"group": "b", "value": 2}]}
    new = {"extra": [{"group": "b", "value": 3}, {"group": "a", "value": 1}]}
    assert [(c.path, c.old, c.new) for c in diff_results(old, new)] == [("extra[b].value", 2, 3)]


def _lists(value, path=()):
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _lists(child, path + (key,))
    elif isinstance(value, list):
        yield path, value
        for item in value:
            yield from _lists(item, path + (compare.Key(("x",)),))


TUPLES = ("_ci", "interval", "prior", "sceptical_prior", "share_range", "this_run")


def test_every_list_in_results_has_a_natural_key_or_is_a_set_or_a_tuple(results):
    """A list of records is named by registered fields that tell its records apart; a list of
    values is a set (its order means nothing) or a tuple (an interval, a prior, values named by a
    list beside them)."""
    for path, items in _lists(results):
        where = compare._pattern(path)
        if not items:  # nothing to tell from an empty list; another run fills it
            continue
        if all(isinstance(item, dict) for item in items):
            fields = compare._lookup(compare.RECORD_KEYS, where)
            assert fields, f"{where}: a list of records with no key in RECORD_KEYS"
            keys = [tuple(item.get(field) for field in fields) for item in items]
            assert len(set(keys)) == len(keys), f"{where}: {fields} do not tell its records apart"
        elif compare._lookup(compare.UNORDERED, where) is None:
            assert where.endswith(TUPLES), f"{where}: a list of values neither a set nor a tuple"


def test_every_list_of_records_the_schema_describes_has_a_key():
    schema = json.loads(config.SCHEMA_FILE.read_text(encoding="utf-8"))
    definitions = {**schema.get("$defs", {}), **schema.get("definitions", {})}

    def resolve(node):
        while isinstance(node, dict) and "$ref" in node:
            node = definitions[node["$ref"].split("/")[-1]]
        return node

    def walk(node, where):
        node = resolve(node)
        if not isinstance(node, dict):
            return
        for branch in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(branch, []):
                yield from walk(sub, where)
        if "items" in node:
            items = resolve(node["items"])
            if isinstance(items, dict) and items.get("type") == "object":
                yield where
            yield from walk(items, where + "[]")
        for key, child in node.get("properties", {}).items():
            yield from walk(child, f"{where}.{key}" if where else key)
        if isinstance(node.get("additionalProperties"), dict):
            yield from walk(node["additionalProperties"], where + ".any")

    record_lists = set(walk(schema, ""))
    assert record_lists
    assert [where for where in record_lists if compare._lookup(compare.RECORD_KEYS, where) is None] == []


def test_headline_rows_give_both_runs_figures(results):
    earlier = copy.deepcopy(results)
    earlier["flow"]["randomised"] = 240
    del earlier["extrapolation"]
    rows = {row["path"]: row for row in headline_rows(earlier, results)}
    assert rows["flow.randomised"] == {"label": "Reports randomised", "path": "flow.randomised", "old": 240,
                                       "new": results["flow"]["randomised"], "changed": True}
    assert rows["extrapolation.prevented.itt"]["old"] == ABSENT and rows["extrapolation.prevented.itt"]["changed"]
    assert not rows["outcomes.attrition.itt.risk_ratio"]["changed"]


def test_a_last_run_of_an_earlier_form_keeps_only_its_headline_figures_of_the_same_form(results, tmp_path):
    earlier = {"schema_version": "1", "flow": {"randomised": "240", "allocated": {"treatment": 120, "control": True}},
               "outcomes": {"attrition": {"itt": {"risk_difference": -0.2, "risk_difference_ci": [-0.3, "x"]},
                                          "extra": [1, 2]}},
               "provenance": {"generated_at": "2025-01-02T03:04:05+00:00", "package_version": 9}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(earlier))
    kept, same_form = compare.read_last_run(path, results)
    assert not same_form
    assert kept == {"flow": {"allocated": {"treatment": 120}}, "outcomes": {"attrition": {"itt": {"risk_difference": -0.2}}},
                    "provenance": {"generated_at": "2025-01-02T03:04:05+00:00"}}
    path.write_text(json.dumps(results))
    assert compare.read_last_run(path, results) == (results, True)
    path.write_text(json.dumps({**earlier, "outcomes": [1]}))
    with pytest.raises(compare.NotResults, match="outcomes or provenance is not an object"):
        compare.read_last_run(path, results)


def test_floating_point_noise_is_no_change_but_the_next_digit_is(results):
    noisy = copy.deepcopy(results)
    noisy["outcomes"]["attrition"]["cace"]["risk_difference"] = -0.14999999999999633
    results = copy.deepcopy(results)
    results["outcomes"]["attrition"]["cace"]["risk_difference"] = -0.1499999999999962
    assert diff_results(results, noisy) == []
    noisy["outcomes"]["attrition"]["cace"]["risk_difference"] = -0.1499999999
    assert [c.path for c in diff_results(results, noisy)] == ["outcomes.attrition.cace.risk_difference"]


def test_a_last_run_of_an_earlier_form_keeps_no_figure_outside_its_parameter_space(results, tmp_path):
    earlier = {"schema_version": "1", "flow": {"randomised": 250.7, "allocated": {"treatment": 120, "control": 120}},
               "compliance": {"treatment_received_rate": -5},
               "outcomes": {"attrition": {"control": {"risk": 1e300}, "treatment": {"risk": 0.4},
                                          "itt": {"risk_difference": -0.2, "risk_difference_ci": [0.9, -0.9],
                                                  "risk_ratio_ci": [0.5, 1.2]}}},
               "provenance": {}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(earlier))
    kept, _ = compare.read_last_run(path, results)
    assert kept == {"flow": {"allocated": {"treatment": 120, "control": 120}},
                    "outcomes": {"attrition": {"treatment": {"risk": 0.4},
                                               "itt": {"risk_difference": -0.2, "risk_ratio_ci": [0.5, 1.2]}}}}


def test_a_last_run_with_no_comparable_figure_is_said_to_be_incomparable(results, tmp_path):
    from helpers.report.sections import Report

    def changes(earlier: dict) -> str:
        path = tmp_path / "earlier" / "results.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(earlier))
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        (out / "results.json").write_text(json.dumps(results))
        text = Report(results, out, previous_results=path).render("changes")
        return " ".join(text.split())

    earlier = {"schema_version": "1", "provenance": {"generated_at": "2025-01-02T03:04:05+00:00"}, "outcomes": {}}
    text = changes(earlier)
    assert "headline figures changed" not in text and "earlier form" not in text
    assert "The last run's figures cannot be compared with this run's" in text
    assert "read an allocation file it did not record and an extract file it did not record." in text
    partly = {**earlier, "flow": {"randomised": results["flow"]["randomised"] - 10}}
    assert "1 of the 1 headline figures it holds changed." in changes(partly)
    broken = tmp_path / "earlier" / "results.json"
    broken.write_text('{"schema_version": ')
    out = tmp_path / "out"
    text = Report(results, out, previous_results=broken).render("changes")
    assert "results.json cannot be read" in text and str(tmp_path) not in text  # the file by its name alone
