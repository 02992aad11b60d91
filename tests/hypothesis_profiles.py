"""Hypothesis profiles, chosen with the environment variable HYPOTHESIS_PROFILE (tests/conftest.py loads one).

default    what ``make test`` runs: every property test tries the number of examples it names with
           :func:`examples`, derandomised (the same examples on every run and every machine), with no
           deadline (a generated trial runs whole stages) and no too-slow health check;
thorough   ten times as many examples, drawn afresh on each run, failures kept in ``.hypothesis/`` and
           tried first the next time: ``HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest
           tests/test_properties.py tests/test_disclosure_attack.py`` before a release or after a
           change to the stages.

The examples that once failed stay in their tests as ``@example`` cases, under either profile.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = {"default": 1, "thorough": 10}

settings.register_profile("default", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)


def examples(n: int) -> int:
    """A test's number of examples under the loaded profile: ``n`` by default, ten times ``n`` when thorough."""
    return n * SCALE.get(PROFILE, 1)
