"""The farm against buggy or hostile workers: real broker processes, raw pyzmq peers, real files.

Each test lets a misbehaving peer do its worst, then lets honest workers finish the run and
audits the dataset: only honest workers' files, every checksum right, nothing lost, and the
broker kept serving throughout.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import time
from pathlib import Path

import pytest
import zmq
from PIL import Image

from farmkit import (Proc, ScriptedWorker, broker_args, broker_stats, charged, events, finish, free_port, job_counts,
                     query, rss_bytes, security_counts, wait_until, warning_lines, worker_args, write_spec)
from headless import protocol as P
from synth_humans_addon.core.dataset import DatasetFormatError, metadata_path, read_dataset


def _red_square() -> tuple[dict, list]:
    """An impostor's 'result' for a 1-image job: a red square and a white mask."""
    jpg, png = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (24, 48), (255, 0, 0)).save(jpg, "JPEG")
    Image.new("L", (24, 48), 255).save(png, "PNG")
    files = {(0, "image"): jpg.getvalue(), (0, "mask"): png.getvalue()}
    declared = [{"k": k, "kind": kind, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                for (k, kind), b in files.items()]
    return files, declared


def _start(tmp_path: Path, characters: int, *extra: str, images: int = 1, heartbeat: float = 2.0):
    # A slow heartbeat (dead after 6 s): the scripted honest worker answers heartbeats only while
    # it waits for a message, and must keep its lease while the impostor acts.
    spec = write_spec(tmp_path / "spec.toml", characters=characters, images=images)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port, *extra, heartbeat=heartbeat), logs / "broker.log")
    return out, logs, port, broker


def _take_job(s: ScriptedWorker):
    welcome = s.register()
    job = s.recv(timeout=20, want=P.JOB)
    assert job is not None, "no job for the scripted worker"
    j, a = job.header["job"], job.header["attempt"]
    s.held = [(j, a)]
    return welcome, job, j, a


def _stored_shas(out: Path, job: int) -> set[str]:
    """Checksums of every image and mask the dataset holds for `job`."""
    import sqlite3

    con = sqlite3.connect(f"file:{out / '.farm' / 'jobs.sqlite'}?mode=ro", uri=True)
    try:
        pid = con.execute("SELECT pid FROM jobs WHERE id=?", (job,)).fetchone()[0]
    finally:
        con.close()
    rec = json.loads(metadata_path(out, pid).read_text())
    return {e["sha256"] for e in rec["images"]} | {e["mask_sha256"] for e in rec["images"]}


def _complete(worker: ScriptedWorker, spec: dict, job, want_job: bool) -> None:
    """An honest worker renders its leased job, uploads it and is told it was accepted."""
    j, a = job.header["job"], job.header["attempt"]
    files, declared, infos = worker.render(spec, job)
    assert all(m.header["ok"] for m in worker.upload(j, a, files, declared))
    worker.send(P.DONE, worker.lease(j, a) | {"files": declared, "infos": infos, "want_job": want_job})
    assert worker.recv(timeout=20, want=P.RESULT).header["accepted"] is True


