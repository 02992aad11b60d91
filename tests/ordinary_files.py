"""Input files of the kinds a force's systems and analysts produce, made here in a folder, with the
parameters to run them: a workbook with a hidden draft sheet and dates stored as numbers, a cluster
trial whose ward labels repeat across boroughs, a trial in which no one received the contact.

Each builder writes its files and returns the ``srceval run`` arguments for them (paths only; the
caller adds ``--out``). The figures each should give are computed here from what was written, so
that a test compares the run with the files, not with a number typed by hand.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from openpyxl import Workbook

from helpers import config
from helpers.inputs.simulate import TrialDesign, simulate_trial

REFERENCE_DIR = Path(__file__).parent / "reference"
EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # Excel's (Windows) day 0: a serial number counts days from it

# Rows (0-based, in the log's data) whose random number is changed to one no generator draws.
ODD_RANDOM_NUMBERS = {10: 7.0, 20: -5.0, 30: float("inf")}


def parameters(folder: Path, **changes) -> Path:
    """The project's parameters with top-level keys replaced (nested mappings merged one level down)."""
    params = yaml.safe_load(config.PARAMETERS_FILE.read_text(encoding="utf-8"))
    for key, value in changes.items():
        params[key] = {**params[key], **value} if isinstance(value, dict) and isinstance(params.get(key), dict) \
            else value
    path = folder / "parameters.yml"
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def serial(date) -> int:
    """The Excel serial number of a date (days since 30/12/1899)."""
    return int((pd.Timestamp(date).normalize() - EXCEL_EPOCH).days)


def write_log_workbook(path: Path, sheets: dict[str, pd.DataFrame], *, hidden: tuple[str, ...] = (),
                       active: str | None = None, serial_dates: bool = False) -> Path:
    """An allocation log workbook with the given sheets (in order); ``serial_dates`` writes "Allocated On" as
    plain numbers (a date column formatted as General), as a log kept by hand often has it."""
    book = Workbook()
    book.remove(book.active)
    for name, frame in sheets.items():
        sheet = book.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            values = []
            for column, value in zip(frame.columns, row):
                if column == "Allocated On":
                    value = serial(value) if serial_dates else pd.Timestamp(value).to_pydatetime()
                elif isinstance(value, float) and np.isinf(value):
                    value = "inf" if value > 0 else "-inf"  # a cell cannot hold infinity: typed as text
                values.append(value)
            sheet.append(values)
        if name in hidden:
            sheet.sheet_state = "hidden"
    if active is not None:
        book.active = list(sheets).index(active)
    book.save(path)
    return path


def odd_workbook(folder: Path) -> dict:
    """The calibrated trial (withdrawal 69/125 against 54/125) as files from real life.

    The allocation log is a workbook whose first sheet is a hidden draft with the arms flipped, and
    whose visible, active sheet is the real log with its dates stored as Excel serial numbers; three
    random numbers are 7, -5 and infinity; one report is logged twice, in the same arm, with another
    date and random number; one report was allocated after its outcome was recorded. The extract
    writes every charge as the variant 1A, and the parameters define a charge as code 1A.
    """
    folder.mkdir(parents=True, exist_ok=True)
    trial = simulate_trial(TrialDesign())
    log, extract = trial.allocation.copy(), trial.extract.copy()
    for row, value in ODD_RANDOM_NUMBERS.items():
        log.loc[row, "Random Number"] = value
    repeated = log.iloc[[40]].assign(**{"Allocated On": pd.Timestamp(log.loc[40, "Allocated On"]) + pd.Timedelta(days=2),
                                        "Random Number": 0.0123 if log.loc[40, "Allocation"].strip().upper() == "SRC"
                                        else 0.9876})
    log = pd.concat([log, repeated], ignore_index=True)
    # a business-as-usual report with an outcome, allocated the day after it
    extract_by_ref = extract.drop_duplicates("Crime Ref").set_index("Crime Ref")
    outcome_on = pd.to_datetime(extract_by_ref["outcome_on"], dayfirst=True, errors="coerce", format="mixed")
    bau = log["Allocation"].str.strip().str.upper() == "BAU"
    late = log.index[bau & log["Crime Ref"].map(outcome_on).notna()][5]
    log.loc[late, "Allocated On"] = log["Crime Ref"].map(outcome_on)[late] + pd.Timedelta(days=1)
    charged = extract["Outcome Code"].str.replace(r"\D", "", regex=True) == "1"
    extract.loc[charged, "Outcome Code"] = "1A"
    flipped = log.assign(Allocation=log["Allocation"].str.strip().str.upper().map({"SRC": "BAU", "BAU": "SRC"}))
    allocation = write_log_workbook(folder / "allocation_log.xlsx", {"Draft": flipped, "Log": log},
                                    hidden=("Draft",), active="Log", serial_dates=True)
    extract_path = folder / "crime_extract.csv"
    extract.to_csv(extract_path, index=False)
    params = parameters(folder, randomisation_draws=2000,
                        outcomes={"charge": {"label": "charged or summonsed", "codes": ["1A"]}})
    randomised = extract.drop_duplicates("Crime Ref").set_index("Crime Ref").loc[trial.allocation["Crime Ref"]]
    arm = trial.allocation.set_index("Crime Ref")["Allocation"].str.strip().str.upper()
    charges = randomised["Outcome Code"].eq("1A").groupby(arm).sum()
    return {"args": ["--allocation", str(allocation), "--extract", str(extract_path), "--params", str(params)],
            "charges": {"treatment": int(charges["SRC"]), "control": int(charges["BAU"])},
            "late_row": int(late) + 2, "repeated_row": 41 + 1, "months": sorted(
                pd.to_datetime(trial.allocation["Allocated On"]).dt.strftime("%Y-%m").unique())}


