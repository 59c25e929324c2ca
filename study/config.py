"""The experiment file (TOML) as typed dataclasses.

An experiment names the datasets to generate (presets or spec files, plus overrides), the
real dataset (a folder on disk, a stand-in generated in a different style, or none), the
refiners, the re-id training and finetuning options and the evaluation protocols::

    [experiment]
    name = "study"
    seed = 2018
    renderer = "bpy"          # bpy | standin
    workers = 4

    [real]
    path = "data/cuhk03"      # "" = no real data: only the synthetic-only questions run
    layout = "auto"           # auto | cuhk03 | market1501 | dukemtmc | msmt17 | generated | folder

    [generate.overrides]      # merged into every dataset's spec
    render = { crop_height = 256 }

    [[datasets]]
    name = "I"
    preset = "I"              # or: spec = "my_site.toml" (relative to this file)

    [refine]
    models = ["cyclegan"]     # [] = no refinement; "ptgan" adds PTGAN refiners
    options = { n_epochs = 100, n_epochs_decay = 100 }

    [reid]
    train = { epochs = 50 }
    finetune = { epochs = 20 }

    [evaluate]
    protocols = ["cross-camera", "market1501"]

Unknown keys are errors that name the key, so a typo never silently changes a study.
"""
from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refiner.options import MODELS as REFINER_MODELS  # the refiner's catalogue (its options import no torch)
from synth_humans_addon.core.presets import PRESET_NAMES, preset
from synth_humans_addon.core.renderer import RENDERERS
from synth_humans_addon.core.spec import Spec, SpecError
from synth_humans_addon.core.spec_io import load_spec, spec_from_dict, spec_to_dict
from synth_humans_addon.core.typed_options import Problem, ProblemsError, read_fields

from .costs import CostModel

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ExperimentError(ProblemsError):
    """An invalid experiment file; the message names the file and the field."""

    what = "experiment"


@dataclass
class DatasetEntry:
    """One dataset to generate: a name (used in tables: I, II, …) and its full spec."""

    name: str
    spec: Spec
    source: str  # "preset:I" or the spec file: recorded in the report


@dataclass
class RealData:
    """The real domain: a folder on disk, a generated stand-in, or nothing.

    With `standin` set, the project renders its own "real" domain from that spec (a different
    style than the artificial datasets) and treats it exactly like real data: it is what the
    tiny experiment uses to exercise every stage without downloading anything.
    """

    path: str = ""
    layout: str = "auto"
    name: str = "real"
    standin: DatasetEntry | None = None
    # A separate test folder (the `folder` layout, taken whole as the test set). With it,
    # `path` is taken whole as the real training side: refiner target, real-only training
    # and finetuning. `python -m reid split-folder` writes such a pair (train/, test/).
    test_path: str = ""

    @property
    def present(self) -> bool:
        return bool(self.path) or self.standin is not None


@dataclass
class RefineConfig:
    models: list[str] = field(default_factory=lambda: ["cyclegan"])
    datasets: list[str] = field(default_factory=list)  # names of the datasets to refine ([] = every one)
    options: dict[str, Any] = field(default_factory=dict)  # refiner.options.RefinerOptions fields
    ptgan_options: dict[str, Any] = field(default_factory=dict)  # extra options for the PTGAN refiners
    # Besides RefinerOptions fields, both tables take the refiner's person-mask sources
    # (MASK_SOURCE_KEYS; refiner.data.parse_mask_source): real crops carry no masks, so PTGAN
    # toward a real camera needs target_masks = "none" (source side only) or a segmenter.


MASK_SOURCE_KEYS = ("source_masks", "target_masks")


