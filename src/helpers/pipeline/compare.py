"""Compare two results.json files: what a new extract did to each figure."""
from __future__ import annotations

import json
from pathlib import Path

IGNORED = ("provenance.generated_at",)


def flatten(value, prefix: str = "") -> dict:
    """Leaves of a JSON document keyed by dotted path ('outcomes.attrition.itt.risk_ratio')."""
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            out.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for index, child in enumerate(value):
            out.update(flatten(child, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def diff_results(old: dict, new: dict, *, tolerance: float = 0.0) -> list[tuple[str, object, object]]:
    """Every leaf that differs, as (path, old, new); numbers within ``tolerance`` count as equal."""
    before, after = flatten(old), flatten(new)
    changes = []
    for path in sorted(set(before) | set(after)):
        if path in IGNORED:
            continue
        a, b = before.get(path, "(absent)"), after.get(path, "(absent)")
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            if abs(a - b) <= tolerance:
                continue
        elif a == b:
            continue
        changes.append((path, a, b))
    return changes


class NotResults(ValueError):
    """A file given to compare is not a readable srceval results.json."""


def read_results(path: Path) -> dict:
    """A results.json, or :class:`NotResults` saying why the file is not one.

    The file is read bounded (a regular file, at most ``MAX_JSON_BYTES``, nesting at most
    ``MAX_JSON_DEPTH`` deep, every number finite) and checked against the results schema before
    anything is compared (:mod:`helpers.inputs.bounded`).
    """
    from helpers.inputs.bounded import BoundedInputError, read_json_file, schema_problem
    from helpers.pipeline.results import load_schema

    try:
        data = read_json_file(path, what="file")
    except BoundedInputError as error:
        raise NotResults(f"{error}".replace("the file ", "", 1)) from None
    if not isinstance(data, dict) or not {"schema_version", "outcomes", "provenance"} <= set(data):
        raise NotResults(f"{path} is not an srceval results.json (it lacks schema_version, outcomes or provenance)")
    problem = schema_problem(data, load_schema())
    if problem:
        raise NotResults(f"{path} is not an srceval results.json: it does not follow the results schema ({problem})")
    return data


def diff_files(old_path: Path, new_path: Path, *, tolerance: float = 0.0) -> list[tuple[str, object, object]]:
    old, new = read_results(old_path), read_results(new_path)
    return diff_results(old, new, tolerance=tolerance)


def format_changes(changes: list[tuple[str, object, object]]) -> str:
    if not changes:
        return "No differences."
    width = max(len(path) for path, _, _ in changes)
    lines = [f"{len(changes)} value(s) differ:"]
    lines += [f"  {path:<{width}}  {_show(a)}  ->  {_show(b)}" for path, a, b in changes]
    return "\n".join(lines)


def _show(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else json.dumps(value) if not isinstance(value, str) else value
