"""The identity-preservation diagnostic: a re-id embedding on a dataset and its refined copy."""
import shutil

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from cli_process import assert_user_error, run_cli  # noqa: E402
from refiner.identity_check import colour_histogram_embedding, identity_check, separation  # noqa: E402
from refiner_fixtures import save_untrained_reid_checkpoint  # noqa: E402


def test_separation_of_tight_clusters_and_of_noise():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16))
    pids = np.repeat(np.arange(5), 4)
    tight = separation(centres[pids] + 0.01 * rng.normal(size=(20, 16)), pids)
    noise = separation(rng.normal(size=(20, 16)), pids)
    assert tight["rank1"] == 1.0 and tight["ratio"] < 0.05 and tight["identities"] == 5
    assert noise["ratio"] > 0.8 and noise["rank1"] < 0.6
    # on unit vectors: identical images of one identity are 0 apart; between is the plain mean
    unit = centres[pids] / np.linalg.norm(centres[pids], axis=1, keepdims=True)
    d = np.linalg.norm(unit[:, None] - unit[None], axis=-1)
    exact = separation(unit, pids)
    assert exact["within"] == pytest.approx(0.0, abs=1e-6)
    assert exact["between"] == pytest.approx(d[pids[:, None] != pids[None]].mean())


@pytest.fixture
def scrambled(generated, tmp_path):
    """A 'refined' copy whose images were swapped between identities: it keeps nobody."""
    out = tmp_path / "scrambled"
    shutil.copytree(generated, out)
    files = sorted((out / "bounding_box_train").glob("*.jpg"))
    images = [Image.open(p).copy() for p in files]
    rng = np.random.default_rng(0)
    for p, i in zip(files, rng.permutation(len(files))):
        images[i].save(p)
    return out


def test_an_identical_copy_keeps_and_a_scrambled_one_does_not(generated, scrambled, tmp_path):
    same = tmp_path / "same"
    shutil.copytree(generated, same)
    embed = colour_histogram_embedding()
    r = identity_check(generated, same, embed)
    assert r["generated"] == r["refined_copy"] and r["keeps_identities"] and r["tighter_identities"] == 0.0
    assert r["images"] == 32 and r["identities"] == 8
    s = identity_check(generated, scrambled, embed)
    assert not s["keeps_identities"]
    assert s["refined_copy"]["ratio"] > s["generated"]["ratio"] + 0.2
    assert s["refined_copy"]["rank1"] < s["generated"]["rank1"] - 0.3


def test_the_same_draw_of_identities_in_both_copies(generated, tmp_path):
    same = tmp_path / "same"
    shutil.copytree(generated, same)
    a = identity_check(generated, same, colour_histogram_embedding(), max_identities=3, seed=4)
    b = identity_check(generated, same, colour_histogram_embedding(), max_identities=3, seed=5)
    assert a["identities"] == 3 and a["images"] == 12 and a["generated"] != b["generated"]


def test_a_copy_that_lacks_images_is_refused(generated, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(generated, partial)
    next((partial / "bounding_box_train").glob("*.jpg")).unlink()
    with pytest.raises(FileNotFoundError, match="lacks 1 of the 32"):
        identity_check(generated, partial, colour_histogram_embedding())


@pytest.fixture
def reid_checkpoint(tmp_path):
    return save_untrained_reid_checkpoint(tmp_path / "best.pt")


def test_command_with_a_reid_checkpoint(generated, scrambled, reid_checkpoint, tmp_path):
    r = run_cli("refiner", "identity-check", "--data", str(generated), "--refined", str(scrambled), "--reid",
                str(reid_checkpoint), "--device", "cpu", "-o", "report.json", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| generated |" in r.stdout and "keeps identities apart (ratio no higher, rank-1 no lower): no" in r.stdout
    assert (tmp_path / "report.json").read_text().count('"rank1"') == 2
    assert_user_error(run_cli("refiner", "identity-check", "--data", str(generated), "--refined", "nowhere",
                              "--reid", "colour-histogram", cwd=tmp_path), "--refined nowhere")
