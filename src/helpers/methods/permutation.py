"""Re-randomisation as the trial did it: complete randomisation with fixed arm sizes."""
from __future__ import annotations

import numpy as np

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
