"""An archive directory's directories on a checkpoint's discs: the union's are rabtui's own (0755,
root, the time of linking, no xattrs), so a disc holds each as the newest backup the checkpoint
covers that holds it has it in its own tree (the source's mode, owner, times and xattrs then), its
verification compares them with that tree, and a restore from the discs gives them as a restore
from the medium does. Real backups over the tests' sshd, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
from datetime import datetime, timedelta

import pytest

from rabtui.cli import main
from tests.test_disc_verify_metadata import _verify
from tests.trees import Lab, burn_due, closed, made_once, ssh_source_lines, write_files

T0 = datetime(2026, 4, 1, 2, 0, 0)
OWNER = (1234, 4321) if os.geteuid() == 0 else (os.getuid(), os.getgid())
# directory -> (mode, time) the source gives it before the first backup, then before the second
DIRS = {"": (0o750, 1_000_000_000), "closed": (0o700, 1_000_000_100), "shared": (0o750, 1_000_000_200),
        "shared/deep": (0o700, 1_000_000_300), "empty": (0o750, 1_000_000_400), "gone": (0o700, 1_000_000_500)}


def _attrs(path) -> tuple:
    st = os.lstat(path)
    try:
        x = os.getxattr(path, "user.k", follow_symlinks=False)
    except OSError:
        x = None
    return oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, int(st.st_mtime), x


def _set(photos, rel: str, mode: int, when: int, step: int) -> tuple:
    path = photos / rel
    os.chmod(path, mode)
    os.chown(path, *OWNER)
    os.setxattr(path, "user.k", f"{rel or '.'} of step {step}".encode())
    os.utime(path, (when, when))
    return _attrs(path)


def _burnt(tmp_path, sshd):
    """Two backups of an archive directory over ssh, its directories given other modes, times and
    xattrs between them, `gone` removed from the source before the second (the union and the
    first backup hold it still); a checkpoint of it burnt and verified. Returns (lab, photos,
    number, the directories' attributes as the discs must hold them)."""
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    photos = lab.src / "photos"
    write_files(photos, {"closed/a.jpg": b"A", "shared/b.jpg": b"B", "shared/deep/c.jpg": b"C",
                         "gone/d.jpg": b"D"})
    (photos / "empty").mkdir()
    lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{photos}"\nkind = "archive"\n'
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
    lab.trust(sshd)
    want = {}
    for rel, (mode, when) in sorted(DIRS.items(), key=lambda d: -len(d[0])):
        want[rel] = _set(photos, rel, mode ^ 0o050, when - 99, 1)
    lab.first = dict(want)
    assert lab.backup(lab.load(), "web", now=T0).status == "completed"
    shutil.rmtree(photos / "gone")
    write_files(photos, {"shared/e.jpg": b"E"})
    for rel, (mode, when) in sorted(DIRS.items(), key=lambda d: -len(d[0])):
        if rel != "gone":
            want[rel] = _set(photos, rel, mode, when, 2)
    assert lab.backup(lab.load(), "web", now=T0 + timedelta(days=1)).status == "completed"
    number = burn_due(lab.load(), lab.store(), asked={"*"}, verified=True)
    return lab, photos, number, want


@pytest.fixture(scope="module")
def _burnt_made(tmp_path_factory, sshd):
    def make(live):
        lab, photos, number, want = _burnt(live, sshd)
        closed(lab)
        return photos, number, want, lab.first

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def burnt(_burnt_made):
    """What _burnt makes, anew for each test (made once for the module): its lab is in lab.tmp,
    its images in lab.tmp / "iso"."""
    (photos, number, want, first), made = _burnt_made
    lab = Lab(made.anew(), media_count=1)
    lab.first = dict(first)
    return lab, photos, number, dict(want)


def _restored(lab, photos, out, *more: str, skip: str = "") -> dict[str, tuple]:
    assert main(["--config", str(lab.config_path), "restore", "web", str(photos), "--to", str(out), *more]) == 0
    top = out / str(photos).lstrip("/")
    if skip:
        assert stat.S_ISLNK(os.lstat(top / skip).st_mode)
    return {rel: _attrs(top / rel) for rel in DIRS if not skip or rel != skip}


def test_a_restore_from_the_discs_gives_each_directory_as_the_backups_had_it(burnt, tmp_path):
    """A 0700 or 0750 directory owned by a user, with an xattr and a time of its own, comes back
    from the discs so (not 0755, root's, the time of linking, without the xattr), as from the
    medium; one the newest backup lacks (removed from the source) as the older one had it."""
    lab, photos, number, want = burnt
    from_medium = _restored(lab, photos, tmp_path / "from-medium")
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    assert _restored(lab, photos, tmp_path / "from-discs", "--checkpoint", str(number)) == want
    assert from_medium == want


@pytest.mark.parametrize("rel, change, named", [
    ("shared/deep", lambda p: os.utime(p, (1_200_000_000, 1_200_000_000)), "(mtime 2001-09-09"),
    ("closed", lambda p: os.chmod(p, 0o755), "(mode 0700, backed up 0755)"),
    ("shared", lambda p: os.setxattr(p, "user.k", b"other"), "(xattr user.k "),
])
def test_a_disc_is_compared_with_the_backups_own_directories(burnt, rel, change, named):
    """Verification compares a disc's archive directories with the backup's own tree, as it does
    a standard directory's: one changed there since the burn fails the disc by name (its xattrs
    against the plan's record, said as changed in the backup after the plan)."""
    lab, photos, number, _want = burnt
    store = lab.store()
    backup = store.one("SELECT path FROM backups WHERE source='web' ORDER BY id DESC LIMIT 1")
    change(os.path.join(backup["path"], "data", str(photos).lstrip("/"), rel))
    why = _verify(lab.load(), store, number)
    assert "verification failed" in why and f"/{rel} {named}" in why, why


def test_a_symlink_planted_in_a_backup_in_place_of_a_directory_is_not_followed(burnt, tmp_path):
    """The newest backup's own tree with a symlink where a directory was (put there on the medium)
    hands over nothing of the directory it points to: the checkpoint takes the directory as the
    older backup has it, its verification compares it with that one, and a restore from the discs
    gives it so. (A restore from the medium gives that backup's own entry there, the symlink itself.)"""
    lab, photos, _number, want = burnt
    store = lab.store()
    newest = store.one("SELECT path FROM backups WHERE source='web' ORDER BY id DESC LIMIT 1")["path"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o777)
    os.setxattr(elsewhere, "user.k", b"elsewhere")
    closed = os.path.join(newest, "data", str(photos).lstrip("/"), "closed")
    assert os.listdir(closed) == []      # its file is read from the older backup, that saved it
    os.rmdir(closed)
    os.symlink(elsewhere, closed)
    os.utime(os.path.dirname(closed), (DIRS[""][1], DIRS[""][1]))    # as it was before
    number = burn_due(lab.load(), store, asked={"*"}, verified=True)
    want = {**want, "closed": lab.first["closed"]}
    from_medium = _restored(lab, photos, tmp_path / "from-medium", skip="closed")
    assert from_medium == {rel: v for rel, v in want.items() if rel != "closed"}
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    assert _restored(lab, photos, tmp_path / "from-discs", "--checkpoint", str(number)) == want


def test_a_backup_gone_since_the_plan_fails_no_disc_for_its_directories(burnt, tmp_path):
    """The backup whose own tree a verified disc's archive directories were read from, its data/
    folder gone since (a cleanup deletes a backup no unfinished checkpoint reads files from): the
    older backup that still holds them has them otherwise, and a verification again does not fail
    the disc for that (it said their xattrs changed in the backup after the plan); it passes them
    over and says so."""
    lab, photos, number, _want = burnt
    store = lab.store()
    newest = store.one("SELECT path FROM backups WHERE source='web' ORDER BY id DESC LIMIT 1")["path"]
    shutil.move(os.path.join(newest, "data"), tmp_path / "data-away")
    prompter_text = _verify(lab.load(), store, number)
    assert "verification failed" not in prompter_text, prompter_text
    row = store.one("SELECT * FROM discs WHERE number=? AND disc=1", (number,))
    said = " ".join(str(v) for v in dict(row).values() if v)
    assert "not checked" in said and "mode, owner and time of 5 directories" in said, said


def test_a_backup_gone_between_plan_and_burn_is_named(burnt, tmp_path):
    """`closed` removed from the source before a third backup: the plan reads it in the second
    backup's own tree. That backup deleted before the burn (retention keeps only the backups the
    discs' files are read from): the burn writes nothing and names the directory and the backup
    gone, rather than saying its xattrs changed in the backup (they did not) or writing it as
    another backup has it."""
    from rabtui.checkpoint import prepare, run
    from rabtui.events import READY, ScriptedPrompter

    lab, photos, _number, _want = burnt
    shutil.rmtree(photos / "closed")
    assert lab.backup(lab.load(), "web", now=T0 + timedelta(days=2)).status == "completed"
    cfg, store = lab.load(), lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    second = store.one("SELECT path FROM backups WHERE source='web' ORDER BY id DESC LIMIT 1 OFFSET 1")["path"]
    shutil.move(os.path.join(second, "data"), tmp_path / "data-away")
    asked = ScriptedPrompter(lambda q: READY)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=asked)
    said = res.message + " ".join(q.text for q in asked.asked)
    assert res.status != "completed" and "/photos/closed: checkpoint 2 was planned" in said, said
    assert f"backup {second} held them, and that backup has been deleted since" in said, said
    assert not list((lab.tmp / "iso").glob("RAB2*")), "nothing is written"


