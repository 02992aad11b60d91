"""``srceval pool``: read several runs' results.json, check that they can be pooled, pool them
with :mod:`helpers.methods.pooling` and write ``pooled.json``, ``pooled.html``, ``pooled.pdf``
and a forest plot per outcome."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from helpers.methods.pooling import MEASURES, StudyCounts, pool_outcome
from helpers.parameters import short_label
from helpers.report.pooled import forest_plot, render_html

PRIMARY = "attrition"
SECONDARY = ("charge", "positive_outcome")
# Used when a run's results.json does not name its outcomes.
LABELS = {"attrition": "withdrawal of support", "charge": "charge or summons", "positive_outcome": "positive outcome"}


class PoolInputError(Exception):
    """The runs named cannot be pooled; the message names each file and what is wrong."""

    exit_code = 2


@dataclass(frozen=True)
class Run:
    """What pooling reads from one results.json: the counts and the outcome definitions."""

    path: Path
    label: str
    counts: dict[str, StudyCounts]
    codes: dict[str, tuple[str, ...]]
    labels: dict[str, str]
    sha256: str
    inputs: tuple[str, str] | None  # the SHA-256 of the allocation log and of the extract the run read
    git_commit: str | None
    generated_at: str | None
    conf_level: float | None = None  # the level of the run's intervals (its parameters' confidence_level)


POOLABLE_DESIGNS = ("complete", "simple")
MAX_RESULTS_BYTES = 50_000_000


def read_run(path: Path, label: str) -> Run:
    """Read the fields pooling needs from a results.json, or raise :class:`PoolInputError`.

    Read: ``outcomes.<name>.control|treatment.events|n`` and
    ``provenance.parameters.outcomes.<name>.codes`` (and ``.label`` when present, for the
    report's headings); ``provenance.git_commit`` and
    ``provenance.generated_at`` when present (shown, never required);
    ``provenance.parameters.confidence_level`` when present (the level of the pooled intervals, see
    :func:`confidence_level`); ``design.assignment`` and ``identification`` when present, to refuse a
    run whose counts do not measure the effect of SRC.
    """
    from pydantic import ValidationError

    from helpers.inputs.bounded import BoundedInputError, parse_json, read_regular_file
    from helpers.pipeline.models import PoolInput
    from helpers.pipeline.models.common import describe_errors

    path = Path(path)
    try:
        raw = read_regular_file(path, max_bytes=MAX_RESULTS_BYTES, what="file")
    except BoundedInputError as error:
        raise PoolInputError(f"{path}: cannot be read ({str(error).replace(f'the file {path} ', '')})") from None
    try:
        document = parse_json(raw)
    except BoundedInputError as error:
        raise PoolInputError(f"{path}: cannot be read as JSON ({error})") from None
    try:  # checked first: every field read below then has the type the results form gives it
        PoolInput.model_validate(document)
    except ValidationError as error:
        raise PoolInputError(f"{path}: not an srceval results.json ({describe_errors(error)})") from None
    problems = _results_problems(document)
    if problems:
        raise PoolInputError(f"{path}: not an srceval results.json ({'; '.join(problems)})")
    design = (document.get("design") or {}).get("assignment", "complete")
    if design not in POOLABLE_DESIGNS:  # a blocked or cluster run's pooled counts would ignore its design
        raise PoolInputError(f"{path}: a {design} design; pooling reads each run's two-by-two counts, which is "
                             "right only for individually randomised runs (complete or simple), so this run "
                             "cannot be pooled here")
    identification = document.get("identification") or {}
    if identification.get("identified") is False:  # its arms' difference is not an effect of SRC
        raise PoolInputError(f"{path}: {identification.get('reason') or 'the allocation did not change delivery'}; "
                             "its arms' difference is not an effect of SRC, so it cannot be pooled with runs that "
                             "measure one")
    outcomes, definitions = document["outcomes"], document["provenance"]["parameters"]["outcomes"]
    counts = {name: StudyCounts(label, int(entry["treatment"]["events"]), int(entry["treatment"]["n"]),
                                int(entry["control"]["events"]), int(entry["control"]["n"]))
              for name, entry in outcomes.items()}
    codes = {name: tuple(sorted(str(c) for c in definition["codes"])) for name, definition in definitions.items()}
    labels = {name: short_label(str(definition["label"])) for name, definition in definitions.items()
              if isinstance(definition.get("label"), str)}
    provenance = document["provenance"]
    files = document.get("inputs") or {}
    inputs = ((files["allocation_sha256"], files["extract_sha256"])
              if isinstance(files.get("allocation_sha256"), str) and isinstance(files.get("extract_sha256"), str)
              else None)
    return Run(path, label, counts, codes, labels, hashlib.sha256(raw).hexdigest(), inputs,
               provenance.get("git_commit"), provenance.get("generated_at"),
               provenance["parameters"].get("confidence_level"))


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _get(document, *keys):
    """document[k1][k2]... or None where a level is missing or not an object."""
    for key in keys:
        document = document.get(key) if isinstance(document, dict) else None
    return document


def _results_problems(document) -> list[str]:
    """What keeps a JSON document from being an srceval results file pooling can read."""
    if not isinstance(document, dict):
        return ["the file holds no JSON object"]
    outcomes = document.get("outcomes")
    definitions = _get(document, "provenance", "parameters", "outcomes")
    problems = []
    if not isinstance(outcomes, dict) or PRIMARY not in outcomes:
        problems.append(f"no outcomes.{PRIMARY}")
    if not isinstance(definitions, dict) or PRIMARY not in definitions:
        problems.append(f"no provenance.parameters.outcomes.{PRIMARY}")
    if problems:
        return problems
    for name, entry in outcomes.items():
        for arm in ("control", "treatment"):
            cell = entry.get(arm) if isinstance(entry, dict) else None
            if not (isinstance(cell, dict) and _is_count(cell.get("events")) and _is_count(cell.get("n"))
                    and cell["events"] <= cell["n"]):
                problems.append(f"outcomes.{name}.{arm} has no whole-number events and n with events <= n")
    for name in sorted(set(outcomes) | set(definitions)):
        codes = _get(definitions, name, "codes")
        if not (isinstance(codes, list) and all(isinstance(c, (str, int)) for c in codes)):
            problems.append(f"provenance.parameters.outcomes.{name}.codes is not a list of codes")
    return problems


def run_labels(paths: list[Path]) -> list[str]:
    """A short label per run: its folder's name, or its folder's path below the folders' common parent."""
    folders = [Path(p).resolve().parent for p in paths]
    names = [f.name or str(f) for f in folders]
    if len(set(names)) == len(names):
        return names
    common = Path(os.path.commonpath([str(f) for f in folders]))
    labels = [str(f.relative_to(common)) if f != common else f.name for f in folders]
    return labels if len(set(labels)) == len(labels) else [f"run {i + 1}: {n}" for i, n in enumerate(names)]


def read_runs(paths: list[Path], labels: list[str] | None = None) -> list[Run]:
    """Read and check every run: at least two, each readable, the same outcome definitions.

    Raises
    ------
    PoolInputError
        Listing every unreadable file, or the outcome whose codes differ with each file's codes.
    """
    if len(paths) < 2:
        raise PoolInputError(f"pooling needs at least two results.json files; {len(paths)} given")
    labels = labels or run_labels(paths)
    if len(labels) != len(paths) or len(set(labels)) != len(labels):
        raise PoolInputError(f"give one distinct label per file: {len(paths)} files, labels {labels}")
    runs, errors = [], []
    for path, label in zip(paths, labels):
        try:
            runs.append(read_run(path, label))
        except PoolInputError as error:
            errors.append(str(error))
    if errors:
        raise PoolInputError("\n".join(errors))
    _check_distinct(runs)
    _check_definitions(runs)
    return runs


def _check_distinct(runs: list[Run]) -> None:
    """Refuse one trial given twice: pooling it with itself would double its weight and narrow the interval.

    The same results.json given twice (the same bytes, whatever the path) is refused, and so are two
    runs on the same input files (another parameters file gives another results.json of the same trial).
    """
    seen: dict[str, str] = {}
    for run in runs:
        key = run.sha256
        if key in seen:
            raise PoolInputError(f"{run.path} and {seen[key]} are the same results.json; give each replication once")
        seen[key] = str(run.path)
    read: dict[tuple[str, str], str] = {}
    for run in runs:
        if run.inputs in read:
            raise PoolInputError(f"{run.path} and {read[run.inputs]} were run on the same allocation log and crime "
                                 "extract (the same SHA-256): they are one trial, not two, and pooling them would "
                                 "count its reports twice")
        if run.inputs is not None:
            read[run.inputs] = str(run.path)


def _check_definitions(runs: list[Run]) -> None:
    """Refuse runs whose outcomes were defined by different Home Office codes."""
    differing = []
    for name in sorted({name for run in runs for name in run.codes}):
        seen = {run.codes[name] for run in runs if name in run.codes}
        if len(seen) > 1:
            listing = "; ".join(f"{run.path}: {', '.join(run.codes[name]) or 'none'}" for run in runs
                                if name in run.codes)
            differing.append(f"outcome '{name}' is defined by different codes ({listing})")
    if differing:
        raise PoolInputError("the runs used different outcome definitions, so their effects are not the same "
                             "quantity and cannot be pooled:\n  - " + "\n  - ".join(differing))


def pooled_outcomes(runs: list[Run]) -> tuple[list[str], dict[str, str]]:
    """Outcomes to pool, and why any other was skipped.

    Withdrawal is always pooled; charge and positive outcome where every run has the outcome
    with reports in both arms (a zero count is handled by the continuity correction).
    """
    chosen, skipped = [PRIMARY], {}
    for name in SECONDARY:
        missing = [run.label for run in runs if name not in run.counts]
        empty = [run.label for run in runs if name in run.counts and min(run.counts[name].treatment_n,
                                                                          run.counts[name].control_n) == 0]
        if len(missing) == len(runs):
            skipped[name] = "in none of the runs"
        elif missing:
            skipped[name] = f"not in every run (missing from {', '.join(missing)})"
        elif empty:
            skipped[name] = f"not estimable in every run (an arm with no outcome recorded in {', '.join(empty)})"
        else:
            chosen.append(name)
    return chosen, skipped


def confidence_level(runs: list[Run], override: float | None = None) -> float:
    """The level of the pooled intervals: ``override`` when given (``--confidence-level``), else the level
    every run's intervals were computed at.

    Raises
    ------
    PoolInputError
        The runs were computed at different levels, or a run does not state its level, and no
        override was given; the message lists each file's level.
    """
    if override is not None:
        return override
    levels = {run.conf_level for run in runs}
    if len(levels) == 1 and None not in levels:
        return levels.pop()
    listing = "; ".join(f"{run.path}: {'not stated' if run.conf_level is None else f'{run.conf_level:g}'}"
                        for run in runs)
    raise PoolInputError("the runs' intervals were not all computed at one stated confidence level "
                         f"({listing}); pool runs of one level, or give --confidence-level")


def pool_runs(runs: list[Run], *, conf_level: float | None = None) -> dict:
    """Every pooled figure, as the content of pooled.json, at ``conf_level`` (None: the runs' own level,
    :func:`confidence_level`)."""
    conf_level = confidence_level(runs, conf_level)
    chosen, skipped = pooled_outcomes(runs)
    outcomes = {}
    for name in chosen:
        counts = [run.counts[name] for run in runs]
        outcomes[name] = {
            "label": runs[0].labels.get(name) or LABELS.get(name, name.replace("_", " ")),
            "codes": list(runs[0].codes.get(name, ())),
            "runs": [{"run": c.label, "treatment": {"events": c.treatment_events, "n": c.treatment_n},
                      "control": {"events": c.control_events, "n": c.control_n}} for c in counts],
            **{measure: pool_outcome(counts, name, measure, conf_level=conf_level) for measure in MEASURES},
        }
    pooled = {
        "kind": "srceval pooled results",
        "confidence_level": conf_level,
        "runs": [{"label": run.label, "file": str(run.path), "sha256": run.sha256, "git_commit": run.git_commit,
                  "generated_at": run.generated_at} for run in runs],
        "outcomes": outcomes,
        "skipped": skipped,
        "methods": METHOD_NOTES,
        "provenance": _provenance(),
    }
    from helpers.pipeline.context import to_jsonable
    from helpers.pipeline.models import Pooled

    return Pooled.model_validate(to_jsonable(pooled)).model_dump(mode="json")


METHOD_NOTES = {
    "effect_sizes": "Per run, from its two-by-two counts: log risk ratio with variance 1/a - 1/n1 + 1/c - 1/n2 "
                    "(Katz et al. 1978) and risk difference with variance p1(1-p1)/n1 + p2(1-p2)/n2; a table with a "
                    "zero cell has 0.5 added to every cell, and a run with no events in either arm is left out of "
                    "the risk ratio (metafor escalc, Viechtbauer 2010). Per-run intervals are normal (Wald) "
                    "intervals on these scales, so they can differ from a run's own report.",
    "fixed_effect": "Inverse-variance weighted mean with a normal interval.",
    "random_effects": "Between-run variance tau² by restricted maximum likelihood (Viechtbauer 2005); interval "
                      "and test by the modified Hartung-Knapp method, t with k - 1 df: the Hartung & Knapp (2001) / "
                      "Sidik & Jonkman (2002) variance, its factor s² raised to 1 when it falls below (Knapp & "
                      "Hartung 2003; metafor's test = \"adhoc\"), as Röver, Knapp & Friede (2015) recommend. "
                      "Unmodified, the interval would be narrower than the fixed-effect one whenever the runs agree "
                      "more closely than chance predicts, and of no width when they agree exactly (two extracts "
                      "made to the same counts); modified, the random-effects variance is never below the "
                      "fixed-effect one. Prediction interval for a new run's effect (Higgins, Thompson & "
                      "Spiegelhalter 2009) on the same t.",
    "heterogeneity": "Cochran's Q with its chi-squared test on k - 1 df; I² = tau² / (tau² + typical within-run "
                     "variance) and H² as metafor reports them for the random-effects model; i2_from_q = "
                     "(Q - df) / Q (Higgins & Thompson 2002). I² is a fraction, not a percentage.",
    "scale": "Risk ratios are reported as ratios (exponentiated); their std_error is that of the log ratio.",
}


def _provenance() -> dict:
    from helpers import __version__
    from helpers.pipeline.results import package_versions

    return {"package_version": __version__, "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "packages": package_versions()}


OUTPUT_NAMES = ("pooled.json", "pooled.html", "pooled.pdf")


def check_output_folder(out: Path, inputs: list[Path]) -> None:
    """Refuse an output folder that is a file, lies among the project's sources or raw data, or
    whose outputs would overwrite an input (the rules ``srceval run`` applies to its own)."""
    from helpers import config

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PoolInputError(f"--out {out} is a file, not a folder")
    for protected in (config.RAW_DIR, config.NOTEBOOKS_DIR, config.PROJ_ROOT / "src"):
        if out.resolve().is_relative_to(protected.resolve()):
            raise PoolInputError(f"--out {out} lies in {protected}, which holds the project's inputs or code")
    targets = {(out / name).resolve() for name in OUTPUT_NAMES}
    clashes = [str(p) for p in inputs if Path(p).resolve() in targets]
    if clashes:
        raise PoolInputError(f"--out {out} would overwrite an input: {', '.join(clashes)}")


def write_outputs(pooled: dict, out: Path, *, note=None) -> dict[str, Path]:
    """Write pooled.json, the forest plots, pooled.html and pooled.pdf into ``out``, through the guarded
    writer (:mod:`helpers.pipeline.safewrite`): the folder locked, no link followed, each file replaced
    atomically, the files of an earlier pooling no longer written removed."""
    from weasyprint import HTML  # imported here: only the PDF needs Pango

    from helpers.pipeline.safewrite import OutputFolder

    with OutputFolder(out, command=POOL_COMMAND, note=note) as folder:
        names = [*OUTPUT_NAMES, *(f"figures/forest_{name}.png" for name in pooled["outcomes"])]
        folder.check(names, folders=["figures"])
        staging = folder.staging()
        figures = {name: forest_plot(entry, name, staging / "figures" / f"forest_{name}.png", pooled["confidence_level"])
                   for name, entry in pooled["outcomes"].items()}
        pooled = {**pooled, "figures": {name: path.relative_to(staging).as_posix() for name, path in figures.items()}}
        (staging / "pooled.json").write_text(json.dumps(pooled, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        page = render_html(pooled, figures)
        (staging / "pooled.html").write_text(page, encoding="utf-8")
        HTML(string=page, base_url=str(staging)).write_pdf(staging / "pooled.pdf")
        written = folder.publish(staging)
        relative = [path.relative_to(folder.root).as_posix() for path in written]
        folder.remove_no_longer_written(relative)
        folder.write_manifest(relative)
    paths = {"json": out / "pooled.json", "html": out / "pooled.html", "pdf": out / "pooled.pdf"}
    return {**paths, **{f"forest_{name}": out / "figures" / f"forest_{name}.png" for name in figures}}


POOL_COMMAND = "srceval pool"
