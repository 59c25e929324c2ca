"""`python -m reid` as a user runs it: one line per mistake, exit code 2, the family's conventions."""
from __future__ import annotations

import json

import pytest

from cli_process import assert_user_error, run_cli

pytest.importorskip("torch")
pytestmark = pytest.mark.torch


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "junk.pt").write_bytes(b"\x80junk, not a checkpoint")
    (tmp_path / "dataset.json").write_text(json.dumps({"format": "synth-humans-dataset", "name": "d"}))
    return tmp_path


@pytest.mark.parametrize("args, needles", [
    (["evaluate", "--checkpoints", "junk.pt", "--data", "nowhere", "-o", "e"], ["junk.pt", "not a synth-humans re-id checkpoint"]),
    (["evaluate", "--checkpoints", "missing.pt", "--data", "nowhere", "-o", "e"], ["--checkpoints missing.pt"]),
    (["plot", "dataset.json"], ["dataset.json", "not a results.json"]),
    (["train", "--data", "nowhere", "--output", "afile/run"], ["--output afile/run", "afile is a file"]),
    (["train", "--data", "nowhere", "-o", "r", "--epochs", "-1"], ["--epochs -1", "at least 1"]),
    (["train", "--data", "nowhere", "-o", "r", "--arch", "resnet"], ["--arch", "resnet50"]),
    (["finetune", "--data", "nowhere", "-o", "r", "--from", "junk.pt", "--sampler", "pq"], ["--sampler"]),
    (["info", "nowhere"], ["nowhere"]),
])
def test_mistakes_are_one_line_with_exit_code_2(folder, args, needles):
    assert_user_error(run_cli("reid", *args, cwd=folder), *needles)


def test_program_name_version_and_help(folder):
    r = run_cli("reid", cwd=folder)
    assert r.returncode == 2 and "usage: python -m reid" in r.stderr and "finetune" in r.stderr
    assert "synth-reid" not in r.stderr
    v = run_cli("reid", "--version", cwd=folder)
    assert v.returncode == 0 and "synth-humans" in v.stdout
    h = run_cli("reid", "train", "--help", cwd=folder).stdout
    assert "--data DIR" in h and "-o DIR, --output DIR" in h and "(default: )" not in h and "--arch {inception," in h
    assert "-q, --quiet" in h and "--no-progress" not in h and "--strict" in h


def test_old_and_new_spellings_parse_alike():
    from reid.cli import build_parser

    p = build_parser()
    for flag in ("--quiet", "-q", "--no-progress"):
        assert p.parse_args(["train", "--data", "d", "-o", "r", flag]).progress is False
    assert p.parse_args(["train", "--data", "d", "--out", "r"]).progress is True
    assert p.parse_args(["plot", "r.json", "--protocol", "thesis"]).protocol == "thesis"  # old spelling
    assert p.parse_args(["info", "d"]).data_positional == "d"  # the old positional dataset
    assert p.parse_args(["plot", "r.json", "--output", "x.png"]).output == "x.png"


def test_options_refuse_unknown_keys_and_bad_values():
    from reid.options import EvalOptions, OptionsError, TrainOptions

    with pytest.raises(OptionsError, match="epoch"):
        TrainOptions.from_dict({"epoch": 3})
    with pytest.raises(OptionsError, match="epochs"):
        TrainOptions.from_dict({"epochs": "3"})
    with pytest.raises(OptionsError, match="arch"):
        TrainOptions.from_dict({"arch": "resnet"})
    with pytest.raises(OptionsError, match="subset"):
        EvalOptions.from_dict({"subset": "train"})
    opt = TrainOptions(epochs=2, lr=1)
    assert TrainOptions.from_dict(opt.to_dict()) == opt


def test_option_choices_match_the_packages_that_use_them():
    from reid import metrics
    from reid.data import layout_names
    from reid.models import ARCHS
    from reid.options import CHOICES

    assert CHOICES["arch"] == ARCHS
    assert CHOICES["layout"] == ("auto", *layout_names())
    assert set(CHOICES["protocols"]) == set(metrics.PROTOCOLS)
