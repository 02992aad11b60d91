"""Re-randomisation as the trial did it: allocation vectors drawn as the declared design drew them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.methods.design import Design

CHUNK_CELLS = 5_000_000  # draws x reports held in memory at once (40 MB of float64)


def complete_randomisations(treated: int, n: int, draws: int, *, seed: int = 0):
    """Allocation vectors of ``n`` reports with exactly ``treated`` ones each, in chunks of rows.

    Yields arrays of shape (chunk, n) until ``draws`` rows in all. Each row is a uniformly
    random arrangement, drawn for a whole chunk at once: the permutation that sorts
    independent uniforms is a uniform random permutation.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_CELLS // max(n, 1))
    for start in range(0, draws, chunk):
        rows = min(chunk, draws - start)
        order = np.argsort(rng.random((rows, n)), axis=1)
        yield (order < treated).astype(np.float64)


def design_allocations(z: np.ndarray, design: Design, units: pd.Series | None, draws: int, *, seed: int = 0):
    """Allocation vectors drawn as the design drew them, in chunks of rows (as :func:`complete_randomisations`).

    blocked: every block re-randomised completely with its own number of SRC reports; cluster:
    the clusters re-randomised completely with the observed number of SRC clusters (a cluster's arm
    is that of most of its reports), every report following its cluster; otherwise complete
    randomisation of reports with the observed arm sizes (simple randomisation conditioned on them).
    ``units`` is each report's block or cluster (:meth:`Design.units`).
    """
    n = len(z)
    if design.blocked:
        rng = np.random.default_rng(seed)
        codes = pd.factorize(units.to_numpy())[0].astype(float)
        z_by_block = z[np.argsort(codes, kind="stable")].astype(float)
        chunk = max(1, CHUNK_CELLS // max(n, 1))
        for start in range(0, draws, chunk):
            rows = min(chunk, draws - start)
            # sorting block number + a uniform groups the reports by block, in a random order within each
            order = np.argsort(codes + rng.random((rows, n)), axis=1)
            out = np.empty((rows, n))
            np.put_along_axis(out, order, np.broadcast_to(z_by_block, (rows, n)), axis=1)
            yield out
    elif design.clustered:
        rng = np.random.default_rng(seed)
        codes, uniques = pd.factorize(units.to_numpy())
        share = pd.Series(z, dtype=float).groupby(codes).mean().to_numpy()
        treated, clusters = int((share > 0.5).sum()), len(uniques)
        chunk = max(1, CHUNK_CELLS // max(n, 1))
        for start in range(0, draws, chunk):
            rows = min(chunk, draws - start)
            chosen = np.argsort(rng.random((rows, clusters)), axis=1) < treated
            yield chosen[:, codes].astype(np.float64)
    else:
        yield from complete_randomisations(int(z.sum()), n, draws, seed=seed)
