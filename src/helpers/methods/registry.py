"""The estimands of an outcome, and every figure of one outcome under the declared design.

:data:`ESTIMANDS` lists the tidy rows each outcome gets, in the order of the estimates table: each
is an estimand's name, the family function that estimates it under any design, its label, and
whether the analysis plan named it. :func:`analyse_outcome` runs them, and the figures that are not
rows (the tests' p-values, the probability of benefit, the open-investigation scenarios, the complier
risks, the Anderson-Rubin set, power, the clustering), once each, under the design:
nothing is computed for one design and then replaced for another.

A family function takes ``(data, outcome, design, *, conf_level, ...)`` and returns an
:class:`~helpers.methods.tidy.Estimate` stamped with the design and the level; the keywords it needs
beyond ``conf_level`` are named in its line (``uses``) and taken from :class:`Settings`. Adding an
estimand is one family function (a new module, or a function in the family it belongs to) and one
line here; the row then reaches the estimates table of stage 4, results.json and, on the
risk-difference scale, the forest plot.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from helpers.methods import (
    adjusted_lin,
    anderson_rubin,
    bayes,
    biased,
    clustering,
    complier,
    differences,
    logistic,
    open_investigations,
    power,
    randomisation,
)
from helpers.methods.arms import TwoByTwo, known
from helpers.methods.complier import ComplierRisks
from helpers.methods.design import UNIT, Design
from helpers.methods.tidy import Estimate, PValues, estimates_table


@dataclass(frozen=True)
class Settings:
    """What the estimators of one run share, besides the data, the outcome and the design.

    ``identification`` is the run's :func:`~helpers.methods.identification.delivery_contrast`,
    decided once: the families that credit SRC with an effect respect it.
    """

    conf_level: float
    draws: int = 10_000
    seed: int = 0
    covariates: tuple[str, ...] = ()
    target_power: float = 0.80
    target_relative_reduction: float = 0.20
    prior: tuple[float, float] = (1.0, 1.0)
    sceptical_prior: tuple[float, float] = (25.0, 25.0)
    relative_threshold: float = 0.10
    identification: dict | None = field(default=None, compare=False)

    @classmethod
    def from_parameters(cls, params: dict, identification: dict | None = None) -> "Settings":
        """The settings of a run's parameters (validated); ``identification`` as decided on its data."""
        plan = params["analysis_plan"]
        bayesian = plan["bayesian"]
        return cls(conf_level=float(params["confidence_level"]), draws=int(params["randomisation_draws"]),
                   seed=int(params["seed"]), covariates=tuple(plan["covariates"]["columns"]),
                   target_power=float(params["target_power"]),
                   target_relative_reduction=plan["target_relative_reduction"], prior=tuple(bayesian["prior"]),
                   sceptical_prior=tuple(bayesian["sceptical_prior"]),
                   relative_threshold=bayesian["relative_threshold"], identification=identification)


@dataclass(frozen=True)
class Estimand:
    """One tidy row of every outcome: its name, the family function that estimates it, its label.

    ``prespecified``: whether the analysis plan names it (False: shown for contrast only).
    ``uses``: the :class:`Settings` the family takes besides ``conf_level``. ``scale``: "difference"
    rows are drawn on the forest plot. ``tabled``: whether the row joins the estimates table (False:
    the outcome's results.json entry alone carries it).
    """

    name: str
    family: Callable[..., Estimate]
    label: str
    prespecified: bool = True
    uses: tuple[str, ...] = ()
    scale: str = "difference"
    tabled: bool = True

    def estimate(self, data: pd.DataFrame, outcome: str, design: Design, settings: Settings) -> Estimate:
        options = {name: getattr(settings, name) for name in self.uses}
        return self.family(data, outcome, design, conf_level=settings.conf_level, **options)


