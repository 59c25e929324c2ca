"""reid.metrics against hand-worked examples and independent straightforward implementations."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reid import metrics  # noqa: E402
from reid.metrics import kernels, reference  # noqa: E402

from reid_oracles import loop_market1501, openreid_cmc, torchreid_market1501  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.numeric]


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


def mixed_gallery_draws(d, q_pids, g_pids, q_cams, g_cams, num_identities=100, repeats=10, max_rank=None, rng=0):
    """Every draw's curve of the mixed-gallery protocol on a query × gallery matrix."""
    nq = len(q_pids)
    plan = metrics.plan_draws("mixed-gallery", np.concatenate([q_pids, g_pids]), np.concatenate([q_cams, g_cams]),
                              np.arange(nq), np.arange(nq, nq + len(g_pids)), num_identities, repeats, rng)
    return metrics.rank_draws(plan, lambda q, g: d[np.ix_(q, g - nq)], max_rank or num_identities)


def test_single_shot_hand_worked():
    ids = np.array([1, 2, 3])
    d = np.array([[0.1, 0.5, 0.9], [0.2, 0.3, 0.4], [0.5, 0.1, 0.7]])
    draws = mixed_gallery_draws(d, ids, ids, np.ones(3), np.full(3, 2), num_identities=3, repeats=4, max_rank=3)
    np.testing.assert_allclose(draws, np.tile([1 / 3, 2 / 3, 1], (4, 1)))


def test_single_shot_prefers_other_camera_gallery():
    # Identity 1 has a same-camera gallery image that is nearly identical and another-camera one far away.
    q_pids, q_cams = np.array([1, 2]), np.array([1, 1])
    g_pids, g_cams = np.array([1, 1, 2]), np.array([1, 2, 2])
    d = np.array([[0.0, 0.9, 0.5], [0.5, 0.5, 0.1]])
    c = metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, protocol="mixed-gallery", max_rank=2, num_identities=2,
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
    draws = mixed_gallery_draws(d, ids, ids, cams, cams, num_identities=100, repeats=20, rng=5)
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
    draws = mixed_gallery_draws(d, q_ids, g_ids, np.ones(n), np.full(n, 2), num_identities=n, repeats=3,
                                max_rank=n, rng=11)
    for curve in draws:
        np.testing.assert_allclose(curve, expected, atol=1e-12)


def _convention_ranks(d, q_pids, g_pids, q_cams, g_cams):
    """The documented Market-1501 convention, spelled out per query and per match: the m-th
    correct match (by distance) is ranked m + (number of kept wrong items at a distance ≤ its own)."""
    first, aps = {}, {}
    for i in range(len(q_pids)):
        kept = (g_pids != -1) & ~((g_pids == q_pids[i]) & (g_cams == q_cams[i]))
        match = np.sort(d[i, kept & (g_pids == q_pids[i])])
        wrong = d[i, kept & (g_pids != q_pids[i])]
        if len(match) == 0:
            continue
        ranks = [m + int(np.sum(wrong <= p)) for m, p in enumerate(match)]
        first[i] = ranks[0]
        aps[i] = float(np.mean([(m + 1) / (r + 1) for m, r in enumerate(ranks)]))
    return first, aps