def split_mask_sources(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the RefinerOptions fields, the mask sources) of one `[refine]` option table."""
    return ({k: v for k, v in options.items() if k not in MASK_SOURCE_KEYS},
            {k: v for k, v in options.items() if k in MASK_SOURCE_KEYS})


@dataclass
class ReidConfig:
    train: dict[str, Any] = field(default_factory=dict)  # re-id training options (reid package fields)
    finetune: dict[str, Any] = field(default_factory=dict)  # options of the finetuning on real data
    train_on_real: bool = True  # the reference model trained on the real training set
    finetune_models: list[str] = field(default_factory=list)  # row labels to finetune, e.g. "IV" ([] = every one)
    # Training seeds: every re-id model and finetune is trained once per seed and the report
    # gives each row's mean ± standard deviation over them ([] = the experiment's seed alone).
    # One run says little: on real people the seed alone moves rank-1 by 2 points.
    seeds: list[int] = field(default_factory=list)

    def training_seeds(self, experiment_seed: int) -> list[int]:
        return list(self.seeds) or [experiment_seed]


@dataclass
class EvaluateConfig:
    # reid.metrics.PROTOCOLS; cross-camera is the classic CUHK03 single-shot
    protocols: list[str] = field(default_factory=lambda: ["cross-camera", "market1501"])
    identities: int = 100  # single-shot protocols: identities per draw
    repeats: int = 10  # single-shot protocols and cuhk03: random draws averaged
    ranks: list[int] = field(default_factory=lambda: [1, 5, 10, 20])
    max_rank: int = 100
    own_test: bool = True  # the appendix check: each model on its own dataset's test split
    baselines: list[str] = field(default_factory=lambda: ["colour-histogram"])  # non-learned rows (reid.baselines)


@dataclass
class ReportConfig:
    grid_images: int = 24  # images per sample grid
    grid_columns: int = 12


@dataclass
class ExperimentConfig:
    name: str
    seed: int
    renderer: str
    workers: int
    datasets: list[DatasetEntry]
    real: RealData
    refine: RefineConfig
    reid: ReidConfig
    evaluate: EvaluateConfig
    report: ReportConfig
    device: str = "auto"
    source: str = ""  # the experiment file
    estimate: dict[str, float] = field(default_factory=dict)  # overrides of the dry-run cost model


DEFAULT_DATASETS = ("I", "II", "III", "IV")


def merge_spec_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of the spec dict `base` with `overrides` merged section by section.

    Sections (`[render]`, `[clothing]`, …) are merged; a field's value is replaced whole:
    merging ``tops = {tshirt = 1}`` into the preset's ``{tshirt, longsleeve, jacket}`` must
    not keep the other garments, and a range is replaced as a pair.
    """
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _spec_base(entry: dict[str, Any], where: str, base_dir: Path, problems: list) -> tuple[dict | None, str]:
    if "preset" in entry and "spec" in entry:
        problems.append((where, "give either `preset` or `spec`, not both"))
        return None, ""
    if "spec" in entry:
        path = (base_dir / str(entry["spec"])).resolve()
        try:
            spec = load_spec(path)
        except SpecError as exc:
            problems.append((f"{where}.spec", str(exc)))
            return None, ""
        return spec_to_dict(spec), str(path)
    name = str(entry.get("preset", entry.get("name", "")))
    try:
        spec = preset(name)
    except KeyError:
        problems.append((f"{where}.preset", f"unknown preset {name!r} (known: {', '.join(PRESET_NAMES)}); "
                                            "or give `spec = \"file.toml\"`"))
        return None, ""
    return spec_to_dict(spec), f"preset:{name}"


def _dataset_entry(entry: Any, where: str, base_dir: Path, common: dict[str, Any],
                   problems: list) -> DatasetEntry | None:
    if not isinstance(entry, dict):
        problems.append((where, f"expected a table, got {entry!r}"))
        return None
    unknown = set(entry) - {"name", "preset", "spec", "overrides"}
    if unknown:
        problems.append((where, f"unknown key(s) {', '.join(sorted(unknown))} (known: name, preset, spec, overrides)"))
    name = str(entry.get("name") or entry.get("preset") or "")
    if not NAME_RE.match(name):
        problems.append((f"{where}.name", f"{name!r} must be letters, digits, '.', '_' or '-' (used in folder names)"))
        return None
    base, source = _spec_base(entry, where, base_dir, problems)
    if base is None:
        return None
    overrides = entry.get("overrides", {})
    if not isinstance(overrides, dict):
        problems.append((f"{where}.overrides", "expected a table of spec sections"))
        return None
    data = merge_spec_overrides(merge_spec_overrides(base, common), overrides)
    data["base_dir"] = str(base_dir) if source.startswith("preset:") else data.get("base_dir", str(base_dir))
    try:
        spec = spec_from_dict(data, source=f"{where} ({source})")
    except SpecError as exc:
        problems.append((where, str(exc)))
        return None
    return DatasetEntry(name=name, spec=spec, source=source)


def _check_common_overrides(common: dict[str, Any], raw_datasets: list, base_dir: Path, problems: list
                            ) -> dict[str, Any]:
    """[generate.overrides] that no dataset accepts (a typo, a value out of range) is one
    problem named `generate.overrides`, not one per dataset; the datasets are then checked
    without it. Overrides that only some datasets refuse stay theirs to report."""
    if not common or not raw_datasets:
        return common
    first_error = None
    for entry in raw_datasets:
        if not isinstance(entry, dict):
            return common
        base, _ = _spec_base(entry, "", base_dir, [])
        if base is None:
            return common
        try:
            spec_from_dict({**merge_spec_overrides(base, common), "base_dir": str(base_dir)}, source="generate.overrides")
            return common  # one dataset takes it: the problem, if any, is that dataset's own
        except SpecError as exc:
            first_error = first_error or str(exc)
    problems.append(("generate.overrides", first_error))
    return {}


