"""Tiny dataset folders in every layout the re-id loaders read (written per test into tmp_path)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg(color, size=(8, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, tuple(int(c) for c in color)).save(buf, "JPEG")
    return buf.getvalue()


def color_of(pid: int):
    rng = np.random.default_rng(pid + 1000)
    return rng.integers(0, 256, 3)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_market_like(root: Path) -> Path:
    """bounding_box_train: ids 1-6 (2 cameras × 2 images); query/bounding_box_test: ids 7-9;
    plus a junk (−1) and a distractor (0000) image in the gallery and a junk one in train."""
    for pid in range(1, 7):
        for cam in (1, 2):
            for k in range(2):
                write(root / "bounding_box_train" / f"{pid:04d}_c{cam}s1_{100 * k:06d}_{k:02d}.jpg", jpeg(color_of(pid)))
    write(root / "bounding_box_train" / "-1_c1s1_000000_00.jpg", jpeg((0, 0, 0)))
    for pid in range(7, 10):
        write(root / "query" / f"{pid:04d}_c1s1_000000_00.jpg", jpeg(color_of(pid)))
        write(root / "bounding_box_test" / f"{pid:04d}_c2s1_000100_01.jpg", jpeg(color_of(pid)))
        write(root / "bounding_box_test" / f"{pid:04d}_c1s1_000200_02.jpg", jpeg(color_of(pid)))
    write(root / "bounding_box_test" / "0000_c3s1_000000_00.jpg", jpeg((1, 2, 3)))
    write(root / "bounding_box_test" / "-1_c3s1_000000_01.jpg", jpeg((3, 2, 1)))
    return root


def make_msmt17(root: Path) -> Path:
    lines = {"list_train.txt": [], "list_val.txt": [], "list_query.txt": [], "list_gallery.txt": []}
    for pid in range(4):  # MSMT17 numbers train and test identities from 0 separately
        for cam in (1, 2):
            rel = f"{pid:04d}/{pid:04d}_{cam:03d}_{cam:02d}_0303morning_{cam:04d}_0.jpg"
            write(root / "train" / rel, jpeg(color_of(pid)))
            lines["list_val.txt" if pid == 3 else "list_train.txt"].append(f"{rel} {pid}")
    for pid in range(3):
        for cam, lst in ((1, "list_query.txt"), (2, "list_gallery.txt"), (3, "list_gallery.txt")):
            rel = f"{pid:04d}/{pid:04d}_{cam:03d}_{cam:02d}_0303noon_{cam:04d}_1.jpg"
            write(root / "test" / rel, jpeg(color_of(100 + pid)))
            lines[lst].append(f"{rel} {pid}")
    for name, ls in lines.items():
        (root / name).write_text("\n".join(ls) + "\n")
    return root


def make_plain_folder(root: Path, num_ids: int = 12, per_id: int = 4) -> Path:
    for pid in range(1, num_ids + 1):
        for k in range(per_id):
            sub = root / ("a" if pid % 2 else "b")  # nested folders are searched too
            write(sub / f"{pid}_{k % 2 + 1}_{k}.jpg", jpeg(color_of(pid)))
    return root


CUHK03_PAIRS = (4, 3)  # identities per camera pair (the real release has 843, 440, 77, 58, 49)


def write_fake_cuhk03_mat(path: Path, pids_per_pair=CUHK03_PAIRS, missing=((0, 1, 9),)) -> Path:
    """A cuhk-03.mat with the real release's HDF5 structure (see reid.data.cuhk03):
    /labeled and /detected (1, pairs) refs → (10, pids) refs → uint8 (3, W, H) images;
    /testsets (1, 2) refs → (2, n) doubles of 1-based (pair, pid). `missing` lists
    (pair, pid, image) cells left empty, as in the real file."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        counter = [0]

        def store(arr):
            counter[0] += 1
            return refs.create_dataset(f"r{counter[0]}", data=arr).ref

        for kind, shade in (("labeled", 0), ("detected", 40)):
            pair_refs = []
            for pair, npids in enumerate(pids_per_pair):
                cells = np.empty((10, npids), dtype=h5py.ref_dtype)
                for pid in range(npids):
                    color = color_of(pair * 100 + pid)
                    for img in range(10):
                        if (pair, pid, img) in missing:
                            cells[img, pid] = store(np.zeros(2, np.uint64))  # MATLAB's empty []
                            continue
                        hwc = np.empty((12, 6, 3), np.uint8)
                        hwc[:] = np.clip(color + shade + img, 0, 255)
                        cells[img, pid] = store(hwc.T)  # MATLAB writes arrays transposed
                pair_refs.append(store(cells))
            f.create_dataset(kind, data=np.array([pair_refs], dtype=h5py.ref_dtype))
        splits = [np.array([[1, 2], [1, 2]], float), np.array([[1, 2], [3, 1]], float)]  # (pair; pid) columns
        f.create_dataset("testsets", data=np.array([[store(s) for s in splits]], dtype=h5py.ref_dtype))
    return path


def write_new_protocol_config(folder: Path, images: str = "labeled") -> Path:
    """A cuhk03_new_protocol_config_<images>.mat (scipy format) over the fake file's images:
    pair 1 trains, pair 2 tests (view-1 images query, view-2 gallery)."""
    from scipy.io import savemat

    from reid.data.cuhk03 import image_name

    names, labels, cams = [], [], []
    for pair, npids in enumerate(CUHK03_PAIRS):
        for pid in range(npids):
            for img in range(10):
                if (pair, pid, img) == (0, 1, 9):
                    continue
                names.append(image_name(pair, pid, 1 if img < 5 else 2, img))
                labels.append(pair * 100 + pid + 1)
                cams.append(1 if img < 5 else 2)
    idx = np.arange(1, len(names) + 1)
    is_test = np.array([n.startswith("2_") for n in names])
    view = np.array(cams)
    cfg = {"filelist": np.array(names, dtype=object).reshape(-1, 1), "labels": np.array(labels).reshape(-1, 1),
           "camId": view.reshape(-1, 1), "train_idx": idx[~is_test].reshape(-1, 1),
           "query_idx": idx[is_test & (view == 1)].reshape(-1, 1),
           "gallery_idx": idx[is_test & (view == 2)].reshape(-1, 1)}
    path = folder / f"cuhk03_new_protocol_config_{images}.mat"
    savemat(path, cfg)
    return path
