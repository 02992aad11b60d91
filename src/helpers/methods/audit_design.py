"""The allocation audit of a simple, blocked or cluster design: each design checked against what it implies.

A simple (Bernoulli) design's SRC share is tested against its declared probability. A blocked
design's share is shown block by block (shares may differ by design, so only a block with one arm
breaks it), with balance compared within blocks. A cluster design's units must each lie wholly in
one arm, with balance judged over clusters. Tests that assume complete randomisation of reports
(the ratio and runs tests, the chi-squared and likelihood-ratio tests) are replaced by randomisation
tests that re-randomise as the design did, or say that they do not apply. The checks that still
apply come from :mod:`helpers.methods.audit`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.methods.audit import (
    RANDOMISATION_OMNIBUS_MAX_REPORTS,
    allocation_before_report,
    allocation_by_period,
    audit_flags,
    balance_table,
    covariate_values,
    log_oddities,
    max_standardised_difference,
    omnibus_balance_test,
    randomisation_balance_test,
    ratio_test,
    runs_test,
    threshold_rule_breaches,
)
from helpers.methods.covariates import covariate_design
from helpers.methods.design import Design
from helpers.methods.permutation import CHUNK_CELLS, design_allocations

MAX_LABELS_NAMED = 10  # ward labels named in one warning; results.json lists them all


def wards_in_several_boroughs(data: pd.DataFrame) -> dict[str, int]:
    """Ward labels that appear in more than one borough, with how many boroughs each appears in."""
    if "ward" not in data or "borough" not in data:
        return {}
    spread = data.groupby(data["ward"].astype(str))["borough"].nunique()
    return {str(label): int(n) for label, n in spread[spread > 1].items()}


def repeated_label_warning(labels: dict[str, int], design: Design, named: set | None = None) -> str | None:
    """A warning when the design takes ward labels as units while some label appears in several boroughs.

    A label not in ``named`` (held by too few reports to be named, see :mod:`helpers.methods.disclosure`)
    is counted, not named: a ward's name may be a person's.
    """
    if not labels:
        return None
    kind = "clusters" if design.clustered else "blocks"
    shown = {label: n for label, n in labels.items() if named is None or label in named}
    parts = [f"'{label}' ({n} boroughs)" for label, n in list(shown.items())[:MAX_LABELS_NAMED]]
    if len(shown) > MAX_LABELS_NAMED:
        parts.append(f"{len(shown) - MAX_LABELS_NAMED} more")
    if len(labels) > len(shown):
        hidden = len(labels) - len(shown)
        parts.append(f"{hidden} held by too few reports to be named")
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return (f"{len(labels)} ward label(s) appear in more than one borough: {listed}. The declared design "
            f"({kind}: ward) takes each label as one ward wherever it appears; if these are different wards that "
            f"share a name, declare {kind}: [borough, ward] instead.")


def _does_not_apply(design: Design, what: str) -> str:
    return f"not applicable: {what} assumes complete randomisation of reports, not a {design.assignment} design"


def block_weights(z: pd.Series, units: pd.Series) -> pd.Series:
    """Per report, its block's size over its arm's size in the block: weighted arm means are block-weighted.

    With these weights an arm's mean is sum_j (N_j / N) x-bar_arm,j, the block-size weighting of the
    blocked estimator. A block with one arm only cannot be compared: its reports get weight 0.
    """
    frame = pd.DataFrame({"z": z.to_numpy(), "unit": units.to_numpy()}, index=z.index)
    size = frame.groupby("unit")["z"].transform("size")
    in_arm = frame.groupby(["unit", "z"])["z"].transform("size")
    both_arms = frame.groupby("unit")["z"].transform("nunique") == 2
    return (size / in_arm).where(both_arms, 0.0).astype(float)


def block_shares(data: pd.DataFrame, units: pd.Series, *, treatment: str = "assigned") -> pd.DataFrame:
    """Each block's reports, SRC and BAU reports, and SRC share."""
    frame = pd.DataFrame({"block": units.to_numpy(), "z": data[treatment].to_numpy(dtype=int)})
    table = frame.groupby("block")["z"].agg(reports="size", src="sum").reset_index()
    table["bau"] = table["reports"] - table["src"]
    table["share"] = table["src"] / table["reports"]
    return table[["block", "reports", "src", "bau", "share"]]


