"""`headless fit` on project-made crops: the fitted spec recovers how they were made.

The crops are drawn with numpy/PIL with known body colours, blur, noise, JPEG quality and
size; no Blender and no real images.
"""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synth_humans_addon.core import crop_stats as cs
from synth_humans_addon.core import fit, palettes, postprocess, presets
from synth_humans_addon.core.spec_io import load_spec
from synth_humans_addon.core.spec_validation import validate_spec

ROOT = Path(__file__).resolve().parents[2]
RED, BLUE, GREY = (0.6, 0.12, 0.1), (0.1, 0.2, 0.6), (0.15, 0.15, 0.16)


def _texture(h, w, rng):
    f = np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2
    f[0, 0] = 1
    spec = (rng.normal(size=(h, w)) + 1j * rng.normal(size=(h, w))) / np.sqrt(f)
    spec[0, 0] = 0
    t = np.real(np.fft.ifft2(spec))
    return (t - t.mean()) / t.std()


def make_crop(rng, upper, lower, w=40, h=130, blur=1.2, noise=0.02, quality=75) -> Image.Image:
    """A person-like crop: grey textured background, an upper and a lower body block."""
    img = np.empty((h, w, 3), np.float32)
    img[:] = 0.5
    img[int(0.15 * h):int(0.5 * h), int(0.25 * w):int(0.75 * w)] = upper
    img[int(0.52 * h):int(0.92 * h), int(0.3 * w):int(0.7 * w)] = lower
    img = np.clip(img * (1 + 0.2 * _texture(h, w, rng))[..., None], 0, 1).astype(np.float32)
    img = postprocess.apply_noise(postprocess.apply_blur(img, blur), noise, rng)
    data = postprocess.encode_jpeg(postprocess.to_uint8(img), quality)
    return Image.open(io.BytesIO(data))


def make_folder(folder: Path, n=40, seed=0, **kw) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        upper = RED if i % 10 < 7 else BLUE  # 70 % red tops, 30 % blue
        (folder / f"{i:04d}.jpg").write_bytes(_jpeg_bytes(make_crop(rng, upper, GREY, **kw)))
    return folder


def test_estimators_read_known_noise_blur_and_jpeg():
    rng = np.random.default_rng(3)
    sharp = [cs.crop_stats(make_crop(rng, RED, GREY, blur=0.0, noise=0.0, quality=100)) for _ in range(5)]
    soft = [cs.crop_stats(make_crop(rng, RED, GREY, blur=2.0, noise=0.0, quality=100)) for _ in range(5)]
    assert max(s.blur_sigma for s in sharp) < 0.6 < 1.6 < min(s.blur_sigma for s in soft)
    noisy = cs.crop_stats(make_crop(rng, RED, GREY, blur=1.0, noise=0.04, quality=100))
    clean = cs.crop_stats(make_crop(rng, RED, GREY, blur=1.0, noise=0.0, quality=100))
    assert clean.noise_std < 0.006 < 0.02 < noisy.noise_std
    for q in (40, 75, 95):
        assert cs.crop_stats(make_crop(rng, RED, GREY, quality=q)).jpeg_quality == q
    png = Image.fromarray(np.zeros((20, 10, 3), np.uint8))
    assert cs.crop_stats(png).jpeg_quality is None


def _fitted(tmp_path, **kw):
    folder = tmp_path / "target"
    # The encoded bytes as they are, so each file's JPEG tables are the generating quality's.
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(40):
        upper = RED if i % 10 < 7 else BLUE
        im = make_crop(rng, upper, GREY, **kw)
        (folder / f"{i:04d}.jpg").write_bytes(_jpeg_bytes(im))
    stats = cs.folder_stats(folder)
    return fit.fit_spec(presets.preset("IV-realistic"), stats, shading=1.0, render_blur=0.0), stats


def _jpeg_bytes(im: Image.Image) -> bytes:
    im.fp.seek(0)
    return im.fp.read()


def test_fit_recovers_size_degradations_and_colours(tmp_path):
    result, _ = _fitted(tmp_path, blur=1.2, noise=0.02, quality=75)
    s = result.spec
    assert validate_spec(s) == []
    assert s.render.crop_height == 130
    assert s.box.output_aspect == pytest.approx(130 / 40, abs=0.02)
    pp = s.postprocess
    assert pp.jpeg_quality.low == pp.jpeg_quality.high == 75
    assert pp.blur_sigma.low - 0.4 <= 1.2 <= pp.blur_sigma.high + 0.4
    assert pp.noise_std.low - 0.008 <= 0.02 <= pp.noise_std.high + 0.008
    # Colours: the fitted top palette holds the two generating colours in their proportions.
    tops = [palettes.hex_to_srgb(c) for c in s.clothing.custom_palettes[fit.FITTED_UPPER]]
    red = [np.abs(np.array(c) - RED).max() < 0.2 for c in tops]  # the texture varies each block by ±20 %
    blue = [np.abs(np.array(c) - BLUE).max() < 0.2 for c in tops]
    assert all(r or b for r, b in zip(red, blue))
    assert np.mean(red) == pytest.approx(0.7, abs=0.05)
    bottoms = [palettes.hex_to_srgb(c) for c in s.clothing.custom_palettes[fit.FITTED_LOWER]]
    assert all(np.abs(np.array(c) - GREY).max() < 0.06 for c in bottoms)
    assert s.clothing.top_palettes == {fit.FITTED_UPPER: 1.0}
    assert result.report["target"]["upper_colour_names"]["red"] == pytest.approx(0.7, abs=0.05)


