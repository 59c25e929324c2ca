"""A content-addressed stage cache: a finished stage is never run twice, an interrupted one resumes.

A stage's key is the SHA-256 of its kind, its parameters, the keys of the stages it reads
(so a change upstream invalidates everything downstream), the fingerprint of any real data
it reads, and the version of the code that runs it (a hash of the package sources). Its
result lives in ``OUT/stages/<kind>/<name>-<key[:12]>/``:

* while it runs, in ``…-<key>.partial/`` — kept when the run is interrupted, and handed back
  to the same stage next time, so the farm's job table and the trainers' checkpoints resume
  where they stopped;
* when it has finished, the folder gets a ``stage.json`` (params, inputs, timings, versions)
  and is renamed to its final name in one atomic step. Only a folder with ``stage.json`` and
  no ``.partial`` suffix counts as done.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from synth_humans_addon.core.dataset import atomic_write

STAGE_FILE = "stage.json"
PARTIAL_SUFFIX = ".partial"
KEY_LENGTH = 12  # characters of the key in folder names (48 bits: collisions are not a concern here)

# The code each stage kind's result depends on: packages or single modules (dotted names).
# Only code that changes the *content* of a result counts: the farm's broker and transport
# do not change a rendered image, so editing them must not re-render 60,000 images.
CODE_SOURCES = {
    "generate": ("synth_humans_addon", "headless.standin"),
    "refine-train": ("refiner",),
    "refine-apply": ("refiner",),
    "reid-train": ("reid",),
    "finetune": ("reid",),
    "evaluate": ("reid", "study.stages"),
}
# Folders inside those packages that never affect a result.
IGNORED_PARTS = {"__pycache__", "ui", "tests"}

_code_versions: dict[str, str] = {}


def source_hash(name: str) -> str:
    """SHA-256 over a package's .py files (relative path and content) or one module's file,
    found without importing it. A missing one hashes to "missing".

    Hashing sources rather than a version string means an edited trainer invalidates the
    models it trained, even between releases.
    """
    if name in _code_versions:
        return _code_versions[name]
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    h = hashlib.sha256()
    if spec is None:
        digest = "missing"
    elif spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            for path in sorted(Path(root).rglob("*.py")):
                if IGNORED_PARTS & set(path.relative_to(root).parts):
                    continue
                h.update(path.relative_to(root).as_posix().encode())
                h.update(b"\0")
                h.update(path.read_bytes())
        digest = h.hexdigest()
    else:
        h.update(Path(spec.origin).read_bytes())
        digest = h.hexdigest()
    _code_versions[name] = digest
    return digest


def code_version(kind: str) -> dict[str, str]:
    return {p: source_hash(p)[:16] for p in CODE_SOURCES.get(kind, ())}


def folder_fingerprint(root: Path) -> dict[str, Any]:
    """A cheap fingerprint of data we do not produce (real datasets): file count, bytes, newest mtime.

    Reading every byte of a real dataset on each run would be slow; a changed, added or
    removed file changes the count, size or mtime.
    """
    root = Path(root)
    if root.is_file():
        st = root.stat()
        return {"path": str(root), "files": 1, "bytes": st.st_size, "mtime": int(st.st_mtime)}
    files = nbytes = newest = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            st = os.stat(os.path.join(dirpath, n))
            files += 1
            nbytes += st.st_size
            newest = max(newest, int(st.st_mtime))
    return {"path": str(root), "files": files, "bytes": nbytes, "mtime": newest}


def stage_key(kind: str, params: dict[str, Any], input_keys: dict[str, str], code: dict[str, str]) -> str:
    blob = json.dumps({"kind": kind, "params": params, "inputs": input_keys, "code": code}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class StageFolder:
    final: Path
    partial: Path
    key: str

    @property
    def done(self) -> bool:
        return (self.final / STAGE_FILE).is_file()

    @property
    def started(self) -> bool:
        return self.partial.is_dir()

    def record(self) -> dict[str, Any]:
        return json.loads((self.final / STAGE_FILE).read_text())


class StageCache:
    """The stage folders below ``OUT/stages``."""

    def __init__(self, out: Path):
        self.root = Path(out) / "stages"

    def folder(self, kind: str, name: str, key: str) -> StageFolder:
        # "#s7" marks a training seed's stage (plan.build_plan); "#" is awkward in shells
        safe = name.replace("/", "_").replace("@", "_at_").replace("+", "_plus_").replace("#s", "_seed")
        final = self.root / kind / f"{safe}-{key[:KEY_LENGTH]}"
        return StageFolder(final=final, partial=final.with_name(final.name + PARTIAL_SUFFIX), key=key)

    def begin(self, folder: StageFolder) -> Path:
        """The working folder: the partial folder of an interrupted run is reused as it is."""
        folder.partial.mkdir(parents=True, exist_ok=True)
        return folder.partial

    def finish(self, folder: StageFolder, record: dict[str, Any]) -> None:
        """Write stage.json into the working folder, then rename it into place (atomic)."""
        record = {**record, "key": folder.key, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write(folder.partial / STAGE_FILE, json.dumps(record, indent=1, default=str).encode())
        if folder.final.exists():  # a stale final folder without stage.json (cannot happen normally)
            import shutil

            shutil.rmtree(folder.final)
        os.replace(folder.partial, folder.final)

    def stale(self, kind: str, keep: Iterable[Path]) -> list[Path]:
        """Folders of `kind` not in `keep` (results of older specs or code): listed, never deleted."""
        keep = {Path(p) for p in keep}
        base = self.root / kind
        return sorted(p for p in base.iterdir() if p not in keep) if base.is_dir() else []
