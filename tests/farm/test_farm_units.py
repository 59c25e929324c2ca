"""Unit tests of the farm's pieces: protocol bounds, the job table's transitions, storage checks."""
from __future__ import annotations

import hashlib
import json
import select
import sqlite3
import time

import pytest

from headless import jobs as J
from headless.broker import expand_samples
from headless import protocol as P
from headless.security import is_loopback_endpoint
from headless.standin import render_character
from headless.storage import (CharacterView, DeclaredFile, StorePipeline, StoreTask, Upload, VerificationError, audit,
                              db_path, metadata_json, store_character, syncfs_available)
from synth_humans_addon.core.dataset import RenderedImage, character_record, create_dataset, read_dataset
from synth_humans_addon.core.sampling import expand_character, expand_dataset
from synth_humans_addon.core.spec import Spec, spec_to_dict


def small_spec(n=4, images=2) -> Spec:
    s = Spec()
    s.dataset.characters, s.dataset.images_per_character = n, images
    s.dataset.test_characters, s.dataset.validation_characters = 1, 1
    s.render.crop_height = 32
    return s


def test_protocol_round_trip_and_bounds():
    frames = P.encode(P.CHUNK, {"job": 1, "attempt": 2}, b"data")
    msg = P.decode(frames, P.WORKER_COMMANDS)
    assert msg.command == P.CHUNK and msg.header == {"job": 1, "attempt": 2} and msg.payload == [b"data"]
    for bad in ([b"x"], [b"BAD!", P.HB, b"{}"], [P.MAGIC, b"PICKLE", b"{}"], [P.MAGIC, P.HB, b"\x80abc"],
                [P.MAGIC, P.HB, b"[]"], [P.MAGIC, P.HB, b"{" + b" " * P.MAX_HEADER + b"}"],
                [P.MAGIC, P.HB, b"{}", b"\0" * (P.MAX_PAYLOAD + 1)]):
        with pytest.raises(P.ProtocolError):
            P.decode(bad, P.WORKER_COMMANDS)
    with pytest.raises(P.ProtocolError):
        P.decode(P.encode(P.JOB, {}), P.WORKER_COMMANDS)  # a broker command from a worker
    with pytest.raises(P.ProtocolError):
        P.get_kind({"kind": "../../etc/passwd"})
    with pytest.raises(P.ProtocolError):
        P.get_int({"job": True}, "job")
    with pytest.raises(P.ProtocolError):
        P.get_sha256({"sha256": "Z" * 64})
    assert P.safe_name("a/../b\n\x1b[31m") == "a_.._b___31m"


def test_loopback_detection():
    assert is_loopback_endpoint("tcp://127.0.0.1:5555") and is_loopback_endpoint("tcp://[::1]:1")
    assert is_loopback_endpoint("tcp://localhost:5555") and is_loopback_endpoint("ipc:///tmp/x")
    assert not is_loopback_endpoint("tcp://0.0.0.0:5555") and not is_loopback_endpoint("tcp://*:5555")
    assert not is_loopback_endpoint("tcp://10.1.2.3:5555") and not is_loopback_endpoint("tcp://eth0:5555")


def test_job_table_fencing_and_parking(tmp_path):
    spec = small_spec()
    t = J.JobTable(tmp_path / "jobs.sqlite")
    assert t.initialise(spec_to_dict(spec), (c.to_dict() for c in expand_dataset(spec))) == 4
    a1 = t.lease(0, "w1", 1.0)
    assert t.release(0, a1, 2.0, "worker died", failure=False, max_failures=2, max_lost=5) == J.PENDING
    a2 = t.lease(0, "w2", 3.0)
    assert a2 == a1 + 1
    assert not t.complete(0, a1, 4.0, 0.1)  # the superseded attempt cannot complete the job
    assert t.release(0, a1, 4.0, "late", failure=True, max_failures=2, max_lost=5) is None
    assert t.complete(0, a2, 5.0, 0.1)
    assert not t.complete(0, a2, 6.0, 0.1)  # done once
    a = t.lease(1, "w1", 1.0)
    assert t.release(1, a, 2.0, "boom 1", failure=True, max_failures=2, max_lost=5) == J.PENDING
    a = t.lease(1, "w1", 3.0)
    assert t.release(1, a, 4.0, "boom 2", failure=True, max_failures=2, max_lost=5) == J.FAILED
    t.commit()
    assert t.counts() == {"pending": 2, "leased": 0, "done": 1, "failed": 1}
    # The stored samples reproduce the character exactly.
    assert json.loads(t.sample_json(2)) == expand_character(spec, 2).to_dict()
    t.close()


