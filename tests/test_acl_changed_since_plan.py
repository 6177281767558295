"""A file's ACL changed in the backup on the medium after the checkpoint was planned, its mode kept
(a named user replaced by another, the mask the same): the disc would hold an ACL the backup never
had and pass its verification, which compares ACLs with the medium as it is. The plan's xattr sum
holds the access ACL (system.posix_acl_access) as the kernel gives it and the disc lists it, so the
burn refuses it before the disc is begun, and verification finds one changed as the disc is
written. Nothing changed, an ACL'd file passes, and so do one whose ACL is only the mode's and a
source backed up without ACLs. Real backups, real setfacl, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import subprocess

import pytest

from rabtui.checkpoint import xattr_sum
from rabtui.events import READY, REWRITE
from tests.test_attrs_changed_since_plan import _failed, _failed_changed_as_written, _on_medium
from tests.test_checkpoint import _burn, _lab, _record
from tests.test_xattrs_changed_since_plan import CHANGES, _with_xattr
from tests.trees import write_files

PLANNED = "u::rw,u:54321:r,g::r,g:54330:r,m::r,o::r"     # named user and group, the mask r: mode 0644
SINCE = "u::rw,u:54322:r,g::r,g:54330:r,m::r,o::r"       # another user named, the mode and mask the same


def _setfacl(path, acl: str) -> None:
    subprocess.run(["setfacl", "--set", acl, str(path)], check=True, capture_output=True)


def _acl_listed(iso, name: str) -> bytes:
    return subprocess.run(["xorriso", "-no_rc", "-acl", "on", "-indev", str(iso), "-find", "/", "-name", name,
                           "-exec", "getfacl", "--"], capture_output=True, check=True).stdout


def _with_acl(tmp_path, acls: str = ""):
    lab, cfg = _lab(tmp_path)
    if acls:
        cfg = lab.write(lab._local_source([("data", "standard"), ("other", "archive")], acls, "loc")
                        + f'\n[checkpoint]\ndisc = "{cfg.checkpoint.disc}"\ndrive = "images:{lab.tmp / "iso"}"\n'
                        + "max_discs = 64\n")
    write_files(lab.src / "data", {"f": 1000, "base": 500, "plain": 300})
    os.chmod(lab.src / "data" / "f", 0o644)
    _setfacl(lab.src / "data" / "f", PLANNED)
    _setfacl(lab.src / "data" / "base", "u::rw,g::r,o::r")     # the mode's alone: the kernel keeps no xattr
    os.symlink("f", lab.src / "data" / "link")
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    return lab, cfg, store, _record(lab, cfg, store)


def _changed_keeping_mode(lab) -> None:
    f = _on_medium(lab, "data/f")
    mode = f.stat().st_mode
    _setfacl(f, SINCE)
    assert f.stat().st_mode == mode


def test_an_acl_changed_on_the_medium_after_the_plan_its_mode_kept_is_found_before_the_disc_is_written(tmp_path):
    lab, cfg, store, number = _with_acl(tmp_path)
    _changed_keeping_mode(lab)
    res, failed = _failed(lab, cfg, store, number)
    assert "data/f (its xattrs changed in the backup on the medium after the checkpoint was planned" \
           in failed.text, failed.text
    assert "nothing was written" in failed.text and "getfacl" in failed.text, failed.text
    assert REWRITE not in failed.choices, failed.choices
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


def test_an_acl_changed_on_the_medium_as_the_disc_is_written_fails_it_offering_no_rewrite(tmp_path, monkeypatch):
    lab, cfg, store, number = _with_acl(tmp_path)
    res, failed = _failed_changed_as_written(lab, cfg, store, number, monkeypatch, lambda: _changed_keeping_mode(lab))
    assert "verification failed" in failed.text, failed.text
    assert "data/f (its xattrs changed in the backup on the medium after the checkpoint was planned)" \
           in failed.text, failed.text
    assert REWRITE not in failed.choices
    assert res.status == "aborted"


def test_acld_files_planned_then_burnt_unchanged_pass(tmp_path):
    """A named user and group with their mask, an ACL of the mode's entries alone (no xattr), a
    symlink beside them: summed, burnt and verified."""
    lab, cfg, store, number = _with_acl(tmp_path)
    assert os.listxattr(_on_medium(lab, "data/base")) == []
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    [iso] = (lab.tmp / "iso").glob("*.iso")
    assert b"user:54321:r--" in _acl_listed(iso, "f") and b"group:54330:r--" in _acl_listed(iso, "f")


def test_a_source_backed_up_without_acls_is_burnt_without_them(tmp_path):
    lab, cfg, store, number = _with_acl(tmp_path, "acls = false\n")
    assert "system.posix_acl_access" not in os.listxattr(_on_medium(lab, "data/f"))
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message


def test_an_archive_file_whose_acl_alone_a_backup_changed_after_the_plan_is_read_where_saved_as_planned(tmp_path):
    """A backup made while the plan waited saves anew, into the union, a file of an archive directory
    whose ACL alone changed on the source: the disc is written from the backup holding it as planned."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 100})
    write_files(lab.src / "other", {"o": 100})
    os.chmod(lab.src / "other" / "o", 0o644)
    _setfacl(lab.src / "other" / "o", PLANNED)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    _setfacl(lab.src / "other" / "o", SINCE)
    assert lab.backup(cfg).status == "completed"
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    [iso] = (lab.tmp / "iso").glob("*.iso")
    listed = _acl_listed(iso, "o")
    assert b"user:54321:r--" in listed and b"54322" not in listed, listed


def test_a_mask_changed_on_the_medium_after_the_plan_is_said_as_its_acl(tmp_path):
    """The mode's group bits follow the mask: said as the ACL changed, with the mask to give back."""
    lab, cfg, store, number = _with_acl(tmp_path)
    subprocess.run(["setfacl", "-m", "m::rw", str(_on_medium(lab, "data/f"))], check=True)
    res, failed = _failed(lab, cfg, store, number)
    assert "data/f (its ACL changed in the backup on the medium after the checkpoint was planned" \
           in failed.text, failed.text
    assert "setfacl -m m::r--" in failed.text, failed.text
    assert res.status == "aborted"


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_an_entry_showing_no_xattrs_where_the_plan_summed_some_is_told_of_a_medium_mounted_without_them(
        tmp_path, change):
    """ext4 mounted `nouser_xattr` (where a kernel takes it) shows none: the hint says to mount it
    with user_xattr, where the entry shows none at all or its file system refuses user.* ones."""
    lab, cfg, store, number = _with_xattr(tmp_path)
    name, make = CHANGES[change]
    make(_on_medium(lab, name))
    _res, failed = _failed(lab, cfg, store, number)
    assert "give it back on the medium the xattrs it had" in failed.text, failed.text
    assert ("mount it again with `user_xattr` as well" in failed.text) == (change == "removed"), failed.text


def test_a_file_system_refusing_user_xattrs_is_told_from_one_lacking_the_xattr_asked(tmp_path):
    """xattr_sum.users_refused: ENODATA where user.* xattrs are taken (this file system), ENOTSUP where
    they are not (vfat, as ext4 mounted nouser_xattr answers)."""
    from tests.test_media_fat import fat_mounted

    write_files(tmp_path, {"f": 10})
    assert not xattr_sum.users_refused(os.fsencode(tmp_path / "f"))
    (tmp_path / "fat").mkdir()
    with fat_mounted(tmp_path / "fat", "vfat") as fat:
        write_files(fat, {"g": 10})
        assert xattr_sum.users_refused(os.fsencode(fat / "g"))
