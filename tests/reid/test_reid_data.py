"""Dataset loaders on tiny fixture folders in each layout, splits, corrupt files."""
import numpy as np
import pytest

pytest.importorskip("torch")

from reid.data import DatasetLayoutError, LoadOptions, detect_layout, load_dataset, split_by_identity  # noqa: E402
from reid.data.records import ImageItem  # noqa: E402

from reid_fixtures import (make_market_like, make_msmt17, make_plain_folder, write, write_fake_cuhk03_mat,  # noqa: E402
                           write_new_protocol_config)

pytestmark = pytest.mark.torch

NO_VAL = LoadOptions(num_validation=0)


def pids(items):
    return sorted({it.pid for it in items})


def test_market1501_junk_and_distractors(tmp_path):
    root = make_market_like(tmp_path / "Market-1501")
    assert detect_layout(root) == "market1501"
    d = load_dataset(root, NO_VAL)
    assert pids(d.train) == [1, 2, 3, 4, 5, 6] and len(d.train) == 24  # junk −1 dropped from train
    assert pids(d.query) == [7, 8, 9]
    assert pids(d.gallery) == [0, 7, 8, 9]  # distractor kept, junk dropped
    assert {it.camid for it in d.gallery} == {1, 2, 3}


def test_validation_identities_carved_from_train(tmp_path):
    d = load_dataset(make_market_like(tmp_path / "m"), LoadOptions(num_validation=2))
    assert len(pids(d.validation)) == 2 and len(pids(d.train)) == 4
    assert not set(pids(d.validation)) & set(pids(d.train))


def test_dukemtmc_detected_by_name(tmp_path):
    root = make_market_like(tmp_path / "DukeMTMC-reID")
    assert detect_layout(root) == "dukemtmc"
    assert load_dataset(root, NO_VAL).layout == "dukemtmc"


def test_msmt17_lists(tmp_path):
    root = make_msmt17(tmp_path / "MSMT17_V1")
    d = load_dataset(root, NO_VAL)
    assert d.layout == "msmt17"
    assert pids(d.train) == [1, 2, 3, 4]  # train + val lists, shifted to start at 1
    assert len(d.query) == 3 and len(d.gallery) == 6
    assert {it.camid for it in d.gallery} == {2, 3}
    assert all(it.path.endswith(".jpg") for it in d.query)


def test_msmt17_bad_list_line_names_file(tmp_path):
    root = make_msmt17(tmp_path / "MSMT17_V1")
    (root / "list_query.txt").write_text("garbage\n")
    with pytest.raises(DatasetLayoutError, match="list_query.txt:1"):
        load_dataset(root, NO_VAL)


def test_plain_folder_split_by_identity(tmp_path):
    root = make_plain_folder(tmp_path / "plain")
    d = load_dataset(root, LoadOptions(num_validation=2, num_test=3, split_seed=1))
    assert d.layout == "folder"
    train, val, test = set(pids(d.train)), set(pids(d.validation)), set(pids(d.query)) | set(pids(d.gallery))
    assert len(val) == 2 and len(test) == 3 and len(train) == 7
    assert not (train & val or train & test or val & test)
    # every test identity has a query and a gallery image, from different cameras here
    assert set(pids(d.query)) == set(pids(d.gallery)) == test


def test_split_by_identity_too_few():
    items = [ImageItem(f"{p}.jpg", p, 1) for p in range(1, 5)]
    with pytest.raises(ValueError, match="4 identities"):
        split_by_identity(items, 2, 2)


def test_corrupt_images_reported_and_skipped(tmp_path):
    root = make_market_like(tmp_path / "m")
    bad = write(root / "bounding_box_train" / "0001_c1s1_999999_09.jpg", b"not a jpeg at all")
    d = load_dataset(root, NO_VAL)
    assert str(bad) in d.skipped
    assert all(it.path != str(bad) for it in d.train)


def test_truncated_image_never_stops_training_loader(tmp_path):
    from reid.data.torch_dataset import EvalImages, TrainImages
    from reid.data.transforms import build_transforms

    root = make_market_like(tmp_path / "m")
    good = root / "bounding_box_train" / "0001_c1s1_000000_00.jpg"
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 3])  # header intact, image data cut off
    d = load_dataset(root, NO_VAL)
    assert str(good) in [it.path for it in d.train]  # passes the cheap header check ...
    ds = TrainImages(d.train, build_transforms(16, 8, train=True))
    idx = [it.path for it in d.train].index(str(good))
    img, label = ds[idx]  # ... but is replaced by another image when it fails to decode
    assert img.shape == (3, 16, 8) and str(good) in ds.bad
    ev = EvalImages(d.train, build_transforms(16, 8, train=False), 16, 8)
    assert float(ev[idx][0].abs().sum()) == 0.0


