"""Reliability of the farm under faults: real processes, real sockets, a real SQLite file.

The stand-in renderer keeps jobs at a few milliseconds; everything else is the real broker,
the real workers and the real storage. Each test ends with the farm's invariant (audit):
every job done exactly once, every image present with its checksum and metadata, no orphan
files, nothing lost.
"""
from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import zmq

from farmkit import (Proc, ScriptedWorker, broker_args, broker_stats, events, finish, free_port, job_counts,
                     wait_until, worker_args, write_spec)
from headless import protocol as P
from headless.dataset_audit import audit


def _fuzz(port: int) -> int:
    """Malformed, oversized, hostile and duplicated messages; returns how many were sent."""
    s = ScriptedWorker(port, name="fuzzer")
    bad = [
        [b"garbage"],
        [b"NOPE", b"READY", b"{}"],
        [P.MAGIC, b"EXPLODE", b"{}"],
        [P.MAGIC, P.READY, b"not json"],
        [P.MAGIC, P.READY, b"[1, 2]"],
        [P.MAGIC, P.HB, b"{}", b"x", b"y", b"z", b"too many frames"],
        [P.MAGIC, P.DONE, b'{"job": "1; DROP TABLE jobs", "attempt": 1}'],
    ]
    for frames in bad:
        s.send_raw(frames)
    s.register(want_job=False)
    hostile = [
        (P.CHUNK, {"job": 0, "attempt": 1, "k": 0, "kind": "../../../etc/passwd", "offset": 0, "size": 4,
                   "sha256": "0" * 64}, b"evil"),
        (P.CHUNK, {"job": 0, "attempt": 1, "k": 5000, "kind": "image", "offset": 0, "size": 4, "sha256": "0" * 64},
         b"evil"),
        (P.CHUNK, {"job": 99999, "attempt": 1, "k": 0, "kind": "image", "offset": -5, "size": 4, "sha256": "zz"},
         b"evil"),
        (P.DONE, {"job": 99999, "attempt": 1, "files": [], "infos": {}}, None),
        (P.DONE, {"job": 0, "attempt": 10**6, "files": "nope"}, None),
        (P.FAIL, {"job": 0, "attempt": 10**6, "error": "x" * 100}, None),
    ]
    for cmd, header, payload in hostile:
        s.send(cmd, header, *([payload] if payload else []))
    # Oversized: libzmq drops (and disconnects) a peer that sends more than MAXMSGSIZE.
    big = ScriptedWorker(port, name="oversized")
    big.send_raw([P.MAGIC, P.HB, b"{}", b"\0" * (P.MAX_MESSAGE_SIZE + 10)])
    time.sleep(0.2)
    s.close()
    big.close()
    return len(bad) + len(hostile) + 1


def _duplicating_worker(port: int) -> dict:
    """Takes one job, uploads every chunk twice and reports DONE twice."""
    s = ScriptedWorker(port, name="duplicator")
    welcome = s.register()
    job = s.recv(timeout=20, want=P.JOB)
    assert job is not None, "the duplicating worker got no job"
    j, a = job.header["job"], job.header["attempt"]
    s.held = [[j, a]]
    files, declared, infos = s.render(welcome.header["spec"], job)
    acks = s.upload(j, a, files, declared, times=2)
    assert all(m is not None and m.header["ok"] for m in acks)
    done = s.lease(j, a) | {"files": declared, "infos": infos, "render_s": 0.01, "want_job": False}
    s.send(P.DONE, done)
    s.send(P.DONE, done)
    verdicts = [s.recv(timeout=20, want=P.RESULT), s.recv(timeout=20, want=P.RESULT)]
    s.close()
    return {"job": j, "verdicts": [v.header if v else None for v in verdicts]}


