"""What a deletion killed as it emptied a backup's tree left (.deleting-<name>, part of the tree still
there) on a medium nearly full: the deletion before run-due's backups finishes it, as the cleanup
after them does; it was left to that cleanup, and the night's backups failed for want of room. Real
rsync, a real small tmpfs, real run-dues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rabtui import faults
from tests import preloaded
from tests.test_cleanup_while_reading import _stopped
from tests.test_full_medium_failed_partial import _files, _statuses
from tests.test_kill_anywhere import rabtui
from tests.trees import Lab


def _source(lab: Lab, s: str) -> str:
    return f'[[sources]]\nid = "{s}"\nschedule = "0 2 * * *"\n[[sources.directories]]\npath = "{lab.src / s}"\n'


def _killed_deletion(tmp_path, tmpfs, *, removed: bool) -> tuple[Lab, str]:
    """h failed the night before as the 8 MiB medium filled (about 7 MiB of it there); its deletion
    killed once it renamed the tree (`removed`: h taken out of the config since, else its schedule);
    a has 2 MiB more."""
    lab = Lab(tmp_path, media_count=1)
    tmpfs(lab.media[0][1], "size=8m")
    _files(lab.src / "a", ["a0"])
    _files(lab.src / "h", [f"h{i}" for i in range(10)])
    lab.write(_source(lab, "a") + _source(lab, "h"))
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\nmax_parallel = 1\n"))
    first = rabtui(lab, "run-due", "--now", "2026-10-01T02:05")
    assert first.returncode == 1 and _statuses(lab) == [("a", "completed"), ("h", "failed")], first.stdout + first.stderr
    run = lab.store().one("SELECT path FROM backups WHERE source='h'")["path"]
    aside = os.path.join(os.path.dirname(run), ".deleting-" + os.path.basename(run))
    os.rename(run, aside)          # what the deletion does first; killed before it emptied the tree
    _files(lab.src / "a", ["a1", "a2"])
    h = _source(lab, "h")
    lab.config_path.write_text(lab.config_path.read_text().replace(h, "" if removed else h.replace("schedule", "#")))
    return lab, aside


def _night(lab: Lab, aside: str) -> str:
    night = rabtui(lab, "run-due", "--now", "2026-10-02T02:04")
    out = night.stdout + night.stderr
    assert night.returncode == 0, out
    before = out.split("a: due")[0]
    assert f"deleting the remains of an interrupted deletion: {aside}" in before, out
    assert not os.path.lexists(aside), out
    assert ("a", "completed") in _statuses(lab)[2:], out
    return out


def test_a_killed_deletion_of_a_failed_run_is_finished_before_the_backups(tmp_path, tmpfs):
    lab, aside = _killed_deletion(tmp_path, tmpfs, removed=False)
    _night(lab, aside)
    assert _statuses(lab)[1] == ("h", "deleted")


def test_a_killed_deletion_of_a_removed_sources_run_is_finished_before_the_backups(tmp_path, tmpfs):
    """No configured source has a failed run to delete: the deletion before the backups had nothing
    to do and ended there."""
    lab, aside = _killed_deletion(tmp_path, tmpfs, removed=True)
    _night(lab, aside)
    assert _statuses(lab)[1] == ("h", "deleted")


def test_a_run_due_killed_in_its_deletion_before_the_backups_is_finished_by_the_next(tmp_path, tmpfs):
    """Killed once the deletion before the backups had emptied h's failed run (the catalog not told):
    the run-due after it, that same night, finishes it first and the night's backup fits."""
    lab, aside = _killed_deletion(tmp_path, tmpfs, removed=False)
    os.rename(aside, aside.replace(".deleting-", ""))      # the run as the night before left it
    killed = rabtui(lab, "run-due", "--now", "2026-10-02T02:04", point="cleanup.trees_emptied")
    assert killed.returncode == -9 and os.path.isdir(aside), killed.stdout + killed.stderr
    assert _statuses(lab)[1] == ("h", "failed")
    _night(lab, aside)
    assert _statuses(lab)[1] == ("h", "deleted")


def test_two_run_dues_at_once_delete_once_and_back_up_once(tmp_path, tmpfs):
    """A second run-due while the first is held in its deletion before the backups (h's failed run
    emptied, the cleanup's lock held): it deletes nothing and backs a up; the first then ends its
    deletion and finds a backed up meanwhile."""
    lab, aside = _killed_deletion(tmp_path, tmpfs, removed=False)
    os.rename(aside, aside.replace(".deleting-", ""))
    argv = [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "run-due", "--now", "2026-10-02T02:04"]
    env = {k: v for k, v in os.environ.items() if k != faults.ENV} | {faults.STOP_ENV: "cleanup.trees_emptied"}
    held = preloaded.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _stopped(held.pid):
            assert held.poll() is None and time.monotonic() < deadline, "the run-due did not reach the point"
            time.sleep(0.05)
        second = rabtui(lab, "run-due", "--now", "2026-10-02T02:04")
        out = second.stdout + second.stderr
        assert second.returncode == 0 and "this one deletes nothing" in out.split("a: due")[0], out
        assert "a: completed" in out, out
    finally:
        held.send_signal(signal.SIGCONT)
    first = held.communicate(timeout=120)[0].decode()
    assert held.returncode == 0 and "a: backed up meanwhile by another run-due" in first, first
    assert _statuses(lab) == [("a", "completed"), ("h", "deleted"), ("a", "completed")], first
    assert not os.path.lexists(aside)
