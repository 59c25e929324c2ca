"""The GPU paths of re-id: mixed-precision training and GPU ranking (skipped without CUDA).

CI has no GPU; these run where one is (`python -m pytest tests/reid/test_reid_cuda.py`).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import reid  # noqa: E402
from reid import metrics  # noqa: E402
from reid.data.synthetic import make_procedural_dataset, small_spec  # noqa: E402
from reid.device import autocast_dtype  # noqa: E402
from reid.metrics import reference  # noqa: E402
from reid.options import TrainOptions  # noqa: E402

pytestmark = [pytest.mark.torch,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
GPU = torch.device("cuda")


def test_auto_mode_picks_a_half_precision_dtype_on_the_gpu():
    want = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert autocast_dtype("auto", GPU) is want
    assert autocast_dtype("fp16", GPU) is torch.float16
    assert autocast_dtype("off", GPU) is None


def test_amp_training_on_the_gpu_learns_and_its_checkpoint_loads_on_the_cpu(tmp_path):
    spec = small_spec(characters=16, images_per_character=6, validation=4, test=0, crop_height=32, seed=5)
    data = make_procedural_dataset(tmp_path / "data", spec)
    opts = dict(data=str(data), height=32, width=16, batch_size=24, lr=0.1, epochs=3, step_size=0, workers=0,
                progress=False, val_identities=4, val_repeats=2, eval_every=5, num_test=0, device="cuda")
    amp = reid.train(TrainOptions(output=str(tmp_path / "amp"), amp="auto", **opts))
    fp32 = reid.train(TrainOptions(output=str(tmp_path / "fp32"), amp="off", **opts))
    losses = [h["loss"] for h in amp.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert losses[0] == pytest.approx(fp32.history[0]["loss"], rel=0.05)
    state = torch.load(amp.last_checkpoint, map_location="cpu", weights_only=False)["model"]
    assert all(t.device.type == "cpu" and t.dtype == torch.float32 for t in state.values() if t.is_floating_point())


@pytest.mark.parametrize("seed", [0, 1])
def test_gpu_ranking_matches_the_plain_reference(seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, 32)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, 40, 150), rng.integers(0, 40, 900)
    g_pids[rng.random(900) < 0.1] = -1  # junk
    q_cams, g_cams = rng.integers(1, 3, 150), rng.integers(1, 3, 900)
    qf = centres[q_pids] + rng.normal(size=(150, 32)).astype(np.float32)
    gf = centres[g_pids] + rng.normal(size=(900, 32)).astype(np.float32)
    cmc, m_ap, _ = metrics.market1501_cmc_map_from_features(torch.from_numpy(qf).cuda(), torch.from_numpy(gf).cuda(),
                                                           q_pids, g_pids, q_cams, g_cams, max_rank=50)
    dist = ((qf[:, None, :].astype(np.float64) - gf[None, :, :]) ** 2).sum(-1)
    first, ap, valid = reference.market1501_ranks(dist, q_pids, g_pids, q_cams, g_cams)
    want_cmc = np.array([(first[valid] <= r).mean() for r in range(50)])
    np.testing.assert_allclose(cmc, want_cmc, atol=1e-6)
    assert m_ap == pytest.approx(ap[valid].mean(), abs=1e-5)
