"""CUHK03 from the original ``cuhk-03.mat`` release (MATLAB v7.3, i.e. HDF5, read with h5py).

Structure of ``cuhk-03.mat`` as h5py sees it (MATLAB stores arrays transposed)::

    /labeled     (1, 5) object references, one per camera pair (843, 440, 77, 58, 49 identities)
    /detected    (1, 5) the same for the automatically detected crops
      → ref      (10, num_pids) object references: images 0–4 from the pair's first camera
                 (view 1), 5–9 from its second (view 2)
        → ref    uint8 (3, W, H): one RGB crop (transposed H×W×3); an empty cell (a missing
                 image) is a tiny 1-D or 2-D array and is skipped
    /testsets    (1, 20) object references, one per classic test split
      → ref      (2, 100) doubles: (camera pair, pid) of the 100 test identities, 1-based

Images are extracted once to ``images_<labeled|detected>/`` next to the .mat file, named
``<pair>_<pid:03d>_<view>_<img:02d>.png`` as torchreid names them (so the 767/700 protocol's
``cuhk03_new_protocol_config_<labeled|detected>.mat`` file lists apply unchanged).

Protocols:

``classic``   one of the 20 splits: its 100 identities are the test set (the source study's
              100 test identities), the other 1,367 train; query = view-1, gallery =
              view-2 images (with the ``cuhk03`` CMC every test image is a query).
``new``       767 training / 700 test identities from
              ``cuhk03_new_protocol_config_<images>.mat`` (Zhong et al. 2017) beside the .mat.

Camera id = view (1 or 2), as in Open-ReID, so "same camera" means the same view.
Identities are numbered 1…1467 across camera pairs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .loading import DatasetLayoutError, LoadOptions, with_validation
from .records import ImageItem, ReidData
from .registry import Layout, register

MAT_NAME = "cuhk-03.mat"
IMAGE_KINDS = ("labeled", "detected")
PROTOCOLS = ("classic", "new")


def image_name(pair: int, pid: int, view: int, img: int) -> str:
    """torchreid's file name; pair, pid and img are 0-based here, view is 1 or 2."""
    return f"{pair + 1}_{pid + 1:03d}_{view}_{img + 1:02d}.png"


def extract_images(mat_path: Path, images: str = "labeled") -> tuple[Path, dict[tuple[int, int], list[str]]]:
    """Write the crops of `images` as PNG files (once) and return the folder and
    {(pair, pid) 0-based: [file names]}."""
    import h5py
    from PIL import Image
    from tqdm import tqdm

    if images not in IMAGE_KINDS:
        raise DatasetLayoutError(f"cuhk03_images {images!r}: expected 'labeled' or 'detected'")
    out = mat_path.parent / f"images_{images}"
    out.mkdir(exist_ok=True)
    files: dict[tuple[int, int], list[str]] = {}
    try:
        mat = h5py.File(mat_path, "r")
    except OSError as exc:
        raise DatasetLayoutError(f"{mat_path}: not a readable MATLAB v7.3 (HDF5) file ({exc})") from None
    with mat:
        if images not in mat:
            raise DatasetLayoutError(f"{mat_path}: no '{images}' entry")
        pairs = mat[images][0]
        for pair, pair_ref in enumerate(tqdm(pairs, desc=f"cuhk03 {images}", unit="pair", leave=False)):
            cells = mat[pair_ref][:].T  # (num_pids, 10) references
            for pid in range(cells.shape[0]):
                names = []
                for img in range(cells.shape[1]):
                    name = image_name(pair, pid, 1 if img < 5 else 2, img)
                    if (out / name).is_file():
                        names.append(name)
                        continue
                    arr = mat[cells[pid, img]][:]
                    if arr.ndim < 3 or arr.size == 0:
                        continue  # empty cell: this image does not exist
                    Image.fromarray(np.ascontiguousarray(arr.T)).save(out / name)
                    names.append(name)
                files[(pair, pid)] = names
    return out, files


def classic_test_ids(mat_path: Path, split: int) -> set[tuple[int, int]]:
    import h5py

    with h5py.File(mat_path, "r") as mat:
        if "testsets" not in mat:
            raise DatasetLayoutError(f"{mat_path}: no 'testsets' entry")
        refs = mat["testsets"][0]
        if not 0 <= split < len(refs):
            raise DatasetLayoutError(f"cuhk03_split {split}: {mat_path} has splits 0..{len(refs) - 1}")
        rows = mat[refs[split]][:].T
    return {(int(a) - 1, int(b) - 1) for a, b in rows}


def _view(name: str) -> int:
    return int(name.split("_")[2])


def load_cuhk03(root: Path, opt: LoadOptions) -> ReidData:
    mat_path = root if root.is_file() else root / MAT_NAME
    if not mat_path.is_file():
        raise DatasetLayoutError(f"{mat_path}: missing")
    folder, files = extract_images(mat_path, opt.cuhk03_images)
    keys = sorted(files)
    global_pid = {k: i + 1 for i, k in enumerate(keys)}

    if opt.cuhk03_protocol == "classic":
        test_ids = classic_test_ids(mat_path, opt.cuhk03_split)
        train, query, gallery = [], [], []
        for key in keys:
            for name in files[key]:
                item = ImageItem(str(folder / name), global_pid[key], _view(name))
                if key not in test_ids:
                    train.append(item)
                else:
                    (query if item.camid == 1 else gallery).append(item)
    elif opt.cuhk03_protocol == "new":
        from scipy.io import loadmat

        cfg_path = mat_path.parent / f"cuhk03_new_protocol_config_{opt.cuhk03_images}.mat"
        if not cfg_path.is_file():
            raise DatasetLayoutError(f"{cfg_path}: missing (needed by cuhk03_protocol='new')")
        cfg = loadmat(cfg_path)
        names = [str(np.asarray(x).ravel()[0]) for x in cfg["filelist"].ravel()]
        labels = cfg["labels"].ravel().astype(int)

        def pick(field):
            out = []
            for idx in cfg[field].ravel().astype(int) - 1:
                path = folder / names[idx]
                if not path.is_file():
                    raise DatasetLayoutError(f"{cfg_path}: lists {names[idx]}, not in {mat_path}")
                out.append(ImageItem(str(path), int(labels[idx]), _view(names[idx])))
            return out

        train, query, gallery = pick("train_idx"), pick("query_idx"), pick("gallery_idx")
    else:
        raise DatasetLayoutError(f"cuhk03_protocol {opt.cuhk03_protocol!r}: expected 'classic' or 'new'")
    name = f"cuhk03-{opt.cuhk03_images}-{opt.cuhk03_protocol}"
    return with_validation(name, "cuhk03", train, query, gallery, opt, ("cross-camera", "cuhk03", "thesis", "market1501"), [])


def _is_cuhk03(root: Path) -> bool:
    """The release's .mat file itself, or a folder holding it."""
    return (root.is_file() and root.suffix == ".mat") or (root / MAT_NAME).is_file()


register(Layout("cuhk03", load_cuhk03, _is_cuhk03, rank=20))
