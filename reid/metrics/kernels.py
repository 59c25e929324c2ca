"""The fast Market-1501 ranking and distance kernels behind `reid.metrics`.

Readable first: `reference.py` is the same ranking as a ~30-line loop, and the tests hold
these kernels to it (same ranks, same AP) on random data with ties. The invariants they rely
on are stated where they are relied on:

* booleans are summed 8 at a time as uint64 words (`_count_true`), which needs rows whose
  width is a multiple of 8 × 255 = 2040 bytes;
* so distance rows are padded to that width with +inf, which is never ≤ a finite match
  distance (`_padded_width`, `_count_at_most` corrects the count for infinite matches);
* `pairwise_distance` rows start 64-byte aligned (BLAS writes unaligned rows slower);
* with several workers, two distance buffers alternate (`_market1501_ranks_blocks`): one is
  filled while the other's blocks are ranked on a thread pool (numpy releases the GIL).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np

from .inputs import JUNK_PID

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
