"""The experiment file, the plan and the dry run (no rendering, no training)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from study.cli import main
from study.config import ExperimentError, load_experiment, parse_experiment
from study.estimate import estimate_plan
from study.plan import (EVALUATE, FINETUNE, GENERATE, REAL_INPUT, REFINE_APPLY, REFINE_TRAIN,
                                 REID_TRAIN, build_plan)

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "examples" / "experiments" / "study.toml"
TINY = ROOT / "examples" / "experiments" / "tiny.toml"


def _kinds(plan):
    out = {}
    for s in plan.stages:
        out[s.kind] = out.get(s.kind, 0) + 1
    return out


def test_study_without_real_data_plans_the_synthetic_questions_and_says_what_is_skipped():
    plan = build_plan(load_experiment(STUDY))
    est = estimate_plan(plan)
    assert est.images_generated == 4 * 1500 * 10 == 60_000
    assert est.per_dataset == {"I": 15_000, "II": 15_000, "III": 15_000, "IV": 15_000}
    assert est.images_refined == 0
    kinds = _kinds(plan)
    assert kinds[GENERATE] == 4 and kinds[REID_TRAIN] == 4
    assert REFINE_TRAIN not in kinds and FINETUNE not in kinds
    # own test split for all four, plus I–III on IV's test split
    assert kinds[EVALUATE] == 4 + 3
    skipped = " ".join(s.what for s in plan.skipped)
    for what in ("refinement", "real data", "finetuning", "real test"):
        assert what in skipped
    assert all("no real dataset" in s.why for s in plan.skipped)


def _study_with_real(tmp_path):
    """The study's experiment file pointed at an (empty) real dataset folder."""
    real = tmp_path / "cuhk03"
    real.mkdir()
    cfg = load_experiment(STUDY)
    cfg.real.path = str(real)
    return cfg


def test_study_with_real_data_plans_every_stage(tmp_path):
    cfg = _study_with_real(tmp_path)
    plan = build_plan(cfg)
    est = estimate_plan(plan)
    kinds = _kinds(plan)
    # 17 models on the real test set, 8 on their own test split, and the colour-histogram baseline
    assert kinds == {GENERATE: 4, REFINE_TRAIN: 4, REFINE_APPLY: 4, REID_TRAIN: 9, FINETUNE: 8, EVALUATE: 17 + 8 + 1}
    assert est.images_generated == 60_000 and est.images_refined == 60_000
    assert plan.skipped == []
    labels = [s.label for s in plan.of_kind(REID_TRAIN)]
    assert labels == ["I", "II", "III", "IV", "R-I", "R-II", "R-III", "R-IV", "CUHK03"]
    assert plan.by_id("refine-train/R-II").inputs == {"source": "generate/II", "target": REAL_INPUT}
    assert plan.by_id("finetune/R-IV+CUHK03").inputs == {"model": "reid-train/R-IV", "dataset": REAL_INPUT}
    # inputs always come before the stages that read them
    seen = set()
    for s in plan.stages:
        assert all(src == REAL_INPUT or src in seen for src in s.inputs.values()), s.id
        seen.add(s.id)
    assert est.disk_gb > 0
    assert all(est.hours((kind,)) > 0 for kind in (GENERATE, REFINE_TRAIN, REID_TRAIN, FINETUNE))


def test_ptgan_adds_a_second_refiner_per_dataset(tmp_path):
    cfg = load_experiment(STUDY)
    cfg.real.path = str(tmp_path)
    cfg.refine.models = ["cyclegan", "ptgan"]
    plan = build_plan(cfg)
    assert [s.label for s in plan.of_kind(REFINE_TRAIN)][:2] == ["R-I-cyclegan", "R-I-ptgan"]
    assert plan.by_id("refine-train/R-I-ptgan").params["options"]["model"] == "ptgan"


def test_mask_sources_reach_only_the_refiners_they_are_given_for(tmp_path):
    cfg = load_experiment(STUDY)
    cfg.real.path = str(tmp_path)
    cfg.refine.models = ["cyclegan", "ptgan"]
    cfg.refine.ptgan_options = {"target_masks": "none"}
    plan = build_plan(cfg)
    assert plan.by_id("refine-train/R-I-ptgan").params["options"]["target_masks"] == "none"
    assert "target_masks" not in plan.by_id("refine-train/R-I-cyclegan").params["options"]


