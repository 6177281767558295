"""A cleanup that cannot delete what it planned says so: `rabtui cleanup` and `rabtui run-due`
print why (a read-only medium, here a tmpfs remounted read-only) and exit 1, and the space they
report freed is what was deleted, not what was planned. Real backups on a real medium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui.actions import cleanup as cleanup_actions
from rabtui.backup import deletion
from tests.trees import Lab, write_files
from tests import preloaded

ROOT = Path(__file__).resolve().parent.parent
# a cleanup judges at most a week after the newest backup (judged_at): the backups are old by
# a retention that keeps them a day, or none
LATER = (datetime.now() + timedelta(days=6)).isoformat(timespec="minutes")


def _rabtui(lab, *args):
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)


@pytest.fixture
def read_only_lab(tmp_path):
    """Two backups of `loc` on a medium that is a tmpfs, then remounted read-only: the older one
    is due for deletion at LATER."""
    lab = Lab(tmp_path, media_count=1)
    mnt = lab.media[0][1]
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        lab.write(lab._local_source(None, "", "loc")
                  + f'\n[notify]\ncommand = "sh -c \'cat >> {tmp_path / "notified"}\'"\n')
        lab.keep_a_day()
        write_files(lab.src / "data", {"a": b"one"})
        assert _rabtui(lab, "backup", "loc").returncode == 0
        write_files(lab.src / "data", {"a": b"two, longer"})
        assert _rabtui(lab, "backup", "loc").returncode == 0
        assert len(os.listdir(mnt / "loc")) == 2
        assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)]).returncode == 0
        yield lab
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_cleanup_on_a_read_only_medium_exits_1_and_says_why(read_only_lab):
    """The operator learns of it on the terminal, in the exit code and through notify.command."""
    lab = read_only_lab
    backups = sorted(os.listdir(lab.media[0][1] / "loc"))
    done = _rabtui(lab, "cleanup", "--now", LATER)
    assert "deleting loc " in done.stdout                         # the plan was to delete the older one
    assert sorted(os.listdir(lab.media[0][1] / "loc")) == backups  # ... and nothing was deleted
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rabtui: cleanup: medium m1: cleanup stopped: [Errno 30] Read-only file system" in done.stderr
    assert "0 of 1 backup deleted, 0 B freed" in done.stdout
    assert "Traceback" not in done.stderr
    events = [json.loads(line) for line in (lab.tmp / "notified").read_text().splitlines()]
    assert [(e["kind"], e["level"]) for e in events] == [("cleanup_failed", "failed")]
    assert "Read-only file system" in events[0]["message"]


def test_run_due_whose_cleanup_fails_reports_it_and_exits_1(read_only_lab):
    lab = read_only_lab
    backups = sorted(os.listdir(lab.media[0][1] / "loc"))
    done = _rabtui(lab, "run-due", "--now", LATER)
    assert sorted(os.listdir(lab.media[0][1] / "loc")) == backups
    assert "rabtui: cleanup: medium m1: cleanup stopped: [Errno 30] Read-only file system" in done.stderr
    assert done.returncode == 1, done.stdout + done.stderr


def test_a_deletion_failing_midway_counts_only_what_went(tmp_path, monkeypatch):
    """Three backups, the two older due; the second deletion fails: the first is deleted and its
    space counted, the second is named as failed and stays in the catalog."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    lab.keep_a_day()
    cfg = lab.load()
    t0 = datetime(2026, 1, 1, 3, 0)
    results = []
    for day, content in enumerate((b"a" * 5000, b"b" * 7000, b"c" * 9000)):
        write_files(lab.src / "data", {"f": content})
        results.append(lab.backup(cfg, now=t0 + timedelta(days=day)))
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=t0 + timedelta(days=4))
    assert [c.id for c in plan.delete] == [results[0].backup_id, results[1].backup_id]
    first, second = plan.delete
    empty_tree = deletion._empty_tree

    def failing(path, *rest):
        if Path(path).name == second.name:
            raise OSError(5, "Input/output error", str(path))
        return empty_tree(path, *rest)

    monkeypatch.setattr(deletion, "_empty_tree", failing)
    done = cleanup_actions.apply(cfg, store, plan)
    assert [c.id for c in done.deleted] == [first.id]
    assert done.freed_bytes == first.freed_bytes > 0
    assert len(done.failed) == 1 and "Input/output error" in done.failed[0]
    status = {r["id"]: r["status"] for r in store.all("SELECT id, status FROM backups")}
    assert (status[first.id], status[second.id]) == ("deleted", "completed")
    assert cleanup_actions.done_lines(plan, done)[-1].startswith("1 of 2 backups deleted, ")


