"""Compare two results.json files by meaning: what a new extract, or a new version, did to each figure.

A table in results.json is a list of records, and a record is named by what it is, never by where
it stands: a balance row by its covariate and level, an estimate by its outcome and estimand, a
ward by its borough and name (:data:`RECORD_KEYS`). Lists of names whose order means nothing
(warnings, boroughs, outcome codes) compare as sets (:data:`UNORDERED`); a list that is a tuple
(an interval's two ends, a prior's two parameters) compares as it stands. So the same results with
every table and set reordered compare equal, and a change is listed under the record it belongs
to: ``allocation_audit.balance[Victim age band / 65+].standardised_difference``.

The headline figures (:data:`HEADLINE`) come first, then everything else grouped by section of
results.json, in the file's order. ``srceval diff`` prints the list; the report's "What changed
since the last run" shows the headline figures of both runs (:func:`headline_rows`).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import NamedTuple

IGNORED = ("provenance.generated_at",)
ABSENT = "(absent)"

# Each list of records and the fields that name one of its records. A path joins the keys of
# results.json with '.', '*' stands for any one key and '[]' for the records of a list.
RECORD_KEYS = {
    "allocation_audit.balance": ("covariate", "level"),
    "allocation_audit.by_month.table": ("period",),
    "allocation_audit.by_weekday.table": ("period",),
    "analyses": ("analysis",),
    "compliance.by_borough": ("group",),
    "compliance.by_hate_strand": ("group",),
    "compliance.by_month": ("group",),
    "compliance.by_ward": ("borough", "group"),
    "compliance.contact_modes": ("group",),
    "compliance.predictors_of_delivery.terms": ("term",),
    "design.audit.blocks": ("block",),
    "design.audit.breaches": ("cluster", "arm"),
    "design.audit.cluster_balance": ("covariate", "level"),
    "design.not_valid": ("analysis",),
    "estimates": ("outcome", "estimand"),
    "exclusions": ("stage", "file", "reason"),
    "extrapolation.delivery_scenarios": ("delivery_rate",),
    "reconciliation": ("published",),
    "skipped": ("analysis",),
    "subgroups": ("by",),
    "subgroups[].levels": ("subgroup",),
}
# A list of records not named above is named by the first two of these fields that it has, or
# failing that by its whole content.
KEY_CANDIDATES = ("key", "name", "id", "group", "term", "analysis", "outcome", "estimand", "covariate", "level",
                  "by", "subgroup", "block", "cluster", "month", "weekday", "file", "reason")
# Lists of values whose order means nothing.
UNORDERED = ("allocation_audit.flags", "design.audit.flags", "design.audit.blocks_with_one_arm", "warnings",
             "trial.boroughs", "outcomes.*.codes", "inputs.*.dropped_identifier_columns",
             "compliance.predictors_of_delivery.dropped", "exclusions[].first_rows", "reconciliation[].results",
             "analysis_plan.covariates.columns", "analysis_plan.subgroups.columns",
             "provenance.parameters.outcomes.*.codes", "provenance.parameters.analysis_plan.covariates.columns",
             "provenance.parameters.analysis_plan.subgroups.columns", "provenance.parameters.delivery_scenarios")
# Lists of values named by a list of names beside them in the same record: value i is names[i].
NAMED_BY = {"reconciliation[].this_run": "results"}

# The figures a reader looks at first, in order: (label, path); {primary} is the primary outcome.
HEADLINE = (
    ("Reports randomised", "flow.randomised"),
    ("Allocated to SRC", "flow.allocated.treatment"),
    ("Allocated to business as usual", "flow.allocated.control"),
    ("Share of the SRC arm who received the contact", "compliance.treatment_received_rate"),
    ("Primary outcome, business-as-usual risk", "outcomes.{primary}.control.risk"),
    ("Primary outcome, SRC risk", "outcomes.{primary}.treatment.risk"),
    ("Risk difference, as randomised", "outcomes.{primary}.itt.risk_difference"),
    ("Risk difference, as randomised: interval", "outcomes.{primary}.itt.risk_difference_ci"),
    ("Risk ratio, as randomised", "outcomes.{primary}.itt.risk_ratio"),
    ("Risk ratio, as randomised: interval", "outcomes.{primary}.itt.risk_ratio_ci"),
    ("Exact p-value (two-sided)", "outcomes.{primary}.itt.p_value_exact"),
    ("Complier effect (risk difference)", "outcomes.{primary}.cace.risk_difference"),
    ("Complier effect (risk difference): interval", "outcomes.{primary}.cace.risk_difference_ci"),
    ("Complier relative reduction", "outcomes.{primary}.cace.relative_risk_reduction"),
    ("Reports per arm for the target power", "outcomes.{primary}.power.n_per_arm_for_target_power"),
    ("Withdrawals prevented a year, as delivered", "extrapolation.prevented.itt"),
    ("Withdrawals prevented a year, as delivered: interval", "extrapolation.prevented.itt_ci"),
    ("Withdrawals prevented a year, delivered to every victim", "extrapolation.prevented.full_compliance"),
    ("Withdrawals prevented a year, delivered to every victim: interval",
     "extrapolation.prevented.full_compliance_ci"),
)


class Unordered(list):
    """A list whose order means nothing, kept sorted: the same items in any order are equal."""


class Key(tuple):
    """The name of a record in a list: the values of its key fields."""

    def __str__(self) -> str:
        return " / ".join("–" if value is None else str(value) for value in self)


class Change(NamedTuple):
    """One leaf that differs: where it is, and its value in each file (:data:`ABSENT` if missing)."""

    path: str
    old: object
    new: object


class Changes(list):
    """Changes in reading order: the headline figures first, then each section's.

    ``headline`` maps the path of each headline figure that changed to its label.
    """

    def __init__(self, changes=(), headline: dict[str, str] | None = None):
        super().__init__(changes)
        self.headline = headline or {}


def flatten(value, path: tuple = ()) -> dict[tuple, object]:
    """Leaves of a JSON document keyed by their path; records in lists by their key, not their position.

    A path is a tuple of dictionary keys and :class:`Key` (a record of a list); :func:`path_text`
    writes it as text. Unordered lists become sorted lists, so that any order compares equal.
    """
    if isinstance(value, dict):
        out: dict[tuple, object] = {}
        for name, child in value.items():
            names = value.get(_lookup(NAMED_BY, _pattern(path + (name,))) or "")
            if isinstance(child, list) and isinstance(names, list) and len(names) == len(child):
                for label, item in zip(names, child):
                    out.update(flatten(item, path + (name, Key((label,)))))
            else:
                out.update(flatten(child, path + (name,)))
        return out
    if isinstance(value, list) and value:
        if all(isinstance(item, dict) for item in value):
            out = {}
            for key, record in keyed_records(value, _pattern(path)):
                out.update(flatten(record, path + (key,)))
            return out
        if any(isinstance(item, (dict, list)) for item in value):  # a list of lists: by position
            out = {}
            for index, item in enumerate(value):
                out.update(flatten(item, path + (Key((f"#{index + 1}",)),)))
            return out
        if _lookup(UNORDERED, _pattern(path)) is not None:
            return {path: Unordered(sorted(value, key=_canonical))}
    return {path: value}


def keyed_records(records: list[dict], where: str) -> list[tuple[Key, dict]]:
    """Each record with its name (:data:`RECORD_KEYS`); records that share a name are told apart by
    their content, in an order that does not depend on the list's."""
    fields = _lookup(RECORD_KEYS, where)
    named: dict[Key, list[dict]] = {}
    for record in records:
        named.setdefault(_record_key(record, fields), []).append(record)
    out = []
    for key, group in named.items():
        if len(group) == 1:
            out.append((key, group[0]))
        else:
            out += [(Key((*key, f"#{n}")), record) for n, record in enumerate(sorted(group, key=_canonical), start=1)]
    return out