def test_hijack_with_a_guessed_attempt_is_refused(tmp_path):
    out, logs, port, broker = _start(tmp_path, characters=3)
    honest = ScriptedWorker(port, name="honest")
    welcome, job, j, a = _take_job(honest)
    assert isinstance(job.header.get("token"), str) and len(job.header["token"]) == 32
    files, declared, infos = honest.render(welcome.header["spec"], job)
    thief = ScriptedWorker(port, name="thief")
    thief.register(want_job=False)
    red, red_declared = _red_square()
    for token in (None, "0" * 32):  # the guessed attempt, without a token and with a guessed one
        acks = thief.upload(j, a, red, red_declared, token=token)
        assert acks and all(m is not None and not m.header["ok"] and m.header["reason"] == "not the lease holder"
                            for m in acks), [m.header if m else None for m in acks]
        thief.send(P.DONE, thief.lease(j, a, token) | {"files": red_declared, "infos": {}, "want_job": False})
        verdict = thief.recv(timeout=10, want=P.RESULT)
        assert verdict.header["accepted"] is False and verdict.header["reason"] == "not the lease holder"
    # Even the right token does not let another peer take the lease over while it is held...
    thief.send(P.HB, {"held": [[j, a, "1" * 32]], "want_job": False})
    # ...and the honest worker's upload is accepted as the result (not as a "duplicate").
    acks = honest.upload(j, a, files, declared)
    assert all(m is not None and m.header["ok"] for m in acks)
    honest.send(P.DONE, honest.lease(j, a) | {"files": declared, "infos": infos, "want_job": False})
    verdict = honest.recv(timeout=20, want=P.RESULT)
    assert verdict.header["accepted"] is True and not verdict.header.get("duplicate"), verdict.header
    # After it is done, a DONE by the thief is not reported "accepted, duplicate".
    thief.send(P.DONE, thief.lease(j, a, "0" * 32) | {"files": red_declared, "infos": {}, "want_job": False})
    verdict = thief.recv(timeout=10, want=P.RESULT)
    assert verdict.header["accepted"] is False, verdict.header
    thief.close()
    honest.close()
    rep = finish(broker, [Proc(worker_args(port, "w"), logs / "w.log")], out, timeout=60)
    assert rep.done == 3 and rep.failed == 0
    honest_shas = {d["sha256"] for d in declared}
    assert _stored_shas(out, j) == honest_shas  # the impostor's red squares are nowhere
    assert not honest_shas & {d["sha256"] for d in red_declared}
    counts = security_counts(out)
    assert counts["refused"] >= 7, counts
    assert "not the lease holder" in broker.text()


def test_fail_and_done_for_jobs_the_peer_does_not_hold(tmp_path):
    out, logs, port, broker = _start(tmp_path, characters=4)
    honest = ScriptedWorker(port, name="honest")
    welcome, job, j, a = _take_job(honest)
    saboteur = ScriptedWorker(port, name="saboteur")
    saboteur.register(want_job=False)
    sent = 0
    for job_id in range(4):
        for attempt in range(1, 8):
            saboteur.send(P.FAIL, {"job": job_id, "attempt": attempt, "token": "a" * 32, "error": "sabotage",
                                   "want_job": False})
            saboteur.send(P.DONE, {"job": job_id, "attempt": attempt, "files": [], "infos": {}, "want_job": False})
            sent += 2
    verdicts = [saboteur.recv(timeout=10, want=P.RESULT) for _ in range(sent)]
    assert all(v is not None and v.header["accepted"] is False for v in verdicts)
    _complete(honest, welcome.header["spec"], job, want_job=False)
    saboteur.close()
    honest.close()
    rep = finish(broker, [Proc(worker_args(port, "w"), logs / "w.log")], out, timeout=60)
    assert rep.done == 4 and rep.failed == 0  # nothing parked, exit status 0
    assert security_counts(out)["refused"] >= 2  # the FAIL and DONE naming the honest worker's lease


BAD_INFOS = [
    {"file": "bounding_box_train/../../../../tmp/x.jpg"},
    {"mask": "/etc/hostname"},
    {"k": 7, "camera_id": 9, "subset": "query"},
    {"bbox": [0, 0, float("nan"), 1]},
    {"keypoints": {"head": [1e300, 0, 1]}},
    {"frame_size": "huge"},
    {"injected": "field"},
]