def _declared(rendered):
    files, declared = {}, []
    for r in rendered:
        for kind, data in (("image", r.image), ("mask", r.mask)):
            files[(r.k, kind)] = data
            declared.append(DeclaredFile(r.k, kind, len(data), hashlib.sha256(data).hexdigest()))
    return files, declared


def test_store_character_verifies_before_writing(tmp_path):
    spec = small_spec()
    create_dataset(tmp_path, "t", spec_to_dict(spec))
    ch = expand_character(spec, 0)
    view = CharacterView(ch.to_dict())
    files, declared = _declared(render_character(spec, ch))
    bad = dict(files)
    key = next(iter(bad))
    bad[key] = bad[key][:-1] + bytes([bad[key][-1] ^ 1])  # one flipped bit
    with pytest.raises(VerificationError, match="SHA-256"):
        store_character(tmp_path, view, declared, {}, {}, uploaded=bad)
    with pytest.raises(VerificationError, match="never arrived"):
        store_character(tmp_path, view, declared, {}, {}, uploaded={k: v for k, v in files.items() if k != key})
    with pytest.raises(VerificationError, match="do not match"):
        store_character(tmp_path, view, declared[:-1], {}, {}, uploaded=files)
    assert not any((tmp_path / "metadata").iterdir())  # nothing half-stored
    stored = store_character(tmp_path, view, declared, {0: {"bbox": [1, 2, 3, 4]}}, {"farm": {"attempt": 1}},
                             uploaded=files)
    assert stored.images == 2
    ds = read_dataset(tmp_path)
    assert len(ds.images) == 2 and ds.images[0].info["bbox"] == [1, 2, 3, 4]
    rec = ds.characters[ch.pid]
    assert rec["character"] == ch.to_dict() and rec["farm"] == {"attempt": 1}
    assert all(e["sha256"] == hashlib.sha256((tmp_path / e["file"]).read_bytes()).hexdigest() for e in rec["images"])


def test_upload_rejects_names_outside_the_job():
    up = Upload(frozenset({0, 1}))
    with pytest.raises(P.ProtocolError):
        up.write_chunk(2, "image", 0, 4, "0" * 64, b"abcd")
    with pytest.raises(P.ProtocolError):
        up.write_chunk(0, "../x", 0, 4, "0" * 64, b"abcd")
    with pytest.raises(P.ProtocolError):
        up.write_chunk(0, "image", 2, 4, "0" * 64, b"abcd")  # past the end of the file
    with pytest.raises(P.ProtocolError):
        up.write_chunk(0, "image", 2, 4, "0" * 64, b"cd")  # a gap: memory only for bytes that arrived
    up.write_chunk(0, "image", 0, 4, "0" * 64, b"ab")
    assert up.nbytes == 2  # not the claimed 4
    up.write_chunk(0, "image", 2, 4, "0" * 64, b"cd")
    assert up.files() == {(0, "image"): b"abcd"}
    with pytest.raises(P.ProtocolError):
        Upload(frozenset({0}), max_size=1000).write_chunk(0, "image", 0, 64 * 2**20, "0" * 64, b"x")
    up.write_chunk(1, "mask", 0, 3, "1" * 64, b"xyz")  # a whole file in one chunk (kept without a copy)
    up.write_chunk(1, "mask", 1, 3, "1" * 64, b"Y")  # a repeated piece of it
    assert up.files() == {(0, "image"): b"abcd", (1, "mask"): b"xYz"} and up.nbytes == 7


