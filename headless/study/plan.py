"""From an experiment config to the ordered stages that answer the study's questions.

Stage kinds and what they produce (one folder each, see `cache`):

``generate``       a dataset in the project's format (I, II, …; the real stand-in too)
``refine-train``   a refiner checkpoint (CycleGAN / PTGAN) from one dataset toward the real domain
``refine-apply``   the refined dataset (R-I, …)
``reid-train``     a re-id model trained on one dataset (generated, refined or real)
``finetune``       a model pre-trained on artificial data, finetuned on the real training set
``evaluate``       CMC curves (and mAP) of one model on one test set under the chosen protocols

Without real data the refiners, the real model, the finetuning and every evaluation on
real images are skipped, each with its reason (`Plan.skipped`).

The dry-run estimate multiplies counts (images rendered, training steps) by a small cost
model; its constants are rough figures for one modern GPU / CPU core, overridable in the
experiment's ``[estimate]`` table.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.spec_io import spec_identity, spec_to_dict

from .config import DatasetEntry, ExperimentConfig

GENERATE, REFINE_TRAIN, REFINE_APPLY, REID_TRAIN, FINETUNE, EVALUATE = (
    "generate", "refine-train", "refine-apply", "reid-train", "finetune", "evaluate")
STAGE_KINDS = (GENERATE, REFINE_TRAIN, REFINE_APPLY, REID_TRAIN, FINETUNE, EVALUATE)
REAL_INPUT = "real"  # the pseudo-stage name of real data on disk (not produced by the plan)
REAL_TEST_INPUT = "real-test"  # the real test folder, when [real] test_path names one
REAL_INPUTS = (REAL_INPUT, REAL_TEST_INPUT)


@dataclass
class Stage:
    """One unit of work. `inputs` maps a role ("dataset", "source", "target", "model", "test")
    to the id of the stage that produces it (or REAL_INPUT)."""

    id: str  # unique and readable: "generate/I", "reid-train/R-I", "evaluate/I@real"
    kind: str
    params: dict[str, Any]  # everything that defines the result (spec, options, seeds, protocols)
    inputs: dict[str, str] = field(default_factory=dict)
    label: str = ""  # the row name in tables: "I", "R-I", "I+real", "real"
    group: str = ""  # synthetic | refined | real | finetuned (for the report's questions)
    # Facts a stage needs that do not change its result, so they stay out of its key: e.g. the
    # folder a spec's relative cubemap/BVH paths resolve against (differs per machine).
    local: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]


@dataclass
class Skipped:
    what: str
    why: str


@dataclass
class Plan:
    config: ExperimentConfig
    stages: list[Stage]
    skipped: list[Skipped]

    def by_id(self, stage_id: str) -> Stage:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)

    def of_kind(self, kind: str) -> list[Stage]:
        return [s for s in self.stages if s.kind == kind]


def spec_params(spec: Spec) -> dict[str, Any]:
    """The spec as stage parameters: `base_dir` left out (it differs per machine, not per result)."""
    return spec_identity(spec_to_dict(spec))


def _generate_stage(entry: DatasetEntry, config: ExperimentConfig, group: str) -> Stage:
    return Stage(id=f"{GENERATE}/{entry.name}", kind=GENERATE, label=entry.name, group=group,
                 params={"spec": spec_params(entry.spec), "renderer": config.renderer, "source": entry.source},
                 local={"base_dir": entry.spec.base_dir})


def refined_label(dataset: str, model: str, models: list[str]) -> str:
    """R-I for the study's single CycleGAN refiner; R-I-ptgan when several refiner kinds run."""
    return f"R-{dataset}" if len(models) == 1 and model == "cyclegan" else f"R-{dataset}-{model}"