def cluster_arms(data: pd.DataFrame, units: pd.Series, *, treatment: str = "assigned") -> pd.DataFrame:
    """Each cluster's reports, how many are SRC, and its arm (the arm of most of its reports)."""
    frame = pd.DataFrame({"cluster": units.to_numpy(), "z": data[treatment].to_numpy(dtype=int)})
    table = frame.groupby("cluster")["z"].agg(reports="size", src="sum").reset_index()
    table["arm"] = np.where(2 * table["src"] > table["reports"], "SRC",
                            np.where(2 * table["src"] < table["reports"], "BAU", "split evenly"))
    return table


def cluster_breaches(table: pd.DataFrame, design: Design, repeated: dict[str, int] | None = None,
                     named: set | None = None) -> tuple[list[dict], list[str]]:
    """Clusters with reports in both arms, and one flag each, by cluster and count (no report's details).

    ``repeated`` maps ward labels found in several boroughs to their number of boroughs: a breached
    cluster among them is said to be one, since two wards that share a name may be what broke it.
    A cluster not in ``named`` (too few reports to name, see :mod:`helpers.methods.disclosure`) is
    listed without its name or counts, and its flags are combined into one.
    """
    noun = design.noun()
    repeated = repeated or {}
    split = table[(table["src"] > 0) & (table["src"] < table["reports"])]
    breaches, flags, unnamed = [], [], 0
    for row in split.itertuples(index=False):
        if named is not None and row.cluster not in named:
            unnamed += 1
            breaches.append({"cluster": None, "arm": None, "reports": None, "in_other_arm": None})
            continue
        if row.arm == "split evenly":
            other, text = row.src, f"{row.src} of its {row.reports} reports are SRC and {row.src} business as usual"
        else:
            other = row.reports - row.src if row.arm == "SRC" else row.src
            other_arm = "business-as-usual" if row.arm == "SRC" else "SRC"
            text = f"{other} of its {row.reports} reports {'is' if other == 1 else 'are'} in the {other_arm} arm"
        breaches.append({"cluster": row.cluster, "arm": row.arm, "reports": int(row.reports),
                         "in_other_arm": int(other)})
        arm = "" if row.arm == "split evenly" else f", an {row.arm} {noun}" if row.arm == "SRC" else \
            f", a {row.arm} {noun}"
        shared = (f" The label {row.cluster} appears in {repeated[str(row.cluster)]} boroughs: if these are "
                  "different wards, declare clusters: [borough, ward]." if str(row.cluster) in repeated else "")
        flags.append(f"Cluster design breached: {noun} {row.cluster}{arm}: {text}. A cluster design allocates "
                     f"every report of a {noun} to the {noun}'s arm, so the cluster estimates are not estimable "
                     f"until the allocation is corrected or explained.{shared}")
    if len(flags) > MAX_NAMED:
        flags = flags[:MAX_NAMED] + [f"Cluster design breached in {len(flags) - MAX_NAMED} more {noun}s with reports "
                                     "in both arms (the design section of results.json lists every one)."]
    if unnamed:
        flags.append(f"Cluster design breached in {unnamed} {noun if unnamed == 1 else noun + 's'} with too few reports "
                     f"to be named or counted here (disclosure control): reports of one {noun} are in both arms, so the "
                     "cluster estimates are not estimable until the allocation is corrected or explained; a table of "
                     f"the allocation by {noun} in the input files finds {'it' if unnamed == 1 else 'them'}.")
    return breaches, flags


MAX_NAMED = 5  # units named in one flag; the design section of results.json lists them all


def _one_arm_flag(one_arm: pd.DataFrame, design: Design, named: set | None = None) -> str:
    """One flag for the blocks with one arm only, named (no counts: a block may be a ward); a block too small
    to be named (see :mod:`helpers.methods.disclosure`) is counted, not named."""
    noun = design.noun()
    shown = one_arm if named is None else one_arm[one_arm["block"].isin(named)]
    hidden = len(one_arm) - len(shown)
    named_text = [f"{row.block} (SRC only)" if row.bau == 0 else f"{row.block} (business as usual only)"
                  for row in shown.head(MAX_NAMED).itertuples(index=False)]
    if hidden:
        named_text.append(f"{hidden} {noun}{'s' if hidden > 1 else ''} too small to name")
    more = f", and {len(shown) - MAX_NAMED} more" if len(shown) > MAX_NAMED else ""
    if len(one_arm) == 1 and not hidden:
        row = next(shown.itertuples(index=False))
        what = f"{noun} {row.block} has reports in the {'SRC' if row.bau == 0 else 'business-as-usual'} arm only"
    elif len(one_arm) == 1:
        what = f"a {noun} too small to name has reports in one arm only"
    else:
        what = f"{len(one_arm)} {noun}s have reports in one arm only ({'; '.join(named_text)}{more})"
    return (f"Blocked design breached: {what}. A blocked design randomises within every block, so such a block "
            "cannot be compared and the blocked estimates are not estimable.")


