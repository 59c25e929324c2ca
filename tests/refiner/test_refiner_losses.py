"""The PTGAN person identity loss and the one training step."""
import pytest

torch = pytest.importorskip("torch")

from refiner.model import LOSS_NAMES, ImagePool, RefinerModel, person_identity_loss  # noqa: E402
from refiner_fixtures import tiny_options  # noqa: E402

pytestmark = pytest.mark.numeric  # re-run under the AVX2 kernels (run.sh)


def _person_and_mask(seed=0):
    g = torch.Generator().manual_seed(seed)
    source = torch.rand(2, 3, 32, 16, generator=g) * 2 - 1
    mask = torch.zeros(2, 1, 32, 16)
    mask[:, :, 6:28, 4:12] = 1.0
    return source, mask


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_person_loss_is_zero_when_only_the_background_changes(norm):
    source, mask = _person_and_mask()
    background_change = torch.rand(source.shape) * 2 - 1
    generated = source * mask + background_change * (1 - mask)
    assert not torch.equal(generated, source)
    assert float(person_identity_loss(generated, source, mask, norm)) == 0.0


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_person_loss_grows_with_foreground_change(norm):
    source, mask = _person_and_mask()
    direction = torch.rand(source.shape, generator=torch.Generator().manual_seed(1)) - 0.5
    values = [float(person_identity_loss(source + s * direction * mask, source, mask, norm))
              for s in (0.0, 0.1, 0.3, 1.0)]
    assert values[0] == 0.0
    assert all(a < b for a, b in zip(values, values[1:]))
    # l1 grows linearly, l2 quadratically
    ratio = values[3] / values[1]
    assert ratio == pytest.approx(10.0 if norm == "l1" else 100.0, rel=1e-4)


def test_person_loss_matches_its_definition():
    source, mask = _person_and_mask()
    generated = torch.rand(source.shape) * 2 - 1
    expected = ((generated - source) * mask).abs().mean()
    assert float(person_identity_loss(generated, source, mask, "l1")) == pytest.approx(float(expected))


def _batch(n=2, mask_value=1.0):
    g = torch.Generator().manual_seed(5)
    return {"A": torch.rand(n, 3, 64, 32, generator=g) * 2 - 1, "B": torch.rand(n, 3, 64, 32, generator=g) * 2 - 1,
            "A_mask": torch.full((n, 1, 64, 32), mask_value), "B_mask": torch.full((n, 1, 64, 32), mask_value)}


def test_step_reports_every_loss_and_updates_all_networks():
    model = RefinerModel(tiny_options(model="ptgan"))
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in model.nets.items()}
    losses = model.train_step(_batch())
    assert set(losses) == set(LOSS_NAMES)
    assert all(v > 0 for v in losses.values())
    for k, net in model.nets.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[k], net.parameters())), k
    assert model.state.step == 1 and model.state.step_in_epoch == 2


def test_ptgan_step_with_empty_masks_has_no_person_loss_and_cyclegan_none():
    losses = RefinerModel(tiny_options(model="ptgan")).train_step(_batch(mask_value=0.0))
    assert losses["person_A"] == 0.0 and losses["person_B"] == 0.0
    losses = RefinerModel(tiny_options(model="cyclegan", lambda_identity=0.0)).train_step(_batch())
    assert losses["person_A"] == losses["idt_A"] == 0.0


def test_stacked_batches_equal_separate_calls():
    """The speed-up (one generator call for real + identity inputs) is exact for instance norm."""
    model = RefinerModel(tiny_options())
    x, y = torch.rand(2, 3, 64, 32), torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        stacked = model._run_pair(model.G_A, x, y)
        separate = (model.G_A(x), model.G_A(y))
    for s, p in zip(stacked, separate):
        torch.testing.assert_close(s, p, rtol=1e-4, atol=1e-5)


def test_image_pool_fills_then_mixes_old_and_new():
    pool = ImagePool(4, seed=0)
    first = pool.query(torch.arange(4.0).view(4, 1, 1, 1))
    assert torch.equal(first.flatten(), torch.arange(4.0))  # filling: returns the new ones
    out = torch.cat([pool.query(torch.full((1, 1, 1, 1), 100.0 + i)) for i in range(40)]).flatten()
    assert (out < 100).any() and (out >= 100).any()  # some old fakes came back, some new passed
    assert len(pool.images) == 4