def test_metadata_fields_from_a_worker_are_validated(tmp_path):
    out, logs, port, broker = _start(tmp_path, 2, "--max-failures", "20", images=2)
    holder = ScriptedWorker(port, name="holder")
    welcome, job, j, a = _take_job(holder)
    for bad in BAD_INFOS:  # the holder of the lease reports each poisoned result; each is rejected
        files, declared, infos = holder.render(welcome.header["spec"], job)
        assert all(m.header["ok"] for m in holder.upload(j, a, files, declared))
        evil = dict(infos)
        evil["0"] = dict(infos["0"]) | bad
        holder.send(P.DONE, holder.lease(j, a) | {"files": declared, "infos": evil, "want_job": True})
        verdict = holder.recv(timeout=20, want=P.RESULT)
        assert verdict.header["accepted"] is False and "info of image 0" in verdict.header["reason"], verdict.header
        job = holder.recv(timeout=20, want=P.JOB)  # the job is back in the queue (and comes back to it)
        j, a = job.header["job"], job.header["attempt"]
        holder.held = [(j, a)]
    holder.close()
    rep = finish(broker, [Proc(worker_args(port, "w"), logs / "w.log")], out, timeout=60)
    assert rep.done == 2 and rep.failed == 0
    ds = read_dataset(out, check_files=True)
    root = os.path.realpath(out)
    for r in ds.images:
        assert os.path.realpath(r.path).startswith(root + os.sep)
        assert os.path.realpath(r.mask_path).startswith(root + os.sep)
        assert "injected" not in r.info and r.info["file"].startswith(r.subset + "/")
        assert r.info["mask"].startswith("masks/")


def test_reader_refuses_metadata_pointing_outside_the_dataset(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", characters=1, images=1)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    finish(Proc(broker_args(spec, out, port, heartbeat=0.3), logs / "b.log"),
           [Proc(worker_args(port, "w"), logs / "w.log")], out, timeout=60)
    mp = next((out / "metadata").glob("*.json"))
    good = mp.read_text()
    rec = json.loads(good)
    entry = rec["images"][0]
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not yours")
    for field, value in (("file", entry["file"].replace("/", "/../../", 1)),
                         ("mask", str(outside)), ("mask", "masks/../../outside.png")):
        rec["images"][0] = dict(entry, **{field: value})
        mp.write_text(json.dumps(rec))
        with pytest.raises(DatasetFormatError, match="inside|subset"):
            read_dataset(out, check_files=True)
    # A mask that is a link to a file outside the dataset.
    mp.write_text(good)
    mask = out / entry["mask"]
    mask.unlink()
    mask.symlink_to(outside)
    with pytest.raises(DatasetFormatError, match="outside"):
        read_dataset(out, check_files=True)


def test_oversize_claims_reserve_nothing(tmp_path):
    out, logs, port, broker = _start(tmp_path, characters=2)
    holder = ScriptedWorker(port, name="holder")
    welcome, job, j, a = _take_job(holder)
    time.sleep(0.5)
    before = rss_bytes(broker.pid)
    for i in range(16):  # one byte each, claiming 64 MiB: refused before anything is kept
        holder.send(P.CHUNK, holder.lease(j, a) | {"k": 0, "kind": "image", "offset": 0, "size": P.MAX_FILE_SIZE,
                                                   "sha256": f"{i:064x}"}, b"x")
    for i in range(16):  # within the spec's bound: only the byte that arrived is held
        holder.send(P.CHUNK, holder.lease(j, a) | {"k": 0, "kind": ("image", "mask")[i % 2], "offset": 0,
                                                   "size": 1_000_000, "sha256": f"{i:064x}"}, b"x")
    acks = [holder.recv(timeout=10, want=P.ACK) for _ in range(16)]
    assert all(m is not None and m.header["ok"] for m in acks)
    grown = rss_bytes(broker.pid) - before
    print(f"\nbroker RSS {before / 2**20:.0f} MiB, grew by {grown / 2**20:.1f} MiB after 32 claims")
    assert grown < 32 * 2**20, f"broker grew by {grown / 2**20:.0f} MiB"
    files, declared, infos = holder.render(welcome.header["spec"], job)
    assert all(m.header["ok"] for m in holder.upload(j, a, files, declared))
    holder.send(P.DONE, holder.lease(j, a) | {"files": declared, "infos": infos, "want_job": False})
    assert holder.recv(timeout=20, want=P.RESULT).header["accepted"] is True
    holder.close()
    rep = finish(broker, [Proc(worker_args(port, "w"), logs / "w.log")], out, timeout=60)
    assert rep.done == 2
    assert "field 'size'" in broker.text()  # the refused claims were logged (rate-limited)


