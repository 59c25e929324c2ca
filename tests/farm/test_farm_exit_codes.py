"""Exit codes of `worker`, `broker` and `generate` for schedulers, and `--give-up` mid-render.

Real processes with the stand-in renderer; the codes are documented in docs/farm.md.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys

from farmkit import REPO, Proc, broker_args, env, finish, free_port, job_counts, wait_until, worker_args, write_spec


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "headless", *args], cwd=str(REPO), env=env(), capture_output=True,
                          text=True, timeout=timeout)


def test_bad_arguments_exit_2_with_one_line(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", characters=2, images=1)
    cases = [
        (["worker", "--connect", "localhost:5555", "--renderer", "standin"], "--connect"),
        (["worker", "--connect", "tcp://127.0.0.1:5555", "--give-up", "-1"], "--give-up"),
        (["worker", "--connect", "tcp://127.0.0.1:5555", "--curve-secret", str(tmp_path / "nope"),
          "--curve-server", str(tmp_path / "nope.key")], "--curve-secret"),
        (["generate", str(spec), "--out", str(tmp_path / "g"), "--workers", "-2", "--renderer", "standin",
          "--no-progress"], "--workers"),
        (["broker", str(spec), "--out", str(tmp_path / "b"), "--heartbeat", "0", "--no-progress"], "--heartbeat"),
        (["broker", str(spec), "--out", str(tmp_path / "b"), "--chunk-size", "-5"], "--chunk-size -5: out of range"),
        (["broker", str(spec), "--out", str(tmp_path / "b"), "--bind", "tcp://127.0.0.1:99999"], "port 99999"),
        (["broker", str(spec), "--out", str(tmp_path / "b"), "--bind", "garbage", "--insecure"], "--bind garbage"),
        (["worker", "--connect", "tcp://127.0.0.1:99999", "--renderer", "standin"], "--connect"),
        (["worker", "--connect", "tcp://127.0.0.1:0", "--renderer", "standin"], "--connect"),
        (["worker", "--connect", "tcp://127.0.0.1:5555", "--grace", "-1"], "--grace"),
    ]
    for args, option in cases:
        r = _run(*args)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 2, (args, r.stderr[-2000:])
        assert "Traceback" not in r.stderr and len(lines) == 1 and option in lines[0], (args, r.stderr[-2000:])
    assert not (tmp_path / "b").exists()  # refused before anything was created


def test_a_bind_to_a_port_in_use_is_refused_before_the_job_table(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", characters=2, images=1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _run("broker", str(spec), "--out", str(tmp_path / "b"), "--bind", f"tcp://127.0.0.1:{port}")
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and f"--bind tcp://127.0.0.1:{port}" in lines[0], r.stderr[-2000:]
    assert not (tmp_path / "b" / ".farm" / "jobs.sqlite").exists()


def test_give_up_has_a_finite_documented_default():
    from headless.worker_cli import DEFAULT_GIVE_UP_S, build_parser, config_from_args

    a = build_parser().parse_args(["--connect", "tcp://127.0.0.1:5555"])
    assert config_from_args(a).give_up_s == DEFAULT_GIVE_UP_S == 900
    assert "--give-up S" in (REPO / "docs" / "farm.md").read_text() and "default 900" in build_parser().format_help()
    assert config_from_args(build_parser().parse_args(["--connect", "tcp://h:1", "--give-up", "inf"])).give_up_s is None


def test_worker_without_a_broker_gives_up_with_status_1():
    r = _run("worker", "--connect", f"tcp://127.0.0.1:{free_port()}", "--renderer", "standin", "--give-up", "1")
    assert r.returncode == 1, r.stderr[-2000:]
    assert "giving up" in r.stderr and "Traceback" not in r.stderr
    assert " INFO " in r.stderr  # the worker says what it does...
    q = _run("worker", "--connect", f"tcp://127.0.0.1:{free_port()}", "--renderer", "standin", "--give-up", "1", "-q")
    assert q.returncode == 1 and "giving up" in q.stderr and " INFO " not in q.stderr, q.stderr  # ...unless -q


def test_worker_whose_link_fails_exits_4(tmp_path):
    secret, public = tmp_path / "w.key_secret", tmp_path / "broker.key"
    secret.write_text("not a certificate\n")
    public.write_text("not a certificate either\n")
    r = _run("worker", "--connect", f"tcp://127.0.0.1:{free_port()}", "--renderer", "standin",
             "--curve-secret", str(secret), "--curve-server", str(public))
    assert r.returncode == 4, r.stderr[-2000:]
    assert "link to the broker failed" in r.stderr and "Traceback" not in r.stderr


def test_give_up_holds_mid_render(tmp_path):
    """The broker dies while the worker renders a long job: the worker still exits, status 1."""
    spec = write_spec(tmp_path / "spec.toml", characters=1, images=2)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker.log")
    # 2 images × 30 s: the render would hold the worker for a minute.
    worker = Proc(["worker", "--connect", f"tcp://127.0.0.1:{port}", "--renderer", "standin", "--name", "slow",
                   "--standin-sleep", "30", "--give-up", "1"], logs / "w.log")
    wait_until(lambda: job_counts(out).get("leased", 0) == 1, 30, what="the worker's lease")
    broker.kill9()
    assert worker.wait(25) == 1, worker.text()[-2000:]  # gave up: status 1, long before the render ends
    assert "mid-render" in worker.text()


def test_broker_stopped_by_ctrl_c_exits_130_and_resumes(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", characters=2, images=1)
    out, logs, port = tmp_path / "ds", tmp_path / "logs", free_port()
    broker = Proc(broker_args(spec, out, port), logs / "broker.log")
    wait_until(lambda: "broker listening on" in broker.text(), 60, what="the broker")
    broker.signal(signal.SIGINT)
    assert broker.wait(30) == 130 and "interrupted" in broker.text(), broker.text()[-2000:]
    again = Proc(broker_args(None, out, port), logs / "broker-2.log")
    finish(again, [Proc(worker_args(port, "w"), logs / "w.log")], out, timeout=60)
