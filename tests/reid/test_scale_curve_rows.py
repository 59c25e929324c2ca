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
    plateau = [dict(row("generated", 200, 4, 12, 0.06), schedule="to a plateau (≤ 16 epochs)"),
               dict(row("generated", 540, 4, 16, 0.08), schedule="to a plateau (≤ 16 epochs)")]
    assert sc.curve_series(plateau, "cross-camera", "rank1") == {
        "generated only (4 images per identity, to a plateau (≤ 16 epochs))": ([200, 540], [6.0, 8.0])}


def _plan(tmp_path: Path, text: str):
    sc = _module()
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(text)
    return sc, sc.load_plan(plan_file), plan_file


def test_dry_run_counts_what_the_trainer_selects_and_what_is_left(tmp_path):
    """The estimate's images and identities are the trainer's own selection (identity subset,
    images per identity, validation held out), a finished run costs nothing, and a run with
    epochs in its history resumes after them."""
    import shutil

    from reid.data import load_dataset
    from reid.data.synthetic import make_procedural_dataset, small_spec

    gen = make_procedural_dataset(tmp_path / "gen", small_spec(characters=30, validation=4, test=0))
    real = tmp_path / "real"
    for role in ("train", "test"):
        shutil.copytree(gen / "bounding_box_train", real / role)
    sc, plan, _ = _plan(tmp_path, '[generate]\ndataset = ""\n[train]\nepochs = 6\nthreads = 1\nnum_validation = 5\nnum_test = 0\n'
                        '[[runs]]\nname = "g10x4"\nkind = "generated"\nidentities = 10\nimages = 4\n'
                        '[[runs]]\nname = "g-all"\nkind = "generated"\noptions = { epochs = 9, patience = 2 }\n'
                        '[[runs]]\nname = "r"\nkind = "real"\nseed = 7\n'
                        '[[runs]]\nname = "done"\nkind = "real"\n')
    out = tmp_path / "out"
    hist = out / "runs" / "g-all"
    hist.mkdir(parents=True)
    (hist / "last.pt").write_bytes(b"")
    (hist / "history.json").write_text(json.dumps([{"epoch": 1}, {"epoch": 2}]))
    _finish(out, "done", "done", 0.1)
    est = {r.name: sc.estimate_run(r, plan, out, gen, real) for r in plan.runs}

    assert (est["g10x4"].identities, est["g10x4"].images, est["g10x4"].epochs_left) == (10, 40, 6)
    assert est["g10x4"].state == "to run"
    assert (est["g-all"].identities, est["g-all"].images) == (26, 208)  # 30 characters, 4 of them validation
    assert est["g-all"].state == "resumes after epoch 2" and est["g-all"].epochs_left == 7
    trainer = load_dataset(real / "train", sc.run_options(plan.runs[2], plan, out, gen, real).load_options())
    assert est["r"].images == len(trainer.train) and est["r"].identities == 21  # 26 training characters, 5 validate
    assert est["done"].state == "done" and est["done"].minutes == 0
    per_image = sc.seconds_per_image(1)
    assert abs(est["g10x4"].minutes - 40 * 6 * per_image / 60) < 1e-9
    assert est["g-all"].minutes > est["g10x4"].minutes
    text = sc.format_estimates(list(est.values()))
    assert "resumes after epoch 2" in text and text.splitlines()[-1].startswith("at most ")
    assert sc.schedule(plan.runs[1], plan) == "to a plateau (≤ 9 epochs)" and sc.schedule(plan.runs[0], plan) == "6 epochs"


