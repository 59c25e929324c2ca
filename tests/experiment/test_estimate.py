"""The dry run's estimate: counts, hours on the experiment's device, what remains of a resumed study."""
from __future__ import annotations

from pathlib import Path

import pytest

from study.config import load_experiment
from study.costs import CostModel
from study.estimate import estimate_plan, format_estimate
from study.plan import EVALUATE, GENERATE, REFINE_APPLY, REFINE_TRAIN, REID_TRAIN, build_plan

ROOT = Path(__file__).resolve().parents[2]
STUDY_CPU = ROOT / "examples" / "experiments" / "study_cpu.toml"


def _split_folder(root: Path, train: int, test: int) -> Path:
    """A `reid split-folder`-shaped folder with `train` and `test` (empty) crops: the estimate counts files."""
    for part, n in (("train", train), ("test", test)):
        (root / part).mkdir(parents=True)
        for i in range(n):
            (root / part / f"{i // 8:04d}_{i % 8:02d}.jpg").touch()
    (root / "split.json").write_text("{}")
    return root


def _study_cpu_plan(tmp_path: Path, train: int = 1834, test: int = 968):
    cfg = load_experiment(STUDY_CPU)
    real = _split_folder(tmp_path / "real", train, test)
    cfg.real.path, cfg.real.test_path, cfg.real.layout = str(real / "train"), str(real / "test"), "folder"
    return build_plan(cfg)


def test_a_split_folder_is_counted_and_its_test_set_taken_whole(tmp_path):
    small, large = _study_cpu_plan(tmp_path / "a", 800, 100), _study_cpu_plan(tmp_path / "b", 1600, 400)
    es, el = estimate_plan(small, "cpu", cores=2), estimate_plan(large, "cpu", cores=2)
    # the real model trains on every crop of train/, the refiners pair with them, and
    # every evaluation on the real test set reads test/ whole
    assert el.stage_seconds["reid-train/CUHK03-dev"] == pytest.approx(2 * es.stage_seconds["reid-train/CUHK03-dev"])
    assert el.stage_seconds["evaluate/IV@CUHK03-dev"] > es.stage_seconds["evaluate/IV@CUHK03-dev"]
    # the generated side does not change with the real folder
    assert el.stage_seconds["generate/IV"] == es.stage_seconds["generate/IV"]
    assert es.images_generated == 4 * 230 * 8 and es.images_refined == 2 * 230 * 8


def test_training_follows_the_device_and_the_cores_but_rendering_only_the_workers(tmp_path):
    plan = _study_cpu_plan(tmp_path)
    cpu2, cpu4, gpu = (estimate_plan(plan, "cpu", cores=2), estimate_plan(plan, "cpu", cores=4),
                       estimate_plan(plan, "cuda", cores=2))
    training = (REFINE_TRAIN, REFINE_APPLY, REID_TRAIN, EVALUATE)
    assert cpu4.hours(training) == pytest.approx(cpu2.hours(training) / 2, rel=0.02)
    assert gpu.hours(training) < cpu2.hours(training) / 10
    # the experiment asks for 2 render workers: more cores do not render faster
    assert cpu4.hours((GENERATE,)) == cpu2.hours((GENERATE,)) > 0
    assert gpu.hours((GENERATE,)) == cpu2.hours((GENERATE,))
    # the colour histogram needs no network
    assert cpu2.stage_seconds["evaluate/colour-histogram@CUHK03-dev"] == 0


def test_remaining_time_leaves_out_the_stages_already_done(tmp_path):
    plan = _study_cpu_plan(tmp_path)
    est = estimate_plan(plan, "cpu", cores=2)
    done = [s.id for s in plan.stages if s.kind in (GENERATE, REFINE_TRAIN)]
    status = {s.id: ("done" if s.id in done else "pending") for s in plan.stages}
    left = est.hours() - sum(est.stage_seconds[i] for i in done) / 3600
    assert est.hours(skip=set(done)) == pytest.approx(left)
    text = format_estimate(plan, est, status)
    assert f"({len(done)} of {len(plan.stages)} stages done)" in text
    assert "on the CPU" in text and "2 workers" in text
    assert "remaining" not in format_estimate(plan, est)  # a fresh study has nothing done


def test_an_estimate_table_overrides_the_measured_rates(tmp_path):
    plan = _study_cpu_plan(tmp_path)
    base = estimate_plan(plan, "cpu", cores=2)
    plan.config.estimate = {"reid_s_per_image_cpu": 2 * CostModel().reid_s_per_image_cpu}
    slower = estimate_plan(plan, "cpu", cores=2)
    assert slower.stage_seconds["reid-train/IV"] == pytest.approx(2 * base.stage_seconds["reid-train/IV"])
    assert slower.stage_seconds["generate/IV"] == base.stage_seconds["generate/IV"]


# The fresh end-to-end run of study_cpu.toml on the 2-core development machine, 2026-11-26
# (docs/results.md, *A fresh end-to-end run*): measured seconds per stage kind, 7,188 s in all.
MEASURED_STUDY_CPU_S = {"generate": 543, "refine-train": 3196, "refine-apply": 66, "reid-train": 2510,
                        "finetune": 613, "evaluate": 261}


def test_the_default_rates_reproduce_the_measured_cpu_study(tmp_path):
    plan = _study_cpu_plan(tmp_path)  # the same real split: 1,834 training and 968 test crops
    est = estimate_plan(plan, "cpu", cores=2)
    assert est.hours() * 3600 == pytest.approx(sum(MEASURED_STUDY_CPU_S.values()), rel=0.10)
    for kind, seconds in MEASURED_STUDY_CPU_S.items():
        assert est.hours((kind,)) * 3600 == pytest.approx(seconds, rel=0.25), kind
