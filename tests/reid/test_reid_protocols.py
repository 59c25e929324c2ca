"""The named protocols against hand-worked examples: which images each draw may pick, how a
draw ranks, what is left out, and the one driver that `reid evaluate` and the study share."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reid import metrics  # noqa: E402
from reid.evaluate import ProtocolSettings, chance_protocols, evaluate_protocols  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.numeric]

# A pool of 9 test images. Identity 1: two images on camera 1, one on camera 2. Identity 2:
# one on camera 1, two on camera 2. Identity 3: one image only (camera 1). Identity 4: two
# images, both camera 2. One junk image (-1), index 9.
#            0  1  2  3  4  5  6  7  8
POOL_PIDS = [1, 1, 1, 2, 2, 2, 3, 4, 4]
POOL_CAMS = [1, 1, 2, 1, 2, 2, 1, 2, 2]
PIDS = np.array(POOL_PIDS + [-1])
CAMS = np.array(POOL_CAMS + [1])


def picks(plan):
    """Every (query, gallery) pair of pool indices any draw took, and each draw's identities."""
    pairs = {(int(q), int(g)) for d in plan.draws for q, g in zip(d.query, d.gallery)}
    ids = [sorted(int(PIDS[q]) for q in d.query) for d in plan.draws]
    return pairs, ids


def test_thesis_draws_two_different_images_of_an_identity_whatever_their_cameras():
    plan = metrics.plan_draws("thesis", PIDS, CAMS, np.arange(10), np.arange(0), num_identities=100, repeats=200,
                              rng=1)
    pairs, ids = picks(plan)
    # Identities 1, 2 and 4 have two images or more; 3 (one image) and the junk image never.
    assert plan.identities == 3 and plan.eligible == 3 and plan.left_out == 1
    assert all(i == [1, 2, 4] for i in ids)
    within = {(a, b) for a in range(9) for b in range(9) if a != b and PIDS[a] == PIDS[b]}
    assert pairs == within  # every ordered pair of two images of one identity, same camera or not
    assert (0, 1) in pairs and (7, 8) in pairs and not any(6 in p or 9 in p for p in pairs)


def test_cross_camera_draws_query_from_one_camera_and_every_gallery_image_from_the_other():
    plan = metrics.plan_draws("cross-camera", PIDS, CAMS, np.arange(10), np.arange(0), num_identities=100,
                              repeats=200, rng=2)
    assert plan.camera_pairs == [(1, 2), (2, 1)]  # both directions, one draw each per repeat
    assert len(plan.draws) == 400 and plan.eligible == 2
    # Only identities 1 and 2 are seen by both cameras: 3 (camera 1 only) and 4 (camera 2 only)
    # are left out; each draw takes both eligible identities.
    assert plan.identities == 2 and plan.left_out == 2
    for d in plan.draws:
        a, b = d.cameras
        assert set(CAMS[d.query]) == {a} and set(CAMS[d.gallery]) == {b}
        assert sorted(PIDS[d.query]) == [1, 2] and list(PIDS[d.query]) == list(PIDS[d.gallery])
    pairs, _ = picks(plan)
    assert pairs == {(0, 2), (1, 2), (2, 0), (2, 1), (3, 4), (3, 5), (4, 3), (5, 3)}


def test_cross_camera_with_three_cameras_draws_every_ordered_pair_that_has_two_shared_identities():
    pids = np.array([1, 1, 1, 2, 2, 2, 3, 3])
    cams = np.array([1, 2, 3, 1, 2, 3, 1, 2])
    plan = metrics.plan_draws("cross-camera", pids, cams, np.arange(8), np.arange(0), repeats=1, rng=0)
    assert plan.camera_pairs == [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)]
    by_pair = {d.cameras: sorted(pids[d.query]) for d in plan.draws}
    assert by_pair[(1, 2)] == [1, 2, 3] and by_pair[(1, 3)] == [1, 2]  # identity 3 has no camera 3
    assert plan.identities == 2 and plan.left_out == 0


