"""Single-shot protocols: random draws of N identities, one query and one gallery image each.

Every protocol here is two steps, kept apart so each can be checked on its own:

1. **The draw** (which images may be picked): a pure function of the test images'
   identities and cameras and a seeded random generator, returning :class:`SingleShotDraw`\\ s
   of *pool indices* (positions in the evaluated images). Query ``j`` of a draw is matched by
   gallery image ``j``; the other N − 1 gallery images are its distractors.
2. **The ranking** (:func:`rank_draws`): every query ranks the draw's N gallery images by
   distance; a distractor at exactly the true match's distance counts against the query
   (ties are pessimistic, as everywhere in :mod:`reid.metrics`). The CMC of a draw is over
   ranks 1…N; the protocol's curve is the mean over draws.

The protocols (identities with a negative id are junk and never drawn):

``thesis``
    The source study's text (§2.3.2), literally: per draw, N identities among those with at
    least two test images, and for each two different images in random order, whatever their
    cameras: the first is the query, the second the gallery image. Same-camera pairs are
    allowed, so this is the easiest protocol.
``cross-camera``
    The classic CUHK03 single-shot: for an ordered pair of cameras (a, b), N identities among
    those seen by both, the query a random image of camera a and the gallery image a random
    image of camera b, so every gallery image comes from the other camera. Each repeat draws
    every ordered pair of cameras with at least two such identities (two cameras: a → b and
    b → a) and the curve averages them all. An identity seen by one camera only is left out
    (counted in ``left_out``). With more than two cameras, each pair draws as many of the
    identities it shares as it can, up to N, and ``identities`` is the smallest pair's count.
    Generated datasets label azimuth bins as cameras (6 by default, so 30 ordered pairs with
    few shared identities each): their own test sets default to ``thesis`` instead.
``mixed-gallery``
    The study's former ``single-shot``: queries from the query set and gallery images from
    the gallery set, N identities with both; each query's own gallery image comes from
    another camera when the identity has one (else from its own camera, counted in
    ``fallbacks``), but the distractors' images are whatever camera they were drawn from,
    so about half of them share the query's camera and light while the true match never
    does. No other study uses it; it stays for comparison with the first tables of
    ``docs/results.md`` (the random draws are those of the former ``single_shot_draws``).

With fewer eligible identities than N, every draw takes all of them (``identities`` says how
many). Curves are padded to `max_rank` with 1.0 (beyond N every query has found its match),
but :func:`single_shot_area`, the model-selection score, averages over ranks 1…N only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SINGLE_SHOT_PROTOCOLS = ("thesis", "cross-camera", "mixed-gallery")


@dataclass(frozen=True)
class SingleShotDraw:
    """One draw: pool indices; ``gallery[j]`` is the image of ``query[j]``'s identity."""

    query: np.ndarray
    gallery: np.ndarray
    cameras: tuple[int, int] | None = None  # cross-camera: (query camera, gallery camera)


@dataclass
class DrawPlan:
    """The draws of one protocol and what they left out."""

    protocol: str
    draws: list[SingleShotDraw]
    identities: int  # N: identities per draw (the smallest draw's, when pairs of cameras differ)
    eligible: int  # identities that some draw may pick
    left_out: int  # identities of the pool no draw may pick (one image, one camera, no query …)
    fallbacks: int = 0  # mixed-gallery: true matches taken from the query's own camera
    camera_pairs: list[tuple[int, int]] = field(default_factory=list)  # cross-camera