def test_deep_nesting_and_floods_are_dropped_quietly(tmp_path):
    out, logs, port, broker = _start(tmp_path, characters=3)
    flood = ScriptedWorker(port, name="flood")
    for _ in range(300):
        flood.send_raw([P.MAGIC, P.HB, b"[" * 100_000])
    flood.register(want_job=False)
    for i in range(1000):
        flood.send_raw([P.MAGIC, P.DONE, b'{"job": 0, "attempt": 1, "files": ' + b"[" * 50 + b"]" * 50 + b"}"])
        flood.send(P.CHUNK, {"job": 0, "attempt": 1, "k": 0, "kind": "image", "offset": 0, "size": 1,
                             "sha256": "0" * 64}, b"x")
    flood.send(P.HB, {"deep": json.loads("[" * 20 + "]" * 20)})
    acks = 0
    while flood.recv(timeout=1.0, want=P.ACK) is not None:  # every CHUNK answered: the broker kept up
        acks += 1
    assert acks == 1000
    flood.close()
    rep = finish(broker, [Proc(worker_args(port, "w"), logs / "w.log")], out, timeout=60)
    assert rep.done == 3
    text = broker.text()
    assert "Traceback" not in text
    warnings = [line for line in text.splitlines() if "WARNING" in line or "ERROR" in line]
    print(f"\n{len(warnings)} warning/error lines for 300 deep, 1,000 deep-ish and 1,001 stale messages")
    assert len(warnings) < 40, f"{len(warnings)} log lines for ~2,600 hostile messages"
    assert "nests deeper" in text


def test_curve_refused_handshakes_are_logged_and_counted_and_keys_bind_leases(tmp_path):
    if not zmq.has("curve"):
        pytest.skip("libzmq without CURVE support")
    from zmq.auth import load_certificate

    from headless.security import create_certificates, secure_worker_socket

    certs = tmp_path / "certs"
    made = create_certificates(certs, names=["honest", "other"])
    rogue = create_certificates(tmp_path / "rogue", names=["rogue"])
    spec = write_spec(tmp_path / "spec.toml", characters=2, images=1)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port, "--curve-secret", str(made["broker_secret"]), "--curve-authorized",
                              str(certs / "authorized"), heartbeat=2.0), logs / "broker.log")

    def keys(secret):
        return lambda sock: secure_worker_socket(sock, secret, made["broker_public"])

    # A rogue that gives up before the broker listens never reaches its ZAP handler: on a loaded
    # machine the broker's start-up alone can take longer than the rogues' three seconds.
    wait_until(lambda: "broker listening on tcp://" in broker.text(), 60, what="the broker listening")
    for _ in range(3):
        r = ScriptedWorker(port, name="rogue", curve=keys(rogue["rogue"]))
        r.send(P.READY, {"worker": "rogue"})
        assert r.recv(timeout=1.0) is None  # never answered
        r.sock.close(linger=0)
    honest = ScriptedWorker(port, name="honest", curve=keys(made["honest"]))
    welcome, job, j, a = _take_job(honest)
    # Another authorised key that learnt the token still cannot take the lease or upload to it.
    other = ScriptedWorker(port, name="other", curve=keys(made["other"]))
    other.send(P.READY, {"worker": "other", "held": [[j, a, honest.tokens[(j, a)]]], "want_job": False})
    assert other.recv(timeout=10, want=P.WELCOME).header["held"] == []
    red, red_declared = _red_square()
    acks = other.upload(j, a, red, red_declared, token=honest.tokens[(j, a)])
    assert all(not m.header["ok"] for m in acks)
    _complete(honest, welcome.header["spec"], job, want_job=True)
    _complete(honest, welcome.header["spec"], honest.recv(timeout=20, want=P.JOB), want_job=False)
    other.close()
    honest.close()
    assert broker.wait(30) == 0, broker.text()[-2000:]
    text = broker.text()
    rogue_public, rogue_secret = (k.decode() for k in load_certificate(rogue["rogue"]))
    assert "refused a CURVE handshake from 127.0.0.1" in text and rogue_public in text, text[-2000:]
    assert rogue_secret not in text
    counts = security_counts(out)
    # ≥ 1, not 3: a rogue socket closed (after 1 s) before a loaded machine ran its
    # handshake never reaches the ZAP handler, so it cannot be counted.
    assert counts["handshakes_refused"] >= 1 and counts["refused"] >= 2, counts
    assert job_counts(out) == {"done": 2}
    assert not _stored_shas(out, j) & {d["sha256"] for d in red_declared}


