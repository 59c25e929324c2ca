"""Post-processing (camera model) and encoders: pure numpy/PIL, no bpy."""
from __future__ import annotations

import numpy as np
import pytest

from synth_humans_addon.core import postprocess
from synth_humans_addon.core.sampling import PostprocessSample


def _image(h=96, w=48, seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :] = (90, 110, 130)
    img[20:70, 10:38] = rng.integers(0, 255, (50, 28, 3))  # a textured "person"
    return img


def _sample(**kw):
    base = dict(noise_std=0.02, blur_sigma=0.8, jpeg_quality=80, downscale=1.5, color_gain=[1.03, 1.0, 0.97], seed=5)
    base.update(kw)
    return PostprocessSample(**base)


def test_same_sample_same_bytes():
    img = _image()
    a = postprocess.encode_jpeg(postprocess.apply_postprocess(img, _sample()), 80)
    b = postprocess.encode_jpeg(postprocess.apply_postprocess(img, _sample()), 80)
    assert a == b


def test_different_seed_different_noise_same_size():
    img = _image()
    a = postprocess.apply_postprocess(img, _sample(seed=1))
    b = postprocess.apply_postprocess(img, _sample(seed=2))
    assert a.shape == b.shape == img.shape  # masks stay pixel-aligned
    assert np.any(a != b)


def test_identity_sample_changes_nothing():
    img = _image()
    out = postprocess.apply_postprocess(img, _sample(noise_std=0.0, blur_sigma=0.0, downscale=1.0, color_gain=[1, 1, 1]))
    assert np.array_equal(out, img)


def test_each_effect_does_what_it_says():
    img = _image()
    ident = dict(noise_std=0.0, blur_sigma=0.0, downscale=1.0, color_gain=[1.0, 1.0, 1.0])
    cast = postprocess.apply_postprocess(img, _sample(**{**ident, "color_gain": [1.2, 1.0, 0.8]}))
    assert cast[..., 0].mean() > img[..., 0].mean() and cast[..., 2].mean() < img[..., 2].mean()
    blurred = postprocess.apply_postprocess(img, _sample(**{**ident, "blur_sigma": 2.0}))
    # blur lowers local contrast: neighbouring-pixel differences shrink
    assert np.abs(np.diff(blurred.astype(int), axis=1)).mean() < 0.6 * np.abs(np.diff(img.astype(int), axis=1)).mean()
    small = postprocess.apply_postprocess(img, _sample(**{**ident, "downscale": 3.0}))
    assert np.abs(np.diff(small.astype(int), axis=1)).mean() < np.abs(np.diff(img.astype(int), axis=1)).mean()
    noisy = postprocess.apply_postprocess(img, _sample(**{**ident, "noise_std": 0.05}))
    flat = noisy[:15, :].astype(float)  # the flat background gains noise of about the right size
    assert 0.03 * 255 < flat.std(axis=(0, 1)).mean() < 0.07 * 255


def test_jpeg_quality_trades_size_for_error():
    img = _image(192, 96)
    lo, hi = postprocess.encode_jpeg(img, 20), postprocess.encode_jpeg(img, 95)
    assert len(lo) < len(hi)
    err_lo = np.abs(postprocess.decode_image(lo).astype(int) - img).mean()
    err_hi = np.abs(postprocess.decode_image(hi).astype(int) - img).mean()
    assert err_hi < err_lo


def test_png_mask_roundtrip_is_lossless():
    mask = np.zeros((64, 30), np.uint8)
    mask[10:50, 5:25] = 255
    mask[10, 5] = 77  # anti-aliased edge values survive
    assert np.array_equal(postprocess.decode_image(postprocess.encode_png(mask)), mask)


def test_rejects_non_rgb():
    with pytest.raises(ValueError, match="RGB"):
        postprocess.apply_postprocess(np.zeros((4, 4), np.uint8), _sample())
