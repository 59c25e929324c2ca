"""Where the farm keeps its files in a dataset folder, and the light view of a character that
names a character's dataset files.

The job table and the staging area live under ``DATASET/.farm/``. Every attempt gets its own
staging folder, ``.farm/staging/<job>_<attempt>/``, named by the broker; files inside are
named ``<k:03d>.image`` / ``<k:03d>.mask`` by the broker too. A worker never chooses a path: it
names a file by (k, kind), which the broker checks against the job's samples, so path
traversal is impossible.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


FARM_DIR = ".farm"
STAGING_DIR = "staging"
DB_NAME = "jobs.sqlite"


def farm_dir(root: Path) -> Path:
    return Path(root) / FARM_DIR


def db_path(root: Path) -> Path:
    return farm_dir(root) / DB_NAME


def staging_relpath(job: int, attempt: int) -> str:
    return f"{FARM_DIR}/{STAGING_DIR}/{job:05d}_{attempt:04d}"


def staged_name(k: int, kind: str) -> str:
    return f"{k:03d}.{kind}"


@dataclass
class ImageView:
    k: int
    subset: str
    camera_id: int
    pose_phase: float


class CharacterView:
    """The few fields of a stored character sample that naming and metadata need.

    Duck-types `CharacterSample` for `image_relpath`, `mask_relpath` and `character_record`;
    the broker handles thousands of jobs a second and rebuilding the full dataclass tree
    (`CharacterSample.from_dict`) costs milliseconds it does not need to spend."""

    __slots__ = ("_d", "index", "pid", "split", "images", "json_text")

    def __init__(self, d: dict[str, Any], json_text: str | None = None):
        self._d = d
        self.json_text = json_text  # `d` as JSON, when known: the metadata embeds it without re-encoding
        self.index, self.pid, self.split = int(d["index"]), int(d["pid"]), d["split"]
        self.images = [ImageView(int(i["k"]), i["subset"], int(i["camera_id"]), float(i["pose_phase"]))
                       for i in d["images"]]

    @classmethod
    def from_json(cls, text: str) -> "CharacterView":
        return cls(json.loads(text), text)

    def to_dict(self) -> dict[str, Any]:
        return self._d
