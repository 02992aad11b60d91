"""A synthetic SRC trial extract, in the input contract's format.

The real extract is confidential, so the project ships one made here. With the default design
its aggregate counts reproduce the published figures exactly: event counts are fixed numbers
(``round(rate * n)``) placed at random, not random draws. Baseline covariates are drawn
independently of the allocation, as randomisation guarantees; the files are made as untidy as
real ones (day-first dates, "OC14", stray spaces and capitals, unrandomised reports).
Everything is vectorised, so a million-report extract takes seconds.

Other designs (:class:`Assignment`) randomise within blocks (borough, offence group or ward, with
an SRC share per block) or whole clusters (wards or boroughs), with withdrawal risks that differ
by block or cluster so that the design matters; :func:`replications` makes several trials with
their own seeds and, optionally, true effects that differ between them. These are not
calibrated to the published trial, and their manifests say so.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

# The largest trial the generator makes: the default input limit of ``srceval run`` (2,000,000 rows),
# beyond which the extract could not be analysed without raising that limit; every report is held
# in memory while it is made (about 2 KB each).
MAX_REPORTS = 2_000_000
MAX_REPLICATIONS = 100

DEFAULT_SEED = 20221001
TRIAL_START = pd.Timestamp("2022-10-01")
TRIAL_DAYS = 123  # October 2022 to January 2023

BOROUGHS = {"Wandsworth": (0.36, 22), "Merton": (0.23, 20), "Richmond": (0.21, 18), "Kingston": (0.20, 19)}
STRANDS = {"race": 0.70, "sexual orientation": 0.12, "religion": 0.09, "disability": 0.06, "transgender": 0.03}
OFFENCE_GROUPS = {"public order": 0.55, "violence against the person": 0.30, "criminal damage": 0.07, "other": 0.08}
AGE_BANDS = {"under 18": 0.07, "18-24": 0.13, "25-34": 0.24, "35-44": 0.22, "45-54": 0.16, "55-64": 0.10,
             "65+": 0.05, "": 0.03}
SEXES = {"Male": 0.52, "Female": 0.45, "": 0.03}
# Closing codes for cases that end neither in withdrawal nor in a positive outcome.
OTHER_CODES_NO_SUSPECT = {"18": 0.85, "20": 0.15}
OTHER_CODES_SUSPECT = {"15": 0.70, "21": 0.15, "20": 0.15}
OTHER_POSITIVE_CODES = {"6": 0.5, "3": 0.3, "8": 0.2}  # community resolution, caution, CPS public interest
NOTES = ["Victim spoken to by OIC", "CCTV requested", "Advice given", "Victim wants matter recorded", ""]

# Indices of the outcome categories each case is given.
WITHDREW, CHARGED, OTHER_POSITIVE, OTHER = 0, 1, 2, 3


@dataclass(frozen=True)
class TrialDesign:
    """Arm sizes, delivery and outcome rates of a simulated trial.

    Defaults reproduce the published SRC evaluation: 125 per arm, 80% delivery, and
    withdrawals 69/125 (BAU), 43/100 (SRC delivered), 11/25 (SRC not delivered).
    """

    n_control: int = 125
    n_treatment: int = 125
    compliance: float = 0.80
    control_withdrawal: float = 69 / 125
    complier_withdrawal: float = 43 / 100
    noncomplier_withdrawal: float = 11 / 25
    # Charge and positive outcome rates are not published: rare and near-equal (invented).
    control_charge: float = 7 / 125
    treatment_charge: float = 8 / 125
    control_positive: float = 14 / 125
    treatment_positive: float = 15 / 125
    # Hate-flagged reports that were reviewed but not randomised, and duplicate records.
    incidents_not_randomised: int = 6
    crimes_not_randomised: int = 5
    duplicate_records: int = 2
    open_investigations: int = 0

    @property
    def n(self) -> int:
        return self.n_control + self.n_treatment

    def __post_init__(self):
        counts = {"n_control": self.n_control, "n_treatment": self.n_treatment,
                  "incidents_not_randomised": self.incidents_not_randomised,
                  "crimes_not_randomised": self.crimes_not_randomised, "duplicate_records": self.duplicate_records,
                  "open_investigations": self.open_investigations}
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be a whole number of at least 0, not {value!r}")
        total = self.n + self.incidents_not_randomised + self.crimes_not_randomised + self.duplicate_records
        if self.n < 2:
            raise ValueError(f"a trial needs at least 2 randomised reports, not {self.n}")
        if total > MAX_REPORTS:
            raise ValueError(f"{total:,} reports in all is more than the generator makes ({MAX_REPORTS:,}, the largest "
                             "extract srceval run reads without raising its input limits; every report is held in "
                             "memory while the files are made)")
        if self.open_investigations > self.n:
            raise ValueError(f"--open-investigations ({self.open_investigations}) exceeds the {self.n} randomised reports")
        for name in ("compliance", "control_withdrawal", "complier_withdrawal", "noncomplier_withdrawal",
                     "control_charge", "treatment_charge", "control_positive", "treatment_positive"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"--{name.replace('_', '-')} is a share and must lie between 0 and 1, not {value!r}")


BLOCK_COLUMNS = ("borough", "offence_group", "ward")
CLUSTER_COLUMNS = ("ward", "borough")


@dataclass(frozen=True)
class Assignment:
    """How a simulated trial allocates its reports.

    complete: ``n_treatment`` of the ``n`` reports to SRC completely at random (the published
    trial). blocked: within each value of ``column`` (borough, offence_group or ward), a share
    ``shares`` of its reports to SRC completely at random: one share per block in the blocks'
    alphabetical order (:func:`block_names`), or one for all; by default n_treatment / n. The
    withdrawal risks of every arm move by up to +/- ``risk_spread`` across the blocks (the first
    block lowest, the last highest), so that blocks with more SRC reports also differ at baseline,
    as boroughs do. cluster: a share ``shares`` (one value) of the clusters (wards or boroughs)
    to SRC, every report following its cluster; each cluster's withdrawal risks move by a normal
    draw of SD ``cluster_sd`` (the cause of an intra-cluster correlation). The arm sizes of a
    blocked or cluster trial follow from the shares; ``n_control + n_treatment`` is the total.
    """

    kind: str = "complete"
    column: str | None = None
    shares: tuple[float, ...] = ()
    risk_spread: float = 0.0
    cluster_sd: float = 0.0

    def __post_init__(self):
        allowed = {"complete": (None,), "blocked": BLOCK_COLUMNS, "cluster": CLUSTER_COLUMNS}
        if self.kind not in allowed:
            raise ValueError(f"the assignment must be complete, blocked or cluster, not {self.kind!r}")
        if self.column not in allowed[self.kind]:
            raise ValueError(f"a {self.kind} trial's column must be one of {', '.join(map(str, allowed[self.kind]))}, "
                             f"not {self.column!r}")
        if any(not 0 <= share <= 1 for share in self.shares):
            raise ValueError(f"every SRC share must lie between 0 and 1: {', '.join(f'{v:g}' for v in self.shares)}")
        if self.kind == "cluster" and len(self.shares) > 1:
            raise ValueError("a cluster trial takes one share: the share of clusters allocated to SRC")
        if not (0 <= self.risk_spread <= 1 and 0 <= self.cluster_sd <= 1):  # NaN fails too
            raise ValueError("the risk spread and the cluster SD must lie between 0 and 1 (shifts of a risk)")


def block_names(column: str) -> list[str]:
    """Every value the generator can give a block or cluster column, in alphabetical order."""
    if column == "borough":
        return sorted(BOROUGHS)
    if column == "offence_group":
        return sorted(OFFENCE_GROUPS)
    return sorted(f"{b[:3].upper()}-{k:02d}" for b, (_, wards) in BOROUGHS.items() for k in range(1, wards + 1))


@dataclass
class SimulatedTrial:
    """The two input files of a simulated trial, as DataFrames ready to be written."""

    allocation: pd.DataFrame
    extract: pd.DataFrame
    design: TrialDesign
    seed: int
    assignment: Assignment = field(default_factory=Assignment)

    @property
    def calibrated(self) -> bool:
        """Whether the trial is the published one's design (the shipped data's)."""
        return self.design == TrialDesign() and self.assignment == Assignment()

    def write(self, folder: Path | str, *, allocation_name="allocation_log.xlsx",
              extract_name="crime_extract.csv", overwrite: bool = True) -> tuple[Path, Path]:
        """Write the allocation log (.xlsx or .csv) and the crime extract (.csv), with the manifest.

        A blocked or cluster trial also gets ``parameters.yml``: the project's parameters with
        the design declared, for ``srceval run --params``. Written through the guarded writer
        (:mod:`helpers.pipeline.safewrite`); with ``overwrite`` False a folder that already holds one
        of these files is refused and nothing is written.
        """
        from helpers.inputs.simulate_files import write_trials  # it writes SimulatedTrial objects

        return write_trials([(Path(folder), self)], allocation_name=allocation_name, extract_name=extract_name,
                            overwrite=overwrite)[0]



def simulate_trial(design: TrialDesign | None = None, *, seed: int = DEFAULT_SEED,
                   assignment: Assignment | None = None) -> SimulatedTrial:
    """Simulate the allocation log and crime extract of a two-arm trial.

    Parameters
    ----------
    design
        Arm sizes, delivery and outcome rates; None uses the published trial's.
    seed
        Seed of every random choice: the same seed gives the same files.
    assignment
        How reports are allocated (:class:`Assignment`); None is complete randomisation.
    """
    design = design or TrialDesign()
    assignment = assignment or Assignment()
    rng = np.random.default_rng(seed)
    n = design.n
    if assignment.kind == "complete":
        cases = pd.DataFrame({"assigned": _complete_randomisation(design, rng)})
        cases["received"] = _delivery(cases["assigned"].to_numpy(), design, rng)
        cases = pd.concat([cases, _covariates(n, rng)], axis=1)
        cases["category"] = _outcome_categories(cases, design, rng)
    else:  # the blocks or clusters first: the allocation depends on them
        covariates = _covariates(n, rng)
        cases = pd.DataFrame({"assigned": _designed_assignment(covariates, design, assignment, rng)})
        cases["received"] = _delivery(cases["assigned"].to_numpy(), design, rng)
        cases = pd.concat([cases, covariates], axis=1)
        cases["category"] = _outcome_categories(cases, design, rng,
                                                withdrew=_designed_withdrawals(cases, design, assignment, rng))
    cases["outcome_code"] = _outcome_codes(cases, rng)
    cases = pd.concat([cases, _dates(cases, rng)], axis=1)
    if design.open_investigations:
        open_rows = rng.choice(n, design.open_investigations, replace=False)
        cases.loc[open_rows, ["outcome_code", "outcome_on"]] = ["", pd.NaT]
    cases["crime_ref"] = _references(cases["reported_on"], start=3_000_000)
    extra = _unrandomised_reports(design, rng, start=3_000_000 + n)
    allocation = _allocation_log(cases, rng)
    extract = _extract(cases, extra, design, rng)
    return SimulatedTrial(allocation, extract, design, seed, assignment)


def replications(design: TrialDesign | None = None, *, runs: int, seed: int = DEFAULT_SEED,
                 assignment: Assignment | None = None, effect_spread: float = 0.0) -> list[SimulatedTrial]:
    """``runs`` trials of the same design with seeds ``seed``, ``seed + 1``, ...

    ``effect_spread`` > 0 makes the true effect differ between the trials, as it would between
    forces or years: each trial's SRC-arm withdrawal rates (delivered and not) move together by a
    normal draw with that SD (drawn from ``seed``, kept within [0, 1]), so pooled estimates show
    heterogeneity. Each trial records its own rates in its manifest.
    """
    if runs < 1:
        raise ValueError(f"the number of replications must be at least 1, not {runs}")
    if effect_spread < 0:
        raise ValueError(f"the effect spread cannot be negative, not {effect_spread:g}")
    design = design or TrialDesign()
    shifts = np.random.default_rng([seed, 1]).normal(0.0, effect_spread, runs) if effect_spread else np.zeros(runs)
    trials = []
    for run, shift in enumerate(shifts):
        varied = design if not shift else replace(
            design, complier_withdrawal=float(np.clip(design.complier_withdrawal + shift, 0, 1)),
            noncomplier_withdrawal=float(np.clip(design.noncomplier_withdrawal + shift, 0, 1)))
        trials.append(simulate_trial(varied, seed=seed + run, assignment=assignment))
    return trials


def _designed_assignment(covariates: pd.DataFrame, design: TrialDesign, assignment: Assignment, rng) -> np.ndarray:
    """Allocation within blocks (a share per block) or of whole clusters."""
    groups = covariates[assignment.column].to_numpy()
    names = block_names(assignment.column)
    default = design.n_treatment / design.n if design.n else 0.5
    assigned = np.zeros(len(groups), dtype=np.int8)
    if assignment.kind == "blocked":
        shares = assignment.shares or (default,)
        if len(shares) not in (1, len(names)):
            raise ValueError(f"give one SRC share per block ({len(names)}: {', '.join(names)}, in that order), or "
                             f"one share for every block; {len(shares)} given")
        shares = shares * len(names) if len(shares) == 1 else shares
        for name, share in zip(names, shares):
            rows = np.flatnonzero(groups == name)
            assigned[rows[_exact_ones(len(rows), share, rng)]] = 1
        return assigned
    present = sorted(set(groups))
    share = assignment.shares[0] if assignment.shares else default
    chosen = rng.choice(len(present), int(round(share * len(present))), replace=False)
    return np.isin(groups, np.array(present, dtype=object)[chosen]).astype(np.int8)


def _designed_withdrawals(cases: pd.DataFrame, design: TrialDesign, assignment: Assignment, rng) -> np.ndarray:
    """Which reports end in withdrawal, with risks that differ by block or cluster.

    blocked: exact counts, round(rate x reports) in every block and cell (BAU, SRC delivered, SRC
    not delivered), the rates moved by the block's offset; cluster: a draw per report from its
    cell's rate moved by its cluster's normal shift.
    """
    groups = cases[assignment.column].to_numpy()
    cells = (((cases["assigned"] == 0), design.control_withdrawal),
             ((cases["assigned"] == 1) & (cases["received"] == 1), design.complier_withdrawal),
             ((cases["assigned"] == 1) & (cases["received"] == 0), design.noncomplier_withdrawal))
    withdrew = np.zeros(len(cases), dtype=bool)
    if assignment.kind == "blocked":
        names = block_names(assignment.column)
        offsets = np.linspace(-assignment.risk_spread, assignment.risk_spread, len(names)) if len(names) > 1 else [0.0]
        for name, offset in zip(names, offsets):
            in_block = groups == name
            for mask, rate in cells:
                rows = np.flatnonzero(mask.to_numpy() & in_block)
                withdrew[rows[_exact_ones(len(rows), float(np.clip(rate + offset, 0, 1)), rng)]] = True
        return withdrew
    present = sorted(set(groups))
    shift = pd.Series(rng.normal(0.0, assignment.cluster_sd, len(present)), index=present)
    moved = shift.reindex(groups).to_numpy()
    draws = rng.random(len(cases))
    for mask, rate in cells:
        rows = mask.to_numpy()
        withdrew[rows] = draws[rows] < np.clip(rate + moved[rows], 0, 1)
    return withdrew


def _complete_randomisation(design: TrialDesign, rng) -> np.ndarray:
    assigned = np.r_[np.ones(design.n_treatment, dtype=np.int8), np.zeros(design.n_control, dtype=np.int8)]
    return rng.permutation(assigned)


def _exact_ones(n: int, rate: float, rng) -> np.ndarray:
    """n zeros and ones with exactly round(rate * n) ones, at random places."""
    out = np.zeros(n, dtype=bool)
    out[rng.choice(n, int(round(rate * n)), replace=False)] = True
    return out


def _delivery(assigned: np.ndarray, design: TrialDesign, rng) -> np.ndarray:
    received = np.zeros(len(assigned), dtype=np.int8)
    treated = np.flatnonzero(assigned == 1)
    received[treated] = _exact_ones(len(treated), design.compliance, rng)
    return received


def _pick(options: dict, size: int, rng) -> np.ndarray:
    return rng.choice(list(options), size=size, p=np.array(list(options.values())) / sum(options.values()))


def _covariates(n: int, rng) -> pd.DataFrame:
    borough = _pick({b: w for b, (w, _) in BOROUGHS.items()}, n, rng)
    ward_number = rng.integers(1, 1000, n)
    wards_in = np.array([BOROUGHS[b][1] for b in borough])
    ward = [f"{b[:3].upper()}-{k:02d}" for b, k in zip(borough, ward_number % wards_in + 1)]
    strand = _pick(STRANDS, n, rng)
    second = rng.random(n) < 0.05  # a few reports carry two strands
    strand = np.where(second & (strand != "religion"), np.char.add(strand.astype(str), ";religion"), strand)
    return pd.DataFrame({
        "borough": borough, "ward": ward, "hate_strand": strand,
        "offence_group": _pick(OFFENCE_GROUPS, n, rng),
        "victim_age_band": _pick(AGE_BANDS, n, rng),
        "victim_sex": _pick(SEXES, n, rng),
        "repeat_victim": np.where(rng.random(n) < 0.2, "Y", "N"),
        "suspect_identified": rng.random(n) < 0.5,
    })


def _outcome_categories(cases: pd.DataFrame, design: TrialDesign, rng, *,
                        withdrew: np.ndarray | None = None) -> np.ndarray:
    """Withdrawal per cell, then charges and other positive outcomes per arm, all exact.

    ``withdrew`` (a blocked or cluster trial's) says which reports withdrew instead.
    """
    category = np.full(len(cases), OTHER, dtype=np.int8)
    cells = (
        ((cases["assigned"] == 0), design.control_withdrawal),
        ((cases["assigned"] == 1) & (cases["received"] == 1), design.complier_withdrawal),
        ((cases["assigned"] == 1) & (cases["received"] == 0), design.noncomplier_withdrawal),
    )
    if withdrew is not None:
        category[withdrew] = WITHDREW
        cells = ()
    for mask, rate in cells:
        rows = np.flatnonzero(mask.to_numpy())
        category[rows[_exact_ones(len(rows), rate, rng)]] = WITHDREW
    arms = ((0, design.control_charge, design.control_positive),
            (1, design.treatment_charge, design.treatment_positive))
    for arm, charge_rate, positive_rate in arms:
        size = int((cases["assigned"] == arm).sum())
        n_charge, n_positive = round(charge_rate * size), round(positive_rate * size)
        if n_positive < n_charge:
            raise ValueError("a charge is a positive outcome: the positive rate must be at least the charge rate")
        free = np.flatnonzero((cases["assigned"] == arm).to_numpy() & (category == OTHER))
        # A positive outcome needs a suspect: draw from cases with one first.
        suspect = cases["suspect_identified"].to_numpy()[free]
        ordered = np.r_[rng.permutation(free[suspect]), rng.permutation(free[~suspect])]
        if n_positive > len(ordered):
            raise ValueError("the withdrawal and positive outcome rates add up to more than one arm")
        category[ordered[:n_charge]] = CHARGED
        category[ordered[n_charge:n_positive]] = OTHER_POSITIVE
    return category


def _outcome_codes(cases: pd.DataFrame, rng) -> np.ndarray:
    n = len(cases)
    suspect = cases["suspect_identified"].to_numpy()
    category = cases["category"].to_numpy()
    code = np.where(suspect, _pick(OTHER_CODES_SUSPECT, n, rng), _pick(OTHER_CODES_NO_SUSPECT, n, rng))
    code = np.where(category == OTHER_POSITIVE, _pick(OTHER_POSITIVE_CODES, n, rng), code)
    code = np.where(category == CHARGED, np.where(rng.random(n) < 0.1, "1A", "1"), code)
    # 14: victim does not support action, suspect not identified; 16: suspect identified.
    return np.where(category == WITHDREW, np.where(suspect, "16", "14"), code).astype(object)


def _dates(cases: pd.DataFrame, rng) -> pd.DataFrame:
    n = len(cases)
    reported = TRIAL_START + pd.to_timedelta(np.sort(rng.integers(0, TRIAL_DAYS, n)), unit="D")
    allocated = reported + pd.to_timedelta(rng.integers(0, 4, n), unit="D")
    contact = reported + pd.to_timedelta(rng.integers(14, 43, n), unit="D")
    outcome = reported + pd.to_timedelta(rng.integers(20, 151, n), unit="D")
    return pd.DataFrame({
        "reported_on": reported, "allocated_on": allocated,
        "src_completed_on": pd.Series(contact).where(cases["received"].to_numpy() == 1),
        "outcome_on": outcome,
    })


def _references(reported: pd.Series, *, start: int) -> np.ndarray:
    numbers = np.arange(start, start + len(reported)).astype(str)
    years = (pd.DatetimeIndex(reported).year % 100).astype(str)
    return np.char.add(np.char.add(numbers, "/"), np.asarray(years, dtype=str)).astype(object)


def _unrandomised_reports(design: TrialDesign, rng, *, start: int) -> pd.DataFrame:
    size = design.incidents_not_randomised + design.crimes_not_randomised
    extra = _covariates(size, rng)
    extra["record_type"] = ["incident"] * design.incidents_not_randomised + ["crime"] * design.crimes_not_randomised
    extra["reported_on"] = TRIAL_START + pd.to_timedelta(rng.integers(0, TRIAL_DAYS, size), unit="D")
    extra["received"] = 0
    extra["src_completed_on"] = pd.NaT
    extra["outcome_code"] = np.where(extra["record_type"] == "incident", "", _pick(OTHER_CODES_NO_SUSPECT, size, rng))
    extra["outcome_on"] = (extra["reported_on"] + pd.to_timedelta(rng.integers(20, 151, size), unit="D")).where(
        extra["outcome_code"] != "")
    extra["crime_ref"] = _references(extra["reported_on"], start=start)
    return extra


def _allocation_log(cases: pd.DataFrame, rng) -> pd.DataFrame:
    n = len(cases)
    arm = np.where(cases["assigned"] == 1, "SRC", "BAU").astype(object)
    untidy = rng.random(n)
    arm = np.where(untidy < 0.03, np.char.lower(arm.astype(str)), arm)
    arm = np.where((untidy >= 0.03) & (untidy < 0.06), np.char.add(arm.astype(str), " "), arm)
    # Documented rule of the draw: a number below 0.5 allocates to SRC.
    draw = np.where(cases["assigned"] == 1, rng.uniform(0, 0.5, n), rng.uniform(0.5, 1, n)).round(4)
    log = pd.DataFrame({
        "Crime Ref": cases["crime_ref"].to_numpy(),
        "Allocated On": cases["allocated_on"].dt.date.to_numpy(),
        "Allocation": arm,
        "Random Number": draw,
        "Comments": np.where(rng.random(n) < 0.05, "referred to ward team by email", ""),
    })
    return log.sort_values("Allocated On", kind="stable").reset_index(drop=True)


def _extract(cases: pd.DataFrame, extra: pd.DataFrame, design: TrialDesign, rng) -> pd.DataFrame:
    cases = cases.assign(record_type="crime")
    rows = pd.concat([cases, extra], ignore_index=True)
    n = len(rows)
    received = rows["received"].to_numpy() == 1
    modes = np.where(rng.random(n) < 0.7, "Phone", "In person")
    frame = pd.DataFrame({
        "crime_ref": rows["crime_ref"].to_numpy(),
        "reported_on": _untidy_dates(rows["reported_on"], rng),
        "record_type": _untidy_case(rows["record_type"].to_numpy(), rng),
        "borough": _untidy_case(rows["borough"].to_numpy(), rng),
        "ward": rows["ward"].to_numpy(),
        "hate_strand": _untidy_case(rows["hate_strand"].to_numpy(), rng),
        "offence_group": rows["offence_group"].to_numpy(),
        "src_completed": np.where(received, "Y", "N"),
        "src_completed_on": _untidy_dates(rows["src_completed_on"], rng),
        "src_mode": np.where(received, modes, ""),
        "outcome_code": _untidy_codes(rows["outcome_code"].to_numpy(), rng),
        "outcome_on": _untidy_dates(rows["outcome_on"], rng),
        "victim_age_band": rows["victim_age_band"].to_numpy(),
        "victim_sex": rows["victim_sex"].to_numpy(),
        "repeat_victim": rows["repeat_victim"].to_numpy(),
        "suspect_identified": np.where(rows["suspect_identified"], "Y", "N"),
        "notes": _pick({text: 1 for text in NOTES}, n, rng),
    })
    order = np.argsort(rows["reported_on"].to_numpy() + pd.to_timedelta(rng.random(n), unit="D"), kind="stable")
    if design.duplicate_records:
        order = np.sort(np.r_[order, rng.choice(n, design.duplicate_records, replace=False)])
        order = order[np.argsort(rows["reported_on"].to_numpy()[order], kind="stable")]
    frame = frame.iloc[order]
    return frame.rename(columns={"crime_ref": "Crime Ref", "reported_on": "Reported On",
                                 "record_type": "Record Type", "hate_strand": "Hate Strand",
                                 "offence_group": "Offence Group", "outcome_code": "Outcome Code"}
                        ).reset_index(drop=True)


def _untidy_dates(dates: pd.Series, rng) -> np.ndarray:
    """Mostly day-first (03/10/2022), some ISO (2022-10-03), blanks stay blank."""
    dates = pd.Series(pd.to_datetime(dates)).reset_index(drop=True)
    day_first = dates.dt.strftime("%d/%m/%Y")
    iso = dates.dt.strftime("%Y-%m-%d")
    text = np.where(rng.random(len(dates)) < 0.8, day_first, iso)
    return np.where(dates.isna(), "", text).astype(object)


def _untidy_case(values: np.ndarray, rng) -> np.ndarray:
    """A few values in capitals or with stray spaces, as typed."""
    values = values.astype(str)
    draw = rng.random(len(values))
    values = np.where(draw < 0.04, np.char.upper(values), values)
    values = np.where((draw >= 0.04) & (draw < 0.08), np.char.add(" ", values), values)
    return np.where((draw >= 0.08) & (draw < 0.12), np.char.capitalize(values), values).astype(object)


def _untidy_codes(codes: np.ndarray, rng) -> np.ndarray:
    """Outcome codes written as 14, OC14, "Outcome 14" or " 14 "."""
    codes = codes.astype(str)
    draw = rng.random(len(codes))
    written = np.where(draw < 0.15, np.char.add("OC", codes), codes)
    written = np.where((draw >= 0.15) & (draw < 0.25), np.char.add("Outcome ", codes), written)
    written = np.where((draw >= 0.25) & (draw < 0.30), np.char.add(np.char.add(" ", codes), " "), written)
    return np.where(codes == "", "", written).astype(object)


def subvert_allocation(trial: SimulatedTrial, *, offence_group: str = "violence against the person",
                       pairs: int | None = None, seed: int = 0) -> SimulatedTrial:
    """The same trial with its allocation subverted: reports of one offence group steered to SRC.

    Swaps the arms of ``pairs`` pairs (a BAU report of that group with an SRC report of another
    group), so the arm sizes stay as planned and only the audit's balance checks can tell. None
    swaps as many pairs as there are. For testing the allocation audit.
    """
    rng = np.random.default_rng(seed)
    allocation = trial.allocation.copy()
    groups = trial.extract.drop_duplicates("Crime Ref").set_index("Crime Ref")["Offence Group"]
    in_group = allocation["Crime Ref"].map(groups).str.strip().str.lower() == offence_group
    arm = allocation["Allocation"].str.strip().str.upper()
    bau_in_group = rng.permutation(np.flatnonzero(in_group & (arm == "BAU")))
    src_elsewhere = rng.permutation(np.flatnonzero(~in_group & (arm == "SRC")))
    count = min(len(bau_in_group), len(src_elsewhere)) if pairs is None else pairs
    allocation.loc[allocation.index[bau_in_group[:count]], "Allocation"] = "SRC"
    allocation.loc[allocation.index[src_elsewhere[:count]], "Allocation"] = "BAU"
    # A subverter leaves the random numbers as they were, so the documented rule is broken too.
    return SimulatedTrial(allocation, trial.extract.copy(), trial.design, trial.seed)
