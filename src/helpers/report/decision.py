"""Page 1 of the report: the critical flags and the compact provenance block, from results.json.

The decision, the answer and how sure we are are the bottom line (:func:`helpers.report.summary.bottom_line`);
this module adds what must never be missed when it applies (no one received the contact, an
allocation that broke its rule, investigations still open, synthetic data) and where the figures
came from, in a few lines. Each flag is raised exactly when results.json says it applies.
"""
from __future__ import annotations

from pathlib import Path

from helpers import config
from helpers.pipeline.results import parameters_file_name

__all__ = ["critical_flags", "provenance_block", "short_hash", "open_bounds"]

SHORT_HASH = 12  # hex digits of a SHA-256 or a commit on page 1; the appendix gives them whole


def short_hash(digest: str | None) -> str:
    return digest[:SHORT_HASH] if digest else "unknown"


def open_bounds(itt: dict) -> tuple[float, float] | None:
    """The smallest and largest risk difference over the ways the open investigations could end."""
    bounds = itt.get("open_investigation_bounds")
    if not bounds:
        return None
    values = [bounds[key]["risk_difference"] for key in ("all_open_cases", "no_open_cases", "src_open_cases_only",
                                                          "bau_open_cases_only")
              if bounds.get(key) and bounds[key].get("risk_difference") is not None]
    return (min(values), max(values)) if values else None


def critical_flags(results: dict, *, audit_tests: bool = True) -> list[str]:
    """What a reader of page 1 must know before reading any figure, each only when it applies; the words are in
    ``templates/critical_flags.md.j2`` (``audit_tests``: the audit's own flags, which name their tests, as well)."""
    from helpers.report.summary import render_markdown

    open_cases = results["flow"]["outcome_open"]
    audit = results["allocation_audit"]
    identification = results.get("identification") or {}
    text = render_markdown(
        "critical_flags.md.j2", no_contrast=identification.get("identified") is False,
        delivery=identification.get("delivery"), breaches=audit.get("threshold_rule_breaches") or 0,
        randomised=results["flow"]["randomised"], audit_flags=audit.get("flags", []) if audit_tests else [],
        open=open_cases, open_total=open_cases["treatment"] + open_cases["control"],
        recorded=results["flow"]["outcome_recorded"], bounds=open_bounds(results["outcomes"]["attrition"]["itt"]),
        origin=results["inputs"].get("origin") or {})
    return [flag for flag in text.split("\n\n") if flag]


def provenance_block(results: dict, parameters_file: str | Path | None = None, *,
                     appendix: str = "the appendix") -> list[str]:
    """Where page 1's figures came from: input files with short hashes, the parameters file, the version
    (``appendix``: where the full hashes and parameters are, for a report that has no appendix of its own)."""
    lines = []
    origin = results["inputs"].get("origin") or {}
    if not origin.get("synthetic"):
        lines.append("Data: the files named below, not made by the project's generator (no synthetic manifest "
                     "matches them).")
    for role in ("allocation", "extract"):
        info = results["inputs"][role]
        sheet = f", sheet '{info['sheet']}' ({info['sheet_reason']})" if info.get("sheet") is not None else ""
        lines.append(f"{role.title()} file: {info['file']}{sheet}, SHA-256 "
                     f"{short_hash(results['inputs'][f'{role}_sha256'])}")
    # the name results.json records; a parameters file given here (an older results.json) is named the same way
    name = results["provenance"].get("parameters_file") or (
        parameters_file_name(Path(parameters_file)) if parameters_file is not None else None)
    if name is not None:
        lines.append(f"Parameters file: {_parameters_label(name)}")
    command = results["provenance"].get("command")
    lines.append(f"Command, each path by its last part: {command}" if command else
                 "Command: none recorded (the stage notebooks were executed directly, not by srceval)")
    design = (results.get("design") or {}).get("assignment")
    if design and design != "complete":
        lines.append(f"Design: {results['design']['description']}")
    provenance = results["provenance"]
    lines.append(f"srceval {provenance['package_version']} (commit {short_hash(provenance['git_commit'])}), run on "
                 f"{provenance['generated_at']}; full hashes and every parameter in {appendix}.")
    return lines


def _parameters_label(name: str) -> str:
    """The recorded name of the parameters file, with the project's own marked as the default."""
    default = config.PARAMETERS_FILE.relative_to(config.PROJ_ROOT).as_posix()
    return f"{name} (the project's default)" if name == default else name
