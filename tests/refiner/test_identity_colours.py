"""One colour mapping per identity (`refiner.identity_colours`), on made-up people whose
refinement is known: each image's person mapped by its own affine colour map plus noise."""
from __future__ import annotations

import numpy as np
import pytest

from refiner.identity_colours import PersonImage, colour_map, consistent_colours, identity_colour_map, person_rows

H, W = 48, 20


def _person(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A source crop (background noise, a person of three garment colours) and its soft mask."""
    src = rng.uniform(0, 1, (H, W, 3))
    mask = np.zeros((H, W))
    mask[4:44, 5:15] = 1.0
    mask[4:44, 4] = mask[4:44, 15] = 0.5  # a soft edge
    colours = rng.uniform(0.1, 0.9, (3, 3))
    for (top, bottom), c in zip(((4, 12), (12, 28), (28, 44)), colours):
        src[top:bottom, 4:16] = c + rng.normal(0, 0.03, (bottom - top, 12, 3))  # shading on a garment
    return np.clip(src, 0, 1), mask


def _affine(rng: np.random.Generator) -> np.ndarray:
    """A refiner's colour map for one image: [r, g, b, 1] rows → colours."""
    return np.vstack([np.eye(3) * rng.uniform(0.6, 1.0, 3) + rng.normal(0, 0.08, (3, 3)), rng.uniform(0, 0.15, (1, 3))])


def _refine(src: np.ndarray, m: np.ndarray, rng: np.random.Generator, noise: float = 0.01) -> np.ndarray:
    x = np.concatenate([src.reshape(-1, 3), np.ones((H * W, 1))], axis=1)
    return np.clip((x @ m).reshape(H, W, 3) + rng.normal(0, noise, (H, W, 3)), 0, 1)


def _identity(rng: np.random.Generator, maps: list[np.ndarray]) -> list[PersonImage]:
    src, mask = _person(rng)
    images = []
    for m in maps:
        moved = np.clip(src + rng.normal(0, 0.02, src.shape), 0, 1)  # another view of the same clothes
        images.append(PersonImage(moved, _refine(moved, m, rng), mask))
    return images


def test_one_map_for_every_image_leaves_the_refinement_as_it_was():
    rng = np.random.default_rng(0)
    m = _affine(rng)
    images = _identity(rng, [m] * 5)
    for im, out in zip(images, consistent_colours(images)):
        assert np.abs(out - im.refined).max() < 0.02  # the fits differ only by the noise


def test_different_maps_become_the_identitys_and_the_background_is_untouched():
    rng = np.random.default_rng(1)
    images = _identity(rng, [_affine(rng) for _ in range(6)])
    shared = identity_colour_map(images)
    outs = consistent_colours(images)

    def predicted(im: PersonImage, m: np.ndarray) -> np.ndarray:
        """The person's colours as a 4 × 3 map predicts them from the source."""
        x, _ = person_rows(im)
        return x @ m

    for im, out in zip(images, outs):
        # Before, each image's own map gave its person other colours than the identity's map.
        assert np.abs(predicted(im, colour_map(im)) - predicted(im, shared)).mean() > 0.03
        after = colour_map(PersonImage(im.source, out, im.mask))
        assert np.abs(predicted(im, after) - predicted(im, shared)).mean() < 0.01

    def mean_colours(images_: list[np.ndarray]) -> np.ndarray:
        return np.array([a[i.mask > 0.5].mean(0) for a, i in zip(images_, images)])

    # The person's mean colour now agrees across images; before, it did not.
    assert mean_colours(outs).std(0).max() < 0.25 * mean_colours([i.refined for i in images]).std(0).max()
    for im, out in zip(images, outs):
        outside = im.mask == 0
        assert np.array_equal(out[outside], im.refined[outside])
        assert out.min() >= 0 and out.max() <= 1


def test_residuals_that_are_not_colour_survive():
    """Texture the refiner adds (not explained by a colour map) is kept in every image."""
    rng = np.random.default_rng(2)
    images = _identity(rng, [_affine(rng) for _ in range(4)])
    stripes = np.zeros((H, W, 3))
    stripes[::4] = 0.05
    images = [PersonImage(im.source, np.clip(im.refined + stripes, 0, 1), im.mask) for im in images]
    for im, out in zip(images, consistent_colours(images)):
        inside = im.mask == 1
        diff = (out - im.refined)[inside]
        residual_rows = (out[::4] - out[1::4])[(im.mask[::4] == 1)]
        assert np.abs(residual_rows.mean()) > 0.02  # the stripes are still there
        assert np.abs(diff).mean() > 0.005  # and the colours did move


@pytest.mark.parametrize("pixels", [0, 10])
def test_too_little_person_is_left_as_refined(pixels):
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 1, (H, W, 3))
    mask = np.zeros((H, W))
    mask.reshape(-1)[:pixels] = 1
    images = [PersonImage(src, _refine(src, _affine(rng), rng), mask) for _ in range(2)]
    for im, out in zip(images, consistent_colours(images)):
        assert np.array_equal(out, im.refined)
