"""Whether a difference between the arms can be an effect of the contact: decided once per run.

Every family that credits SRC with an effect (the complier effects, the probability of benefit) and
the extrapolation and cost of stage 5 read this decision, rather than each judging delivery anew.
"""
from __future__ import annotations

import pandas as pd

EXCLUSION_RESTRICTION = ("the allocation can change withdrawal only through the contact (the exclusion restriction), "
                         "so a difference between the arms is then chance, or an effect of the allocation itself "
                         "(a referral flag, say), not of SRC")


def delivery_contrast(data: pd.DataFrame, *, treatment: str = "assigned", received: str = "received") -> dict:
    """Whether the allocation changed who received the contact: what makes any difference between the arms
    an effect of the contact.

    When the contact reached no more victims in the SRC arm than under business as usual (none at
    all, say), the allocation did not change delivery, and under the exclusion restriction
    (Angrist, Imbens & Rubin 1996) the contact cannot have caused a difference between the arms:
    every figure that credits SRC with one (its probability of benefit, prevented withdrawals, the
    cost per prevented withdrawal, the complier effects) is then not estimable, with ``reason``.
    ``identified`` is None when an arm is empty (every comparison is not estimable then anyway).
    """
    z, d = data[treatment].to_numpy(dtype=int), data[received].to_numpy(dtype=int)
    treated, control = d[z == 1], d[z == 0]
    result = {"identified": None, "reason": None, "delivery": None, "assumption": EXCLUSION_RESTRICTION,
              "allocated": {"treatment": int(len(treated)), "control": int(len(control))},
              "received": {"treatment": int(treated.sum()), "control": int(control.sum())}}
    if not len(treated) or not len(control):
        return result
    if treated.sum() == 0 and control.sum() == 0:
        why = f"no victim received the contact (none of the {len(treated)} allocated to SRC)"
    elif treated.mean() <= control.mean():
        why = (f"the contact was delivered no more often in the SRC arm ({treated.sum()} of {len(treated)}) than "
               f"under business as usual ({control.sum()} of {len(control)})")
    else:
        return {**result, "identified": True}
    return {**result, "identified": False, "delivery": why, "reason": f"{why}; {EXCLUSION_RESTRICTION}"}


def not_an_effect(identification: dict | None) -> str | None:
    """Why a difference between the arms is not an effect of SRC (:func:`delivery_contrast`), or None."""
    if identification and identification.get("identified") is False:
        return identification["reason"]
    return None