# ---------------------------------------------------------------------------------------
# Floods, hoarding, silent peers and out-of-range numbers (issue 24). Each ends with the honest
# run: status 0, nothing lost, duplicated or parked, nothing charged to a job, bounded traces.


def _all_done_honestly(broker: Proc, workers: list[Proc], out: Path, n: int, timeout: float = 90):
    rep = finish(broker, workers, out, timeout=timeout)
    assert rep.done == n and rep.failed == 0
    return rep


def test_result_floods_from_a_peer_holding_nothing_change_nothing(tmp_path):
    """FAIL and DONE for 20 jobs × 3 attempts from a peer that registered with want_job false
    (and claims want_job true in each result): it is never made idle, never handed a job, and
    no job is charged a failure or a lost lease."""
    n = 20
    out, logs, port, broker = _start(tmp_path, n, heartbeat=0.3)
    saboteur = ScriptedWorker(port, name="saboteur")
    saboteur.register(want_job=False)
    honest = [Proc(worker_args(port, f"w{i}", 0.05), logs / f"w{i}.log") for i in range(2)]
    sent = 0
    for job in range(n):
        for attempt in (1, 2, 3):
            saboteur.send(P.FAIL, {"job": job, "attempt": attempt, "error": "sabotage", "want_job": True})
            saboteur.send(P.DONE, {"job": job, "attempt": attempt, "files": [], "infos": {}, "want_job": True})
            sent += 2
    verdicts = [saboteur.recv(timeout=10) for _ in range(sent)]
    assert all(v is not None and v.command == P.RESULT and v.header["accepted"] is False for v in verdicts)
    stop = saboteur.keep_alive()  # a live peer the broker could (wrongly) hand jobs to
    _all_done_honestly(broker, honest, out, n)
    assert not [m for m in stop() if m.command == P.JOB], "the flooding peer was handed a job"
    saboteur.sock.close(linger=0)
    assert charged(out) == (0, 0)
    assert len(events(out)) < 60 and len(warning_lines(broker.text())) < 20


def test_one_peer_holds_one_lease_at_a_time(tmp_path):
    """A peer that 'fails' its job with an attempt it was never given (+1000), asks for more
    and keeps its lease alive: it holds that one lease and nothing more while an honest
    worker does every other job."""
    n = 6
    out, logs, port, broker = _start(tmp_path, n, heartbeat=0.3)
    hoarder = ScriptedWorker(port, name="hoarder")
    _, job, j, a = _take_job(hoarder)
    token = hoarder.tokens[(j, a)]
    hoarder.send(P.FAIL, {"job": j, "attempt": a + 1000, "token": token, "error": "x", "want_job": True})
    verdict = hoarder.recv(timeout=10, want=P.RESULT)
    assert verdict.header["accepted"] is False and verdict.header["reason"] == "not the lease holder"
    hoarder.want_job = True  # and it asks for a job with every heartbeat, naming the one it holds
    stop = hoarder.keep_alive()
    honest = Proc(worker_args(port, "honest", 0.02), logs / "honest.log")
    wait_until(lambda: job_counts(out).get("done", 0) == n - 1, 60, what="the honest worker's jobs")
    assert job_counts(out).get("leased") == 1  # the hoarder's one lease, still held
    assert not [m for m in stop() if m.command == P.JOB], "the hoarder got a second lease"
    hoarder.close()  # its lease is lost once (not parked) and the honest worker does the job
    _all_done_honestly(broker, [honest], out, n)
    assert charged(out) == (0, 1)