@pytest.mark.parametrize("planted", ["data", "backup"])
def test_a_symlink_planted_in_place_of_a_backups_data_folder_is_not_followed(burnt, tmp_path, planted):
    """The older backup's data/ folder (or its whole directory) on the medium replaced by a symlink
    to a copy in which `gone` (that only that backup holds) is 0777 with another xattr: nothing of
    it goes onto the discs, nor comes back from them or from the medium (a restore as root would
    make it world-writable)."""
    lab, photos, _number, _want = burnt
    store = lab.store()
    first = store.one("SELECT path FROM backups WHERE source='web' ORDER BY id LIMIT 1")["path"]
    moved = os.path.join(first, "data") if planted == "data" else first
    elsewhere = tmp_path / "elsewhere"
    subprocess.run(["cp", "-a", moved, str(elsewhere)], check=True)
    gone = (elsewhere if planted == "data" else elsewhere / "data") / str(photos).lstrip("/") / "gone"
    os.chmod(gone, 0o777)
    os.setxattr(gone, "user.k", b"planted")
    shutil.move(moved, tmp_path / "moved-away")
    os.symlink(elsewhere, moved)
    number = burn_due(lab.load(), store, asked={"*"})
    got = _restored(lab, photos, tmp_path / "from-medium")["gone"]
    assert got[0] != "0o777" and got[4] != b"planted", got
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    got = _restored(lab, photos, tmp_path / "from-discs", "--checkpoint", str(number))["gone"]
    assert got[0] != "0o777" and got[4] != b"planted", got


