"""Mixed precision: the one mode table (reid.device.autocast_dtype) and bf16 training on the CPU."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import reid  # noqa: E402
from reid.data.synthetic import make_procedural_dataset, small_spec  # noqa: E402
from reid.device import autocast_dtype  # noqa: E402
from reid.options import OptionsError, TrainOptions  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.numeric]
CPU = torch.device("cpu")


def test_mode_table_on_the_cpu():
    assert autocast_dtype("off", CPU) is None
    assert autocast_dtype("auto", CPU, cpu_auto=False) is None
    assert autocast_dtype("bf16", CPU) is torch.bfloat16
    with pytest.raises(ValueError, match="fp16"):
        autocast_dtype("fp16", CPU)
    with pytest.raises(ValueError, match="'fp8'"):
        autocast_dtype("fp8", CPU)


def test_old_boolean_amp_reads_as_a_mode():
    assert TrainOptions.from_dict({"amp": True}).amp == "auto"
    assert TrainOptions.from_dict({"amp": False}).amp == "off"
    with pytest.raises(OptionsError, match="amp") as err:
        TrainOptions.from_dict({"amp": "fp8"})
    assert err.value.field == "amp"


def test_bf16_training_on_the_cpu_learns_and_keeps_float32_weights(tmp_path):
    torch.set_num_threads(1)
    spec = small_spec(characters=16, images_per_character=6, validation=4, test=0, crop_height=32, seed=5)
    data = make_procedural_dataset(tmp_path / "data", spec)
    opts = dict(data=str(data), height=32, width=16, batch_size=24, lr=0.1, epochs=3, step_size=0, workers=0,
                threads=1, progress=False, val_identities=4, val_repeats=2, eval_every=5, num_test=0)
    bf16 = reid.train(TrainOptions(output=str(tmp_path / "bf16"), amp="bf16", **opts))
    fp32 = reid.train(TrainOptions(output=str(tmp_path / "fp32"), amp="off", **opts))
    losses = [h["loss"] for h in bf16.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    # Same data, same seed: bf16 follows the float32 run closely, but not bit for bit.
    assert losses[0] == pytest.approx(fp32.history[0]["loss"], rel=0.05)
    assert losses != [h["loss"] for h in fp32.history]
    state = torch.load(bf16.last_checkpoint, map_location="cpu", weights_only=False)["model"]
    assert all(t.dtype == torch.float32 for t in state.values() if t.is_floating_point())


@pytest.mark.parametrize("env, reason", [({"ATEN_CPU_CAPABILITY": "avx2"}, "ATEN_CPU_CAPABILITY"),
                                         ({"ATEN_CPU_CAPABILITY": "default"}, "ATEN_CPU_CAPABILITY"),
                                         ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "ONEDNN_MAX_CPU_ISA")])
def test_auto_trains_in_float32_where_the_kernels_are_capped_below_native_bf16(env, reason):
    """The caps that reproduce an AVX2-only machine make `auto` choose what that machine
    does, and say why (a process of its own: torch reads the caps when it loads)."""
    import os
    import subprocess
    import sys

    code = ("import torch; from reid.device import describe_amp, autocast_dtype; "
            "print(autocast_dtype('auto', torch.device('cpu'), cpu_auto=True)); "
            "print(describe_amp('auto', torch.device('cpu'), cpu_auto=True))")
    base = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    dtype, line = out.stdout.strip().splitlines()
    assert dtype == "None" and line.startswith("amp auto: float32") and reason in line
