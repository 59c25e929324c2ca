"""Re-identification metrics as plain functions on a distance matrix.

Every function takes a query × gallery distance matrix (numpy array or torch tensor; smaller
= more similar) and the identity and camera arrays of the queries and of the gallery.

Protocols of :func:`cmc`:

``market1501``
    Every query against the whole gallery. Gallery images of the query's identity *and*
    camera are ignored (they are too easy), and so are junk images (identity −1). The CMC
    counts the rank of the first correct match; queries with no correct match left are
    skipped. :func:`mean_ap` is the matching mean average precision. Same numbers as
    torchreid's ``eval_market1501`` and Open-ReID's ``market1501`` CMC configuration
    wherever no wrong item lies at exactly a match's distance (see *Ties* below).

``cuhk03``
    Open-ReID's ``cuhk03`` configuration (``separate_camera_set=True,
    single_gallery_shot=True, first_match_break=False``): all gallery images of the query's
    camera are removed (whatever their identity); then, 10 times, one random image of every
    remaining gallery identity is drawn and the rank of the query's identity among them
    counts 1/10. With the same distance matrix and the same random state this reproduces
    Open-ReID's ``cmc`` exactly (see ``tests/reid/test_reid_metrics.py``). torchreid's
    ``eval_cuhk03`` differs: it removes only same-identity-same-camera images (other
    identities seen by the query's camera stay) and counts the first match.

``single-shot``
    The source study's text: draw N identities (100) that have both a query and a gallery
    image, one query and one gallery image each (a gallery image from another camera when
    there is one), rank the N gallery images by distance for every query; repeat the draw
    (10 times) and average. :func:`single_shot_draws` returns every draw's curve, so the
    spread can be reported.

Ties (``ties=``, market1501):

``"pessimistic"`` (the default)
    A wrong gallery item at exactly the same distance as a correct match is ranked before
    it: a tie counts against the query. The numbers then depend only on the distances, never
    on the order of the gallery or on a sorting algorithm, and a model that maps many
    people to the same point (e.g. distances quantised to 0.1) cannot gain from it.
``"torchreid"``
    torchreid's ``eval_market1501``: every row sorted with numpy's default ``argsort``,
    which orders tied items as its sorting algorithm happens to (not by gallery position),
    so a tie may count for or against the query. Use it to compare with numbers published
    with torchreid; it sorts every row (slower) and ignores junk items (identity −1), which
    torchreid's dataset readers drop before evaluating.

Without ties both give the same numbers (``tests/reid/test_reid_metrics.py`` checks both
against an independent implementation of torchreid's rules).

The model-selection score of the study is :func:`cmc_area`: the area under the CMC curve
over ranks 1…R divided by R (the mean of the CMC values), so 1 is perfect.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

import numpy as np

PROTOCOLS = ("market1501", "cuhk03", "single-shot")
TIES = ("pessimistic", "torchreid")
JUNK_PID = -1


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_ids(shape, q_pids, g_pids, q_camids, g_camids):
    m, n = shape
    q_pids, g_pids = _to_numpy(q_pids).astype(np.int64), _to_numpy(g_pids).astype(np.int64)
    q_camids, g_camids = _to_numpy(q_camids).astype(np.int64), _to_numpy(g_camids).astype(np.int64)
    for name, arr, size in (("q_pids", q_pids, m), ("g_pids", g_pids, n), ("q_camids", q_camids, m),
                            ("g_camids", g_camids, n)):
        if arr.shape != (size,):
            raise ValueError(f"{name}: shape {arr.shape} does not match the distance matrix {tuple(shape)}")
    return q_pids, g_pids, q_camids, g_camids


def _check(distmat, q_pids, g_pids, q_camids, g_camids):
    d = _to_numpy(distmat) if not hasattr(distmat, "detach") else distmat
    return (d, *_check_ids(tuple(d.shape), q_pids, g_pids, q_camids, g_camids))


def pad_cmc(curve: np.ndarray, max_rank: int) -> np.ndarray:
    """Cut or extend a CMC curve to `max_rank` ranks (beyond the gallery it stays at its last value)."""
    if len(curve) >= max_rank:
        return curve[:max_rank]
    last = curve[-1] if len(curve) else 0.0
    return np.concatenate([curve, np.full(max_rank - len(curve), last)])


# ---------------------------------------------------------------------------------------
# Market-1501
#
# The rank (0-based, among the items the rules keep) of a query's m-th correct match, the
# matches sorted by distance, is m + the number of wrong gallery items at a distance ≤ its
# own: a wrong item at exactly a match's distance counts as ranked before it. Wrong items
# are counted without sorting rows or building query × gallery masks:
#     wrong items ≤ p = (all non-junk gallery items ≤ p) − (the query's own-identity items ≤ p)
# Junk columns are dropped up front; a query's own identity has only a dozen or so gallery
# items (its matches and the ignored same-camera ones), listed per query from a gallery
# index grouped by identity. The first count is one broadcast compare of a block of rows
# against their match distances, the booleans counted 8 at a time (≈ 0.13 ns per item and
# match on one core, against ≈ 70 ns per item for sorting the row). When queries have many
# matches and few items nearer than their farthest match, those items are packed first.


class _GalleryByIdentity:
    """Gallery columns grouped by identity, to list each query's own-identity items."""

    def __init__(self, g_pids: np.ndarray, g_camids: np.ndarray):
        self.cams = g_camids
        self.order = np.argsort(g_pids, kind="stable")
        self.pids, self.starts, self.counts = np.unique(g_pids[self.order], return_index=True, return_counts=True)

    def items(self, q_pids: np.ndarray, q_camids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat lists over the queries' own-identity gallery items, grouped by query in query
        order: (query row, gallery column, correct match = seen by another camera)."""
        if len(self.pids) == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, bool)
        at = np.minimum(np.searchsorted(self.pids, q_pids), len(self.pids) - 1)
        count = np.where(self.pids[at] == q_pids, self.counts[at], 0)
        row = np.repeat(np.arange(len(q_pids)), count)
        within = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
        col = self.order[np.repeat(self.starts[at], count) + within]
        return row, col, self.cams[col] != q_camids[row]


def _segment_starts(sizes: np.ndarray) -> np.ndarray:
    return np.cumsum(sizes) - sizes


# Booleans are counted 8 at a time: a row of bool bytes viewed as uint64 words and summed
# in groups of 255 words never carries from one byte into the next. Rows are padded to a
# multiple of 8 × 255 bytes with +inf distances, which are never ≤ a finite match distance.
_GROUP = 8 * 255


def _padded_width(n: int) -> int:
    return -(-n // _GROUP) * _GROUP


def _count_true(hit: np.ndarray) -> np.ndarray:
    """Number of True along the last axis of a C-contiguous bool array whose last axis is a
    multiple of 2040 long (≈ 8× faster than ``sum``)."""
    lead, groups = hit.shape[:-1], hit.shape[-1] // _GROUP
    words = hit.view(np.uint64).reshape(*lead, groups, 255).sum(-1, dtype=np.uint64)
    return words.view(np.uint8).reshape(*lead, groups * 8).sum(-1, dtype=np.int64)


def _pack_near(values: np.ndarray, near: np.ndarray, per_row: np.ndarray) -> np.ndarray:
    """The entries of each row flagged `near`, moved to the left of a +inf-padded block."""
    c = len(per_row)
    packed = np.full((c, _padded_width(max(int(per_row.max()), 1))), np.inf, values.dtype)
    packed[np.repeat(np.arange(c), per_row),
           np.arange(int(per_row.sum())) - np.repeat(_segment_starts(per_row), per_row)] = values[near]
    return packed


def _count_at_most(values: np.ndarray, n: int, thresholds: np.ndarray, num: np.ndarray, budget: int = 1 << 22
                   ) -> np.ndarray:
    """``out[i, m]`` = number of the first `n` entries of row i of `values` that are
    ≤ ``thresholds[i, m]``, for m < num[i] (other entries: anything). `values`:
    C-contiguous, +inf after column n, width a multiple of 2040. Every thresholds row
    ascending; rows sorted by `num`, descending, all ≥ 1. One broadcast compare per group
    of rows (at most `budget` booleans at a time)."""
    c, k = thresholds.shape
    padding = values.shape[1] - n
    # Only items ≤ a query's farthest match can be ≤ any of its matches. Packing them costs
    # about as much as 12 compares per item, so it pays only when many compares are saved.
    if num.mean() > 12:
        near = values <= thresholds[np.arange(c), num - 1][:, None]
        per_row = _count_true(near)
        if int(num.mean()) * (n - _padded_width(int(per_row.max()))) > 12 * n:
            values = _pack_near(values, near, per_row)
            padding = values.shape[1] - np.minimum(per_row, n)[:, None]
    out = np.empty((c, k), np.int64)
    width = values.shape[1]
    s = 0
    while s < c:
        kk = int(num[s])
        e = min(c, s + max(1, budget // (kk * width)))
        hit = np.less_equal(values[s:e, None, :], thresholds[s:e, :kk, None])
        out[s:e, :kk] = _count_true(hit)
        s = e
    # The +inf padding is ≤ only an infinite match distance.
    return out - np.where(thresholds == np.inf, padding, 0)


def _rank_block(dist: np.ndarray, q_pids: np.ndarray, q_camids: np.ndarray, gallery: _GalleryByIdentity
                ) -> tuple[np.ndarray, np.ndarray]:
    """(first-match rank, AP) of a block of queries: rows of `dist` (junk columns removed,
    +inf padded to a multiple of 2040 columns), every query with at least one correct
    match, sorted by number of matches, descending."""
    c = dist.shape[0]
    if np.isnan(dist.min()):  # min propagates NaN, and is faster than isnan().any()
        raise ValueError("distances: NaN values cannot be ranked")
    row, col, correct = gallery.items(q_pids, q_camids)
    d_own = dist[row, col]
    own_count = np.bincount(row, minlength=c)
    num = np.bincount(row[correct], minlength=c)
    k = int(num.max())
    # Each query's match distances, ascending, padded with +inf.
    m_row, m_dist = row[correct], d_own[correct]
    by_distance = np.lexsort((m_dist, m_row))
    matches = np.full((c, k), np.inf, dist.dtype)
    matches[m_row[by_distance], np.arange(len(m_row)) - np.repeat(_segment_starts(num), num)] = m_dist[by_distance]
    at_most_all = _count_at_most(dist, len(gallery.cams), matches, num)
    # Own-identity items ≤ each match, summed per query (the flat lists are grouped by query).
    running = np.zeros((len(row) + 1, k), np.int64)
    np.cumsum(d_own[:, None] <= matches[row], axis=0, out=running[1:])
    ends = np.cumsum(own_count)
    at_most_own = running[ends] - running[ends - own_count]
    mm = np.arange(k)
    ranks = mm + at_most_all - at_most_own
    precision = np.divide(mm + 1.0, ranks + 1.0, out=np.zeros(ranks.shape), where=mm < num[:, None])
    # Summed match by match (cumsum is sequential; sum's pairwise order would depend on
    # the block's padded width, so AP would change in the last bit with the block layout).
    return ranks[:, 0], np.cumsum(precision, axis=1)[:, -1] / num


def _default_workers() -> int:
    """The torch CPU thread setting (the evaluation then uses what the matrix products use)."""
    try:
        import torch
    except ImportError:
        return 1
    return torch.get_num_threads()


def _market1501_ranks_blocks(q_pids, g_pids, q_camids, g_camids, fill_block, dtype, chunk: int | None,
                             workers: int | None, fill_chunks: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CPU ranking, `chunk` queries at a time (128 by default) on `workers` threads.
    ``fill_block(query_indices, gallery_columns, out)`` writes the distances of up to
    `fill_chunks` × `chunk` queries to the gallery items (columns None = all) into `out`, a
    numpy array of `dtype`."""
    keep = g_pids != JUNK_PID
    cols = None if keep.all() else np.flatnonzero(keep)
    n = int(keep.sum())
    gallery = _GalleryByIdentity(g_pids[keep], g_camids[keep])
    row, _, correct = gallery.items(q_pids, q_camids)
    num = np.bincount(row[correct], minlength=len(q_pids))
    # Queries without a correct match are skipped; the others go in blocks of similar
    # numbers of matches, so that few compares are wasted on padding.
    order = np.argsort(-num, kind="stable")[:int(np.count_nonzero(num))]
    first, ap = np.zeros(len(q_pids), np.int64), np.zeros(len(q_pids), np.float64)
    chunk = max(1, min(chunk or 128, len(order)))
    fill = chunk * max(1, min(fill_chunks, -(-len(order) // chunk)))
    workers = max(1, workers or _default_workers())

    def rank(block, qr):
        first[qr], ap[qr] = _rank_block(block, q_pids[qr], q_camids[qr], gallery)

    # Reused distance buffers (their +inf padding is never overwritten). With several
    # workers, two alternate: one is filled while the other's blocks are being ranked
    # (numpy releases the GIL in its array loops).
    buffers = [np.full((fill, _padded_width(max(n, 1))), np.inf, dtype) for _ in range(1 if workers == 1 else 2)]
    pending: list[list[Future]] = [[] for _ in buffers]
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        for j, s in enumerate(range(0, len(order), fill)):
            qi, b = order[s:s + fill], j % len(buffers)
            for job in pending[b]:  # this buffer's previous blocks must be ranked first
                job.result()
            fill_block(qi, cols, buffers[b][:len(qi), :n])
            blocks = [qi[r:r + chunk] for r in range(0, len(qi), chunk)]
            blocks = [(buffers[b][r:r + len(qr)], qr) for r, qr in zip(range(0, len(qi), chunk), blocks)]
            if pool is None:
                for block, qr in blocks:
                    rank(block, qr)
            else:
                pending[b] = [pool.submit(rank, block, qr) for block, qr in blocks]
        for jobs in pending:
            for job in jobs:
                job.result()
    return first, ap, num > 0


def _float_numpy(d) -> np.ndarray:
    """A distance matrix as a float32/float64 numpy array, without copying when it already is
    one (torch CPU tensors are viewed); other dtypes are widened exactly."""
    if hasattr(d, "detach"):
        d = d.detach().cpu()
        if not d.is_floating_point():
            d = d.double()
        elif d.dtype.itemsize < 4:  # float16, bfloat16: numpy cannot view bfloat16
            d = d.float()
        return d.numpy()
    d = np.asarray(d)
    if d.dtype in (np.float32, np.float64):
        return d
    return d.astype(np.float32 if d.dtype == np.float16 else np.float64)


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


def _market1501_ranks_torch(d, q_pids, g_pids, q_camids, g_camids, chunk: int | None = None, device=None):
    """The torch backend of :func:`market1501_ranks` (suits GPUs: large batched sorts)."""
    import torch

    dist = d if isinstance(d, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(d))
    if device is not None:
        dist = dist.to(device)
    dev = dist.device
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
            dd = dd.double()
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


def _squared_distance_block(q, q_sq, g, g_sq, out):
    """‖q‖² + ‖g‖² − 2 q·g clamped at 0 into `out` (query rows × gallery rows), float32."""
    import torch

    torch.addmm(g_sq[None, :], q, g.T, alpha=-2.0, out=out)
    return out.add_(q_sq[:, None]).clamp_(min=0)


def pairwise_distance(query_features, gallery_features, chunk: int = 1024, device=None, squared: bool = False):
    """Euclidean distances between feature rows (torch tensors or arrays), batched.

    Uses ‖q‖² + ‖g‖² − 2 q·g in float32 on `device` (the features' device by default),
    clamped at 0. Returns a torch tensor (query × gallery) on that device; its rows start
    64-byte aligned in memory, so it is a column slice of a slightly wider tensor unless
    the gallery size is a multiple of 16 (``.contiguous()`` gives a packed copy).
    """
    import torch

    q = torch.as_tensor(query_features, dtype=torch.float32)
    g = torch.as_tensor(gallery_features, dtype=torch.float32)
    if device is not None:
        q, g = q.to(device), g.to(device)
    q_sq, g_sq = (q * q).sum(1), (g * g).sum(1)
    # BLAS writes rows that start unaligned markedly slower (≈ 30 % for 15,913 columns).
    out = torch.empty(q.shape[0], -(-g.shape[0] // 16) * 16, device=q.device)[:, :g.shape[0]]
    for s in range(0, q.shape[0], chunk):
        block = _squared_distance_block(q[s:s + chunk], q_sq[s:s + chunk], g, g_sq, out=out[s:s + chunk])
        if not squared:
            block.sqrt_()
    return out
