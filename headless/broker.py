"""The broker: owns the job table, leases jobs to workers, receives and stores their results.

One thread runs a ZeroMQ ROUTER loop (no `bpy` needed); a small thread pool verifies and
moves finished characters into the dataset so disk syncs never stall the loop. Each loop turn
handles every waiting message, checks heartbeats and leases, hands out jobs, commits the
job table once, and only then sends the replies that depend on it (group commit).

Guarantees (see docs/farm.md): a job is marked done only after every image and mask of it
is stored under its final name with a verified SHA-256 and its metadata is written; a result
from a superseded attempt is discarded; a worker silent for `liveness × heartbeat` seconds is
dead and its job goes back to the queue; a job failing `max_failures` times is parked as
failed with its error. Restarting the broker on the same folder resumes the run.

Workers are not trusted (docs/farm.md, threat model): a lease is bound to its holder (an
unguessable token plus the holder's CURVE key or routing id) and only the holder may upload to
it, complete it or fail it; everything else is refused, logged (rate-limited) and counted. On
a storage fault (ENOSPC, EROFS, EIO, EACCES, EPERM, a linked folder) the broker pauses its
workers, writes nothing half-way and stops with `stats.storage_fault` set (exit status 5); the
fault is never counted against a job, so running it again after fixing the disk finishes the run.

This module is the lease and job state machine; its pieces live beside it: the socket in
`broker_transport.py`, its settings and statistics in `broker_config.py`, the job table in
`jobs.py`, a new run's samples in `sample_expansion.py`, uploads and the store into the dataset
in `store_pipeline.py` (durable writes and storage faults in `durable_io.py`, link-safe paths in
`dataset_fs.py`), what a resumed run settles before serving in `broker_recovery.py` (the file
checks in `dataset_recovery.py`), and the rate limits and caps that keep floods bounded in
`broker_limits.py`.
"""
from __future__ import annotations

import collections
import hmac
import json
import logging
import os
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
import zmq

from synth_humans_addon.core.dataset import create_dataset
from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.spec_io import spec_fingerprint, spec_from_dict, spec_to_dict

from . import jobs as J
from . import protocol as P
from .broker_config import BrokerConfig, BrokerStats, StorageFaultError
from .broker_limits import MAX_PEERS, EventLog, KeyedThrottle, RateLimitedLog
from .broker_transport import BrokerSocket
from .broker_recovery import recover_run
from .dataset_recovery import clean_temporaries, remove_character_files, remove_staging
from .durable_io import StorageFault, disk_from_env, storage_fault, syncfs_available
from .farm_layout import CharacterView, db_path, staging_relpath
from .sample_expansion import expand_samples
from .store_pipeline import (DeclaredFile, StorePipeline, StoreTask, Upload, VerificationError, file_size_bound,
                             sync_dataset_dirs)

log = logging.getLogger("headless.broker")

@dataclass
class WorkerState:
    ident: bytes
    name: str
    key: str | None = None  # its CURVE public key (z85), with CURVE
    host: str = ""
    pid: int = 0
    renderer: str = ""
    last_seen: float = 0.0
    jobs: set[int] = field(default_factory=set)  # leases it holds and has not reported (one at most: its share)
    idle: bool = False  # waiting for a job
    strikes: int = 0  # leases it let expire while alive (it never named them): it gets work later
    benched_until: float = 0.0
    done_jobs: int = 0  # not yet written to the table
    done_images: int = 0
    done_render_s: float = 0.0


@dataclass
class Lease:
    job: int
    attempt: int
    ident: bytes | None
    expires: float
    started: float
    finalizing: bool = False
    sample: str = ""  # the character sample (JSON), cached from the table for the lease's life
    token: str | None = None  # the holder's proof (sent with JOB only to the holder)
    key: str | None = None  # the holder's CURVE key: with CURVE, only that key may re-bind the lease
    inherited: bool = False  # a lease of the previous broker process, waiting for its holder


def same_token(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a, b)