def test_retention_keeps_the_backups_a_plan_read_directories_in_until_the_checkpoint_is_done(burnt, tmp_path):
    """`closed` given another mode before a third backup (which saves no file), removed before a
    fourth, a fifth as the fourth: a plan of the fifth reads `closed` in the third backup's own
    tree. A cleanup before the burn keeps the third (it deleted it: no file of the discs is read
    there, and the burn was refused) and deletes the fourth (nothing read there, and no longer
    named by the plan); once the checkpoint is done, the third goes."""
    from rabtui.checkpoint import prepare, run
    from rabtui.events import READY, ScriptedPrompter

    lab, photos, _number, _want = burnt
    os.chmod(photos / "closed", 0o710)
    assert lab.backup(lab.load(), "web", now=T0 + timedelta(days=2)).status == "completed"
    shutil.rmtree(photos / "closed")
    for day in (3, 4):
        assert lab.backup(lab.load(), "web", now=T0 + timedelta(days=day)).status == "completed"
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    ids = [r["id"] for r in store.all("SELECT id FROM backups WHERE source='web' ORDER BY id")]
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    later = (T0 + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    assert main(["--config", str(lab.config_path), "cleanup", "--now", later]) == 0

    def standing() -> list[int]:
        return [r["id"] for r in store.all("SELECT id FROM backups WHERE source='web' AND status<>'deleted' ORDER BY id")]

    assert ids[2] in standing() and ids[3] not in standing(), (ids, standing())
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    assert _restored(lab, photos, tmp_path / "out", "--checkpoint", str(number))["closed"][0] == "0o710"
    assert main(["--config", str(lab.config_path), "cleanup", "--now", later]) == 0
    assert ids[2] not in standing()
