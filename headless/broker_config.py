"""The broker's settings (`BrokerConfig`, checked on creation: the CLI exits 2 naming the option)
and what it reports when it stops (`BrokerStats`, `StorageFaultError`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import protocol as P
from .durable_io import Disk, StorageFault

DEFAULT_BIND = "tcp://127.0.0.1:5555"
MIN_CHUNK = 1024  # smaller upload chunks only multiply messages


@dataclass
class BrokerConfig:
    out: Path  # the dataset folder (the run to resume, or a new one: the spec is `run_broker`'s)
    bind: str = DEFAULT_BIND
    heartbeat_s: float = 1.0
    liveness: int = 3  # missed heartbeats before a peer counts as dead
    max_failures: int = 3  # errors / rejected results before a job is parked as failed
    max_lost: int = 10  # leases lost to dead workers before a job is parked (a job that kills workers)
    job_timeout_s: float = 6 * 3600.0  # longest a single attempt may hold a job
    chunk_size: int = P.CHUNK_SIZE
    window: int = 8  # chunks in flight per worker (credit-based flow control)
    shared: bool = False  # workers write into the shared dataset folder themselves
    curve_secret: Path | None = None  # broker.key_secret
    curve_authorized: Path | None = None  # folder of authorised worker public keys
    insecure: bool = False  # allow a non-loopback bind without CURVE
    store_threads: int = 1  # more threads only add GIL hand-offs (see StorePipeline)
    durable: bool = True  # fsync every stored file (False: a power cut may lose the last seconds)
    progress: bool = True
    exit_when_done: bool = True
    retry_failed: bool = False
    disk: Disk | None = None  # the storage seam (None: the real disk, or SYNTH_HUMANS_FARM_FAULT's)

    def __post_init__(self):
        """Refuse nonsense settings with a message naming the option and its range (the CLI exits 2 on it)."""
        checks = [("--heartbeat", self.heartbeat_s, self.heartbeat_s > 0, "more than 0"),
                  ("--liveness", self.liveness, self.liveness >= 1, "at least 1"),
                  ("--max-failures", self.max_failures, self.max_failures >= 1, "at least 1"),
                  ("--max-lost", self.max_lost, self.max_lost >= 1, "at least 1"),
                  ("--job-timeout", self.job_timeout_s, self.job_timeout_s > 0, "more than 0"),
                  ("--chunk-size", self.chunk_size, MIN_CHUNK <= self.chunk_size <= P.MAX_PAYLOAD,
                   f"{MIN_CHUNK}..{P.MAX_PAYLOAD}"),
                  ("--window", self.window, self.window >= 1, "at least 1"),
                  ("--store-threads", self.store_threads, 1 <= self.store_threads <= 64, "1..64")]
        for option, value, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{option} {value}: out of range (must be {allowed})")
        problem = P.endpoint_problem(self.bind, bind=True)
        if problem:
            raise ValueError(f"--bind {self.bind}: {problem}")

    @property
    def dead_after_s(self) -> float:
        return self.heartbeat_s * self.liveness


@dataclass
class BrokerStats:
    completed: int = 0
    images: int = 0
    recovered: int = 0  # jobs found complete on disk at start (stored before a crash)
    stale_results: int = 0  # DONE/CHUNK of a superseded attempt, discarded
    duplicates: int = 0  # repeated DONE of an already handled attempt
    malformed: int = 0
    refused: int = 0  # CHUNK/DONE/FAIL/claims from a peer that does not hold the lease
    handshakes_refused: int = 0  # CURVE handshakes with an unauthorised key (ZAP)
    rejected: int = 0  # results that failed verification (checksums, per-image info schema)
    lost_leases: int = 0
    failed_jobs: int = 0
    dead_workers: int = 0
    workers_seen: int = 0
    render_s: float = 0.0
    wall_s: float = 0.0
    storage_fault: StorageFault | None = None  # set: the broker stopped on it (exit status 5)
    interrupted: bool = False  # stopped by SIGINT (Ctrl-C): the command exits 130 (3 after SIGTERM)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["storage_fault"] = self.storage_fault.line() if self.storage_fault else None
        return d

    def security_counts(self) -> dict[str, int]:
        """What `status` shows under security (stored in the job table's meta once per beat)."""
        return {"handshakes_refused": self.handshakes_refused, "refused": self.refused,
                "rejected": self.rejected, "malformed": self.malformed, "stale": self.stale_results}


class StorageFaultError(RuntimeError):
    """A storage fault before the broker could serve (creating or resuming the run)."""

    def __init__(self, fault: StorageFault):
        super().__init__(fault.line())
        self.fault = fault