def _assert_ranks_equal(got, expected):
    first, ap, valid = got
    exp_first, exp_ap = expected
    assert sorted(np.flatnonzero(valid)) == sorted(exp_first)
    for i in exp_first:
        assert first[i] == exp_first[i], f"query {i}"
        assert ap[i] == pytest.approx(exp_ap[i], abs=1e-12), f"query {i}"


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("chunk", [None, 1, 5])
def test_market1501_ties_follow_the_convention(backend, chunk):
    # Small integer distances: many exact ties between matches, wrong, ignored and junk items.
    rng = np.random.default_rng(4)
    d, q_pids, g_pids, q_cams, g_cams = _random_case(4, num_q=40, num_g=120, num_ids=10, junk=0.1)
    d = rng.integers(0, 6, d.shape).astype(np.float64)
    got = metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams, chunk=chunk, backend=backend)
    _assert_ranks_equal(got, _convention_ranks(d, q_pids, g_pids, q_cams, g_cams))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ties_torchreid_option_matches_an_independent_torchreid_implementation(seed):
    # Distances rounded to 0.1: many ties between matches and wrong items.
    d, q_pids, g_pids, q_cams, g_cams = _random_case(seed, num_q=30, num_g=90, num_ids=12)
    d = np.round(d, 1)
    ref_cmc, ref_map = torchreid_market1501(d, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    got = metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, max_rank=20, ties="torchreid")
    np.testing.assert_allclose(got, ref_cmc, atol=1e-12)
    assert metrics.mean_ap(d, q_pids, g_pids, q_cams, g_cams, ties="torchreid") == pytest.approx(ref_map, abs=1e-12)
    # The default convention counts every tie against the query: never above torchreid's numbers.
    pessimistic = metrics.cmc(d, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    assert (pessimistic <= got + 1e-12).all() and pessimistic.sum() < got.sum()
    assert metrics.mean_ap(d, q_pids, g_pids, q_cams, g_cams) < ref_map
    # Without ties the two conventions agree.
    e = np.random.default_rng(seed).random(d.shape)
    np.testing.assert_allclose(metrics.cmc(e, q_pids, g_pids, q_cams, g_cams, max_rank=20, ties="torchreid"),
                               metrics.cmc(e, q_pids, g_pids, q_cams, g_cams, max_rank=20), atol=1e-12)


def test_ties_hand_worked_and_bad_value():
    # One query (pid 1, camera 1); gallery: a wrong item and a match, both at distance 0.1.
    d = np.array([[0.1, 0.1, 0.5]])
    args = (np.array([1]), np.array([2, 1, 3]), np.array([1]), np.array([2, 2, 2]))
    assert metrics.cmc(d, *args, max_rank=3).tolist() == [0.0, 1.0, 1.0]  # the tie counts against the query
    expected, _ = torchreid_market1501(d, *args, max_rank=3)
    np.testing.assert_array_equal(metrics.cmc(d, *args, max_rank=3, ties="torchreid"), expected)
    with pytest.raises(ValueError, match="ties"):
        metrics.cmc(d, *args, ties="optimistic")


def test_market1501_infinite_distances():
    d, q_pids, g_pids, q_cams, g_cams = _random_case(5, num_q=30, num_g=200, num_ids=8, junk=0.05)
    d[np.random.default_rng(5).random(d.shape) < 0.2] = np.inf  # e.g. pairs ruled out beforehand
    expected = _convention_ranks(d, q_pids, g_pids, q_cams, g_cams)
    for backend in ("numpy", "torch"):
        _assert_ranks_equal(metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams, backend=backend), expected)


def test_market1501_many_matches_per_query(monkeypatch):
    # 100 images per identity and a gallery larger than a padded block: the numpy backend
    # packs each query's near items before counting, and splits blocks to bound memory.
    packed = []
    original = kernels._pack_near
    monkeypatch.setattr(kernels, "_pack_near", lambda *a: packed.append(1) or original(*a))
    d, q_pids, g_pids, q_cams, g_cams = _random_case(6, num_q=24, num_g=5000, num_ids=50, junk=0.02)
    d[q_pids[:, None] == g_pids[None, :]] -= 0.5  # a good embedding: matches mostly near
    got = metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams, chunk=16)
    assert packed
    _assert_ranks_equal(got, _convention_ranks(d, q_pids, g_pids, q_cams, g_cams))
    ref_cmc, ref_map = loop_market1501(d, q_pids, g_pids, q_cams, g_cams, max_rank=50)
    c, m_ap, _ = metrics.market1501_cmc_map(d, q_pids, g_pids, q_cams, g_cams, max_rank=len(ref_cmc))
    np.testing.assert_allclose(c, ref_cmc, atol=1e-12)
    assert m_ap == pytest.approx(ref_map, abs=1e-12)


def test_market1501_input_types_give_the_same_ranks():
    d, q_pids, g_pids, q_cams, g_cams = _random_case(7, junk=0.05)
    d = np.round(d * 50)  # exactly representable in float16 and as integers
    expected = metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams)
    for variant in (d.astype(np.float32), d.astype(np.float16), d.astype(np.int32), torch.from_numpy(d),
                    torch.from_numpy(d).to(torch.bfloat16), torch.from_numpy(d).long()):
        got = metrics.market1501_ranks(variant, torch.from_numpy(q_pids), g_pids, q_cams, g_cams)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_market1501_rejects_nan_and_bad_backend():
    d, q_pids, g_pids, q_cams, g_cams = _random_case(8)
    d[3, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams)
    with pytest.raises(ValueError, match="backend"):
        metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams, backend="cupy")


