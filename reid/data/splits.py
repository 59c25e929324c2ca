"""Splitting labelled images by identity (a generated character is one identity)."""
from __future__ import annotations

from itertools import zip_longest
from pathlib import Path
from typing import Any, Callable

import numpy as np

from synth_humans_addon.core.dataset import parse_name, query_flags

from .records import ImageItem


def split_by_identity(items: list[ImageItem], num_validation: int = 100, num_test: int = 100, seed: int = 0
                      ) -> tuple[list[ImageItem], list[ImageItem], list[ImageItem]]:
    """(train, validation, test): whole identities, no overlap, drawn by a seeded permutation.

    Identities ≤ 0 (junk and distractors) are dropped: they cannot be learnt or matched. Raises ValueError when there are too few identities
    (at least one must remain for training).
    """
    pids = sorted({it.pid for it in items if it.pid > 0})
    if num_validation < 0 or num_test < 0:
        raise ValueError("num_validation and num_test must be ≥ 0")
    if len(pids) <= num_validation + num_test:
        raise ValueError(f"{len(pids)} identities cannot be split into {num_validation} validation + "
                         f"{num_test} test identities and a non-empty train set")
    order = np.random.default_rng(seed).permutation(len(pids))
    test_ids = {pids[i] for i in order[:num_test]}
    val_ids = {pids[i] for i in order[num_test:num_test + num_validation]}
    train = [it for it in items if it.pid > 0 and it.pid not in test_ids and it.pid not in val_ids]
    val = [it for it in items if it.pid in val_ids]
    test = [it for it in items if it.pid in test_ids]
    return train, val, test


def subsample_training(items: list[ImageItem], max_identities: int = 0, max_images: int = 0, seed: int = 0
                       ) -> list[ImageItem]:
    """A smaller training set: `max_identities` identities (0 = all) and at most `max_images`
    images of each (0 = all).

    The identities are the first of a permutation seeded by `seed`, so with one seed a
    smaller set is always a subset of a larger one (a scale curve's points are nested). An
    identity's images are taken round-robin over its cameras in file order, so 4 of a CUHK03
    identity's 10 crops are 2 per camera, not 4 of camera 1.
    """
    if max_identities < 0 or max_images < 0:
        raise ValueError("max_identities and max_images must be ≥ 0")
    by_pid: dict[int, list[ImageItem]] = {}
    for it in items:
        by_pid.setdefault(it.pid, []).append(it)
    pids = sorted(by_pid)
    if max_identities:
        order = np.random.default_rng(seed).permutation(len(pids))
        pids = sorted(pids[i] for i in order[:max_identities])
    keep: set[int] = set()
    for p in pids:
        ims = by_pid[p]
        if max_images and len(ims) > max_images:
            by_cam: dict[int, list[int]] = {}
            for k, it in sorted(enumerate(ims), key=lambda kv: kv[1].path):
                by_cam.setdefault(it.camid, []).append(k)
            rounds = [k for group in zip_longest(*by_cam.values()) for k in group if k is not None]
            chosen = rounds[:max_images]
        else:
            chosen = range(len(ims))
        keep.update(id(ims[k]) for k in chosen)
    return [it for it in items if id(it) in keep]


def path_order(item: ImageItem) -> str:
    return item.path


def generated_order(item: ImageItem) -> tuple[int, str]:
    """A generated image's index in its character (its file name's `k`; the name's frame
    field is a pose phase, not a time)."""
    return parse_name(Path(item.path).name)[3], item.path


def query_gallery_split(items: list[ImageItem], order: Callable[[ImageItem], Any] = path_order
                        ) -> tuple[list[ImageItem], list[ImageItem]]:
    """Per identity, the format's query rule (`core.dataset.query_flags`: the first image of
    each camera is a query) over its images in `order`: file names by default, the generator's
    image order (`generated_order`) for this project's datasets, so re-id draws the queries the
    generator would have drawn."""
    by_pid: dict[int, list[ImageItem]] = {}
    for it in items:
        by_pid.setdefault(it.pid, []).append(it)
    query, gallery = [], []
    for pid in sorted(by_pid):
        ims = sorted(by_pid[pid], key=order)
        for it, is_query in zip(ims, query_flags([it.camid for it in ims])):
            (query if is_query else gallery).append(it)
    return query, gallery