def test_cuhk03_classic_protocol(tmp_path):
    mat = write_fake_cuhk03_mat(tmp_path / "cuhk03" / "cuhk-03.mat")
    assert detect_layout(mat.parent) == "cuhk03"
    d = load_dataset(mat.parent, LoadOptions(num_validation=0, cuhk03_split=0))
    # split 0 tests (pair 1, pid 1) and (pair 2, pid 2) → global ids 1 and 6 (pair 1 has 4 ids)
    assert pids(d.query) == pids(d.gallery) == [1, 6]
    assert pids(d.train) == [2, 3, 4, 5, 7]
    assert {it.camid for it in d.query} == {1} and {it.camid for it in d.gallery} == {2}
    assert len([it for it in d.train if it.pid == 2]) == 9  # its empty cell is skipped
    assert (mat.parent / "images_labeled" / "1_001_1_01.png").is_file()
    d1 = load_dataset(mat, LoadOptions(num_validation=0, cuhk03_split=1, cuhk03_images="detected"))
    assert pids(d1.query) == [3, 5]  # (pair 1, pid 3) and (pair 2, pid 1)
    # labeled and detected crops differ
    from PIL import Image

    a = np.asarray(Image.open(mat.parent / "images_labeled" / "1_001_1_01.png"))
    b = np.asarray(Image.open(mat.parent / "images_detected" / "1_001_1_01.png"))
    assert a.shape == (12, 6, 3) and not np.array_equal(a, b)


def test_cuhk03_new_protocol(tmp_path):
    mat = write_fake_cuhk03_mat(tmp_path / "cuhk03" / "cuhk-03.mat")
    with pytest.raises(DatasetLayoutError, match="cuhk03_new_protocol_config_labeled.mat"):
        load_dataset(mat, LoadOptions(num_validation=0, cuhk03_protocol="new"))
    write_new_protocol_config(mat.parent)
    d = load_dataset(mat, LoadOptions(num_validation=0, cuhk03_protocol="new"))
    assert pids(d.train) == [1, 2, 3, 4] and pids(d.query) == pids(d.gallery) == [101, 102, 103]
    assert len(d.train) == 39


def test_generated_format(tmp_path):
    from reid.data.synthetic import make_procedural_dataset, small_spec

    root = make_procedural_dataset(tmp_path / "gen", small_spec(characters=12, images_per_character=4,
                                                                  validation=3, test=3, crop_height=32))
    d = load_dataset(root)
    assert d.layout == "generated" and len(pids(d.validation)) == 3 and len(pids(d.train)) == 6
    test_ids = set(pids(d.query)) | set(pids(d.gallery))
    assert len(test_ids) == 3 and not test_ids & set(pids(d.train)) and not test_ids & set(pids(d.validation))
    assert "cuhk03" in d.protocols


def test_the_refiners_name_for_the_format_is_an_alias(tmp_path):
    from reid.cli import build_parser
    from reid.data.synthetic import make_procedural_dataset, small_spec
    from reid.options import TrainOptions

    root = make_procedural_dataset(tmp_path / "gen", small_spec(characters=8, images_per_character=2,
                                                                  validation=2, test=2, crop_height=24))
    assert load_dataset(root, LoadOptions(layout="synth-humans")).layout == "generated"
    TrainOptions.from_dict({"data": str(root), "layout": "synth-humans"})
    args = build_parser().parse_args(["info", "--data", str(root), "--layout", "synth-humans"])
    assert args.layout == "generated"


def test_generated_with_a_missing_image_loads_and_reports_it_unless_strict(tmp_path):
    from cli_process import assert_user_error, run_cli
    from reid.data.synthetic import make_procedural_dataset, small_spec

    root = make_procedural_dataset(tmp_path / "gen", small_spec(characters=12, images_per_character=4,
                                                                  validation=3, test=3, crop_height=32))
    victim = sorted((root / "bounding_box_train").iterdir())[0]
    victim.unlink()
    d = load_dataset(root)
    assert d.skipped == [str(victim)] and len(d.train) == 6 * 4 - 1
    assert d.summary()["skipped_files"] == 1
    with pytest.raises(ValueError, match=victim.name):
        load_dataset(root, LoadOptions(strict=True))
    r = run_cli("reid", "info", root, cwd=tmp_path)
    assert r.returncode == 0 and '"skipped_files": 1' in r.stdout
    assert_user_error(run_cli("reid", "info", root, "--strict", cwd=tmp_path), victim.name)


