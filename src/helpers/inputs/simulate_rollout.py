"""A synthetic roll-out: a monthly crime extract, the wards' go-live schedule, and the truth behind them.

``srceval simulate --rollout`` writes what an evaluator has after the trial, with what the
monitoring must find built in:

- a **secular trend**: every ward's withdrawal risk falls by ``trend_per_month`` each month,
  live or not, so a before-and-after comparison credits SRC with the fall;
- a **known effect**: a delivered contact lowers the victim's withdrawal risk by the relative
  reduction ``relative_reduction`` (the trial's complier figure, 26%); the effect of going live on a
  report's risk is therefore − relative_reduction x delivery x risk, recorded per report;
- **one ward whose delivery falls away**: from ``delivery`` at go-live to ``drift_to`` at the
  extract's end; every other live ward delivers at ``delivery``.

The wards are the trial's (four boroughs, 79 wards); go-live dates come in steps (random order,
stratified by borough), the last step after the extract ends (blank in the schedule), or from a
schedule given (a plan written by ``srceval plan-rollout``). Nothing here is real.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.inputs.provenance import MANIFEST
from helpers.inputs.reading import sha256_of
from helpers.inputs.simulate import BOROUGHS, OFFENCE_GROUPS, STRANDS, _pick
from helpers.inputs.simulate_files import SIMULATE_COMMAND
from helpers.methods.stepped_wedge import randomise_order

DEFAULT_SEED = 20230201
EXTRACT_NAME, SCHEDULE_NAME, WARDS_NAME = "monitoring_extract.csv", "rollout_schedule.csv", "wards.csv"


@dataclass(frozen=True)
class RolloutDesign:
    """The simulated roll-out. Defaults: three years of the trial's 79 wards, about 17,000 reports."""

    start: str = "2023-02-01"
    months: int = 36
    reports_per_ward_month: float = 6.0
    first_go_live_month: int = 9
    months_per_step: int = 5
    steps: int = 7
    baseline_risk: float = 0.45
    ward_risk_sd: float = 0.04
    trend_per_month: float = -0.003
    relative_reduction: float = 0.26
    delivery: float = 0.80
    drift_to: float = 0.15
    incident_share: float = 0.02
    open_share: float = 0.02


@dataclass
class SimulatedRollout:
    extract: pd.DataFrame
    schedule: pd.DataFrame
    truth: pd.DataFrame  # per crime report: ward key, month, the effect of its ward being live on its risk
    design: RolloutDesign
    seed: int
    drifting_ward: tuple[str, str]

    def write(self, folder: Path | str, *, schedule: bool = True, overwrite: bool = False) -> list[Path]:
        """Write the extract, the schedule (unless one was given) and the list of wards, with a manifest.

        Through :class:`helpers.pipeline.safewrite.OutputFolder`, as ``srceval simulate`` writes a trial:
        the folder locked, no link followed, and unless ``overwrite`` refused before anything is
        written when one of these files exists.
        """
        from helpers.pipeline.safewrite import OutputFolder, RefusedPath

        with OutputFolder(Path(folder).absolute(), command=SIMULATE_COMMAND) as out:
            staging = out.staging()
            names = self.write_into(staging, schedule=schedule)
            out.check(names)
            existing = [out.path(name) for name in names if os.path.lexists(out.path(name))]
            if existing and not overwrite:
                raise RefusedPath(f"{', '.join(str(p) for p in existing)} already exist"
                                  f"{'s' if len(existing) == 1 else ''}; nothing was written. Choose another folder, "
                                  "or give --force to replace the generator's files there.")
            out.publish(staging)
            return [out.path(name) for name in names if name != MANIFEST]

    def write_into(self, folder: Path, *, schedule: bool = True) -> list[str]:
        """Write the files into ``folder`` (a staging folder); return their names, the manifest last."""
        written = [folder / EXTRACT_NAME]
        self.extract.to_csv(written[0], index=False)
        if schedule:
            written.append(folder / SCHEDULE_NAME)
            out = self.schedule.assign(go_live=self.schedule["go_live"].dt.strftime("%Y-%m-%d").fillna(""))
            out[["borough", "ward", "go_live"]].to_csv(written[-1], index=False)
            written.append(folder / WARDS_NAME)
            self.schedule[["borough", "ward"]].to_csv(written[-1], index=False)
        manifest = {"generator": "srceval simulate --rollout", "seed": self.seed, "design": asdict(self.design),
                    "files": {p.name: sha256_of(p) for p in written},
                    "drifting_ward": {"borough": self.drifting_ward[0], "ward": self.drifting_ward[1]},
                    "true_effect_all_live_reports": float(self.truth.loc[self.truth["live"] == 1, "effect"].mean()),
                    "published": "none: a generated roll-out",
                    "invented": "every figure: wards' go-live dates, reports, delivery, outcomes, the trend and the "
                                "effect"}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return [p.name for p in written] + [MANIFEST]


