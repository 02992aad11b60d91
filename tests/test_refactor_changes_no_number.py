"""The results form was rebuilt (one form, each figure built once under the declared design): no number moved.

Each trial of :mod:`tests.refactor_golden` runs on today's code; every figure the code gave before
the change is found, equal, at its path in today's results.json, at the path it moved to
(``RENAMED``), or at the path of the copy kept when two paths held the same figure (``DROPPED``).
"""
from __future__ import annotations

import json
import re

import pytest

from .refactor_golden import GOLDEN_DIR, TRIALS, figures, run, same

# Old path (a regular expression over the dotted path) -> the path the figure has now.
RENAMED: list[tuple[str, str]] = []
# Old paths of figures kept once elsewhere -> the path of the copy that was kept.
DROPPED: list[tuple[str, str]] = []


def new_path(old: str) -> str:
    for pattern, replacement in RENAMED + DROPPED:
        if re.fullmatch(pattern, old):
            return re.sub(pattern, replacement, old)
    return old


@pytest.mark.parametrize("name", list(TRIALS))
def test_every_figure_is_where_it_was_or_where_it_moved(name, tmp_path):
    golden = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    now = figures(run(name, tmp_path))
    moved = {old: new_path(old) for old in golden}
    missing = sorted(old for old, new in moved.items() if new not in now)
    changed = sorted(old for old, new in moved.items() if new in now and not same(golden[old], now[new]))
    assert not missing, f"{len(missing)} figures have no path in the new form, e.g. {missing[:8]}"
    assert not changed, "figures changed: " + "; ".join(f"{p}: {golden[p]!r} -> {now[moved[p]]!r}" for p in changed[:8])
