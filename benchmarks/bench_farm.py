"""Farm benchmark: broker throughput with many simulated workers, and the farm's overhead.

1. Broker throughput: a real broker process (`python -m headless broker`, real SQLite, real
   storage made durable with syncfs) and one process simulating many workers on loopback. Each
   simulated worker answers a JOB at once: it uploads one tiny image and mask (2 CHUNKs), reports
   DONE and waits for the verdict; so the figure is job completions per second through the whole
   path (lease → upload → SHA-256 check → write → metadata → syncfs → commit → verdict).
   Target ≥ 2,000/s: the broker is never the bottleneck of a 1,000-worker farm. Also printed:
   the broker's CPU time per job (all its threads, read from /proc between the first lease and
   the last verdict), which does not depend on what else the machine runs, and the simulator's.
2. Farm overhead on a render run: `generate` with local workers; overhead = 1 − (time the
   workers spent rendering) / (time the workers held the farm, first lease to last verdict).
   With the real Blender renderer when `synth_humans_addon.blender.job` imports, otherwise
   with the stand-in renderer sleeping a fixed time per image (labelled as such). Target ≤ 5 %.

Run: `python benchmarks/bench_farm.py [--jobs 4000] [--sim-workers 200] [--repeats 2] [--render-jobs 6]`.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spec_text(characters: int, images: int, crop: int, name: str) -> str:
    return (f'[dataset]\nname = "{name}"\ncharacters = {characters}\nimages_per_character = {images}\n'
            f"test_characters = {characters // 10}\nvalidation_characters = {characters // 10}\n"
            f"[render]\ncrop_height = {crop}\nsamples = 4\n")


def _tiny_files() -> tuple[bytes, bytes]:
    from PIL import Image

    jpg, png = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (16, 32), (120, 60, 30)).save(jpg, "JPEG", quality=80)
    Image.new("L", (16, 32), 255).save(png, "PNG")
    return jpg.getvalue(), png.getvalue()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def simulate_workers(endpoint: str, n: int, timeout_s: float, broker_pid: int | None = None) -> dict:
    """`n` DEALER sockets in one process that answer every JOB at once. Returns timings.

    Built to cost as little CPU as possible, because on a small machine it shares the cores
    with the broker it measures: one epoll over the sockets' ZMQ_FDs (a zmq.Poller over
    hundreds of sockets costs more than the broker per message), pre-encoded message frames,
    and a JSON parse of the header only. Each simulated worker answers a JOB with one CHUNK per
    file, and the last ACK with DONE, like a real worker with one image per character."""
    import select

    import zmq

    from headless import protocol as P

    image, mask = _tiny_files()
    files = [{"k": 0, "kind": "image", "size": len(image), "sha256": hashlib.sha256(image).hexdigest()},
             {"k": 0, "kind": "mask", "size": len(mask), "sha256": hashlib.sha256(mask).hexdigest()}]
    files_json = json.dumps(files, separators=(",", ":"))
    chunk_heads = [('{"job":%d,"attempt":%d,"token":"%s","k":0,"kind":"' + f["kind"] + '","offset":0,"size":' + str(f["size"])
                    + ',"sha256":"' + f["sha256"] + '"}') for f in files]
    done_head = ('{"job":%d,"attempt":%d,"token":"%s","files":' + files_json
                 + ',"infos":{"0":{"bbox":[0,0,16,32]}},"render_s":0.0,"want_job":true}')
    ctx = zmq.Context()
    ep = select.epoll()
    socks: dict[int, zmq.Socket] = {}
    for i in range(n):
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.identity = f"sim-{i}".encode()
        s.connect(endpoint)
        s.send_multipart(P.encode(P.READY, {"worker": f"sim-{i}", "host": "bench", "pid": os.getpid(),
                                            "renderer": "none", "want_job": True}))
        fd = s.getsockopt(zmq.FD)
        ep.register(fd, select.EPOLLIN)
        socks[fd] = s
    magic, hb = P.MAGIC, P.encode(P.HB, {"held": [], "want_job": False})
    acks: dict[tuple, int] = {}
    tokens: dict[tuple, str] = {}  # (job, attempt) → the lease token (proves the holder)
    first = last = None
    cpu_first = cpu_last = float("nan")
    results = cpu_results = 0
    deadline = time.time() + timeout_s
    next_beat = next_sweep = time.time() + 0.1
    done = False

    def serve(s: zmq.Socket) -> None:
        """Handle every message waiting on `s` (ZMQ_FD is edge-like: drain until EAGAIN)."""
        nonlocal first, last, results, done, cpu_first, cpu_last, cpu_results
        while True:
            try:
                frames = s.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            cmd = frames[1]
            if frames[0] != magic:
                raise RuntimeError(f"broker sent a bad frame {frames[0][:16]!r}")
            if cmd == P.JOB:
                if first is None:
                    first = time.perf_counter()
                    cpu_first = _cpu_seconds(broker_pid) if broker_pid else float("nan")
                h = json.loads(frames[2])
                key = (h["job"], h["attempt"])
                acks[key] = 0
                tokens[key] = h["token"]
                for head, data in zip(chunk_heads, (image, mask)):
                    s.send_multipart([magic, P.CHUNK, (head % (*key, tokens[key])).encode(), data])
            elif cmd == P.ACK:
                h = json.loads(frames[2])
                key = (h["job"], h["attempt"])
                acks[key] = acks.get(key, 0) + 1
                if acks[key] == 2:
                    s.send_multipart([magic, P.DONE, (done_head % (*key, tokens.pop(key))).encode()])
                    del acks[key]
            elif cmd == P.RESULT:
                results += 1
                last = time.perf_counter()
                if broker_pid and results % 64 == 0:  # /proc costs ~20 µs: sample now and then
                    cpu_last, cpu_results = _cpu_seconds(broker_pid), results
            elif cmd == P.BYE:
                done = True

    while not done and time.time() < deadline:
        for fd, _ in ep.poll(0.05):
            serve(socks[fd])
        now = time.time()
        if now > next_sweep:  # belt and braces against a missed edge
            for s in socks.values():
                serve(s)
            next_sweep = now + 0.1
        if now > next_beat:
            for s in socks.values():
                s.send_multipart(hb)
                serve(s)
            next_beat = now + 0.5
    for s in socks.values():
        s.close(0)
    ep.close()
    ctx.term()
    return {"results": results, "seconds": (last - first) if first and last else float("nan"),
            "broker_cpu_s_per_job": (cpu_last - cpu_first) / cpu_results if cpu_results else float("nan")}


def bench_broker_throughput(jobs: int, sim_workers: int, work: Path, extra: tuple[str, ...] = (),
                            tag: str = "durable") -> dict:
    """One broker process (real SQLite, real storage) against `sim_workers` simulated workers.

    Reports the wall-clock rate of job completions (first JOB to last verdict) and the broker's
    CPU time per job over the same span, read from /proc: on a shared machine the wall rate
    depends on the other processes, the CPU cost does not. 1 / (CPU per job) is what one
    core of this machine sustains."""
    import resource

    template = work / f"throughput-template-{jobs}"
    t0 = time.perf_counter()
    if not template.exists():
        # Expanding thousands of characters takes a while: build the job table once, untimed.
        from headless.broker import Broker, BrokerConfig
        from synth_humans_addon.core.spec_io import load_spec

        spec = work / "throughput.toml"
        spec.write_text(_spec_text(jobs, 1, 32, "bench-throughput"))
        Broker(BrokerConfig(out=template, progress=False), load_spec(spec)).table.close()
    setup_s = time.perf_counter() - t0
    out = work / f"throughput-{tag}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(template, out)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = open(work / "broker.log", "wb")
    broker = subprocess.Popen([sys.executable, "-m", "headless", "broker", "--out", str(out), "--bind",
                               f"tcp://127.0.0.1:{port}", "--no-progress", *extra],
                              env=env, cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT)
    total_cpu_s = float("nan")
    try:
        time.sleep(0.5)
        me0 = resource.getrusage(resource.RUSAGE_SELF)
        sim = simulate_workers(f"tcp://127.0.0.1:{port}", sim_workers, timeout_s=max(60.0, jobs / 50),
                               broker_pid=broker.pid)
        me1 = resource.getrusage(resource.RUSAGE_SELF)
        _, _, usage = os.wait4(broker.pid, 0)  # the broker's whole life, start-up included
        broker.returncode = 0
        total_cpu_s = usage.ru_utime + usage.ru_stime
    finally:
        if broker.poll() is None:
            broker.kill()
        log.close()
    con = sqlite3.connect(out / ".farm" / "jobs.sqlite")
    done = con.execute("SELECT COUNT(*) FROM jobs WHERE state='done'").fetchone()[0]
    con.close()
    rate = sim["results"] / sim["seconds"] if sim["seconds"] == sim["seconds"] and sim["seconds"] > 0 else 0.0
    cpu_per_job = sim["broker_cpu_s_per_job"]
    sim_cpu = (me1.ru_utime + me1.ru_stime - me0.ru_utime - me0.ru_stime) / max(1, sim["results"])
    return {"jobs": jobs, "done": done, "sim_workers": sim_workers, "seconds": sim["seconds"],
            "completions_per_s": rate, "table_setup_s": setup_s, "broker_cpu_ms_per_job": 1000 * cpu_per_job,
            "completions_per_cpu_s": 1.0 / cpu_per_job if cpu_per_job > 0 else float("nan"),
            "broker_total_cpu_s": total_cpu_s, "simulator_cpu_ms_per_job": 1000 * sim_cpu}


def _renderer_for_overhead() -> str:
    from headless.generate import renderer_available

    return "bpy" if renderer_available("bpy") is None else "standin"


def bench_overhead(render_jobs: int, work: Path, workers: int, standin_sleep_s: float) -> dict:
    renderer = _renderer_for_overhead()
    images = 2 if renderer == "bpy" else 4
    crop = 128 if renderer == "bpy" else 128
    spec = work / "overhead.toml"
    spec.write_text(_spec_text(render_jobs, images, crop, "bench-overhead"))
    out = work / "overhead"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "headless", "generate", str(spec), "--out", str(out), "--workers", str(workers),
           "--renderer", renderer, "--no-progress", "--standin-sleep", str(standin_sleep_s)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"renderer": renderer, "error": (proc.stderr or proc.stdout)[-800:]}
    con = sqlite3.connect(out / ".farm" / "jobs.sqlite")
    rows = con.execute("SELECT a.worker, a.started, a.ended, j.render_s FROM attempts a JOIN jobs j "
                       "ON j.id=a.job AND j.attempt=a.attempt WHERE a.outcome='done'").fetchall()
    con.close()
    spans: dict[str, list[float]] = {}
    render_s = 0.0
    for worker, started, ended, r in rows:
        s = spans.setdefault(worker, [started, ended])
        s[0], s[1] = min(s[0], started), max(s[1], ended)
        render_s += r or 0.0
    held = sum(e - s for s, e in spans.values())
    return {"renderer": renderer if renderer == "bpy" else f"standin ({standin_sleep_s} s/image)",
            "jobs": len(rows), "images": len(rows) * images, "workers": workers, "wall_s": wall,
            "held_s": held, "render_s": render_s, "overhead": 1.0 - render_s / held if held else float("nan")}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=4000)
    p.add_argument("--sim-workers", type=int, default=200)
    p.add_argument("--repeats", type=int, default=2, help="throughput runs per setting (the best counts)")
    p.add_argument("--store-threads", type=int, default=1, help="broker --store-threads")
    p.add_argument("--render-jobs", type=int, default=6)
    p.add_argument("--render-workers", type=int, default=2)
    p.add_argument("--standin-sleep", type=float, default=0.25)
    p.add_argument("--keep", action="store_true", help="keep the benchmark folders")
    a = p.parse_args(argv if argv is not None else [])
    work = Path(tempfile.mkdtemp(prefix="bench_farm_"))
    threads = ("--store-threads", str(a.store_threads))
    try:
        durable_runs = [bench_broker_throughput(a.jobs, a.sim_workers, work, extra=threads)
                        for _ in range(max(1, a.repeats))]
        fast_runs = [bench_broker_throughput(a.jobs, a.sim_workers, work, extra=("--no-fsync", *threads),
                                             tag="nofsync") for _ in range(max(1, a.repeats))]
        ovh = bench_overhead(a.render_jobs, work, a.render_workers, a.standin_sleep)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    # The machine is shared: the fastest run is the one least disturbed by other processes.
    thr = max(durable_runs, key=lambda r: r["completions_per_s"])
    fast = max(fast_runs, key=lambda r: r["completions_per_s"])
    figures = {
        "broker_completions_per_s": thr["completions_per_s"],
        "broker_target_ratio": thr["completions_per_s"] / 2000.0,
        "broker_cpu_ms_per_job": thr["broker_cpu_ms_per_job"],
        "broker_completions_per_cpu_s": thr["completions_per_cpu_s"],
        "broker_cpu_target_ratio": thr["completions_per_cpu_s"] / 2000.0,
        "broker_all_runs_per_s": [round(r["completions_per_s"]) for r in durable_runs],
        "broker_nofsync_completions_per_s": fast["completions_per_s"],
        "broker_nofsync_cpu_ms_per_job": fast["broker_cpu_ms_per_job"],
        "broker_jobs_done": thr["done"],
        "broker_jobs": thr["jobs"],
        "broker_sim_workers": thr["sim_workers"],
        "simulator_cpu_ms_per_job": thr["simulator_cpu_ms_per_job"],
        "farm_overhead": ovh.get("overhead"),
        "farm_overhead_target_ratio": (ovh["overhead"] / 0.05) if ovh.get("overhead") is not None else None,
        "overhead_renderer": ovh.get("renderer"),
        "overhead_detail": ovh,
    }
    print("farm benchmark")
    print(f"  broker throughput   {thr['completions_per_s']:8.0f} job completions/s  ({thr['done']}/{thr['jobs']} jobs, "
          f"{thr['sim_workers']} simulated workers, {thr['seconds']:.2f} s, durable storage; target 2000/s → "
          f"ratio {figures['broker_target_ratio']:.2f}; all runs {figures['broker_all_runs_per_s']})")
    print(f"  broker CPU cost     {thr['broker_cpu_ms_per_job']:8.3f} ms of broker CPU per job (all its threads, "
          f"steady state) → {thr['completions_per_cpu_s']:.0f} completions per CPU-second, ratio "
          f"{figures['broker_cpu_target_ratio']:.2f} (CPU time: far less sensitive to other load than the wall rate)")
    print(f"  simulator CPU       {thr['simulator_cpu_ms_per_job']:8.3f} ms per job (the simulated workers share "
          f"the machine with the broker)")
    print(f"  without fsync       {fast['completions_per_s']:8.0f} job completions/s, "
          f"{fast['broker_cpu_ms_per_job']:.3f} ms broker CPU per job (--no-fsync)")
    try:
        print(f"  machine load        {os.getloadavg()[0]:8.1f} (1-min load average) on {os.cpu_count()} cores")
    except OSError:
        pass
    if "error" in ovh:
        print(f"  farm overhead       failed: {ovh['error']}")
    else:
        print(f"  farm overhead       {100 * ovh['overhead']:8.2f} % of worker time not rendering  "
              f"({ovh['renderer']}, {ovh['jobs']} jobs, {ovh['images']} images, {ovh['workers']} workers; "
              f"target ≤ 5 % → ratio {figures['farm_overhead_target_ratio']:.2f})")
    return figures


if __name__ == "__main__":
    res = main(sys.argv[1:])
    print(json.dumps({k: v for k, v in res.items() if k != "overhead_detail"}, indent=1, default=str))
