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
import time
from pathlib import Path

import pytest
import zmq
from PIL import Image

from farmkit import (Proc, ScriptedWorker, broker_args, finish, free_port, job_counts, rss_bytes, security_counts,
                     wait_until, worker_args, write_spec)
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
    wait_until(lambda: "broker on tcp://" in broker.text(), 60, what="the broker listening")
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
