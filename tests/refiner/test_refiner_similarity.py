"""SPGAN's similarity-preserving loss: the contrastive terms, the Siamese network, and that it trains."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refiner.model import LOSS_NAMES, RefinerModel, load_checkpoint  # noqa: E402
from refiner.options import OptionsError  # noqa: E402
from refiner.similarity import SiameseNet, contrastive_loss, similarity_losses  # noqa: E402
from refiner.train import train  # noqa: E402
from refiner_fixtures import save_untrained_reid_checkpoint, tiny_options  # noqa: E402


def _unit(rows):
    t = torch.tensor(rows, dtype=torch.float32)
    return t / t.norm(dim=1, keepdim=True)


def test_contrastive_loss_pulls_positives_and_pushes_negatives_inside_the_margin():
    a, b = _unit([[1.0, 0.0]]), _unit([[0.0, 1.0]])  # √2 apart
    assert float(contrastive_loss(a, a, True, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(contrastive_loss(a, b, True, 2.0)) == pytest.approx(0.5 * 2.0)
    assert float(contrastive_loss(a, b, False, 2.0)) == pytest.approx(0.5 * (2.0 - 2 ** 0.5) ** 2)
    assert float(contrastive_loss(a, -a, False, 2.0)) == pytest.approx(0.0, abs=1e-6)  # antipodal: at the margin
    assert float(contrastive_loss(a, b, False, 1.0)) == 0.0  # beyond a smaller margin


@pytest.mark.parametrize("height, width", [(128, 64), (64, 32), (24, 24)])
def test_siamese_embeddings_are_unit_vectors_for_any_frame(height, width):
    e = SiameseNet(width=8)(torch.rand(3, 3, height, width) * 2 - 1)
    assert e.shape == (3, 8)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))


def test_the_generators_get_the_gradient_and_the_frozen_embedding_none():
    model = RefinerModel(tiny_options(lambda_similarity=2.0))
    s = model.nets["S"].requires_grad_(False)
    real_a, real_b = torch.rand(2, 3, 64, 32) * 2 - 1, torch.rand(2, 3, 64, 32) * 2 - 1
    side_a, side_b = similarity_losses(s, real_a, model.G_A(real_a), real_b, model.G_B(real_b), 2.0)
    (side_a + side_b).backward()
    for net in (model.G_A, model.G_B):
        assert sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None) > 0
    assert all(p.grad is None for p in s.parameters())


def _batch(seed=5):
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(2, 3, 64, 32, generator=g) * 2 - 1, "B": torch.rand(2, 3, 64, 32, generator=g) * 2 - 1}


def test_step_reports_the_similarity_losses_and_updates_the_siamese_network():
    model = RefinerModel(tiny_options(lambda_similarity=2.0))
    before = [p.detach().clone() for p in model.nets["S"].parameters()]
    losses = model.train_step(_batch())
    assert list(losses) == [*LOSS_NAMES, "sim_A", "sim_B", "S"]
    assert losses["sim_A"] > 0 and losses["sim_B"] > 0 and losses["S"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.nets["S"].parameters()))
    off = RefinerModel(tiny_options())
    assert "S" not in off.nets and list(off.train_step(_batch())) == list(LOSS_NAMES)


def test_options_refuse_a_negative_weight_or_margin():
    with pytest.raises(OptionsError, match="lambda_similarity"):
        tiny_options(lambda_similarity=-1.0)
    with pytest.raises(OptionsError, match="similarity_margin"):
        tiny_options(lambda_similarity=1.0, similarity_margin=0.0)


@pytest.fixture(scope="module")
def spgan(generated, real_root, tmp_path_factory):
    """A CycleGAN with the similarity loss: 2 epochs × 32 steps on the procedural domains."""
    torch.set_num_threads(1)
    opts = tiny_options(lambda_similarity=2.0, n_epochs=2, n_epochs_decay=0)
    return train(opts, generated, real_root, tmp_path_factory.mktemp("spgan") / "run", progress=False)


def test_it_trains_the_siamese_network_and_keeps_translations_near_their_sources(spgan, generated, real_root):
    h = spgan.history
    assert len(h) == 64 and all(np.isfinite(r[k]) for r in h for k in ("sim_A", "sim_B", "S"))
    q = len(h) // 4
    first, last = np.mean([r["S"] for r in h[:q]]), np.mean([r["S"] for r in h[-q:]])
    assert last < 0.7 * first, (first, last)
    # in the trained embedding a translation is nearer its source than the other domain's image
    from refiner.data import UnalignedPairs, load_domain, parse_mask_source
    from refiner.images import PairTransform
    from refiner.similarity import SiameseNet

    ck = load_checkpoint(spgan.latest_checkpoint)
    model = RefinerModel(tiny_options(lambda_similarity=2.0, n_epochs=2, n_epochs_decay=0))
    model.load_state_dict(ck)
    a, b = load_domain(generated, ["all"]), load_domain(real_root)
    pairs = UnalignedPairs(a, b, parse_mask_source("auto", a.layout), parse_mask_source("auto", b.layout),
                           PairTransform(64, 32, 64, 32, False, "edge"))
    batch = pairs.fixed_batch(8)
    s: SiameseNet = model.nets["S"].eval()
    with torch.no_grad():
        fake_b = model.translate(batch["A"])
        e_a, e_fb, e_b = s(batch["A"]), s(fake_b), s(batch["B"])
    positive, negative = (e_a - e_fb).norm(dim=1).mean(), (e_fb - e_b).norm(dim=1).mean()
    assert positive < 0.5 * negative, (float(positive), float(negative))


def test_the_siamese_network_resumes_with_the_run(generated, real_root, tmp_path):
    opts = tiny_options(lambda_similarity=2.0, n_epochs=1, n_epochs_decay=0, pool_size=4)
    straight = train(opts, generated, real_root, tmp_path / "straight", progress=False)
    train(opts, generated, real_root, tmp_path / "split", max_steps=20, progress=False)
    rest = train(None, generated, real_root, tmp_path / "split", resume=True, progress=False)
    assert rest.step == straight.step == 32
    a, b = load_checkpoint(straight.latest_checkpoint), load_checkpoint(rest.latest_checkpoint)
    for name, tensor in a["nets"]["S"].items():
        torch.testing.assert_close(b["nets"]["S"][name], tensor, rtol=0, atol=1e-6, msg=name)


def test_a_frozen_reid_embedding_is_used_and_left_unchanged(tmp_path):
    path = save_untrained_reid_checkpoint(tmp_path / "best.pt")
    model = RefinerModel(tiny_options(lambda_similarity=2.0, similarity_embedding=str(path)))
    reid_before = {k: v.clone() for k, v in model.embedding.model.state_dict().items()}
    g_before = [p.detach().clone() for p in model.G_A.parameters()]
    losses = model.train_step(_batch())
    assert "S" not in losses and losses["sim_A"] > 0 and losses["sim_B"] > 0
    assert not model.embedding.training and not model.embedding.model.training  # batch norm keeps its statistics
    for k, v in model.embedding.model.state_dict().items():
        assert torch.equal(v, reid_before[k]), k
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.G_A.parameters()))
