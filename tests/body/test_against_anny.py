"""Our numpy body model against anny's own PyTorch model (the reference implementation).

Correspondence between the two parameterisations (worked out from anny's
``models/phenotype.py`` and ``model_data.PHENOTYPE_VARIATIONS``):

* anny ``gender``: 0 = male, 1 = female  →  anny = 1 − ours.
* anny ``age`` anchors: newborn −1/3, baby 0, child 1/3, young 2/3, old 1; MakeHuman's are
  baby 0, child 0.1875, young 0.5, old 1. Both interpolate linearly between anchors, so
  the segment-wise linear map between the anchor lists gives identical weights.
* muscle, weight, cupsize, firmness: same anchors 0 / 0.5 / 1.
* african / asian / caucasian: both normalise the three weights.
* height and proportions differ: anny always mixes its two targets (min = 1 − h,
  max = h; ideal = 1 − p, uncommon = p) while MakeHuman applies only one side of 0.5.
  They agree at the ends (ours h = 0, 1 ↔ anny h = 0, 1; ours p = 0 ↔ anny p = 1,
  ours p = 1 ↔ anny p = 0), which the first test uses. The second test checks the blend
  for arbitrary (mid-range) values with anny's own stacked blend shapes and our weights.

anny works in Blender's frame (metres, Z up) without grounding, hence ``ground=False``.
Anny's model is built once (about 90 s the first time, then cached by anny on disk).
"""
import numpy as np
import pytest

from synth_humans_addon.core.mpfb.assets import to_blender_frame
from synth_humans_addon.core.mpfb.phenotype import Phenotype, body_vertices, macro_weights
from synth_humans_addon.core.spec import ETHNICITIES

torch = pytest.importorskip("torch")
pytest.importorskip("anny")

pytestmark = [pytest.mark.torch, pytest.mark.slow]

TOL = 1e-6  # metres; both sides sum the same float targets in float64


@pytest.fixture(scope="module")
def anny_model():
    torch.set_num_threads(1)
    from anny.models.phenotype import Anny
    # "makehuman" topology keeps all 19,158 base-mesh vertices in file order (no triangulation,
    # no vertex removal); "original" blend shapes avoid anny's low-rank compaction.
    return Anny(rig="makehuman", topology="makehuman", phenotypes="all",
                phenotype_blendshapes="original", local_changes="none")


def _age_to_anny(age_mh: float) -> float:
    mh = [0.0, 0.1875, 0.5, 1.0]
    an = [0.0, 1 / 3, 2 / 3, 1.0]
    return float(np.interp(age_mh, mh, an))


def _anny_rest_vertices(model, ph: Phenotype, height_anny: float, proportions_anny: float) -> np.ndarray:
    kw = dict(gender=1.0 - ph.gender, age=_age_to_anny(ph.age), muscle=ph.muscle, weight=ph.weight,
              height=height_anny, proportions=proportions_anny, cupsize=ph.cupsize, firmness=ph.firmness,
              **{e: ph.ethnicity.get(e, 0.0) for e in ETHNICITIES})
    kw = {k: torch.tensor([float(v)], dtype=torch.float64) for k, v in kw.items()}
    with torch.no_grad():
        out = model(phenotype_kwargs=kw)
    return out["rest_vertices"][0].double().numpy()


def _random_phenotype(rng) -> Phenotype:
    return Phenotype(age_years=float(rng.uniform(1, 90)), gender=float(rng.random()), weight=float(rng.random()),
                     muscle=float(rng.random()), height=float(rng.choice([0.0, 1.0])),
                     proportions=float(rng.choice([0.0, 1.0])), ethnicity=dict(zip(ETHNICITIES, rng.random(3))),
                     cupsize=float(rng.random()), firmness=float(rng.random()))


def test_same_topology(anny_model, base_mesh):
    assert tuple(anny_model.template_vertices.shape) == base_mesh.vertices.shape
    np.testing.assert_allclose(anny_model.template_vertices.double().numpy(),
                               to_blender_frame(base_mesh.vertices), atol=1e-9)
    faces = anny_model.faces.numpy()
    ours = np.concatenate([base_mesh.faces[base_mesh.group_faces(g)]
                           for g in ("body", "helper-l-eye", "helper-r-eye", "helper-tongue")])
    assert faces.shape == ours.shape
    assert np.array_equal(np.sort(faces, axis=1)[np.lexsort(np.sort(faces, axis=1).T)],
                          np.sort(ours, axis=1)[np.lexsort(np.sort(ours, axis=1).T)])


def test_body_vertices_match_anny(anny_model):
    rng = np.random.default_rng(1234)
    for _ in range(6):
        ph = _random_phenotype(rng)
        ref = _anny_rest_vertices(anny_model, ph, height_anny=ph.height, proportions_anny=1.0 - ph.proportions)
        ours = body_vertices(ph, ground=False)
        err = np.abs(ours - ref).max()
        assert err < TOL, f"{ph}: max deviation {err:.3g} m"


def test_blend_matches_anny_blendshapes_for_mid_values(anny_model):
    """Arbitrary heights/proportions: anny's stacked blend shapes weighted by our weights."""
    labels = anny_model.blendshape_labels
    shapes = anny_model.blendshapes.double().numpy()
    template = anny_model.template_vertices.double().numpy()

    def label(target: str) -> str:
        folder, _, stem = target.rpartition("/")
        if stem.startswith("universal-"):
            return "universal:" + stem[len("universal-"):]
        if folder == "macrodetails":
            return "race:" + stem
        return {"macrodetails/height": "height", "macrodetails/proportions": "proportions",
                "breast": "breast"}[folder] + ":" + stem

    rng = np.random.default_rng(7)
    for _ in range(4):
        ph = Phenotype(age_years=float(rng.uniform(1, 90)), gender=float(rng.random()), weight=float(rng.random()),
                       muscle=float(rng.random()), height=float(rng.random()), proportions=float(rng.random()),
                       ethnicity=dict(zip(ETHNICITIES, rng.random(3))))
        ref = template.copy()
        for target, w in macro_weights(ph).items():
            ref += w * shapes[labels.index(label(target))]
        err = np.abs(body_vertices(ph, ground=False) - ref).max()
        assert err < TOL, f"{ph}: max deviation {err:.3g} m"