def _two_days(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    lab.keep_a_day()
    cfg = lab.load()
    t0 = datetime(2026, 1, 1, 3, 0)
    for day, content in enumerate((b"a" * 5000, b"b" * 7000)):
        write_files(lab.src / "data", {"f": content})
        lab.backup(cfg, now=t0 + timedelta(days=day))
    return lab, cfg, t0 + timedelta(days=4)


def test_a_second_cleanup_while_one_runs_deletes_nothing_and_says_why(tmp_path):
    """Cleanups overlap (a run-due's, one run by hand): the second leaves the work to the first, is
    refused saying so (exit 1), and prints no plan: it printed the first one's deletions as its own
    and never made them, the first one's .deleting- directory as an interrupted deletion."""
    from rabtui.state.locks import Lock

    lab, cfg, later = _two_days(tmp_path)
    with Lock(cfg.state_dir, "cleanup", what="a cleanup"):       # the first one, deleting
        done = _rabtui(lab, "cleanup", "--now", later.isoformat(timespec="minutes"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "a cleanup is already running" in done.stderr and "this one deletes nothing" in done.stderr
    assert "deleting" not in done.stdout, done.stdout
    assert lab.store().one("SELECT COUNT(*) AS n FROM backups WHERE status='completed'")["n"] == 2


@pytest.mark.parametrize("point, second", [("cleanup.begun", "cleanup"), ("cleanup.recovering", "cleanup"),
                                           ("cleanup.begun", "run-due")])
def test_a_second_cleanup_starting_as_the_first_one_plans_is_refused(tmp_path, point, second):
    """The first cleanup stopped after it began (recovering the killed runs, before its plan): a
    second one started then is refused, exit 1, and prints no plan, whatever the instant; a
    run-due's leaves the work to it (exit 0, said). (The first one only looked for another before
    its plan, and took the lock as it deleted: the second went on, deleted, exit 0, and the first
    then made its plan's deletions over what was gone.)"""
    import signal

    from tests.test_medium_identity import _killed, _stopped_at

    lab, cfg, later = _two_days(tmp_path)
    when = later.isoformat(timespec="minutes")
    if point == "cleanup.recovering":     # a run killed, for the first one to recover
        write_files(lab.src / "data", {"f": b"c" * 9000})
        from tests.test_kill_anywhere import rabtui as killed_at
        assert killed_at(lab, "backup", "loc", point="backup.step5").returncode < 0
    first = None
    try:
        first = _stopped_at(lab, point, "cleanup", "--now", when)
        refused = _rabtui(lab, second, "--now", when)
        first.send_signal(signal.SIGCONT)
        out = first.communicate(timeout=120)[0].decode()
    finally:
        _killed(first)
    said = refused.stdout + refused.stderr
    assert refused.returncode == (1 if second == "cleanup" else 0), said
    assert "a cleanup is already running" in said and "this one deletes nothing" in said, said
    assert "deleting" not in refused.stdout, refused.stdout
    assert first.returncode == 0 and "1 backup deleted" in out, out
    store = lab.store()
    assert store.one("SELECT COUNT(*) AS n FROM backups WHERE status='completed'")["n"] == 1


def test_a_run_due_s_cleanup_before_its_backups_leaves_a_cleanup_deleting_to_it(tmp_path):
    """A cleanup deleting a killed run's directory (stopped there), a run-due starts: the cleanup it
    makes before the backups (a night's failed runs) is refused at once, says why and no plan, and
    the backup runs. (It planned beside the first, said the first one's deletion as its own, then
    deleted nothing: or, that one ended meanwhile, said it deleted what that one had.) A dry run
    then names the cleanup running, whose deletion under way it shows as due (or as an interrupted
    one's remains)."""
    import signal

    from tests.test_kill_anywhere import rabtui as killed_at
    from tests.test_medium_identity import _killed, _stopped_at

    lab = Lab(tmp_path, media_count=1)
    lab.local(extra='schedule = "0 2 * * *"')
    lab.keep_a_day()
    write_files(lab.src / "data", {"f": b"a" * 5000})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "data", {"g": b"c" * 9000})
    assert killed_at(lab, "backup", "loc", point="backup.step4").returncode < 0
    first = None
    try:
        first = _stopped_at(lab, "cleanup.trees_emptied", "cleanup", "--now", LATER)
        dry = _rabtui(lab, "cleanup", "--dry-run", "--now", LATER)
        night = _rabtui(lab, "run-due", "--now", LATER)
        first.send_signal(signal.SIGCONT)
        out = first.communicate(timeout=120)[0].decode()
    finally:
        _killed(first)
    # a dry run meanwhile says the first one's deletion under way is no interrupted one of its own
    assert dry.returncode == 0 and "a cleanup is already running" in dry.stdout.splitlines()[0], dry.stdout
    assert "what it is deleting may show here too" in dry.stdout, dry.stdout
    assert night.returncode == 0, night.stdout + night.stderr
    assert "cleanup before the backups: a cleanup is already running" in night.stdout, night.stdout
    assert "deleting" not in night.stdout and "deleted" not in night.stdout, night.stdout
    assert "loc: completed" in night.stdout, night.stdout
    assert first.returncode == 0 and "1 backup deleted" in out, out
    statuses = [r["status"] for r in lab.store().all("SELECT status FROM backups ORDER BY id")]
    assert statuses == ["completed", "deleted", "completed"], statuses


def test_remains_that_another_cleanup_finished_meanwhile_are_no_failure(tmp_path):
    lab, cfg, later = _two_days(tmp_path)
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=later)
    plan.leftovers.append(lab.media[0][1] / "loc" / ".deleting-backup-20250101030000")   # gone meanwhile
    done = cleanup_actions.apply(cfg, store, plan)
    assert done.failed == [] and len(done.deleted) == 1


def test_the_remains_of_a_deletion_killed_on_a_medium_with_a_device_are_finished(tmp_path, disk_image):
    """A cleanup killed once it emptied the doomed backups of a medium with a device (unmounted
    since: a reboot): the next cleanup, which mounts it, finishes those deletions, as its plan and a
    dry run say it does. It said it deleted them, and left them on the medium for ever (the medium
    was not mounted yet when it removed the remains)."""
    from tests.test_kill_anywhere import _killed, rabtui

    lab = Lab(tmp_path, media_count=1)
    lab.local()
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    lab.keep_a_day()
    cfg = lab.load()
    t0 = datetime(2026, 4, 1, 3, 0)
    for day in range(3):
        write_files(lab.src / "data", {f"d{day}": b"d" * 3000 * day, "v": b"v%d" % day})
        assert lab.backup(cfg, now=t0 + timedelta(days=day), medium_id="m1").status == "completed"
    later = (t0 + timedelta(days=8)).isoformat(timespec="minutes")
    _killed(rabtui(lab, "cleanup", "--now", later, point="cleanup.trees_emptied"))
    if os.path.ismount(m1):
        subprocess.run(["umount", str(m1)], check=True)

    dry = rabtui(lab, "cleanup", "--dry-run", "--now", later)
    assert dry.returncode == 0 and "would delete the remains of an interrupted deletion" in dry.stdout, dry.stdout
    done = rabtui(lab, "cleanup", "--now", later)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not os.path.ismount(m1)
    subprocess.run(["mount", str(disk_image), str(m1)], check=True)
    try:
        left = sorted(os.listdir(m1 / "loc"))
    finally:
        subprocess.run(["umount", str(m1)], check=True)
    assert left == ["backup-20260403030000"], left
    assert [r["status"] for r in lab.store().all("SELECT status FROM backups ORDER BY id")] == \
        ["deleted", "deleted", "completed"]


def test_a_dry_run_that_cannot_unmount_a_medium_says_it_stays_mounted(tmp_path, disk_image):
    """A killed backup left a medium with a device mounted; the dry run, the last user of it,
    unmounts it as it ends, and a process working in it keeps it busy: the dry run says the
    medium could not be unmounted (it said nothing, and left it mounted)."""
    from tests.test_kill_anywhere import killed_on_a_device, rabtui

    lab, m1 = killed_on_a_device(tmp_path, disk_image, "backup", "loc", point="backup.step5", unmount=False)
    assert os.path.ismount(m1)
    holder = subprocess.Popen(["sleep", "60"], cwd=m1)
    try:
        dry = rabtui(lab, "cleanup", "--dry-run")
    finally:
        holder.kill()
        holder.wait()
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"cannot unmount {m1}" in dry.stdout and "busy" in dry.stdout, dry.stdout
    assert os.path.ismount(m1)
    done = rabtui(lab, "cleanup", "--dry-run")        # its last user again: unmounted now
    assert done.returncode == 0 and not os.path.ismount(m1), done.stdout + done.stderr


def test_a_cleanup_frees_a_medium_with_no_inode_left(tmp_path, disk_image):
    """The medium (a real ext2 file system) has no inode left: the cleanup, which is what frees it,
    still deletes an archive directory's backup that is due. It stopped there, unable to make the
    file that records the undoing of that backup's union links."""
    from tests.test_kill_anywhere import _files, rabtui

    lab = Lab(tmp_path, media_count=2)
    lab.local([("arch", "archive")])
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    lab.keep_a_day()
    _files(lab.src / "arch", {"x": b"x1"})
    for medium in ("m1", "m2"):      # m2 holds x too: m1's first backup may go
        assert rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    _files(lab.src / "arch", {"y": b"y2"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    first = lab.store().one("SELECT * FROM backups WHERE medium='m1' ORDER BY id LIMIT 1")
    if not os.path.ismount(m1):
        subprocess.run(["mount", str(disk_image), str(m1)], check=True)
    try:
        for i in range(100_000):
            try:
                os.close(os.open(m1 / f"filler{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            except OSError:
                break
        assert os.statvfs(m1).f_ffree == 0
    finally:
        subprocess.run(["umount", str(m1)], check=True)

    later = (datetime.now() + timedelta(days=3)).isoformat(timespec="seconds")
    done = rabtui(lab, "cleanup", "--now", later)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"deleting loc {first['name']} on m1" in done.stdout
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (first["id"],))["status"] == "deleted"


def test_a_run_due_cleanup_that_failed_is_tried_again_within_the_hour(read_only_lab):
    """A run-due's cleanup that failed is not taken as made for a day (cleanup_called_for): once the
    medium is mended, what it could not delete goes within the hour, as it said; the run-dues before
    leave the media alone, not failing (and notifying) four times an hour."""
    lab = read_only_lab
    mnt = lab.media[0][1]
    backups = sorted(os.listdir(mnt / "loc"))
    later = datetime.fromisoformat(LATER)
    failed = _rabtui(lab, "run-due", "--now", LATER)
    assert failed.returncode == 1 and "tried again by a run-due within 1 h" in failed.stdout + failed.stderr, \
        failed.stdout + failed.stderr
    assert subprocess.run(["mount", "-o", "remount,rw", str(mnt)]).returncode == 0

    soon = _rabtui(lab, "run-due", "--now", (later + timedelta(minutes=15)).isoformat(timespec="minutes"))
    assert soon.returncode == 0 and "cleanup" not in soon.stderr, soon.stdout + soon.stderr
    assert sorted(os.listdir(mnt / "loc")) == backups

    again = _rabtui(lab, "run-due", "--now", (later + timedelta(minutes=61)).isoformat(timespec="minutes"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(os.listdir(mnt / "loc")) == backups[1:]
    events = [json.loads(line) for line in (lab.tmp / "notified").read_text().splitlines()]
    assert [e["kind"] for e in events].count("cleanup_failed") == 1