def _generator(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _by_identity(pids: np.ndarray, indices: np.ndarray) -> dict[int, np.ndarray]:
    """Identity → its pool indices (in pool order), junk ids left out."""
    out: dict[int, list[int]] = {}
    for i in indices:
        p = int(pids[i])
        if p >= 0:
            out.setdefault(p, []).append(int(i))
    return {p: np.array(v, np.int64) for p, v in out.items()}


def _too_few(protocol: str, eligible: int, why: str) -> ValueError:
    return ValueError(f"{protocol} protocol: {eligible} identities {why} (need at least 2)")


def thesis_draws(pids, camids, num_identities: int = 100, repeats: int = 10, rng=0) -> DrawPlan:
    """The source study's draw: two random images of each of N identities, any cameras."""
    pids = np.asarray(pids, np.int64)
    gen = _generator(rng)
    by = _by_identity(pids, np.arange(len(pids)))
    eligible = np.array(sorted(p for p, v in by.items() if len(v) >= 2), np.int64)
    if len(eligible) < 2:
        raise _too_few("thesis", len(eligible), "have two or more test images")
    n = min(num_identities, len(eligible))
    draws = []
    for _ in range(repeats):
        ids = gen.choice(eligible, size=n, replace=False)
        pairs = np.array([gen.choice(by[int(p)], size=2, replace=False) for p in ids], np.int64)
        draws.append(SingleShotDraw(pairs[:, 0], pairs[:, 1]))
    return DrawPlan("thesis", draws, n, len(eligible), len(by) - len(eligible))


def cross_camera_draws(pids, camids, num_identities: int = 100, repeats: int = 10, rng=0) -> DrawPlan:
    """The classic single-shot: query from camera a, every gallery image from camera b, for
    every ordered pair of cameras, N identities seen by both."""
    pids, camids = np.asarray(pids, np.int64), np.asarray(camids, np.int64)
    gen = _generator(rng)
    cams = sorted(int(c) for c in np.unique(camids))
    per_cam = {c: _by_identity(pids, np.flatnonzero(camids == c)) for c in cams}
    pairs, eligible_of = [], {}
    for a in cams:
        for b in cams:
            if a != b:
                both = np.array(sorted(set(per_cam[a]) & set(per_cam[b])), np.int64)
                if len(both) >= 2:
                    pairs.append((a, b))
                    eligible_of[(a, b)] = both
    everyone = {int(p) for p in pids if p >= 0}
    if not pairs:
        best = max((len(set(per_cam[a]) & set(per_cam[b])) for a in cams for b in cams if a != b), default=0)
        raise _too_few("cross-camera", best, "are seen by two cameras")
    reachable = set().union(*(set(v.tolist()) for v in eligible_of.values()))
    n = min(num_identities, min(len(v) for v in eligible_of.values()))
    draws = []
    for _ in range(repeats):
        for a, b in pairs:
            ids = gen.choice(eligible_of[(a, b)], size=min(num_identities, len(eligible_of[(a, b)])), replace=False)
            q = np.array([gen.choice(per_cam[a][int(p)]) for p in ids], np.int64)
            g = np.array([gen.choice(per_cam[b][int(p)]) for p in ids], np.int64)
            draws.append(SingleShotDraw(q, g, (a, b)))
    return DrawPlan("cross-camera", draws, n, len(reachable), len(everyone - reachable), camera_pairs=pairs)


def mixed_gallery_draws(pids, camids, query_idx, gallery_idx, num_identities: int = 100, repeats: int = 10,
                        rng=0) -> DrawPlan:
    """The former ``single-shot``: query from the query set, gallery from the gallery set, the
    true match from another camera when there is one. Consumes the random stream exactly as
    the former ``single_shot_draws`` did, so its numbers are reproduced."""
    pids, camids = np.asarray(pids, np.int64), np.asarray(camids, np.int64)
    gen = _generator(rng)
    q_by = _by_identity(pids, np.asarray(query_idx, np.int64))
    g_by = _by_identity(pids, np.asarray(gallery_idx, np.int64))
    eligible = np.array(sorted(set(q_by) & set(g_by)), np.int64)
    if len(eligible) < 2:
        raise _too_few("mixed-gallery", len(eligible), "have both query and gallery images")
    n = min(num_identities, len(eligible))
    draws, fallbacks = [], 0
    for _ in range(repeats):
        ids = gen.choice(eligible, size=n, replace=False)
        qi, gi = np.empty(n, np.int64), np.empty(n, np.int64)
        for j, p in enumerate(ids):
            qi[j] = gen.choice(q_by[int(p)])
            cands = g_by[int(p)]
            other = cands[camids[cands] != camids[qi[j]]]
            if len(other):
                cands = other
            else:
                fallbacks += 1
            gi[j] = gen.choice(cands)
        draws.append(SingleShotDraw(qi, gi))
    everyone = set(q_by) | set(g_by)
    return DrawPlan("mixed-gallery", draws, n, len(eligible), len(everyone) - len(eligible), fallbacks)


def plan_draws(protocol: str, pids, camids, query_idx, gallery_idx, num_identities: int = 100, repeats: int = 10,
               rng=0) -> DrawPlan:
    """The draws of any single-shot protocol over one pool of test images.

    ``thesis`` and ``cross-camera`` draw from the whole pool (query ∪ gallery);
    ``mixed-gallery`` keeps the query and gallery sets apart.
    """
    if protocol == "thesis":
        every = np.union1d(query_idx, gallery_idx)
        return _restricted(thesis_draws, every, pids, camids, num_identities, repeats, rng)
    if protocol == "cross-camera":
        every = np.union1d(query_idx, gallery_idx)
        return _restricted(cross_camera_draws, every, pids, camids, num_identities, repeats, rng)
    if protocol == "mixed-gallery":
        return mixed_gallery_draws(pids, camids, query_idx, gallery_idx, num_identities, repeats, rng)
    raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(SINGLE_SHOT_PROTOCOLS)}")


