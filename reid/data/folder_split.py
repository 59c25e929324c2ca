"""Turn a flat folder of crops named by some site's own convention into train/ and test/
folders of the ``folder`` layout (``<pid>_c<cam>_<n>.<ext>``), split by identity.

Real data stays where the user keeps it: the new folders hold hard links (or copies where a
link is impossible), never new image bytes, and a ``split.json`` that records which
identities went where, the seed and the source, so a split can be rebuilt and audited.

CUHK03's public crop release names files ``NNNN_SS.jpg`` (identity, slot; slots 0–4 are
camera 1, 5–9 camera 2)::

    python -m reid split-folder labeled/train --out ~/data/cuhk03-dev \\
        --pattern '(?P<pid>\\d+)_(?P<slot>\\d+)' --camera-of-slot 0-4=1,5-9=2 --test-identities 100
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from synth_humans_addon.core.dataset import link_or_copy

from .layouts import IMAGE_EXTENSIONS


class FolderSplitError(ValueError):
    """A bad pattern, camera rule or source folder; the message names it."""


@dataclass(frozen=True)
class NamingRule:
    """How a file name yields an identity and a camera.

    `pattern` is a regular expression matched at the start of the file name with a named
    group ``pid`` and either a group ``cam`` (the camera number itself) or a group ``slot``
    that `camera_of_slot` maps to a camera (e.g. ``{0: 1, …, 4: 1, 5: 2, …}``).
    """

    pattern: str = r"(?P<pid>-?\d+)_c?(?P<cam>\d+)"
    camera_of_slot: dict[int, int] = field(default_factory=dict)

    def compiled(self) -> re.Pattern:
        try:
            rx = re.compile(self.pattern)
        except re.error as exc:
            raise FolderSplitError(f"--pattern {self.pattern!r}: not a regular expression ({exc})") from None
        groups = set(rx.groupindex)
        if "pid" not in groups or not ({"cam", "slot"} & groups):
            raise FolderSplitError(f"--pattern {self.pattern!r}: needs a (?P<pid>…) group and a (?P<cam>…) "
                                   "or (?P<slot>…) group")
        if "slot" in groups and "cam" not in groups and not self.camera_of_slot:
            raise FolderSplitError("--pattern has a slot group: give --camera-of-slot (e.g. 0-4=1,5-9=2)")
        return rx

    def parse(self, name: str, rx: re.Pattern) -> tuple[int, int, str] | None:
        """(pid, camera, slot text) of a file name, or None when it does not match."""
        m = rx.match(name)
        if not m:
            return None
        groups = m.groupdict()
        slot = groups.get("slot") or ""
        if groups.get("cam") is not None:
            cam = int(groups["cam"])
        else:
            cam = self.camera_of_slot.get(int(slot))
            if cam is None:
                raise FolderSplitError(f"{name}: slot {int(slot)} has no camera in --camera-of-slot")
        return int(groups["pid"]), cam, slot


def parse_camera_of_slot(text: str) -> dict[int, int]:
    """``"0-4=1,5-9=2"`` → {0: 1, 1: 1, …, 9: 2}."""
    out: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            slots, cam = part.split("=")
            lo, _, hi = slots.partition("-")
            for s in range(int(lo), int(hi or lo) + 1):
                out[s] = int(cam)
        except ValueError:
            raise FolderSplitError(f"--camera-of-slot {text!r}: expected ranges like 0-4=1,5-9=2") from None
    return out


@dataclass
class SplitSummary:
    source: str
    out: str
    seed: int
    train_identities: int
    train_images: int
    test_identities: int
    test_images: int
    skipped: list[str]


def split_folder(source: str | Path, out: str | Path, rule: NamingRule = NamingRule(), test_identities: int = 100,
                 seed: int = 0, max_train_identities: int = 0, max_images_per_identity: int = 0) -> SplitSummary:
    """Write ``out/train`` and ``out/test`` (the ``folder`` layout) from the crops in `source`.

    `test_identities` whole identities, drawn by a seeded permutation, form the test set; the
    rest is the training side, optionally cut to `max_train_identities` identities and
    `max_images_per_identity` images each (first images of each camera in turn, so both
    cameras stay represented) to train at a chosen budget.
    """
    source, out = Path(source).expanduser(), Path(out).expanduser()
    if not source.is_dir():
        raise FolderSplitError(f"{source}: no such folder")
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise FolderSplitError(f"--out {out}: must not lie inside the source folder {source}")
    rx = rule.compiled()
    by_pid: dict[int, list[tuple[Path, int, str]]] = {}
    skipped = []
    for p in sorted(source.iterdir()):
        if not p.is_file() or p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        parsed = rule.parse(p.name, rx)
        if parsed is None:
            skipped.append(p.name)
            continue
        pid, cam, slot = parsed
        by_pid.setdefault(pid, []).append((p, cam, slot))
    pids = sorted(by_pid)
    if len(pids) <= test_identities:
        raise FolderSplitError(f"{source}: {len(pids)} identities matched {rule.pattern!r}; need more than "
                               f"--test-identities {test_identities}")
    order = np.random.default_rng(seed).permutation(len(pids))
    test_ids = sorted(pids[i] for i in order[:test_identities])
    train_ids = [pids[i] for i in order[test_identities:]]
    if max_train_identities:
        train_ids = train_ids[:max_train_identities]
    train_ids.sort()

    def pick(files):
        if not max_images_per_identity:
            return files
        by_cam: dict[int, list] = {}
        for f in files:
            by_cam.setdefault(f[1], []).append(f)
        queues = [by_cam[c] for c in sorted(by_cam)]
        picked = []
        while len(picked) < max_images_per_identity and any(queues):
            for q in queues:
                if q and len(picked) < max_images_per_identity:
                    picked.append(q.pop(0))
        return sorted(picked, key=lambda f: f[0].name)

    counts = {}
    for subset, ids, limit in (("train", train_ids, True), ("test", test_ids, False)):
        folder = out / subset
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        n = 0
        for pid in ids:
            files = pick(by_pid[pid]) if limit else by_pid[pid]
            for k, (p, cam, slot) in enumerate(files):
                link_or_copy(p, folder / f"{pid:04d}_c{cam}_{slot or k:0>2}{p.suffix.lower()}")
                n += 1
        counts[subset] = n
    summary = SplitSummary(str(source), str(out), seed, len(train_ids), counts["train"], len(test_ids),
                           counts["test"], skipped)
    record = {**asdict(summary), "pattern": rule.pattern,
              "camera_of_slot": {str(k): v for k, v in rule.camera_of_slot.items()},
              "max_train_identities": max_train_identities, "max_images_per_identity": max_images_per_identity,
              "test_pids": test_ids, "train_pids": train_ids}
    (out / "split.json").write_text(json.dumps(record, indent=1))
    return summary
