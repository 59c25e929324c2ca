"""The embedded default farm: a broker and N local worker processes over loopback, one command.

`generate` runs the broker in this process and starts the workers as child processes (each
`python -m headless worker --connect tcp://127.0.0.1:<port>`); a worker that crashes is
started again, one stopped by SIGINT or SIGTERM (exit status 130 or 143) is not. At the end
it prints where the dataset is and saves a contact sheet. Running it again on the same folder
resumes. Before that, every character the job table calls done is verified as
`status --verify` does (files present, checksums matching): one whose image or mask is
missing or corrupt is deleted and rendered again, so rerunning `generate` repairs a dataset
(docs/cli.md). After Ctrl-C the returned stats say `interrupted`.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from synth_humans_addon.core.processes import env_with_pythonpath
from synth_humans_addon.core.spec import Spec

from .broker import BrokerConfig, BrokerStats, run_broker
from .worker_config import stopped_on_purpose

log = logging.getLogger("headless.generate")

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_LOCAL_WORKERS = 256


def default_workers(renderer: str) -> int:
    cores = os.cpu_count() or 1
    # Cycles uses every core of its process; a few Blender processes keep the CPU busy while
    # one builds its scene. The stand-in is single-threaded: one per core.
    return max(1, cores // 4) if renderer == "bpy" else cores


def renderer_available(renderer: str) -> str | None:
    """None if usable, else why not (checked before starting a farm that would only fail)."""
    if renderer != "bpy":
        return None
    import importlib.util

    try:
        if importlib.util.find_spec("bpy") is None:
            return "the bpy module is not installed (pip install bpy==5.0.1, or use --renderer standin)"
        if importlib.util.find_spec("synth_humans_addon.blender.job") is None:
            return ("the Blender renderer synth_humans_addon.blender.job is not available in this checkout "
                    "(use --renderer standin)")
    except ImportError as exc:
        return str(exc)
    return None


@dataclass
class LocalWorkers:
    """Child worker processes, restarted when one dies while the run goes on."""

    endpoint: str
    count: int
    renderer: str
    log_dir: Path
    standin_sleep_s: float = 0.0
    max_restarts: int = 20

    def __post_init__(self):
        self.procs: list[subprocess.Popen | None] = [None] * self.count
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="workers", daemon=True)

    def command(self, i: int) -> list[str]:
        return [sys.executable, "-m", "headless", "worker", "--connect", self.endpoint, "--renderer", self.renderer,
                "--name", f"local-{i + 1}", "--give-up", "30", "--standin-sleep", str(self.standin_sleep_s)]

    def _spawn(self, i: int) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_dir / f"worker-{i + 1}.log", "ab")
        self.procs[i] = subprocess.Popen(self.command(i), stdout=logf, stderr=subprocess.STDOUT,
                                         env=env_with_pythonpath(REPO_ROOT),
                                         cwd=str(REPO_ROOT))
        logf.close()

    def start(self) -> None:
        for i in range(self.count):
            self._spawn(i)
        self._thread.start()

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            for i, p in enumerate(self.procs):
                if p is not None and p.poll() is not None and not self._stop.is_set():
                    # A crash is restarted; a worker stopped on purpose (Ctrl-C, a SIGTERM) is not.
                    crashed = p.returncode != 0 and not stopped_on_purpose(p.returncode)
                    if crashed and self.restarts < self.max_restarts:
                        log.warning("worker %d exited with %s; starting it again (see %s)", i + 1, p.returncode,
                                    self.log_dir / f"worker-{i + 1}.log")
                        self.restarts += 1
                        self._spawn(i)
                    else:
                        self.procs[i] = None

    def stop(self, timeout: float = 10.0) -> None:
        """Workers leave on the broker's BYE; any still running after `timeout` are terminated."""
        self._stop.set()
        deadline = time.time() + timeout
        for p in self.procs:
            if p is None:
                continue
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()


