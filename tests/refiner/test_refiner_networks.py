"""Network shapes and parameter counts against the reference CycleGAN."""
import pytest

torch = pytest.importorskip("torch")

from refiner.networks import NLayerDiscriminator, ResnetGenerator, count_parameters, init_weights  # noqa: E402
from refiner.options import RefinerOptions  # noqa: E402
from refiner.model import RefinerModel  # noqa: E402


def test_default_parameter_counts_match_the_reference():
    # junyanz/pytorch-CycleGAN-and-pix2pix: resnet_9blocks ngf=64, resnet_6blocks, basic PatchGAN ndf=64
    assert count_parameters(ResnetGenerator(3, 3, 64, "instance", False, 9)) == 11_378_179
    assert count_parameters(ResnetGenerator(3, 3, 64, "instance", False, 6)) == 7_837_699
    assert count_parameters(NLayerDiscriminator(3, 64, 3, "instance")) == 2_764_737


def test_default_options_build_the_reference_networks():
    model = RefinerModel(RefinerOptions(device="cpu"))
    assert count_parameters(model.G_A) == count_parameters(model.G_B) == 11_378_179
    assert count_parameters(model.D_A) == count_parameters(model.D_B) == 2_764_737


@pytest.mark.parametrize("hw", [(256, 128), (128, 64), (64, 32), (64, 64)])
def test_generator_keeps_non_square_shapes(hw):
    g = ResnetGenerator(3, 3, 8, n_blocks=2)
    x = torch.rand(2, 3, *hw) * 2 - 1
    y = g(x)
    assert y.shape == x.shape
    assert y.min() >= -1 and y.max() <= 1  # tanh output


def test_patchgan_scores_a_map_of_70px_patches():
    d = NLayerDiscriminator(3, 8, 3)
    # 256×128 → 30×14 patches (the reference's 256×256 gives 30×30)
    assert d(torch.zeros(1, 3, 256, 128)).shape == (1, 1, 30, 14)
    assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_init_is_seeded_and_normal():
    a = init_weights(ResnetGenerator(3, 3, 8, n_blocks=1), "normal", 0.02, torch.Generator().manual_seed(3))
    b = init_weights(ResnetGenerator(3, 3, 8, n_blocks=1), "normal", 0.02, torch.Generator().manual_seed(3))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    w = a.model[1].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.005
    assert float(a.model[1].bias.detach().abs().max()) == 0.0
