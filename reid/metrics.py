"""Re-identification metrics as plain functions on a distance matrix.

Every function takes a query × gallery distance matrix (numpy array or torch tensor; smaller
= more similar) and the identity and camera arrays of the queries and of the gallery.

Protocols of :func:`cmc`:

``market1501``
    Every query against the whole gallery. Gallery images of the query's identity *and*
    camera are ignored (they are too easy), and so are junk images (identity −1). The CMC
    counts the rank of the first correct match; queries with no correct match left are
    skipped. :func:`mean_ap` is the matching mean average precision. Same numbers as
    torchreid's ``eval_market1501`` and Open-ReID's ``market1501`` CMC configuration.

``cuhk03``
    Open-ReID's ``cuhk03`` configuration (``separate_camera_set=True,
    single_gallery_shot=True, first_match_break=False``): all gallery images of the query's
    camera are removed (whatever their identity); then, 10 times, one random image of every
    remaining gallery identity is drawn and the rank of the query's identity among them
    counts 1/10. With the same distance matrix and the same random state this reproduces
    Open-ReID's ``cmc`` exactly (see ``tests/reid/test_metrics.py``). torchreid's
    ``eval_cuhk03`` differs: it removes only same-identity-same-camera images (other
    identities seen by the query's camera stay) and counts the first match.

``single-shot``
    The source study's text: draw N identities (100) that have both a query and a gallery
    image, one query and one gallery image each (a gallery image from another camera when
    there is one), rank the N gallery images by distance for every query; repeat the draw
    (10 times) and average. :func:`single_shot_draws` returns every draw's curve, so the
    spread can be reported.

The model-selection score of the study is :func:`cmc_area`: the area under the CMC curve
over ranks 1…R divided by R (the mean of the CMC values), so 1 is perfect.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

PROTOCOLS = ("market1501", "cuhk03", "single-shot")
JUNK_PID = -1


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check(distmat, q_pids, g_pids, q_camids, g_camids):
    d = _to_numpy(distmat) if not hasattr(distmat, "detach") else distmat
    m, n = d.shape
    q_pids, g_pids = _to_numpy(q_pids).astype(np.int64), _to_numpy(g_pids).astype(np.int64)
    q_camids, g_camids = _to_numpy(q_camids).astype(np.int64), _to_numpy(g_camids).astype(np.int64)
    for name, arr, size in (("q_pids", q_pids, m), ("g_pids", g_pids, n), ("q_camids", q_camids, m),
                            ("g_camids", g_camids, n)):
        if arr.shape != (size,):
            raise ValueError(f"{name}: shape {arr.shape} does not match the distance matrix {tuple(d.shape)}")
    return d, q_pids, g_pids, q_camids, g_camids


def pad_cmc(curve: np.ndarray, max_rank: int) -> np.ndarray:
    """Cut or extend a CMC curve to `max_rank` ranks (beyond the gallery it stays at its last value)."""
    if len(curve) >= max_rank:
        return curve[:max_rank]
    last = curve[-1] if len(curve) else 0.0
    return np.concatenate([curve, np.full(max_rank - len(curve), last)])


# ---------------------------------------------------------------------------------------
# Market-1501


def market1501_ranks(distmat, q_pids, g_pids, q_camids, g_camids, chunk: int | None = None, device=None):
    """Per query: rank (0-based) of the first correct match and average precision.

    Returns ``(first_rank, ap, valid)``: numpy arrays of length num_query; ``valid`` is False
    for queries without any correct match in the gallery (they are left out of the means).

    Batched and vectorised with torch (CPU or GPU) and without sorting whole rows: per query
    only the k correct matches are sorted (``topk``); every other valid gallery item is
    placed among them by ``searchsorted``, so the m-th match's rank is m plus the number of
    wrong items closer than it. AP = mean over matches of (m + 1) / (rank + 1). A wrong
    item at exactly the same distance as a match counts as ranked before it.
    """
    import torch

    d, q_pids, g_pids, q_camids, g_camids = _check(distmat, q_pids, g_pids, q_camids, g_camids)
    dist = d if isinstance(d, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(d))
    if device is not None:
        dist = dist.to(device)
    dev = dist.device
    # Small query chunks keep a chunk's working set in the CPU cache (measured fastest);
    # the GPU wants big ones.
    chunk = chunk or (128 if dev.type == "cpu" else 4096)
    qp, gp = torch.from_numpy(q_pids).to(dev), torch.from_numpy(g_pids).to(dev)
    qc, gc = torch.from_numpy(q_camids).to(dev), torch.from_numpy(g_camids).to(dev)
    m, n = dist.shape
    first = np.zeros(m, np.int64)
    ap = np.zeros(m, np.float64)
    valid = np.zeros(m, bool)
    junk = (gp == JUNK_PID)[None, :]
    inf = float("inf")
    for s in range(0, m, chunk):
        e = min(m, s + chunk)
        dd = dist[s:e]
        if not dd.is_floating_point():
            dd = dd.float()
        same_pid = gp[None, :] == qp[s:e, None]
        ignored = (same_pid & (gc[None, :] == qc[s:e, None])) | junk
        positive = same_pid & ~ignored
        num_rel = positive.sum(1)
        k = int(num_rel.max()) if len(num_rel) else 0
        if k == 0:
            continue
        pos_sorted = torch.topk(dd.masked_fill(~positive, inf), k, dim=1, largest=False, sorted=True).values
        # bucket of each wrong item = number of matches strictly closer than it
        bucket = torch.searchsorted(pos_sorted.contiguous(), dd.contiguous(), side="left")
        wrong = ~(positive | ignored)
        counts = torch.zeros(e - s, k + 1, dtype=torch.int64, device=dev)
        counts.scatter_add_(1, bucket, wrong.to(torch.int64))
        wrong_before = counts.cumsum(1)[:, :k]  # wrong items closer than the m-th match
        mm = torch.arange(k, device=dev)
        ranks = mm[None, :] + wrong_before  # 0-based rank of the m-th match
        is_match = mm[None, :] < num_rel[:, None]
        prec = ((mm[None, :] + 1).double() / (ranks + 1).double()) * is_match
        ap_chunk = prec.sum(1) / num_rel.clamp(min=1).double()
        first[s:e] = ranks[:, 0].cpu().numpy()
        ap[s:e] = ap_chunk.cpu().numpy()
        valid[s:e] = (num_rel > 0).cpu().numpy()
    return first, ap, valid


def market1501_cmc_map(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 100, **kw
                       ) -> tuple[np.ndarray, float, int]:
    """(CMC, mAP, number of valid queries) under the Market-1501 rules, from one sort."""
    first, ap, valid = market1501_ranks(distmat, q_pids, g_pids, q_camids, g_camids, **kw)
    if not valid.any():
        raise ValueError("no query has a correct match in the gallery (market1501 protocol)")
    counts = np.bincount(first[valid], minlength=distmat.shape[1])
    return pad_cmc(np.cumsum(counts) / valid.sum(), max_rank), float(ap[valid].mean()), int(valid.sum())


def _market1501_cmc(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int, **kw) -> np.ndarray:
    return market1501_cmc_map(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, **kw)[0]


def mean_ap(distmat, q_pids, g_pids, q_camids, g_camids, **kw) -> float:
    """Mean average precision under the Market-1501 rules (same-identity-same-camera and junk
    images ignored; queries without any correct match left out)."""
    _, ap, valid = market1501_ranks(distmat, q_pids, g_pids, q_camids, g_camids, **kw)
    if not valid.any():
        raise ValueError("no query has a correct match in the gallery (mean_ap)")
    return float(ap[valid].mean())


# ---------------------------------------------------------------------------------------
# Open-ReID cuhk03


def _as_random_state(rng) -> np.random.RandomState:
    if isinstance(rng, np.random.RandomState):
        return rng
    return np.random.RandomState(rng)


def _openreid_cuhk03_cmc(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int, rng=None,
                         repeat: int = 10) -> np.ndarray:
    """Open-ReID's cmc(separate_camera_set=True, single_gallery_shot=True, first_match_break=False).

    The random draws are made in exactly Open-ReID's order (query by query, repeat by repeat,
    gallery identities in order of first appearance by distance): a RandomState seeded like
    Open-ReID's global numpy state gives identical numbers. A vectorised `randint` with array
    bounds consumes the stream exactly like Open-ReID's sequence of `np.random.choice` calls.
    """
    d, q_pids, g_pids, q_camids, g_camids = _check(distmat, q_pids, g_pids, q_camids, g_camids)
    d = _to_numpy(d)
    rs = _as_random_state(rng)
    m = d.shape[0]
    ret = np.zeros(max_rank)
    num_valid = 0
    for i in range(m):
        order = np.argsort(d[i], kind="stable")
        valid = g_camids[order] != q_camids[i]
        pos = np.flatnonzero(valid)  # positions in the sorted order
        ids = g_pids[order[pos]]
        if not np.any(ids == q_pids[i]):
            continue
        # Gallery identities in order of first appearance, each with its sorted positions.
        uniq, first_idx, inverse, counts = np.unique(ids, return_index=True, return_inverse=True, return_counts=True)
        by_appearance = np.argsort(first_idx, kind="stable")
        groups = np.argsort(inverse, kind="stable")  # positions grouped by identity, ascending
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        counts_app, starts_app = counts[by_appearance], starts[by_appearance]
        target = int(np.flatnonzero(uniq[by_appearance] == q_pids[i])[0])
        for _ in range(repeat):
            draw = rs.randint(0, counts_app)
            chosen = pos[groups[starts_app + draw]]
            rank = int(np.sum(chosen < chosen[target]))
            if rank < max_rank:
                ret[rank] += 1.0 / repeat
        num_valid += 1
    if num_valid == 0:
        raise ValueError("no query has a correct match from another camera (cuhk03 protocol)")
    return ret.cumsum() / num_valid


# ---------------------------------------------------------------------------------------
# Single-shot (the study's text)


def single_shot_draws(distmat, q_pids, g_pids, q_camids, g_camids, num_identities: int = 100, repeats: int = 10,
                      max_rank: int | None = None, rng=0, cross_camera: bool = True) -> np.ndarray:
    """CMC curves of `repeats` random single-shot draws, shape (repeats, max_rank).

    Each draw picks `num_identities` identities (all of them if fewer are eligible) among
    those with at least one query and one gallery image, then one query and one gallery
    image of each; with `cross_camera`, the gallery image comes from another camera than
    the query whenever the identity has one. Each query ranks the drawn gallery images by
    distance; ties count against the query (conservative).
    """
    d, q_pids, g_pids, q_camids, g_camids = _check(distmat, q_pids, g_pids, q_camids, g_camids)
    d = _to_numpy(d)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    q_by: dict[int, np.ndarray] = {int(p): np.flatnonzero(q_pids == p) for p in np.unique(q_pids) if p >= 0}
    g_by: dict[int, np.ndarray] = {int(p): np.flatnonzero(g_pids == p) for p in np.unique(g_pids) if p >= 0}
    eligible = np.array(sorted(set(q_by) & set(g_by)), np.int64)
    if len(eligible) < 2:
        raise ValueError(f"single-shot protocol: {len(eligible)} identities have both query and gallery images "
                         "(need at least 2)")
    n = min(num_identities, len(eligible))
    max_rank = max_rank or num_identities
    curves = np.zeros((repeats, max_rank))
    for r in range(repeats):
        ids = gen.choice(eligible, size=n, replace=False)
        qi = np.empty(n, np.int64)
        gi = np.empty(n, np.int64)
        for j, p in enumerate(ids):
            qi[j] = gen.choice(q_by[int(p)])
            cands = g_by[int(p)]
            if cross_camera:
                other = cands[g_camids[cands] != q_camids[qi[j]]]
                if len(other):
                    cands = other
            gi[j] = gen.choice(cands)
        sub = d[np.ix_(qi, gi)]
        true = np.diag(sub)[:, None]
        ranks = (sub < true).sum(1) + ((sub == true).sum(1) - 1)  # ties ranked before the match
        counts = np.bincount(ranks, minlength=n)
        curves[r] = pad_cmc(np.cumsum(counts) / n, max_rank)
    return curves


# ---------------------------------------------------------------------------------------


def cmc(distmat, q_pids, g_pids, q_camids, g_camids, protocol: str = "market1501", max_rank: int = 100,
        rng=None, **kwargs) -> np.ndarray:
    """CMC curve (values at ranks 1…max_rank, as fractions) under `protocol`.

    `rng` seeds the random draws of ``cuhk03`` (a numpy RandomState or seed: Open-ReID uses
    the global numpy state) and ``single-shot`` (a numpy Generator or seed; default 0).
    Extra keyword arguments go to the protocol's implementation (e.g. ``num_identities``,
    ``repeats`` for ``single-shot``; ``chunk``, ``device`` for ``market1501``).
    """
    if protocol == "market1501":
        return _market1501_cmc(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, **kwargs)
    if protocol == "cuhk03":
        return _openreid_cuhk03_cmc(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, rng=rng, **kwargs)
    if protocol == "single-shot":
        draws = single_shot_draws(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank,
                                  rng=0 if rng is None else rng, **kwargs)
        return draws.mean(0)
    raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")


def cmc_area(curve: np.ndarray, max_rank: int | None = None) -> float:
    """The study's model-selection score: area under the CMC curve over ranks 1…R divided by
    R, i.e. the mean CMC value (1 = every query matched at rank 1). For the single-shot
    protocol with N = R identities, chance scores (R + 1) / (2R) ≈ 0.5."""
    c = np.asarray(curve, float)
    if max_rank is not None:
        c = pad_cmc(c, max_rank)
    return float(c.mean()) if len(c) else 0.0


def chance_cmc(num_gallery_identities: int, max_rank: int = 100) -> np.ndarray:
    """CMC of random ranking with one correct item among `num_gallery_identities`: r / N."""
    r = np.arange(1, max_rank + 1)
    return np.minimum(r / float(num_gallery_identities), 1.0)


def pairwise_distance(query_features, gallery_features, chunk: int = 1024, device=None, squared: bool = False):
    """Euclidean distances between feature rows (torch tensors or arrays), batched.

    Uses ‖q‖² + ‖g‖² − 2 q·g in float32 on `device` (the features' device by default),
    clamped at 0. Returns a torch tensor (query × gallery) on that device.
    """
    import torch

    q = torch.as_tensor(query_features, dtype=torch.float32)
    g = torch.as_tensor(gallery_features, dtype=torch.float32)
    if device is not None:
        q, g = q.to(device), g.to(device)
    g_sq = (g * g).sum(1)
    out = torch.empty(q.shape[0], g.shape[0], device=q.device)
    for s in range(0, q.shape[0], chunk):
        qs = q[s:s + chunk]
        block = out[s:s + chunk]
        torch.addmm((qs * qs).sum(1, keepdim=True) + g_sq[None, :], qs, g.T, beta=1.0, alpha=-2.0, out=block)
        block.clamp_(min=0)
        if not squared:
            block.sqrt_()
    return out
