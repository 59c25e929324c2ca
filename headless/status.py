"""`python -m headless status DATASET`: jobs by state, workers and their rates, failures.

Reads the job table read-only while the broker runs (SQLite WAL allows it), so it can be
called from any machine that sees the dataset folder.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .jobs import STATES, JobTable
from .dataset_audit import audit
from .farm_layout import db_path


@dataclass
class WorkerLine:
    name: str
    host: str
    state: str
    jobs_done: int
    images_done: int
    images_per_hour: float  # over the worker's life so far
    seconds_per_image: float | None  # render time only
    last_seen_s: float  # seconds ago
    current_job: int | None


@dataclass
class FarmStatus:
    dataset: str
    jobs: dict[str, int]
    images_done: int
    images_total: int
    workers: list[WorkerLine] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)  # parked jobs and jobs that failed before
    events: list[dict[str, Any]] = field(default_factory=list)
    # Security events the broker counted: refused CURVE handshakes, messages about leases the
    # peer does not hold, rejected results, malformed and stale messages.
    security: dict[str, int] = field(default_factory=dict)


def read_status(root: Path, events: int = 10) -> FarmStatus:
    root = Path(root)
    table = JobTable(db_path(root), readonly=True)
    try:
        now = time.time()
        done, total = table.image_counts()
        st = FarmStatus(dataset=str(root), jobs=table.counts(), images_done=done, images_total=total)
        try:
            st.security = {k: int(v) for k, v in json.loads(table.get_meta("security") or "{}").items()}
        except (ValueError, TypeError, AttributeError):
            st.security = {}
        for r in table.db.execute("SELECT name, host, state, jobs_done, images_done, render_s, first_seen, last_seen, "
                                  "current_job FROM workers ORDER BY name"):
            life = max(1e-9, r["last_seen"] - r["first_seen"])
            st.workers.append(WorkerLine(
                r["name"], r["host"] or "", r["state"] or "", r["jobs_done"], r["images_done"],
                r["images_done"] * 3600.0 / life if r["images_done"] else 0.0,
                r["render_s"] / r["images_done"] if r["images_done"] else None, now - r["last_seen"], r["current_job"]))
        for r in table.db.execute("SELECT id, pid, state, failures, lost, last_error FROM jobs "
                                  "WHERE state='failed' OR failures>0 ORDER BY state='failed' DESC, id LIMIT 50"):
            st.failures.append(dict(r))
        for r in table.db.execute("SELECT t, kind, detail FROM events ORDER BY t DESC LIMIT ?", (events,)):
            st.events.append({"t": r["t"], "kind": r["kind"], "detail": r["detail"]})
        return st
    finally:
        table.close()


def error_summary(error: str | None) -> str:
    """The line of a job's error that says what went wrong: the first line (`Type: message`),
    not the traceback after it."""
    lines = (error or "").strip().splitlines()
    return lines[0].strip() if lines else "-"


def group_failures(failures: list[dict]) -> list[tuple[str, list[dict]]]:
    """Failed jobs grouped by their error line: one bad input file that fails every job is
    one reason naming the file, with the jobs it failed (most frequent reason first)."""
    groups: dict[str, list[dict]] = {}
    for f in failures:
        groups.setdefault(error_summary(f.get("last_error")), []).append(f)
    return sorted(groups.items(), key=lambda kv: -len(kv[1]))


def format_status(st: FarmStatus) -> str:
    lines = [f"dataset  {st.dataset}"]
    pct = 100.0 * st.images_done / st.images_total if st.images_total else 0.0
    lines.append(f"images   {st.images_done}/{st.images_total} ({pct:.1f} %)")
    lines.append("jobs     " + "  ".join(f"{s} {st.jobs.get(s, 0)}" for s in STATES))
    active = [w for w in st.workers if w.state in ("idle", "busy")]
    lines.append(f"workers  {len(active)} connected, {len(st.workers)} seen")
    if st.workers:
        lines.append(f"  {'name':<28} {'state':<12} {'jobs':>6} {'images':>7} {'img/h':>8} {'s/img':>7} {'seen':>7}")
        for w in st.workers:
            spi = f"{w.seconds_per_image:.2f}" if w.seconds_per_image is not None else "-"
            lines.append(f"  {w.name[:28]:<28} {w.state[:12]:<12} {w.jobs_done:>6} {w.images_done:>7} "
                         f"{w.images_per_hour:>8.0f} {spi:>7} {w.last_seen_s:>6.0f}s")
    if st.failures:
        lines.append("failures (jobs with the same error are listed once)")
        for reason, jobs in group_failures(st.failures):
            parked = sum(f["state"] == "failed" for f in jobs)
            ids = ", ".join(str(f["id"]) for f in jobs[:8]) + (", …" if len(jobs) > 8 else "")
            lines.append(f"  {reason[:200]}")
            lines.append(f"    {len(jobs)} job(s) ({parked} parked as failed): {ids}")
    if any(st.security.values()):
        names = {"handshakes_refused": "refused handshakes", "refused": "refused (not the lease holder)",
                 "rejected": "rejected results", "malformed": "malformed", "stale": "stale"}
        lines.append("security " + "  ".join(f"{names.get(k, k)} {v}" for k, v in st.security.items()))
    if st.events:
        lines.append("recent events")
        for e in st.events:
            lines.append(f"  {time.strftime('%H:%M:%S', time.localtime(e['t']))} {e['kind']:<7} {e['detail'][:150]}")
    return "\n".join(lines)


def main(root: Path, as_json: bool = False, verify: bool = False) -> int:
    from synth_humans_addon.core.cli_conventions import UserError

    if not Path(root).is_dir():
        raise UserError(f"--data {root}: no such folder")
    try:
        st = read_status(root)
    except FileNotFoundError:
        raise UserError(f"--data {root}: not a dataset folder of `generate` or `broker` (no job table)") from None
    report = audit(root) if verify else None
    if as_json:
        out = asdict(st)
        if report is not None:
            out["audit"] = report.as_dict() | {"problems": report.problems[:50]}
        print(json.dumps(out, indent=1))
    else:
        print(format_status(st))
        if report is not None:
            print("audit    " + "  ".join(f"{k} {v}" for k, v in report.as_dict().items()))
            for p in report.problems[:20]:
                print(f"  {p}")
    return 0 if report is None or report.ok else 1
