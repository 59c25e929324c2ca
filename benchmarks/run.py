"""All benchmarks in one place: `python benchmarks/run.py [render|farm|refiner|reid|all]`.

`all` also runs any other `bench_<name>.py` found here (e.g. body, clothes).

Runs each `benchmarks/bench_<name>.py` module's `main()` (which returns a dict of measured
figures: times, rates and the ratios measured within that one run) and writes one table,
with the machine it ran on, to stdout and to `benchmarks/results/<timestamp>.{md,json}`
(plus `latest.{md,json}`). A benchmark module that does not exist yet is reported as
missing; one that fails is reported with its error; neither stops the others.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import platform
import sys
import time
import traceback
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCHMARKS = ("render", "farm", "refiner", "reid")  # the four; always listed, even when missing


def known_benchmarks() -> list[str]:
    """The four named ones first, then any other bench_<name>.py found (body, clothes, …)."""
    found = sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    return list(BENCHMARKS) + [n for n in found if n not in BENCHMARKS]


def machine_facts() -> dict[str, Any]:
    """CPU model, cores, memory, GPU (if torch sees one) and versions: what a figure depends on."""
    facts: dict[str, Any] = {"host": platform.node(), "os": platform.platform(), "python": platform.python_version(),
                             "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        facts["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["memory_gb"] = round(int(line.split()[1]) / 1024 ** 2, 1)
                break
    except OSError:
        pass
    from importlib import metadata

    for dist in ("synth-humans", "numpy", "torch", "torchvision", "bpy", "pyzmq", "pillow"):
        try:
            facts[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "torch" in facts:
        try:
            import torch

            facts["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        except Exception as exc:  # a broken CUDA setup must not stop the CPU benchmarks
            facts["gpu"] = f"unknown ({exc})"
    return facts


def run_one(name: str) -> dict[str, Any]:
    path = HERE / f"bench_{name}.py"
    if not path.is_file():
        return {"status": "missing", "detail": f"{path.relative_to(ROOT)} does not exist yet"}
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    t0 = time.perf_counter()
    captured = io.StringIO()
    try:
        sys.path.insert(0, str(ROOT))
        spec.loader.exec_module(module)
        if not hasattr(module, "main"):
            return {"status": "error", "detail": f"{path.name} has no main()"}
        # main(argv) parses its own options: hand it an empty list (its defaults), never this
        # script's argv; a main() without parameters may still read sys.argv, so clear that too.
        import inspect

        takes_argv = bool(inspect.signature(module.main).parameters)
        saved_argv, sys.argv = sys.argv, [str(path)]
        try:
            with redirect_stdout(captured):
                figures = module.main([]) if takes_argv else module.main()
        finally:
            sys.argv = saved_argv
    except SystemExit as exc:  # a benchmark that parses argv and exits
        return {"status": "error", "detail": f"exited with {exc.code}", "output": captured.getvalue()[-2000:]}
    except Exception as exc:
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                "output": captured.getvalue()[-2000:]}
    finally:
        if sys.path and sys.path[0] == str(ROOT):
            sys.path.pop(0)
    return {"status": "ok", "seconds": round(time.perf_counter() - t0, 2),
            "figures": figures if isinstance(figures, dict) else {"result": figures},
            "output": captured.getvalue()}


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            rows += _flatten(v, key + ".")
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, dict) for x in v):
            for i, item in enumerate(v):  # e.g. one row per measured size or device
                rows += _flatten(item, f"{key}[{i}].")
        else:
            rows.append((key, v))
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v[:8]) + (" …" if len(v) > 8 else "")
    return str(v)


def markdown(results: dict[str, dict[str, Any]], facts: dict[str, Any], when: str) -> str:
    lines = [f"# Benchmarks ({when})", "", "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()), "",
             "| benchmark | figure | value |", "|---|---|---:|"]
    for name, res in results.items():
        if res["status"] != "ok":
            lines.append(f"| {name} | *{res['status']}* | {res['detail']} |")
            continue
        for key, value in _flatten(res["figures"]):
            lines.append(f"| {name} | {key} | {_fmt(value)} |")
        lines.append(f"| {name} | (benchmark wall time, s) | {res['seconds']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    known = known_benchmarks()
    ap.add_argument("what", nargs="*", default=["all"], choices=(*known, "all"),
                    help=f"which benchmarks: {', '.join(known)} or all (default)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for the table (default "
                                                                        "benchmarks/results)")
    a = ap.parse_args(argv)
    names = known if "all" in a.what else list(dict.fromkeys(a.what))
    facts = machine_facts()
    results = {}
    for name in names:
        print(f"== {name}", file=sys.stderr)
        results[name] = run_one(name)
        if results[name]["status"] != "ok":
            print(f"   {results[name]['status']}: {results[name]['detail']}", file=sys.stderr)
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    table = markdown(results, facts, when)
    print(table)
    a.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = json.dumps({"when": when, "machine": facts, "results": results}, indent=1, default=str)
    for base in (stamp, "latest"):
        (a.out / f"{base}.md").write_text(table)
        (a.out / f"{base}.json").write_text(payload)
    return 0 if all(r["status"] in ("ok", "missing") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