class Broker:
    def __init__(self, config: BrokerConfig, spec: Spec | None = None, ctx: zmq.Context | None = None,
                 transport: BrokerSocket | None = None):
        """`spec`: the run to start (None: resume the run in `config.out`). `transport`: the
        socket, bound already (`run_broker` binds before the job table exists, so a refused
        address leaves no `.farm` behind); None: `run` binds `config.bind`."""
        self.cfg = config
        self.root = Path(config.out)
        self.ctx = ctx or zmq.Context.instance()
        self.stats = BrokerStats()
        self.workers: dict[bytes, WorkerState] = {}
        self.leases: dict[int, Lease] = {}
        self.uploads: dict[tuple[int, int], Upload] = {}
        self.pending: collections.deque[int] = collections.deque()
        self.idle: collections.deque[bytes] = collections.deque()
        self.outbox: list[tuple[bytes, list[bytes]]] = []
        self.in_store = 0
        self.stop_requested = False
        self.endpoint: str | None = None
        self.transport = transport
        self._secure = False  # CURVE: leases are bound to the holder's key too
        self._rlog = RateLimitedLog(log)
        self._security_saved: dict[str, int] = {}
        self.disk = config.disk or disk_from_env()
        self._resets = KeyedThrottle(config.heartbeat_s)  # RESETs to unknown peers: one per peer per beat
        self._waiting: dict[tuple[int, int], list[bytes]] = {}  # repeated DONEs awaiting the verdict (a few)
        self._dirs_dirty = False
        # Durable mode: one syncfs per batch when the system has it, else an fsync per file.
        self._sync_mode = ("group" if syncfs_available() else "file") if config.durable else "none"
        self._store: StorePipeline | None = None
        try:
            self._open_table(spec)
            self._event = EventLog(self.table)  # rate-limited, trimmed: floods leave bounded rows
        except (OSError, sqlite3.Error) as exc:
            fault = storage_fault(exc, db_path(self.root))
            if fault is None:
                raise
            raise StorageFaultError(fault) from None

    # ------------------------------------------------------------------------ set-up
    def _open_table(self, spec: Spec | None) -> None:
        """Start the run of `spec`, or resume the one in the folder (then `spec`, if given, must be
        its spec). The spec is parsed once per process: the caller's object for a new run, the
        job table's copy on a resume."""
        self.table = J.JobTable(db_path(self.root))
        if not self.table.is_initialised():
            if spec is None:
                raise FileNotFoundError(f"{self.root}: no job table to resume; give a spec to start a run")
            self.spec_dict = spec_to_dict(spec)
            n = self.table.initialise(self.spec_dict, expand_samples(spec, scratch=self.table.path.parent))
            log.info("new run: %d jobs in %s", n, self.table.path)
        else:
            if spec is not None and self.table.get_meta("spec_fingerprint") != spec_fingerprint(spec_to_dict(spec)):
                raise ValueError(f"{self.table.path}: this folder holds a run of a different spec; "
                                 "use another --out folder (or resume without a spec)")
            self.spec_dict = self.table.spec_dict()  # the run's own spec (its base_dir, say), not the caller's
            spec = spec_from_dict(self.spec_dict, validate=False)
        self.job_images = self.table.image_count_per_job()  # index = job id
        self.n_jobs = len(self.job_images)
        self.max_file_size = file_size_bound(spec.render.crop_height)
        create_dataset(self.root, spec.dataset.name, self.spec_dict)
        if self.cfg.retry_failed:
            n = self.table.retry_failed()
            self.table.commit()
            log.info("%d parked jobs back in the queue", n)
        now = time.time()
        found = recover_run(self.root, self.table, now)
        self.stats.recovered = found.adopted
        grace = 2 * self.cfg.dead_after_s  # their workers may re-register and report meanwhile
        for o in found.open_leases:
            self.leases[o.job] = Lease(o.job, o.attempt, None, now + grace, now, token=o.token, key=o.key,
                                       inherited=True)
        self.pending.extend(self.table.ids_in_state(J.PENDING))

    # ------------------------------------------------------------------------ main loop
    def run(self, ready_callback=None) -> BrokerStats:
        """Serve until every job is done or parked (or `stop()`); returns the statistics."""
        if self.cfg.exit_when_done and self._all_finished():
            log.info("nothing to do: every job of %s is done or parked", self.root)
            clean_temporaries(self.root)
            self.table.close()
            if self.transport is not None:
                self.transport.close()
            return self.stats
        cfg = self.cfg
        if self.transport is None:
            self.transport = BrokerSocket(self.ctx, cfg.bind, cfg.curve_secret, cfg.curve_authorized, cfg.insecure)
        self.endpoint, self._secure = self.transport.endpoint, self.transport.secure
        if ready_callback:
            ready_callback(self.endpoint)
        log.info("broker on %s, dataset %s", self.endpoint, self.root)
        store = self._store = StorePipeline(self.root, self._sync_mode, self.cfg.store_threads, self.disk)
        done_images, total_images = self.table.image_counts()
        bar = None
        if self.cfg.progress:
            from tqdm import tqdm

            bar = tqdm(total=total_images, initial=done_images, unit="img", desc="images", dynamic_ncols=True,
                       smoothing=0.05)
        self._bar = bar
        poller = zmq.Poller()
        poller.register(self.transport.sock, zmq.POLLIN)
        poller.register(store.wake_fd, zmq.POLLIN)  # stored results wake the loop: no busy polling
        t0 = time.time()
        next_beat = t0
        try:
            while not self.stop_requested:
                try:
                    wait = max(0.0, next_beat - time.time())
                    if poller.poll(wait * 1000):
                        self._drain_socket()  # cheap when empty (one EAGAIN)
                    self._collect_stored()
                    now = time.time()
                    if now >= next_beat:
                        self._beat(now)
                        next_beat = now + self.cfg.heartbeat_s
                    self._dispatch(now)
                    self.table.commit()
                except (OSError, sqlite3.Error) as exc:
                    self._on_storage_error(exc)  # re-raises anything that is not a storage fault
                if self.stats.storage_fault is not None:
                    self._pause_workers()
                    break
                self._flush()
                if bar is not None:
                    bar.set_postfix(workers=len(self.workers), failed=self.stats.failed_jobs, refresh=False)
                if self.cfg.exit_when_done and self._all_finished():
                    break
            if self.stats.storage_fault is None:
                self._farewell()
        finally:
            # Each step on its own: a second storage fault while stopping must not stop the rest.
            self._safely(store.close)
            self._safely(self._collect_stored)
            self._safely(lambda: self._flush_worker_stats(time.time()))
            if self.stats.storage_fault is None:
                self._safely(lambda: sync_dataset_dirs(self.root))
                self._safely(self.table.commit)
            else:
                self.table.rollback()  # nothing half-way: the table stays as last committed
            self._safely(self._save_security_counts)
            self.stats.wall_s = time.time() - t0
            if bar is not None:
                bar.close()
            if self._all_finished() and self.stats.storage_fault is None:
                self._safely(lambda: clean_temporaries(self.root))
            self._safely(self._flush)
            self.transport.close()
            os.close(store.wake_fd)
            try:
                self.table.close()
            except sqlite3.Error as exc:
                self._note_fault(exc)
                self.table.abandon()
        if self.stats.storage_fault is not None:
            log.error("broker stopped: %s", self.stats.storage_fault.line())
        return self.stats

    # ------------------------------------------------------------------------ storage faults
    def _note_fault(self, exc: BaseException) -> StorageFault | None:
        fault = storage_fault(exc, db_path(self.root) if isinstance(exc, sqlite3.Error) else self.root)
        if fault is not None and self.stats.storage_fault is None:
            self.stats.storage_fault = fault
        return fault

    def _on_storage_error(self, exc: BaseException) -> None:
        """A write failed in the loop: a storage fault stops the broker; anything else is a bug."""
        if self._note_fault(exc) is None:
            raise exc
        self.table.rollback()
        self.outbox = [(ident, frames) for ident, frames in self.outbox
                       if frames[1] not in (P.JOB, P.RESULT)]  # replies that depended on the rolled-back turn

    def _safely(self, step) -> None:
        try:
            step()
        except (OSError, sqlite3.Error) as exc:
            if self._note_fault(exc) is None:
                log.error("while stopping: %s: %s", type(exc).__name__, exc)
            self.table.rollback()

    def _pause_workers(self) -> None:
        """Tell every worker to take no new job and keep what it holds: the run resumes later."""
        fault = self.stats.storage_fault
        for ident in list(self.workers):
            self.send(ident, P.PAUSE, {"reason": fault.line()[:500] if fault else "broker stopping"})
        self._flush()

    def _save_security_counts(self) -> None:
        if self.transport is not None and self.transport.secure:
            self.stats.handshakes_refused = self.transport.handshakes_refused
        counts = self.stats.security_counts()
        if counts != self._security_saved:
            self.table.begin()  # committed with the loop turn (or by close)
            self.table.set_meta("security", json.dumps(counts))
            self._security_saved = counts

    def stop(self) -> None:
        self.stop_requested = True

    def _all_finished(self) -> bool:
        return not self.pending and not self.leases and not self.in_store

    def _drain_socket(self, budget: int = 5000) -> None:
        """Handle every waiting message (up to `budget`) without blocking."""
        for ident, body, key in self.transport.receive(budget):
            if not body:
                self._malformed(b"?", "empty message")
                continue
            try:
                msg = P.decode(body, P.WORKER_COMMANDS)
                self._handle(ident, msg, time.time(), key)
            except (P.ProtocolError, VerificationError) as exc:
                self._malformed(ident, str(exc))
            except (OSError, sqlite3.Error) as exc:
                if storage_fault(exc) is not None:
                    raise  # the loop stops the broker on it
                self._handler_error(ident, exc)
            except Exception as exc:  # a bug must not take the farm down: log (rate-limited) and carry on
                self._handler_error(ident, exc)

    def _handler_error(self, ident: bytes, exc: BaseException) -> None:
        self.stats.malformed += 1
        self._rlog("handler-error", logging.ERROR, "error handling a message from %s: %s: %s",
                   P.safe_name(ident[:48]), type(exc).__name__, str(exc)[:300], exc_info=True)

    def _malformed(self, ident: bytes, why: str) -> None:
        self.stats.malformed += 1
        self._rlog("malformed", logging.WARNING, "dropped a malformed message from %s: %s",
                   P.safe_name(ident[:48]), why[:300])

    def _refuse(self, w: WorkerState, what: str, job: int, attempt: int, now: float) -> None:
        """A message about a lease the peer does not hold: refused, logged and recorded (both
        rate-limited), counted."""
        self.stats.refused += 1
        self._rlog("refused", logging.WARNING, "refused %s of job %d attempt %d from %s (%s): not the lease holder",
                   what, job, attempt, w.name, P.safe_name(w.ident[:48]))
        self._event("refused", f"{what} of job {job} attempt {attempt} from {w.name}: not the lease holder", now)

    def send(self, ident: bytes, command: bytes, header: dict | None = None, *payload: bytes) -> None:
        self.outbox.append((ident, P.encode(command, header, *payload)))

    def _flush(self) -> None:
        for ident, frames in self.outbox:
            if not self.transport.send(ident, frames):
                self._forget_worker(ident, "unreachable", time.time())
        self.outbox.clear()

    # ------------------------------------------------------------------------ messages
    def _handle(self, ident: bytes, msg: P.Message, now: float, key: str | None = None) -> None:
        cmd, h = msg.command, msg.header
        w = self.workers.get(ident)
        if log.isEnabledFor(logging.DEBUG) and cmd != P.CHUNK:
            log.debug("from %s: %s %s", ident[-8:], cmd.decode(), str(h)[:100])
        if w is not None and self._secure and key != w.key:
            # Another key behind a known routing id (a reconnect that took over the id): a new peer.
            self._forget_worker(ident, "left", now)
            w = None
        if cmd == P.READY:
            self._on_ready(ident, h, now, key)
            return
        if w is None:
            if cmd != P.BYE and self._resets.allow(ident, now):  # one RESET per peer per beat at most
                self.send(ident, P.RESET, {"reason": "unknown worker; register again"})
            return
        w.last_seen = now
        if cmd == P.HB:
            self._on_heartbeat(w, h, now)
        elif cmd == P.CHUNK:
            self._on_chunk(w, h, msg.payload, now)
        elif cmd == P.DONE:
            self._on_done(w, h, now)
        elif cmd == P.FAIL:
            self._on_fail(w, h, now)
        elif cmd == P.RELEASE:
            self._on_release(w, h, now)
        elif cmd == P.BYE:
            self._forget_worker(ident, "left", now)

    def _on_ready(self, ident: bytes, h: dict, now: float, key: str | None = None) -> None:
        name, host, pid, renderer = P.parse_ready(h, P.safe_name(ident))  # every field checked first
        want_job, held_named = P.get_bool(h, "want_job", True), P.parse_held(h)
        w = self.workers.get(ident)
        if w is None:
            if len(self.workers) >= MAX_PEERS:
                self._rlog("peers", logging.WARNING, "refused a registration: %d peers are registered already",
                           len(self.workers))
                return
            w = WorkerState(ident=ident, name=name, key=key)
            self.workers[ident] = w
            self.stats.workers_seen += 1
        w.host, w.pid, w.renderer, w.last_seen = host, pid, renderer, now
        held = self._claim_all(w, held_named, now)  # jobs it kept through a reconnect or a broker restart
        self.table.upsert_worker(w.name, w.host, w.pid, w.renderer, "busy" if held else "idle", now,
                                 held[0] if held else None)
        self.send(ident, P.WELCOME, {"spec": self.spec_dict, "heartbeat_s": self.cfg.heartbeat_s,
                                     "liveness": self.cfg.liveness, "chunk_size": self.cfg.chunk_size,
                                     "window": self.cfg.window, "shared": self.cfg.shared,
                                     "held": held})
        if want_job and not held:
            self._set_idle(w, now)

    def _claim_all(self, w: WorkerState, held: list[tuple[int, int, str]], now: float) -> list[int]:
        """Renew the leases a worker says it holds (`P.parse_held`)."""
        return [job for job in (self._claim(w, *entry, now) for entry in held) if job is not None]

    def _claim(self, w: WorkerState, job: int, attempt: int, token: str, now: float) -> int | None:
        """Renew, or re-bind to this peer, a lease it names with the lease's token.

        A re-bind (a reconnect: new routing id) needs the token and, with CURVE, the same key."""
        lease = self.leases.get(job)
        if lease is None or lease.attempt != attempt or lease.finalizing:
            return None  # finalizing: its result is in; the worker only waits for the verdict
        if not same_token(lease.token, token) or (self._secure and lease.key is not None
                                                  and lease.key != w.key):
            self._refuse(w, "a claim", job, attempt, now)
            return None
        if lease.ident != w.ident:
            if lease.ident is not None and lease.ident in self.workers:
                self.workers[lease.ident].jobs.discard(job)
            lease.ident = w.ident
            lease.inherited = False
        lease.expires = max(lease.expires, now + self.cfg.dead_after_s)
        w.jobs.add(job)
        return job

    def _set_idle(self, w: WorkerState, now: float) -> None:
        """The peer asks for a job. Only one that holds none gets one (its share: one lease at a
        time, and results in store), and not while benched for leases it ignored."""
        if not w.idle and not w.jobs and now >= w.benched_until:
            w.idle = True
            self.idle.append(w.ident)

    def _on_heartbeat(self, w: WorkerState, h: dict, now: float) -> None:
        want_job = P.get_bool(h, "want_job", False)
        self._claim_all(w, P.parse_held(h), now)
        if want_job:
            self._set_idle(w, now)

    def _lease_for(self, w: WorkerState, h: dict, now: float) -> tuple[int, int, Lease | None, bool]:
        """(job, attempt, the lease if `w` holds it, refused): `refused` is True when the attempt
        is current but `w` is not its holder or lacks its token, or the attempt was never issued;
        the lease is None then too. A past attempt is stale: (…, None, False)."""
        job = P.get_int(h, "job", 0, self.n_jobs - 1)
        attempt = P.get_int(h, "attempt", 1, P.MAX_ID)
        lease = self.leases.get(job)
        if lease is None or lease.attempt != attempt:
            return job, attempt, None, lease is not None and attempt > lease.attempt
        if lease.ident != w.ident or not same_token(lease.token, P.get_token(h)):
            return job, attempt, None, True
        lease.expires = max(lease.expires, now + self.cfg.dead_after_s)
        return job, attempt, lease, False

    def _on_chunk(self, w: WorkerState, h: dict, payload: list[bytes], now: float) -> None:
        job, attempt, lease, refused = self._lease_for(w, h, now)
        k, kind, offset = P.get_int(h, "k", 0, 999), P.get_kind(h), P.get_int(h, "offset", 0, self.max_file_size)
        # The claimed size is bounded by the spec's image size before anything is kept.
        size, sha = P.get_int(h, "size", 1, self.max_file_size), P.get_sha256(h)
        reply = {"job": job, "attempt": attempt, "k": k, "kind": kind, "offset": offset}
        if len(payload) != 1:
            raise P.ProtocolError(f"CHUNK with {len(payload)} payload frames")
        if refused:
            self._refuse(w, "an upload", job, attempt, now)
            self.send(w.ident, P.ACK, reply | {"ok": False, "reason": "not the lease holder"})
            return
        if lease is None or lease.finalizing or self.cfg.shared:
            if lease is None:  # recorded rate-limited: a stream of stale chunks leaves a few rows
                self.stats.stale_results += 1
                self._event("stale", f"upload of job {job} attempt {attempt} from {w.name}: refused (superseded)", now)
            self.send(w.ident, P.ACK, reply | {"ok": False, "reason": "superseded" if lease is None else "refused"})
            return
        up = self.uploads.get((job, attempt))
        if up is None:
            up = Upload(frozenset(range(self.job_images[job])), self.max_file_size)  # images are k = 0..n-1
            self.uploads[(job, attempt)] = up
        up.write_chunk(k, kind, offset, size, sha, payload[0])
        self.send(w.ident, P.ACK, reply | {"ok": True})

    def _result(self, ident: bytes, job: int, attempt: int, accepted: bool, reason: str | None = None, **more) -> None:
        self.send(ident, P.RESULT, {"job": job, "attempt": attempt, "accepted": accepted, **more}
                  | ({"reason": reason} if reason else {}))

    def _on_done(self, w: WorkerState, h: dict, now: float) -> None:
        job, attempt, lease, refused = self._lease_for(w, h, now)
        if lease is None and not refused:
            row = self.table.row(job)
            # Never "accepted" for a peer that did not hold this attempt; an attempt above the
            # job's last one was never issued (a forgery, not a late result).
            refused = attempt > row.attempt or (row.state == J.DONE and row.attempt == attempt
                                                and not self._held_done(w, job, h))
        if refused:
            self._refuse(w, "a result", job, attempt, now)
            self._result(w.ident, job, attempt, False, "not the lease holder")
            return
        if lease is None:  # no after-result: a report on a job it does not hold changes nothing of it
            if row.state == J.DONE and row.attempt == attempt:
                self.stats.duplicates += 1
                self._result(w.ident, job, attempt, True, duplicate=True)
            else:
                self.stats.stale_results += 1
                self._event("stale", f"job {job} attempt {attempt} from {w.name} (current {row.attempt}, "
                                     f"{row.state}): discarded", now)
                self._discard_staging(job, attempt)
                self._result(w.ident, job, attempt, False, "superseded")
            return
        if lease.finalizing:  # a repeated DONE: answer it too once the verdict is known
            self.stats.duplicates += 1
            waiting = self._waiting.setdefault((job, attempt), [])
            if len(waiting) < 8:  # each answered with the verdict; a flood of repeats is not kept
                waiting.append(w.ident)
            return
        # Per-image infos are validated against the schema in the storage thread (store_character).
        files, infos, render_s = P.parse_done(h, self.job_images[job], self.max_file_size)
        want_job = P.get_bool(h, "want_job", False)
        lease.finalizing = True
        self.in_store += 1
        w.jobs.discard(job)  # its result is in: the worker may take the next job at once (pipelining)
        up = self.uploads.pop((job, attempt), None)
        if self.cfg.shared:
            uploaded, staging = None, staging_relpath(job, attempt)
        else:
            uploaded, staging = (up.files() if up is not None else {}), None
        self._store.submit(StoreTask(job, attempt, w.ident, self.job_images[job],
                                     lease.sample or self.table.sample_json(job), [DeclaredFile(*f) for f in files],
                                     infos, {"farm": {"attempt": attempt, "worker": w.name, "render_s": render_s}},
                                     uploaded, staging, render_s))
        if want_job:
            self._set_idle(w, now)

    def _held_done(self, w: WorkerState, job: int, h: dict) -> bool:
        """Whether `w` held the lease that completed `job`: its token and, with CURVE, its key."""
        token, key = self.table.lease_binding(job)
        return same_token(token, P.get_token(h)) and not (self._secure and key is not None and key != w.key)

    def _on_fail(self, w: WorkerState, h: dict, now: float) -> None:
        job, attempt, lease, refused = self._lease_for(w, h, now)
        error = P.get_str(h, "error", 4000, "unknown error")
        want_job = P.get_bool(h, "want_job", False)
        if refused:
            self._refuse(w, "a failure report", job, attempt, now)
            self._result(w.ident, job, attempt, False, "not the lease holder")
        elif lease is None:  # not a current attempt: nothing to end, and the peer's state stays as it was
            self.stats.stale_results += 1
            self._result(w.ident, job, attempt, False, "superseded")
        else:
            if not lease.finalizing:
                self._end_lease(job, attempt, f"{w.name}: {error}", failure=True, now=now)
            self._result(w.ident, job, attempt, False, "failed")
            if want_job:
                self._set_idle(w, now)

    def _on_release(self, w: WorkerState, h: dict, now: float) -> None:
        """A stopping worker hands a job back unrendered (SIGTERM): requeued first, not counted."""
        job, attempt, lease, refused = self._lease_for(w, h, now)
        if refused:
            self._refuse(w, "a release", job, attempt, now)
            self._result(w.ident, job, attempt, False, "not the lease holder")
        elif lease is None or lease.finalizing:
            self._result(w.ident, job, attempt, False, "superseded" if lease is None else "finalizing")
        else:
            self._end_lease(job, attempt, f"handed back by {w.name}", failure=None, now=now)
            self._result(w.ident, job, attempt, False, "released")

    def _collect_stored(self) -> None:
        """Commit the results the storage pipeline has finished (one batch of SQL statements)."""
        tasks = self._store.finished() if self._store is not None else []
        if not tasks:
            return
        self.in_store -= len(tasks)
        now = time.time()
        good = [t for t in tasks if t.error is None]
        self._dirs_dirty = self._dirs_dirty or bool(good)
        committed = self.table.complete_many([(t.job, t.attempt, t.render_s) for t in good], now)
        verdict = dict(zip(((t.job, t.attempt) for t in good), committed))
        for t in tasks:
            job, attempt, ident, render_s, n_images, exc = t.job, t.attempt, t.ident, t.render_s, t.n_images, t.error
            w = self.workers.get(ident)
            if w is not None:
                w.jobs.discard(job)
            if exc is None and verdict[(job, attempt)]:
                self.leases.pop(job, None)
                self.stats.completed += 1
                self.stats.images += n_images
                self.stats.render_s += render_s or 0.0
                if w is not None:
                    w.done_jobs += 1
                    w.done_images += n_images
                    w.done_render_s += render_s or 0.0
                if self._bar is not None:
                    self._bar.update(n_images)
                self._result(ident, job, attempt, True)
                for other in self._waiting.pop((job, attempt), ()):
                    self._result(other, job, attempt, True, duplicate=True)
                continue
            if exc is not None and self._note_fault(exc) is not None:
                # The disk, not the job: nothing is counted and no verdict is sent; the lease stays
                # (the worker keeps its result and re-uploads it to the resumed broker).
                lease = self.leases.get(job)
                if lease is not None:
                    lease.finalizing = False
                self._waiting.pop((job, attempt), None)
                continue
            reason = f"{type(exc).__name__}: {exc}" if exc else "lease lost while storing"
            if not isinstance(exc, (VerificationError, OSError)) and exc is not None:
                log.error("storing job %d failed unexpectedly: %s", job, reason)
            self.stats.rejected += 1
            lease = self.leases.get(job)
            if lease is not None:
                lease.finalizing = False
            self._end_lease(job, attempt, f"result rejected: {reason}", failure=True, now=now)
            self._discard_staging(job, attempt)
            for target in [ident, *self._waiting.pop((job, attempt), ())]:
                self._result(target, job, attempt, False, reason[:500])

    def _flush_worker_stats(self, now: float) -> None:
        """Per-worker counters go to the table once per heartbeat, not once per job."""
        for w in self.workers.values():
            if w.done_jobs:
                self.table.worker_done(w.name, w.done_jobs, w.done_images, w.done_render_s, now,
                                       "busy" if w.jobs else "idle")
                w.done_jobs = w.done_images = 0
                w.done_render_s = 0.0

    def _discard_staging(self, job: int, attempt: int) -> None:
        self.uploads.pop((job, attempt), None)
        if self.cfg.shared:
            remove_staging(self.root, staging_relpath(job, attempt))

    # ------------------------------------------------------------------------ leases
    def _end_lease(self, job: int, attempt: int, error: str, failure: bool | None, now: float) -> None:
        lease = self.leases.get(job)
        if lease is None or lease.attempt != attempt or lease.finalizing:
            return
        del self.leases[job]
        if lease.ident in self.workers:
            self.workers[lease.ident].jobs.discard(job)
        self._discard_staging(job, attempt)
        state = self.table.release(job, attempt, now, error, failure, self.cfg.max_failures, self.cfg.max_lost)
        if state == J.PENDING:
            self.pending.appendleft(job)  # soonest: its images are overdue
            if failure is False:
                self.stats.lost_leases += 1
        elif state == J.FAILED:
            self.stats.failed_jobs += 1
            ch = CharacterView.from_json(self.table.sample_json(job))
            remove_character_files(self.root, ch)
            self._event("parked", f"job {job}: {error}", now)
            log.error("job %d parked as failed: %s", job, error[:300])

    def _forget_worker(self, ident: bytes, why: str, now: float) -> None:
        w = self.workers.get(ident)
        if w is None:
            return
        self._flush_worker_stats(now)
        del self.workers[ident]
        if why == "dead":
            self.stats.dead_workers += 1
            self._rlog("dead", logging.WARNING, "worker %s silent for %.1f s: dead; its jobs go back to the queue",
                       w.name, now - w.last_seen)
            self._event("dead", f"{w.name} silent for {now - w.last_seen:.1f} s", now)
        for job in list(w.jobs):
            lease = self.leases.get(job)
            if lease is not None and lease.ident == ident:
                self._end_lease(job, lease.attempt, f"worker {w.name} {why}", failure=False, now=now)
        self.table.worker_state(w.name, why, now, None)
        if not any(o.name == w.name for o in self.workers.values()):
            self.table.forget_idle_worker(w.name)  # a peer that never completed a job leaves no row

    def _beat(self, now: float) -> None:
        """Heartbeat every worker, bury the silent ones, expire leases nobody renews."""
        self._flush_worker_stats(now)
        self._save_security_counts()
        self._event.trim()
        if self._dirs_dirty and self._sync_mode == "file":
            sync_dataset_dirs(self.root)  # per-file fsync mode: make the renames durable once per beat
            self._dirs_dirty = False
        for ident, w in list(self.workers.items()):
            if now - w.last_seen > self.cfg.dead_after_s:
                self._forget_worker(ident, "dead", now)
            else:
                self.send(ident, P.HB)
        for job, lease in list(self.leases.items()):
            if lease.finalizing:
                continue
            if now > lease.expires:
                # Not the job's fault, so requeued without counting: a lease inherited from the
                # previous broker process whose holder never came back (a restart, a storage
                # fault), or one whose holder is alive but never named it (it ignored the JOB:
                # it gets no work for a while, longer each time). A silent holder is buried above.
                holder = self.workers.get(lease.ident)
                if holder is not None:
                    holder.strikes += 1
                    holder.benched_until = now + min(300.0, self.cfg.dead_after_s * 2 ** holder.strikes)
                self._end_lease(job, lease.attempt, "lease expired (no heartbeat names it)",
                                failure=None if lease.inherited or holder is not None else False, now=now)
            elif now - lease.started > self.cfg.job_timeout_s:
                self._end_lease(job, lease.attempt, f"attempt exceeded job timeout {self.cfg.job_timeout_s:.0f} s",
                                failure=True, now=now)

    def _dispatch(self, now: float) -> None:
        """Lease pending jobs to idle workers: one batch of SQL, then one JOB message each."""
        pairs: list[tuple[int, WorkerState]] = []
        while self.pending and self.idle:
            ident = self.idle.popleft()
            w = self.workers.get(ident)
            if w is None or not w.idle:
                continue
            w.idle = False
            if w.jobs:  # one lease per peer at a time
                continue
            pairs.append((self.pending.popleft(), w))
        if not pairs:
            return
        tokens = [P.new_token() for _ in pairs]
        leased = self.table.lease_many([(job, w.name) for job, w in pairs], now, tokens, [w.key for _, w in pairs])
        for (job, w), (attempt, sample), token in zip(pairs, leased, tokens):
            self.leases[job] = Lease(job, attempt, w.ident, now + self.cfg.dead_after_s, now, sample=sample,
                                     token=token, key=w.key)
            w.jobs.add(job)
            header = {"job": job, "attempt": attempt, "token": token, "lease_s": self.cfg.dead_after_s}
            if self.cfg.shared:
                header["staging"] = staging_relpath(job, attempt)
            self.send(w.ident, P.JOB, header, sample.encode())

    def _farewell(self) -> None:
        for ident in list(self.workers):
            self.send(ident, P.BYE, {"reason": "run finished" if self._all_finished() else "broker stopping"})
        self._flush()


def run_broker(config: BrokerConfig, spec: Spec | None = None, ready_callback=None) -> BrokerStats:
    """Run a broker until the run of `spec` (None: the one in `config.out`) is finished;
    SIGTERM/SIGINT stop it cleanly (resumable).

    The address is bound first: one in use (or refused) raises BindError, a ValueError, before
    the job table is created."""
    ctx = zmq.Context.instance()
    transport = BrokerSocket(ctx, config.bind, config.curve_secret, config.curve_authorized, config.insecure)
    try:
        broker = Broker(config, spec, ctx, transport)
    except BaseException:
        transport.close()
        raise
    previous = {}

    def _stop(signum, frame):
        broker.stats.interrupted = broker.stats.interrupted or signum == signal.SIGINT
        broker.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, _stop)
        except ValueError:  # not the main thread
            pass
    try:
        return broker.run(ready_callback)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
