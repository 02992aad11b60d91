"""The declared design, resolved once: how reports were allocated, its units, and what it supports.

Every estimator family (:mod:`helpers.methods.registry`) and the allocation audit ask the
:class:`Design` which estimator applies, which units were randomised and whether an analysis is
valid at all, instead of branching on the parameters file themselves:

complete
    A fixed number of reports to SRC, completely at random (the published trial): every analysis.
simple (Bernoulli)
    Each report to SRC by a coin of ``probability``: arm sizes vary but carry no information
    about the effect, so every comparison conditional on them stays valid; randomisation
    inference re-draws every report's coin.
blocked
    Complete randomisation within each block (shares may differ between blocks): estimators are
    block-weighted; what pools the arms across blocks is not valid (:data:`NOT_SUPPORTED`).
cluster
    Whole units (wards, say) randomised, every report following its unit: intervals and tests
    allow for reports of a unit being alike (CR2, re-randomising whole units); what takes the
    reports as independent is not valid.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from helpers.errors import InputError, Problem

UNIT = "_unit"  # the column of each report's block or cluster in the frames handed to the estimators
NOUNS = {"borough": ("borough", "boroughs"), "ward": ("ward", "wards"), "offence_group": ("offence group",
         "offence groups"), "primary_strand": ("hate strand", "hate strands")}
NAMES = {"complete": "complete randomisation of reports", "simple": "simple (Bernoulli) randomisation",
         "blocked": "blocked randomisation", "cluster": "cluster randomisation"}

# What a design does not support, and why: analysis -> assignment -> the reason ("{units}": the design's
# units, plural). An analysis or a design not listed is supported.
NOT_SUPPORTED = {
    "exact_test": {
        "blocked": "Fisher's exact test assumes complete randomisation of all reports; read the randomisation "
                   "p-value, which re-randomises as the design did",
        "cluster": "Fisher's exact test assumes complete randomisation of all reports; read the randomisation "
                   "p-value, which re-randomises as the design did"},
    "odds_ratio_woolf": {
        "cluster": "Woolf's interval takes the reports as independent; the risk ratio and difference carry the "
                   "cluster-robust intervals"},
    "probability_of_benefit": {
        "blocked": "the Beta-binomial model pools each arm across blocks with different SRC shares",
        "cluster": "the Beta-binomial model takes the reports as independent, so its probabilities are too sure"},
    "logistic_adjustment": {
        "blocked": "the logistic model takes the reports as completely randomised, ignoring the blocks' different "
                   "SRC shares; the block-weighted Lin estimate is the adjusted one",
        "cluster": "its standard error takes the reports as independent; the Lin estimate with a cluster-robust "
                   "error is the adjusted one"},
    "self_selected_comparisons": {
        "blocked": "it pools the blocks, whose SRC shares differ",
        "cluster": "its interval takes the reports as independent, while whole {units} were randomised"},
    "subgroups": {
        "blocked": "within such a subgroup, reports come from blocks with different SRC shares and the subgroup "
                   "comparison does not weight them",
        "cluster": "the subgroup intervals and interaction test take reports as independent, while whole {units} "
                   "were randomised"},
}


@dataclass(frozen=True)
class Design:
    """How reports were allocated (``assignment``), the columns whose values are the randomised blocks or
    clusters (``columns``, outermost first) and, for simple randomisation, each report's ``probability``.

    Build it once per run with :meth:`from_parameters` (the parameters file's ``design``).
    """

    assignment: str = "complete"
    columns: tuple[str, ...] = ()
    probability: float = 0.5

    def __post_init__(self):
        if self.assignment not in NAMES:
            raise ValueError(f"the assignment must be one of {', '.join(NAMES)}, not {self.assignment!r}")
        if (self.assignment in ("blocked", "cluster")) != bool(self.columns):
            raise ValueError(f"a {self.assignment} design {'needs' if not self.columns else 'takes no'} columns")

    @classmethod
    def from_parameters(cls, design: dict | None) -> "Design":
        """The design the parameters declare (``design:`` of the parameters file, validated); None is complete."""
        design = design or {}
        value = design.get("blocks") or design.get("clusters")
        columns = () if value is None else (value,) if isinstance(value, str) else tuple(value)
        return cls(design.get("assignment", "complete"), columns, float(design.get("probability", 0.5)))

    # -- what kind of design -----------------------------------------------------------------

    @property
    def individual(self) -> bool:
        """Whether each report was randomised on its own (complete or simple randomisation)."""
        return self.assignment in ("complete", "simple")

    @property
    def blocked(self) -> bool:
        return self.assignment == "blocked"

    @property
    def clustered(self) -> bool:
        return self.assignment == "cluster"

    @property
    def name(self) -> str:
        return NAMES[self.assignment]

    # -- its units ---------------------------------------------------------------------------

    @property
    def column(self) -> str | None:
        """The column of the design's blocks or clusters (the innermost of a nested list), or None."""
        return self.columns[-1] if self.columns else None

    @property
    def declared(self) -> str | list[str] | None:
        """The columns as the parameters file names them: one name, or a list of names."""
        if not self.columns:
            return None
        return self.columns[0] if len(self.columns) == 1 else list(self.columns)

    @property
    def blocks(self) -> str | list[str] | None:
        return self.declared if self.blocked else None

    @property
    def clusters(self) -> str | list[str] | None:
        return self.declared if self.clustered else None

    def noun(self, plural: bool = False) -> str:
        """What one unit is called ("ward", "wards"); "unit" for a design without units."""
        return NOUNS.get(self.column, ("unit", "units"))[plural]

    def nesting(self) -> str:
        """How the units are named, for a sentence: '' for one column, ' within borough' for [borough, ward]."""
        return "".join(f" within {NOUNS.get(name, (name,))[0]}" for name in reversed(self.columns[:-1]))

    def units(self, data: pd.DataFrame) -> pd.Series | None:
        """Each report's block or cluster, as the design declares it; None for a design without units.

        One column: its values as written (``clusters: ward`` takes each ward label as one unit, in
        whatever borough it appears). A list of columns: their values joined, outermost first
        (``[borough, ward]``: "Merton / W01" and "Sutton / W01" are two units).

        Raises
        ------
        InputError
            A column is absent or blank in some rows (the input contract requires it, so only a
            table built some other way gets here).
        """
        if not self.columns:
            return None
        parts = []
        for name in self.columns:
            values = data[name].astype("string") if name in data else None
            if values is None or values.isna().any() or (values.str.strip() == "").any():
                raise InputError([Problem("analysis table", f"a {self.assignment} design needs '{name}' recorded "
                                                            "for every report, and it is missing or blank in some",
                                          name)])
            parts.append(values)
        combined = parts[0]
        for values in parts[1:]:
            combined = combined + " / " + values
        return combined.astype(str).rename(UNIT)

    def with_units(self, data: pd.DataFrame) -> pd.DataFrame:
        """The table with each report's unit in the column :data:`UNIT` (kept if it is there already)."""
        if not self.columns or UNIT in data:
            return data
        return data.assign(**{UNIT: self.units(data)})

    # -- what it supports --------------------------------------------------------------------

    def not_valid(self, why: str) -> str:
        return f"not valid under a {self.assignment} design: {why}"

    def unsupported(self, analysis: str) -> str | None:
        """Why this design does not support ``analysis`` (a key of :data:`NOT_SUPPORTED`), or None if it does."""
        why = NOT_SUPPORTED[analysis].get(self.assignment)
        return None if why is None else self.not_valid(why.format(units=self.noun(plural=True)))

    def valid_subgroups(self, wanted: list[str]) -> tuple[list[str], list[dict]]:
        """The plan's subgroup columns the design supports, and a line for each it does not.

        A blocked design supports subgroups by its blocks themselves, within which it was randomised.
        """
        reason = self.unsupported("subgroups")
        if reason is None:
            return list(wanted), []
        kept = [c for c in wanted if self.blocked and (c,) == self.columns]
        return kept, [{"analysis": f"subgroups by {c}", "reason": reason} for c in wanted if c not in kept]

    def describe(self, data: pd.DataFrame, primary: dict | None = None, breaches: int = 0) -> str:
        """The design in one plain sentence, for page 1 of the report.

        ``primary`` is the primary outcome's design figures (its intra-cluster correlation and design
        effect); ``breaches`` the units of a cluster design with reports in both arms.
        """
        if self.assignment == "complete":
            return ("Complete randomisation of reports: a fixed number of reports was allocated to SRC completely at "
                    "random; effects compare the two arms directly.")
        if self.assignment == "simple":
            return (f"Simple randomisation: each report was allocated to SRC with probability {self.probability:g}, "
                    "independently, so the arm sizes were not fixed in advance; randomisation p-values re-draw every "
                    "report's allocation the same way.")
        share = data["assigned"].groupby(self.units(data).to_numpy()).mean()
        noun, nouns, nesting = self.noun(), self.noun(plural=True), self.nesting()
        if self.blocked:
            low, high = float(share.min()), float(share.max())
            shares = (f"with SRC shares from {low:.0%} to {high:.0%}: allocation shares differed by block"
                      if high - low > 0.05 else f"with about the same SRC share ({share.mean():.0%}) in every block")
            return (f"Blocked by {noun}{nesting}: reports were randomised within each of {len(share)} {nouns}, "
                    f"{shares}; effects are block-weighted (each {noun}'s difference weighted by its number of "
                    "reports), not a comparison of the arms' pooled risks.")
        # the units randomised: each wholly in one arm; a unit with reports in both arms is a breach, counted apart
        treated, control = int((share == 1).sum()), int((share == 0).sum())
        text = (f"Cluster-randomised by {noun}{nesting}: whole {nouns} were allocated ({treated} to SRC, {control} to "
                f"business as usual), every report following its {noun}; intervals and tests allow for reports of "
                f"the same {noun} being alike (CR2 standard errors with Bell-McCaffrey degrees of freedom; "
                f"randomisation tests re-randomise whole {nouns})")
        if primary is not None and primary.get("intracluster_correlation") is not None:
            icc = f"{primary['intracluster_correlation']:.3f}".replace("-0.000", "0.000")  # no "-0.000" for a tiny one
            text += (f"; for withdrawal the intra-cluster correlation is {icc} and the "
                     f"design effect {primary['design_effect']:.2f}")
        if breaches:
            text += (f". {breaches} {noun if breaches == 1 else nouns} had reports in both arms, "
                     "which breaks the design (see the audit flags)")
        return text + "."


COMPLETE = Design()
