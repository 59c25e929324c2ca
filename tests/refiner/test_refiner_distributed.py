"""`torchrun --nproc-per-node 2 -m refiner train`: real processes on gloo, against one process.

Each rank takes half of every global batch (crops and flips depend on the item's position
only), DDP averages the gradients and the image pools see the whole global batch, so the
two runs compute the same steps up to float32 rounding. The DDP run stops mid-epoch and
resumes, which also checks that it counts the global batch's items.

Why two steps and not more: the halves of a global batch are summed in another order than
the whole batch, so the two runs differ by a few float32 ulps per step (measured ≤ 4e-7
relative under ATEN_CPU_CAPABILITY default, avx2 and avx512). Adam's first steps are about
lr · sign(gradient), so every parameter whose gradient is near zero turns that rounding into a
full-size step of either sign, and a GAN carries it on: by step 6 the losses were 3e-3 apart
on an AVX2 machine and 6e-4 on an AVX-512 one, a property of the kernels, not of DDP. After
two steps the rounding has not yet been amplified, and a DDP run that fails to average the
gradients is already 1e-2 to 6e-2 apart (measured by replacing DDP with the bare model), so
the tolerance below separates the two by three orders of magnitude on any CPU.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from cli_process import run_cli

torch = pytest.importorskip("torch")

from refiner.apply import refine_image  # noqa: E402
from refiner.data import load_domain  # noqa: E402
from refiner.images import load_image  # noqa: E402
from refiner.model import load_checkpoint, load_generator_model  # noqa: E402

pytestmark = pytest.mark.numeric  # re-run under the AVX2 kernels (run.sh)

TINY = ["--height", "64", "--width", "32", "--ngf", "8", "--ndf", "8", "--n-blocks", "2", "--n-epochs", "1",
        "--n-epochs-decay", "1", "--pool-size", "6", "--source-subsets", "all", "--device", "cpu", "--threads", "1",
        "--batch-size", "4", "-q"]


def losses(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_two_ranks_with_a_mid_epoch_resume_train_what_one_process_trains(generated, real_root, tmp_path):
    common = ["--source", generated, "--target", real_root, *TINY]
    one = run_cli("refiner", "train", *common, "--max-steps", "2", "--output", tmp_path / "one", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    ddp = ["torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "refiner", "train"]
    first = run_cli(*ddp, *common, "--max-steps", "1", "--output", tmp_path / "two", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    rest = run_cli(*ddp, "--source", generated, "--target", real_root, "--resume", "--max-steps", "2", "-q",
                   "--output", tmp_path / "two", cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert rest.stdout.count("trained to epoch") == 1  # rank 0 alone reports

    # What is exact: the resume point (global batch items counted), the pools, the rows written.
    a, b = load_checkpoint(tmp_path / "one" / "checkpoints" / "latest.pt"), \
        load_checkpoint(tmp_path / "two" / "checkpoints" / "latest.pt")
    assert a["state"] == b["state"] == {"epoch": 0, "step": 2, "step_in_epoch": 8}
    assert len(b["pool_A"]["images"]) == len(a["pool_A"]["images"]) == 6
    rows_a, rows_b = losses(tmp_path / "one" / "losses.jsonl"), losses(tmp_path / "two" / "losses.jsonl")
    assert [r["step"] for r in rows_b] == [1, 2]  # one writer, resumed where it stopped
    # Every step's losses are the global batch's (all-reduced). 1e-5 relative is about 170
    # float32 unit roundoffs (2**-24): the partial sums of two steps in another order stay
    # far below it (see the module docstring); unsynchronised gradients land at 1e-2.
    for ra, rb in zip(rows_a, rows_b):
        for key, value in ra.items():
            assert rb[key] == pytest.approx(value, rel=1e-5, abs=1e-7), (ra["step"], key)
    # The refiners translate alike. (Weights are not compared one by one: a conv bias
    # before instance norm has a zero gradient up to rounding, and Adam turns that noise
    # into full-size steps that change nothing downstream.)
    ga = load_generator_model(tmp_path / "one" / "checkpoints" / "latest.pt", "cpu")
    gb = load_generator_model(tmp_path / "two" / "checkpoints" / "latest.pt", "cpu")
    for item in load_domain(generated, ["all"]).items[:4]:
        image = load_image(item.image)
        pa = np.asarray(refine_image(ga, image), dtype=np.int16)
        pb = np.asarray(refine_image(gb, image), dtype=np.int16)
        assert np.abs(pa - pb).max() <= 1  # 8-bit pixels: at most one rounding step apart