def repeated_wards(folder: Path) -> dict:
    """The cluster trial tests/reference/repeated_ward_labels.R wrote, as the input contract's two files.

    60 wards, labelled W01 to W60, were randomised whole; a report's borough is recorded apart from its
    ward, so each label turns up in several boroughs. Withdrawal is code 14, anything else code 18.
    """
    folder.mkdir(parents=True, exist_ok=True)
    trial = pd.read_csv(REFERENCE_DIR / "repeated_wards_trial.csv")
    refs = [f"{5_000_000 + i}/23" for i in range(len(trial))]
    reported = pd.Timestamp("2023-01-02") + pd.to_timedelta(np.arange(len(trial)) % 90, unit="D")
    allocation = pd.DataFrame({"Crime Ref": refs, "Allocated On": (reported + pd.Timedelta(days=1)).strftime("%d/%m/%Y"),
                               "Allocation": np.where(trial["z"] == 1, "SRC", "BAU")})
    extract = pd.DataFrame({
        "Crime Ref": refs, "Reported On": reported.strftime("%d/%m/%Y"), "Record Type": "crime",
        "Borough": trial["borough"], "Ward": trial["ward"], "Hate Strand": "race", "Offence Group": "public order",
        "SRC Completed": np.where(trial["d"] == 1, "Y", "N"), "Outcome Code": np.where(trial["y"] == 1, "14", "18")})
    allocation.to_csv(folder / "allocation_log.csv", index=False)
    extract.to_csv(folder / "crime_extract.csv", index=False)
    params = parameters(folder, randomisation_draws=1000,
                        design={"assignment": "cluster", "blocks": None, "clusters": "ward", "probability": 0.5})
    return {"args": ["--allocation", str(folder / "allocation_log.csv"), "--extract", str(folder / "crime_extract.csv"),
                     "--params", str(params)], "trial": trial}


def no_delivery(folder: Path) -> dict:
    """A trial in which no victim allocated to SRC received the contact, and the arms still differ."""
    folder.mkdir(parents=True, exist_ok=True)
    trial = simulate_trial(TrialDesign(compliance=0.0, noncomplier_withdrawal=47 / 125), seed=11)
    allocation, extract = trial.write(folder)
    params = parameters(folder, randomisation_draws=2000)
    return {"args": ["--allocation", str(allocation), "--extract", str(extract), "--params", str(params)]}


def page_text(page: str) -> str:
    """A report's words, as a reader sees them (no markup, styles or scripts)."""
    text = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def numbers_in(node):
    """Every float of a results.json, however deep."""
    if isinstance(node, dict):
        for value in node.values():
            yield from numbers_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from numbers_in(value)
    elif isinstance(node, float):
        yield node
