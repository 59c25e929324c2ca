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

What the plan costs (images, hours, disk) is `study.estimate`'s job.
"""
from __future__ import annotations

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


def format_plan(plan: Plan, status: dict[str, str] | None = None) -> str:
    """The dry run's text: stages in order (with cache state when known) and what is skipped;
    `study.estimate.format_estimate` adds the cost."""
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
    return "\n".join(lines)