def test_export_to_msmt17_is_read_back_with_every_camera_and_identity(tmp_path):
    from cli_process import run_cli
    from reid.data.synthetic import make_procedural_dataset, small_spec

    spec = small_spec(characters=14, images_per_character=6, validation=3, test=4, crop_height=32)
    spec.dataset.camera_id_bins = 8  # beyond Market-1501's 6 cameras
    root = make_procedural_dataset(tmp_path / "gen", spec)
    r = run_cli("headless", "export", root, "--layout", "msmt17", "--output", tmp_path / "msmt", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "msmt"
    direct = load_dataset(root, LoadOptions(num_validation=0))
    exported = load_dataset(out, LoadOptions(num_validation=0))
    assert exported.layout == "msmt17"
    assert len(exported.train) == len(direct.train) + len(direct.validation)  # MSMT17: train + val
    assert (len(exported.query), len(exported.gallery)) == (len(direct.query), len(direct.gallery))
    cams = {it.camid for it in direct.train + direct.query + direct.gallery}
    assert max(cams) > 6 and {it.camid for it in exported.train + exported.query + exported.gallery} == cams
    # torchreid's MSMT17 rules: label from the list (0-based, contiguous), camera from field 2 of the path
    for name in ("list_train.txt", "list_query.txt", "list_gallery.txt"):
        rows = [line.split(" ") for line in (out / name).read_text().splitlines()]
        labels = sorted({int(pid) for _, pid in rows})
        assert labels == list(range(len(labels)))
        assert all(1 <= int(rel.split("_")[2]) <= 8 for rel, _ in rows)
    val = {int(line.split()[1]) for line in (out / "list_val.txt").read_text().splitlines()}
    assert min(val) == len(pids(direct.train)) and len(val) == 3  # after train's labels: combineall-safe


def test_generated_without_test_and_validation_characters_is_split(tmp_path):
    from reid.data.synthetic import make_procedural_dataset, small_spec

    root = make_procedural_dataset(tmp_path / "gen", small_spec(characters=10, images_per_character=3,
                                                                  validation=0, test=0, crop_height=24))
    d = load_dataset(root, LoadOptions(num_validation=2, num_test=3))
    train, val = set(pids(d.train)), set(pids(d.validation))
    test = set(pids(d.query)) | set(pids(d.gallery))
    assert (len(train), len(val), len(test)) == (5, 2, 3)
    assert not (train & val or train & test or val & test)


def test_reid_draws_the_queries_the_generator_draws():
    """One query rule (`core.dataset.query_flags`): re-id's split of generated test images, in
    the generator's image order, picks the generator's queries. In file-name order it would
    not: the names' frame field is a pose phase, so it does not order a camera's images."""
    from synth_humans_addon.core import presets, sampling
    from synth_humans_addon.core.dataset import SUBSET_QUERY, image_stem
    from reid.data.splits import generated_order, query_gallery_split

    spec = presets.preset("IV")
    tests = [i for i, s in enumerate(sampling.assign_splits(spec)) if s == sampling.SPLIT_TEST][:20]
    items, generated = [], set()
    for i in tests:
        ch = sampling.expand_character(spec, i, sampling.SPLIT_TEST)
        for im in ch.images:
            items.append(ImageItem(f"test/{image_stem(ch.pid, im)}.jpg", ch.pid, im.camera_id))
            if im.subset == SUBSET_QUERY:
                generated.add(items[-1].path)
    items = [items[i] for i in np.random.default_rng(0).permutation(len(items))]
    query, gallery = query_gallery_split(items, order=generated_order)
    assert {it.path for it in query} == generated and len(query) + len(gallery) == len(items)
    by_name, _ = query_gallery_split(items)
    assert {it.path for it in by_name} != generated


def test_unknown_layout_and_missing_folder(tmp_path):
    with pytest.raises(DatasetLayoutError, match="no such dataset folder"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DatasetLayoutError, match="layout 'bogus'"):
        load_dataset(tmp_path, LoadOptions(layout="bogus"))


def test_a_smaller_training_set_is_nested_and_takes_images_round_robin_over_cameras(tmp_path):
    from reid.data.splits import subsample_training

    # 20 identities × 10 crops, CUHK03-like: crops 0–4 camera 1, 5–9 camera 2
    items = [ImageItem(f"/x/{p:04d}_{k:02d}.jpg", p, 1 if k < 5 else 2) for p in range(1, 21) for k in range(10)]
    small, large = subsample_training(items, 5, 0, seed=3), subsample_training(items, 12, 0, seed=3)
    assert len(set(pids(small))) == 5 and len(set(pids(large))) == 12
    assert set(pids(small)) <= set(pids(large))  # one seed: nested points of a scale curve
    assert set(pids(subsample_training(items, 5, 0, seed=4))) != set(pids(small))
    four = subsample_training(items, 0, 4)
    assert len(four) == 80 and len(set(pids(four))) == 20
    first = [it for it in four if it.pid == 1]
    assert [it.path[-6:-4] for it in first] == ["00", "01", "05", "06"]  # two per camera, not four of camera 1
    assert subsample_training(items, 0, 0) == items
    # through the loader: the training side only; validation and test identities stay as they were
    root = make_plain_folder(tmp_path / "plain")
    whole = load_dataset(root, LoadOptions(num_validation=2, num_test=3, split_seed=1))
    part = load_dataset(root, LoadOptions(num_validation=2, num_test=3, split_seed=1, max_identities=3))
    assert len(set(pids(part.train))) == 3 and set(pids(part.train)) <= set(pids(whole.train))
    assert pids(part.validation) == pids(whole.validation) and pids(part.query) == pids(whole.query)