def _record_key(record: dict, fields: tuple[str, ...] | None) -> Key:
    if fields is None:
        fields = tuple(f for f in KEY_CANDIDATES if isinstance(record.get(f), (str, int, float)))[:2]
    if not fields:
        return Key((_canonical(record),))
    return Key(tuple(record.get(field) for field in fields))


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _pattern(path: tuple) -> str:
    """The path as the registries write it: keys joined by '.', a record of a list as '[]'."""
    text = ""
    for part in path:
        text += "[]" if isinstance(part, Key) else (f".{part}" if text else str(part))
    return text


_COMPILED: dict[str, re.Pattern] = {}


def _lookup(table, where: str):
    """The entry of a registry (a dict or a tuple of paths) whose path matches ``where``; '*' is any one key."""
    for pattern in table:
        compiled = _COMPILED.setdefault(pattern, re.compile(re.escape(pattern).replace(r"\*", r"[^.\[\]]+")))
        if compiled.fullmatch(where):
            return table[pattern] if isinstance(table, dict) else pattern
    return None


def path_text(path: tuple) -> str:
    """A path as text: ``allocation_audit.balance[Victim age band / 65+].standardised_difference``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, Key) else (f".{part}" if text else str(part))
    return text


def headline_paths(results: dict) -> list[tuple[str, str]]:
    """(label, path) of each headline figure, for the primary outcome this results file names."""
    primary = (results.get("analysis_plan") or {}).get("primary_outcome") or "attrition"
    return [(label, path.format(primary=primary)) for label, path in HEADLINE]


FLOAT_NOISE = 1e-12  # relative: two computations of one figure that differ only in the last bits are the same


def _close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance or math.isclose(a, b, rel_tol=FLOAT_NOISE, abs_tol=1e-15)


def _same(a, b, tolerance: float) -> bool:
    """Equal, or numbers (or lists of numbers, such as intervals) within ``tolerance`` or floating-point noise."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if number(a) and number(b):
        return _close(a, b, tolerance)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a and all(map(number, a + b)):
        return all(_close(x, y, tolerance) for x, y in zip(a, b))
    return a == b


