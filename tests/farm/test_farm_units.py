"""Unit tests of the farm's pieces: protocol bounds, the job table's transitions, storage checks."""
from __future__ import annotations

import hashlib
import json
import os
import select
import sqlite3
import time

import pytest

from headless import jobs as J
from headless import protocol as P
from headless.dataset_audit import audit
from headless.durable_io import syncfs_available
from headless.farm_layout import CharacterView, db_path
from headless.sample_expansion import expand_samples
from headless.security import is_loopback_endpoint
from headless.standin import render_character
from headless.store_pipeline import (DeclaredFile, StorePipeline, StoreTask, Upload, VerificationError, metadata_json,
                                     store_character)
from synth_humans_addon.core.dataset import RenderedImage, character_record, create_dataset, read_dataset
from synth_humans_addon.core.sampling import expand_character, expand_dataset
from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.spec_io import spec_to_dict


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


def test_header_depth_and_size_limits():
    deep = b"[" * 100_000
    with pytest.raises(P.ProtocolError, match="nests deeper"):
        P.decode([P.MAGIC, P.HB, deep], P.WORKER_COMMANDS)
    nested = json.dumps({"a": json.loads("[" * (P.MAX_DEPTH + 1) + "]" * (P.MAX_DEPTH + 1))}).encode()
    with pytest.raises(P.ProtocolError, match="nests deeper"):
        P.decode([P.MAGIC, P.HB, nested], P.WORKER_COMMANDS)
    many = json.dumps({"held": [0] * (P.MAX_ITEMS + 1)}).encode()
    with pytest.raises(P.ProtocolError, match="more than"):
        P.decode([P.MAGIC, P.HB, many], P.WORKER_COMMANDS)
    ok = {"infos": {"0": {"keypoints": {"head": [1.0, 2.0, 1]}, "camera_matrix": [[0.0] * 4] * 4}}}
    assert P.decode(P.encode(P.DONE, ok), P.WORKER_COMMANDS).header == ok


def test_image_info_schema():
    good = {"bbox": [0, 0, 16, 32], "frame_size": [640, 480], "crop_size": [16, 32],
            "keypoints": {"head": [1.5, 2.0, 1]}, "person_box_world": [[0, 0, 0], [1.0, 1, 2]],
            "camera_matrix": [[1.0, 0, 0, 0]] * 4, "camera_reaimed": False, "pose_source": "mixamo",
            "engine": "cycles", "renderer": "standin", "timings": {"render": 0.5}, "pose_fallback": "x"}
    assert P.validate_image_info(good, 0) is good
    for bad in ({"file": "a.jpg"}, {"mask": "/etc/hostname"}, {"k": 1}, {"camera_id": 2}, {"subset": "query"},
                {"sha256": "0" * 64}, {"unknown": 1}, {"bbox": [0, 0, float("nan"), 1]},
                {"bbox": [0, 0, float("inf"), 1]}, {"bbox": [True, 0, 1, 1]}, {"bbox": [0, 0, 1]},
                {"frame_size": [1.5, 2]}, {"keypoints": {"head": [1e300, 0]}}, {"keypoints": {"x" * 65: [0, 0]}},
                {"camera_reaimed": 1}, {"pose_source": "x" * 201}, {"timings": {"t": -1}}):
        with pytest.raises(P.ProtocolError):
            P.validate_image_info(bad, 3)
    with pytest.raises(P.ProtocolError):
        P.validate_image_info(["not", "a", "dict"], 0)


def test_worker_fields_never_override_names_in_the_metadata():
    spec = small_spec(n=1, images=1)
    ch = next(iter(expand_dataset(spec)))
    rec = character_record(ch, [RenderedImage(0, b"", b"", {"file": "/etc/passwd", "mask": "../x", "k": 9,
                                                            "camera_id": 99, "subset": "query"})])
    e = rec["images"][0]
    im = ch.images[0]
    assert (e["k"], e["camera_id"], e["subset"]) == (im.k, im.camera_id, im.subset)
    assert e["file"].startswith(im.subset + "/") and e["mask"].startswith("masks/")


