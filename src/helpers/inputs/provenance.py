"""Where the input files came from: a synthetic extract says so, a real one has nothing to say.

``srceval simulate`` writes ``synthetic-manifest.json`` beside the files it makes, naming each
file with its SHA-256, the generator's seed and design. A run whose input files are listed there,
byte for byte, reports that its data are synthetic and which figures are invented; a real extract
has no such manifest, and an edited synthetic file no longer matches its entry.
"""
from __future__ import annotations

import json
from pathlib import Path

from helpers.inputs.reading import sha256_of

MANIFEST = "synthetic-manifest.json"
# What the generator takes from the published trial, and what it invents.
PUBLISHED = "arm sizes, delivery and withdrawal counts reproduce the published trial"
INVENTED = ("charge and positive-outcome counts, every baseline characteristic (borough, ward, strand, offence, "
            "victim age and sex, repeat victim, suspect), dates and references are invented")


def manifest_text(files: list[Path], *, seed: int, design: dict, calibrated: bool = True) -> str:
    """The manifest recording the generated files' hashes, so a run can tell them apart from a real extract.

    ``calibrated`` says whether the design is the published trial's (the shipped data's). The
    caller writes it beside the files, as ``MANIFEST``.
    """
    manifest = {"generator": "srceval simulate", "seed": seed, "design": design,
                "files": {Path(f).name: sha256_of(Path(f)) for f in files},
                "published": PUBLISHED if calibrated else
                "nothing is taken from the published trial (a generated trial of the design recorded in the manifest)",
                "invented": INVENTED if calibrated else "every count and characteristic is invented"}
    return json.dumps(manifest, indent=2) + "\n"


def data_origin(*inputs: Path) -> dict:
    """Whether every input file is a generated, unedited synthetic file, and what that means."""
    entries = [_manifest_entry(Path(p)) for p in inputs]
    if all(e is not None for e in entries):
        manifest = entries[0]
        return {"synthetic": True, "generator": manifest["generator"], "seed": manifest.get("seed"),
                "published": manifest.get("published", PUBLISHED), "invented": manifest.get("invented", INVENTED)}
    return {"synthetic": False, "generator": None, "seed": None, "published": None, "invented": None}


MAX_MANIFEST_BYTES = 100_000  # the generator's manifest is under 2 KB


def _manifest_entry(path: Path) -> dict | None:
    """The manifest beside ``path`` if it lists the file with its hash; read bounded (a regular file of at
    most MAX_MANIFEST_BYTES), since anything may lie beside an input."""
    from helpers.inputs.bounded import BoundedInputError, read_json_file

    manifest_path = path.parent / MANIFEST
    if not manifest_path.exists():
        return None
    try:
        manifest = read_json_file(manifest_path, what="synthetic manifest", max_bytes=MAX_MANIFEST_BYTES)
        matches = manifest["files"].get(path.name) == sha256_of(path)
    except (BoundedInputError, OSError, ValueError, KeyError, AttributeError, TypeError):
        return None
    return manifest if matches else None