def test_dry_run_prints_the_table_and_bad_plans_are_one_line(tmp_path, capsys):
    from reid.data.synthetic import make_procedural_dataset, small_spec

    gen = make_procedural_dataset(tmp_path / "gen", small_spec(characters=12, validation=2, test=0))
    real = tmp_path / "real"
    (real / "train").mkdir(parents=True)
    (real / "test").mkdir()
    sc, plan, plan_file = _plan(tmp_path, '[generate]\ndataset = ""\n[train]\nnum_test = 0\n[[runs]]\nname = "g"\nkind = "generated"\n'
                                'identities = 5\n')
    out = tmp_path / "out"
    assert sc.main([str(plan_file), "-o", str(out), "--real", str(real), "--generated", str(gen), "--dry-run"]) == 0
    table = capsys.readouterr().out
    assert "g " in table and " 40 " in table and not out.exists()  # 5 identities × 8 images; nothing written

    plan_file.write_text('[generate]\ndataset = ""\n[[runs]]\nname = "g"\nkind = "generated"\nimages_per_id = 4\n')
    assert sc.main([str(plan_file), "-o", str(out), "--real", str(real), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "runs[0] (g): unknown key(s) images_per_id" in err
    plan_file.write_text('[generate]\ndataset = ""\n[[runs]]\nname = "g"\nkind = "generated"\noptions = { epoch = 3 }\n')
    assert sc.main([str(plan_file), "-o", str(out), "--real", str(real), "--dry-run"]) == 2
    assert "run g: options: unknown training option(s) epoch" in capsys.readouterr().err
    plan_file.write_text('[generate]\ndataset = ""\n[[runs]]\nname = "r"\nkind = "real"\n')
    assert sc.main([str(plan_file), "-o", str(out), "--real", str(tmp_path / "nowhere"), "--dry-run"]) == 2
    assert "expected the train/ and test/ folders" in capsys.readouterr().err


def test_extrapolation_reads_a_log_linear_curve_and_refuses_a_flat_one():
    import pytest

    sc = _module()
    # 5 + 4 · log10(N): 13 at 100, 17 at 1,000; 25 is reached at 100,000
    fit = sc.extrapolate_identities([100, 1000, 100, 1000], [12.0, 17.0, 14.0, 17.0], 25.0)
    assert abs(fit.slope - 4.0) < 1e-9 and abs(fit.intercept - 5.0) < 1e-9 and fit.points == 2
    assert abs(fit.identities - 1e5) / 1e5 < 1e-9
    assert sc.extrapolate_identities([200, 540, 1000], [8.0, 8.0, 7.5], 30.0).identities is None
    with pytest.raises(ValueError, match="two or more identity counts"):
        sc.extrapolate_identities([200, 200], [8.0, 9.0], 30.0)


def test_headline_names_where_each_generated_line_reaches_the_largest_real_row():
    sc = _module()

    def row(kind, ids, rank1, images="", schedule=""):
        return {"run": "r", "kind": kind, "identities": ids, "images_per_identity": images, "epochs": 6,
                "schedule": schedule, "protocol": "cross-camera", "rank1": rank1, "mAP": ""}

    rows = [row("real", 100, 0.10), row("real", 600, 0.30),
            row("generated", 100, 0.13, 4, "p"), row("generated", 1000, 0.17, 4, "p"),  # 13 + 4 per decade
            row("generated", 100, 0.10, 3, "s"), row("generated", 1000, 0.20, 3, "s"),  # 10 + 10 per decade
            row("generated", 100, 0.08, 8, "6 epochs"), row("generated", 1000, 0.07, 8, "6 epochs"),
            row("generated", 200, 0.35, 2, "q"), row("generated", 400, 0.40, 2, "q"),
            row("generated", 300, 0.05, 1, "one"),
            row("generated", 200, 0.08, 5, "n"), row("generated", 270, 0.10, 5, "n")]
    text = sc.headline(rows).splitlines()
    assert text[0] == "real only, 600 identities: 30.0 % cross-camera rank-1"
    assert text[1].endswith("(4 images per identity, p): +4.0 points per tenfold identities over 100–1000; "
                            "would need over 100 × the largest count measured (100,000): no useful extrapolation")
    assert text[2].endswith("(3 images per identity, s): +10.0 points per tenfold identities over 100–1000; "
                            "would reach it at about 10,000 identities (extrapolated)")
    assert text[3].endswith("does not grow with identities: no extrapolation")
    assert text[4].endswith("reaches it at 200 identities (measured)")
    assert text[5].endswith("one identity count (300: 5.0 %), no curve to read")
    assert text[6].endswith("over 200–270; too narrow a range (less than twofold) to extrapolate")
    assert sc.headline([row("generated", 100, 0.1, 4, "p")]) == ""
