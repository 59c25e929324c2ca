"""Training, validation, finetuning, resume and evaluation on a small procedural dataset."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import reid  # noqa: E402
from reid.data.synthetic import make_procedural_dataset, small_spec  # noqa: E402

pytestmark = pytest.mark.torch


def tiny_options(data, output, **kw):
    base = dict(data=str(data), output=str(output), height=32, width=16, batch_size=24, lr=0.1, step_size=3,
                workers=0, threads=1, progress=False, val_identities=6, val_repeats=5)
    base.update(kw)
    return reid.TrainOptions(**base)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    torch.set_num_threads(1)
    spec = small_spec(characters=46, images_per_character=6, validation=6, test=10, crop_height=32, seed=3)
    return make_procedural_dataset(tmp_path_factory.mktemp("reid") / "procedural", spec)


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return reid.train(tiny_options(dataset, out, epochs=4))


@pytest.mark.slow
def test_short_training_beats_chance_on_held_out_characters(dataset, trained, tmp_path):
    assert trained.best_checkpoint.is_file() and trained.last_checkpoint.is_file()
    hist = trained.history
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert all("score" in h and 0 <= h["score"] <= 1 for h in hist)
    assert trained.best_score == max(h["score"] for h in hist)
    log_csv = (trained.output / "log.csv").read_text().splitlines()
    assert log_csv[0].startswith("epoch,lr,loss,accuracy") and len(log_csv) == 5

    report = reid.evaluate(reid.EvalOptions(checkpoints=[str(trained.best_checkpoint)], data=str(dataset),
                                            output=str(tmp_path / "eval"), workers=0, progress=False,
                                            max_rank=10, single_shot_identities=10, repeats=10))
    model = next(iter(report["models"].values()))
    chance = report["chance"]
    # 10 held-out characters: chance rank-1 is 10 %.
    assert chance["thesis"]["rank1"] == pytest.approx(0.1)
    assert model["thesis"]["rank1"] >= 0.4
    assert model["thesis"]["area"] > chance["thesis"]["area"] + 0.15
    assert model["market1501"]["mAP"] > chance["market1501"]["mAP"] + 0.2
    assert model["cuhk03"]["rank1"] > chance["cuhk03"]["rank1"] + 0.2
    for key in ("json", "csv", "cmc_csv", "plot_thesis", "plot_market1501", "plot_cuhk03"):
        assert (tmp_path / "eval" / report["files"][key].split("/")[-1]).is_file()
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert len(saved["models"][next(iter(saved["models"]))]["thesis"]["cmc"]) == 10


@pytest.mark.slow
def test_finetune_resets_and_resizes_classifier(dataset, trained, tmp_path):
    from reid.engine import load_checkpoint
    from reid.data import LoadOptions, load_dataset
    from reid_fixtures import make_market_like

    src = load_checkpoint(trained.best_checkpoint)
    market = make_market_like(tmp_path / "Market-1501")
    data = load_dataset(market, LoadOptions(num_validation=2))
    opt = tiny_options(market, tmp_path / "ft", epochs=1, finetune_from=str(trained.best_checkpoint),
                       embedding_lr_mult=0.0, batch_size=8, num_validation=2, val_identities=2)
    result = reid.finetune(opt, data)
    ft = load_checkpoint(result.last_checkpoint)
    assert src["num_classes"] == 30 and ft["num_classes"] == 4  # 6 train ids − 2 moved to validation
    assert ft["model"]["classifier.weight"].shape == (4, 128)
    # embedding lr × 0: the embedding network's weights are the source's (BN statistics still adapt)
    for name, w in src["model"].items():
        if name.endswith("weight") and not name.startswith("classifier") and w.dim() > 1:
            assert torch.equal(w, ft["model"][name]), name
    assert ft["optimizer"]["param_groups"][0]["lr"] == 0.0


def test_finetune_requires_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="finetune_from"):
        reid.finetune(reid.TrainOptions(data=str(tmp_path)))


@pytest.mark.slow
def test_resume_continues_identically(dataset, tmp_path):
    data = reid.load_dataset(dataset)
    data.train = [it for it in data.train if it.pid <= 20]  # keep the CPU test short
    straight = reid.train(tiny_options(dataset, tmp_path / "a", epochs=2, eval_every=5), data)
    reid.train(tiny_options(dataset, tmp_path / "b", epochs=1, eval_every=5), data)
    resumed = reid.train(tiny_options(dataset, tmp_path / "b", epochs=2, eval_every=5, resume=True), data)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert resumed.history[1]["loss"] == pytest.approx(straight.history[1]["loss"], rel=1e-5)
    assert resumed.history[1]["score"] == pytest.approx(straight.history[1]["score"], abs=1e-9)


@pytest.mark.slow
def test_resnet50_bnneck_triplet_pk(dataset, tmp_path):
    from torchvision.models import resnet50

    weights = tmp_path / "r50.pth"
    ref = resnet50(weights=None)
    torch.save(ref.state_dict(), weights)
    opt = tiny_options(dataset, tmp_path / "r50", arch="resnet50", epochs=1, batch_size=8, num_instances=2,
                       triplet_weight=1.0, label_smoothing=0.1, random_erasing=0.5, warmup_epochs=2, lr=0.01,
                       weights_file=str(weights), optimizer="adam", weight_decay=0.0)
    data = reid.load_dataset(dataset)
    data.train = [it for it in data.train if it.pid <= 12]  # keep the CPU test short
    result = reid.train(opt, data)
    model, topt = reid.model_from_checkpoint(result.last_checkpoint)
    assert topt.arch == "resnet50" and model.embedding_dim == 2048
    assert np.isfinite(result.history[0]["loss"])
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 32, 16))
    assert out.logits is None and out.embedding.shape == (2, 2048)


def test_cli_errors_are_clean(tmp_path, capsys):
    from reid.cli import main

    assert main(["evaluate", "--checkpoints", str(tmp_path / "missing.pt"), "--data", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_train_evaluate_plot(dataset, trained, tmp_path, capsys):
    from reid.cli import main

    common = ["--height", "32", "--width", "16", "--workers", "0", "--threads", "1", "--no-progress"]
    assert main(["train", "--data", str(dataset), "--output", str(tmp_path / "cli"), "--epochs", "1",
                 "--batch-size", "32", "--val-identities", "6", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["best_epoch"] == 1 and (tmp_path / "cli" / "best.pt").is_file()
    assert main(["evaluate", "--checkpoints", str(tmp_path / "cli" / "best.pt"), str(trained.best_checkpoint),
                 "--names", "one-epoch", "four-epochs", "--data", str(dataset), "--output", str(tmp_path / "ev"),
                 "--protocols", "thesis", "market1501", "--max-rank", "10", "--single-shot-identities", "10",
                 "--workers", "0", "--no-progress"]) == 0
    rows = (tmp_path / "ev" / "results.csv").read_text().splitlines()
    # 2 models + the colour-histogram baseline + chance, 2 protocols
    assert rows[0].startswith("model,protocol,rank1") and len(rows) == 1 + 4 * 2
    assert sum(r.startswith("colour-histogram,") for r in rows) == 2
    assert (tmp_path / "ev" / "cmc_thesis.png").stat().st_size > 1000
    assert main(["plot", str(tmp_path / "ev" / "results.json"), "--protocol", "market1501",
                 "--output", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").is_file()


def test_the_plateau_rule_drops_the_learning_rate_then_stops():
    from reid.schedule import CONTINUE, DROP, STOP, Plateau

    p = Plateau(patience=2, lr_drops=1)
    assert [p.update(x) for x in (True, False, True, False, False, False, False)] == \
        [CONTINUE, CONTINUE, CONTINUE, CONTINUE, DROP, CONTINUE, STOP]
    assert p.drops == 1
    assert [Plateau(0).update(False) for _ in range(5)] == [CONTINUE] * 5  # off: every epoch trains


@pytest.mark.slow
def test_training_with_patience_stops_when_the_score_stops_improving_and_resumes_stopped(dataset, tmp_path):
    from reid.schedule import Plateau

    # lr 1e-6: the weights hardly move, so the score soon stops improving (batch-norm statistics still settle)
    opt = tiny_options(dataset, tmp_path / "run", epochs=30, lr=1e-6, patience=2, plateau_lr_drops=1, step_size=0)
    result = reid.train(opt)
    hist = result.history
    assert hist[-1]["plateau"] == "stop" and len(hist) < 30
    replay, best, expected = Plateau(2, 1), -1.0, []
    for h in hist:  # the recorded decisions are the rule applied to the recorded scores
        expected.append(replay.update(h["score"] > best))
        best = max(best, h["score"])
    assert [h["plateau"] for h in hist] == expected and expected.count("drop") == 1
    drop = expected.index("drop")
    assert hist[drop]["lr"] == pytest.approx(1e-6) and hist[drop + 1]["lr"] == pytest.approx(1e-7)
    assert result.best_score == max(h["score"] for h in hist)
    again = reid.train(tiny_options(dataset, tmp_path / "run", epochs=30, lr=1e-6, patience=2, step_size=0,
                                    resume=True))
    assert len(again.history) == len(hist)  # a stopped run stays stopped on resume


def test_decoded_crops_over_the_memory_limit_are_memory_mapped_identically_and_reused(dataset, tmp_path):
    from reid.data import load_dataset
    from reid.data.cached import decode_resized

    items = load_dataset(dataset).train[:40]
    in_memory, _ = decode_resized(items, 48, 24)
    cache = tmp_path / "frames.u8"
    mapped, bad = decode_resized(items, 48, 24, cache_file=cache, memory_limit=1000)
    assert bad == [] and cache.stat().st_size == 40 * 3 * 48 * 24
    assert torch.equal(mapped, in_memory)
    again, _ = decode_resized(items, 48, 24, cache_file=cache, memory_limit=1000)  # reused, not decoded
    assert torch.equal(again, in_memory)
    assert not again.numpy().flags.writeable or again.numpy().base is not None
    other, _ = decode_resized(items[:20], 48, 24, cache_file=cache, memory_limit=1000)  # other crops: decoded anew
    assert torch.equal(other, in_memory[:20])
    small, _ = decode_resized(items, 48, 24, cache_file=tmp_path / "none.u8", memory_limit=10 ** 9)
    assert torch.equal(small, in_memory) and not (tmp_path / "none.u8").exists()  # fits: kept in memory


@pytest.mark.slow
def test_training_on_memory_mapped_crops_gives_the_same_run(dataset, tmp_path):
    base = dict(epochs=1, height=64, width=32, val_identities=6)
    plain = reid.train(tiny_options(dataset, tmp_path / "plain", **base))
    mapped = reid.train(tiny_options(dataset, tmp_path / "mapped", cache_memory_mb=1, **base))
    assert (tmp_path / "mapped" / "frames.u8").is_file() and not (tmp_path / "plain" / "frames.u8").exists()
    assert mapped.history[0]["loss"] == pytest.approx(plain.history[0]["loss"], rel=1e-6)
