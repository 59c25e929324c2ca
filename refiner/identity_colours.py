"""One colour mapping per identity: refined people keep their clothes' colours across images.

A refiner translates each image on its own, so one person's red shirt may come out brown in
one image and purple in the next. For a re-id training set that is label noise: measured on
real-camera refinement (docs/results.md), how often a crop's nearest colour neighbour is the
same identity fell from 50 % (IV) to 25 % (PTGAN) and 17 % (CycleGAN).

The fix keeps what the refiner does to each image except its colour mapping of the person.
Inside the person mask, the refined image is modelled as an affine colour map of the source
plus a residual (texture, noise, shading the refiner added):

    refined_i(x) = [src_i(x), 1] · M_i + e_i(x)          (M_i: 4 × 3, least squares per image)

One map M_p is fitted to all person pixels of identity p's images at once, and each image's
own map is swapped for it:

    out_i(x) = refined_i(x) + α_i(x) · [src_i(x), 1] · (M_p − M_i)

where α is the person mask in [0, 1] (soft edges blend). Invariants, tested:

* an identity whose images the refiner mapped with one affine map comes out unchanged;
* after the swap, every image's own fitted map is M_p, residuals kept;
* pixels outside the mask are never touched.

Everything here is numpy on float arrays in [0, 1]; `refiner.apply` reads and writes files.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PERSON_PIXELS = 64  # fewer and a 12-parameter fit is noise: the image is left as refined
RIDGE = 1e-3  # pulls an ill-posed fit (a one-colour person) toward the identity's map, not to 0


@dataclass(frozen=True)
class PersonImage:
    """One image of an identity: its source (before refinement), its refined version and the
    person mask, all H × W aligned; colours H × W × 3 and the mask H × W, in [0, 1]."""

    source: np.ndarray
    refined: np.ndarray
    mask: np.ndarray


def _design(source: np.ndarray) -> np.ndarray:
    """[r, g, b, 1] rows for every pixel of an H × W × 3 image."""
    flat = source.reshape(-1, 3)
    return np.concatenate([flat, np.ones((flat.shape[0], 1), flat.dtype)], axis=1)


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares 4 × 3 map with a small ridge toward the identity map (x rows [r, g, b, 1])."""
    prior = np.vstack([np.eye(3), np.zeros((1, 3))])
    a = x.T @ x + RIDGE * len(x) * np.eye(4)
    return np.linalg.solve(a, x.T @ y + RIDGE * len(x) * prior)


def person_rows(image: PersonImage) -> tuple[np.ndarray, np.ndarray]:
    """(design rows, refined colours) of the pixels that are mostly person (α > 0.5)."""
    inside = image.mask.reshape(-1) > 0.5
    return _design(image.source)[inside], image.refined.reshape(-1, 3)[inside]


def colour_map(image: PersonImage) -> np.ndarray:
    """The image's own 4 × 3 colour map, source → refined, over its person pixels."""
    return _fit(*person_rows(image))


def identity_colour_map(images: list[PersonImage]) -> np.ndarray | None:
    """One 4 × 3 map for all person pixels of an identity's images; None if too few pixels."""
    rows = [person_rows(im) for im in images]
    x = np.concatenate([r[0] for r in rows])
    if len(x) < MIN_PERSON_PIXELS:
        return None
    return _fit(x, np.concatenate([r[1] for r in rows]))


def consistent_colours(images: list[PersonImage]) -> list[np.ndarray]:
    """Each refined image of one identity with its person's colour map swapped for the
    identity's (module docstring); images with too little person keep their refined pixels."""
    shared = identity_colour_map(images)
    out = []
    for im in images:
        if shared is None or int((im.mask > 0.5).sum()) < MIN_PERSON_PIXELS:
            out.append(im.refined)
            continue
        shift = (_design(im.source) @ (shared - colour_map(im))).reshape(im.refined.shape)
        out.append(np.clip(im.refined + im.mask[..., None] * shift, 0.0, 1.0))
    return out
