"""One small farm run with the real Blender renderer (bpy), end to end through `generate`."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from farmkit import REPO, env, write_spec
from headless.dataset_audit import audit
from synth_humans_addon.core.dataset import read_dataset


@pytest.mark.blender
@pytest.mark.slow
def test_generate_with_the_real_renderer(tmp_path):
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("the bpy module is not installed")
    if importlib.util.find_spec("synth_humans_addon.blender.job") is None:
        pytest.skip("synth_humans_addon.blender.job (the SCENE helper's renderer) does not exist yet")
    spec = write_spec(tmp_path / "spec.toml", characters=2, images=2, crop_height=64, test=0, validation=0)
    out = tmp_path / "ds"
    # The workers import bpy in their own processes; this test process never does.
    proc = subprocess.run([sys.executable, "-m", "headless", "generate", str(spec), "--out", str(out),
                           "--workers", "1", "--renderer", "bpy", "--no-progress"], env=env(), cwd=str(REPO),
                          capture_output=True, text=True, timeout=900)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in (out / ".farm" / "logs").glob("*.log"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:] + logs
    assert f"dataset: {out.resolve()}" in proc.stdout
    assert (out / "contact_sheet.png").is_file()
    rep = audit(out)
    assert rep.ok and rep.done == 2 and rep.images == 4, rep.problems
    ds = read_dataset(out)
    assert all(r.info.get("frame_size") for r in ds.images)
