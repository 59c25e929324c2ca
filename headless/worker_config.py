"""A farm worker's settings (`WorkerConfig`) and how its run ended (`WorkerOutcome`), with the
exit status a scheduler sees (docs/farm.md, exit codes): 0 the run is finished (or --max-jobs
done); 1 gave up: the broker was unreachable or silent for --give-up seconds (default 900), in
any state, a render included; 2 bad arguments; 4 the link to the broker failed (an error in
the connection); 143 stopped by SIGTERM, 130 by SIGINT (128 + the signal, as a shell reports it).
"""
from __future__ import annotations

import os
import signal
import socket as pysocket
from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_GAVE_UP, EXIT_USAGE, EXIT_LINK_FAILED = 0, 1, 2, 4
EXIT_SIGNAL_BASE = 128  # stopped by a signal: 128 + its number (SIGTERM 143, SIGINT 130)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # a worker stops cleanly on either (see worker_render)
DEFAULT_GIVE_UP_S = 900.0  # a broker gone for 15 minutes frees the worker's slot (restarts take seconds)
DEFAULT_GRACE_S = 10.0  # a stopping worker's time to upload what it rendered and hand back the rest


@dataclass
class WorkerConfig:
    connect: str
    name: str = ""
    renderer: str = "bpy"  # a name in core.renderer.RENDERERS
    standin_sleep_s: float = 0.0  # stand-in renderer: seconds per image
    shared_root: Path | None = None  # shared-filesystem mode: the dataset folder as this machine sees it
    curve_secret: Path | None = None
    curve_server_public: Path | None = None
    heartbeat_s: float = 1.0  # until the broker's WELCOME says otherwise
    liveness: int = 3
    backoff_s: float = 0.25
    backoff_max_s: float = 16.0
    give_up_s: float | None = None  # exit after the broker was unreachable this long (None: never)
    max_jobs: int | None = None
    grace_s: float = DEFAULT_GRACE_S  # on SIGTERM/SIGINT: longest wait for uploads and the broker's answers

    def __post_init__(self):
        if not self.name:
            self.name = f"{pysocket.gethostname()}-{os.getpid()}"


@dataclass
class WorkerOutcome:
    jobs: int  # jobs rendered
    gave_up: bool  # the broker was unreachable for `give_up_s`
    link_error: str | None = None  # the link failed with this error
    signal: int | None = None  # stopped by this signal (SIGTERM, SIGINT)

    @property
    def exit_code(self) -> int:
        if self.link_error is not None:
            return EXIT_LINK_FAILED
        if self.gave_up:
            return EXIT_GAVE_UP
        return EXIT_SIGNAL_BASE + self.signal if self.signal else EXIT_OK


def stopped_on_purpose(returncode: int) -> bool:
    """Whether a worker process's exit status says that it was stopped by SIGTERM or SIGINT: its
    own 143/130, or the signal itself (-15/-2) when it came before the worker's handlers."""
    return any(returncode in (EXIT_SIGNAL_BASE + sig, -sig) for sig in STOP_SIGNALS)