def test_stale_floods_leave_bounded_rows_and_memory(tmp_path):
    """10,000 stale chunks, each with a new attempt number, and 1,000 DONEs of an attempt the
    peer never held: a few event rows, a few log lines, flat memory."""
    out, logs, port, broker = _start(tmp_path, 2)
    s = ScriptedWorker(port, name="stale")
    welcome, job, j, a = _take_job(s)
    _complete(s, welcome.header["spec"], job, want_job=True)  # job j is done: its lease is gone
    second = s.recv(timeout=20, want=P.JOB)
    s.held = [(second.header["job"], second.header["attempt"])]
    rows, lines, rss = len(events(out)), len(warning_lines(broker.text())), rss_bytes(broker.pid)
    head = {"job": j, "k": 0, "kind": "image", "offset": 0, "size": 1, "sha256": "0" * 64}
    for start in range(2, 10_002, 500):
        for attempt in range(start, start + 500):
            s.send(P.CHUNK, head | {"attempt": attempt}, b"x")
        acks = [s.recv(timeout=20, want=P.ACK) for _ in range(500)]
        assert all(m is not None and m.header["ok"] is False for m in acks)
    for attempt in range(2, 1002):
        s.send(P.DONE, {"job": j, "attempt": attempt, "files": [], "infos": {}})
    assert all(s.recv(timeout=20, want=P.RESULT).header["accepted"] is False for _ in range(1000))
    grown_rows, grown_lines = len(events(out)) - rows, len(warning_lines(broker.text())) - lines
    grown_mib = (rss_bytes(broker.pid) - rss) / 2**20
    print(f"\n11,000 stale messages: +{grown_rows} event rows, +{grown_lines} log lines, +{grown_mib:.1f} MiB")
    assert grown_rows <= 60 and grown_lines <= 20 and grown_mib < 8
    _complete(s, welcome.header["spec"], second, want_job=False)
    s.close()
    _all_done_honestly(broker, [], out, 2)
    assert security_counts(out)["stale"] >= 10_000


def test_silent_peers_and_reset_probes_are_throttled(tmp_path):
    """300 peers register and go silent; one unknown peer sends 1,000 heartbeats: a few log
    lines and event rows, no worker rows left behind, a few RESETs."""
    out, logs, port, broker = _start(tmp_path, 3, heartbeat=0.3)
    peers = [ScriptedWorker(port, name=f"silent-{i}") for i in range(300)]
    for p in peers:
        p.send(P.READY, {"worker": p.name, "host": "test", "pid": 1, "renderer": "none", "want_job": False})
    assert all(p.recv(timeout=20, want=P.WELCOME) is not None for p in peers)
    # Silent from now on (connected, no heartbeat): buried after 3 beats, leaving no row.
    wait_until(lambda: len(events(out, "dead")) > 0 and not query(out, "SELECT name FROM workers"), 30,
               what="the silent peers buried and their rows gone")
    for p in peers:
        p.sock.close(linger=0)
    probe = ScriptedWorker(port, name="probe")
    for _ in range(1000):
        probe.send(P.HB, {"held": [], "want_job": False})
    resets = 0
    while (msg := probe.recv(timeout=1.0)) is not None:  # until the broker has nothing more to say
        resets += msg.command == P.RESET
    probe.sock.close(linger=0)
    _all_done_honestly(broker, [Proc(worker_args(port, "w"), logs / "w.log")], out, 3)
    silent_lines = [line for line in broker.text().splitlines() if "silent for" in line]
    print(f"\n300 silent peers: {len(silent_lines)} log lines, {len(events(out, 'dead'))} event rows; "
          f"1,000 unknown heartbeats: {resets} RESETs")
    assert 1 <= len(silent_lines) <= 5 and len(events(out, "dead")) <= 30 and 1 <= resets <= 5
    assert [r[0] for r in query(out, "SELECT name FROM workers")] == ["w"]