def diff_results(old: dict, new: dict, *, tolerance: float = 0.0) -> Changes:
    """Every leaf that differs, as :class:`Change` rows; numbers within ``tolerance`` count as equal.

    Records are paired by their key (:func:`flatten`); the headline figures come first, then the
    rest by section, in the order of the sections in the files.
    """
    before, after = _leaves(old), _leaves(new)
    changes = [Change(path, before.get(path, ABSENT), after.get(path, ABSENT))
               for path in sorted(set(before) | set(after))
               if path not in IGNORED and not _same(before.get(path, ABSENT), after.get(path, ABSENT), tolerance)]
    changes = _whole_records(changes, _records(old), _records(new))
    labels = dict((path, label) for label, path in headline_paths(new) + headline_paths(old))
    order = {path: n for n, (_, path) in enumerate(headline_paths(new) + headline_paths(old))}
    sections = list(dict.fromkeys([*old, *new]))
    first = sorted((c for c in changes if c.path in labels), key=lambda c: order[c.path])
    rest = sorted((c for c in changes if c.path not in labels), key=lambda c: _section_rank(c.path, sections))
    return Changes(first + rest, headline={c.path: labels[c.path] for c in first})


def _leaves(results: dict) -> dict[str, object]:
    return {path_text(path): value for path, value in flatten(results).items()}


def _records(results: dict) -> set[str]:
    """Every record of every list in the file, by its path."""
    return {path_text(path[:end + 1]) for path in flatten(results)
            for end, part in enumerate(path) if isinstance(part, Key)}


class Record(str):
    """A whole record present in one file only, shown as one change rather than one per field."""