def test_more_blur_or_noise_fit_larger_ranges(tmp_path):
    fits = {}
    # (Very sharp, finely textured crops read partly as noise: the noise pair is compared at 1 px blur.)
    for name, blur, noise in (("sharp", 0.4, 0.01), ("soft", 2.0, 0.01), ("clean", 1.0, 0.005), ("noisy", 1.0, 0.04)):
        (tmp_path / name).mkdir()
        fits[name] = _fitted(tmp_path / name, blur=blur, noise=noise, quality=90)[0].spec.postprocess
    def mid(r):
        return (r.low + r.high) / 2

    assert mid(fits["soft"].blur_sigma) > mid(fits["sharp"].blur_sigma) + 0.8
    assert mid(fits["noisy"].noise_std) > mid(fits["clean"].noise_std) + 0.015


def test_domain_distance_is_small_within_a_domain_and_grows_with_the_gap():
    rng = np.random.default_rng(5)

    def crops(red_share, n=60):
        return [cs.crop_stats(make_crop(rng, RED if i < red_share * n else BLUE, GREY)) for i in range(n)]

    target = crops(0.5)
    same, near, far = (fit.domain_distance(crops(share), target) for share in (0.5, 0.8, 1.0))
    assert abs(same) < 0.01 < near < far


def test_generated_crops_calibrate_exposure_and_shading(tmp_path):
    rng = np.random.default_rng(2)
    target = [cs.crop_stats(make_crop(rng, RED, GREY)) for _ in range(20)]
    spec = presets.preset("IV-realistic")
    # "Renders" twice as bright as the target: the fit darkens them.
    bright = [cs.crop_stats(Image.fromarray(np.clip(np.asarray(make_crop(rng, RED, GREY), np.float32) * 1.6, 0, 255)
                                            .astype(np.uint8))) for _ in range(20)]
    result = fit.fit_spec(spec, target, bright)
    assert result.spec.postprocess.exposure.high < 0.8
    assert "generated" in result.report and min(result.report["assumed"]["shading"]) > 0


def test_cli_writes_a_valid_fitted_spec_and_refuses_bad_folders(tmp_path):
    target = make_folder(tmp_path / "crops", n=12)
    out = tmp_path / "fitted.toml"
    env_python = sys.executable
    ok = subprocess.run([env_python, "-m", "headless", "fit", str(ROOT / "examples/presets/default.toml"),
                         "--target", str(target), "--out", str(out), "--report", str(tmp_path / "r.json")],
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    fitted = load_spec(out)
    assert fitted.clothing.top_palettes == {fit.FITTED_UPPER: 1.0} and fitted.render.crop_height == 130
    assert "12 target crops" in ok.stdout
    bad = subprocess.run([env_python, "-m", "headless", "fit", str(ROOT / "examples/presets/default.toml"),
                          "--target", str(tmp_path / "nowhere"), "--out", str(out)], capture_output=True, text=True,
                         cwd=ROOT)
    assert bad.returncode == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def _horizon_crop(rng, horizon: float, h: int = 128, w: int = 48) -> Image.Image:
    """A person-like dark block on a background that is smooth light wall above `horizon`
    (a fraction of the height) and textured darker ground below it, as a camera sees more
    ground the more it looks down."""
    a = np.empty((h, w, 3), np.float32)
    cut = int(np.clip(horizon, 0.0, 0.95) * h)
    a[:cut] = 170 + rng.normal(0, 2, (cut, w, 1))
    a[cut:] = 90 + rng.normal(0, 25, (h - cut, w, 1))
    a[int(0.1 * h):int(0.95 * h), int(0.3 * w):int(0.7 * w)] = rng.uniform(20, 200, 3)
    a *= rng.uniform(0.7, 1.3)  # sites differ in exposure: the profile must not care
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def test_the_elevation_search_picks_the_band_whose_background_profile_matches():
    rng = np.random.default_rng(0)
    horizons = {band: h for band, h in zip(fit.ELEVATION_BANDS, (0.05, 0.25, 0.45, 0.65))}
    profile = lambda h, n: np.stack([cs.elevation_profile(_horizon_crop(rng, h + rng.normal(0, 0.05)))  # noqa: E731
                                     for _ in range(n)])
    candidates = {band: profile(h, 40) for band, h in horizons.items()}
    for band, h in horizons.items():
        chosen, distances = fit.pick_elevation(profile(h, 40), candidates)
        assert chosen == band, (band, distances)
        assert set(distances) == set(fit.ELEVATION_BANDS)
    # brightness alone does not move the profile
    crop = _horizon_crop(np.random.default_rng(1), 0.3)
    brighter = Image.fromarray(np.clip(np.asarray(crop, np.float32) * 1.2, 0, 255).astype(np.uint8))
    np.testing.assert_allclose(cs.elevation_profile(crop), cs.elevation_profile(brighter), atol=0.05)


def test_elevation_search_needs_renders(tmp_path):
    target = make_folder(tmp_path / "crops", n=4)
    bad = subprocess.run([sys.executable, "-m", "headless", "fit", str(ROOT / "examples/presets/default.toml"),
                          "--target", str(target), "--out", str(tmp_path / "f.toml"), "--elevation"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "--elevation needs --render" in bad.stderr and "Traceback" not in bad.stderr
