"""The protocols on top of the kernels: Market-1501 (ranks, CMC, mAP), Open-ReID's cuhk03,
the catalogue of every protocol (the single-shot draws live in :mod:`.single_shot`), and the
CMC helpers (see the package's docstring for the rules)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .inputs import JUNK_PID, _check, _check_ids, _float_numpy, _to_numpy
from .kernels import _market1501_ranks_blocks, _market1501_ranks_torch, _squared_distance_block, pairwise_distance
from .single_shot import distances_from_matrix, plan_draws, rank_draws

# The catalogue: every protocol a command, an experiment file or a layout may name.
PROTOCOLS = ("cross-camera", "market1501", "cuhk03", "thesis", "mixed-gallery")
# Names that were protocols once, with what to use now (refused with this message).
RENAMED_PROTOCOLS = {
    "single-shot": "'single-shot' was renamed 'mixed-gallery' (its galleries mix both cameras); the classic "
                   "single-shot is 'cross-camera', the source study's text 'thesis'",
}
TIES = ("pessimistic", "torchreid")


def check_protocol(name: str) -> str:
    """`name` if it is a protocol of the catalogue; else a ValueError that says what to use."""
    if name in PROTOCOLS:
        return name
    if name in RENAMED_PROTOCOLS:
        raise ValueError(f"protocol {name!r}: {RENAMED_PROTOCOLS[name]}")
    raise ValueError(f"protocol {name!r}: expected one of {', '.join(PROTOCOLS)}")


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


def cmc(distmat, q_pids, g_pids, q_camids, g_camids, protocol: str = "market1501", max_rank: int = 100,
        rng=None, **kwargs) -> np.ndarray:
    """CMC curve (values at ranks 1…max_rank, as fractions) under `protocol`.

    ``market1501`` and ``mixed-gallery`` take a query × gallery matrix. ``cuhk03``,
    ``thesis`` and ``cross-camera`` draw from one pool of test images: give the pool × pool
    matrix with the pool's ids and cameras as both query and gallery arrays.
    `rng` seeds the random draws of ``cuhk03`` (a numpy RandomState or seed: Open-ReID uses
    the global numpy state) and of the single-shot protocols (a numpy Generator or seed;
    default 0). Extra keyword arguments go to the protocol's implementation (e.g.
    ``num_identities``, ``repeats`` for the single-shot ones; ``chunk``, ``device`` for
    ``market1501``).
    """
    check_protocol(protocol)
    if protocol == "market1501":
        return _market1501_cmc(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, **kwargs)
    if protocol == "cuhk03":
        return _openreid_cuhk03_cmc(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, rng=rng, **kwargs)
    d, q_pids, g_pids, q_camids, g_camids = _check(distmat, q_pids, g_pids, q_camids, g_camids)
    d = _to_numpy(d)
    nq = len(q_pids)
    if protocol == "mixed-gallery":  # pool = queries, then gallery
        pids, cams = np.concatenate([q_pids, g_pids]), np.concatenate([q_camids, g_camids])
        plan = plan_draws(protocol, pids, cams, np.arange(nq), np.arange(nq, nq + len(g_pids)), rng=rng or 0,
                          **kwargs)
        return rank_draws(plan, lambda q, g: d[np.ix_(q, g - nq)], max_rank).mean(0)
    if d.shape[0] != d.shape[1]:
        raise ValueError(f"{protocol} protocol: give the pool × pool distance matrix (got {d.shape})")
    plan = plan_draws(protocol, q_pids, q_camids, np.arange(nq), np.arange(0), rng=rng or 0, **kwargs)
    return rank_draws(plan, distances_from_matrix(d), max_rank).mean(0)


def cmc_area(curve: np.ndarray, max_rank: int | None = None) -> float:
    """The study's model-selection score: area under the CMC curve over ranks 1…R divided by
    R, i.e. the mean CMC value (1 = every query matched at rank 1). For a single-shot
    protocol with N = R identities, chance scores (R + 1) / (2R) ≈ 0.5; with fewer identities
    than ranks use :func:`.single_shot.single_shot_area` (ranks 1…N only)."""
    c = np.asarray(curve, float)
    if max_rank is not None:
        c = pad_cmc(c, max_rank)
    return float(c.mean()) if len(c) else 0.0


def chance_cmc(num_gallery_identities: int, max_rank: int = 100) -> np.ndarray:
    """CMC of random ranking with one correct item among `num_gallery_identities`: r / N."""
    r = np.arange(1, max_rank + 1)
    return np.minimum(r / float(num_gallery_identities), 1.0)
