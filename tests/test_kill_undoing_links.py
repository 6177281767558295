"""A run killed while it undoes an interrupted backup's archive links (as it puts an older backup's
version of a file back in the union): the next run finishes the undoing, the union showing again
what the complete backups saved, nothing lost, nothing left under a temporary name."""

from __future__ import annotations

import os
from datetime import datetime

from rabtui.media import medium_layout
from tests import invariants
from tests.test_kill_anywhere import _copy, _files, _killed, _local_lab, rabtui


def test_kill_while_an_older_version_is_put_back_in_the_union(tmp_path):
    lab, cfg = _local_lab(tmp_path)
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    copies = {b1["id"]: _copy(lab, cfg)}
    _files(lab.src / "arch", {"x": b"x2" * 120, "y": b"y2"})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    # the next run undoes the killed one's links, and is killed as it puts b1's x back
    _killed(rabtui(lab, "backup", "loc", point="backup.union_linking"))
    os.unlink(lab.src / "arch" / "x")     # only b1 holds x from now on: the union shows its version
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    copies[newest["id"]] = _copy(lab, cfg)
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(lab.src / "arch"))
    assert sorted(os.listdir(union)) == ["x", "y"]
    assert (union / "x").read_bytes() == b"x1" * 100
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)


def test_a_source_file_named_like_a_temporary_link_stays_when_a_killed_run_is_undone(tmp_path):
    """The undoing of a run killed as it linked its files into the union removes its links under
    temporary names, never a file of the source of such a name: one an older backup saved alone,
    nor one the killed run saved anew."""
    lab, cfg = _local_lab(tmp_path)
    alone, anew = ".rabtui-link-0123456789abcdef", ".rabtui-link-fedcba9876543210"
    _files(lab.src / "arch", {alone: b"older only", anew: b"first"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    copies = {b1["id"]: _copy(lab, cfg)}
    os.unlink(lab.src / "arch" / alone)
    _files(lab.src / "arch", {anew: b"second", "x": b"x2" * 120})
    for point in ("backup.union_linking", "backup.archive_linked"):
        _killed(rabtui(lab, "backup", "loc", point=point))
    os.unlink(lab.src / "arch" / anew)
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    copies[newest["id"]] = _copy(lab, cfg)
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(lab.src / "arch"))
    assert sorted(os.listdir(union)) == sorted([alone, anew, "x", "y"])
    assert (union / alone).read_bytes() == b"older only" and (union / anew).read_bytes() == b"first"
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)


def test_a_killed_runs_file_where_an_older_backup_has_an_empty_directory_is_undone(tmp_path):
    """The union holds no empty directory of a backup: a file of a killed run at that path is there
    alone, and its undoing removes it (a directory is no version to put back)."""
    lab, cfg = _local_lab(tmp_path)
    (lab.src / "arch" / "e").mkdir()
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    copies = {b1["id"]: _copy(lab, cfg)}
    os.rmdir(lab.src / "arch" / "e")
    _files(lab.src / "arch", {"e": b"a file now"})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    os.unlink(lab.src / "arch" / "e")
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "cannot link" not in after.stdout + after.stderr
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    copies[newest["id"]] = _copy(lab, cfg)
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(lab.src / "arch"))
    assert not (union / "e").is_file()
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)


def test_a_killed_run_the_state_database_does_not_know_is_undone_before_the_next_backup(tmp_path):
    """A run killed as its files were linked into the union, then the state database lost (made anew
    by the next run, or rebuilt while the medium was offsite): the next backup onto the medium
    undoes that run first, as the recovery of a run the database knows does, and saves the file
    itself; also when it starts in the second that run did (its name, as the database gives it, is
    that run's: it was taken for that run's row). The union kept the killed run's link: the backup took the file for saved and left it
    out, rebuild-state recorded the killed run abandoned, and a restore brought the version before."""
    lab, cfg = _local_lab(tmp_path)
    assert rabtui(lab, "backup", "loc").returncode == 0
    _files(lab.src / "arch", {"x": b"x2" * 120})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    killed = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    for path in lab.state.glob("rabtui.db*"):      # lost: made anew by the next run
        os.unlink(path)
    # started in the second the killed run was (a clock set back): the name the database gives it is
    # that run's, and it is the one that takes another
    when = datetime.strptime(killed["name"].removeprefix("backup-")[:14], "%Y%m%d%H%M%S")
    after = lab.backup(cfg, now=when)
    assert after.status == "completed", after.reason
    assert any(f"found the interrupted backup {killed['name']} on medium m1" in m for m in lab.messages("warning"))
    store = lab.store()
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    arch = str(lab.src / "arch")
    assert (medium_layout.backup_data_path(newest["path"], arch) / "x").read_bytes() == b"x2" * 120
    rebuilt = rabtui(lab, "rebuild-state")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    invariants.check_catalog_is_media(cfg, lab.store())
    restored = tmp_path / "out"
    done = rabtui(lab, "restore", "loc", arch + "/x", "--to", str(restored))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (restored / arch.lstrip("/") / "x").read_bytes() == b"x2" * 120


