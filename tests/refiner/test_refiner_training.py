"""Short real training runs on the two procedural domains: learning, resume, apply, CLI."""
import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from refiner.apply import apply, refine_image  # noqa: E402
from refiner.cli import main  # noqa: E402
from refiner.data import load_domain  # noqa: E402
from refiner.images import load_image  # noqa: E402
from refiner.model import load_checkpoint, load_generator_model  # noqa: E402
from refiner.options import OptionsError  # noqa: E402
from refiner.synthetic import colour_stats  # noqa: E402
from refiner.train import train  # noqa: E402
from refiner_fixtures import tiny_options  # noqa: E402
from synth_humans_addon.core.dataset import read_dataset  # noqa: E402

pytestmark = pytest.mark.numeric  # re-run under the AVX2 kernels (run.sh)


@pytest.fixture(scope="module")
def trained(generated, real_root, tmp_path_factory):
    """A PTGAN run of 4 epochs × 32 steps (≈ 15 s on one thread), shared by several tests."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "ptgan"
    opts = tiny_options(model="ptgan", n_epochs=3, n_epochs_decay=1)
    result = train(opts, generated, real_root, out, target_masks=f"folder:{real_root / 'masks'}", progress=False)
    return result


@pytest.mark.slow
def test_training_reduces_cycle_loss_and_moves_colours_to_the_target(trained, generated, real_root):
    h = trained.history
    assert trained.step == len(h) == 4 * 32 and trained.epoch == 4
    q = len(h) // 4
    for key in ("cycle_A", "cycle_B"):
        first, last = np.mean([r[key] for r in h[:q]]), np.mean([r[key] for r in h[-q:]])
        assert last < 0.8 * first, (key, first, last)
    model = load_generator_model(trained.latest_checkpoint, "cpu")
    source = [load_image(it.image) for it in load_domain(generated, ["all"]).items]
    target = [load_image(it.image) for it in load_domain(real_root).items]
    refined = [refine_image(model, im) for im in source]
    assert [im.size for im in refined] == [im.size for im in source]
    s, t, r = colour_stats(source), colour_stats(target), colour_stats(refined)
    # the target is darker and bluer; the refined images must have moved most of the way there
    assert np.linalg.norm(r - t) < 0.5 * np.linalg.norm(s - t), (s, t, r)
    assert r[2] - r[0] > s[2] - s[0] + 10  # bluer relative to red


def test_run_folder_holds_checkpoints_samples_and_curves(trained):
    out = trained.output_dir
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "epoch_0001.pt", "epoch_0002.pt", "epoch_0003.pt", "epoch_0004.pt", "latest.pt"]
    grid = Image.open(out / "samples" / "epoch_0004.png")
    assert grid.width > 8 * 32 and grid.height > 4 * 64  # 8 columns, 4 rows of 64×32 crops
    assert (out / "loss_curves.png").stat().st_size > 1000
    ck = load_checkpoint(trained.latest_checkpoint)
    assert ck["options"]["model"] == "ptgan" and ck["options"]["lambda_person"] == 10.0
    assert ck["state"]["step"] == 128
    lines = (out / "losses.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == list(range(1, 129))
    # linear decay in the last epoch: lr of the 4th epoch is half of the initial
    assert json.loads(lines[-1])["lr"] == pytest.approx(1e-4)


def test_resume_continues_at_the_same_step_with_the_same_result(generated, real_root, tmp_path):
    opts = tiny_options(n_epochs=1, n_epochs_decay=1, pool_size=4)
    straight = train(opts, generated, real_root, tmp_path / "straight", progress=False)
    part = train(opts, generated, real_root, tmp_path / "split", max_steps=45, progress=False)
    assert (part.epoch, part.step) == (1, 45)
    with pytest.raises(FileExistsError):
        train(opts, generated, real_root, tmp_path / "split", progress=False)
    with pytest.raises(OptionsError, match="ngf"):
        train(None, generated, real_root, tmp_path / "split", resume=True, overrides={"ngf": 16}, progress=False)
    rest = train(None, generated, real_root, tmp_path / "split", resume=True, progress=False)
    assert rest.history[0]["step"] == 46 and rest.step == straight.step == 64
    a, b = load_checkpoint(straight.latest_checkpoint), load_checkpoint(rest.latest_checkpoint)
    for net in ("G_A", "G_B", "D_A", "D_B"):
        for name, tensor in a["nets"][net].items():
            torch.testing.assert_close(b["nets"][net][name], tensor, rtol=0, atol=1e-6, msg=f"{net}.{name}")
    lines = (tmp_path / "split" / "losses.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == list(range(1, 65))


def test_apply_keeps_names_labels_masks_and_metadata(trained, generated, tmp_path):
    out = tmp_path / "refined"
    result = apply(trained.latest_checkpoint, generated, out, progress=False)
    src, dst = read_dataset(generated), read_dataset(out)
    assert result.images == len(src.images) == len(dst.images) == 32
    key = lambda r: r.path.relative_to(r.path.parents[1]).as_posix()  # noqa: E731
    assert sorted(map(key, src.images)) == sorted(map(key, dst.images))
    by_name = {key(r): r for r in dst.images}
    changed = 0
    for r in src.images:
        d = by_name[key(r)]
        assert (d.pid, d.camera_id, d.subset, d.split, d.k, d.frame) == (r.pid, r.camera_id, r.subset, r.split, r.k,
                                                                         r.frame)
        assert d.mask_path.read_bytes() == r.mask_path.read_bytes()
        with Image.open(r.path) as a, Image.open(d.path) as b:
            assert a.size == b.size
            changed += np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() > 5
    assert changed == 32
    for meta in (generated / "metadata").glob("*.json"):
        assert (out / "metadata" / meta.name).read_bytes() == meta.read_bytes()
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["name"].endswith("-refined") and manifest["spec"] == src.manifest["spec"]
    assert manifest["refined"]["options"]["model"] == "ptgan" and manifest["refined"]["step"] == 128
    assert len(manifest["refined"]["checkpoint_sha256"]) == 64
    with pytest.raises(FileExistsError):
        apply(trained.latest_checkpoint, generated, out, progress=False)


def test_apply_to_a_plain_folder_mirrors_its_files(trained, real_root, tmp_path):
    out = tmp_path / "back"
    apply(trained.latest_checkpoint, real_root / "bounding_box_train", out, direction="BtoA", progress=False)
    names = sorted(p.name for p in (real_root / "bounding_box_train").iterdir())
    assert sorted(p.name for p in out.glob("*.jpg")) == names
    assert json.loads((out / "refiner_provenance.json").read_text())["direction"] == "BtoA"


def test_cli_trains_resumes_and_applies(generated, real_root, tmp_path, capsys):
    run = tmp_path / "cli"
    common = ["--source", str(generated), "--target", str(real_root / "bounding_box_train"), "--output", str(run),
              "--quiet"]
    tiny = ["--height", "64", "--width", "32", "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--n-epochs", "1",
            "--n-epochs-decay", "0", "--source-subsets", "all", "--device", "cpu", "--no-flip"]
    assert main(["train", *common, *tiny, "--max-steps", "5"]) == 0
    assert main(["train", *common, *tiny, "--ngf", "8", "--resume"]) == 2  # a different network
    assert "cannot change ngf" in capsys.readouterr().err
    # the starting command with --resume continues the run (its own values are no change)
    assert main(["train", *common, *tiny, "--resume", "--n-epochs", "2"]) == 0
    assert "epoch 2, step 64" in capsys.readouterr().out
    ck = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert ck["options"]["flip"] is False and ck["options"]["n_epochs"] == 2
    assert main(["apply", "--checkpoint", str(run / "checkpoints" / "latest.pt"), "--input", str(generated),
                 "--output", str(tmp_path / "out"), "--quiet"]) == 0
    assert len(read_dataset(tmp_path / "out").images) == 32
    # PTGAN without target masks is refused with a hint
    assert main(["train", *common[:-2], str(tmp_path / "p"), "--quiet", *tiny, "--model", "ptgan"]) == 2
    assert "needs person masks" in capsys.readouterr().err
