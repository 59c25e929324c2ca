"""The farm on failing disks: a full filesystem, a read-only one, and injected I/O errors.

Each test ends the run with a clean stop (exit status 5, one line naming the path and the
error, no traceback, the workers told to pause), then resumes it on a healthy disk with the
same command and checks that it finishes with nothing lost and no job counted as failed.
The injected faults go through the storage seam (`SYNTH_HUMANS_FARM_FAULT`) and always run;
the tmpfs and read-only bind mount tests need `mount` (root) and skip cleanly without it. The
unwritable-folder test drops the broker's capability to override file permissions when the
tests run as root (root ignores permission bits otherwise).
"""
from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from farmkit import (Proc, broker_args, charged, finish, free_port, job_counts, unprivileged, wait_until, worker_args,
                     write_spec)
from headless.durable_io import FAULT_ENV

EXIT_STORAGE_FAULT = 5


def _mount(*args: str) -> bool:
    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=20)


def _assert_clean_stop(broker: Proc, error: str, where: str = "") -> str:
    rc = broker.wait(60)
    text = broker.text()
    assert rc == EXIT_STORAGE_FAULT, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    last = [line for line in text.splitlines() if line.strip()][-1]
    assert last.startswith("broker: storage fault on ") and error in last and where in last, last
    return last


def _resume_and_finish(out: Path, port: int, logs: Path, worker: Proc | None, n_jobs: int, tag: str,
                       **popen) -> bool:
    """The same command without a spec resumes; the paused worker (if any) reconnects and
    finishes. Returns whether the paused worker was still there to do so."""
    assert job_counts(out).get("failed", 0) == 0
    broker = Proc(broker_args(None, out, port), logs / f"broker-{tag}.log", **popen)
    paused = worker is not None and worker.alive()
    # A paused worker is not stopped by `finish`: it must end by itself on the resumed
    # broker's BYE, and on a loaded machine it may need a moment after the broker exits.
    workers = [] if paused else [Proc(worker_args(port, f"w-{tag}"), logs / f"w-{tag}.log")]
    try:
        rep = finish(broker, workers, out, timeout=90)
    except BaseException:
        if paused:
            worker.stop()
        raise
    assert rep.done == n_jobs and rep.failed == 0 and rep.images == 2 * n_jobs
    assert charged(out) == (0, 0)  # the disk's fault is never the jobs'
    return paused


@pytest.mark.parametrize("error", ["ENOSPC", "EIO", "EROFS", "EACCES", "EPERM"])
def test_injected_storage_fault_stops_cleanly_and_resumes(tmp_path, error):
    n = 12
    spec = write_spec(tmp_path / "spec.toml", characters=n, images=2)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    # The 11th file write fails (2 images, 2 masks and a metadata file per character).
    broker = Proc(broker_args(spec, out, port), logs / "broker-1.log", extra_env={FAULT_ENV: f"{error}:10"})
    worker = Proc(worker_args(port, "w", 0.02), logs / "w.log")
    _assert_clean_stop(broker, error, str(out))
    wait_until(lambda: "paused the farm" in worker.text(), 10, what="the worker to be told to pause")
    assert worker.alive()  # paused, waiting for its broker (it gives up only after --give-up)
    _resume_and_finish(out, port, logs, worker, n, "2")
    assert worker.wait(30) == 0  # the resumed broker's BYE


def test_shared_mode_storage_fault_keeps_the_paused_workers_staged_results(tmp_path):
    """Shared mode: the result being stored when the disk failed lies in its staging folder, and
    the paused worker holds only its checksums. The resumed broker keeps the staging folders of
    the leases it inherits, so the re-sent DONE is verified and stored, not rejected and charged."""
    n = 12
    spec = write_spec(tmp_path / "spec.toml", characters=n, images=2)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port, "--shared"), logs / "broker-1.log", extra_env={FAULT_ENV: "EIO:10"})
    worker = Proc(worker_args(port, "w", 0.02, "--shared-root", str(out)), logs / "w.log")
    _assert_clean_stop(broker, "EIO", str(out))
    wait_until(lambda: "paused the farm" in worker.text(), 10, what="the worker to be told to pause")
    assert any((out / ".farm" / "staging").iterdir())  # the staged result the fault interrupted
    resumed = Proc(broker_args(None, out, port, "--shared"), logs / "broker-2.log")
    rep = finish(resumed, [], out, timeout=90)
    assert rep.done == n and rep.failed == 0
    assert charged(out) == (0, 0)  # before: the staging area was wiped and the re-sent DONE rejected
    assert worker.wait(30) == 0  # the resumed broker's BYE