def test_numbers_out_of_range_are_refused(tmp_path):
    """`READY {"pid": 2**70}` and its kin are malformed messages: dropped (logged at most once a
    second), never a traceback, never a registration."""
    out, logs, port, broker = _start(tmp_path, 2, heartbeat=0.3)
    s = ScriptedWorker(port, name="ranges")
    ready = {"worker": "ranges", "host": "test", "pid": 1, "renderer": "scripted"}
    for bad in ({"pid": 2**70}, {"pid": -1}, {"pid": "1"}, {"host": 5}, {"want_job": "yes"}, {"held": "x"},
                {"held": [[0, 1, "a" * 32]] * 17}):
        s.send(P.READY, ready | bad)
    s.send(P.READY, ready | {"held": [[2**70, 2**70, "a" * 32]], "want_job": True})  # an entry out of range: skipped
    job = s.recv(timeout=20, want=P.JOB)
    welcomes = [m for m in s.backlog if m.command == P.WELCOME]
    assert len(welcomes) == 1  # only the good READY was welcomed (replies come in order)
    j, a = job.header["job"], job.header["attempt"]
    s.held = [(j, a)]
    lease = s.lease(j, a)
    for cmd, header in ((P.HB, {"want_job": 2}), (P.CHUNK, lease | {"offset": 2**70}),
                        (P.CHUNK, lease | {"attempt": 2**70}), (P.CHUNK, lease | {"job": 2**70}),
                        (P.DONE, lease | {"files": [], "infos": {"²": {}}}),
                        (P.DONE, lease | {"files": [], "infos": {"9" * 5000: {}}}),
                        (P.FAIL, lease | {"error": 5}), (P.RELEASE, lease | {"attempt": 2**70})):
        chunk = {"k": 0, "kind": "image", "size": 1, "sha256": "0" * 64} if cmd == P.CHUNK else {}
        s.send(cmd, chunk | header, *([b"x"] if cmd == P.CHUNK else []))
    _complete(s, welcomes[0].header["spec"], job, want_job=False)
    s.close()
    _all_done_honestly(broker, [Proc(worker_args(port, "w"), logs / "w.log")], out, 2)
    text = broker.text()
    assert "OverflowError" not in text and len(warning_lines(text)) < 20
    assert security_counts(out)["malformed"] >= 15


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_worker_hands_its_job_back(tmp_path, sig):
    """Scale-down: SIGTERM (or Ctrl-C) mid-render hands the job back (RELEASE: requeued, not a
    lost lease), says BYE and exits 128 + the signal, within the grace period."""
    spec = write_spec(tmp_path / "spec.toml", characters=2, images=1)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker.log")
    slow = Proc(worker_args(port, "slow", 60.0), logs / "slow.log")  # a 60-second render
    wait_until(lambda: job_counts(out).get("leased", 0) == 1, 30, what="the slow worker's lease")
    slow.signal(sig)
    assert slow.wait(15) == 128 + sig, slow.text()[-2000:]
    assert "handing back" in slow.text() and "Traceback" not in slow.text()
    assert job_counts(out).get("leased", 0) == 0  # the broker took it back before the worker left
    _all_done_honestly(broker, [Proc(worker_args(port, "fast"), logs / "fast.log")], out, 2)
    assert charged(out) == (0, 0)
    assert query(out, "SELECT outcome FROM attempts WHERE worker='slow'") == [("interrupted",)]
    stats = broker_stats(broker.text())
    assert stats["dead_workers"] == 0 and stats["lost_leases"] == 0  # it said BYE; nothing was lost


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_shared_mode_never_follows_a_staged_or_planted_link(tmp_path):
    """Shared mode: a staged 'image' that is a link to a file outside (declared with that file's
    checksum), and a link planted where another character's mask will be stored. The broker
    copies nothing from outside and writes nothing through the link."""
    from farmkit import query as q
    from headless.farm_layout import CharacterView
    from synth_humans_addon.core.dataset import mask_relpath

    out, logs, port, broker = _start(tmp_path, 2, "--shared")
    secret, victim = tmp_path / "secret.jpg", tmp_path / "victim.png"
    secret.write_bytes(b"outside the dataset " * 50)
    victim.write_bytes(b"must stay as it is")
    s = ScriptedWorker(port, name="linker")
    welcome, job, j, a = _take_job(s)
    files, declared, infos = s.render(welcome.header["spec"], job)
    staging = out / job.header["staging"]
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "000.image").symlink_to(secret)
    (staging / "000.mask").write_bytes(files[(0, "mask")])
    declared = [d | ({"size": len(secret.read_bytes()), "sha256": _sha(secret.read_bytes())} if d["kind"] == "image"
                     else {}) for d in declared]
    other = CharacterView.from_json(q(out, "SELECT sample FROM jobs WHERE id=?", 1 - j)[0][0])
    planted = out / mask_relpath(other.pid, other.images[0])
    planted.symlink_to(victim)
    s.send(P.DONE, s.lease(j, a) | {"files": declared, "infos": infos, "want_job": False})
    verdict = s.recv(timeout=20, want=P.RESULT)
    assert verdict.header["accepted"] is False and "symbolic link" in verdict.header["reason"], verdict.header
    s.close()
    _all_done_honestly(broker, [Proc(worker_args(port, "w", 0.0, "--shared-root", str(out)), logs / "w.log")], out, 2)
    assert victim.read_bytes() == b"must stay as it is" and planted.is_file() and not planted.is_symlink()
    stored = {_sha(p.read_bytes()) for p in out.rglob("*") if p.is_file() and ".farm" not in p.parts}
    assert _sha(secret.read_bytes()) not in stored
    assert charged(out) == (1, 0)  # the linker's own job: one rejected result, not parked