def _restricted(draw_fn, every: np.ndarray, pids, camids, num_identities, repeats, rng) -> DrawPlan:
    """`draw_fn` on the images `every` only, with indices mapped back to the pool."""
    pids, camids = np.asarray(pids, np.int64), np.asarray(camids, np.int64)
    every = np.asarray(every, np.int64)
    plan = draw_fn(pids[every], camids[every], num_identities, repeats, rng)
    plan.draws = [SingleShotDraw(every[d.query], every[d.gallery], d.cameras) for d in plan.draws]
    return plan


def draw_ranks(distance: np.ndarray) -> np.ndarray:
    """0-based rank of each row's true match (the diagonal) among the row's N items; items at
    exactly the match's distance are ranked before it."""
    d = np.asarray(distance)
    true = np.diag(d)[:, None]
    return (d < true).sum(1) + ((d == true).sum(1) - 1)


def rank_draws(plan: DrawPlan, distance: Callable[[np.ndarray, np.ndarray], np.ndarray], max_rank: int
               ) -> np.ndarray:
    """CMC curve of every draw, shape (draws, max_rank). `distance(q, g)` returns the
    query × gallery distances of pool indices `q` and `g`."""
    curves = np.ones((len(plan.draws), max_rank))
    for r, d in enumerate(plan.draws):
        n = len(d.query)
        counts = np.bincount(draw_ranks(distance(d.query, d.gallery)), minlength=n)
        curve = np.cumsum(counts) / n
        k = min(n, max_rank)
        curves[r, :k] = curve[:k]
    return curves


def single_shot_area(curve: np.ndarray, identities: int) -> float:
    """Mean CMC over ranks 1…N (N identities per draw): 1 is perfect, chance is (N + 1) / 2N.
    Ranks beyond N are 1.0 by construction and would only pull every score toward 1."""
    c = np.asarray(curve, float)[:identities]
    return float(c.mean()) if len(c) else 0.0


def distances_from_matrix(distmat) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A `distance` for :func:`rank_draws` from a pool × pool distance matrix."""
    d = np.asarray(distmat)
    return lambda q, g: d[np.ix_(q, g)]


def distances_from_features(features) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A `distance` for :func:`rank_draws` from one feature row per pool image (squared
    Euclidean: the same order as the distance, without the root's rounding)."""
    f = np.asarray(features, np.float64)
    sq = (f * f).sum(1)

    def distance(q: np.ndarray, g: np.ndarray) -> np.ndarray:
        return np.maximum(sq[q][:, None] + sq[g][None, :] - 2.0 * f[q] @ f[g].T, 0.0)

    return distance
