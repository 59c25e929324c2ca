"""reid.metrics against hand-worked examples and independent straightforward implementations."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reid import metrics  # noqa: E402

from reid_oracles import loop_market1501, openreid_cmc  # noqa: E402

pytestmark = pytest.mark.torch


def _random_case(seed, num_q=60, num_g=300, num_ids=40, num_cams=4, junk=0.0):
    rng = np.random.default_rng(seed)
    g_pids = rng.integers(1, num_ids + 1, num_g)
    if junk:
        g_pids[rng.random(num_g) < junk] = -1
    g_cams = rng.integers(1, num_cams + 1, num_g)
    q_pids = rng.integers(1, num_ids + 1, num_q)
    q_cams = rng.integers(1, num_cams + 1, num_q)
    d = rng.random((num_q, num_g))
    d[q_pids[:, None] == g_pids[None, :]] -= 0.3 * rng.random()  # some signal, continuous values
    return d, q_pids, g_pids, q_cams, g_cams


def test_market1501_hand_worked():
    q_pids, q_cams = np.array([1, 2]), np.array([1, 1])
    g_pids, g_cams = np.array([1, 2, 1, 3, -1]), np.array([1, 2, 2, 2, 2])
    d = np.array([[0.1, 0.2, 0.5, 0.3, 0.05],
                  [0.4, 0.6, 0.1, 0.2, 0.0]])
    # q0: g0 same id+camera and g4 junk ignored → g1, g3, g2: hit at rank 3, AP 1/3.
    # q1: g4 junk ignored → g2, g3, g0, g1: hit at rank 4, AP 1/4.
    c = metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, protocol="market1501", max_rank=5)
    np.testing.assert_allclose(c, [0, 0, 0.5, 1, 1])
    assert metrics.mean_ap(d, q_pids, g_pids, q_cams, g_cams) == pytest.approx((1 / 3 + 1 / 4) / 2)


def test_market1501_skips_queries_without_valid_match():
    # q1's only gallery image of its identity is from its own camera: skipped, not a miss.
    q_pids, q_cams = np.array([1, 2]), np.array([1, 1])
    g_pids, g_cams = np.array([1, 2, 3]), np.array([2, 1, 2])
    d = np.array([[0.1, 0.2, 0.3], [0.3, 0.1, 0.2]])
    c = metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, protocol="market1501", max_rank=3)
    np.testing.assert_allclose(c, [1, 1, 1])


def test_cuhk03_removes_every_same_camera_item_unlike_torchreid():
    q_pids, q_cams = np.array([1]), np.array([1])
    g_pids, g_cams = np.array([1, 2, 1, 3]), np.array([1, 1, 2, 2])
    d = np.array([[0.0, 0.1, 0.5, 0.3]])
    # Open-ReID cuhk03: g0 and g1 (query camera) removed → g3, g2: rank 2 in every draw.
    np.testing.assert_allclose(metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, protocol="cuhk03", max_rank=3, rng=0),
                               [0, 1, 1])
    # Market-1501 rules keep g1 (another identity on the query's camera) → rank 3.
    np.testing.assert_allclose(metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, protocol="market1501", max_rank=3),
                               [0, 0, 1])


def test_single_shot_hand_worked():
    ids = np.array([1, 2, 3])
    d = np.array([[0.1, 0.5, 0.9], [0.2, 0.3, 0.4], [0.5, 0.1, 0.7]])
    draws = metrics.single_shot_draws(d, ids, ids, np.ones(3), np.full(3, 2), num_identities=3, repeats=4, max_rank=3)
    np.testing.assert_allclose(draws, np.tile([1 / 3, 2 / 3, 1], (4, 1)))


def test_single_shot_prefers_other_camera_gallery():
    # Identity 1 has a same-camera gallery image that is nearly identical and another-camera one far away.
    q_pids, q_cams = np.array([1, 2]), np.array([1, 1])
    g_pids, g_cams = np.array([1, 1, 2]), np.array([1, 2, 2])
    d = np.array([[0.0, 0.9, 0.5], [0.5, 0.5, 0.1]])
    c = metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, protocol="single-shot", max_rank=2, num_identities=2,
                    repeats=5)
    np.testing.assert_allclose(c, [0.5, 1.0])  # q1 always ranks the far other-camera image second


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cuhk03_reproduces_openreid_exactly(seed):
    d, q_pids, g_pids, q_cams, g_cams = _random_case(seed)
    np.random.seed(100 + seed)
    expected = openreid_cmc(d, q_pids, g_pids, q_cams, g_cams, topk=100, separate_camera_set=True,
                            single_gallery_shot=True, first_match_break=False)
    got = metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, protocol="cuhk03", max_rank=100,
                      rng=np.random.RandomState(100 + seed))
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_market1501_matches_loop_and_openreid(seed):
    d, q_pids, g_pids, q_cams, g_cams = _random_case(seed, junk=0.05)
    ref_cmc, ref_map = loop_market1501(d, q_pids, g_pids, q_cams, g_cams, max_rank=50)
    got = metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, protocol="market1501", max_rank=len(ref_cmc))
    np.testing.assert_allclose(got, ref_cmc, atol=1e-6)
    assert metrics.mean_ap(d, q_pids, g_pids, q_cams, g_cams, chunk=7) == pytest.approx(ref_map, abs=1e-6)
    keep = g_pids != -1  # Open-ReID has no junk rule: compare on the gallery without junk
    orr = openreid_cmc(d[:, keep], q_pids, g_pids[keep], q_cams, g_cams[keep], topk=50, first_match_break=True)
    np.testing.assert_allclose(metrics.cmc(d[:, keep], q_pids, g_pids[keep], q_cams, g_cams[keep], max_rank=50),
                               orr, atol=1e-6)


def test_single_shot_near_chance_on_random_distances():
    rng = np.random.default_rng(3)
    ids = np.repeat(np.arange(1, 201), 2)
    cams = np.tile([1, 2], 200)
    d = rng.random((400, 400))
    draws = metrics.single_shot_draws(d, ids, ids, cams, cams, num_identities=100, repeats=20, rng=5)
    chance = metrics.chance_cmc(100, 100)
    assert np.abs(draws.mean(0) - chance).max() < 0.06
    assert metrics.cmc_area(draws.mean(0)) == pytest.approx(metrics.cmc_area(chance), abs=0.03)


def test_cmc_area_and_bad_input():
    assert metrics.cmc_area(np.ones(100)) == 1.0
    assert metrics.cmc_area(metrics.chance_cmc(100)) == pytest.approx(101 / 200)
    with pytest.raises(ValueError, match="q_pids"):
        metrics.cmc(np.zeros((2, 3)), [1], [1, 2, 3], [1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="protocol"):
        metrics.cmc(np.zeros((1, 1)), [1], [1], [1], [2], protocol="nope")


def test_pairwise_distance_matches_cdist():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(13, 8)), rng.normal(size=(17, 8))
    d = metrics.pairwise_distance(a, b, chunk=5).numpy()
    ref = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    np.testing.assert_allclose(d, ref, atol=1e-4)


def test_single_shot_matches_straightforward_ranking_when_every_identity_is_drawn():
    rng = np.random.default_rng(7)
    n = 50
    q_ids = rng.permutation(np.arange(1, n + 1))
    g_ids = rng.permutation(np.arange(1, n + 1))
    d = rng.random((n, n))
    expected = np.zeros(n)
    for i in range(n):  # one query, one gallery image per identity: rank its true match
        true = d[i, np.flatnonzero(g_ids == q_ids[i])[0]]
        expected[int(np.sum(d[i] < true)):] += 1
    expected /= n
    draws = metrics.single_shot_draws(d, q_ids, g_ids, np.ones(n), np.full(n, 2), num_identities=n, repeats=3,
                                      max_rank=n, rng=11)
    for curve in draws:
        np.testing.assert_allclose(curve, expected, atol=1e-12)