def build_plan(config: ExperimentConfig) -> Plan:
    """Every stage in a valid execution order (inputs before the stages that need them)."""
    stages: list[Stage] = []
    skipped: list[Skipped] = []
    seed = config.seed
    ev = config.evaluate
    eval_params = {"protocols": ev.protocols, "identities": ev.identities, "repeats": ev.repeats,
                   "max_rank": ev.max_rank, "seed": seed}

    # 1. generation
    for entry in config.datasets:
        stages.append(_generate_stage(entry, config, "synthetic"))
    real_id: str | None = None
    if config.real.standin is not None:
        st = _generate_stage(config.real.standin, config, "real")
        st.label = config.real.name
        stages.append(st)
        real_id = st.id
    elif config.real.path:
        real_id = REAL_INPUT
    no_real = ("no real dataset: set [real] path = \"…\" (CUHK03, Market-1501, …; see docs/experiment.md) "
               "or [real.standin]")

    # 2. refiners: one per dataset and refiner kind
    trainable: list[tuple[str, str, str]] = [(f"{GENERATE}/{d.name}", d.name, "synthetic") for d in config.datasets]
    if real_id is None:
        if config.refine.models:
            skipped.append(Skipped("refinement (R-…)", no_real + " — a refiner learns the real domain's look"))
    elif not config.refine.models:
        skipped.append(Skipped("refinement (R-…)", "[refine] models = [] in the experiment file"))
    else:
        for d in config.datasets:
            if config.refine.datasets and d.name not in config.refine.datasets:
                continue
            for model in config.refine.models:
                label = refined_label(d.name, model, config.refine.models)
                options = dict(config.refine.options)
                if model == "ptgan":
                    options.update(config.refine.ptgan_options)
                options.update(model=model, seed=seed)
                stages.append(Stage(id=f"{REFINE_TRAIN}/{label}", kind=REFINE_TRAIN, label=label, group="refined",
                                    params={"options": options, "device": config.device},
                                    inputs={"source": f"{GENERATE}/{d.name}", "target": real_id}))
                stages.append(Stage(id=f"{REFINE_APPLY}/{label}", kind=REFINE_APPLY, label=label, group="refined",
                                    params={"device": config.device},
                                    inputs={"checkpoint": f"{REFINE_TRAIN}/{label}", "dataset": f"{GENERATE}/{d.name}"}))
                trainable.append((f"{REFINE_APPLY}/{label}", label, "refined"))

    # 3. re-id models, one per dataset (and the real reference) and training seed. Every seed's
    # stages share the row's label (the report averages them); the experiment's own seed keeps
    # the plain id, so a study run with one seed keeps its stage ids and cache.
    train_seeds = config.reid.training_seeds(seed)

    def seeded(stage_id: str, s: int) -> str:
        return stage_id if s == seed else f"{stage_id}#s{s}"

    models: list[Stage] = []
    real_models: list[Stage] = []
    for s in train_seeds:
        reid_params = {"options": dict(config.reid.train), "seed": s, "device": config.device}
        for producer, label, group in trainable:
            st = Stage(id=seeded(f"{REID_TRAIN}/{label}", s), kind=REID_TRAIN, label=label, group=group,
                       params=reid_params, inputs={"dataset": producer})
            stages.append(st)
            models.append(st)
        if real_id is not None and config.reid.train_on_real:
            real_model = Stage(id=seeded(f"{REID_TRAIN}/{config.real.name}", s), kind=REID_TRAIN,
                               label=config.real.name, group="real",
                               params={**reid_params, "layout": config.real.layout}, inputs={"dataset": real_id})
            stages.append(real_model)
            real_models.append(real_model)
    if real_id is None:
        skipped.append(Skipped("re-id model on real data", no_real))

    # 4. finetuning: every artificial model continues on the real training set
    finetuned: list[Stage] = []
    if real_id is None:
        skipped.append(Skipped("finetuning on real data", no_real))
    else:
        for m in models:
            if config.reid.finetune_models and m.label not in config.reid.finetune_models:
                continue
            label = f"{m.label}+{config.real.name}"
            s = m.params["seed"]  # each seed's model finetuned with the same seed
            st = Stage(id=seeded(f"{FINETUNE}/{label}", s), kind=FINETUNE, label=label, group="finetuned",
                       params={"options": dict(config.reid.finetune), "seed": s, "device": config.device,
                               "layout": config.real.layout},
                       inputs={"model": m.id, "dataset": real_id})
            stages.append(st)
            finetuned.append(st)

    # 5. evaluation: every training seed on the same draws (the experiment's seed), so seeds
    # differ only by their training
    every_model = models + real_models + finetuned

    def seed_suffix(m: Stage) -> str:
        return "" if m.params["seed"] == seed else f"#s{m.params['seed']}"

    if real_id is not None:
        real_test = REAL_TEST_INPUT if (real_id == REAL_INPUT and config.real.test_path) else real_id
        for b in ev.baselines:  # non-learned rows: the same test images, no model
            stages.append(Stage(id=f"{EVALUATE}/{b}@{config.real.name}", kind=EVALUATE, label=b, group="baseline",
                                params={**eval_params, "test": "real", "layout": config.real.layout, "baseline": b},
                                inputs={"dataset": real_test}))
        for m in every_model:
            stages.append(Stage(id=f"{EVALUATE}/{m.label}@{config.real.name}{seed_suffix(m)}", kind=EVALUATE,
                                label=m.label, group=m.group,
                                params={**eval_params, "test": "real", "layout": config.real.layout},
                                inputs={"model": m.id, "dataset": real_test}))
    else:
        skipped.append(Skipped("evaluation on real test images", no_real))
    if ev.own_test:  # the appendix's sanity check: the first training seed's models only
        for m in (m for m in models if m.params["seed"] == train_seeds[0]):
            stages.append(Stage(id=f"{EVALUATE}/{m.label}@own", kind=EVALUATE, label=m.label, group=m.group,
                                params={**eval_params, "test": "own"}, inputs={"model": m.id,
                                                                                 "dataset": m.inputs["dataset"]}))
        if real_id is None:
            # Without real data the attribute question is asked on the most realistic
            # artificial test split: every model on the last dataset's (IV's) test characters.
            last = config.datasets[-1]
            for m in (m for m in models if m.params["seed"] == train_seeds[0]):
                if m.inputs["dataset"] == f"{GENERATE}/{last.name}":
                    continue
                stages.append(Stage(id=f"{EVALUATE}/{m.label}@{last.name}", kind=EVALUATE, label=m.label,
                                    group=m.group, params={**eval_params, "test": last.name},
                                    inputs={"model": m.id, "dataset": f"{GENERATE}/{last.name}"}))
    return Plan(config=config, stages=stages, skipped=skipped)


