"""A farm worker's link to its broker: the thread that owns the ZeroMQ DEALER socket.

The main thread renders (Blender wants `bpy` on the main thread; `worker_render.py`); this
thread registers, keeps heartbeats flowing while a render runs for minutes, and takes the
jobs the broker leases (`JobOrder`) and the results the render loop submits (`Result`). It
uploads results in chunks with a credit window, keeps each in memory until the broker's
verdict arrives, and after a lost broker reconnects with exponential backoff and jitter and
uploads again what it still holds (the broker's attempt check decides). When the worker is
stopping on a signal it hands back the jobs not rendered (RELEASE) and lets uploads finish for
up to --grace seconds before BYE.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import random
import signal
import socket as pysocket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from . import protocol as P
from .worker_config import WorkerConfig, WorkerOutcome

log = logging.getLogger("headless.worker")

GIVE_UP_GRACE_S = 2.0  # after giving up, a render still running gets this long before the process exits


@dataclass
class JobOrder:
    job: int
    attempt: int
    sample: dict[str, Any]
    staging: str | None = None
    token: str | None = None  # the lease's secret: proves to the broker that this worker holds it


@dataclass
class Result:
    """A rendered character waiting to be uploaded and accepted."""

    job: int
    attempt: int
    files: dict[tuple[int, str], bytes]  # (k, kind) → bytes (empty in shared mode)
    declared: list[dict[str, Any]]  # [{k, kind, size, sha256}]
    infos: dict[str, dict[str, Any]]
    render_s: float
    error: str | None = None  # set: report FAIL instead
    token: str | None = None
    released: bool = False  # not rendered (the worker is stopping): hand the job back
    # upload progress (link thread only)
    chunks: list[tuple[int, str, int]] = field(default_factory=list)  # (k, kind, offset) still to send
    in_flight: int = 0
    done_sent_at: float | None = None
    last_progress: float = 0.0


class Link(threading.Thread):
    """Owns the socket: registration, heartbeats, uploads, reconnects."""

    def __init__(self, cfg: WorkerConfig, ctx: zmq.Context):
        super().__init__(name="link", daemon=True)
        self.cfg = cfg
        self.ctx = ctx
        self.jobs: queue.Queue[JobOrder | None] = queue.Queue()
        self.submitted: queue.Queue[Result] = queue.Queue()
        self.welcome = threading.Event()
        self.spec_dict: dict[str, Any] | None = None
        self.settings: dict[str, Any] = {}
        self.rendering: tuple[int, int] | None = None  # set by the render thread
        self.results: dict[tuple[int, int], Result] = {}  # held until the broker's verdict
        self.stopping = threading.Event()
        self.accepted = 0
        self.refused = 0
        self.gave_up = False
        self.failed: str | None = None  # the link failed with this error
        self.paused: str | None = None  # the broker's PAUSE reason (a storage fault): take no new job
        self.rendering_token: str | None = None
        self.leaving: int | None = None  # the signal (SIGTERM, SIGINT) that asked the worker to stop
        self._leave_deadline: float | None = None
        self._releasing: set[tuple[int, int]] = set()  # RELEASEs the broker has not answered yet
        self._wake_rx = ctx.socket(zmq.PAIR)
        self._wake_rx.linger = 0
        endpoint = f"inproc://wake-{id(self)}"
        self._wake_rx.bind(endpoint)
        self._wake_tx = ctx.socket(zmq.PAIR)  # used only by the render thread
        self._wake_tx.linger = 0
        self._wake_tx.connect(endpoint)
        self.sock: zmq.Socket | None = None

    # -- called from the render thread ---------------------------------------------------
    def submit(self, result: Result) -> None:
        self.submitted.put(result)
        try:  # never block: the link may be gone (gave up, failed) with nobody to read the wake-up
            self._wake_tx.send(b"", zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    def next_job(self) -> JobOrder | None:
        while not self.stopping.is_set() and self.leaving is None:
            try:
                return self.jobs.get(timeout=0.2)
            except queue.Empty:
                continue
        return None

    def close_render_side(self) -> None:
        self._wake_tx.close(linger=0)

    # -- the thread ---------------------------------------------------------------------
    @property
    def beat(self) -> float:
        return float(self.settings.get("heartbeat_s", self.cfg.heartbeat_s))

    @property
    def dead_after(self) -> float:
        return self.beat * int(self.settings.get("liveness", self.cfg.liveness))

    def _held(self) -> list[list]:
        """[[job, attempt, token], ...]: the leases this worker holds (the token proves it)."""
        held = [[r.job, r.attempt, r.token] for r in self.results.values()]
        if self.rendering:
            held.append([*self.rendering, self.rendering_token])
        held.extend([o.job, o.attempt, o.token] for o in list(self.jobs.queue) if o is not None)
        return held[:16]

    def _want_job(self) -> bool:
        return (self.rendering is None and self.jobs.empty() and not self.stopping.is_set()
                and self.paused is None and self.leaving is None)

    def _connect(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
        s = self.ctx.socket(zmq.DEALER)
        s.linger = 0
        # A fresh routing id per connection: the broker treats a reconnect as a new worker
        # that still holds its jobs (it names them in READY), as the Paranoid Pirate does.
        s.identity = f"{self.cfg.name}/{random.getrandbits(32):08x}".encode()[:255]
        s.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_SIZE)
        s.sndhwm = s.rcvhwm = 1000
        if self.cfg.curve_secret is not None:
            from headless.security import secure_worker_socket

            secure_worker_socket(s, self.cfg.curve_secret, self.cfg.curve_server_public)
        s.connect(self.cfg.connect)
        self.sock = s
        for r in self.results.values():  # the new broker (or new link) gets everything again
            self._restart_upload(r)
        self._send(P.READY, {"worker": self.cfg.name, "host": pysocket.gethostname(), "pid": os.getpid(),
                             "renderer": self.cfg.renderer, "held": self._held(), "want_job": self._want_job()})

    def _send(self, command: bytes, header: dict | None = None, *payload: bytes) -> None:
        try:
            self.sock.send_multipart(P.encode(command, header, *payload), zmq.NOBLOCK)
        except zmq.Again:
            pass  # queue full while the broker is away; heartbeats and resends recover

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            log.error("the link to the broker failed: %s", self.failed)
            log.debug("link failure", exc_info=True)
        finally:
            self.stopping.set()
            self.jobs.put(None)
            if self.sock is not None:
                if self.spec_dict is not None:
                    try:
                        self._send(P.BYE)
                    except zmq.ZMQError:
                        pass
                # A stopping worker's RELEASEs and BYE must reach the broker before the socket goes.
                self.sock.close(linger=1000 if self.leaving else 0)
            if self.gave_up or self.failed or self.leaving:
                self._exit_even_mid_render()
            self._wake_rx.close(linger=0)

    def _exit_even_mid_render(self) -> None:
        """--give-up and signals hold in every state: a render (bpy cannot be interrupted) that
        is still running after a short grace ends with the process, so the scheduler's slot is freed."""
        deadline = time.time() + GIVE_UP_GRACE_S
        while self.rendering is not None and time.time() < deadline:
            time.sleep(0.05)
        if self.rendering is not None:
            code = WorkerOutcome(0, self.gave_up, self.failed, self.leaving).exit_code
            log.error("exiting mid-render of job %d (status %d)", self.rendering[0], code)
            for h in logging.getLogger().handlers:
                h.flush()
            os._exit(code)

    def _run(self) -> None:
        backoff = self.cfg.backoff_s
        unreachable_since: float | None = None
        self._connect()
        last_heard = time.time()
        next_beat = time.time()
        while not self.stopping.is_set():
            poller = zmq.Poller()
            poller.register(self.sock, zmq.POLLIN)
            poller.register(self._wake_rx, zmq.POLLIN)
            timeout = max(0.0, min(next_beat - time.time(), 0.5))
            events = dict(poller.poll(timeout * 1000))
            now = time.time()
            if self._wake_rx in events:
                while True:
                    try:
                        self._wake_rx.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
            self._take_submissions()
            if self.sock in events:
                while True:
                    try:
                        frames = self.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    last_heard = now
                    unreachable_since = None
                    backoff = self.cfg.backoff_s
                    try:
                        msg = P.decode(frames, P.BROKER_COMMANDS)
                    except P.ProtocolError as exc:
                        log.warning("dropped a malformed message from the broker: %s", exc)
                        continue
                    log.debug("got %s %s", msg.command.decode(), str(msg.header)[:120])
                    if msg.command == P.RESET:
                        log.info("broker does not know us (%s): registering again", msg.header.get("reason"))
                        self._connect()
                        break
                    try:
                        self._handle(msg, now)
                    except (KeyError, TypeError, ValueError) as exc:
                        log.warning("dropped a malformed %s from the broker: %s", msg.command.decode(), exc)
            self._pump_uploads(now)
            if self.leaving is not None and self._leave_step(now, now - last_heard > self.dead_after):
                return
            if now >= next_beat:
                self._send(P.HB, {"held": self._held(), "want_job": self._want_job()})
                next_beat = now + self.beat
            if now - last_heard > self.dead_after:
                # Paranoid Pirate: the broker is gone or the path is broken; reconnect with backoff.
                unreachable_since = unreachable_since or last_heard
                if self.cfg.give_up_s is not None and now - unreachable_since > self.cfg.give_up_s:
                    log.error("broker unreachable for %.0f s: giving up", now - unreachable_since)
                    self.gave_up = True
                    return
                delay = backoff * random.uniform(0.5, 1.5)  # jitter: a farm must not reconnect in lockstep
                log.warning("broker silent for %.1f s: reconnecting in %.2f s", now - last_heard, delay)
                time.sleep(delay)
                backoff = min(backoff * 2, self.cfg.backoff_max_s)
                self._connect()
                last_heard = time.time()

    def _handle(self, msg: P.Message, now: float) -> None:
        h = msg.header
        if msg.command == P.WELCOME:
            if self.paused is not None:
                log.info("broker is back: taking jobs again")
            self.paused = None
            self.spec_dict = h.get("spec")
            self.settings = {k: h[k] for k in ("heartbeat_s", "liveness", "chunk_size", "window", "shared") if k in h}
            self.welcome.set()
        elif msg.command == P.JOB:
            if len(msg.payload) != 1:
                return
            order = JobOrder(int(h["job"]), int(h["attempt"]), json.loads(msg.payload[0]), h.get("staging"),
                             h.get("token"))
            self.jobs.put(order)
        elif msg.command == P.ACK:
            r = self.results.get((h.get("job"), h.get("attempt")))
            if r is None:
                return
            if not h.get("ok"):
                log.info("broker refused the upload of job %s attempt %s (%s): dropped", r.job, r.attempt,
                         h.get("reason"))
                self.results.pop((r.job, r.attempt), None)
                self.refused += 1
                return
            r.in_flight = max(0, r.in_flight - 1)
            r.last_progress = now
        elif msg.command == P.RESULT:
            self._releasing.discard((h.get("job"), h.get("attempt")))
            r = self.results.pop((h.get("job"), h.get("attempt")), None)
            if r is not None:
                if h.get("accepted"):
                    self.accepted += 1
                else:
                    self.refused += 1
                    log.info("job %s attempt %s not accepted: %s", r.job, r.attempt, h.get("reason"))
            if self.cfg.max_jobs is not None and self.accepted + self.refused >= self.cfg.max_jobs \
                    and not self.results:
                self.stopping.set()
        elif msg.command == P.PAUSE:
            self.paused = str(h.get("reason"))[:500]
            log.warning("broker paused the farm (%s): taking no new job; keeping %d results until it is back",
                        self.paused, len(self.results))
        elif msg.command == P.BYE:
            log.info("broker says goodbye: %s", h.get("reason"))
            self.stopping.set()

    def _take_submissions(self) -> None:
        while True:
            try:
                r = self.submitted.get_nowait()
            except queue.Empty:
                return
            if r.released:
                self._release(r.job, r.attempt, r.token)
                continue
            if r.error is not None:
                self._send(P.FAIL, {"job": r.job, "attempt": r.attempt, "token": r.token, "error": r.error[-3000:],
                                    "want_job": self._want_job()})
                continue
            self.results[(r.job, r.attempt)] = r
            self._restart_upload(r)

    def _release(self, job: int, attempt: int, token: str | None) -> None:
        """Hand a lease back unrendered: the broker requeues the job without counting it."""
        self._send(P.RELEASE, {"job": job, "attempt": attempt, "token": token})
        self._releasing.add((job, attempt))

    def _leave_step(self, now: float, broker_gone: bool) -> bool:
        """One loop turn of a worker stopping on a signal; True when it is time for BYE.

        The jobs it has not started go back at once; results already rendered keep uploading
        until the broker's verdict or the grace period ends; what is left then goes back too."""
        if self._leave_deadline is None:
            self._leave_deadline = now + self.cfg.grace_s
            log.info("stopping on %s: handing back jobs not rendered, finishing uploads (at most %.0f s)",
                     signal.Signals(self.leaving).name, self.cfg.grace_s)
            while True:
                try:
                    order = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if order is not None:
                    self._release(order.job, order.attempt, order.token)
        if broker_gone or self.spec_dict is None:
            return True  # nobody to hand anything to: its leases expire at the broker
        if not self.results and not self._releasing and self.rendering is None:
            return True
        if now < self._leave_deadline:
            return False
        if self.rendering is not None:  # a render that cannot be interrupted (bpy): hand it back anyway
            self._release(*self.rendering, self.rendering_token)
        for r in self.results.values():
            if r.done_sent_at is None:  # not reported: back to the queue (after DONE the broker decides)
                self._release(r.job, r.attempt, r.token)
        return True

    def _restart_upload(self, r: Result) -> None:
        size = int(self.settings.get("chunk_size", P.CHUNK_SIZE))
        r.chunks = [(k, kind, off) for (k, kind), data in sorted(r.files.items())
                    for off in range(0, len(data), size)]
        r.in_flight = 0
        r.done_sent_at = None
        r.last_progress = time.time()

    def _pump_uploads(self, now: float) -> None:
        """Send chunks within the credit window; DONE once every chunk is acknowledged."""
        window = int(self.settings.get("window", 8))
        size = int(self.settings.get("chunk_size", P.CHUNK_SIZE))
        if self.spec_dict is None:
            return  # not registered yet
        for r in list(self.results.values()):
            while r.chunks and r.in_flight < window:
                k, kind, off = r.chunks.pop(0)
                data = r.files[(k, kind)]
                meta = next(d for d in r.declared if d["k"] == k and d["kind"] == kind)
                self._send(P.CHUNK, {"job": r.job, "attempt": r.attempt, "token": r.token, "k": k, "kind": kind,
                                     "offset": off, "size": len(data), "sha256": meta["sha256"]},
                           data[off:off + size])
                r.in_flight += 1
            if not r.chunks and r.in_flight == 0 and r.done_sent_at is None:
                self._send(P.DONE, {"job": r.job, "attempt": r.attempt, "token": r.token, "files": r.declared,
                                    "infos": r.infos, "render_s": r.render_s, "want_job": self._want_job()})
                r.done_sent_at = now
            elif r.in_flight and now - r.last_progress > 4 * self.dead_after:
                log.warning("upload of job %d stalled: starting it again", r.job)
                self._restart_upload(r)
            elif r.done_sent_at is not None and now - r.done_sent_at > 10 * self.dead_after:
                r.done_sent_at = None  # no verdict: ask again (the broker answers duplicates)
