"""benchmarks/run.py: one table from every bench_<name>.main(); missing ones reported, not crashed on."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _runner(monkeypatch, folder: Path):
    spec = importlib.util.spec_from_file_location("bench_runner", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", folder)
    monkeypatch.setattr(mod, "ROOT", folder)
    return mod


def test_runner_tables_ok_missing_and_failing_benchmarks(tmp_path, monkeypatch, capsys):
    (tmp_path / "bench_farm.py").write_text(
        "def main():\n    print('noise')\n    return {'images_per_s': {'1 worker': 2.0, '2 workers': 3.9}, 'ratio': 1.95}\n")
    (tmp_path / "bench_reid.py").write_text("def main():\n    raise RuntimeError('no gpu')\n")
    run = _runner(monkeypatch, tmp_path)
    rc = run.main(["all", "--out", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert rc == 1  # one benchmark failed
    assert "| farm | images_per_s.2 workers | 3.9 |" in out and "| farm | ratio | 1.95 |" in out
    assert "| render | *missing* |" in out and "| refiner | *missing* |" in out
    assert "| reid | *error* | RuntimeError: no gpu |" in out
    data = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert data["results"]["farm"]["figures"]["ratio"] == 1.95
    assert data["machine"]["cores"] >= 1 and "cpu" in data["machine"]
    assert (tmp_path / "results" / "latest.md").read_text().startswith("# Benchmarks")


def test_runner_selects_benchmarks_by_name(tmp_path, monkeypatch, capsys):
    (tmp_path / "bench_render.py").write_text("def main():\n    return {'s_per_image': 1.5}\n")
    run = _runner(monkeypatch, tmp_path)
    assert run.main(["render", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "s_per_image" in out and "farm" not in out


def test_benchmarks_parse_their_own_defaults_not_the_runners_argv(tmp_path, monkeypatch, capsys):
    (tmp_path / "bench_refiner.py").write_text(
        "import argparse\n"
        "def main(argv=None):\n"
        "    p = argparse.ArgumentParser()\n"
        "    p.add_argument('--steps', type=int, default=3)\n"
        "    return {'steps': p.parse_args(argv).steps}\n")
    (tmp_path / "bench_body.py").write_text(
        "import argparse\n"
        "def main():\n"
        "    p = argparse.ArgumentParser()\n"
        "    p.add_argument('--n', type=int, default=20)\n"
        "    return {'n': p.parse_args().n}\n")
    run = _runner(monkeypatch, tmp_path)
    monkeypatch.setattr(run, "BENCHMARKS", ("refiner",))  # body is found as an extra bench_*.py
    monkeypatch.setattr("sys.argv", ["run.py", "all"])
    assert run.main(["all", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "| refiner | steps | 3 |" in out and "| body | n | 20 |" in out