def trial_wards() -> pd.DataFrame:
    """The trial's wards: borough and ward code, in order."""
    return pd.DataFrame([(b, f"{b[:3].upper()}-{k:02d}") for b, (_, wards) in sorted(BOROUGHS.items())
                         for k in range(1, wards + 1)], columns=["borough", "ward"])


def simulate_rollout(design: RolloutDesign | None = None, *, seed: int = DEFAULT_SEED,
                     schedule: pd.DataFrame | None = None) -> SimulatedRollout:
    """Simulate the roll-out; ``schedule`` (borough, ward, go_live) fixes the wards and dates instead of drawing them."""
    design = design or RolloutDesign()
    rng = np.random.default_rng(seed)
    if schedule is None:
        months = pd.date_range(design.start, periods=design.months, freq="MS")
        schedule = _drawn_schedule(trial_wards(), design, months, rng)
    else:
        schedule = schedule[["borough", "ward", "go_live"]].reset_index(drop=True)
        months = _months_around(schedule["go_live"], design)
    drifting = _drifting_ward(schedule, months)
    reports = _reports(schedule, months, design, rng)
    delivery = _delivery_probability(reports, schedule, drifting, months, design)
    reports["received"] = rng.random(len(reports)) < delivery
    risk0 = _baseline_risk(reports, schedule, months, design, rng)
    risk = risk0 * np.where(reports["received"], 1 - design.relative_reduction, 1)
    reports["withdrew"] = rng.random(len(reports)) < risk
    truth = pd.DataFrame({"borough": reports["borough"], "ward": reports["ward"], "month": reports["month"],
                          "live": reports["live"], "record_type": reports["record_type"],
                          "effect": -design.relative_reduction * risk0 * delivery * reports["live"]})
    extract = _extract(reports, design, rng)
    keep = truth["record_type"] == "crime"
    return SimulatedRollout(extract, schedule, truth[keep].reset_index(drop=True), design, seed,
                            tuple(schedule.loc[drifting, ["borough", "ward"]]))


def _drawn_schedule(wards: pd.DataFrame, design: RolloutDesign, months: pd.DatetimeIndex, rng) -> pd.DataFrame:
    steps = randomise_order(wards, design.steps, rng, stratify=True)
    offsets = design.first_go_live_month + (steps - 1) * design.months_per_step
    go_live = pd.Series([pd.Timestamp(design.start) + pd.DateOffset(months=int(o)) for o in offsets])
    return wards.assign(go_live=go_live.where(offsets < design.months))


def _months_around(go_live: pd.Series, design: RolloutDesign) -> pd.DatetimeIndex:
    """For a given schedule: from ``first_go_live_month`` months before the first go-live to one step after the last."""
    first, last = go_live.min().to_period("M").to_timestamp(), go_live.max().to_period("M").to_timestamp()
    return pd.date_range(first - pd.DateOffset(months=design.first_go_live_month),
                         last + pd.DateOffset(months=design.months_per_step - 1), freq="MS")


def _drifting_ward(schedule: pd.DataFrame, months: pd.DatetimeIndex) -> int:
    """The ward whose delivery falls away: the first (alphabetically) of those live earliest."""
    live = schedule[schedule["go_live"].notna() & (schedule["go_live"] <= months[-1])]
    earliest = live[live["go_live"] == live["go_live"].min()]
    return int(earliest.sort_values(["borough", "ward"]).index[0])


