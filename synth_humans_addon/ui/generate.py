"""Generate panel: run a local dataset generation (the headless broker and workers) in a
background process, with progress in the status bar and a cancel button.

Blender stays responsive because nothing heavy runs in its process: the operator saves the
spec to `<out>/spec.toml` and starts ``python -m headless generate`` (which starts the
workers) as a child process in its own process group. A timer polls it every half second;
progress is the number of characters whose metadata file exists (the dataset format writes
`metadata/<pid>.json` last, so a counted character is complete). Cancel stops the process
group: the broker and the workers it started, nothing else.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import bpy
from bpy.props import EnumProperty

from ..core import spec as S
from ..core.dataset import METADATA_DIR
from ..core.processes import env_with_pythonpath, group_popen_kwargs, stop_process_group
from ..core.renderer import RENDERERS
from ..core.spec_io import save_spec
from .base import SynthHumansPanel, draws_settings
from .scene_settings import home_scene, settings
from .state import current_spec

POLL_SECONDS = 0.5


@dataclass
class GenerationRun:
    """One running `headless generate` child process."""

    process: subprocess.Popen
    out: Path
    characters: int
    scene_name: str
    log_path: Path
    command: list[str] = field(default_factory=list)

    def characters_done(self) -> int:
        meta = self.out / METADATA_DIR
        return sum(1 for p in meta.glob("*.json")) if meta.is_dir() else 0

    def stop(self) -> None:
        stop_process_group(self.process)  # the broker and its workers; works on Windows too


# Child processes are Python objects: one run per spec scene, per Blender process.
_RUNS: dict[str, GenerationRun] = {}


def farm_command() -> tuple[list[str], Path | None]:
    """The Python that runs the farm and its working folder, or a clear error.

    Order: the add-on preference "Farm Python"; else this Python if it can import `headless`
    (bpy used as a module from the repository's environment).
    """
    from ..preferences import preferences

    prefs = preferences()
    if prefs is not None and prefs.farm_python:
        root = Path(bpy.path.abspath(prefs.farm_root)) if prefs.farm_root else None
        return [bpy.path.abspath(prefs.farm_python)], root
    found = importlib.util.find_spec("headless")
    if found is not None and found.origin:
        return [sys.executable], Path(found.origin).resolve().parent.parent
    raise RuntimeError("no render farm found: set 'Farm Python' in the add-on preferences to a Python with "
                       "synth-humans installed (README: 'Generate from the add-on')")


def start_generation(context, out: Path, workers: int, renderer: str = "bpy") -> GenerationRun:
    """Save the spec into `out` and start the farm on it; returns the run (also kept per scene)."""
    spec = current_spec(context)
    key = home_scene(context).name
    if key in _RUNS and _RUNS[key].process.poll() is None:
        raise RuntimeError("a generation is already running: cancel it first")
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out.parent / f"{out.name}.spec.toml"
    if spec.base_dir:
        # Relative paths in the spec were relative to its folder: keep that meaning.
        spec.background.cubemaps = [c if c.startswith("builtin:") else str(spec.resolve_path(c))
                                    for c in spec.background.cubemaps]
        spec.background.equirectangular = [str(spec.resolve_path(p)) for p in spec.background.equirectangular]
        spec.pose.bvh_files = [str(spec.resolve_path(p)) for p in spec.pose.bvh_files]
    save_spec(spec, spec_path)
    python, cwd = farm_command()
    cmd = python + ["-m", "headless", "generate", str(spec_path), "--out", str(out), "--workers", str(workers),
                    "--renderer", renderer, "--no-progress"]
    log_path = out.parent / f"{out.name}.generate.log"
    log = open(log_path, "w", encoding="utf-8")
    env = dict(os.environ) if cwd is None else env_with_pythonpath(cwd)
    process = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env,
                               **group_popen_kwargs())  # own process group: cancel stops the workers too
    log.close()
    run = GenerationRun(process, out, spec.dataset.characters, key, log_path, cmd)
    _RUNS[key] = run
    s = settings(context)
    s.generate_running, s.generate_progress = True, 0.0
    s.generate_status = f"started {workers} worker(s) → {out}"
    return run


def poll_run(scene_name: str) -> float | None:
    """Timer body: update progress; returns the next interval, or None when finished."""
    run = _RUNS.get(scene_name)
    scene = bpy.data.scenes.get(scene_name)
    if run is None or scene is None:
        return None
    s = scene.synth_humans
    done = run.characters_done()
    s.generate_progress = min(1.0, done / max(1, run.characters))
    code = run.process.poll()
    if code is None:
        s.generate_status = f"{done}/{run.characters} characters"
        _redraw()
        return POLL_SECONDS
    s.generate_running = False
    if code == 0:
        s.generate_status = f"finished: {done}/{run.characters} characters in {run.out}"
    else:
        tail = run.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] \
            if run.log_path.is_file() else []
        s.generate_status = f"stopped (exit {code}) after {done} characters" + (f": {tail[0]}" if tail else "")
    del _RUNS[scene_name]
    _redraw()
    return None


def cancel(scene_name: str) -> bool:
    run = _RUNS.pop(scene_name, None)
    if run is None:
        return False
    run.stop()
    scene = bpy.data.scenes.get(scene_name)
    if scene is not None:
        s = scene.synth_humans
        s.generate_running = False
        s.generate_status = f"cancelled after {run.characters_done()}/{run.characters} characters"
    return True


def stop_all() -> None:
    for name in list(_RUNS):
        cancel(name)


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in (wm.windows if wm else ()):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "STATUSBAR"):
                area.tag_redraw()


def draw_status_bar(self, context):
    """Progress of a running generation in the status bar."""
    if not hasattr(context.scene, "synth_humans"):
        return
    s = settings(context)
    if s.generate_running:
        self.layout.separator()
        self.layout.progress(factor=s.generate_progress, type="BAR",
                             text=f"Synth Humans: {s.generate_status}")
        self.layout.operator(SYNTHHUMANS_OT_cancel_generation.bl_idname, text="", icon="CANCEL")


def register_status_bar() -> None:
    bpy.types.STATUSBAR_HT_header.append(draw_status_bar)


def unregister_status_bar() -> None:
    bpy.types.STATUSBAR_HT_header.remove(draw_status_bar)


# The farm's renderers (`core.renderer.RENDERERS`) as the menu names them: label, tooltip.
_RENDERER_LABELS = {"bpy": ("Blender", "Render with Blender (the real dataset)"),
                    "standin": ("Stand-in", "Placeholder images, for a quick check")}
_RENDERER_ITEMS = [(name, *_RENDERER_LABELS[name]) for name in RENDERERS]


class SYNTHHUMANS_OT_generate(bpy.types.Operator):
    """Generate the dataset with local headless workers in the background (Blender stays usable)"""

    bl_idname = "synth_humans.generate"
    bl_label = "Generate Dataset"

    renderer: EnumProperty(name="Renderer", description="bpy: real renders; standin: fast placeholder images "
                           "(checks the farm and the dataset layout)",
                           items=_RENDERER_ITEMS, default="bpy")

    def execute(self, context):
        s = settings(context)
        out = Path(bpy.path.abspath(s.generate_out)).expanduser()
        try:
            start_generation(context, out, s.generate_workers, self.renderer)
        except (S.SpecError, RuntimeError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        name = home_scene(context).name
        bpy.app.timers.register(lambda: poll_run(name), first_interval=POLL_SECONDS)
        self.report({"INFO"}, s.generate_status)
        return {"FINISHED"}


class SYNTHHUMANS_OT_cancel_generation(bpy.types.Operator):
    """Stop the running generation (the broker and its workers); finished characters stay on disk"""

    bl_idname = "synth_humans.cancel_generation"
    bl_label = "Cancel Generation"

    def execute(self, context):
        if not cancel(home_scene(context).name):
            self.report({"WARNING"}, "no generation is running")
            return {"CANCELLED"}
        self.report({"INFO"}, settings(context).generate_status)
        return {"FINISHED"}


class SYNTHHUMANS_PT_generate(SynthHumansPanel, bpy.types.Panel):
    bl_label = "Generate"
    bl_order = 6

    @draws_settings
    def draw(layout, s):
        layout.prop(s, "generate_out")
        layout.prop(s, "generate_workers")
        if s.generate_running:
            layout.progress(factor=s.generate_progress, type="BAR", text=s.generate_status)
            layout.operator(SYNTHHUMANS_OT_cancel_generation.bl_idname, icon="CANCEL")
        else:
            layout.operator(SYNTHHUMANS_OT_generate.bl_idname, icon="RENDER_ANIMATION")
            if s.generate_status:
                layout.label(text=s.generate_status)


CLASSES = (SYNTHHUMANS_OT_generate, SYNTHHUMANS_OT_cancel_generation, SYNTHHUMANS_PT_generate)