def cluster_summary(table: pd.DataFrame) -> dict:
    """Clusters and reports in each arm, cluster sizes, and the standardised difference of the size."""
    summary = {}
    for arm, name in ((1, "treatment"), (0, "control")):
        sizes = table.loc[table["arm"] == ("SRC" if arm else "BAU"), "reports"].astype(float)
        summary[name] = {"clusters": int(len(sizes)), "reports": int(sizes.sum()),
                         "mean_size": float(sizes.mean()) if len(sizes) else None,
                         "median_size": float(sizes.median()) if len(sizes) else None}
    sizes = {arm: table.loc[table["arm"] == label, "reports"].astype(float) for arm, label in ((1, "SRC"), (0, "BAU"))}
    pooled = np.sqrt((sizes[1].var(ddof=1) + sizes[0].var(ddof=1)) / 2) if min(map(len, sizes.values())) > 1 else 0
    summary["size_standardised_difference"] = (float((sizes[1].mean() - sizes[0].mean()) / pooled)
                                               if pooled and np.isfinite(pooled) and pooled > 0 else None)
    return summary


def cluster_balance(data: pd.DataFrame, units: pd.Series, arms: pd.Series, first_strand: bool = False) -> pd.DataFrame:
    """Baseline covariates compared between SRC and BAU clusters: each cluster's share (or mean) is one value.

    The unit of randomisation is the cluster, so balance is judged over clusters: the mean of the
    clusters' shares in each arm, and their standardised difference (SD over clusters).
    ``arms`` maps a cluster to "SRC" or "BAU" (a cluster split evenly is left out).
    """
    rows = []
    for label, level, values, _ in covariate_values(data, first_strand):
        means = values.groupby(units.to_numpy()).mean()
        arm = means.index.map(arms)
        treated, control = means[arm == "SRC"], means[arm == "BAU"]
        pooled = np.sqrt((treated.var(ddof=1) + control.var(ddof=1)) / 2) if min(len(treated), len(control)) > 1 \
            else float("nan")
        difference = (treated.mean() - control.mean()) / pooled if pooled > 0 else 0.0
        rows.append({"covariate": label, "level": level, "clusters": int((means > 0).sum()),
                     "control": float(control.mean()), "treatment": float(treated.mean()),
                     "standardised_difference": float(difference) if np.isfinite(difference) else None})
    return pd.DataFrame(rows)