def test_a_symlink_a_killed_run_made_a_directory_of_the_union_comes_back(tmp_path):
    """A symlink of an older backup that the source replaced by a directory of files, made a
    directory of the union by a run killed once its files were linked there: undoing that run puts
    the symlink back, also when that undoing is killed as it links it (nothing left under a
    temporary name). The union kept an empty directory for good (a directory wins over a symlink
    there), and a restore of the directory brought one where the source and every backup had the
    symlink."""
    import shutil

    lab, cfg = _local_lab(tmp_path)
    arch = lab.src / "arch"
    os.symlink("x", arch / "e")
    assert rabtui(lab, "backup", "loc").returncode == 0
    os.unlink(arch / "e")
    _files(arch, {"e/f": b"f2"})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(arch))
    assert (union / "e").is_dir() and not (union / "e").is_symlink()
    # the next run undoes it, and is killed as it links the symlink back (the directory removed)
    _killed(rabtui(lab, "backup", "loc", point="backup.union_linking"))
    shutil.rmtree(arch / "e")
    os.symlink("x", arch / "e")             # the source has its symlink again
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    assert os.readlink(union / "e") == "x"
    assert sorted(os.listdir(union)) == ["e", "x", "y"]     # nothing under a temporary name
    invariants.check_catalog_is_media(cfg, lab.store())
    out = tmp_path / "out"
    done = rabtui(lab, "restore", "loc", str(arch), "--to", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert os.readlink(out / str(arch).lstrip("/") / "e") == "x"



def test_a_cleanup_killed_as_it_puts_an_older_version_back_leaves_no_temporary_link_in_the_union(tmp_path):
    """A cleanup deleting a killed run (marked abandoned by an earlier rabtui while its medium was
    away) is killed as it puts the older backup's version of a file back in the union: no link under
    a temporary name is in the union then, for a checkpoint (which takes an archive directory from its union) to burn as
    a file of the source, and the next cleanup leaves none anywhere on the medium. The killed run's
    own version is still in the union then: a checkpoint is refused until it is undone (it burnt it)."""
    from datetime import timedelta

    import pytest

    from rabtui.errors import WorkFailed
    from tests.test_kill_anywhere import _backed_up_on_m1, _killed_then_away
    from tests.trees import burn_due

    lab, cfg, store, copies = _backed_up_on_m1(tmp_path)
    _files(lab.src / "arch", {"x": b"x2" * 10})
    _killed_then_away(lab, cfg, "loc", copies, earlier=True)
    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    _killed(rabtui(lab, "cleanup", "--now", later, point="backup.union_linking"))
    arch = str(lab.src / "arch")
    union = medium_layout.archive_root(lab.media[0][1], "loc", arch)
    assert "x" in os.listdir(union)
    staged = medium_layout.linking_dir(lab.media[0][1], "loc")
    assert [n for n in os.listdir(staged) if n.startswith(".rabtui-link-")]     # killed there
    cfg = lab.with_discs("4MiB", [("data", "standard"), ("arch", "archive")])
    m2 = lab.media[1][1]
    os.rename(m2, tmp_path / "medium2-away")        # the checkpoint takes the directories from m1
    assert (union / "x").read_bytes() == b"x2" * 10      # the killed run's, which no complete backup on m1 holds
    with pytest.raises(WorkFailed, match="marked abandoned while its medium was away"):
        burn_due(cfg, store, asked={"*"})
    os.rename(tmp_path / "medium2-away", m2)
    assert not [n for _, dirs, files in os.walk(union) for n in dirs + files if n.startswith(".rabtui-link-")]

    cleanup = rabtui(lab, "cleanup", "--now", later)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert (union / "x").read_bytes() == b"x1"
    left = [os.path.join(d, n) for d, dirs, files in os.walk(lab.media[0][1]) for n in dirs + files
            if n.startswith(".rabtui-link-")]
    assert not left, left
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_backups_hold(cfg, store, copies)
