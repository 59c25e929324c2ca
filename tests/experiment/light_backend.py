"""A light Backend for testing the experiment's orchestration without Blender or training.

Everything here does real work on real files, only cheaper: generation draws the farm's
stand-in figures in-process (through the core dataset writer), the "refiner" applies a fixed
colour transform, the "re-id model" is a colour histogram. The cache, resume, evaluation
protocols and report code run unchanged on top of it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from study.refs import DataRef, ModelRef, TestSplit
from headless.standin import render_character
from synth_humans_addon.core.dataset import character_complete, create_dataset, read_dataset, write_character
from synth_humans_addon.core.sampling import expand_dataset
from synth_humans_addon.core.spec_io import spec_to_dict


class Interrupt(KeyboardInterrupt):
    """Raised by the backend to simulate Ctrl-C in the middle of a stage."""


class LightBackend:
    def __init__(self, interrupt_generate_after: int | None = None):
        self.calls: list[tuple[str, str]] = []
        self.interrupt_generate_after = interrupt_generate_after
        self.characters_rendered = 0

    def generate(self, spec, out: Path, *, renderer: str, workers: int) -> None:
        self.calls.append(("generate", spec.dataset.name))
        create_dataset(out, spec.dataset.name, spec_to_dict(spec))
        for ch in expand_dataset(spec):
            if character_complete(out, ch.pid):
                continue  # resume: finished characters are kept
            if self.interrupt_generate_after is not None and self.characters_rendered >= self.interrupt_generate_after:
                self.interrupt_generate_after = None
                raise Interrupt()
            write_character(out, ch, render_character(spec, ch))
            self.characters_rendered += 1

    def refine_train(self, source: DataRef, target: DataRef, options, out: Path, *, device: str) -> Path:
        self.calls.append(("refine_train", source.name))
        # "Training": the mean colour of each domain; the refiner shifts A's mean to B's.
        def mean(root: Path) -> list[float]:
            ims = [np.asarray(Image.open(p).convert("RGB"), np.float32).reshape(-1, 3).mean(0)
                   for p in sorted(root.rglob("*.jpg"))[:50]]
            return np.mean(ims, 0).tolist()
        ckpt = out / "checkpoints" / "latest.pt"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        ckpt.write_text(json.dumps({"shift": (np.array(mean(target.path)) - np.array(mean(source.path))).tolist()}))
        return ckpt

    def refine_apply(self, checkpoint: Path, source: DataRef, out: Path, *, device: str) -> None:
        self.calls.append(("refine_apply", source.name))
        shift = np.array(json.loads(Path(checkpoint).read_text())["shift"], np.float32)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(source.path, out, ignore=shutil.ignore_patterns(".farm"))
        for r in read_dataset(out).images:
            a = np.asarray(Image.open(r.path).convert("RGB"), np.float32) + shift
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(r.path, quality=92)

    def reid_train(self, data: DataRef, options, out: Path, *, seed: int, device: str, init=None) -> ModelRef:
        self.calls.append(("reid_train" if init is None else "finetune", data.name))
        ckpt = out / "best.pt"
        # The histogram's bins per channel come from `features`: a real TrainOptions field,
        # so the experiment file's up-front option checks accept it.
        bins = int(options.get("features", 4)) + seed % 3  # another training seed, another model
        ckpt.write_text(json.dumps({"bins": bins, "init": str(init.checkpoint) if init else ""}))
        (out / "summary.json").write_text(json.dumps({"best_score": 0.5, "epochs": options.get("epochs", 1)}))
        return ModelRef(out, ckpt)

    def test_split(self, data: DataRef, *, seed: int) -> TestSplit:
        ds = read_dataset(data.path)
        q, g = ds.query, ds.gallery
        return TestSplit([r.path for r in q], np.array([r.pid for r in q]), np.array([r.camera_id for r in q]),
                         [r.path for r in g], np.array([r.pid for r in g]), np.array([r.camera_id for r in g]))

    def embed(self, model: ModelRef, images, *, device: str) -> np.ndarray:
        self.calls.append(("embed", model.path.name))
        bins = json.loads(Path(model.checkpoint).read_text())["bins"]
        feats = []
        for p in images:
            a = np.asarray(Image.open(p).convert("RGB"), np.int64).reshape(-1, 3) * bins // 256
            idx = a[:, 0] * bins * bins + a[:, 1] * bins + a[:, 2]
            h = np.bincount(idx, minlength=bins ** 3).astype(np.float64)
            feats.append(h / np.linalg.norm(h))
        return np.stack(feats).astype(np.float32)