def select_stages(plan: Plan, patterns: list[str]) -> Plan:
    """The plan cut to the stages whose id matches one of the glob `patterns` (e.g.
    ``reid-train/*``) and every stage they need; order and keys are unchanged, so the
    cache is shared with the full plan."""
    import fnmatch

    wanted = {s.id for s in plan.stages if any(fnmatch.fnmatchcase(s.id, p) for p in patterns)}
    if not wanted:
        raise ValueError(f"--only {' '.join(patterns)}: no stage matches (stage ids look like 'reid-train/IV')")
    for st in reversed(plan.stages):  # inputs come before the stages that read them
        if st.id in wanted:
            wanted.update(src for src in st.inputs.values() if src not in REAL_INPUTS)
    return Plan(config=plan.config, stages=[s for s in plan.stages if s.id in wanted], skipped=plan.skipped)


# ---------------------------------------------------------------------------------------
# Dry-run estimate


@dataclass
class CostModel:
    """Rough unit costs. Render time scales with pixels × samples; training with pixels × steps."""

    render_cpu_s_per_image: float = 6.0  # Cycles on one CPU core at 256 px high, 4 samples (a worker per core)
    render_reference_pixels: float = 256 * 128
    render_reference_samples: float = 4
    refiner_gpu_s_per_image: float = 0.06  # one CycleGAN step per image pair at 256 × 128 (batch 1)
    refiner_apply_gpu_s_per_image: float = 0.01
    refiner_epochs: float = 200  # default n_epochs + n_epochs_decay
    reid_gpu_s_per_image: float = 0.002  # Inception at 144 × 56, forward + backward
    reid_epochs: float = 50
    finetune_epochs: float = 20
    eval_gpu_s_per_image: float = 0.0005
    real_train_images: float = 7365  # CUHK03 767/700 train (labeled); used when real data is not on disk
    real_test_images: float = 1400
    bytes_per_image_pixel: float = 0.35  # JPEG at quality ~90 plus a PNG mask
    # 2 generators (11.4M parameters each at ngf 64) + 2 discriminators (2.8M), float32, with Adam's
    # two moments: ~340 MB per checkpoint file at ngf 64.
    bytes_per_refiner_checkpoint: float = 28.4e6 * 4 * 3
    bytes_per_reid_checkpoint: float = 100e6  # best.pt + last.pt (model and SGD state), measured


