"""`reid train` never overwrites a run silently, says how to resume after Ctrl-C; `reid diagnose`
computes docs/results.md's two colour diagnostics; the folder layout reads Market-1501 names."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _reid(capsys, *args) -> tuple[int, str, str]:
    from reid.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_into_a_run_folder_refuses_without_resume_or_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"a previous run")
    (run / "history.json").write_text("[1, 2]")
    code, _, err = _reid(capsys, "train", "--data", tmp_path / "nowhere", "-o", run)
    assert code == 2 and "holds a previous run" in err and "--resume" in err and "--overwrite" in err
    assert (run / "last.pt").read_bytes() == b"a previous run" and err.count("\n") == 1
    # --resume into a folder with nothing to resume is refused too
    code, _, err = _reid(capsys, "train", "--data", tmp_path / "nowhere", "-o", tmp_path / "empty", "--resume")
    assert code == 2 and "no run to resume" in err
    # --overwrite removes the previous run's files before anything else (then the missing data stops it)
    code, _, err = _reid(capsys, "train", "--data", tmp_path / "nowhere", "-o", run, "--overwrite")
    assert code == 2 and "nowhere" in err and not (run / "last.pt").exists() and not (run / "history.json").exists()


def test_ctrl_c_during_training_prints_the_resume_command(tmp_path, capsys, monkeypatch):
    import reid.engine

    run = tmp_path / "run"

    def interrupted(opt):
        run.mkdir(exist_ok=True)
        (run / "last.pt").write_bytes(b"epoch 1")
        raise KeyboardInterrupt

    monkeypatch.setattr(reid.engine, "train", interrupted)
    code, _, err = _reid(capsys, "train", "--data", tmp_path, "-o", run, "--epochs", "3")
    assert code == 130
    line = err.strip().splitlines()[-1]
    assert "interrupted; resume with: " in line and line.endswith(f"--epochs 3 --resume"), line


def test_evaluate_requires_data_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder: nothing may be crawled
    code, _, err = _reid(capsys, "evaluate", "--checkpoints", "x.pt", "-o", "ev")
    assert code == 2 and "--data" in err and err.count("\n") == 1


def test_other_camera_rank1_never_matches_a_crop_to_itself_or_its_camera():
    from reid.diagnose import nearest_other_camera_rank1

    # crop 0's nearest neighbour overall is crop 1 (same camera, other identity): not allowed;
    # among camera 2 its nearest is crop 2, its own identity.
    f = np.array([[0.0], [0.1], [1.0], [5.0]], np.float32)
    pids, cams = np.array([1, 2, 1, 2]), np.array([1, 1, 2, 2])
    rank1, counted = nearest_other_camera_rank1(f, pids, cams)
    # 0 → 2 (pid 1, hit); 1 → 2 (pid 1, miss); 2 → 1 (pid 2, miss); 3 → 1 (pid 2, hit)
    assert counted == 4 and rank1 == 0.5
    # an identity seen by one camera only cannot be found and is not counted
    rank1, counted = nearest_other_camera_rank1(f, np.array([1, 2, 1, 3]), cams)
    assert counted == 2


def test_spread_within_and_between_identities():
    from reid.diagnose import spread

    s = spread({1: [10.0, 20.0], 2: [30.0, 50.0], 3: [40.0]})
    assert s["within"] == pytest.approx(np.mean([5.0, 10.0]))  # identity 3 has one image: no within
    assert s["between"] == pytest.approx(np.std([15.0, 40.0, 40.0]))


def test_diagnose_a_generated_dataset_with_masks(tmp_path, capsys):
    from reid.data.synthetic import make_procedural_dataset, small_spec
    from synth_humans_addon.core.dataset import read_dataset

    root = make_procedural_dataset(tmp_path / "ds", small_spec(characters=12, images_per_character=4, validation=0,
                                                                 test=0, crop_height=48))
    code, out, err = _reid(capsys, "diagnose", "--data", root, "--json", "-q")
    assert code == 0, err
    r = json.loads(out)
    assert r["images"] == 48 and r["identities"] == 12 and 0 < r["colour_alone"]["rank1"] <= 1
    # the background's spread, computed here directly from the images and masks
    by_pid: dict[int, list[float]] = {}
    for rec in read_dataset(root).train:
        px = np.asarray(Image.open(rec.path).convert("RGB"), np.float32).mean(2)
        bg = np.asarray(Image.open(rec.mask_path).convert("L")) < 128
        by_pid.setdefault(rec.pid, []).append(float(px[bg].mean()))
    assert r["spread"]["background"]["within"] == pytest.approx(np.mean([np.std(v) for v in by_pid.values()]))
    assert r["spread"]["background"]["between"] == pytest.approx(np.std([np.mean(v) for v in by_pid.values()]))
    code, out, _ = _reid(capsys, "diagnose", root)  # the table; the positional form is still accepted
    assert code == 0 and "| colour alone finds the same identity" in out and "| background: between |" in out


def test_market_named_crops_in_a_plain_folder_load_with_one_warning(tmp_path, capsys, caplog):
    from reid.data import LoadOptions, load_dataset

    crops = tmp_path / "crops"
    crops.mkdir()
    for pid in (2, 7):
        for cam in (1, 2):
            for k in (1, 2):
                Image.new("RGB", (16, 32), (pid * 30, cam * 60, 90)).save(crops / f"{pid:04d}_c{cam}s1_{k:06d}_01.jpg")
    for name in ("IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"):
        Image.new("RGB", (16, 32)).save(crops / name)
    with caplog.at_level(logging.WARNING):
        data = load_dataset(crops, LoadOptions(layout="folder", folder_role="test"))
    assert {(it.pid, it.camid) for it in data.query + data.gallery} == {(2, 1), (2, 2), (7, 1), (7, 2)}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 image(s)" in warnings[0] and "IMG_1.jpg" in warnings[0]
    code, out, _ = _reid(capsys, "diagnose", "--data", crops, "--layout", "folder", "--json", "-q")
    r = json.loads(out)
    assert code == 0 and r["spread"] is None and r["colour_alone"]["rank1"] == 1.0  # colours are per identity
