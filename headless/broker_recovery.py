"""What a broker does with a run it resumes, before it serves: it settles the job table
against what the previous broker process left on disk.

* A job done in the table whose metadata file is missing (a power cut rolled the disk back)
  goes back to the queue.
* A character an unfinished job stored completely just before a crash is adopted (done); a
  partial one is deleted (its images without metadata).
* The leases still open are handed back to the broker, which holds them for a grace period
  so their workers can report; their staging folders are kept, since in shared-filesystem
  mode a paused worker's result lies there and it re-sends only the checksums.
* Half-written temporaries and every other staging folder are removed.

The file checks themselves are in `dataset_recovery.py`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from synth_humans_addon.core.dataset import metadata_path

from . import jobs as J
from .dataset_recovery import character_intact, clean_temporaries, remove_character_files
from .farm_layout import CharacterView, staging_relpath

log = logging.getLogger("headless.broker")


@dataclass
class OpenLease:
    """A lease of the previous broker process, still open: its holder may come back."""

    job: int
    attempt: int
    token: str | None
    key: str | None


@dataclass
class Recovered:
    adopted: int = 0  # characters found complete on disk, marked done
    open_leases: list[OpenLease] = field(default_factory=list)


def recover_run(root: Path, table: J.JobTable, now: float) -> Recovered:
    """Settle `table` against the dataset `root` (committed); returns what the broker takes over."""
    found = Recovered()
    for job_id, pid in table.done_pids():
        if not metadata_path(root, pid).is_file():
            log.warning("job %d is done in the table but %s is missing: rendering it again", job_id,
                        metadata_path(root, pid))
            table.undo_done(job_id)
    leased = set(table.ids_in_state(J.LEASED))
    for job_id in table.unfinished_ids_ever_leased():
        ch = CharacterView.from_json(table.sample_json(job_id))
        if character_intact(root, ch.pid):
            table.mark_recovered(job_id, now)
            found.adopted += 1
            leased.discard(job_id)
            continue
        remove_character_files(root, ch)  # partial: images without metadata
    table.commit()
    for job_id in sorted(leased):
        found.open_leases.append(OpenLease(job_id, table.row(job_id).attempt, *table.lease_binding(job_id)))
    removed = clean_temporaries(root, keep_staging={staging_relpath(o.job, o.attempt) for o in found.open_leases})
    if removed:
        log.info("removed %d temporary files of an interrupted run", removed)
    if found.adopted:
        log.info("%d characters were complete on disk; marked done", found.adopted)
    return found
