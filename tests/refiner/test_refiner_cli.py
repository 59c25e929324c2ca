"""`python -m refiner` as a user runs it: one line per mistake, exit code 2, the family's conventions."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from cli_process import assert_user_error, run_cli

pytestmark = pytest.mark.torch


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 junk, not a checkpoint")
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (16, 32), (90, 120, 30)).save(tmp_path / "imgs" / "0001_c1_000.jpg")
    return tmp_path


@pytest.mark.parametrize("args, needles", [
    (["apply", "--checkpoint", "junk.pt", "--input", "imgs", "--output", "out"],
     ["junk.pt", "not a refiner checkpoint"]),
    (["apply", "--checkpoint", "junk.pt", "--input", "imgs", "--output", "afile/x"], ["--output afile/x"]),
    (["apply", "--checkpoint", "nope.pt", "--input", "imgs", "--output", "out"], ["--checkpoint nope.pt"]),
    (["train", "--source", "imgs", "--target", "imgs", "--output", "afile/run"], ["--output afile/run"]),
    (["train", "--source", "imgs", "--target", "imgs", "--output", "run", "--norm", "layer"], ["--norm"]),
])
def test_mistakes_are_one_line_with_exit_code_2(folder, args, needles):
    assert_user_error(run_cli("refiner", *args, cwd=folder), *needles)


def test_masks_without_network_say_what_to_do(folder):
    # An empty torch hub cache and a proxy nobody listens on: the download fails at once.
    offline = {"TORCH_HOME": str(folder / "hub"), "https_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
    r = run_cli("refiner", "masks", "--input", "imgs", "--output", "masks", "-q", cwd=folder, env=offline)
    line = assert_user_error(r, "DeepLabV3 weights", "--weights", "--segmenter python:")
    assert str(folder / "hub") in line  # where to put the file


def test_program_name_version_and_help(folder):
    r = run_cli("refiner", cwd=folder)
    assert r.returncode == 2 and "usage: python -m refiner" in r.stderr and "apply" in r.stderr
    v = run_cli("refiner", "--version", cwd=folder)
    assert v.returncode == 0 and "synth-humans" in v.stdout
    h = " ".join(run_cli("refiner", "train", "--help", cwd=folder).stdout.split())
    assert "--model {cyclegan,ptgan}" in h and "--norm {instance,batch,none}" in h
    assert "(default: 256)" in h and "(default: cyclegan)" in h and "--workers WORKERS" in h
    assert "--num-workers" not in h and "-q, --quiet" in h


def test_old_and_new_spellings_parse_alike():
    from refiner.cli import build_parser

    p = build_parser()
    base = ["train", "--source", "a", "--target", "b", "-o", "r"]
    assert p.parse_args(base + ["--workers", "3"]).opt_num_workers == 3
    assert p.parse_args(base + ["--num-workers", "3"]).opt_num_workers == 3
    assert p.parse_args(base + ["--no-progress"]).quiet and p.parse_args(base + ["-q"]).quiet


def test_apply_skips_a_missing_image_and_strict_refuses_it(generated, tmp_path):
    import shutil

    import torch

    from refiner.model import RefinerModel
    from refiner.options import RefinerOptions
    from synth_humans_addon.core.dataset import read_dataset

    src = tmp_path / "gen"
    shutil.copytree(generated, src)
    victim = sorted((src / "bounding_box_train").iterdir())[0]
    victim.unlink()
    opts = RefinerOptions(height=64, width=32, ngf=4, ndf=4, n_blocks=1, device="cpu")
    torch.save(RefinerModel(opts, "cpu", for_training=False).state_dict(), tmp_path / "g.pt")
    args = ["apply", "--checkpoint", "g.pt", "--input", "gen", "-q"]
    assert_user_error(run_cli("refiner", *args, "--output", "strict", "--strict", cwd=tmp_path), victim.name)
    r = run_cli("refiner", *args, "--output", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "missing and were skipped" in r.stderr and "refined 31 images" in r.stdout
    assert len(read_dataset(tmp_path / "out").images) == 31


def test_train_prints_its_time_estimate_after_the_first_steps(generated, real_root, tmp_path, capsys):
    from refiner.train import train
    from refiner_fixtures import tiny_options

    train(tiny_options(batch_size=4), generated, real_root, tmp_path / "run", max_steps=5, progress=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("estimate: ")]
    assert len(lines) == 1, lines
    # 5 steps in all; the estimate comes once three steps after the warm-up were timed
    assert re.fullmatch(r"estimate: [01] steps left × \d+\.\d\d s/step = \d+ s on this device", lines[0]), lines


def test_estimate_line_warns_when_the_run_is_days_long():
    from refiner.train import estimate_line

    assert "GPU-scale" in estimate_line(30000, 34.0) and "283.3 h" in estimate_line(30000, 34.0)
    assert estimate_line(100, 0.5) == "estimate: 100 steps left × 0.50 s/step = 50 s on this device"


def test_the_smallest_frame_is_what_the_patchgan_takes():
    import torch

    from refiner.networks import build_discriminator
    from refiner.options import OptionsError, RefinerOptions, min_frame_side

    for layers in (1, 2, 3):
        side = min_frame_side(layers)
        opts = RefinerOptions(height=side, width=side, n_layers_d=layers, ndf=4)
        d = build_discriminator(opts).train()
        assert d(torch.zeros(2, 3, side, side)).shape[-1] >= 1  # the smallest frame runs
        with pytest.raises(Exception):  # 4 pixels less does not
            d(torch.zeros(2, 3, side - 4, side - 4))
        with pytest.raises(OptionsError, match="at least"):
            RefinerOptions(height=side - 4 if side > 4 else 4, width=side, n_layers_d=layers).validate()
    assert min_frame_side(3) == 24