def _stop_a_busy_worker(out: Path, workers: dict[str, Proc]) -> Proc | None:
    con = sqlite3.connect(f"file:{out / '.farm' / 'jobs.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        busy = [r[0] for r in con.execute("SELECT worker FROM jobs WHERE state='leased'")]
    finally:
        con.close()
    for name in busy:
        if name in workers and workers[name].alive():
            workers[name].signal(signal.SIGSTOP)
            return workers[name]
    return None


@pytest.mark.slow
def test_chaos_every_job_done_exactly_once(tmp_path):
    n_jobs = 220
    spec = write_spec(tmp_path / "spec.toml", characters=n_jobs, images=2, crop_height=64)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    rng = random.Random(20240611)
    # Small chunks: every image travels in several chunks, so kills land in the middle of uploads.
    bargs = broker_args(spec, out, port, "--max-lost", "100", "--chunk-size", "1024", "--window", "2")
    broker = Proc(bargs, logs / "broker-1.log")
    workers: dict[str, Proc] = {}
    spawned = 0

    def spawn():
        nonlocal spawned
        spawned += 1
        name = f"w{spawned}"
        workers[name] = Proc(worker_args(port, name, 0.15), logs / f"{name}.log")

    for _ in range(4):
        spawn()
    done = lambda: job_counts(out).get("done", 0)  # noqa: E731
    kills, stopped = 0, None
    wait_until(lambda: done() >= 10, 60, what="the first jobs")
    # Hostile and duplicating peers run beside the chaos below.
    side: dict = {}
    side_thread = threading.Thread(target=lambda: side.update(sent_bad=_fuzz(port), dup=_duplicating_worker(port)))
    side_thread.start()
    # Kill -9 random workers repeatedly, stop one past its lease, kill the broker mid-run.
    broker_restarted = False
    deadline = time.time() + 120
    while done() < int(0.85 * n_jobs) and time.time() < deadline:
        time.sleep(rng.uniform(0.2, 0.5))
        alive = [n for n, p in workers.items() if p.alive() and p is not stopped]
        if alive and rng.random() < 0.6:
            workers[rng.choice(alive)].kill9()
            kills += 1
            spawn()
        if stopped is None and done() >= 0.3 * n_jobs:
            stopped = _stop_a_busy_worker(out, workers)
            stopped_at = time.time()
        if stopped is not None and stopped.alive() and time.time() - stopped_at > 2.0 and not getattr(stopped, "resumed", False):
            stopped.signal(signal.SIGCONT)  # its lease (0.9 s) is long gone: its result must be refused
            stopped.resumed = True
        if not broker_restarted and done() >= 0.5 * n_jobs:
            broker.kill9()
            time.sleep(0.3)
            broker = Proc(bargs, logs / "broker-2.log")  # same spec: resumes from the job table
            broker_restarted = True
    if stopped is not None and not getattr(stopped, "resumed", False):
        stopped.signal(signal.SIGCONT)
    side_thread.join(60)
    sent_bad, dup = side["sent_bad"], side["dup"]
    assert broker_restarted and kills >= 5 and stopped is not None
    rep = finish(broker, list(workers.values()), out)
    assert rep.done == n_jobs and rep.images == 2 * n_jobs and rep.failed == 0
    assert dup["verdicts"][0]["accepted"] and dup["verdicts"][1]["accepted"]
    assert dup["verdicts"][1].get("duplicate"), dup
    stale = events(out, "stale")
    assert stale, "the stopped worker's late result was not seen (and refused) by the broker"
    dead = events(out, "dead")
    print(f"kills {kills}, dead workers noticed {len(dead)}, stale results refused {len(stale)}, "
          f"malformed sent {sent_bad}; lost {rep.lost} duplicated {rep.duplicated} orphaned {rep.orphaned}")
    con = sqlite3.connect(out / ".farm" / "jobs.sqlite")
    assert con.execute("SELECT MAX(completions), MIN(completions) FROM jobs").fetchone() == (1, 1)
    con.close()


def test_late_result_of_a_superseded_attempt_is_discarded(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", characters=1, images=2)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker.log")
    slow = Proc(worker_args(port, "slow", 1.0), logs / "slow.log")
    wait_until(lambda: job_counts(out).get("leased", 0) == 1, 30, what="the slow worker's lease")
    slow.signal(signal.SIGSTOP)  # paused mid-render, past its lease
    wait_until(lambda: bool(events(out, "dead")), 10, what="the broker noticing the dead worker")
    fast = Proc(worker_args(port, "fast", 0.0), logs / "fast.log")
    wait_until(lambda: job_counts(out).get("done", 0) == 1, 30, what="the second attempt")
    slow.signal(signal.SIGCONT)  # finishes its render and tries to upload attempt 1
    rc = broker.wait(30)
    assert rc == 0
    # The broker exits when the run is finished; the resumed worker's upload may come after it.
    rep = audit(out)
    assert (rep.done, rep.lost, rep.duplicated, rep.orphaned) == (1, 0, 0, 0), rep.problems
    con = sqlite3.connect(out / ".farm" / "jobs.sqlite")
    assert con.execute("SELECT attempt, worker FROM attempts WHERE outcome='done'").fetchall() == [(2, "fast")]
    assert con.execute("SELECT outcome FROM attempts WHERE attempt=1").fetchone()[0] == "lost"
    con.close()
    slow.stop()
    fast.stop()


def test_late_result_refused_while_broker_runs(tmp_path):
    """A worker stopped past its lease comes back while the run goes on: its upload is refused."""
    spec = write_spec(tmp_path / "spec.toml", characters=3, images=1)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker.log")
    s = ScriptedWorker(port, name="sleeper")
    welcome = s.register()
    job = s.recv(timeout=20, want=P.JOB)
    j, a = job.header["job"], job.header["attempt"]
    files, declared, infos = s.render(welcome.header["spec"], job)
    time.sleep(1.5)  # silent past the lease (3 × 0.3 s): the broker buries it and requeues the job
    s.send(P.HB, {"held": [[j, a]]})
    assert s.recv(timeout=5, want=P.RESET) is not None  # "I do not know you"
    s.close()
    s2 = ScriptedWorker(port, name="sleeper-again")
    s2.register(want_job=False)
    acks = s2.upload(j, a, files, declared)
    assert acks and all(m is not None and not m.header["ok"] and m.header["reason"] == "superseded" for m in acks)
    s2.send(P.DONE, {"job": j, "attempt": a, "files": declared, "infos": infos})
    verdict = s2.recv(timeout=10, want=P.RESULT)
    assert verdict is not None and verdict.header["accepted"] is False and verdict.header["reason"] == "superseded"
    s2.close()
    w = Proc(worker_args(port, "honest"), logs / "honest.log")
    finish(broker, [w], out, timeout=60)
    assert events(out, "stale")


def test_broker_restart_resumes_and_finished_run_does_nothing(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", characters=30, images=2)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    bargs = broker_args(spec, out, port, "--chunk-size", "1024", "--window", "1")
    broker = Proc(bargs, logs / "b1.log")
    w = Proc(worker_args(port, "w", 0.02), logs / "w.log")
    wait_until(lambda: job_counts(out).get("done", 0) >= 8, 60, what="progress")
    broker.kill9()
    before = job_counts(out).get("done", 0)
    broker = Proc(bargs, logs / "b2.log")
    finish(broker, [w], out)
    assert before < 30
    # Started again on the finished folder: it does nothing and exits at once.
    t0 = time.time()
    again = Proc(bargs, logs / "b3.log")
    assert again.wait(30) == 0 and time.time() - t0 < 30
    assert broker_stats(again.text())["completed"] == 0 and "listening" not in again.text()  # never served
    assert audit(out).ok


def test_curve_broker_refuses_unauthenticated_workers(tmp_path):
    if not zmq.has("curve"):
        pytest.skip("libzmq without CURVE support")
    from headless.security import create_certificates

    certs = tmp_path / "certs"
    made = create_certificates(certs, workers=1)
    rogue = create_certificates(tmp_path / "rogue", workers=1)  # keys the broker does not know
    spec = write_spec(tmp_path / "spec.toml", characters=4, images=1)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port, "--curve-secret", str(made["broker_secret"]),
                              "--curve-authorized", str(certs / "authorized")), logs / "broker.log")
    plain = Proc(worker_args(port, "plain"), logs / "plain.log")
    bad = Proc(worker_args(port, "rogue", 0.0, "--curve-secret", str(rogue["worker-1"]),
                           "--curve-server", str(made["broker_public"])), logs / "rogue.log")
    time.sleep(2.0)
    assert job_counts(out).get("done", 0) == 0  # neither could take a job
    good = Proc(worker_args(port, "trusted", 0.0, "--curve-secret", str(made["worker-1"]),
                            "--curve-server", str(made["broker_public"])), logs / "trusted.log")
    finish(broker, [good, plain, bad], out, timeout=60)
    con = sqlite3.connect(out / ".farm" / "jobs.sqlite")
    names = {r[0] for r in con.execute("SELECT name FROM workers")}
    con.close()
    assert names == {"trusted"}, names