def test_cross_camera_ranks_each_direction_and_averages_them_with_pessimistic_ties():
    # Identity 1: image 0 (camera 1), image 1 (camera 2); identity 2: image 2 (camera 1), image 3 (camera 2).
    pids, cams = np.array([1, 1, 2, 2]), np.array([1, 2, 1, 2])
    d = np.array([[0.0, 0.1, 0.9, 0.5],
                  [0.1, 0.0, 0.3, 0.9],
                  [0.9, 0.3, 0.0, 0.2],
                  [0.5, 0.9, 0.2, 0.0]])
    d[3, 0] = d[3, 2] = 0.2  # image 3 (camera 2) is as near to identity 1's camera-1 image as to its own
    curve = metrics.cmc(d, pids, pids, cams, cams, protocol="cross-camera", max_rank=2, repeats=3)
    # camera 1 → 2: 0 finds 1 (0.1 < 0.5), 2 finds 3 (0.2 < 0.9): [1, 1]
    # camera 2 → 1: 1 finds 0 (0.1 < 0.3); 3's tie (0.2 = 0.2) counts against it: [0.5, 1]
    np.testing.assert_allclose(curve, [0.75, 1.0])


def test_mixed_gallery_takes_distractors_from_either_camera_and_counts_same_camera_fallbacks():
    query, gallery = np.array([0, 3, 7]), np.array([1, 2, 4, 5, 6])
    plan = metrics.plan_draws("mixed-gallery", PIDS, CAMS, query, gallery, repeats=100, rng=3)
    pairs, ids = picks(plan)
    # Identity 1's query (camera 1) is matched by image 2 (camera 2), never by image 1 (camera 1);
    # identity 2's query (camera 1) by 4 or 5; identity 4 has no gallery image; 3 no query.
    assert pairs == {(0, 2), (3, 4), (3, 5)}
    assert plan.identities == 2 and plan.left_out == 2 and plan.fallbacks == 0
    only_same = metrics.plan_draws("mixed-gallery", PIDS, CAMS, np.array([0, 3]), np.array([1, 4]), repeats=5)
    assert only_same.fallbacks == 5  # identity 1's only gallery image shares the query's camera


def test_fewer_identities_than_asked_draw_them_all_and_the_area_stops_at_their_count():
    plan = metrics.plan_draws("thesis", PIDS, CAMS, np.arange(10), np.arange(0), num_identities=100, repeats=2)
    assert [len(d.query) for d in plan.draws] == [3, 3]
    chance = metrics.chance_cmc(3, 100)
    assert metrics.single_shot_area(chance, 3) == pytest.approx((1 / 3 + 2 / 3 + 1) / 3)
    assert metrics.cmc_area(chance) > 0.97  # padded to 100 ranks the area says almost nothing


def test_too_few_identities_name_the_protocol():
    with pytest.raises(ValueError, match="cross-camera protocol: 0 identities are seen by two cameras"):
        metrics.plan_draws("cross-camera", [1, 2], [1, 1], np.arange(2), np.arange(0))
    with pytest.raises(ValueError, match="thesis protocol: 1 identities have two or more test images"):
        metrics.plan_draws("thesis", [1, 1, 2], [1, 2, 1], np.arange(3), np.arange(0))


def test_the_former_single_shot_name_is_refused_with_what_to_use():
    with pytest.raises(ValueError, match="renamed 'mixed-gallery'.*'cross-camera'"):
        metrics.check_protocol("single-shot")
    with pytest.raises(ValueError, match="expected one of"):
        metrics.check_protocol("nope")


# ---------------------------------------------------------------------------------------
# The one driver


