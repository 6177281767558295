"""run-due killed (SIGKILL) at each step of a night's backups, two sources (one standard, one
archive directory) backed up at once: the next run-due backs each source up once for the time (none
twice: a backup the killed one completed counts; data kept of one killed after its transfer does
not), the one after finds nothing due, and what the media hold agrees with the catalog. Real run-dues, killed at fault points."""

from __future__ import annotations

import pytest

from rabtui.state import jobs
from rabtui.state.store import COMPLETE
from tests import invariants
from tests.test_kill_anywhere import _killed, rabtui
from tests.test_run_due_killed_slot import LATER, NIGHT
from tests.trees import Lab, write_files


@pytest.mark.parametrize("point", ["backup.step2", "backup.archive_linked", "backup.step7_ended",
                                   "backup.json_written",
                                   "run_due.backup_ended"])
def test_a_run_due_killed_anywhere_in_a_night_leaves_each_source_backed_up_once(tmp_path, point):
    lab = Lab(tmp_path, media_count=1)
    schedule = 'schedule = "0 2 * * *"'
    lab.write(lab._local_source([("s", "standard")], schedule, "std")
              + lab._local_source([("a", "archive")], schedule, "arc"))
    write_files(lab.src / "s", {"f": b"s1", "d/g": b"s2"})
    write_files(lab.src / "a", {"f": b"a1", "d/g": b"a2"})
    _killed(rabtui(lab, "run-due", "--now", NIGHT, point=point))

    again = rabtui(lab, "run-due", "--now", LATER)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    store = lab.store()
    for source in ("std", "arc"):
        statuses = [r["status"] for r in store.all("SELECT status FROM backups WHERE source=?", (source,))]
        # complete once (a run killed in step 7 keeps its data as `kept`, and its time stays due)
        assert sum(s in COMPLETE for s in statuses) == 1 and "running" not in statuses, (source, statuses, out)
    assert not jobs.running_jobs(store)
    cfg = lab.load()
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    last = rabtui(lab, "run-due", "--now", LATER)
    assert last.returncode == 0 and ": due" not in last.stdout, last.stdout + last.stderr