def test_dry_run_prints_the_plan_and_estimate(capsys, tmp_path):
    assert main([str(STUDY), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "60,000" in text and "1500 characters × 10 images = 15,000 images at 256 px" in text
    assert "skipped:" in text and "on this machine: rendering" in text and "disk" in text
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_tiny_uses_a_differently_styled_standin_real_domain():
    cfg = load_experiment(TINY)
    assert cfg.real.standin is not None and cfg.real.present
    real, art = cfg.real.standin.spec, cfg.datasets[-1].spec
    assert real.camera.theta1_deg < art.camera.theta1_deg  # seen from higher
    assert real.lighting.color_temperature_k.low > art.lighting.color_temperature_k.high  # bluish
    assert real.postprocess.blur_sigma.low > art.postprocess.blur_sigma.high  # blurrier
    assert art.render.crop_height == 64 and art.dataset.characters < 50
    # overrides merge section by section: fields not overridden keep the preset's values
    assert art.background.kind == "cubemap" and art.render.engine == "cycles"


@pytest.mark.parametrize("text, field", [
    ("[experiment]\nrenderer = 'povray'\n", "experiment.renderer"),
    ("[[datasets]]\nname = 'x'\npreset = 'V'\n", "datasets[0].preset"),
    ("[[datasets]]\npreset = 'I'\noverrides = { render = { crop_height = -3 } }\n", "render.crop_height"),
    ("[refine]\nmodels = ['pix2pix']\n", "refine.models"),
    ("[evaluate]\nprotocols = ['viper']\n", "evaluate.protocols"),
    ("[evaluat]\n", "evaluat"),
    ("[reid]\nepochs = 3\n", "reid"),
    # the option tables are checked up front too, not after every dataset has rendered
    ("[reid]\ntrain = { epoch = 3 }\n", "reid.train.epoch"),
    ("[reid]\nfinetune = { arch = 'resnet' }\n", "reid.finetune.arch"),
    ("[reid]\ntrain = { epochs = '3' }\n", "reid.train.epochs"),
    ("[reid]\ntrain = { output = 'x' }\n", "reid.train.output"),
    ("[refine]\noptions = { n_epoch = 1 }\n", "n_epoch"),
    ("[refine]\nptgan_options = { lambda_person = -1 }\n", "refine.ptgan_options"),
    ("[refine]\nptgan_options = { target_masks = 'segment' }\n", "refine.ptgan_options.target_masks"),
    ("[estimate]\nrender_cpu_s_per_image = 6.0\n", "render_cpu_s_per_image"),
    ("[estimate]\nrender_s_per_image = 'slow'\n", "estimate.render_s_per_image"),
])
def test_invalid_experiments_name_the_bad_field(tmp_path, text, field):
    with pytest.raises(ExperimentError) as err:
        parse_experiment(__import__("tomllib").loads(text), tmp_path, "x.toml")
    assert field in str(err.value)


def test_dry_run_refuses_typos_in_option_tables(tmp_path, capsys):
    f = tmp_path / "e.toml"
    f.write_text("[[datasets]]\npreset = 'tiny'\n[refine]\noptions = { n_epoch = 1 }\n[reid]\ntrain = { epoch = 3 }\n")
    assert main([str(f), "--output", str(tmp_path / "o"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "n_epoch" in err and "reid.train.epoch" in err and "Traceback" not in err


def test_missing_real_path_is_refused_with_a_pointer_to_the_docs(tmp_path, capsys):
    f = tmp_path / "e.toml"
    f.write_text("[real]\npath = 'nowhere'\n[[datasets]]\npreset = 'tiny'\n")
    assert main([str(f), "--out", str(tmp_path / "o")]) == 2
    assert "docs/experiment.md" in capsys.readouterr().err


def test_stage_keys_follow_params_inputs_real_data_and_code(tmp_path, monkeypatch):
    from study import cache
    from study.cache import StageCache
    from study.runner import real_fingerprint, stage_folders

    real = tmp_path / "real"
    (real / "bounding_box_train").mkdir(parents=True)
    (real / "bounding_box_train" / "0001_c1s1_000001_00.jpg").write_bytes(b"x" * 10)
    cfg = load_experiment(STUDY)
    cfg.real.path = str(real)
    plan = build_plan(cfg)
    store = StageCache(tmp_path / "out")
    keys = {k: f.key for k, f in stage_folders(plan, store, real_fingerprint(plan)).items()}
    assert len(set(keys.values())) == len(keys)  # every stage has its own key
    # new real data: everything reading it (directly or not) changes, generation does not
    (real / "bounding_box_train" / "0002_c1s1_000001_00.jpg").write_bytes(b"y" * 10)
    keys2 = {k: f.key for k, f in stage_folders(plan, store, real_fingerprint(plan)).items()}
    assert keys2["generate/I"] == keys["generate/I"] and keys2["reid-train/I"] == keys["reid-train/I"]
    assert keys2["refine-train/R-I"] != keys["refine-train/R-I"]
    assert keys2["reid-train/R-I"] != keys["reid-train/R-I"]  # downstream of the refiner
    assert keys2["evaluate/I@CUHK03"] != keys["evaluate/I@CUHK03"]
    # an edited re-id package invalidates models and evaluations, never the renders
    monkeypatch.setitem(cache._code_versions, "reid", "edited")
    keys3 = {k: f.key for k, f in stage_folders(plan, store, real_fingerprint(plan)).items()}
    assert keys3["generate/IV"] == keys2["generate/IV"] and keys3["refine-apply/R-IV"] == keys2["refine-apply/R-IV"]
    assert keys3["reid-train/IV"] != keys2["reid-train/IV"] and keys3["evaluate/IV@own"] != keys2["evaluate/IV@own"]


def test_a_spec_file_keeps_resolving_its_relative_paths(tmp_path):
    from synth_humans_addon.core.presets import preset
    from synth_humans_addon.core.spec_io import save_spec

    from PIL import Image

    site = tmp_path / "site"
    (site / "cubemaps" / "street").mkdir(parents=True)
    for face in ("posx", "negx", "posy", "negy", "posz", "negz"):
        Image.new("RGB", (4, 4)).save(site / "cubemaps" / "street" / f"{face}.png")
    spec = preset("tiny")
    spec.background.cubemaps = ["cubemaps/street"]
    save_spec(spec, site / "street.toml")
    exp = tmp_path / "exp.toml"
    exp.write_text("[[datasets]]\nname = 'street'\nspec = 'site/street.toml'\n")
    plan = build_plan(load_experiment(exp))
    st = plan.by_id("generate/street")
    assert st.local["base_dir"] == str(site.resolve())  # where the spec's relative paths point
    assert "base_dir" not in st.params["spec"]  # …but not part of the result's key


def test_training_seeds_multiply_the_models_and_pair_each_finetune_with_its_seed(tmp_path):
    cfg = _study_with_real(tmp_path)
    one = build_plan(cfg)
    cfg.reid.seeds = [cfg.seed, 7, 99]
    plan = build_plan(cfg)
    kinds = _kinds(plan)
    assert kinds[REID_TRAIN] == 3 * 9 and kinds[FINETUNE] == 3 * 8
    # own test splits for the first seed only; the real test set for every seed; one histogram
    assert kinds[EVALUATE] == 3 * 17 + 8 + 1
    # the experiment's seed keeps the one-seed plan's ids (and so its cache)
    assert {s.id for s in one.stages} <= {s.id for s in plan.stages}
    ft = plan.by_id("finetune/R-IV+CUHK03#s7")
    assert ft.label == "R-IV+CUHK03" and ft.params["seed"] == 7
    assert ft.inputs["model"] == "reid-train/R-IV#s7" and plan.by_id(ft.inputs["model"]).params["seed"] == 7
    ev = plan.by_id("evaluate/R-IV+CUHK03@CUHK03#s99")
    assert ev.inputs["model"] == "finetune/R-IV+CUHK03#s99"
    assert ev.params["seed"] == cfg.seed  # every training seed is scored on the same draws
    est, est_one = estimate_plan(plan), estimate_plan(one)
    assert (est.reid_models, est.finetuned_models) == (27, 24) and est.hours() > est_one.hours()


@pytest.mark.parametrize("seeds, message", [([1, 1], "listed twice"), ([-1], "non-negative"), (["7"], "whole")])
def test_bad_training_seeds_are_named(tmp_path, seeds, message):
    data = tomllib.loads(TINY.read_text())
    data["reid"]["seeds"] = seeds
    with pytest.raises(ExperimentError) as err:
        parse_experiment(data, TINY.parent)
    assert "reid.seeds" in str(err.value) and message in str(err.value)


def test_a_typo_in_the_common_overrides_is_one_problem_not_one_per_dataset(tmp_path):
    text = ("[generate.overrides]\ncamera = { theta1_degg = 40 }\n"
            + "".join(f"[[datasets]]\nname = '{n}'\npreset = '{n}'\n" for n in ("I", "IV-classic", "IV")))
    with pytest.raises(ExperimentError) as err:
        parse_experiment(tomllib.loads(text), tmp_path, "x.toml")
    assert [f for f, _ in err.value.problems] == ["generate.overrides"]
    assert "did you mean 'theta1_deg'" in str(err.value)
    # an override only one dataset refuses stays that dataset's problem
    text = ("[generate.overrides]\ncamera = { theta2_deg = 60 }\n"
            "[[datasets]]\nname = 'a'\npreset = 'I'\n[[datasets]]\nname = 'b'\npreset = 'I'\n"
            "overrides = { camera = { theta1_deg = 70 } }\n")
    with pytest.raises(ExperimentError) as err:
        parse_experiment(tomllib.loads(text), tmp_path, "x.toml")
    assert [f for f, _ in err.value.problems] == ["datasets[1]"]