def test_storage_faults_are_classified_and_injected(tmp_path):
    import errno

    from headless.dataset_fs import DatasetDirs
    from headless.durable_io import FAULT_ENV, Disk, FaultyDisk, disk_from_env, storage_fault

    assert storage_fault(OSError(errno.ENOSPC, "No space left on device", "/d/x.jpg")).path == "/d/x.jpg"
    assert storage_fault(OSError(errno.EROFS, "Read-only file system")).errno == errno.EROFS
    for code in (errno.EACCES, errno.EPERM, errno.ELOOP):  # an unwritable folder, a folder that is a link
        assert storage_fault(OSError(code, os.strerror(code), "/d/masks")).errno == code
    assert storage_fault(OSError(errno.ENOENT, "missing")) is None  # not the disk's fault
    assert storage_fault(ValueError("x")) is None
    full = sqlite3.OperationalError("database or disk is full")
    assert storage_fault(full, "/d/.farm/jobs.sqlite").errno == errno.ENOSPC
    assert "ENOSPC" in storage_fault(full, "/d/.farm/jobs.sqlite").line()
    assert type(disk_from_env({})) is Disk
    disk = disk_from_env({FAULT_ENV: "EIO:1"})
    assert isinstance(disk, FaultyDisk)
    with DatasetDirs(tmp_path) as dirs:
        disk.write(dirs, "masks/a", b"1")
        with pytest.raises(OSError) as exc:
            disk.write(dirs, "masks/b", b"2")
    assert exc.value.errno == errno.EIO and exc.value.filename == f"{tmp_path}/masks/b"
    with pytest.raises(OSError):
        disk.sync(tmp_path)  # a failing disk stays failing
    assert disk_from_env({FAULT_ENV: "EPERM:3"}).error == errno.EPERM
    with pytest.raises(ValueError):
        disk_from_env({FAULT_ENV: "ENOENT"})


def test_store_character_leaves_nothing_half_way_on_a_storage_fault(tmp_path):
    import errno

    from headless.durable_io import FaultyDisk

    spec = small_spec(n=1, images=2)
    create_dataset(tmp_path, "t", spec_to_dict(spec))
    ch = next(iter(expand_dataset(spec)))
    rendered = render_character(spec, ch)
    files = [DeclaredFile(r.k, kind, len(b), hashlib.sha256(b).hexdigest())
             for r in rendered for kind, b in (("image", r.image), ("mask", r.mask))]
    uploaded = {(r.k, kind): b for r in rendered for kind, b in (("image", r.image), ("mask", r.mask))}
    with pytest.raises(OSError) as exc:
        store_character(tmp_path, ch, files, {}, {}, uploaded, durable=False, disk=FaultyDisk(errno.ENOSPC, 3))
    assert exc.value.errno == errno.ENOSPC
    left = [p for sub in ("bounding_box_train", "bounding_box_test", "query", "validation", "masks", "metadata")
            for p in (tmp_path / sub).iterdir()]
    assert left == []  # the three files it wrote are gone again
    store_character(tmp_path, ch, files, {}, {}, uploaded, durable=False)  # a healthy disk: stored
    assert read_dataset(tmp_path).images


def test_old_job_tables_gain_the_lease_binding_columns(tmp_path):
    path = tmp_path / "jobs.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, split TEXT NOT NULL, "
                "images INTEGER NOT NULL, sample TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', "
                "attempt INTEGER NOT NULL DEFAULT 0, worker TEXT, failures INTEGER NOT NULL DEFAULT 0, "
                "lost INTEGER NOT NULL DEFAULT 0, last_error TEXT, leased_at REAL, finished_at REAL, "
                "render_s REAL, completions INTEGER NOT NULL DEFAULT 0)")  # the table before lease binding
    assert "lease_token" not in {r[1] for r in con.execute("PRAGMA table_info(jobs)")}
    con.close()
    t = J.JobTable(path)
    assert {"lease_token", "lease_key"} <= {r[1] for r in t.db.execute("PRAGMA table_info(jobs)")}
    t.close()


def test_local_workers_restart_a_crash_but_not_a_worker_stopped_on_purpose(tmp_path):
    """generate's supervisor starts a crashed worker again (exit 1, SIGKILL), never one stopped
    by Ctrl-C or SIGTERM: its own 130 or 143, or the signal itself before its handlers."""
    import sys

    from headless.generate import LocalWorkers

    scripts = ["import sys; sys.exit(1)", "import sys; sys.exit(130)", "import sys; sys.exit(143)",
               "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
               "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]

    class Scripted(LocalWorkers):
        spawned = [0] * len(scripts)

        def command(self, i: int) -> list[str]:
            self.spawned[i] += 1
            return [sys.executable, "-c", scripts[i]]

    pool = Scripted("tcp://127.0.0.1:1", len(scripts), "standin", tmp_path, max_restarts=6)
    pool.start()
    deadline = time.time() + 30
    while pool.restarts < pool.max_restarts and time.time() < deadline:
        time.sleep(0.1)
    pool.stop(timeout=5)
    assert pool.restarts == pool.max_restarts, pool.spawned
    assert pool.spawned[1:4] == [1, 1, 1] and pool.spawned[0] > 1 and pool.spawned[4] > 1, pool.spawned