def test_shared_filesystem_mode(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", characters=12, images=2)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port, "--shared"), logs / "broker.log")
    ws = [Proc(worker_args(port, f"s{i}", 0.0, "--shared-root", str(out)), logs / f"s{i}.log") for i in range(2)]
    rep = finish(broker, ws, out)
    assert rep.done == 12


def test_failing_job_is_parked_with_its_error(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", characters=2, images=1)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port, "--max-failures", "2"), logs / "broker.log")
    s = ScriptedWorker(port, name="breaker")
    s.register()
    failed_jobs = set()
    for _ in range(4):  # fail whatever it gets; the broker parks a job after 2 failures
        job = s.recv(timeout=10, want=P.JOB)
        if job is None:
            break
        s.send(P.FAIL, s.lease(job.header["job"], job.header["attempt"]) | {
            "error": "RuntimeError: out of GPU memory", "want_job": True})
        failed_jobs.add(job.header["job"])
        assert s.recv(timeout=10, want=P.RESULT).header["accepted"] is False
    s.close()
    assert broker.wait(30) == 1  # every job parked: the run is over (exit 1: failures)
    counts = job_counts(out)
    assert counts == {"failed": 2}, counts
    from headless.status import format_status, read_status

    text = format_status(read_status(out))
    assert "out of GPU memory" in text and "failed 2" in text
    rep = audit(out)
    assert rep.failed == 2 and rep.orphaned == 0 and rep.lost == 0


def test_worker_runs_as_a_script_and_validate_names_bad_fields(tmp_path):
    """`blender -b -P headless/worker.py -- ...` runs the file as a script: it must find the repo itself."""
    import os
    import subprocess
    import sys

    from farmkit import PY, REPO

    spec = write_spec(tmp_path / "spec.toml", characters=3, images=1)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker.log")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    w = subprocess.run([PY, str(REPO / "headless" / "worker.py"), "--", "--connect", f"tcp://127.0.0.1:{port}",
                        "--renderer", "standin", "--name", "script", "--give-up", "20"],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    assert w.returncode == 0, w.stderr[-2000:]
    finish(broker, [], out)
    bad = tmp_path / "bad.toml"
    bad.write_text("[dataset]\ncharacters = 0\n")
    v = subprocess.run([sys.executable, "-m", "headless", "validate", str(bad)], cwd=str(REPO), capture_output=True,
                       text=True, timeout=60)
    assert v.returncode == 2 and "dataset.characters" in v.stderr
