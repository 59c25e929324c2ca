"""The figures of docs/farm.md's threat model: what hostile traffic leaves behind on a broker.

    .venv/bin/python tests/farm/hostile_figures.py [--messages 10000]

One real broker (default 1-second heartbeat, stand-in renderer, 6 characters) and raw pyzmq
peers. Each phase sends `--messages` messages of one kind and reports the warning/error log
lines and event rows they added and how long they took; the broker's peak resident memory
(VmHWM, the peak so far) is read after each phase, beside its memory after start-up. An honest worker then finishes
the run, which must end with status 0 and a clean audit.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from farmkit import (Proc, ScriptedWorker, broker_args, events, finish, free_port, rss_bytes,  # noqa: E402
                     warning_lines, worker_args, write_spec)
from headless import protocol as P  # noqa: E402


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    n = ap.parse_args().messages
    work = Path(tempfile.mkdtemp(prefix="hostile-figures-"))
    spec = write_spec(work / "spec.toml", characters=6, images=1)
    out, logs, port = work / "ds", work / "logs", free_port()
    broker = Proc(broker_args(spec, out, port, heartbeat=1.0), logs / "broker.log")
    holder = ScriptedWorker(port, name="holder")
    welcome = holder.register()
    job = holder.recv(timeout=30, want=P.JOB)
    j, a = job.header["job"], job.header["attempt"]
    holder.held = [(j, a)]
    files, declared, infos = holder.render(welcome.header["spec"], job)
    holder.upload(j, a, files, declared)
    holder.send(P.DONE, holder.lease(j, a) | {"files": declared, "infos": infos, "want_job": True})
    assert holder.recv(timeout=30, want=P.RESULT).header["accepted"]
    second = holder.recv(timeout=30, want=P.JOB)  # the holder keeps this lease through the floods
    holder.held = [(second.header["job"], second.header["attempt"])]
    time.sleep(1.0)
    start_rss = rss_bytes(broker.pid)
    rows: list[tuple[str, int, int, float, int]] = []

    def phase(name: str, send, replies: int = 0, peer: ScriptedWorker = holder) -> None:
        lines0, events0, t0 = len(warning_lines(broker.text())), len(events(out)), time.time()
        for i in range(n):
            send(i)
            if replies and (i + 1) % 500 == 0:  # read the answers (and answer heartbeats) as it goes
                for _ in range(500):
                    if peer.recv(timeout=5) is None:
                        break
        time.sleep(1.5)  # let the last rate-limit window close and its line be written
        rows.append((name, len(warning_lines(broker.text())) - lines0, len(events(out)) - events0, time.time() - t0,
                     _peak_rss(broker.pid)))

    head = {"k": 0, "kind": "image", "offset": 0, "size": 1, "sha256": "0" * 64}
    phase("stale chunks (done job, a new attempt each)",
          lambda i: holder.send(P.CHUNK, head | {"job": j, "attempt": 2 + i}, b"x"), replies=1)
    phase("DONEs of an attempt never issued",
          lambda i: holder.send(P.DONE, {"job": j, "attempt": 2 + i, "files": [], "infos": {}}), replies=1)
    other = ScriptedWorker(port, name="other")  # registered now: a peer silent for 3 beats is buried
    other.register(want_job=False)
    phase("FAIL/DONE for another peer's lease (wrong token)",
          lambda i: other.send((P.FAIL, P.DONE)[i % 2], {"job": second.header["job"], "attempt": second.header["attempt"],
                                                       "token": "a" * 32, "files": [], "infos": {}, "error": "x"}),
          replies=1, peer=other)
    raw = [[b"garbage"], [P.MAGIC, P.READY, b"not json"], [P.MAGIC, P.HB, b"[" * 10_000],
           [P.MAGIC, P.READY, b'{"pid": ' + str(2**70).encode() + b"}"]]
    phase("malformed, deep and out-of-range messages", lambda i: other.send_raw(raw[i % len(raw)]))
    probe = ScriptedWorker(port, name="probe")
    phase("heartbeats from an unknown peer", lambda i: probe.send(P.HB, {"held": []}))
    silent = []
    lines0, events0, t0 = len(warning_lines(broker.text())), len(events(out)), time.time()
    for i in range(300):
        s = ScriptedWorker(port, name=f"silent-{i}")
        s.send(P.READY, {"worker": s.name, "host": "x", "pid": 1, "renderer": "x", "want_job": False})
        silent.append(s)
    time.sleep(5.0)  # registered, then silent past 3 heartbeats
    peak = _peak_rss(broker.pid)
    rows.append(("300 peers that register and go silent", len(warning_lines(broker.text())) - lines0,
                 len(events(out)) - events0, time.time() - t0, peak))
    for s in silent + [probe, other]:
        s.sock.close(linger=0)
    holder.send(P.DONE, {"job": second.header["job"], "attempt": second.header["attempt"], "files": [], "infos": {}})
    holder.close()
    rep = finish(broker, [Proc(worker_args(port, "honest"), logs / "honest.log")], out, timeout=120)
    assert rep.done == 6 and rep.failed == 0
    print(f"{n:,} messages per phase; broker heartbeat 1 s")
    print(f"{'phase':<52} {'log lines':>9} {'event rows':>10} {'seconds':>8} {'peak MiB':>8}")
    for name, lines, evs, secs, hwm in rows:
        print(f"{name:<52} {lines:>9} {evs:>10} {secs:>8.1f} {hwm / 2**20:>8.0f}")
    print(f"broker memory: {start_rss / 2**20:.0f} MiB after start-up, peak {peak / 2**20:.0f} MiB (VmHWM); "
          f"the honest run finished: status 0, {rep.done} done, 0 lost, 0 duplicated, 0 parked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
