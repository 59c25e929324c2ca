"""Running an experiment: cache, resume, report — on a light backend (stand-in renders,
a colour-shift refiner, a colour-histogram "model") so the orchestration is tested fast."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from study.cli import main
from study.config import parse_experiment
from study.plan import build_plan
from study.runner import run_plan

from .light_backend import Interrupt, LightBackend

pytest.importorskip("torch")  # reid.metrics.pairwise_distance
pytestmark = pytest.mark.torch

SMALL = """
[experiment]
name = "small"
seed = 3
renderer = "standin"
workers = 1

[generate.overrides]
dataset = { characters = 30, images_per_character = 4, test_characters = 16, validation_characters = 2 }
render = { crop_height = 48 }

[[datasets]]
name = "I"
preset = "I"

[[datasets]]
name = "II"
preset = "II"

[reid]
train = { features = 4 }

[evaluate]
protocols = ["mixed-gallery", "market1501"]
identities = 12
repeats = 5
max_rank = 12
ranks = [1, 5, 10]
"""

STANDIN_REAL = """
[real]
name = "fake-real"
[real.standin]
name = "fake-real"
preset = "II"
overrides = { dataset = { name = "fake-real", seed = 5, characters = 24, images_per_character = 4, test_characters = 14, validation_characters = 2 }, render = { crop_height = 48 } }
"""


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "exp.toml"
    f.write_text(text)
    return f


def _plan(tmp_path, text):
    return build_plan(parse_experiment(tomllib.loads(text), tmp_path, "exp.toml"))


def test_synthetic_only_run_writes_a_report_with_sane_values_and_says_what_was_skipped(tmp_path):
    exp = _write(tmp_path, SMALL)
    backend = LightBackend()
    assert main([str(exp), "--out", str(tmp_path / "out"), "--quiet"], backend=backend) == 0
    rep = tmp_path / "out" / "report"
    data = json.loads((rep / "report.json").read_text())
    text = (rep / "README.md").read_text()
    assert data["real"] is None
    assert "Real domain: **none**" in text and "## Skipped" in text and "no real dataset" in text
    assert set(data["questions"]) == {"attributes"}  # the other questions need real data
    table = data["questions"]["attributes"]["mixed-gallery"]
    assert set(table) == {"I", "II", "chance"}
    # held-out characters: a colour histogram re-identifies the stand-in figures far above chance
    for label in ("I", "II"):
        assert table[label]["ranks"]["1"] > 2 * table["chance"]["ranks"]["1"]
        r = table[label]["ranks"]
        assert 0 <= r["1"] <= r["5"] <= r["10"] <= 1
    assert table["chance"]["ranks"]["1"] == pytest.approx(1 / 12)
    appendix = data["appendix"]["mixed-gallery"]
    assert set(appendix) >= {"I", "II"}
    assert "market1501" in data["appendix"] and appendix["I"]["ranks"]["1"] > 0
    for f in ("plots/attributes_mixed-gallery.png", "samples/I.png", "samples/II.png", "specs/I.toml",
              "specs/experiment.toml", "tables/attributes_mixed-gallery.md"):
        assert (rep / f).is_file(), f
    assert "| *chance* |" in (rep / "tables" / "attributes_mixed-gallery.md").read_text()
    assert all(s["state"] == "ran" for s in data["stages"])
    assert data["datasets"]["I"]["seed"] == 2018


def test_rerun_skips_finished_stages_and_a_changed_option_reruns_only_what_depends_on_it(tmp_path):
    out = tmp_path / "out"
    first = LightBackend()
    outcomes = run_plan(_plan(tmp_path, SMALL), out, first, log=lambda m: None)
    assert {o.state for o in outcomes} == {"ran"}
    again = LightBackend()
    outcomes = run_plan(_plan(tmp_path, SMALL), out, again, log=lambda m: None)
    assert {o.state for o in outcomes} == {"cached"} and again.calls == []
    changed = LightBackend()
    outcomes = run_plan(_plan(tmp_path, SMALL.replace("features = 4", "features = 6")), out, changed,
                        log=lambda m: None)
    states = {o.stage.id: o.state for o in outcomes}
    assert states["generate/I"] == states["generate/II"] == "cached"
    assert states["reid-train/I"] == states["evaluate/I@own"] == "ran"
    assert not any(c[0] == "generate" for c in changed.calls)


def test_an_interrupted_stage_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "out"
    plan = _plan(tmp_path, SMALL)
    backend = LightBackend(interrupt_generate_after=10)
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, out, backend, log=lambda m: None)
    partial = list((out / "stages" / "generate").glob("*.partial"))
    assert len(partial) == 1 and len(list((partial[0] / "dataset" / "metadata").glob("*.json"))) == 10
    resumed = LightBackend()
    outcomes = run_plan(plan, out, resumed, log=lambda m: None)
    first = outcomes[0]
    assert first.stage.id == "generate/I" and first.state == "ran" and first.record["resumed"] is True
    assert resumed.characters_rendered == 30 - 10 + 30  # the rest of I, then all of II
    assert first.record["characters"] == 30 and not list((out / "stages" / "generate").glob("*.partial"))


def test_a_failed_stage_blocks_its_dependants_and_keep_going_runs_the_rest(tmp_path):
    class Broken(LightBackend):
        def reid_train(self, data, *a, **k):
            if data.name == "I":
                raise RuntimeError("out of memory")
            return super().reid_train(data, *a, **k)

    outcomes = run_plan(_plan(tmp_path, SMALL), tmp_path / "out", Broken(), log=lambda m: None, keep_going=True)
    states = {o.stage.id: o.state for o in outcomes}
    assert states["reid-train/I"] == "failed" and states["evaluate/I@own"] == "blocked"
    assert states["reid-train/II"] == "ran" and states["evaluate/II@own"] == "ran"
    err = next((tmp_path / "out" / "stages" / "reid-train").glob("I-*.partial")) / "error.txt"
    assert "out of memory" in err.read_text()


def test_standin_real_domain_answers_every_question(tmp_path):
    exp = _write(tmp_path, SMALL + STANDIN_REAL)
    backend = LightBackend()
    assert main([str(exp), "--out", str(tmp_path / "out"), "--quiet"], backend=backend) == 0
    data = json.loads((tmp_path / "out" / "report" / "report.json").read_text())
    assert set(data["questions"]) == {"all", "attributes", "refinement", "synthetic_vs_real", "finetuning"}
    assert "colour-histogram" in data["questions"]["all"]["mixed-gallery"]
    ft = data["questions"]["finetuning"]["mixed-gallery"]
    assert set(ft) == {"fake-real", "I+fake-real", "II+fake-real", "R-I+fake-real", "R-II+fake-real", "chance",
                       "colour-histogram"}
    assert set(data["questions"]["refinement"]["market1501"]) >= {"I", "R-I", "II", "R-II"}
    assert data["skipped"] == []
    kinds = [c[0] for c in backend.calls]
    assert kinds.count("refine_train") == 2 and kinds.count("finetune") == 4
    rep = tmp_path / "out" / "report"
    assert (rep / "samples" / "R-I.png").is_file() and (rep / "samples" / "fake-real.png").is_file()
    # finetuned models start from their pre-trained checkpoint
    ft_stage = next((tmp_path / "out" / "stages" / "finetune").glob("R-I_plus_fake-real-*"))
    assert "reid-train" in json.loads((ft_stage / "best.pt").read_text())["init"]


def test_training_seeds_become_one_row_with_their_mean_and_spread(tmp_path):
    text = SMALL.replace('train = { features = 4 }', 'train = { features = 4 }\nseeds = [3, 4]') + STANDIN_REAL
    exp = _write(tmp_path, text)
    assert main([str(exp), "--out", str(tmp_path / "out"), "--quiet"], backend=LightBackend()) == 0
    rep = tmp_path / "out" / "report"
    data = json.loads((rep / "report.json").read_text())
    ids = {s["id"] for s in data["stages"]}
    assert {"reid-train/I", "reid-train/I#s4", "finetune/I+fake-real#s4", "evaluate/II@fake-real#s4"} <= ids
    table = data["questions"]["all"]["mixed-gallery"]
    evals = tmp_path / "out" / "stages" / "evaluate"
    runs = [*evals.glob("I_at_fake-real-*"), *evals.glob("I_at_fake-real_seed4-*")]
    rank1 = [json.loads((f / "results.json").read_text())["protocols"]["mixed-gallery"]["cmc"][0] for f in runs]
    assert len(rank1) == 2 and table["I"]["ranks"]["1"] == pytest.approx(sum(rank1) / 2)
    for label in ("I", "II", "fake-real", "I+fake-real"):
        row = table[label]
        assert row["seeds"] == 2 and set(row["ranks_std"]) == {"1", "5", "10"}
    assert any(table[label]["ranks_std"]["1"] > 0 for label in ("I", "II"))  # the seeds trained different models
    assert table["colour-histogram"]["seeds"] == 1 and "ranks_std" not in table["colour-histogram"]
    md = (rep / "tables" / "all_mixed-gallery.md").read_text()
    assert md.splitlines()[0].startswith("| model | seeds | Rank 1") and "| I | 2 | " in md and " ± " in md
