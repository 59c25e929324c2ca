"""The study's model-selection score on validation identities, computed after training epochs."""
from __future__ import annotations

import numpy as np
import torch

from . import metrics
from .data.records import ImageItem
from .features import AUTO, extract_features
from .models import ReidNet


def validation_sets(items: list[ImageItem]) -> tuple[list[ImageItem], list[ImageItem]]:
    """Per validation identity: its first image is the query, the others the gallery."""
    by_pid: dict[int, list[ImageItem]] = {}
    for it in sorted(items, key=lambda it: (it.pid, it.path)):
        by_pid.setdefault(it.pid, []).append(it)
    query = [ims[0] for ims in by_pid.values() if len(ims) > 1]
    gallery = [im for ims in by_pid.values() if len(ims) > 1 for im in ims[1:]]
    return query, gallery


def has_validation(items: list[ImageItem]) -> bool:
    """Enough validation identities (2 with 2 or more images) for a score."""
    return len({it.pid for it in validation_sets(items)[0]}) >= 2


def validation_score(model: ReidNet, items: list[ImageItem], height: int, width: int, device: torch.device,
                     identities: int = 100, repeats: int = 10, seed: int = 0, batch_size: int = 128,
                     workers: int = 0, *, memory_format: torch.memory_format | str = AUTO) -> dict[str, float]:
    """The study's model-selection score on validation identities.

    The ``mixed-gallery`` single-shot draws (``reid.metrics.single_shot``: `identities`
    identities, the first image of each the query, a gallery image of another camera
    preferred) averaged over `repeats` draws with a fixed seed, so every epoch sees the same
    draws; the score is the mean CMC over ranks 1…N (N = identities drawn,
    ``metrics.single_shot_area``). Generated validation sets have many camera ids (azimuth
    bins) and few images per pair of them, which the cross-camera draw would leave out.
    """
    query, gallery = validation_sets(items)
    if len({it.pid for it in query}) < 2:
        raise ValueError("validation needs at least 2 identities with 2 or more images each")
    pool = query + gallery
    feats = extract_features(model, pool, height, width, device, batch_size, workers, memory_format=memory_format)
    n = min(identities, len({it.pid for it in query}))
    plan = metrics.plan_draws("mixed-gallery", [it.pid for it in pool], [it.camid for it in pool],
                              np.arange(len(query)), np.arange(len(query), len(pool)), num_identities=n,
                              repeats=repeats, rng=seed)
    curve = metrics.rank_draws(plan, metrics.distances_from_features(feats.cpu().numpy()), n).mean(0)
    return {"score": metrics.single_shot_area(curve, n), "val_rank1": float(curve[0]),
            "val_rank5": float(curve[min(4, n - 1)]), "val_identities": n}