def pool_case(seed=0, ids=30, per_cam=3):
    """Features with identity signal for `ids` identities × 2 cameras × `per_cam` images;
    the first image of each camera is a query, the rest gallery (the split-folder rule)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(ids, 8))
    pids, cams, query = [], [], []
    for p in range(ids):
        for c in (1, 2):
            for k in range(per_cam):
                query.append(k == 0)
                pids.append(p + 1)
                cams.append(c)
    pids, cams = np.array(pids), np.array(cams)
    feats = centres[pids - 1] + rng.normal(scale=0.7, size=(len(pids), 8)) + 0.5 * (cams[:, None] == 1)
    query = np.array(query)
    return feats.astype(np.float32), pids, cams, np.flatnonzero(query), np.flatnonzero(~query)


def test_the_driver_scores_every_protocol_as_its_definition_does():
    feats, pids, cams, q, g = pool_case()
    s = ProtocolSettings(max_rank=20, identities=25, repeats=4, seed=5)
    res = evaluate_protocols(feats, pids, cams, q, g, list(metrics.PROTOCOLS), s)
    assert list(res) == list(metrics.PROTOCOLS)
    full = metrics.pairwise_distance(feats, feats).numpy().astype(np.float64)
    for name in ("thesis", "cross-camera", "mixed-gallery"):
        plan = metrics.plan_draws(name, pids, cams, q, g, 25, 4, 5)
        expected = metrics.rank_draws(plan, metrics.distances_from_matrix(full), 20).mean(0)
        np.testing.assert_allclose(res[name].cmc, expected, atol=1e-12)
        assert res[name].identities == 25 and res[name].area == pytest.approx(metrics.single_shot_area(expected, 25))
    mk, m_ap, _ = metrics.market1501_cmc_map(full[np.ix_(q, g)], pids[q], pids[g], cams[q], cams[g], max_rank=20)
    np.testing.assert_allclose(res["market1501"].cmc, mk, atol=1e-12)
    assert res["market1501"].mean_ap == pytest.approx(m_ap)
    every = np.union1d(q, g)
    ck = metrics.cmc(full[np.ix_(every, every)], pids[every], pids[every], cams[every], cams[every], "cuhk03", 20,
                     rng=np.random.RandomState(5), repeat=4)
    np.testing.assert_allclose(res["cuhk03"].cmc, ck, atol=1e-12)
    # The identity signal is there: every protocol beats its chance row.
    chance = chance_protocols(pids, cams, q, g, list(metrics.PROTOCOLS), s)
    for name in metrics.PROTOCOLS:
        assert res[name].cmc[0] > chance[name].cmc[0] + 0.1, name


def test_the_study_scores_through_the_same_driver(tmp_path):
    from study.refs import DataRef, ModelRef, TestSplit
    from study.stages import evaluate_model

    feats, pids, cams, q, g = pool_case(seed=1)
    paths = [tmp_path / f"{i}.jpg" for i in range(len(pids))]

    class Backend:
        def test_split(self, data, *, seed):
            return TestSplit(query=[paths[i] for i in q], q_pids=pids[q], q_camids=cams[q],
                             gallery=[paths[i] for i in g], g_pids=pids[g], g_camids=cams[g], market_layout=True)

        def embed(self, model, images, *, device):
            index = {p: i for i, p in enumerate(paths)}
            return feats[[index[Path(p)] for p in images]]

    params = {"seed": 3, "protocols": list(metrics.PROTOCOLS), "max_rank": 20, "identities": 25, "repeats": 4}
    study = evaluate_model(ModelRef(tmp_path, tmp_path / "best.pt"), DataRef(tmp_path), params, Backend())
    order = np.concatenate([q, g])  # the study's pool is queries first, then gallery
    direct = evaluate_protocols(feats[order], pids[order], cams[order], np.arange(len(q)),
                                np.arange(len(q), len(order)), list(metrics.PROTOCOLS), ProtocolSettings(20, 25, 4, 3))
    assert set(study["protocols"]) == set(metrics.PROTOCOLS) and not study["skipped"]
    for name, r in direct.items():
        assert study["protocols"][name]["cmc"] == r.cmc, name
        assert study["protocols"][name]["cmc_area"] == r.area
    assert study["protocols"]["market1501"]["mAP"] == direct["market1501"].mean_ap
    assert study["protocols"]["cross-camera"]["left_out"] == 0