@pytest.mark.parametrize("junk", [0.0, 0.1])
def test_market1501_from_features_equals_squared_distance_matrix(junk):
    rng = np.random.default_rng(9)
    _, q_pids, g_pids, q_cams, g_cams = _random_case(9, num_q=70, num_g=400, num_ids=30, junk=junk)
    centres = rng.normal(size=(31, 16))
    qf = centres[q_pids] + rng.normal(size=(70, 16))
    gf = centres[np.maximum(g_pids, 0)] + rng.normal(size=(400, 16))
    dist = metrics.pairwise_distance(qf, gf, squared=True)
    expected = metrics.market1501_ranks(dist, q_pids, g_pids, q_cams, g_cams)
    for chunk in (None, 9):
        got = metrics.market1501_ranks_from_features(qf, gf, q_pids, g_pids, q_cams, g_cams, chunk=chunk)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, atol=1e-12)
    c, m_ap, n_valid = metrics.market1501_cmc_map_from_features(qf, gf, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    c_ref, m_ap_ref, n_ref = metrics.market1501_cmc_map(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    np.testing.assert_allclose(c, c_ref, atol=1e-12)
    assert (m_ap, n_valid) == (pytest.approx(m_ap_ref, abs=1e-12), n_ref)
    with pytest.raises(ValueError, match="features"):
        metrics.market1501_ranks_from_features(qf, gf[:, :8], q_pids, g_pids, q_cams, g_cams)


def test_market1501_threads_give_identical_ranks():
    # Several ranking threads with alternating distance buffers: many blocks, tiny chunks.
    d, q_pids, g_pids, q_cams, g_cams = _random_case(10, num_q=90, num_g=300, junk=0.05)
    rng = np.random.default_rng(10)
    qf, gf = rng.normal(size=(90, 8)), rng.normal(size=(300, 8))
    for rank in (lambda **kw: metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams, **kw),
                 lambda **kw: metrics.market1501_ranks_from_features(qf, gf, q_pids, g_pids, q_cams, g_cams, **kw)):
        expected = rank(chunk=4, workers=1)
        for got in (rank(chunk=4, workers=3), rank(chunk=5, workers=2), rank(workers=2)):
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(a, b)
    _assert_ranks_equal(metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams, chunk=3, workers=2),
                        _convention_ranks(d, q_pids, g_pids, q_cams, g_cams))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_ranking_equals_the_reference_loop_on_data_with_ties(backend, seed):
    # reid/metrics/reference.py is the readable definition; the kernels must give its numbers.
    rng = np.random.default_rng(100 + seed)
    d, q_pids, g_pids, q_cams, g_cams = _random_case(100 + seed, num_q=50, num_g=2100, num_ids=15, junk=0.05)
    d = rng.integers(0, 8, d.shape).astype(np.float64)  # many exact ties of every kind
    d[rng.random(d.shape) < 0.01] = np.inf
    q_pids[:3] = 99  # identities the gallery lacks: left out
    ref_first, ref_ap, ref_valid = reference.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams)
    assert ref_valid.any() and not ref_valid.all()  # both kinds of query occur
    first, ap, valid = metrics.market1501_ranks(d, q_pids, g_pids, q_cams, g_cams, chunk=7, backend=backend)
    np.testing.assert_array_equal(valid, ref_valid)
    np.testing.assert_array_equal(first[valid], ref_first[ref_valid])
    np.testing.assert_allclose(ap[valid], ref_ap[ref_valid], atol=1e-12)
    ref_cmc, ref_map = reference.market1501_cmc_map(d, q_pids, g_pids, q_cams, g_cams, max_rank=30)
    got_cmc, got_map, _ = metrics.market1501_cmc_map(d, q_pids, g_pids, q_cams, g_cams, max_rank=30, backend=backend)
    np.testing.assert_allclose(got_cmc, ref_cmc, atol=1e-12)
    assert got_map == pytest.approx(ref_map, abs=1e-12)
