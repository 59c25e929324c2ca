"""The protocols on top of the kernels: Market-1501 (ranks, CMC, mAP), Open-ReID's cuhk03,
the study's single-shot draws, and the CMC helpers (see the package's docstring for the rules)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .inputs import JUNK_PID, _check, _check_ids, _float_numpy, _to_numpy
from .kernels import _market1501_ranks_blocks, _market1501_ranks_torch, _squared_distance_block, pairwise_distance

PROTOCOLS = ("market1501", "cuhk03", "single-shot")
TIES = ("pessimistic", "torchreid")


def pad_cmc(curve: np.ndarray, max_rank: int) -> np.ndarray:
    """Cut or extend a CMC curve to `max_rank` ranks (beyond the gallery it stays at its last value)."""
    if len(curve) >= max_rank:
        return curve[:max_rank]
    last = curve[-1] if len(curve) else 0.0
    return np.concatenate([curve, np.full(max_rank - len(curve), last)])


def _on_gpu(d, device) -> bool:
    if device is not None:
        return str(device).split(":")[0] != "cpu"
    return hasattr(d, "device") and d.device.type != "cpu"


def _market1501_ranks_sorted(d: np.ndarray, q_pids, g_pids, q_camids, g_camids, chunk: int | None = None
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ties="torchreid"``: rank by sorting each whole row with numpy's default argsort, as
    torchreid's ``eval_market1501`` does, so tied items come in the same order as there."""
    m = d.shape[0]
    first, ap, valid = np.zeros(m, np.int64), np.zeros(m, np.float64), np.zeros(m, bool)
    chunk = chunk or 256
    for s in range(0, m, chunk):
        order = np.argsort(d[s:s + chunk], axis=1)  # default kind on purpose: torchreid's tie order
        for r, row in enumerate(order):
            i = s + r
            same = g_pids[row] == q_pids[i]
            keep = ~((same & (g_camids[row] == q_camids[i])) | (g_pids[row] == JUNK_PID))
            hits = np.flatnonzero(same[keep])  # 0-based ranks of the matches among kept items
            if len(hits) == 0:
                continue
            valid[i] = True
            first[i] = hits[0]
            ap[i] = float(np.mean((np.arange(len(hits)) + 1.0) / (hits + 1.0)))
    return first, ap, valid


