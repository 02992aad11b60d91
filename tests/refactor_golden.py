"""The figures of results.json as the code gave them before the results form was rebuilt.

``tests/golden/<trial>.json`` holds every number (and every null) of results.json, by its path,
for seven trials run in process with few draws: the shipped trial, blocked, cluster (wards as
written, and wards nested in boroughs), simple, no delivery, and open investigations. They were
written once, by ``python -m tests.refactor_golden`` on the code before the change, and are never
rewritten: test_refactor_changes_no_number.py runs today's code on the same trials and finds each
number at its path in the new form (``RENAMED`` maps the paths that moved; ``DROPPED`` the copies
that were removed because the same figure is kept elsewhere).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from helpers.inputs.simulate import DEFAULT_SEED, Assignment, TrialDesign, simulate_trial

from .trials import designed, run_in_process, simulated

GOLDEN_DIR = Path(__file__).parent / "golden"
# Parts of results.json that are not figures of the analysis: where and when it ran, and the parameters.
NOT_FIGURES = ("provenance", "inputs.allocation.size_bytes", "inputs.extract.size_bytes")

BLOCKED = {"assignment": "blocked", "blocks": "borough", "clusters": None, "probability": 0.5}
CLUSTER = {"assignment": "cluster", "blocks": None, "clusters": "ward", "probability": 0.5}
NESTED = {"assignment": "cluster", "blocks": None, "clusters": ["borough", "ward"], "probability": 0.5}
SIMPLE = {"assignment": "simple", "blocks": None, "clusters": None, "probability": 0.6}


def _shipped():
    trial = simulate_trial(TrialDesign(), seed=DEFAULT_SEED)
    return trial.allocation.copy(), trial.extract.copy()


TRIALS = {
    "shipped": (_shipped, None),
    "blocked": (lambda: designed(Assignment("blocked", "borough", (0.3, 0.5, 0.7, 0.5), risk_spread=0.15)),
                {"design": BLOCKED}),
    "cluster": (lambda: designed(Assignment("cluster", "ward", cluster_sd=0.1), n_control=300, n_treatment=300),
                {"design": CLUSTER}),
    "nested_cluster": (lambda: designed(Assignment("cluster", "ward", cluster_sd=0.1), seed=5, n_control=300,
                                        n_treatment=300), {"design": NESTED}),
    "simple": (lambda: simulated(seed=4, n_control=100, n_treatment=150), {"design": SIMPLE}),
    "no_delivery": (lambda: simulated(seed=6, compliance=0.0), None),
    "open_investigations": (lambda: simulated(seed=7, open_investigations=30), None),
}


def flatten(node, path: str = "") -> dict:
    """Every number, boolean and null of a JSON value, by its dotted path (list items by index)."""
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in flatten(value, f"{path}.{key}" if path else key).items()}
    if isinstance(node, list):
        return {k: v for i, value in enumerate(node) for k, v in flatten(value, f"{path}[{i}]").items()}
    if node is None or isinstance(node, (bool, int, float)):
        return {path: node}
    return {}


def figures(results: dict) -> dict:
    """The figures of one results.json: every number and null outside :data:`NOT_FIGURES`."""
    return {path: value for path, value in flatten(results).items()
            if not any(path == part or path.startswith(part + ".") for part in NOT_FIGURES)}


def run(name: str, folder: Path) -> dict:
    build, params = TRIALS[name]
    return run_in_process(*build(), folder, report=False, params=params)


def same(old, new) -> bool:
    """Equal figures: the same null or boolean, or numbers equal to 1e-12 relative (floating point)."""
    if old is None or new is None or isinstance(old, bool) or isinstance(new, bool):
        return old is new or old == new and type(old) is type(new)
    return math.isclose(old, new, rel_tol=1e-12, abs_tol=1e-12)


def main() -> None:  # pragma: no cover - run once, before the change
    import tempfile

    for name in TRIALS:
        with tempfile.TemporaryDirectory() as folder:
            golden = figures(run(name, Path(folder)))
        (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(golden, indent=0, sort_keys=True) + "\n",
                                                 encoding="utf-8")
        print(f"{name}: {len(golden)} figures", file=sys.stderr)


if __name__ == "__main__":
    main()