def _whole_records(changes: list[Change], before: set[str], after: set[str]) -> list[Change]:
    """Changes inside a record that one file lacks, folded into one change for the record."""
    folded: dict[str, list[Change]] = {}
    kept = []
    for change in changes:
        prefixes = [change.path[:end + 1] for end, char in enumerate(change.path) if char == "]"]
        record = next((p for p in prefixes if (p in before) != (p in after)), None)
        if record is None:
            kept.append(change)
        else:
            folded.setdefault(record, []).append(change)
    for record, inside in folded.items():
        whole = Record(f"a record of {len(inside)} value{'s' if len(inside) > 1 else ''}")
        kept.append(Change(record, whole if record in before else ABSENT, whole if record in after else ABSENT))
    return sorted(kept, key=lambda change: change.path)


def section_of(path: str) -> str:
    """The top-level section of results.json a path belongs to ('outcomes', 'compliance', ...)."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _section_rank(path: str, sections: list[str]) -> int:
    section = section_of(path)
    return sections.index(section) if section in sections else len(sections)


class NotResults(ValueError):
    """A file given to compare is not a readable srceval results.json."""


def read_results(path: Path, *, check_schema: bool = True) -> dict:
    """A results.json, or :class:`NotResults` saying why the file is not one.

    The file is read bounded (a regular file, at most ``MAX_JSON_BYTES``, nesting at most
    ``MAX_JSON_DEPTH`` deep, every number finite) and checked against the results schema before
    anything is compared (:mod:`helpers.inputs.bounded`). ``check_schema=False`` takes a results.json
    of an earlier form as it is (the report's comparison with the last run shows what the two share);
    ``srceval diff`` always checks.
    """
    from helpers.inputs.bounded import BoundedInputError, read_json_file, schema_problem
    from helpers.pipeline.results import load_schema

    try:
        data = read_json_file(path, what="file")
    except BoundedInputError as error:
        raise NotResults(f"{error}".replace("the file ", "", 1)) from None
    if not isinstance(data, dict) or not {"schema_version", "outcomes", "provenance"} <= set(data):
        raise NotResults(f"{path} is not an srceval results.json (it lacks schema_version, outcomes or provenance)")
    if not check_schema and not all(isinstance(data[key], dict) for key in ("outcomes", "provenance")):
        raise NotResults(f"{path} is not an srceval results.json (its outcomes or provenance is not an object)")
    problem = schema_problem(data, load_schema()) if check_schema else None
    if problem:
        raise NotResults(f"{path} is not an srceval results.json: it does not follow the results schema ({problem})")
    return data


# What an earlier results.json must hold, as text, for the report to say when and from what it was made.
EARLIER_TEXT = ("provenance.generated_at", "provenance.package_version", "inputs.allocation_sha256",
                "inputs.extract_sha256", "inputs.allocation.file", "inputs.extract.file")


def read_last_run(path: Path, current: dict) -> tuple[dict, bool]:
    """The results.json of the last run into an output folder, for the report's comparison with this run
    (``current``), and whether it follows today's schema.

    A file of an earlier form is reduced to its headline figures whose values have the form of this
    run's (a number, or an interval of numbers) and to its dates, version and file names: no other part of
    it is compared. :class:`NotResults` when it is not a results.json at all.
    """
    from helpers.inputs.bounded import schema_problem
    from helpers.pipeline.results import load_schema

    data = read_results(path, check_schema=False)
    if schema_problem(data, load_schema()) is None:
        return data, True
    number = lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
    kept: dict = {}
    leaves, now = _leaves(data), _leaves(current)
    for _, where in headline_paths(current):
        value = leaves.get(where, ABSENT)
        shaped = number(value) if number(now.get(where)) else (
            isinstance(value, list) and len(value) == 2 and all(map(number, value)))
        if value is not ABSENT and shaped and _in_space(where, value):
            _put(kept, where, value)
    for where in EARLIER_TEXT:
        if isinstance(leaves.get(where), str):
            _put(kept, where, leaves[where])
    return kept, False


# The parameter space of each headline figure, by its last key: a hand-edited or broken earlier file's
# figure outside it is not compared (it would show as a risk of 300%, say).
_SPACES = {"randomised": (0, None, True), "treatment": (0, None, True), "control": (0, None, True),
           "n_per_arm_for_target_power": (1, None, True), "treatment_received_rate": (0, 1, False),
           "risk": (0, 1, False), "p_value_exact": (0, 1, False), "risk_difference": (-1, 1, False),
           "risk_ratio": (0, None, False), "relative_risk_reduction": (None, 1, False)}


def _in_space(path: str, value) -> bool:
    """Whether an earlier file's headline figure (a number, or an interval) lies in its parameter space."""
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and None not in value and value[0] > value[1]:
        return False
    low, high, whole = _SPACES.get(path.rsplit(".", 1)[-1].removesuffix("_ci"), (None, None, False))
    return all(v is None or ((low is None or v >= low) and (high is None or v <= high)
                             and (not whole or float(v).is_integer())) for v in values)


def _put(target: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def diff_files(old_path: Path, new_path: Path, *, tolerance: float = 0.0) -> Changes:
    old, new = read_results(old_path), read_results(new_path)
    return diff_results(old, new, tolerance=tolerance)


def format_changes(changes: list[Change]) -> str:
    """The changes as ``srceval diff`` prints them: the headline figures, then each section's."""
    if not changes:
        return "No differences."
    headline = getattr(changes, "headline", {})
    lines = [f"{len(changes)} difference{'s' if len(changes) > 1 else ''}."]
    first = [c for c in changes if c.path in headline]
    lines.append(f"\nHeadline figures ({len(first)} changed):" if first else "\nHeadline figures: unchanged.")
    width = max(len(headline[c.path]) for c in first) if first else 0
    lines += [f"  {headline[c.path]:<{width}}  {_show_change(c.old, c.new)}    ({c.path})" for c in first]
    rest = [c for c in changes if c.path not in headline]
    for section in dict.fromkeys(section_of(c.path) for c in rest):
        group = [c for c in rest if section_of(c.path) == section]
        width = max(len(c.path) for c in group)
        lines.append(f"\n{section} ({len(group)} changed):")
        lines += [f"  {c.path:<{width}}  {_show_change(c.old, c.new)}" for c in group]
    return "\n".join(lines)


def headline_rows(old: dict, new: dict, *, tolerance: float = 0.0) -> list[dict]:
    """Each headline figure of both files, whether or not it changed: label, path, old, new, changed."""
    before, after = _leaves(old), _leaves(new)
    return [{"label": label, "path": path, "old": before.get(path, ABSENT), "new": after.get(path, ABSENT),
             "changed": not _same(before.get(path, ABSENT), after.get(path, ABSENT), tolerance)}
            for label, path in headline_paths(new)]


def changed_sections(changes: Changes) -> dict[str, int]:
    """How many figures changed in each section, the headline figures left out."""
    counts: dict[str, int] = {}
    for change in changes:
        if change.path not in changes.headline:
            counts[section_of(change.path)] = counts.get(section_of(change.path), 0) + 1
    return counts


def _show_change(old, new) -> str:
    """'old  ->  new'; for an unordered list, what it lost and gained."""
    if isinstance(old, Unordered) and isinstance(new, Unordered):
        removed, added = list(old), []
        for item in new:
            if item in removed:
                removed.remove(item)
            else:
                added.append(item)
        return "; ".join(f"{word} {_show(items)}" for word, items in (("removed", removed), ("added", added)) if items)
    return f"{_show(old)}  ->  {_show(new)}"


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) if not isinstance(item, str) else json.dumps(item) for item in value) + "]"
    return f"{value:.6g}" if isinstance(value, float) else json.dumps(value) if not isinstance(value, str) else value
