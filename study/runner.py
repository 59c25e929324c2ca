"""Runs a plan stage by stage through the cache: skip what is done, resume what was interrupted."""
from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .cache import StageCache, StageFolder, code_version, folder_fingerprint, stage_key
from .plan import REAL_INPUT, REAL_INPUTS, REAL_TEST_INPUT, Plan, Stage
from .stages import Backend, StageContext, StageInput, environment_versions, run_stage

DONE, RESUME, PENDING = "done", "resume", "pending"


@dataclass
class StageOutcome:
    stage: Stage
    folder: StageFolder
    state: str  # "cached" (skipped), "ran", "failed", "blocked"
    seconds: float = 0.0
    error: str = ""
    record: dict[str, Any] = field(default_factory=dict)


def real_fingerprint(plan: Plan) -> dict[str, Any] | None:
    """The fingerprint of the real data on disk (None without): its training side and, when
    [real] test_path names one, its test folder under "test"."""
    real = plan.config.real
    if real.path and real.standin is None:
        out: dict[str, Any] = {}
        for key, path in (("path", real.path), ("test_path", real.test_path)):
            if not path:
                continue
            if not Path(path).exists():
                raise FileNotFoundError(f"[real] {key} {path} does not exist (see docs/experiment.md: real data)")
            out[key] = folder_fingerprint(Path(path))
        train = {**out["path"], "layout": real.layout}
        return {**train, "test": out["test_path"]} if "test_path" in out else train
    return None


def _real_input_key(src: str, real_print: dict[str, Any] | None) -> str:
    if src == REAL_TEST_INPUT:
        return json.dumps({"test": (real_print or {}).get("test")}, sort_keys=True)
    # The training side's key leaves the test folder out, so adding one keeps trained stages.
    return json.dumps({k: v for k, v in (real_print or {}).items() if k != "test"} if real_print else None,
                      sort_keys=True)


def stage_folders(plan: Plan, cache: StageCache, real_print: dict[str, Any] | None) -> dict[str, StageFolder]:
    """Every stage's key and folder, in plan order (a key includes its inputs' keys)."""
    keys: dict[str, str] = {}
    folders: dict[str, StageFolder] = {}
    for st in plan.stages:
        input_keys = {}
        for role, src in st.inputs.items():
            if src in REAL_INPUTS:
                input_keys[role] = _real_input_key(src, real_print)
            else:
                input_keys[role] = keys[src]
        key = stage_key(st.kind, st.params, input_keys, code_version(st.kind))
        keys[st.id] = key
        folders[st.id] = cache.folder(st.kind, st.name, key)
    return folders


def stage_states(folders: dict[str, StageFolder]) -> dict[str, str]:
    return {sid: DONE if f.done else RESUME if f.started else PENDING for sid, f in folders.items()}


def run_plan(plan: Plan, out: Path, backend: Backend, *, log: Callable[[str], None] = print,
             keep_going: bool = False) -> list[StageOutcome]:
    """Run every stage not yet done. A failed stage blocks the stages that need it; with
    `keep_going` the independent ones still run (the report then marks the gaps)."""
    cfg = plan.config
    cache = StageCache(out)
    real_print = real_fingerprint(plan)
    folders = stage_folders(plan, cache, real_print)
    ctx = StageContext(backend=backend, renderer=cfg.renderer, workers=cfg.workers, real_layout=cfg.real.layout,
                       real_name=cfg.real.name, real_split=bool(cfg.real.test_path))
    versions = environment_versions()
    outcomes: dict[str, StageOutcome] = {}
    n = len(plan.stages)
    for i, st in enumerate(plan.stages, 1):
        folder = folders[st.id]
        if folder.done:
            outcomes[st.id] = StageOutcome(st, folder, "cached", record=folder.record())
            log(f"[{i}/{n}] {st.id}: done earlier ({folder.final.name})")
            continue
        blocked = [src for src in st.inputs.values()
                   if src not in REAL_INPUTS and outcomes[src].state in ("failed", "blocked")]
        if blocked:
            outcomes[st.id] = StageOutcome(st, folder, "blocked", error=f"needs {', '.join(blocked)}")
            log(f"[{i}/{n}] {st.id}: blocked (needs {', '.join(blocked)})")
            continue
        inputs = {role: StageInput(src, Path(cfg.real.path)) if src == REAL_INPUT
                  else StageInput(src, Path(cfg.real.test_path)) if src == REAL_TEST_INPUT
                  else StageInput(src, folders[src].final, outcomes[src].record)
                  for role, src in st.inputs.items()}
        resumed = folder.started
        log(f"[{i}/{n}] {st.id}: {'resuming' if resumed else 'running'} in {folder.partial}")
        work = cache.begin(folder)
        t0 = time.perf_counter()
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        try:
            facts = run_stage(st, work, inputs, ctx)
        except KeyboardInterrupt:
            log(f"interrupted in {st.id}: its partial folder is kept; rerun the same command to resume")
            raise
        except Exception as exc:
            seconds = time.perf_counter() - t0
            (work / "error.txt").write_text(traceback.format_exc())
            outcomes[st.id] = StageOutcome(st, folder, "failed", seconds, f"{type(exc).__name__}: {exc}")
            log(f"[{i}/{n}] {st.id}: FAILED after {seconds:.1f} s: {exc} (traceback in {work / 'error.txt'})")
            if not keep_going:
                raise StageFailed(st.id, exc) from exc
            continue
        seconds = time.perf_counter() - t0
        (work / "error.txt").unlink(missing_ok=True)
        record = {"id": st.id, "kind": st.kind, "label": st.label, "group": st.group, "params": st.params,
                  "inputs": {r: (str(s.path) if s.stage_id in REAL_INPUTS else s.stage_id) for r, s in inputs.items()},
                  "input_keys": {r: folders[s].key for r, s in st.inputs.items() if s not in REAL_INPUTS},
                  "code": code_version(st.kind), "versions": versions, "started": started, "seconds": round(seconds, 3),
                  "resumed": resumed, **facts}
        if real_print is not None and set(REAL_INPUTS) & set(st.inputs.values()):
            record["real_fingerprint"] = real_print
        cache.finish(folder, record)
        outcomes[st.id] = StageOutcome(st, folder, "ran", seconds, record=folder.record())
        log(f"[{i}/{n}] {st.id}: done in {seconds:.1f} s")
    return [outcomes[st.id] for st in plan.stages]


class StageFailed(RuntimeError):
    def __init__(self, stage_id: str, exc: BaseException):
        super().__init__(f"stage {stage_id} failed: {type(exc).__name__}: {exc}")
        self.stage_id = stage_id
