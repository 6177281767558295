"""A run killed once its backup.json said complete, its medium away at the next run (which leaves it
as it is, `running`, until its medium is there): a cleanup with that medium there records it as a
backup onto that medium does (the same recovery), and a backup of the source under way keeps the
cleanup out of it. It stayed `running`, its versions counted as no copy by retention, its backup
never a base nor restorable as complete, until a backup onto that medium came. Real rsync, the real
process killed (SIGKILL) at the fault point."""

from __future__ import annotations

from rabtui.state import locks
from tests import held, invariants, preloaded
from tests.test_kill_anywhere import (_backed_up_on_m1, _copy, _files, _killed, _killed_then_away, killed_on_a_device,
                                      rabtui)


def test_a_cleanup_with_its_medium_there_records_a_run_killed_complete(tmp_path):
    lab, cfg, store, copies = _backed_up_on_m1(tmp_path)
    _files(lab.src / "arch", {"x": b"x2" * 10, "only": b"saved once"})
    at_kill = _copy(lab, cfg)
    killed = _killed_then_away(lab, cfg, "loc", copies, point="backup.json_written")
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "running"

    held = locks.source_lock(cfg.state_dir, "loc")     # a backup of loc under way: it recovers them itself
    held.acquire()
    try:
        busy = rabtui(lab, "cleanup")
    finally:
        held.release()
    assert busy.returncode == 0, busy.stdout + busy.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "running"

    dry = rabtui(lab, "cleanup", "--dry-run")       # writes nothing
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "running"

    cleanup = rabtui(lab, "cleanup")
    out = cleanup.stdout + cleanup.stderr
    assert cleanup.returncode == 0, out
    assert f"({killed['name']} on medium m1" in out and "recorded as such" in out, out
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "completed"
    copies[killed["id"]] = at_kill
    invariants.check_json_agrees(cfg, store)
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)
    back = rabtui(lab, "backup", "loc", "--medium", "m1")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "interrupted" not in back.stdout + back.stderr
    assert store.one("SELECT link_dest FROM backups ORDER BY id DESC LIMIT 1")["link_dest"] == killed["id"]


def test_a_medium_that_cannot_be_mounted_leaves_the_killed_runs_on_the_others_to_the_cleanup(tmp_path, disk_image):
    """A source has a run killed complete on each of two media; the first's device cannot be
    mounted now (unplugged): the cleanup says so and still records the run on the second, which is
    there. It left that one `running` too, as if every medium of the source had failed."""
    import os
    import subprocess

    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=2)
    lab.local([("data", "standard"), ("arch", "archive")])
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    _files(lab.src / "data", {"a": b"a1"})
    _files(lab.src / "arch", {"x": b"x1"})
    for medium in ("m1", "m2"):
        _killed(rabtui(lab, "backup", "loc", "--medium", medium, point="backup.json_written"))
        if os.path.ismount(m1):
            subprocess.run(["umount", str(m1)], check=True)
    store = lab.store()
    assert [r["status"] for r in store.all("SELECT status FROM backups ORDER BY id")] == ["running", "running"]
    os.rename(disk_image, tmp_path / "unplugged.img")

    cleanup = rabtui(lab, "cleanup")
    out = cleanup.stdout + cleanup.stderr
    assert cleanup.returncode == 0, out
    assert "cannot mount" in out, out
    assert [r["status"] for r in store.all("SELECT medium, status FROM backups ORDER BY id")] == \
        ["running", "completed"], out


def test_a_dry_run_names_the_killed_runs_the_cleanup_would_recover_first(tmp_path):
    """A run killed complete, its medium there: the cleanup records it first, and the backup before
    it is then no longer the newest and goes. A dry run, which recovers nothing, said nothing of it
    and that nothing would go: it names the run, what its backup.json says, and that the cleanup
    may delete more than it says."""
    from datetime import datetime, timedelta

    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=1)
    lab.local()
    lab.keep_a_day()
    _files(lab.src / "data", {"a": b"a1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _files(lab.src / "data", {"a": b"a2"})
    _killed(rabtui(lab, "backup", "loc", point="backup.json_written"))
    store = lab.store()
    first, killed = store.all("SELECT * FROM backups ORDER BY id")
    later = (datetime.now() + timedelta(days=8)).isoformat(timespec="minutes")

    dry = rabtui(lab, "cleanup", "--dry-run", "--now", later)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert (f"the cleanup would first recover the interrupted backup loc {killed['name']} on m1 (its backup.json"
            " says completed)") in dry.stdout, dry.stdout
    assert "may delete more or less than it says" in dry.stdout, dry.stdout
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "running"
    real = rabtui(lab, "cleanup", "--now", later)
    assert real.returncode == 0, real.stdout + real.stderr
    assert f"deleting loc {first['name']} on m1" in real.stdout, real.stdout
    assert "would first recover" not in real.stdout, real.stdout


def test_a_backup_refused_while_a_cleanup_recovers_its_source_names_the_cleanup(tmp_path):
    """A cleanup holds a source's lock while it undoes a killed run of it: a backup of the source
    started meanwhile is refused naming the cleanup, not "a backup of loc is already running"."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from rabtui import faults

    lab, cfg, store, copies = _backed_up_on_m1(tmp_path)
    _files(lab.src / "arch", {"x": b"x2" * 10})
    _killed(rabtui(lab, "backup", "loc", "--medium", "m1", point="backup.archive_linked"))
    cleanup = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "cleanup"],
                              env={**os.environ, faults.STOP_ENV: "backup.union_linking"}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while cleanup.poll() is None and time.monotonic() < deadline:
            if held.stopped(cleanup.pid):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the cleanup never came to put the older version back")
        refused = rabtui(lab, "backup", "loc", "--medium", "m1")
    finally:
        cleanup.send_signal(signal.SIGCONT)
        out, err = cleanup.communicate(timeout=60)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0, said
    assert "a cleanup recovering loc's interrupted backups is running" in said, said
    assert cleanup.returncode == 0, out + err
    assert "its transfer had ended whole: kept" in out, out     # its links undone, its data kept


def test_a_mount_point_that_cannot_be_made_leaves_the_cleanup_going(tmp_path, disk_image):
    """The mount point of a medium with a device is a file now (no directory can be made there to
    mount it on): the cleanup says so for that medium's killed run and goes on, run-due's too. It
    ended in a traceback, and run-due's cleanup failed whole."""
    import os

    lab, m1 = killed_on_a_device(tmp_path, disk_image, "backup", "loc")
    os.rmdir(m1)
    m1.write_text("not a directory")

    for args in (["cleanup"], ["run-due"]):
        done = rabtui(lab, *args)
        out = done.stdout + done.stderr
        assert "Traceback" not in out, out
        assert done.returncode == 0, out
        assert "its interrupted backups on medium m1 are left for the next run" in out, out
    assert lab.store().one("SELECT status FROM backups")["status"] == "running"