def test_audit_finds_orphans_and_missing_files(tmp_path):
    spec = small_spec(n=2, images=1)
    create_dataset(tmp_path, "t", spec_to_dict(spec))
    t = J.JobTable(db_path(tmp_path))
    t.initialise(spec_to_dict(spec), (c.to_dict() for c in expand_dataset(spec)))
    for i in range(2):
        ch = expand_character(spec, i)
        files, declared = _declared(render_character(spec, ch))
        store_character(tmp_path, CharacterView(ch.to_dict()), declared, {}, {}, uploaded=files)
        a = t.lease(i, "w", 1.0)
        t.complete(i, a, 2.0, 0.0)
    t.close()
    assert audit(tmp_path).ok
    (tmp_path / "bounding_box_train" / "0099_c1s1_000000_00.jpg").write_bytes(b"stray")
    rec = json.loads((tmp_path / "metadata" / "0001.json").read_text())
    (tmp_path / rec["images"][0]["mask"]).unlink()
    rep = audit(tmp_path)
    assert rep.orphaned == 1 and rep.lost == 1 and not rep.ok
    con = sqlite3.connect(db_path(tmp_path))
    con.execute("UPDATE jobs SET completions=2 WHERE id=1")
    con.commit()
    con.close()
    assert audit(tmp_path).duplicated == 1


def test_metadata_embeds_the_stored_samples_verbatim_and_safely():
    spec = small_spec(n=2, images=2)
    ch = expand_character(spec, 0)
    text = json.dumps(ch.to_dict())
    view = CharacterView.from_json(text)
    rendered = [RenderedImage(k=i.k, image=b"", mask=b"", info={"note": json.dumps("\0sample-x"), "sha256": "a" * 64})
                for i in ch.images]
    extra = {"farm": {"attempt": 3, "worker": "w"}}
    spliced = json.loads(metadata_json(view, rendered, extra))
    plain = json.loads(metadata_json(CharacterView(ch.to_dict()), rendered, extra))
    assert spliced == plain == json.loads(json.dumps(character_record(ch, rendered, extra)))
    assert spliced["character"] == ch.to_dict() and spliced["images"][0]["note"] == json.dumps("\0sample-x")


def test_store_pipeline_stores_in_batches_and_reports_each_result(tmp_path):
    spec = small_spec(n=4, images=2)
    create_dataset(tmp_path, "t", spec_to_dict(spec))
    pipeline = StorePipeline(tmp_path, sync="group" if syncfs_available() else "file")
    tasks = []
    for i in range(4):
        ch = expand_character(spec, i)
        files, declared = _declared(render_character(spec, ch))
        if i == 2:  # a corrupted upload: rejected, nothing of it stored
            key = next(iter(files))
            files[key] = files[key][:-1] + bytes([files[key][-1] ^ 1])
        tasks.append(StoreTask(i, 1, b"w", len(ch.images), json.dumps(ch.to_dict()), declared, {}, {}, files, None))
        pipeline.submit(tasks[-1])
    got: list[StoreTask] = []
    deadline = time.time() + 30
    while len(got) < 4 and time.time() < deadline:
        select.select([pipeline.wake_fd], [], [], 1.0)  # the pipeline wakes the broker's poll
        got += pipeline.finished()
    pipeline.close()
    assert sorted(t.job for t in got) == [0, 1, 2, 3]
    errors = {t.job: t.error for t in got}
    assert isinstance(errors.pop(2), VerificationError) and not any(errors.values())
    ds = read_dataset(tmp_path)
    assert sorted(ds.characters) == sorted(expand_character(spec, i).pid for i in (0, 1, 3))
    assert all(hashlib.sha256(r.path.read_bytes()).hexdigest() == r.info["sha256"] for r in ds.images)
    assert not list(tmp_path.rglob(".*.part"))  # no temporaries left


def test_parallel_expansion_gives_the_same_samples():
    spec = small_spec(n=7, images=2)
    serial = list(expand_samples(spec, processes=1))
    parallel = list(expand_samples(spec, processes=3))  # 3 real child processes, ranges of 2-3 characters
    assert parallel == serial == [c.to_dict() for c in expand_dataset(spec)]