CREDIT = ("identification",)
ESTIMANDS: tuple[Estimand, ...] = (
    Estimand("risk_ratio", differences.risk_ratio, "risk ratio (ITT)", scale="ratio"),
    Estimand("risk_difference", differences.risk_difference, "as randomised (ITT)"),
    Estimand("complier_average_causal_effect", complier.average_causal_effect, "if delivered (complier)",
             uses=CREDIT),
    Estimand("complier_relative_risk_reduction", complier.relative_reduction,
             "relative reduction if delivered (complier)", uses=("draws", "seed", *CREDIT), scale="reduction"),
    Estimand("risk_difference_adjusted_lin", adjusted_lin.risk_difference, "ITT, adjusted (Lin)",
             uses=("covariates",)),
    Estimand("risk_difference_adjusted_logistic", logistic.risk_difference, "ITT, adjusted (logistic)",
             uses=("covariates",)),
    Estimand("risk_difference_per_protocol", biased.per_protocol, "per protocol (biased)", prespecified=False),
    Estimand("risk_difference_as_treated", biased.as_treated, "as treated (biased)", prespecified=False),
    Estimand("odds_ratio", differences.odds_ratio, "odds ratio (ITT)", scale="ratio"),
)
TABLED = tuple(e for e in ESTIMANDS if e.tabled)


@dataclass(frozen=True)
class OutcomeAnalysis:
    """Every figure of one outcome under one design: the rows of :data:`ESTIMANDS` by name, and the
    figures that are not rows."""

    outcome: str
    codes: tuple[str, ...]
    direction: str
    design: Design
    conf_level: float
    counts: TwoByTwo
    rows: dict[str, Estimate]
    exact: PValues
    randomisation: PValues
    bayesian: dict
    bayesian_sceptical: dict
    open_investigations: dict | None
    complier_risks: ComplierRisks
    anderson_rubin: dict
    power: dict
    clustering: tuple[Estimate, Estimate] | None
    clusters: int | None

    @property
    def tabled_rows(self) -> list[Estimate]:
        """The rows of the estimates table, in its order."""
        return [self.rows[e.name] for e in TABLED]


def analyse_outcome(data: pd.DataFrame, outcome: str, design: Design, settings: Settings, *,
                    codes: list[str] | tuple[str, ...] = (), direction: str = "decrease") -> OutcomeAnalysis:
    """Every figure of ``outcome`` under ``design``, each from its family, once.

    ``direction`` is the outcome's pre-stated direction ("decrease" or "increase"): one-sided tests
    and power look that way; ``codes`` its outcome codes, carried to its results.json entry.
    """
    frame = design.with_units(data)  # the units once, for every family
    credit = settings.identification
    bayesian = {name: bayes.probability_of_benefit(frame, outcome, design, prior=prior,
                                                   relative_threshold=settings.relative_threshold,
                                                   identification=credit)
                for name, prior in (("uniform", settings.prior), ("sceptical", settings.sceptical_prior))}
    return OutcomeAnalysis(
        outcome=outcome, codes=tuple(str(c) for c in codes), direction=direction, design=design,
        conf_level=settings.conf_level, counts=TwoByTwo.from_data(frame, outcome),
        rows={e.name: e.estimate(frame, outcome, design, settings) for e in ESTIMANDS},
        exact=differences.exact_test(frame, outcome, design, direction=direction),
        randomisation=randomisation.randomisation_test(frame, outcome, design, direction=direction,
                                                       draws=settings.draws, seed=settings.seed),
        bayesian=bayesian["uniform"], bayesian_sceptical=bayesian["sceptical"],
        open_investigations=open_investigations.open_investigation_bounds(frame, outcome, design),
        complier_risks=complier.complier_risks(frame, outcome, design, identification=credit),
        anderson_rubin=anderson_rubin.anderson_rubin(frame, outcome, design, conf_level=settings.conf_level,
                                                     identification=credit),
        power=power.power(frame, outcome, design, conf_level=settings.conf_level, target_power=settings.target_power,
                          target_relative_reduction=settings.target_relative_reduction, direction=direction),
        clustering=clustering.clustering(frame, outcome, design),
        clusters=int(known(frame, outcome)[UNIT].nunique()) if design.clustered else None,
    )


def estimates(analyses: list[OutcomeAnalysis]) -> pd.DataFrame:
    """The tidy table of every outcome's rows: the estimands of :data:`ESTIMANDS` that join it, in its order."""
    exploratory = [e.name for e in ESTIMANDS if not e.prespecified]
    return estimates_table([row for analysis in analyses for row in analysis.tabled_rows], exploratory=exploratory)


def forest_labels() -> dict[str, str]:
    """The estimands drawn on the forest plot (the risk-difference scale), with their labels."""
    return {e.name: e.label for e in TABLED if e.scale == "difference"}
