"""Helpers for the farm tests: real broker and worker processes on loopback, a real SQLite file."""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_spec(path: Path, characters: int, images: int = 2, crop_height: int = 48, name: str = "farmtest",
               test: int = 10, validation: int = 10) -> Path:
    path.write_text(f"""
[dataset]
name = "{name}"
seed = 7
characters = {characters}
images_per_character = {images}
test_characters = {min(test, characters // 3)}
validation_characters = {min(validation, characters // 3)}
[render]
crop_height = {crop_height}
""")
    return path


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), e.get("PYTHONPATH")]))
    e["PYTHONUNBUFFERED"] = "1"
    return e


LIVE: list["Proc"] = []  # every child started by a test; conftest stops leftovers after each test


class Proc:
    """A child process with its output in a log file."""

    def __init__(self, args: list[str], log: Path, extra_env: dict[str, str] | None = None, **popen):
        """`popen`: more subprocess.Popen arguments (e.g. user=, group= to run unprivileged)."""
        self.args = args
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as f:
            self.p = subprocess.Popen([PY, "-m", "headless", *args], stdout=f, stderr=subprocess.STDOUT,
                                      env=env() | (extra_env or {}), cwd=str(REPO), **popen)
        LIVE.append(self)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.p.pid, sig)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.p.wait(10)

    def wait(self, timeout: float) -> int:
        return self.p.wait(timeout)

    def stop(self) -> None:
        if self.alive():
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _drop_dac_capabilities() -> None:
    """In a child before exec: leave root's capabilities to ignore permission bits (DAC override,
    read-search, fowner) out of the bounding set, so the program meets permissions like any user."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def unprivileged() -> dict:
    """Popen arguments that make a child subject to file permissions even when the tests run as
    root (which ignores them): its capabilities to override them are dropped."""
    return {"preexec_fn": _drop_dac_capabilities} if os.geteuid() == 0 else {}


def broker_args(spec: Path | None, out: Path, port: int, *extra: str, heartbeat: float = 0.3) -> list[str]:
    args = ["broker"] + ([str(spec)] if spec else []) + ["--out", str(out), "--bind", f"tcp://127.0.0.1:{port}",
                                                         "--no-progress", "--heartbeat", str(heartbeat)]
    return args + list(extra)


def worker_args(port: int, name: str, sleep: float = 0.0, *extra: str) -> list[str]:
    return ["worker", "--connect", f"tcp://127.0.0.1:{port}", "--renderer", "standin", "--name", name,
            "--standin-sleep", str(sleep), "--give-up", "20", *extra]


def job_counts(out: Path) -> dict[str, int]:
    db = out / ".farm" / "jobs.sqlite"
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return dict(con.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        finally:
            con.close()
    except sqlite3.Error:
        return {}


def query(out: Path, sql: str, *args) -> list[tuple]:
    """Rows of a read-only query on the job table (the broker may be running: WAL)."""
    con = sqlite3.connect(f"file:{out / '.farm' / 'jobs.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def events(out: Path, kind: str | None = None) -> list[tuple]:
    rows = query(out, "SELECT kind, detail FROM events ORDER BY t")
    return [r for r in rows if kind is None or r[0] == kind]


def charged(out: Path) -> tuple[int, int]:
    """(failures, lost leases) counted against the jobs of a run."""
    return tuple(query(out, "SELECT COALESCE(SUM(failures), 0), COALESCE(SUM(lost), 0) FROM jobs")[0])


def warning_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "WARNING" in line or "ERROR" in line]


def broker_stats(text: str) -> dict:
    """The statistics a broker prints when it stops (`{"broker_stats": ...}`)."""
    import json

    for line in reversed(text.splitlines()):
        if line.startswith('{"broker_stats"'):
            return json.loads(line)["broker_stats"]
    raise AssertionError("the broker printed no statistics")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def security_counts(out: Path) -> dict[str, int]:
    from headless.status import read_status

    return read_status(out).security


def finish(broker: Proc, workers: list[Proc], out: Path, timeout: float = 90.0):
    """Wait for the broker to end the run (status 0), stop the workers, audit the dataset."""
    from headless.dataset_audit import audit
    from synth_humans_addon.core.dataset import read_dataset

    try:
        rc = broker.wait(timeout)
    finally:
        for w in workers:
            w.stop()
    assert rc == 0, broker.text()[-3000:]
    assert "Traceback" not in broker.text(), broker.text()[-3000:]
    rep = audit(out)
    assert rep.problems == [], rep.problems[:10]
    assert (rep.lost, rep.duplicated, rep.orphaned, rep.bad_checksums) == (0, 0, 0, 0)
    read_dataset(out)  # the dataset reader accepts the folder
    return rep


def wait_until(cond, timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---------------------------------------------------------------------------------------
# A scripted worker in the test process: speaks the protocol directly, to misbehave on purpose.


class ScriptedWorker:
    def __init__(self, port: int, name: str = "scripted", identity: bytes | None = None, curve=None):
        import zmq

        from headless import protocol as P

        self.P = P
        self.zmq = zmq
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.identity = identity or f"{name}/{os.getpid()}-{time.time_ns() % 10**9}".encode()
        if curve:
            curve(self.sock)
        self.sock.connect(f"tcp://127.0.0.1:{port}")
        self.name = name
        self.tokens: dict[tuple[int, int], str] = {}  # (job, attempt) → the lease token its JOB carried
        self.backlog: list = []  # messages received while waiting for another command
        self.want_job: bool | None = None  # sent with the heartbeats it answers (None: not sent)

    def lease(self, job: int, attempt: int, token: str | None = None) -> dict:
        """The fields naming a lease in CHUNK/DONE/FAIL: job, attempt and (if known) its token."""
        token = token or self.tokens.get((job, attempt))
        return {"job": job, "attempt": attempt} | ({"token": token} if token else {})

    def send(self, command: bytes, header: dict | None = None, *payload: bytes) -> None:
        self.sock.send_multipart(self.P.encode(command, header, *payload))

    def send_raw(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def recv(self, timeout: float = 5.0, want: bytes | None = None):
        """Next message (of command `want`), skipping heartbeats; None on timeout."""
        for i, msg in enumerate(self.backlog):  # kept from an earlier call that waited for another command
            if want is None or msg.command == want:
                del self.backlog[i]
                return msg
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.sock.poll(max(1, int((deadline - time.time()) * 1000))):
                msg = self.P.decode(self.sock.recv_multipart(), self.P.BROKER_COMMANDS)
                if msg.command == self.P.HB:
                    held = [[j, a, self.tokens.get((j, a), "")] for j, a in getattr(self, "held", [])]
                    asks = {} if self.want_job is None else {"want_job": self.want_job}
                    self.send(self.P.HB, {"held": held} | asks)
                    continue
                if msg.command == self.P.JOB and isinstance(msg.header.get("token"), str):
                    self.tokens[(msg.header["job"], msg.header["attempt"])] = msg.header["token"]
                if want is None or msg.command == want:
                    return msg
                self.backlog.append(msg)
        return None

    def register(self, want_job: bool = True):
        self.send(self.P.READY, {"worker": self.name, "host": "test", "pid": os.getpid(), "renderer": "scripted",
                                 "want_job": want_job})
        return self.recv(want=self.P.WELCOME)

    def render(self, spec_dict: dict, job_msg) -> tuple[dict, list]:
        """Stand-in render of the job; returns ({(k, kind): bytes}, declared files)."""
        import hashlib

        from headless.standin import render_character
        from synth_humans_addon.core.sampling import CharacterSample
        from synth_humans_addon.core.spec_io import spec_from_dict
        import json

        spec = spec_from_dict(spec_dict, validate=False)
        ch = CharacterSample.from_dict(json.loads(job_msg.payload[0]))
        files, declared, infos = {}, [], {}
        for r in render_character(spec, ch):
            infos[str(r.k)] = r.info
            for kind, data in (("image", r.image), ("mask", r.mask)):
                files[(r.k, kind)] = data
                declared.append({"k": r.k, "kind": kind, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        return files, declared, infos

    def upload(self, job: int, attempt: int, files: dict, declared: list, times: int = 1,
               token: str | None = None) -> list:
        acks = []
        sha = {(d["k"], d["kind"]): d["sha256"] for d in declared}
        for (k, kind), data in files.items():
            for _ in range(times):
                self.send(self.P.CHUNK, self.lease(job, attempt, token) | {
                    "k": k, "kind": kind, "offset": 0, "size": len(data), "sha256": sha[(k, kind)]}, data)
                acks.append(self.recv(want=self.P.ACK))
        return acks

    def keep_alive(self):
        """Answer heartbeats from a thread (and keep what arrives) until the returned stop() is
        called; stop() returns the messages received meanwhile."""
        import threading

        stop, got = threading.Event(), []

        def loop():
            while not stop.is_set():
                msg = self.recv(timeout=0.1)
                if msg is not None:
                    got.append(msg)

        t = threading.Thread(target=loop, daemon=True)
        t.start()

        def finish() -> list:
            stop.set()
            t.join(10)
            return got

        return finish

    def close(self) -> None:
        try:
            self.send(self.P.BYE)
        except Exception:
            pass
        self.sock.close(linger=0)