def _orthonormal_basis(matrix: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the column space (rank-deficient columns left out)."""
    if matrix.size == 0:
        return matrix
    u, singular, _ = np.linalg.svd(matrix, full_matrices=False)
    keep = singular > 1e-10 * max(1.0, singular.max())
    return u[:, keep]


def design_balance_test(data: pd.DataFrame, design: Design, units: pd.Series, *, treatment: str = "assigned",
                        draws: int = 10_000, seed: int = 0) -> dict:
    """Randomisation-inference omnibus balance test under a blocked or cluster design.

    Statistic: the R-squared of a linear regression of the allocation on every baseline covariate,
    within blocks for a blocked design (covariates and allocation taken about their block means, so
    that blocks with different SRC shares count for nothing). Its null distribution comes from
    re-randomising as the design did (:func:`design_allocations`), which no report-level
    chi-squared or likelihood-ratio approximation respects.
    """
    method = {"blocked": "randomisation inference on the R-squared of allocation on covariates within blocks, "
                         "re-randomised within blocks",
              "cluster": "randomisation inference on the R-squared of allocation on covariates, whole clusters "
                         "re-randomised"}[design.assignment]
    covariates = covariate_design(data)
    n = len(data)
    if covariates.empty:
        return {"p_value": None, "draws": 0, "method": "not estimable: no covariates"}
    if n > RANDOMISATION_OMNIBUS_MAX_REPORTS and design.blocked:
        return {"p_value": None, "draws": 0,
                "method": f"not run above {RANDOMISATION_OMNIBUS_MAX_REPORTS:,} reports: re-randomising within "
                          "blocks costs draws x reports operations"}
    x = covariates.to_numpy(dtype=float)
    z = data[treatment].to_numpy(dtype=float)
    if design.blocked:
        codes = pd.factorize(units.to_numpy())[0]
        centre = lambda values: values - pd.DataFrame(values).groupby(codes).transform("mean").to_numpy()
        basis = _orthonormal_basis(centre(x))
        total = float(np.sum(centre(z[:, None]) ** 2))  # fixed: every draw keeps each block's SRC count
        statistic = lambda allocations: np.sum((allocations @ basis) ** 2, axis=-1) / total
    else:
        basis = _orthonormal_basis(x - x.mean(axis=0))

        def statistic(allocations):
            centred = allocations - allocations.mean(axis=-1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.nan_to_num(np.sum((centred @ basis) ** 2, axis=-1) / np.sum(centred ** 2, axis=-1))
    if basis.shape[1] == 0 or (design.blocked and total <= 0):
        return {"p_value": None, "draws": 0, "method": "not estimable: no covariate varies within the design's units"}
    observed = float(statistic(z))
    permuted = np.concatenate([statistic(chunk) for chunk in design_allocations(z, design, units, draws,
                                                                                 seed=seed)])
    p_value = (1 + np.sum(permuted >= observed - 1e-12)) / (draws + 1)
    return {"p_value": float(p_value), "draws": int(draws), "r_squared": observed, "method": method}


def design_period_test(data: pd.DataFrame, period: str, design: Design, units: pd.Series, *,
                       treatment: str = "assigned", draws: int = 10_000, seed: int = 0) -> dict:
    """Arms by weekday or month under a blocked or cluster design: the chi-squared statistic, its p by re-randomising.

    The statistic is the usual one; its chi-squared distribution assumes reports allocated
    independently, which a cluster design breaks and a blocked design with unequal shares turns
    into a false alarm whenever the blocks' mix changes over time. Here it is compared with its
    distribution under the design: a block's SRC reports spread over the periods as a
    multivariate hypergeometric draw; clusters re-randomised whole. No draw costs more than
    blocks (or clusters) x periods operations.
    """
    check = allocation_by_period(data, period, treatment=treatment)
    if check["p_value"] is None:
        return {**check, "method": "not estimable: fewer than two periods, or an arm is empty"}
    dates = data["allocated_on"]
    labels = (dates.dt.day_name() if period == "weekday" else dates.dt.strftime("%Y-%m")).to_numpy()
    label_codes, _ = pd.factorize(labels)
    unit_codes, _ = pd.factorize(units.to_numpy())
    z = data[treatment].to_numpy(dtype=int)
    counts = pd.crosstab(unit_codes, label_codes).to_numpy()  # unit x period
    rng = np.random.default_rng(seed)
    if design.blocked:
        treated = pd.Series(z).groupby(unit_codes).sum().to_numpy()
        src = sum(rng.multivariate_hypergeometric(counts[j], int(treated[j]), size=draws) for j in range(len(counts)))
        method = "chi-squared statistic, p by re-randomising within blocks"
    else:
        share = pd.Series(z, dtype=float).groupby(unit_codes).mean().to_numpy()
        treated, chunk = int((share > 0.5).sum()), max(1, CHUNK_CELLS // max(len(share), 1))
        src = np.concatenate([(np.argsort(rng.random((min(chunk, draws - start), len(share))), axis=1) < treated)
                              .astype(float) @ counts for start in range(0, draws, chunk)])
        method = "chi-squared statistic, p by re-randomising whole clusters"
    sizes = counts.sum(axis=0).astype(float)
    observed_src = pd.Series(z).groupby(label_codes).sum().reindex(range(len(sizes)), fill_value=0).to_numpy()

    def chi_squared(src_counts):
        src_counts = np.atleast_2d(np.asarray(src_counts, dtype=float))
        total = src_counts.sum(axis=1, keepdims=True)
        expected_src, expected_bau = sizes * total / sizes.sum(), sizes * (sizes.sum() - total) / sizes.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            value = ((src_counts - expected_src) ** 2 / expected_src
                     + (sizes - src_counts - expected_bau) ** 2 / expected_bau).sum(axis=1)
        return np.nan_to_num(value)

    observed = float(chi_squared(observed_src)[0])
    p_value = (1 + np.sum(chi_squared(src) >= observed - 1e-9)) / (draws + 1)
    return {**check, "p_value": float(p_value), "statistic": observed, "draws": int(draws), "method": method}


def allocation_audit(data: pd.DataFrame, design: Design, units: pd.Series | None, *, threshold: float = 0.5,
                     below: str = "SRC", draws: int = 10_000, seed: int = 0, named: set | None = None,
                     published: pd.DataFrame | None = None) -> dict:
    """The allocation checks of a simple, blocked or cluster design (see the module's docstring), with the
    flags the report shows.

    ``units`` is each report's block or cluster (:meth:`Design.units`); ``threshold`` and ``below``
    the documented rule of the random number (as :func:`helpers.methods.audit.allocation_audit`).
    ``named`` holds the units whose names may be published (None: every unit) and ``published`` the
    analysis table at the published levels, which the balance tables show (None: as recorded).
    """
    assignment = design.assignment
    early = allocation_before_report(data)
    breaches = threshold_rule_breaches(data, threshold=threshold, below=below)
    shown, first = (data, False) if published is None else (published, True)  # what the balance tables show
    names = design.columns
    checks: dict = {"assignment": assignment, "columns": list(names),
                    "warnings": []}
    extra_flags: list[str] = []
    repeated = wards_in_several_boroughs(data) if "ward" in names and "borough" not in names else {}
    if repeated:
        # only labels held by enough reports to be named; the warning counts the others
        checks["wards_in_several_boroughs"] = {k: v for k, v in repeated.items() if named is None or k in named}
        checks["warnings"].append(repeated_label_warning(repeated, design, named))
    if assignment == "simple":
        ratio = ratio_test(data, share=design.probability)
        runs, omnibus = runs_test(data), omnibus_balance_test(data)
        omnibus_randomisation = randomisation_balance_test(data, draws=draws, seed=seed)
        periods = {"weekday": allocation_by_period(data, "weekday"), "month": allocation_by_period(data, "month")}
        balance = balance_table(shown, first_strand=first)
        flagged_balance = omnibus
    else:
        if units is None:
            raise ValueError(f"a {assignment} design needs each report's {design.noun()}")
        counts = ratio_test(data)
        ratio = {"treatment": counts["treatment"], "control": counts["control"], "p_value": None,
                 "reason": _does_not_apply(design, "a test of a 1:1 ratio")}
        runs = {**runs_test(data), "p_value": None, "reason": _does_not_apply(design, "the runs test")}
        omnibus = {"p_value": None, "statistic": None, "df": int(covariate_design(data).shape[1]),
                   "method": _does_not_apply(design, "the likelihood-ratio test of a logistic regression of the "
                                                     "arm on covariates") + "; see the randomisation version"}
        omnibus_randomisation = design_balance_test(data, design, units, draws=draws, seed=seed)
        periods = {period: design_period_test(data, period, design, units, draws=draws, seed=seed)
                   for period in ("weekday", "month")}
        flagged_balance = omnibus_randomisation
        if design.blocked:
            shares = block_shares(data, units)
            weights = block_weights(data["assigned"], units)
            balance = balance_table(shown, weights=weights, first_strand=first)
            one_arm = shares[(shares["src"] == 0) | (shares["bau"] == 0)]
            if len(one_arm):
                extra_flags.append(_one_arm_flag(one_arm, design, named))
            checks.update(blocks=shares, blocks_with_one_arm=[str(b) for b in one_arm["block"]
                                                              if named is None or b in named],
                          share_range=[float(shares["share"].min()), float(shares["share"].max())],
                          balance_method="arm means weighted block by block (each block's arms weighted to the "
                                         "block's size), so that blocks with different SRC shares do not show as "
                                         "imbalance; blocks with one arm only are left out")
        else:
            table = cluster_arms(data, units)
            found, extra_flags = cluster_breaches(table, design, repeated, named)
            balance = balance_table(shown, first_strand=first)
            by_cluster = cluster_balance(shown, units, table.set_index("cluster")["arm"], first_strand=first)
            shown = by_cluster["standardised_difference"].dropna().abs()
            checks.update(clusters=cluster_summary(table), breaches=found, cluster_balance=by_cluster,
                          max_abs_cluster_standardised_difference=float(shown.max()) if len(shown) else None,
                          balance_method="report-level shares (descriptive); balance is judged over clusters in "
                                         "cluster_balance and by the randomisation test, which re-randomises clusters")
    checks["flags"] = extra_flags
    oddities = log_oddities(data)
    return {
        "ratio": ratio, "runs": runs, "omnibus": omnibus, "omnibus_randomisation": omnibus_randomisation,
        "allocated_before_report": int(len(early)), "threshold_rule_breaches": breaches, **oddities["counts"],
        "by_weekday": periods["weekday"], "by_month": periods["month"],
        "max_abs_standardised_difference": max_standardised_difference(balance),
        "flags": audit_flags(ratio, runs, flagged_balance, len(early), breaches, periods) + extra_flags
        + oddities["flags"],
        "balance": balance, "design": checks,
    }

