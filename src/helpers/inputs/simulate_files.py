"""Writing simulated trials: each trial's files, manifest and parameters, through the guarded writer.

:func:`write_trials` puts every trial of one ``srceval simulate`` call in place in one guarded call
(:mod:`helpers.pipeline.safewrite`); the trials themselves are made by :mod:`helpers.inputs.simulate`.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from helpers import config
from helpers.inputs.provenance import MANIFEST, manifest_text

if TYPE_CHECKING:
    from helpers.inputs.simulate import Assignment, SimulatedTrial

SIMULATE_COMMAND = "srceval simulate"


def write_trials(trials: list[tuple[Path, SimulatedTrial]], *, allocation_name="allocation_log.xlsx",
                 extract_name="crime_extract.csv", overwrite: bool = False) -> list[tuple[Path, Path]]:
    """Write each trial into its folder, all below the first folder's common parent, in one guarded call.

    Every file goes through :class:`helpers.pipeline.safewrite.OutputFolder`: the folder locked, no
    link followed (a link at a destination is replaced, never written through), and, unless
    ``overwrite``, refused before anything is written when a file the generator would write exists.
    """
    from helpers.pipeline.safewrite import OutputFolder, RefusedPath

    folders = [Path(folder).absolute() for folder, _ in trials]
    root = Path(os.path.commonpath([str(f) for f in folders])) if len(folders) > 1 else folders[0]
    with OutputFolder(root, command=SIMULATE_COMMAND) as out:
        staging = out.staging()
        names = {}
        for folder, (_, trial) in zip(folders, trials):
            below = folder.relative_to(root)
            files = write_trial_into(trial, staging / below, allocation_name=allocation_name,
                                     extract_name=extract_name)
            names[folder] = [(below / name).as_posix() if below.parts else name for name in files]
        every = [name for listed in names.values() for name in listed]
        out.check(every)
        if not overwrite:
            existing = [out.path(name) for name in every if os.path.lexists(out.path(name))]
            if existing:
                shown = ", ".join(str(p) for p in existing[:4]) + (f" and {len(existing) - 4} more" if len(existing) > 4
                                                                   else "")
                raise RefusedPath(f"{shown} already exist{'s' if len(existing) == 1 else ''}; nothing was written. "
                                  "Choose another folder, or give --force to replace the generator's files there.")
        out.publish(staging)
    return [(folder / allocation_name, folder / extract_name) for folder in folders]


def design_parameters(assignment: Assignment, base: Path | None = None) -> str:
    """The parameters file ``base`` (default: the project's) with its design declared as ``assignment``."""
    text = (base or config.PARAMETERS_FILE).read_text(encoding="utf-8")
    kind = assignment.kind
    block = (f"design:\n  assignment: {kind}\n"
             f"  blocks: {assignment.column if kind == 'blocked' else 'null'}\n"
             f"  clusters: {assignment.column if kind == 'cluster' else 'null'}\n"
             "  probability: 0.5\n")
    pattern = re.compile(r"^design:[ \t]*\n(?:[ \t]+.*(?:\n|$))*", re.MULTILINE)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + "\n\n" + block


def write_trial_into(trial: SimulatedTrial, staging: Path, *, allocation_name: str, extract_name: str) -> list[str]:
    """Write a trial's files into ``staging`` (a private folder); return their names."""
    staging.mkdir(parents=True, exist_ok=True)
    allocation_path, extract_path = staging / allocation_name, staging / extract_name
    if allocation_path.suffix == ".xlsx":
        _write_xlsx(trial.allocation, allocation_path)
    else:
        trial.allocation.to_csv(allocation_path, index=False)
    trial.extract.to_csv(extract_path, index=False, encoding="utf-8")
    design = asdict(trial.design)
    if trial.assignment != type(trial.assignment)():
        design["assignment"] = asdict(trial.assignment)
    (staging / MANIFEST).write_text(manifest_text([allocation_path, extract_path], seed=trial.seed, design=design,
                                                  calibrated=trial.calibrated), encoding="utf-8")
    names = [allocation_name, extract_name, MANIFEST]
    if trial.assignment.kind != "complete":
        (staging / "parameters.yml").write_text(design_parameters(trial.assignment), encoding="utf-8")
        names.append("parameters.yml")
    return names


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """An analyst's spreadsheet: date cells as Excel dates, one sheet named 'Allocation'."""
    with pd.ExcelWriter(path, engine="openpyxl", date_format="DD/MM/YYYY") as writer:
        frame.to_excel(writer, sheet_name="Allocation", index=False)
        sheet = writer.sheets["Allocation"]
        for column, width in zip("ABCDE", (14, 14, 12, 15, 34)):
            sheet.column_dimensions[column].width = width
        writer.book.properties.creator = "srceval simulate"
