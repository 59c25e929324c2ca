"""Market-1501 ranking as a plain loop: the definition the fast kernels are tested against.

Per query: sort the gallery by distance, drop the items of the query's identity seen by the
query's own camera and the junk items (identity −1), and read where the correct matches
landed. Tie convention ("pessimistic", the default of `reid.metrics`): a wrong item at exactly
a match's distance is sorted before the match, so a tie always counts against the query.
Slow (one full sort per query) and kept short on purpose: read this to know what the numbers mean.
"""
from __future__ import annotations

import numpy as np

from .inputs import JUNK_PID


def market1501_ranks(distmat, q_pids, g_pids, q_camids, g_camids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank of the first correct match (0-based), average precision, has a correct match) per query."""
    d = np.asarray(distmat, dtype=np.float64)
    q_pids, g_pids, q_camids, g_camids = (np.asarray(a) for a in (q_pids, g_pids, q_camids, g_camids))
    first, ap, valid = np.zeros(len(d), np.int64), np.zeros(len(d)), np.zeros(len(d), bool)
    for i, row in enumerate(d):
        same = g_pids == q_pids[i]
        keep = ~(same & (g_camids == q_camids[i])) & (g_pids != JUNK_PID)
        dist, match = row[keep], same[keep]
        order = np.lexsort((match, dist))  # by distance; at equal distance wrong (False) before match
        hits = np.flatnonzero(match[order])  # 0-based ranks of the correct matches
        if len(hits) == 0:
            continue  # no correct match: the query is left out of CMC and mAP
        valid[i] = True
        first[i] = hits[0]
        ap[i] = np.mean((np.arange(len(hits)) + 1.0) / (hits + 1.0))  # precision at each match
    return first, ap, valid


def market1501_cmc_map(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50) -> tuple[np.ndarray, float]:
    """CMC at ranks 1…max_rank (fraction of valid queries whose first match is within) and mAP."""
    first, ap, valid = market1501_ranks(distmat, q_pids, g_pids, q_camids, g_camids)
    cmc = np.array([(first[valid] < r).mean() for r in range(1, max_rank + 1)])
    return cmc, float(ap[valid].mean())
