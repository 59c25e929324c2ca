"""scripts/scale_curve.py: the curve is what the run folders hold, so that several processes
running one plan's runs (--only) never drop each other's points."""
import csv
import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("scale_curve", REPO / "scripts" / "scale_curve.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scale_curve"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _finish(out: Path, name: str, key: str, rank1: float) -> None:
    """An evaluation as `reid evaluate` writes it (results.json: models → protocol → numbers)."""
    res = {"rank1": rank1, "rank5": rank1 + 0.1, "rank10": rank1 + 0.2, "rank20": rank1 + 0.3, "mAP": None}
    folder = out / "eval" / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"models": {key: {"cross-camera": res}}}))


def test_the_curve_holds_every_finished_run_in_plan_order_whoever_finished_it(tmp_path):
    sc = _module()
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text('[generate]\ndataset = ""\n'
                         + "".join(f'[[runs]]\nname = "{n}"\nkind = "real"\nidentities = {i}\n\n'
                                   for n, i in (("real-100", 100), ("real-200", 200), ("real-400", 400))))
    plan = sc.load_plan(plan_file)
    out = tmp_path / "out"
    _finish(out, "colour-histogram", "colour-histogram", 0.07)
    _finish(out, "real-400", "real-400", 0.2)  # a later run of the plan, finished by another process first
    _finish(out, "real-100", "real-100", 0.1)
    rows = sc.finished_rows(plan, out)
    assert [(r["run"], r["rank1"]) for r in rows] == [("colour-histogram", 0.07), ("real-100", 0.1), ("real-400", 0.2)]
    sc.write_curve(rows, out)
    _finish(out, "real-200", "real-200", 0.15)  # the other process finishes: its write keeps everyone's
    sc.write_curve(sc.finished_rows(plan, out), out)
    with open(out / "curve.csv") as f:
        written = [(r["run"], float(r["rank1"])) for r in csv.DictReader(f)]
    assert written == [("colour-histogram", 0.07), ("real-100", 0.1), ("real-200", 0.15), ("real-400", 0.2)]
    assert (out / "curve.png").stat().st_size > 0 and not list(out.glob("*.tmp"))


def test_plot_lines_average_seeds_and_keep_each_training_schedule_apart():
    sc = _module()

    def row(kind, ids, images, epochs, rank1, protocol="cross-camera"):
        return {"run": "r", "kind": kind, "identities": ids, "images_per_identity": images, "epochs": epochs,
                "protocol": protocol, "rank1": rank1, "mAP": ""}

    rows = [row("histogram", "", "", "", 0.07),
            row("generated", 200, 8, 6, 0.09), row("generated", 200, 8, 6, 0.05),  # two seeds
            row("generated", 270, 8, 6, 0.03), row("generated", 270, 8, 16, 0.10),
            row("generated", 100, 4, 6, 0.03), row("real", 100, "", 6, 0.11),
            row("real", 200, "", 6, 0.5, protocol="market1501")]
    lines = sc.curve_series(rows, "cross-camera", "rank1")
    assert set(lines) == {"generated only (8 images per identity, 6 epochs)",
                          "generated only (8 images per identity, 16 epochs)",
                          "generated only (4 images per identity, 6 epochs)", "real only"}
    xs, ys = lines["generated only (8 images per identity, 6 epochs)"]
    assert xs == [200, 270] and [round(y, 6) for y in ys] == [7.0, 3.0]
    assert lines["generated only (8 images per identity, 16 epochs)"] == ([270], [10.0])
    assert lines["real only"] == ([100], [11.0])
    assert sc.curve_series(rows, "cross-camera", "mAP") == {}