@dataclass
class Estimate:
    images_generated: int = 0
    images_refined: int = 0
    reid_models: int = 0
    finetuned_models: int = 0
    evaluations: int = 0
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    disk_gb: float = 0.0
    per_dataset: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _pixels(spec_dict: dict[str, Any]) -> float:
    h = float(spec_dict["render"]["crop_height"])
    return h * h * 0.5  # persons are about half as wide as tall


def estimate_plan(plan: Plan) -> Estimate:
    cost = CostModel(**{k: v for k, v in plan.config.estimate.items() if k in CostModel.__dataclass_fields__})
    est = Estimate()
    images: dict[str, float] = {}  # stage id → images of the dataset it produces
    pixels: dict[str, float] = {}
    disk = 0.0
    train_fraction: dict[str, float] = {}
    images[REAL_INPUT] = cost.real_train_images + cost.real_test_images
    pixels[REAL_INPUT] = 256 * 128
    train_fraction[REAL_INPUT] = cost.real_train_images / images[REAL_INPUT]
    images[REAL_TEST_INPUT], pixels[REAL_TEST_INPUT], train_fraction[REAL_TEST_INPUT] = \
        cost.real_test_images, 256 * 128, 0.0
    refine_opts = plan.config.refine.options
    refiner_epochs = float(refine_opts.get("n_epochs", 100) + refine_opts.get("n_epochs_decay", 100)) \
        if refine_opts else cost.refiner_epochs
    reid_epochs = float(plan.config.reid.train.get("epochs", cost.reid_epochs))
    ft_epochs = float(plan.config.reid.finetune.get("epochs", cost.finetune_epochs))
    for st in plan.stages:
        if st.kind == GENERATE:
            ds = st.params["spec"]["dataset"]
            n = ds["characters"] * ds["images_per_character"]
            px = _pixels(st.params["spec"])
            images[st.id], pixels[st.id] = n, px
            held_out = ds["test_characters"] + ds["validation_characters"]
            train_fraction[st.id] = max(0.0, (ds["characters"] - held_out) / max(1, ds["characters"]))
            est.images_generated += n
            est.per_dataset[st.label] = n
            scale = px / cost.render_reference_pixels * st.params["spec"]["render"]["samples"] / \
                cost.render_reference_samples
            est.cpu_hours += n * cost.render_cpu_s_per_image * max(scale, 0.05) / 3600
            disk += n * px * cost.bytes_per_image_pixel
        elif st.kind == REFINE_TRAIN:
            src, tgt = st.inputs["source"], st.inputs["target"]
            # an epoch pairs every image of the larger domain with one of the other (refiner.data)
            pairs = max(images[src] * train_fraction[src], images[tgt] * train_fraction[tgt])
            px_scale = (st.params["options"].get("height", 256) * st.params["options"].get("width", 128)) / (256 * 128)
            est.gpu_hours += refiner_epochs * pairs * cost.refiner_gpu_s_per_image * px_scale / 3600
            ngf = st.params["options"].get("ngf", 64)
            every = max(1, int(st.params["options"].get("save_every_epochs", 1)))
            files = 1 + int(refiner_epochs) // every  # `latest` plus the numbered ones it keeps
            disk += cost.bytes_per_refiner_checkpoint * (ngf / 64) ** 2 * files
        elif st.kind == REFINE_APPLY:
            src = st.inputs["dataset"]
            images[st.id], pixels[st.id], train_fraction[st.id] = images[src], pixels[src], train_fraction[src]
            est.images_refined += int(images[src])
            est.per_dataset[st.label] = int(images[src])
            est.gpu_hours += images[src] * cost.refiner_apply_gpu_s_per_image / 3600
            disk += images[src] * pixels[src] * cost.bytes_per_image_pixel
        elif st.kind in (REID_TRAIN, FINETUNE):
            src = st.inputs["dataset"]
            epochs = reid_epochs if st.kind == REID_TRAIN else ft_epochs
            est.gpu_hours += epochs * images[src] * train_fraction[src] * cost.reid_gpu_s_per_image / 3600
            disk += cost.bytes_per_reid_checkpoint
            if st.kind == REID_TRAIN:
                est.reid_models += 1
            else:
                est.finetuned_models += 1
        elif st.kind == EVALUATE:
            src = st.inputs["dataset"]
            est.evaluations += 1
            test = images[src] * (1 - train_fraction[src]) if src not in REAL_INPUTS else cost.real_test_images
            est.gpu_hours += test * cost.eval_gpu_s_per_image / 3600
    est.disk_gb = disk / 1e9
    est.cpu_hours = round(est.cpu_hours, 2)
    est.gpu_hours = round(est.gpu_hours, 2)
    est.disk_gb = round(est.disk_gb, 2)
    return est