def _reports(schedule: pd.DataFrame, months: pd.DatetimeIndex, design: RolloutDesign, rng) -> pd.DataFrame:
    counts = rng.poisson(design.reports_per_ward_month, size=(len(schedule), len(months)))
    ward_index = np.repeat(np.repeat(np.arange(len(schedule)), len(months)), counts.ravel())
    month_index = np.repeat(np.tile(np.arange(len(months)), len(schedule)), counts.ravel())
    days = months[month_index].days_in_month.to_numpy()
    reported = months[month_index] + pd.to_timedelta(np.floor(rng.random(len(ward_index)) * days), unit="D")
    go_live = schedule["go_live"].to_numpy()[ward_index]
    frame = pd.DataFrame({"ward_index": ward_index, "month_index": month_index,
                          "borough": schedule["borough"].to_numpy()[ward_index],
                          "ward": schedule["ward"].to_numpy()[ward_index],
                          "month": months[month_index], "reported_on": reported})
    frame["live"] = (pd.notna(go_live) & (reported >= go_live)).astype(int)
    frame["record_type"] = np.where(rng.random(len(frame)) < design.incident_share, "incident", "crime")
    return frame


def _delivery_probability(reports: pd.DataFrame, schedule: pd.DataFrame, drifting: int, months, design) -> np.ndarray:
    """``delivery`` in live wards; in the drifting ward, falling linearly from go-live to ``drift_to`` at the end."""
    probability = np.where(reports["live"] == 1, design.delivery, 0.0)
    start = schedule.loc[drifting, "go_live"]
    span = max((months[-1] + pd.offsets.MonthEnd(0) - start).days, 1)
    elapsed = (reports["reported_on"] - start).dt.days.clip(lower=0) / span
    falling = design.delivery + (design.drift_to - design.delivery) * elapsed
    mine = (reports["ward_index"] == drifting) & (reports["live"] == 1)
    probability = np.where(mine, falling, probability)
    return np.where(reports["record_type"] == "crime", probability, 0.0)


def _baseline_risk(reports: pd.DataFrame, schedule: pd.DataFrame, months, design: RolloutDesign, rng) -> np.ndarray:
    """Withdrawal risk without SRC: a ward's own level, falling with the months (the secular trend)."""
    ward_shift = rng.normal(0, design.ward_risk_sd, len(schedule))
    risk = design.baseline_risk + ward_shift[reports["ward_index"]] + design.trend_per_month * reports["month_index"]
    return np.clip(risk, 0.02, 0.98)


WITHDRAWAL_CODES = np.array(["14", "16"])
OTHER_CODES = {"18": 0.45, "15": 0.30, "1": 0.10, "6": 0.05, "20": 0.05, "21": 0.05}


def _extract(reports: pd.DataFrame, design: RolloutDesign, rng) -> pd.DataFrame:
    n = len(reports)
    crime = reports["record_type"].to_numpy() == "crime"
    code = np.where(reports["withdrew"], rng.choice(WITHDRAWAL_CODES, n), _pick(OTHER_CODES, n, rng))
    code = np.where(~crime | (rng.random(n) < design.open_share), "", code)
    contact = reports["reported_on"] + pd.to_timedelta(rng.integers(10, 40, n), unit="D")
    outcome = reports["reported_on"] + pd.to_timedelta(rng.integers(20, 150, n), unit="D")
    received = reports["received"].to_numpy()
    iso = lambda dates, keep: np.where(keep, pd.Series(dates).dt.strftime("%Y-%m-%d"), "")
    frame = pd.DataFrame({
        "crime_ref": [f"{4_000_000 + i}/{d.year % 100}" for i, d in enumerate(reports["reported_on"])],
        "reported_on": reports["reported_on"].dt.strftime("%Y-%m-%d"),
        "record_type": reports["record_type"].to_numpy(),
        "borough": reports["borough"].to_numpy(), "ward": reports["ward"].to_numpy(),
        "hate_strand": _pick(STRANDS, n, rng), "offence_group": _pick(OFFENCE_GROUPS, n, rng),
        "src_completed": np.where(received, "Y", "N"),
        "src_completed_on": iso(contact, received),
        "outcome_code": code,
        "outcome_on": iso(outcome, code != ""),
    })
    return frame.sort_values("reported_on", kind="stable").reset_index(drop=True)
