"""Independent, straightforward re-id metric implementations used as test oracles.

`openreid_cmc` follows the rules of Open-ReID's CMC (`reid.evaluation_metrics.ranking.cmc`),
written out here plainly, drawing from numpy's global random state in the same order.
`loop_market1501` is a per-query loop in the style of torchreid's `eval_market1501`.
"""
from __future__ import annotations

import numpy as np

SINGLE_SHOT_DRAWS = 10  # Open-ReID's single-gallery-shot repeats


def _add_matches(hist: np.ndarray, is_match: np.ndarray, draws: int, first_match_break: bool) -> None:
    """Score one ranked list into `hist`: the true match at position p with m true matches before
    it lands at rank p − m (the wrong items before it), with a share 1 / (matches × draws); with
    `first_match_break` only the first match counts, with a whole 1 (as Open-ReID does, draws or not)."""
    hits = np.flatnonzero(is_match)
    for m, p in enumerate(hits):
        rank = p - m
        if rank >= len(hist):
            break
        if first_match_break:
            hist[rank] += 1
            break
        hist[rank] += 1.0 / (len(hits) * draws)


def openreid_cmc(distmat, query_ids, gallery_ids, query_cams, gallery_cams, topk=100,
                 separate_camera_set=False, single_gallery_shot=False, first_match_break=False):
    """Open-ReID's CMC over the first `topk` ranks.

    Each query's gallery is ranked by distance (numpy's default argsort). Items of the query's
    identity from the query's camera are left out; with `separate_camera_set`, every item from
    the query's camera is. A query with no true match left is not counted. With
    `single_gallery_shot` the list is scored SINGLE_SHOT_DRAWS times, each time keeping one
    randomly chosen item per gallery identity: identities in the order of their best-ranked
    item, one `np.random.choice` over each identity's items.
    """
    q_ids, g_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    q_cams, g_cams = np.asarray(query_cams), np.asarray(gallery_cams)
    order = np.argsort(distmat, axis=1)
    hist = np.zeros(topk)
    counted = 0
    for q in range(len(q_ids)):
        ranked_ids, ranked_cams = g_ids[order[q]], g_cams[order[q]]
        other_camera = ranked_cams != q_cams[q]
        keep = other_camera if separate_camera_set else (ranked_ids != q_ids[q]) | other_camera
        ids = ranked_ids[keep]
        if not np.any(ids == q_ids[q]):
            continue
        counted += 1
        if not single_gallery_shot:
            _add_matches(hist, ids == q_ids[q], 1, first_match_break)
            continue
        positions: dict = {}  # identity → its positions in `ids`, identities in order of appearance
        for pos, pid in enumerate(ids):
            positions.setdefault(pid, []).append(pos)
        for _ in range(SINGLE_SHOT_DRAWS):
            picked = sorted(np.random.choice(p) for p in positions.values())
            _add_matches(hist, ids[picked] == q_ids[q], SINGLE_SHOT_DRAWS, first_match_break)
    if counted == 0:
        raise RuntimeError("No valid query")
    return hist.cumsum() / counted


def loop_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """Per-query loop: CMC (first match) and mAP, ignoring same-pid-same-camera and junk (−1)."""
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    all_cmc, all_ap = [], []
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i], kind="stable")
        keep = ~(((g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])) | (g_pids[order] == -1))
        raw = (g_pids[order][keep] == q_pids[i]).astype(np.int32)
        if not raw.any():
            continue
        c = raw.cumsum()
        c[c > 1] = 1
        all_cmc.append(c[:max_rank])
        num_rel = raw.sum()
        tmp = raw.cumsum() / (np.arange(len(raw)) + 1.0) * raw
        all_ap.append(tmp.sum() / num_rel)
    n = min(len(x) for x in all_cmc)
    cmc = np.asarray([x[:n] for x in all_cmc], float).mean(0)
    return cmc, float(np.mean(all_ap))


def torchreid_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """torchreid's `eval_market1501` rules, written out independently: every row sorted with
    numpy's default argsort; same-identity-same-camera items removed; CMC by the first match
    (cut to the gallery size); AP as the mean precision at each match; queries without a
    match left out. (torchreid's dataset readers drop junk −1 items: the cases have none.)"""
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    indices = np.argsort(distmat, axis=1)
    matches = (np.asarray(g_pids)[indices] == np.asarray(q_pids)[:, None]).astype(np.int32)
    all_cmc, all_ap = [], []
    for q in range(num_q):
        order = indices[q]
        remove = (np.asarray(g_pids)[order] == q_pids[q]) & (np.asarray(g_camids)[order] == q_camids[q])
        raw = matches[q][~remove]
        if not raw.any():
            continue
        hit_so_far = np.minimum(raw.cumsum(), 1)
        all_cmc.append(hit_so_far[:max_rank])
        precision_at_k = raw.cumsum() / (np.arange(len(raw)) + 1.0)
        all_ap.append(float((precision_at_k * raw).sum() / raw.sum()))
    return np.asarray(all_cmc, np.float64).mean(0), float(np.mean(all_ap))
