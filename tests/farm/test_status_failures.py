"""`status` (and generate's closing report) list jobs that failed for the same reason once."""
from __future__ import annotations

from headless import jobs as J
from headless.status import format_status, group_failures, read_status
from headless.farm_layout import db_path
from synth_humans_addon.core.sampling import expand_dataset
from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.spec_io import spec_to_dict


def _error(path: str) -> str:
    return (f"UnidentifiedImageError: cannot identify image file '{path}'\nTraceback (most recent call last):\n"
            '  File "room.py", line 160, in load_face\n    Image.open(path)\n')


def test_jobs_failing_on_the_same_file_are_one_reason_naming_it(tmp_path):
    spec = Spec()
    spec.dataset.characters, spec.dataset.test_characters, spec.dataset.validation_characters = 6, 0, 0
    t = J.JobTable(db_path(tmp_path))
    t.initialise(spec_to_dict(spec), (c.to_dict() for c in expand_dataset(spec)))
    for job in range(5):
        error = _error("/cubes/park/posy.jpg") if job < 4 else "MotionError: BVH file not found: walk.bvh"
        a = t.lease(job, "w1", 1.0)
        assert t.release(job, a, 2.0, error, failure=True, max_failures=1, max_lost=5) == J.FAILED
    t.commit()
    t.close()
    st = read_status(tmp_path)
    groups = group_failures(st.failures)
    assert [(reason, len(js)) for reason, js in groups] == [
        ("UnidentifiedImageError: cannot identify image file '/cubes/park/posy.jpg'", 4),
        ("MotionError: BVH file not found: walk.bvh", 1)]
    text = format_status(st)
    assert text.count("posy.jpg") == 1 and "Traceback" not in text and "4 job(s) (4 parked as failed)" in text
