"""Independent, straightforward re-id metric implementations used as test oracles.

`openreid_cmc` is Open-ReID's `reid.evaluation_metrics.ranking.cmc` (MIT licence, Tong Xiao),
copied with only numpy-API updates (np.bool → bool); it draws from numpy's global random
state. `loop_market1501` is a per-query loop in the style of torchreid's `eval_market1501`.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np


def _unique_sample(ids_dict, num):
    mask = np.zeros(num, dtype=bool)
    for _, indices in ids_dict.items():
        i = np.random.choice(indices)
        mask[i] = True
    return mask


def openreid_cmc(distmat, query_ids, gallery_ids, query_cams, gallery_cams, topk=100,
                 separate_camera_set=False, single_gallery_shot=False, first_match_break=False):
    m, n = distmat.shape
    query_ids = np.asarray(query_ids)
    gallery_ids = np.asarray(gallery_ids)
    query_cams = np.asarray(query_cams)
    gallery_cams = np.asarray(gallery_cams)
    indices = np.argsort(distmat, axis=1)
    matches = (gallery_ids[indices] == query_ids[:, np.newaxis])
    ret = np.zeros(topk)
    num_valid_queries = 0
    for i in range(m):
        valid = ((gallery_ids[indices[i]] != query_ids[i]) |
                 (gallery_cams[indices[i]] != query_cams[i]))
        if separate_camera_set:
            valid &= (gallery_cams[indices[i]] != query_cams[i])
        if not np.any(matches[i, valid]):
            continue
        if single_gallery_shot:
            repeat = 10
            gids = gallery_ids[indices[i][valid]]
            inds = np.where(valid)[0]
            ids_dict = defaultdict(list)
            for j, x in zip(inds, gids):
                ids_dict[x].append(j)
        else:
            repeat = 1
        for _ in range(repeat):
            if single_gallery_shot:
                sampled = (valid & _unique_sample(ids_dict, len(valid)))
                index = np.nonzero(matches[i, sampled])[0]
            else:
                index = np.nonzero(matches[i, valid])[0]
            delta = 1. / (len(index) * repeat)
            for j, k in enumerate(index):
                if k - j >= topk:
                    break
                if first_match_break:
                    ret[k - j] += 1
                    break
                ret[k - j] += delta
        num_valid_queries += 1
    if num_valid_queries == 0:
        raise RuntimeError("No valid query")
    return ret.cumsum() / num_valid_queries


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