def _typed_table(cls, data: Any, where: str, problems: list):
    """Fill a small dataclass from a TOML table: unknown keys and wrong types are problems
    named by their path (`core.typed_options`, the spec's rules)."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        problems.append((where, f"expected a table, got {data!r}"))
        return cls()
    found: list[Problem] = []
    table = read_fields(cls, data, where, found)
    problems.extend((p.field, p.message) for p in found)
    return table


def _check_known(problems: list, field: str, values: list[str], known, what: str) -> None:
    for v in values:
        if v not in known:
            problems.append((field, f"unknown {what} {v!r} (known: {', '.join(known)})"))


def parse_experiment(data: dict[str, Any], base_dir: Path, source: str = "") -> ExperimentConfig:
    """Build the typed config from a parsed TOML dict; raises ExperimentError naming every problem."""
    problems: list[tuple[str, str]] = []
    known = {"experiment", "real", "generate", "datasets", "refine", "reid", "evaluate", "report", "estimate"}
    for key in sorted(set(data) - known):
        problems.append((key, f"unknown section (known: {', '.join(sorted(known))})"))

    exp = data.get("experiment", {})
    exp_fields = {"name", "seed", "renderer", "workers", "device"}
    for key in sorted(set(exp) - exp_fields):
        problems.append((f"experiment.{key}", f"unknown key (known: {', '.join(sorted(exp_fields))})"))
    name = str(exp.get("name", Path(source).stem if source else "experiment"))
    if not NAME_RE.match(name):
        problems.append(("experiment.name", f"{name!r} must be letters, digits, '.', '_' or '-'"))
    seed = exp.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        problems.append(("experiment.seed", f"expected a non-negative whole number, got {seed!r}"))
        seed = 0
    renderer = exp.get("renderer", "bpy")
    if renderer not in RENDERERS:
        problems.append(("experiment.renderer", f"must be one of {', '.join(RENDERERS)}, got {renderer!r}"))
    workers = exp.get("workers", 2)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        problems.append(("experiment.workers", f"expected a whole number ≥ 1, got {workers!r}"))
        workers = 1
    device = str(exp.get("device", "auto"))

    gen = data.get("generate", {})
    for key in sorted(set(gen) - {"overrides"}):
        problems.append((f"generate.{key}", "unknown key (known: overrides)"))
    common = gen.get("overrides", {})
    if not isinstance(common, dict):
        problems.append(("generate.overrides", "expected a table of spec sections"))
        common = {}

    raw_datasets = data.get("datasets", [{"name": n, "preset": n} for n in DEFAULT_DATASETS])
    if not isinstance(raw_datasets, list) or not raw_datasets:
        problems.append(("datasets", "expected one or more [[datasets]] tables"))
        raw_datasets = []
    common = _check_common_overrides(common, raw_datasets, base_dir, problems)
    datasets = []
    for i, entry in enumerate(raw_datasets):
        ds = _dataset_entry(entry, f"datasets[{i}]", base_dir, common, problems)
        if ds is not None:
            datasets.append(ds)
    names = [d.name for d in datasets]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(("datasets", f"name {dup!r} is used twice"))

    real = _parse_real(data.get("real", {}), base_dir, common, problems)
    if real.standin is not None and real.standin.name in names:
        problems.append(("real.standin.name", f"{real.standin.name!r} is also an artificial dataset's name"))

    refine = _typed_table(RefineConfig, data.get("refine"), "refine", problems)
    _check_known(problems, "refine.models", refine.models, REFINER_MODELS, "refiner")
    _check_known(problems, "refine.datasets", refine.datasets, names, "dataset")
    _check_refiner_options(refine, problems)
    reid = _typed_table(ReidConfig, data.get("reid"), "reid", problems)
    _check_reid_options(reid, problems)
    if any(v < 0 for v in reid.seeds):  # whole numbers: the table's types
        problems.append(("reid.seeds", f"expected non-negative whole numbers, got {reid.seeds!r}"))
    elif len(set(reid.seeds)) != len(reid.seeds):
        problems.append(("reid.seeds", f"a seed is listed twice: {reid.seeds!r}"))
    evaluate = _typed_table(EvaluateConfig, data.get("evaluate"), "evaluate", problems)
    from reid.metrics import PROTOCOLS, RENAMED_PROTOCOLS
    from reid.options import BASELINES  # imported when parsing, as the [reid] table checks do

    _check_known(problems, "evaluate.baselines", evaluate.baselines, BASELINES, "baseline")
    for name in evaluate.protocols:
        if name in RENAMED_PROTOCOLS:
            problems.append(("evaluate.protocols", RENAMED_PROTOCOLS[name]))
    _check_known(problems, "evaluate.protocols", [p for p in evaluate.protocols if p not in RENAMED_PROTOCOLS],
                 PROTOCOLS, "protocol")
    if evaluate.identities < 2:
        problems.append(("evaluate.identities", "need at least 2 identities per single-shot draw"))
    if any(r < 1 or r > evaluate.max_rank for r in evaluate.ranks):
        problems.append(("evaluate.ranks", f"ranks must lie in 1…max_rank ({evaluate.max_rank})"))
    report = _typed_table(ReportConfig, data.get("report"), "report", problems)
    # unknown keys and non-numbers are refused by name (study/costs.py: CostModel)
    _typed_table(CostModel, data.get("estimate"), "estimate", problems)
    estimate = data.get("estimate") if isinstance(data.get("estimate"), dict) else {}

    if problems:
        raise ExperimentError(problems, source or None)
    return ExperimentConfig(name=name, seed=seed, renderer=renderer, workers=workers, datasets=datasets, real=real,
                            refine=refine, reid=reid, evaluate=evaluate, report=report, device=device,
                            source=source, estimate={k: float(v) for k, v in estimate.items()})


def _check_refiner_options(refine: RefineConfig, problems: list) -> None:
    """The `[refine]` option tables as the refiner will read them, before anything renders."""
    from refiner.options import OptionsError, RefinerOptions

    for where, options in (("refine.options", refine.options),
                           ("refine.ptgan_options", {**refine.options, **refine.ptgan_options, "model": "ptgan"})):
        fields, masks = split_mask_sources(options)
        for key, value in masks.items():
            if not isinstance(value, str) or not (value in ("auto", "none", "dataset") or
                                                  value.startswith(("folder:", "python:"))):
                problems.append((f"{where}.{key}", f"{value!r}: expected auto, none, dataset, folder:PATH or "
                                                   "python:module:function"))
        try:
            RefinerOptions.from_dict(fields)
        except OptionsError as exc:
            problems.append((where, str(exc)))
        except TypeError as exc:  # a wrong value type the dataclass itself refuses
            problems.append((where, f"wrong value type ({exc})"))


def _check_reid_options(reid: ReidConfig, problems: list) -> None:
    """The `[reid]` train / finetune tables as `reid.options.TrainOptions` fields."""
    from study.reid_adapter import SET_BY_EXPERIMENT
    from reid.options import OptionsError, TrainOptions

    for name in ("train", "finetune"):
        options = getattr(reid, name)
        clash = sorted(set(options) & SET_BY_EXPERIMENT)
        if clash:
            problems.append((f"reid.{name}.{clash[0]}", "set by the experiment itself; remove it"))
            continue
        try:
            TrainOptions.from_dict(options)
        except OptionsError as exc:
            problems.append((f"reid.{name}.{exc.field}" if exc.field else f"reid.{name}", str(exc)))


def _parse_real(raw: Any, base_dir: Path, common: dict, problems: list) -> RealData:
    if not isinstance(raw, dict):
        problems.append(("real", f"expected a table, got {raw!r}"))
        return RealData()
    unknown = set(raw) - {"path", "layout", "name", "standin", "test_path"}
    if unknown:
        problems.append(("real", f"unknown key(s) {', '.join(sorted(unknown))} "
                                 "(known: path, test_path, layout, name, standin)"))
    path = str(raw.get("path", ""))
    from reid.data.registry import canonical_layout
    from reid.options import LAYOUTS  # the layout registry's names; imported when parsing, like BASELINES

    layout = canonical_layout(str(raw.get("layout", "auto")))

    if layout not in LAYOUTS:
        problems.append(("real.layout", f"must be one of {', '.join(LAYOUTS)}, got {layout!r}"))
    standin = None
    if "standin" in raw:
        if path:
            problems.append(("real", "give either `path` (real data on disk) or `standin` (a generated stand-in)"))
        # The stand-in is its own style: the common [generate.overrides] (meant for the
        # artificial datasets) are not applied to it, except what it inherits explicitly.
        standin = _dataset_entry(raw["standin"], "real.standin", base_dir, {}, problems)
    if path:
        p = Path(path).expanduser()
        path = str(p if p.is_absolute() else (base_dir / p).resolve())
    test_path = str(raw.get("test_path", ""))
    if test_path:
        if standin is not None:
            problems.append(("real.test_path", "a stand-in has its own test split; give test_path with path only"))
        p = Path(test_path).expanduser()
        test_path = str(p if p.is_absolute() else (base_dir / p).resolve())
    name = str(raw.get("name", standin.name if standin else (Path(path).name if path else "real")))
    return RealData(path=path, layout=layout, name=name, standin=standin, test_path=test_path)


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read an experiment TOML file; relative paths inside it resolve against its folder."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExperimentError([("file", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError([("file", f"not valid TOML: {exc}")], str(path)) from None
    return parse_experiment(data, path.resolve().parent, str(path))
