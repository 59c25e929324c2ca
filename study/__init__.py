"""The study as one command: generate, refine, train, finetune, evaluate, report.

Modules, in the order the data flows:

* `config`  — the experiment TOML → a typed `ExperimentConfig` (errors name the field).
* `plan`    — config → an ordered list of `Stage`s and a dry-run estimate.
* `refs`    — what stages hand each other: `DataRef`, `ModelRef`, `TestSplit`.
* `cache`   — content-addressed stage folders: finished stages are skipped, interrupted ones resume.
* `stages`  — what each stage kind does: thin calls into the farm, refiner and re-id packages.
* `reid_adapter` — the re-id package behind the stages' backend (train, test split, embed).
* `report`  — tables in the study's shape, CMC plots, sample grids, specs, seeds and timings.

`study.cli` is the command (`python -m headless experiment FILE --out DIR`).
The study sits on top of the farm, the refiner and re-id: it imports them, none of them imports it.
Nothing here imports bpy or torch at import time; the stages import the trainers lazily.
"""
