"""A farm worker's render loop, on the main thread: it takes one job (one character) at a time
from the link (`worker_link.py`), renders it, and hands the result back to be uploaded.

The job's payload becomes the renderer's input here and only here: the spec the broker sent
in WELCOME (parsed once per process) and the character's samples. SIGTERM or SIGINT stops a
worker cleanly: the render stops (a Blender render in progress ends its image first), the job
goes back to the broker with RELEASE (requeued first, not counted against the job), results
already rendered get up to --grace seconds to be uploaded, then BYE; a second signal exits at
once.
"""
from __future__ import annotations

import hashlib
import logging
import os
import signal
import time
import traceback
from pathlib import Path

import zmq

from synth_humans_addon.core.renderer import RENDERERS, Renderer

from .worker_config import EXIT_SIGNAL_BASE, STOP_SIGNALS, WorkerConfig, WorkerOutcome
from .worker_link import JobOrder, Link, Result

log = logging.getLogger("headless.worker")


def load_renderer(cfg: WorkerConfig) -> Renderer:
    """The renderer (`core.renderer.Renderer`), imported lazily: only the render step may import bpy."""
    if cfg.renderer == "standin":
        from functools import partial

        from headless.standin import render_character

        return partial(render_character, sleep_s=cfg.standin_sleep_s)
    if cfg.renderer == "bpy":
        from synth_humans_addon.blender.job import CharacterRenderer  # imports bpy

        # One render session per worker process: the scene, templates and cubemaps are
        # set up once, not once per character (same bytes, tested in tests/render).
        return CharacterRenderer()
    raise ValueError(f"unknown renderer {cfg.renderer!r} (expected one of {', '.join(RENDERERS)})")


def package_result(order: JobOrder, rendered: list, render_s: float, shared_root: Path | None) -> Result:
    """Checksums of every file; in shared mode the files are written to the staging folder here."""
    files: dict[tuple[int, str], bytes] = {}
    declared = []
    infos = {}
    staging = None
    if shared_root is not None:
        if not order.staging or ".." in Path(order.staging).parts or Path(order.staging).is_absolute():
            raise ValueError(f"bad staging folder from the broker: {order.staging!r}")
        staging = Path(shared_root) / order.staging
        staging.mkdir(parents=True, exist_ok=True)
    for r in rendered:
        infos[str(r.k)] = r.info
        for kind, data in (("image", r.image), ("mask", r.mask)):
            declared.append({"k": r.k, "kind": kind, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
            if staging is not None:
                tmp = staging / f".{r.k:03d}.{kind}.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, staging / f"{r.k:03d}.{kind}")
            else:
                files[(r.k, kind)] = data
    return Result(order.job, order.attempt, files, declared, infos, render_s, token=order.token)


class _Leaving(BaseException):
    """Raised in the render by the first SIGTERM/SIGINT: the job is handed back, not failed."""


class _StopSignals:
    """SIGTERM and SIGINT ask the worker to stop cleanly (see the module docstring); a second
    one exits at once. Installed only in the main thread (Python delivers signals there)."""

    def __init__(self, link: Link):
        self.link, self.rendering, self._previous = link, False, {}

    def __enter__(self) -> "_StopSignals":
        for sig in STOP_SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        if self.link.leaving is not None:
            os._exit(EXIT_SIGNAL_BASE + signum)  # asked twice: no more waiting
        self.link.leaving = signum  # the link thread hands the jobs back (it polls at least twice a second)
        if self.rendering:
            raise _Leaving


def run_worker(cfg: WorkerConfig) -> WorkerOutcome:
    """Serve jobs until the broker says BYE (or it gives up waiting for one, the link fails, or
    a signal stops it)."""
    from synth_humans_addon.core.sampling import CharacterSample
    from synth_humans_addon.core.spec_io import spec_from_dict

    ctx = zmq.Context()
    link = Link(cfg, ctx)
    link.start()
    rendered_jobs = 0
    render: Renderer | None = None
    spec = None
    with _StopSignals(link) as signals:
        try:
            while not link.stopping.is_set():
                order = link.next_job()
                if order is None:
                    break
                link.rendering_token = order.token
                link.rendering = (order.job, order.attempt)
                t0 = time.perf_counter()
                try:
                    if link.leaving is not None:
                        raise _Leaving  # taken from the queue as the signal came: never started
                    if spec is None:
                        spec = spec_from_dict(link.spec_dict, validate=False)
                    if render is None:
                        render = load_renderer(cfg)
                    character = CharacterSample.from_dict(order.sample)
                    signals.rendering = True
                    try:
                        if link.leaving is not None:  # the signal came while the renderer was loading
                            raise _Leaving
                        images = render(spec, character)
                    finally:
                        signals.rendering = False
                    render_s = time.perf_counter() - t0
                    result = package_result(order, images, render_s, cfg.shared_root if link.settings.get("shared")
                                            else None)
                except _Leaving:
                    result = Result(order.job, order.attempt, {}, [], {}, 0.0, token=order.token, released=True)
                except Exception as exc:
                    log.error("job %d failed: %s", order.job, exc)
                    result = Result(order.job, order.attempt, {}, [], {}, time.perf_counter() - t0,
                                    error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}",
                                    token=order.token)
                link.rendering = None
                link.submit(result)
                rendered_jobs += 0 if result.released else 1
        finally:
            if link.leaving is None:
                link.stopping.set()
            # A stopping worker's link hands back and uploads for up to the grace period first.
            link.join(timeout=5 + (cfg.grace_s if link.leaving is not None else 0))
            link.close_render_side()
    if link.is_alive():  # never hang in ctx.term() on a socket the link thread still holds
        log.error("the link thread did not stop")
        return WorkerOutcome(rendered_jobs, link.gave_up, link.failed or "link thread did not stop", link.leaving)
    ctx.term()
    return WorkerOutcome(rendered_jobs, link.gave_up, link.failed, link.leaving)