def market1501_ranks(distmat, q_pids, g_pids, q_camids, g_camids, chunk: int | None = None, device=None,
                     backend: str | None = None, workers: int | None = None, ties: str = "pessimistic"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query: rank (0-based) of the first correct match and average precision.

    Returns ``(first_rank, ap, valid)``: numpy arrays of length num_query; ``valid`` is False
    for queries without any correct match in the gallery (they are left out of the means).
    AP = mean over the query's matches of (m + 1) / (rank of the m-th match + 1); a wrong
    item at exactly the same distance as a match counts as ranked before it.

    ``backend``: ``"numpy"`` (the default on CPU: no row sorts, no query × gallery masks,
    `chunk` queries at a time, 128 by default, on `workers` threads, by default torch's CPU
    thread count) or ``"torch"`` (the default when the matrix is a GPU tensor or `device`
    is a GPU: per `chunk` queries, 4096 by default, the matches are sorted with ``topk``
    and every other item placed among them by ``searchsorted``). Both give the same ranks.
    ``ties``: ``"pessimistic"`` (the default) or ``"torchreid"`` (see the module's *Ties*).
    """
    d, q_pids, g_pids, q_camids, g_camids = _check(distmat, q_pids, g_pids, q_camids, g_camids)
    if ties not in TIES:
        raise ValueError(f"ties {ties!r}: expected one of {', '.join(TIES)}")
    if ties == "torchreid":
        return _market1501_ranks_sorted(_float_numpy(d), q_pids, g_pids, q_camids, g_camids, chunk)
    backend = backend or ("torch" if _on_gpu(d, device) else "numpy")
    if backend == "torch":
        return _market1501_ranks_torch(d, q_pids, g_pids, q_camids, g_camids, chunk, device)
    if backend != "numpy":
        raise ValueError(f"backend {backend!r}: expected 'numpy' or 'torch'")
    d = _float_numpy(d)

    def fill_block(qi, cols, out):
        out[...] = d[qi] if cols is None else d[qi][:, cols]

    return _market1501_ranks_blocks(q_pids, g_pids, q_camids, g_camids, fill_block, d.dtype, chunk, workers)


def market1501_ranks_from_features(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
                                   chunk: int | None = None, device=None, workers: int | None = None,
                                   ties: str = "pessimistic") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`market1501_ranks` of the Euclidean distances between feature rows, without
    ever holding the whole query × gallery matrix.

    The ranking uses squared distances, computed as in ``pairwise_distance(squared=True)``
    (float32, ‖q‖² + ‖g‖² − 2 q·g clamped at 0): the square root changes no order, and
    skipping it keeps values that float32 rounding of the root would merge into ties.
    On CPU the distances of 4 × `chunk` queries (128) at a time are computed into a reused
    buffer and ranked `chunk` queries at a time on `workers` threads (torch's CPU thread
    count); on a GPU the squared matrix is built there and ranked with the torch backend.
    """
    import torch

    q = torch.as_tensor(query_features, dtype=torch.float32)
    g = torch.as_tensor(gallery_features, dtype=torch.float32)
    if device is not None:
        q, g = q.to(device), g.to(device)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"features: query {tuple(q.shape)} and gallery {tuple(g.shape)} are not two matrices "
                         "with the same number of columns")
    q_pids, g_pids, q_camids, g_camids = _check_ids((q.shape[0], g.shape[0]), q_pids, g_pids, q_camids, g_camids)
    if ties != "pessimistic":
        return market1501_ranks(pairwise_distance(q, g, squared=True).cpu(), q_pids, g_pids, q_camids, g_camids,
                                chunk, ties=ties)
    if q.device.type != "cpu":
        dist = pairwise_distance(q, g, squared=True)
        return _market1501_ranks_torch(dist, q_pids, g_pids, q_camids, g_camids, chunk, None)
    q_sq, g_sq = (q * q).sum(1), (g * g).sum(1)
    kept: dict[str, Any] = {}

    def fill_block(qi, cols, out):
        if "g" not in kept:  # the same columns every call
            idx = None if cols is None else torch.from_numpy(cols)
            kept["g"] = g if idx is None else g[idx]
            kept["g_sq"] = g_sq if idx is None else g_sq[idx]
        idx = torch.from_numpy(qi)
        _squared_distance_block(q[idx], q_sq[idx], kept["g"], kept["g_sq"], out=torch.from_numpy(out))

    # Bigger distance blocks than ranking blocks: the matrix product then re-reads the gallery less often.
    return _market1501_ranks_blocks(q_pids, g_pids, q_camids, g_camids, fill_block, np.float32, chunk, workers,
                                    fill_chunks=4)


def _cmc_map(first: np.ndarray, ap: np.ndarray, valid: np.ndarray, num_gallery: int, max_rank: int
             ) -> tuple[np.ndarray, float, int]:
    if not valid.any():
        raise ValueError("no query has a correct match in the gallery (market1501 protocol)")
    counts = np.bincount(first[valid], minlength=num_gallery)
    return pad_cmc(np.cumsum(counts) / valid.sum(), max_rank), float(ap[valid].mean()), int(valid.sum())


def market1501_cmc_map(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 100, **kw
                       ) -> tuple[np.ndarray, float, int]:
    """(CMC, mAP, number of valid queries) under the Market-1501 rules, from one ranking."""
    first, ap, valid = market1501_ranks(distmat, q_pids, g_pids, q_camids, g_camids, **kw)
    return _cmc_map(first, ap, valid, distmat.shape[1], max_rank)


def market1501_cmc_map_from_features(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
                                     max_rank: int = 100, **kw) -> tuple[np.ndarray, float, int]:
    """:func:`market1501_cmc_map` straight from embeddings (see :func:`market1501_ranks_from_features`)."""
    first, ap, valid = market1501_ranks_from_features(query_features, gallery_features, q_pids, g_pids, q_camids,
                                                      g_camids, **kw)
    return _cmc_map(first, ap, valid, len(gallery_features), max_rank)


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
