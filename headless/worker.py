"""A farm worker: takes one job (one character) at a time, renders it, uploads it, reports it.

Runs as ``python -m headless worker --connect tcp://HOST:5555`` (with the `bpy` module) or
inside Blender as ``blender -b -P headless/worker.py -- --connect tcp://HOST:5555``.

Two threads: the main thread renders (Blender wants `bpy` on the main thread); a link thread
owns the ZeroMQ DEALER socket, so heartbeats keep flowing while a render runs for minutes.
The link uploads results in chunks with a credit window, keeps each result in memory until
the broker's verdict arrives, and after a lost broker reconnects with exponential backoff and
jitter and uploads again what it still holds (the broker's attempt check decides).

SIGTERM or SIGINT stops a worker cleanly: the render stops (a Blender render in progress ends
its image first), the job goes back to the broker with RELEASE (requeued first, not counted
against the job), results already rendered get up to --grace seconds to be uploaded, then BYE.

Exit status (for schedulers; docs/farm.md): 0 the run is finished (or --max-jobs done);
1 gave up: the broker was unreachable or silent for --give-up seconds (default 900), in any
state, a render included; 2 bad arguments; 4 the link to the broker failed (an error in the
connection); 143 stopped by SIGTERM, 130 by SIGINT (128 + the signal, as a shell reports it).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a script (`blender -b -P headless/worker.py -- ...`): make the repo importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import socket as pysocket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import zmq  # noqa: E402

from headless import protocol as P  # noqa: E402
from synth_humans_addon.core.renderer import Renderer  # noqa: E402

log = logging.getLogger("headless.worker")

EXIT_OK, EXIT_GAVE_UP, EXIT_USAGE, EXIT_LINK_FAILED = 0, 1, 2, 4
EXIT_SIGNAL_BASE = 128  # stopped by a signal: 128 + its number (SIGTERM 143, SIGINT 130)
GIVE_UP_GRACE_S = 2.0  # after giving up, a render still running gets this long before the process exits
DEFAULT_GIVE_UP_S = 900.0  # a broker gone for 15 minutes frees the worker's slot (restarts take seconds)
DEFAULT_GRACE_S = 10.0  # a stopping worker's time to upload what it rendered and hand back the rest


@dataclass
class WorkerConfig:
    connect: str
    name: str = ""
    renderer: str = "bpy"  # bpy | standin
    standin_sleep_s: float = 0.0  # stand-in renderer: seconds per image
    shared_root: Path | None = None  # shared-filesystem mode: the dataset folder as this machine sees it
    curve_secret: Path | None = None
    curve_server_public: Path | None = None
    heartbeat_s: float = 1.0  # until the broker's WELCOME says otherwise
    liveness: int = 3
    backoff_s: float = 0.25
    backoff_max_s: float = 16.0
    give_up_s: float | None = None  # exit after the broker was unreachable this long (None: never)
    max_jobs: int | None = None
    grace_s: float = DEFAULT_GRACE_S  # on SIGTERM/SIGINT: longest wait for uploads and the broker's answers

    def __post_init__(self):
        if not self.name:
            self.name = f"{pysocket.gethostname()}-{os.getpid()}"


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


# ---------------------------------------------------------------------------------------
# The link thread


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


# ---------------------------------------------------------------------------------------
# The render thread


def load_renderer(cfg: WorkerConfig) -> Renderer:
    """The renderer (`core.renderer.Renderer`), imported lazily: only the render step may import bpy."""
    if cfg.renderer == "standin":
        from functools import partial

        from headless.standin import render_character

        return partial(render_character, sleep_s=cfg.standin_sleep_s)
    if cfg.renderer == "bpy":
        from synth_humans_addon.blender.job import CharacterRenderer  # imports bpy

        # One render session per worker process: the scene, templates and cubemaps are
        # set up once, not once per character (same bytes, tested in tests/render).
        return CharacterRenderer()
    raise ValueError(f"unknown renderer {cfg.renderer!r} (expected bpy or standin)")


def package_result(order: JobOrder, rendered: list, render_s: float, shared_root: Path | None) -> Result:
    """Checksums of every file; in shared mode the files are written to the staging folder here."""
    files: dict[tuple[int, str], bytes] = {}
    declared = []
    infos = {}
    staging = None
    if shared_root is not None:
        if not order.staging or ".." in Path(order.staging).parts or Path(order.staging).is_absolute():
            raise ValueError(f"bad staging folder from the broker: {order.staging!r}")
        staging = Path(shared_root) / order.staging
        staging.mkdir(parents=True, exist_ok=True)
    for r in rendered:
        infos[str(r.k)] = r.info
        for kind, data in (("image", r.image), ("mask", r.mask)):
            declared.append({"k": r.k, "kind": kind, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
            if staging is not None:
                tmp = staging / f".{r.k:03d}.{kind}.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, staging / f"{r.k:03d}.{kind}")
            else:
                files[(r.k, kind)] = data
    return Result(order.job, order.attempt, files, declared, infos, render_s, token=order.token)


@dataclass
class WorkerOutcome:
    jobs: int  # jobs rendered
    gave_up: bool  # the broker was unreachable for `give_up_s`
    link_error: str | None = None  # the link failed with this error
    signal: int | None = None  # stopped by this signal (SIGTERM, SIGINT)

    @property
    def exit_code(self) -> int:
        if self.link_error is not None:
            return EXIT_LINK_FAILED
        if self.gave_up:
            return EXIT_GAVE_UP
        return EXIT_SIGNAL_BASE + self.signal if self.signal else EXIT_OK


class _Leaving(BaseException):
    """Raised in the render by the first SIGTERM/SIGINT: the job is handed back, not failed."""


class _StopSignals:
    """SIGTERM and SIGINT ask the worker to stop cleanly (see the module docstring); a second
    one exits at once. Installed only in the main thread (Python delivers signals there)."""

    def __init__(self, link: Link):
        self.link, self.rendering, self._previous = link, False, {}

    def __enter__(self) -> "_StopSignals":
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        if self.link.leaving is not None:
            os._exit(EXIT_SIGNAL_BASE + signum)  # asked twice: no more waiting
        self.link.leaving = signum  # the link thread hands the jobs back (it polls at least twice a second)
        if self.rendering:
            raise _Leaving


def run_worker(cfg: WorkerConfig) -> WorkerOutcome:
    """Serve jobs until the broker says BYE (or it gives up waiting for one, the link fails, or
    a signal stops it)."""
    from synth_humans_addon.core.sampling import CharacterSample
    from synth_humans_addon.core.spec_io import spec_from_dict

    ctx = zmq.Context()
    link = Link(cfg, ctx)
    link.start()
    rendered_jobs = 0
    render: Renderer | None = None
    spec = None
    with _StopSignals(link) as signals:
        try:
            while not link.stopping.is_set():
                order = link.next_job()
                if order is None:
                    break
                link.rendering_token = order.token
                link.rendering = (order.job, order.attempt)
                t0 = time.perf_counter()
                try:
                    if link.leaving is not None:
                        raise _Leaving  # taken from the queue as the signal came: never started
                    if spec is None:
                        spec = spec_from_dict(link.spec_dict, validate=False)
                    if render is None:
                        render = load_renderer(cfg)
                    character = CharacterSample.from_dict(order.sample)
                    signals.rendering = True
                    try:
                        if link.leaving is not None:  # the signal came while the renderer was loading
                            raise _Leaving
                        images = render(spec, character)
                    finally:
                        signals.rendering = False
                    render_s = time.perf_counter() - t0
                    result = package_result(order, images, render_s, cfg.shared_root if link.settings.get("shared")
                                            else None)
                except _Leaving:
                    result = Result(order.job, order.attempt, {}, [], {}, 0.0, token=order.token, released=True)
                except Exception as exc:
                    log.error("job %d failed: %s", order.job, exc)
                    result = Result(order.job, order.attempt, {}, [], {}, time.perf_counter() - t0,
                                    error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}",
                                    token=order.token)
                link.rendering = None
                link.submit(result)
                rendered_jobs += 0 if result.released else 1
        finally:
            if link.leaving is None:
                link.stopping.set()
            # A stopping worker's link hands back and uploads for up to the grace period first.
            link.join(timeout=5 + (cfg.grace_s if link.leaving is not None else 0))
            link.close_render_side()
    if link.is_alive():  # never hang in ctx.term() on a socket the link thread still holds
        log.error("the link thread did not stop")
        return WorkerOutcome(rendered_jobs, link.gave_up, link.failed or "link thread did not stop", link.leaving)
    ctx.term()
    return WorkerOutcome(rendered_jobs, link.gave_up, link.failed, link.leaving)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="headless worker", description=__doc__.split("\n\n")[0])
    p.add_argument("--connect", required=True, help="broker address, e.g. tcp://10.0.0.5:5555")
    p.add_argument("--name", default="", help="worker label in status (default: host-pid)")
    p.add_argument("--renderer", choices=("bpy", "standin"), default="bpy")
    p.add_argument("--standin-sleep", type=float, default=0.0, help="stand-in renderer: seconds per image")
    p.add_argument("--shared-root", type=Path, default=None,
                   help="shared-filesystem mode: the dataset folder as mounted on this machine")
    p.add_argument("--curve-secret", type=Path, help="this worker's *.key_secret (CURVE)")
    p.add_argument("--curve-server", type=Path, help="the broker's public key file broker.key (CURVE)")
    p.add_argument("--give-up", type=float, default=DEFAULT_GIVE_UP_S, metavar="S",
                   help="exit (status 1) after the broker was unreachable this many seconds, even mid-render "
                   f"(default {DEFAULT_GIVE_UP_S:.0f}; inf: keep trying)")
    p.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, metavar="S",
                   help="on SIGTERM/SIGINT: seconds to finish uploads before handing the rest back and exiting "
                   f"with status 143/130 (default {DEFAULT_GRACE_S:.0f})")
    p.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def config_from_args(a: argparse.Namespace) -> WorkerConfig:
    """Check the options; raises ValueError naming the bad one (the CLI exits with status 2)."""
    problem = P.endpoint_problem(a.connect, bind=False)
    if problem:
        raise ValueError(f"--connect {a.connect}: {problem}")
    if (a.curve_secret is None) != (a.curve_server is None):
        raise ValueError("--curve-secret and --curve-server go together")
    for option, path in (("--curve-secret", a.curve_secret), ("--curve-server", a.curve_server)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{option} {path}: no such file")
    if not a.give_up > 0:
        raise ValueError(f"--give-up {a.give_up}: must be more than 0 seconds (inf: keep trying)")
    if not 0 <= a.grace < float("inf"):
        raise ValueError(f"--grace {a.grace}: must be 0 seconds or more")
    if a.max_jobs is not None and a.max_jobs < 1:
        raise ValueError(f"--max-jobs {a.max_jobs}: must be at least 1")
    if not a.standin_sleep >= 0:
        raise ValueError(f"--standin-sleep {a.standin_sleep}: must be 0 or more")
    return WorkerConfig(connect=a.connect, name=a.name, renderer=a.renderer, standin_sleep_s=a.standin_sleep,
                        shared_root=a.shared_root, curve_secret=a.curve_secret, curve_server_public=a.curve_server,
                        give_up_s=None if a.give_up == float("inf") else a.give_up, max_jobs=a.max_jobs,
                        grace_s=a.grace)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    a = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format="%(asctime)s worker %(levelname)s %(message)s")
    try:
        cfg = config_from_args(a)
    except ValueError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    outcome = run_worker(cfg)
    log.info("worker finished after %d jobs (status %d)", outcome.jobs, outcome.exit_code)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
