"""A study killed with SIGKILL in the middle of training resumes with the same command.

Real processes end to end: `python -m headless experiment` with the stand-in renderer
(through the farm), the real re-id trainer and evaluation; the test kills the whole process
group as soon as the re-id stage has written its first checkpoint, runs the command again
and checks that finished stages are not redone and the trainer continued from its epoch.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 6
EXPERIMENT = f"""
[experiment]
name = "killed"
seed = 11
renderer = "standin"
workers = 1
device = "cpu"

[generate.overrides]
dataset = {{ characters = 16, images_per_character = 4, test_characters = 0, validation_characters = 4 }}
render = {{ crop_height = 48 }}

[[datasets]]
name = "I"
preset = "I"

[real]
name = "fake-real"
[real.standin]
name = "fake-real"
preset = "II"
overrides = {{ dataset = {{ name = "fake-real", seed = 5, characters = 16, images_per_character = 4, test_characters = 8, validation_characters = 2 }}, render = {{ crop_height = 48 }} }}

[refine]
models = []

[reid]
train = {{ epochs = {EPOCHS}, height = 32, width = 16, batch_size = 8, workers = 0, features = 16, num_test = 0 }}
finetune = {{ epochs = 1, height = 32, width = 16, batch_size = 8, workers = 0, features = 16, num_test = 0 }}
train_on_real = false

[evaluate]
protocols = ["mixed-gallery"]
identities = 8
repeats = 3
max_rank = 8
ranks = [1, 5]
own_test = false
"""


def _start(exp: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "headless", "experiment", str(exp), "--output", str(out), "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_a_study_killed_mid_training_resumes_and_finishes(tmp_path):
    exp = tmp_path / "killed.toml"
    exp.write_text(EXPERIMENT)
    out = tmp_path / "out"
    proc = _start(exp, out)
    train_dir = out / "stages" / "reid-train"
    deadline = time.monotonic() + 300
    killed_after = None
    while time.monotonic() < deadline and proc.poll() is None:
        partial = list(train_dir.glob("I-*.partial/history.json")) if train_dir.is_dir() else []
        if partial:
            killed_after = len(json.loads(partial[0].read_text() or "[]"))
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(30)
    assert killed_after is not None, f"the run never reached training:\n{proc.stdout.read()[-3000:]}"
    assert 1 <= killed_after < EPOCHS
    assert list(train_dir.glob("I-*.partial")) and not list(train_dir.glob("I-*[0-9a-f]/stage.json"))

    again = _start(exp, out)
    text, _ = again.communicate(timeout=600)
    assert again.returncode == 0, text[-3000:]
    assert "generate/I: done earlier" in text and "generate/fake-real: done earlier" in text
    assert "reid-train/I: resuming" in text
    (stage,) = train_dir.glob("I-*[0-9a-f]/stage.json")
    record = json.loads(stage.read_text())
    assert record["resumed"] is True
    history = json.loads((stage.parent / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))  # no epoch lost or repeated
    report = json.loads((out / "report" / "report.json").read_text())
    assert {"I", "colour-histogram"} <= set(report["questions"]["all"]["mixed-gallery"])
    assert not list((out / "stages").glob("*/*.partial"))
