"""The tiny experiment end to end with the real components: the farm, the refiner, re-id.

`test_tiny_with_blender` is exactly `python -m headless experiment examples/experiments/tiny.toml`
(CI). Where the Blender renderer is missing, `test_tiny_with_standin_renders` runs the same
experiment with the farm's stand-in renderer instead (same farm, refiner, re-id and report
code); where it exists, that test is skipped so CI does not pay for the tiny study twice.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from study.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "examples" / "experiments" / "tiny.toml"


def _blender_renderer_present() -> bool:
    # find_spec on the parent package only: importing the renderer would import bpy, which
    # the Blender-free test session forbids.
    spec = importlib.util.find_spec("synth_humans_addon.blender")
    return bool(spec and spec.submodule_search_locations and importlib.util.find_spec("bpy") and any(
        (Path(p) / "job.py").is_file() for p in spec.submodule_search_locations))


def _check_rerun_is_cached(out: Path, argv: list[str]) -> None:
    assert main(argv) == 0
    data = json.loads((out / "report" / "report.json").read_text())
    assert {s["state"] for s in data["stages"]} == {"cached"}


def _check_report(out: Path) -> dict:
    rep = out / "report"
    data = json.loads((rep / "report.json").read_text())
    assert data["skipped"] == [] and all(s["state"] in ("ran", "cached") for s in data["stages"])
    assert set(data["questions"]) == {"all", "attributes", "refinement", "synthetic_vs_real", "finetuning"}
    assert "colour-histogram" in data["questions"]["all"]["thesis"]
    svr = data["questions"]["synthetic_vs_real"]["thesis"]
    assert set(svr) == {"I", "IV", "R-I", "R-IV", "standin-real", "colour-histogram", "chance"}
    chance1 = svr["chance"]["ranks"]["1"]
    for label, row in svr.items():
        r = row["ranks"]
        assert 0 <= r["1"] <= r["5"] <= 1, label
    # trained and tested on the (stand-in) real domain's held-out characters: clearly above chance
    assert svr["standin-real"]["ranks"]["1"] > chance1
    assert data["questions"]["finetuning"]["thesis"]["standin-real"]["ranks"]["5"] > \
        data["questions"]["finetuning"]["thesis"]["chance"]["ranks"]["5"]
    # the appendix: every artificial model on its own test split, above chance too
    own = data["appendix"]["thesis"]
    assert set(own) >= {"I", "IV", "R-I", "R-IV"}
    assert max(own[k]["ranks"]["1"] for k in ("I", "IV", "R-I", "R-IV")) > own["chance"]["ranks"]["1"]
    for f in ("README.md", "plots/finetuning_thesis.png", "samples/R-IV.png", "samples/standin-real.png",
              "specs/IV.toml", "specs/standin-real.toml"):
        assert (rep / f).is_file(), f
    return data


@pytest.mark.slow
@pytest.mark.torch
def test_tiny_with_standin_renders(tmp_path, capfd):
    pytest.importorskip("torch")
    if _blender_renderer_present():
        pytest.skip("the Blender renderer exists: test_tiny_with_blender runs the tiny experiment")
    out = tmp_path / "tiny"
    argv = [str(TINY), "--out", str(out), "--renderer", "standin", "--quiet"]
    assert main(argv) == 0
    assert "img/s" not in capfd.readouterr().err  # --quiet reaches the farm's child process too
    _check_report(out)
    _check_rerun_is_cached(out, argv)  # a second run finds every stage done, rebuilds the report


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.blender
def test_tiny_with_blender(tmp_path, capfd):
    pytest.importorskip("torch")
    pytest.importorskip("bpy")
    try:
        import synth_humans_addon.blender.job  # noqa: F401  (the real renderer)
    except ImportError as exc:
        pytest.skip(f"the Blender renderer is not available yet: {exc}")
    out = tmp_path / "tiny"
    argv = [str(TINY), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert "img/s" not in capfd.readouterr().err  # --quiet reaches the farm's child process too
    _check_report(out)
    _check_rerun_is_cached(out, argv)
