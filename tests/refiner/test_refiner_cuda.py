"""The refiner's GPU path: mixed precision and channels-last training (skipped without CUDA)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refiner.model import load_checkpoint, load_generator_model  # noqa: E402
from refiner.train import train  # noqa: E402
from refiner_fixtures import tiny_options  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_amp_training_on_the_gpu_stays_finite_and_saves_float32_weights(generated, real_root, tmp_path):
    opts = tiny_options(model="cyclegan", n_epochs=1, n_epochs_decay=1, device="cuda", amp="auto", channels_last="auto")
    result = train(opts, generated, real_root, tmp_path / "run", progress=False)
    assert result.history and all(np.isfinite(v) for row in result.history for k, v in row.items()
                                  if isinstance(v, float))
    nets = load_checkpoint(result.latest_checkpoint)["nets"]
    tensors = [t for state in nets.values() for t in state.values() if t.is_floating_point()]
    assert tensors and all(t.dtype == torch.float32 for t in tensors)
    model = load_generator_model(result.latest_checkpoint, "cpu")  # a GPU-trained refiner translates on the CPU
    assert model.device.type == "cpu"