def save_samples_sheet(out: Path, max_images: int = 40) -> Path | None:
    """A contact sheet of up to `max_images` images spread over the characters."""
    from synth_humans_addon.core.dataset import (SUBSET_GALLERY, SUBSET_QUERY, SUBSET_TRAIN, SUBSET_VALIDATION,
                                                 read_dataset)

    from .contact_sheet import save_contact_sheet

    ds = read_dataset(out, check_files=False)
    if not ds.images:
        return None
    by_pid: dict[int, list] = {}
    for r in ds.images:
        by_pid.setdefault(r.pid, []).append(r)
    picked = []
    while len(picked) < max_images and any(by_pid.values()):
        for pid in sorted(by_pid):
            if by_pid[pid] and len(picked) < max_images:
                picked.append(by_pid[pid].pop(0))
    picked = [r for r in picked if r.path.is_file()]
    if not picked:
        return None
    short = {SUBSET_TRAIN: "train", SUBSET_GALLERY: "gallery", SUBSET_QUERY: "query", SUBSET_VALIDATION: "val"}
    return save_contact_sheet([r.path for r in picked], Path(out) / "contact_sheet.png",
                              [f"{r.pid:04d} c{r.camera_id} {short.get(r.subset, r.subset)}" for r in picked])


def repair_lost_files(out: Path, progress: bool = True) -> int:
    """Send back to the queue every done character whose files verification finds missing or
    corrupt (its leftovers deleted); returns how many. Nothing to do in a new folder."""
    from tqdm import tqdm

    from .dataset_recovery import character_intact, remove_character_files
    from .farm_layout import CharacterView, db_path
    from .jobs import JobTable

    if not db_path(out).is_file():
        return 0
    table = JobTable(db_path(out))
    try:
        done = table.done_pids()
        broken = [(job, pid) for job, pid in tqdm(done, desc="verifying", unit="character", leave=False,
                                                  disable=not progress or len(done) < 200)
                  if not character_intact(out, pid)]
        for job, _ in broken:
            remove_character_files(out, CharacterView.from_json(table.sample_json(job)))
            table.undo_done(job)
        table.commit()
    finally:
        table.close()
    if broken:
        log.warning("%d finished character(s) had missing or corrupt files: rendering them again", len(broken))
    return len(broken)


def generate(spec: Spec | None, out: Path, workers: int | None = None, renderer: str = "bpy",
             standin_sleep_s: float = 0.0, progress: bool = True, **broker_options) -> BrokerStats:
    """Generate (or resume) a dataset with a local farm. Raises ValueError naming a bad argument
    and RuntimeError if the renderer is missing; a storage fault ends it with `stats.storage_fault`."""
    if workers is not None and not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise ValueError(f"--workers {workers}: must be 1..{MAX_LOCAL_WORKERS}")
    if not standin_sleep_s >= 0:
        raise ValueError(f"--standin-sleep {standin_sleep_s}: must be 0 or more")
    cfg = BrokerConfig(out=Path(out), bind="tcp://127.0.0.1:0", progress=progress, **broker_options)
    why = renderer_available(renderer)
    if why:
        raise RuntimeError(why)
    out = Path(out)
    n = workers or default_workers(renderer)
    pool: list[LocalWorkers] = []
    repair_lost_files(out, progress)
    interrupted = threading.Event()

    def started(endpoint: str) -> None:
        # The broker stops cleanly on SIGINT (run_broker's handler); note that it was Ctrl-C, so
        # the command can say "interrupted" instead of reporting a finished run.
        previous = signal.getsignal(signal.SIGINT)

        def on_interrupt(signum, frame):
            interrupted.set()
            if callable(previous):
                previous(signum, frame)

        try:
            signal.signal(signal.SIGINT, on_interrupt)
        except ValueError:  # not the main thread
            pass
        lw = LocalWorkers(endpoint, n, renderer, out / ".farm" / "logs", standin_sleep_s)
        lw.start()
        pool.append(lw)

    stats = None
    try:
        stats = run_broker(cfg, spec, ready_callback=started)
        stats.interrupted = interrupted.is_set()
    finally:
        # Workers leave on the broker's BYE; after a storage fault (PAUSE) or an error they are stopped now.
        prompt = stats is None or stats.storage_fault is not None
        for lw in pool:
            lw.stop(timeout=0.0 if prompt else 10.0)
    return stats