@pytest.mark.slow  # two brokers and the resumed one's grace for inherited leases: ~6 s
def test_a_dataset_folder_swapped_for_a_link_stops_the_broker(tmp_path):
    """Shared mode: `masks/` replaced by a link to a folder outside mid-run. The broker writes
    nothing there: it stops (status 5, naming the folder), and once the link is gone a plain
    resume finishes."""
    n = 6
    out, logs, port, broker = _start(tmp_path, n, "--shared", heartbeat=0.3)
    worker = Proc(worker_args(port, "w", 0.05, "--shared-root", str(out)), logs / "w.log")
    wait_until(lambda: job_counts(out).get("done", 0) >= 2, 60, what="the first jobs")
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / "masks").rename(out / "masks.moved")
    (out / "masks").symlink_to(outside)
    assert broker.wait(60) == 5, broker.text()[-3000:]
    last = [line for line in broker.text().splitlines() if line.strip()][-1]
    assert last.startswith(f"broker: storage fault on {out}/masks: ELOOP"), last
    assert list(outside.iterdir()) == []
    worker.stop()
    (out / "masks").unlink()
    (out / "masks.moved").rename(out / "masks")
    resumed = Proc(broker_args(None, out, port, "--shared"), logs / "broker-2.log")
    _all_done_honestly(resumed, [Proc(worker_args(port, "w2", 0.0, "--shared-root", str(out)), logs / "w2.log")],
                       out, n)
    assert charged(out) == (0, 0) and list(outside.iterdir()) == []


def test_a_peer_ignoring_the_jobs_it_asks_for_parks_nothing(tmp_path):
    """A live peer that asks for work with every heartbeat and never names (nor renders) what it
    gets: its leases expire, the jobs go back uncounted, and it gets no work for a while, so
    even with --max-lost 2 nothing is parked."""
    n = 4
    out, logs, port, broker = _start(tmp_path, n, "--max-lost", "2", heartbeat=0.3)
    ignorer = ScriptedWorker(port, name="ignorer")
    ignorer.register(want_job=True)
    ignorer.want_job = True
    stop = ignorer.keep_alive()
    honest = Proc(worker_args(port, "honest", 0.2), logs / "honest.log")
    _all_done_honestly(broker, [honest], out, n)
    got = [m for m in stop() if m.command == P.JOB]
    ignorer.sock.close(linger=0)
    assert got, "the ignoring peer was never handed a job: nothing was tested"
    assert charged(out) == (0, 0)