def format_plan(plan: Plan, est: Estimate, status: dict[str, str] | None = None) -> str:
    """The dry run's text: stages in order (with cache state when known), skips, estimate."""
    cfg = plan.config
    lines = [f"experiment {cfg.name!r} (seed {cfg.seed}, renderer {cfg.renderer}, {cfg.workers} workers)"]
    if cfg.real.standin is not None:
        lines.append(f"real domain: stand-in generated from {cfg.real.standin.source} (named {cfg.real.name!r})")
    elif cfg.real.path:
        lines.append(f"real domain: {cfg.real.path} (layout {cfg.real.layout}, named {cfg.real.name!r})")
        if cfg.real.test_path:
            lines.append(f"real test set: {cfg.real.test_path} (taken whole)")
    else:
        lines.append("real domain: none — synthetic-only questions")
    lines.append("")
    lines.append(f"{len(plan.stages)} stages:")
    for i, st in enumerate(plan.stages, 1):
        extra = ""
        if st.kind == GENERATE:
            ds = st.params["spec"]["dataset"]
            extra = (f"{ds['characters']} characters × {ds['images_per_character']} images = "
                     f"{ds['characters'] * ds['images_per_character']:,} images at "
                     f"{st.params['spec']['render']['crop_height']} px ({st.params['source']})")
        elif st.inputs:
            extra = ", ".join(f"{k} ← {v}" for k, v in st.inputs.items())
        state = f"[{status[st.id]}] " if status and st.id in status else ""
        lines.append(f"  {i:3d}. {state}{st.id:34s} {extra}")
    if plan.skipped:
        lines.append("")
        lines.append("skipped:")
        for s in plan.skipped:
            lines.append(f"  - {s.what}: {s.why}")
    lines.append("")
    lines.append("estimate (rough; tune in [estimate]):")
    lines.append(f"  images generated: {est.images_generated:,}  "
                 f"({', '.join(f'{k} {v:,}' for k, v in est.per_dataset.items() if not k.startswith('R-'))})")
    lines.append(f"  images refined:   {est.images_refined:,}")
    lines.append(f"  re-id models:     {est.reid_models} trained, {est.finetuned_models} finetuned, "
                 f"{est.evaluations} evaluations")
    lines.append(f"  CPU hours (render): {est.cpu_hours:,.1f}   GPU hours (train/refine/evaluate): "
                 f"{est.gpu_hours:,.1f}   disk: {est.disk_gb:,.1f} GB")
    return "\n".join(lines)
