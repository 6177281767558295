"""A restore that cannot know every copy says so: rebuild-state ran while the medium holding the
newest backup was away (the new database knows none of its backups), or a medium at hand holds
backups the database does not know (its -wal lost). The restore reads the newest copy the database
knows, and says which medium may hold a newer one (exit 3), never a silent success with an older
version; find says it too. Real rsync, the real command line."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path

from rabtui.cli import main
from rabtui.media import unknown_backups
from rabtui.state import locks
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def _rebuilt_without_database(lab: Lab) -> list[str]:
    """The server's database lost, then rebuild-state run with the media as they are now (one away:
    exit 3); the command line's first arguments for the lab's config."""
    lab.lose_database()
    run = ["--config", str(lab.config_path)]
    assert main([*run, "rebuild-state"]) == 3
    return run


def test_a_medium_away_at_the_rebuild_is_named_by_restore_and_find_until_rebuilt_with_it(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=3)       # m3: a medium never used yet, no backup on it to miss
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"old"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(data, {"a.txt": b"newest", "only-on-m2": b"new"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    m2 = lab.media[1][1]
    away = m2.with_name("m2-in-the-drawer")
    m2.rename(away)
    run = _rebuilt_without_database(lab)
    capsys.readouterr()
    path = str(data / "a.txt")

    def restored(to: str) -> tuple[int, str, bytes]:
        code = main([*run, "restore", "loc", path, "--to", str(tmp_path / to)])
        return code, capsys.readouterr().err, (tmp_path / to / path.lstrip("/")).read_bytes()

    code, err, got = restored("away")
    assert (code, got) == (3, b"old")
    assert "medium m2 was not read by rebuild-state" in err and "a newer copy of" in err, err
    assert main([*run, "find", "a.txt"]) == 0
    assert "medium m2 was not read by rebuild-state" in capsys.readouterr().err
    # a file only that medium holds: no copy known, and where one may be
    assert main([*run, "restore", "loc", str(data / "only-on-m2"), "--to", str(tmp_path / "none")]) == 1
    out, err = capsys.readouterr()
    assert "only-on-m2 is not in backup" in err and "medium m2 was not read by rebuild-state" in err, (out, err)
    assert main([*run, "check"]) != 0
    assert "WARNING: medium m2 was not read by rebuild-state" in capsys.readouterr().out

    # back in place, its backup is still unknown to the database: named by its name
    away.rename(m2)
    code, err, got = restored("back")
    assert (code, got) == (3, b"old")
    assert "medium m2 holds 1 backup of loc the state database does not know" in err, err
    assert main([*run, "find", "a.txt"]) == 0
    assert "medium m2 holds 1 backup of loc the state database does not know" in capsys.readouterr().err

    # rebuilt with it: the newest copy is known, nothing to say (m3, never labelled, held none)
    assert main([*run, "rebuild-state"]) == 3      # "not matched: medium m3: no labelled medium"
    capsys.readouterr()
    code, err, got = restored("rebuilt")
    assert (code, got) == (0, b"newest")
    assert "does not know" not in err and "not read by rebuild-state" not in err
    # --backup chooses exactly: nothing to say about other media
    old = lab.store().one("SELECT name FROM backups WHERE medium='m1'")["name"]
    m2.rename(away)
    capsys.readouterr()
    assert main([*run, "restore", "loc", path, "--backup", old, "--to", str(tmp_path / "exact")]) == 0


def test_a_disc_taken_from_a_backup_on_a_medium_away_at_the_rebuild_ranks_by_that_backups_time(tmp_path, capsys):
    """The checkpoint was taken from the newest backup, on m2; the database is lost and rebuilt with m2
    away: the disc's copy holds a newer state than m1's backup, and is the one restored (said as a
    guess: the database does not know that backup)."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    data = lab.src / "data"
    write_files(data, {"a.txt": b"old"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(data, {"a.txt": b"newest"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    number = burn_due(cfg, lab.store())
    m2 = lab.media[1][1]
    m2.rename(m2.with_name("m2-in-the-drawer"))
    run = _rebuilt_without_database(lab)
    capsys.readouterr()
    path = str(data / "a.txt")
    assert main([*run, "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert (tmp_path / "out" / path.lstrip("/")).read_bytes() == b"newest"
    assert f"{path} from checkpoint {number}" in err and "which rebuild-state did not read" in err, err


def test_browse_find_says_which_medium_may_hold_backups_it_does_not_list(tmp_path):
    """What `find` says on stderr, Browse's find says too (a warning beside the versions found)."""
    from rabtui.media import unknown_backups
    from rabtui.tui.app import make_app
    from tests.tui.conftest import browse_backups, run, texts, wait_for

    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"a.txt": b"old"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    unknown_backups.mark_unread(lab.store(), "m2")       # as rebuild-state does with it away
    m2 = lab.media[1][1]
    m2.rename(m2.with_name("m2-in-the-drawer"))

    async def go():
        app = make_app(lab.config_path, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot, "loc")
            screen._go("find")
            screen._find("a.txt")
            await wait_for(pilot, lambda: "matching" in texts(app, "#browse-where"))
            said = [n.message for n in app._notifications]
            assert any("medium m2 was not read by rebuild-state" in m and "not listed" in m for m in said), said

    run(go())


def test_a_medium_with_a_device_away_at_the_rebuild_is_named_not_mounted_since(tmp_path, capsys, disk_image):
    """A medium mounted from its `device` by rabtui: away at rebuild-state (its disk unplugged), then
    plugged in again and left unmounted, as rabtui leaves it between runs. Its backups stay unknown
    until rebuild-state mounts it: restore and find name it, unmounted as it is."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    unplugged = disk_image.with_name("unplugged.img")
    disk_image.rename(unplugged)
    run = _rebuilt_without_database(lab)
    unplugged.rename(disk_image)
    capsys.readouterr()
    path = str(data / "a.txt")
    assert main([*run, "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert (tmp_path / "out" / path.lstrip("/")).read_bytes() == b"old"
    assert "medium m1 was not read by rebuild-state" in err, err
    assert main([*run, "find", "a.txt"]) == 0
    assert "medium m1 was not read by rebuild-state" in capsys.readouterr().err
    assert main([*run, "check"]) != 0
    assert "WARNING: medium m1 was not read by rebuild-state" in capsys.readouterr().out
    assert not os.path.ismount(m1)
    assert main([*run, "rebuild-state"]) == 0
    capsys.readouterr()
    assert main([*run, "restore", "loc", path, "--to", str(tmp_path / "rebuilt")]) == 0
    assert (tmp_path / "rebuilt" / path.lstrip("/")).read_bytes() == b"newest"


def _old_on_m2_newest_on_device_m1(tmp_path, disk_image, between=lambda lab: None) -> tuple[Lab, Path]:
    """data/a.txt backed up "old" onto m2, then "newest" onto m1, a medium with a `device` (disk_image)
    that rabtui leaves unmounted; `between`(lab) runs between the two: (lab, the source's directory)."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("data", "standard")])
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    cfg = lab.load()
    data = lab.src / "data"
    write_files(data, {"a.txt": b"old"})
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    between(lab)
    write_files(data, {"a.txt": b"newest"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    assert not os.path.ismount(m1)
    return lab, data


def _newest_on_an_unmounted_device_unknown(tmp_path, disk_image) -> tuple[Lab, str]:
    """The newest backup on m1, a medium with a `device` left unmounted, that the database put back
    from an older copy lacks (an older one on m2): (lab, the path of the file they hold)."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image,
                                               between=lambda lab: lab.store().backup_to(tmp_path / "older.db"))
    lab.lose_database()
    os.rename(tmp_path / "older.db", lab.state / "rabtui.db")
    return lab, str(data / "a.txt")


def test_a_device_medium_left_unmounted_is_mounted_to_look_for_backups_the_database_lacks(tmp_path, capsys, disk_image):
    """rabtui leaves a medium with a `device` unmounted between runs: a restore looks at it all the
    same (it mounts it, as it does to read it), so the newest backup a database put back from an
    older copy lacks is named (exit 3), not an older copy restored in silence. It is left unmounted."""
    lab, path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = lab.media[0][1]
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert (tmp_path / "out" / path.lstrip("/")).read_bytes() == b"old"
    assert "medium m1 holds 1 backup of loc the state database does not know" in err, err
    assert not os.path.ismount(m1)


def test_a_device_medium_whose_label_cannot_be_read_is_named_as_not_looked_at(tmp_path, capsys, disk_image):
    """Its file system damaged since (the label reads as zeros): it may be the medium, holding the
    newest backup, so it is named as one that could not be looked at (exit 3), not passed over in
    silence as another disk is. It is left unmounted."""
    lab, path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = lab.media[0][1]
    subprocess.run(["mount", str(disk_image), str(m1)], check=True)
    try:
        (m1 / ".rabtui-medium").write_bytes(bytes(4096))
    finally:
        subprocess.run(["umount", str(m1)], check=True)
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert (tmp_path / "out" / path.lstrip("/")).read_bytes() == b"old"
    assert ("medium m1 could not be mounted to look for backups the state database does not know: cannot read the"
            f" label {m1}/.rabtui-medium: not a label of rabtui's") in err, err
    assert not os.path.ismount(m1)


def _restored_with_m1_unlooked(tmp_path, capsys, spoil) -> str:
    """A restore of the one copy (on m2) while m1, a medium with a `device` not mounted, cannot be
    looked at (`spoil`(lab) makes it so): it goes on within a short time, names m1 (exit 3) and
    restores the copy; what it said."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("data", "standard")])
    cfg = lab.load()
    data = lab.src / "data"
    write_files(data, {"a.txt": b"old"})
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    (tmp_path / "no-file-system.img").write_bytes(b"")
    lab.on_device(lab.media[0][1], tmp_path / "no-file-system.img")
    capsys.readouterr()
    path = str(data / "a.txt")
    with spoil(lab):
        began = time.monotonic()
        assert main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
        assert time.monotonic() - began < 20
    err = capsys.readouterr().err
    assert (tmp_path / "out" / path.lstrip("/")).read_bytes() == b"old"
    assert "medium m1 could not be mounted to look for backups the state database does not know" in err, err
    return err


def test_a_device_medium_that_cannot_be_mounted_to_look_is_named(tmp_path, capsys):
    """The look at an unmounted medium with a `device` fails (no file system there): the restore says
    it could not look (exit 3), and reads the copy it knows."""
    _restored_with_m1_unlooked(tmp_path, capsys, lambda lab: nullcontext())


def test_a_device_medium_whose_mount_point_is_a_file_is_named_not_a_traceback(tmp_path, capsys):
    @contextmanager
    def a_file_at_its_path(lab):
        lab.media[0][1].rmdir()
        lab.media[0][1].write_bytes(b"")
        yield

    said = _restored_with_m1_unlooked(tmp_path, capsys, a_file_at_its_path)
    assert "does not know: file exists (" in said and "[Errno" not in said, said


def test_a_device_medium_whose_mount_lock_is_held_is_named_after_a_short_wait(tmp_path, capsys, monkeypatch):
    """Another process mounting or unmounting it (a backup's, a hung mount): the look, which the
    restore does not need, is not waited for as long as a medium's own mount is (10 minutes)."""
    monkeypatch.setattr(unknown_backups, "LOOK_WAIT", 0.5, raising=False)

    @contextmanager
    def its_mount_lock_held(lab):
        taken, done = threading.Event(), threading.Event()

        def hold():     # for 30 s at most: a restore that waited so long fails the test
            with locks.mounting_lock(lab.state, "m1").acquire():
                taken.set()
                done.wait(30)
        holder = threading.Thread(target=hold)
        holder.start()
        taken.wait(10)
        try:
            yield
        finally:
            done.set()
            holder.join()

    assert "mounting or unmounting medium m1" in _restored_with_m1_unlooked(tmp_path, capsys, its_mount_lock_held)