def test_unwritable_output_folder_stops_cleanly_and_resumes(tmp_path):
    """`chmod -R a-w` on the dataset mid-run: EACCES is a storage fault like EROFS (exit 5 naming
    the path, nothing charged to the jobs), and a plain resume finishes once it is writable."""
    n = 12
    spec = write_spec(tmp_path / "spec.toml", characters=n, images=2)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker-1.log", **unprivileged())
    worker = Proc(worker_args(port, "w", 0.1), logs / "w.log")
    wait_until(lambda: job_counts(out).get("done", 0) >= 3, 60, what="the first jobs")
    subprocess.run(["chmod", "-R", "a-w", str(out)], check=True)
    try:
        _assert_clean_stop(broker, "EACCES", str(out))
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(out)], check=True)
    assert charged(out) == (0, 0)
    if _resume_and_finish(out, port, logs, worker, n, "2", **unprivileged()):
        assert worker.wait(30) == 0  # the resumed broker's BYE


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=3m", f"farmtest-{uuid.uuid4().hex[:8]}", str(mnt)):
        pytest.skip("mounting a tmpfs is not permitted here (needs root)")
    yield mnt
    _umount(mnt)


def test_full_disk_mid_run_stops_cleanly_and_resumes(tmp_path, tmpfs):
    n = 40
    spec = write_spec(tmp_path / "spec.toml", characters=n, images=2, crop_height=64)
    out, logs, port = tmpfs / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker-1.log")
    worker = Proc(worker_args(port, "w", 0.02), logs / "w.log")
    wait_until(lambda: job_counts(out).get("done", 0) >= 3, 60, what="the first jobs")
    filler = tmpfs / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the filesystem to the last block
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    _assert_clean_stop(broker, "ENOSPC")
    filler.unlink()  # free the space, then run the same command again
    if _resume_and_finish(out, port, logs, worker, n, "2"):
        assert worker.wait(30) == 0  # the resumed broker's BYE


def test_read_only_output_stops_cleanly_and_resumes(tmp_path):
    n = 30
    spec = write_spec(tmp_path / "spec.toml", characters=n, images=2)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker-1.log")
    worker = Proc(worker_args(port, "w", 0.1), logs / "w.log")
    wait_until(lambda: job_counts(out).get("done", 0) >= 3, 60, what="the first jobs")
    masks = out / "masks"  # every character writes masks: make that folder read-only mid-run
    if not _mount("--bind", str(masks), str(masks)):
        broker.stop()
        pytest.skip("bind mounts are not permitted here (needs root)")
    try:
        if not _mount("-o", "remount,bind,ro", str(masks)):
            pytest.skip("read-only remounts are not permitted here")
        _assert_clean_stop(broker, "EROFS", "masks")
    finally:
        _umount(masks)
    if _resume_and_finish(out, port, logs, worker, n, "2"):
        assert worker.wait(30) == 0  # the resumed broker's BYE


def test_full_disk_under_the_job_table_stops_cleanly_and_resumes(tmp_path, tmpfs):
    """Only the job table writes (workers registering) once the disk is full: SQLite's
    "database or disk is full" is a storage fault too, in the loop and while stopping."""
    from farmkit import ScriptedWorker
    from headless import protocol as P

    n = 10
    spec = write_spec(tmp_path / "spec.toml", characters=n, images=2)
    out, logs, port = tmpfs / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker-1.log")
    wait_until(lambda: "broker listening on" in broker.text(), 60, what="the broker")
    with open(tmpfs / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    deadline = time.time() + 60
    i = 0
    while broker.alive() and time.time() < deadline:  # each registration is a small write to the job table
        s = ScriptedWorker(port, name=f"reg-{i}")
        s.send(P.READY, {"worker": f"reg-{i}-" + "x" * 60, "want_job": False})
        s.recv(timeout=2.0, want=P.WELCOME)  # delivered (a socket closed at once may drop it)
        s.close()
        i += 1
    _assert_clean_stop(broker, "ENOSPC", "jobs.sqlite")
    (tmpfs / "filler").unlink()
    _resume_and_finish(out, port, logs, None, n, "2")
