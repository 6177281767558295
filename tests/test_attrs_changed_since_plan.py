"""An entry of a disc whose mode (or ACL) changed in the backup on the medium after the checkpoint
was planned: found before the disc is written, from the lstat the burn makes of each entry, and
nothing written; changed while the disc is written, said at its verification as changed since the
plan (an empty directory as a file), no rewrite offered, which would read the medium as it is.
Real backups, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from rabtui.checkpoint import burn, questions
from rabtui.events import ABORT, READY, REWRITE
from tests import fidelity
from tests.test_checkpoint import _burn, _lab, _record
from tests.trees import sandbox_fixtures, write_files


def _one_disc(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000})
    os.makedirs(lab.src / "data" / "empty")
    write_files(lab.src / "other", {"o": b"x"})
    os.makedirs(lab.src / "other" / "empty")     # an archive's: read in its backup's own tree
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    assert store.one("SELECT discs FROM checkpoints WHERE number=?", (number,))["discs"] == 1
    return lab, cfg, store, number


_sandbox_made, one_disc = sandbox_fixtures(_one_disc, "one_disc")


def _on_medium(lab, name: str):
    [found] = (lab.media[0][1] / "loc").glob(f"backup-*/data/**/src/{name}")
    return found


def _failed(lab, cfg, store, number):
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    return res, next(q for q in prompter.asked if q.kind == questions.FAILED)


def _failed_changed_as_written(lab, cfg, store, number, monkeypatch, change):
    """The disc failed, `change` made on the medium after the burn looked at it, before xorriso read it."""
    write_disc = burn.write_disc

    def change_then_write(*args, **kw):
        change()
        return write_disc(*args, **kw)

    monkeypatch.setattr(burn, "write_disc", change_then_write)
    return _failed(lab, cfg, store, number)


def _cut_short(f) -> None:
    """truncate, then touch -r: its size changed, its time kept."""
    st = f.stat()
    os.truncate(f, 500)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))


def _parted(g) -> None:
    """A hard link's name made a copy of its own, its mode, owner, time and size kept."""
    shutil.copy2(g, g.with_name(g.name + ".tmp"))
    os.rename(g.with_name(g.name + ".tmp"), g)


@pytest.mark.parametrize("name", ["data/f", "data/empty", "other/empty"])
def test_an_entry_chmod_ed_on_the_medium_after_the_plan_is_found_before_its_disc_is_written(one_disc, name):
    lab, cfg, store, number = one_disc
    _on_medium(lab, name).chmod(0o700)
    res, failed = _failed(lab, cfg, store, number)
    assert f"{name} (its mode changed in the backup on the medium after the checkpoint was planned" \
           in failed.text, failed.text
    assert "nothing was written" in failed.text and "mode 0" in failed.text, failed.text
    assert "exFAT" not in failed.text, failed.text     # a medium that keeps modes: a chmod puts it back
    assert REWRITE not in failed.choices, failed.choices
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


@pytest.mark.parametrize("name", ["data/f", "data/empty", "other/empty"])
def test_an_entry_chmod_ed_on_the_medium_as_its_disc_is_written_fails_it_offering_no_rewrite(one_disc, monkeypatch,
                                                                                            name):
    """Chmod-ed after the burn looked at it, before xorriso read it: the disc holds the new mode,
    and every rewrite would (an empty directory's was offered a rewrite for ever)."""
    lab, cfg, store, number = one_disc
    write_disc = burn.write_disc

    def chmod_then_write(*args, **kw):
        _on_medium(lab, name).chmod(0o700)
        return write_disc(*args, **kw)

    monkeypatch.setattr(burn, "write_disc", chmod_then_write)
    res, failed = _failed(lab, cfg, store, number)
    assert "verification failed" in failed.text, failed.text
    assert f"{name} (its mode changed in the backup on the medium after the checkpoint was planned)" \
           in failed.text, failed.text
    assert REWRITE not in failed.choices and "rewrite would fail the same way" in failed.text, failed.text
    assert res.status == "aborted"


def test_an_acl_set_on_the_medium_after_the_plan_is_said_so_not_a_mode_changed(one_disc):
    """Its mode's group bits show the ACL's mask: the ACL changed, not the mode by a chmod."""
    lab, cfg, store, number = one_disc
    try:
        os.setxattr(_on_medium(lab, "data/f"), "system.posix_acl_access", fidelity.ACCESS_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    _res, failed = _failed(lab, cfg, store, number)
    assert "data/f (its ACL changed in the backup on the medium after the checkpoint was planned" in failed.text, \
        failed.text
    assert "nothing was written" in failed.text and "`setfacl -b` removes an ACL set since" in failed.text, failed.text
    os.removexattr(_on_medium(lab, "data/f"), "system.posix_acl_access")
    _on_medium(lab, "data/f").chmod(0o664)     # the group bits alone, with no ACL: a chmod
    _res, failed = _failed(lab, cfg, store, number)
    assert "data/f (its mode changed in the backup" in failed.text, failed.text


def test_the_mask_of_an_acl_changed_on_the_medium_after_the_plan_is_said_as_its_acl_changed(tmp_path):
    """The ACL the backup saved, its mask changed on the medium since (setfacl -m m::r): the mode's
    group bits show the mask, and the ACL is said changed, with how to give it the mask recorded."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000})
    try:
        os.setxattr(lab.src / "data" / "f", "system.posix_acl_access", fidelity.ACCESS_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    subprocess.run(["setfacl", "-m", "m::r", str(_on_medium(lab, "data/f"))], check=True)
    res, failed = _failed(lab, cfg, store, number)
    assert "data/f (its ACL changed in the backup on the medium after the checkpoint was planned" in failed.text, \
        failed.text
    assert "`setfacl -m m::rwx`" in failed.text and "exFAT" not in failed.text, failed.text
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


def test_a_file_whose_size_changed_on_the_medium_its_time_kept_is_found_before_its_disc_is_written(one_disc):
    """Cut short and its time set back (truncate, touch -r): the disc would fail its verification, and
    so would every rewrite, read from the medium as it is."""
    lab, cfg, store, number = one_disc
    _cut_short(_on_medium(lab, "data/f"))
    res, failed = _failed(lab, cfg, store, number)
    assert "data/f (its size changed in the backup on the medium after the checkpoint was planned" in failed.text, \
        failed.text
    assert "nothing was written" in failed.text and "size 1000 bytes" in failed.text, failed.text
    assert REWRITE not in failed.choices, failed.choices
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


def test_a_file_cut_short_on_the_medium_as_its_disc_is_written_fails_it_offering_no_rewrite(one_disc, monkeypatch):
    lab, cfg, store, number = one_disc
    res, failed = _failed_changed_as_written(lab, cfg, store, number, monkeypatch,
                                             lambda: _cut_short(_on_medium(lab, "data/f")))
    assert "data/f (its size changed in the backup on the medium after the checkpoint was planned)" \
           in failed.text, failed.text
    assert REWRITE not in failed.choices and "rewrite would fail the same way" in failed.text, failed.text
    assert res.status == "aborted"


@pytest.mark.parametrize("change", ["FIFO's mode", "FIFO's owner", "symlink's owner"])
def test_an_archive_s_fifo_or_symlink_a_later_backup_saved_anew_its_time_kept_is_written_as_the_plan_found_it(
        tmp_path, change):
    """Chmod-ed or chown-ed on the source after the plan, its time the same: the next backup saves it
    anew and the union shows that copy; the backup the plan read still holds it as recorded, and the
    disc is written from that one (the union's was taken, and the disc refused for ever)."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000})
    write_files(lab.src / "other", {"o": b"x"})
    os.mkfifo(lab.src / "other" / "fifo", 0o644)
    os.symlink("o", lab.src / "other" / "link")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    entry = lab.src / "other" / ("link" if change == "symlink's owner" else "fifo")
    st = os.lstat(entry)
    if change == "FIFO's mode":
        os.chmod(entry, 0o600)
    else:
        os.lchown(entry, 4321, 4321)
    os.utime(entry, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    assert lab.backup(cfg).status == "completed"
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    assert res.status == "completed", [q.text for q in prompter.asked if q.kind == questions.FAILED]


def test_a_file_before_1970_a_plan_recorded_cut_toward_zero_is_written_and_verified(tmp_path):
    """A checkpoint planned before times were floored recorded -1.5 s as -1 (int()), the medium holding
    -2: its verification takes that for the recorded time, and so does the check before the disc is
    written (it refused the disc as its time changed, for ever)."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000})
    os.utime(lab.src / "data" / "f", ns=(-1_500_000_000, -1_500_000_000))
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    assert store.execute("UPDATE disc_files SET mtime=-1 WHERE mtime=-2 AND number=?", (number,)).rowcount == 1
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.FAILED else READY)
    assert res.status == "completed", [q.text for q in prompter.asked if q.kind == questions.FAILED]


@pytest.mark.parametrize("change", ["parted", "joined"])
def test_files_linked_otherwise_on_the_medium_after_the_plan_are_found_before_their_disc_is_written(tmp_path, change):
    """Hard links parted (one name copied apart, its mode, owner, time and size kept) or made between
    two files alike on the medium: the disc would hold them so and fail its verification, a rewrite
    offered that failed the same way."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": b"f" * 1000, "h": b"h" * 1000})
    os.utime(lab.src / "data" / "h", ns=(os.stat(lab.src / "data" / "f").st_atime_ns,
                                          os.stat(lab.src / "data" / "f").st_mtime_ns))
    os.link(lab.src / "data" / "f", lab.src / "data" / "g")
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    f, g, h = (_on_medium(lab, f"data/{name}") for name in "fgh")
    if change == "parted":
        _parted(g)
    else:
        os.link(f, h.with_name("h.tmp"))
        os.rename(h.with_name("h.tmp"), h)
    res, failed = _failed(lab, cfg, store, number)
    said = {"parted": "data/g (not hard-linked to ", "joined": " (hard-linked to "}[change]
    assert said in failed.text and "its hard links changed in the backup on the medium after the checkpoint was" \
           " planned" in failed.text and "nothing was written" in failed.text, failed.text
    assert REWRITE not in failed.choices, failed.choices
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


def test_a_symlink_pointed_elsewhere_on_the_medium_after_the_plan_is_found_before_its_disc_is_written(tmp_path):
    """Its mode, owner and kind the same (a symlink's time is not compared): the disc would hold the
    new target and fail its verification, a rewrite offered that failed the same way."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000})
    os.symlink("f", lab.src / "data" / "link")
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    link = _on_medium(lab, "data/link")
    os.symlink("/etc/shadow", link.with_name("link.tmp"))
    os.rename(link.with_name("link.tmp"), link)
    res, failed = _failed(lab, cfg, store, number)
    assert "data/link (its target changed in the backup on the medium after the checkpoint was planned" \
           in failed.text and "nothing was written" in failed.text and "target 'f'" in failed.text, failed.text
    assert REWRITE not in failed.choices, failed.choices
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


def test_a_device_node_made_anew_with_other_numbers_on_the_medium_after_the_plan_is_found_before_its_disc_is_written(
        tmp_path):
    """rm and mknod with other numbers, its mode, owner and time kept: the disc would hold numbers
    the backup never had (its verification reads none)."""
    lab, cfg, store, number = _with_device_node(tmp_path)
    _made_anew(_on_medium(lab, "data/null"))
    res, failed = _failed(lab, cfg, store, number)
    assert "data/null (its device numbers changed in the backup on the medium after the checkpoint was planned" \
           in failed.text and "nothing was written" in failed.text and "device 1,3" in failed.text, failed.text
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


def test_a_device_node_made_anew_with_other_numbers_as_its_disc_is_written_fails_it_offering_no_rewrite(
        tmp_path, monkeypatch):
    """As root its verification extracts the node and compares its numbers with the plan's."""
    lab, cfg, store, number = _with_device_node(tmp_path)
    res, failed = _failed_changed_as_written(lab, cfg, store, number, monkeypatch,
                                             lambda: _made_anew(_on_medium(lab, "data/null")))
    assert "data/null (its device numbers changed in the backup on the medium after the checkpoint was planned)" \
           in failed.text, failed.text
    assert REWRITE not in failed.choices, failed.choices
    assert res.status == "aborted"


def _with_device_node(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000})
    os.mknod(lab.src / "data" / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    return lab, cfg, store, _record(lab, cfg, store)


def _made_anew(node) -> None:
    """rm, then mknod with other numbers, its mode, owner and time kept."""
    st = os.lstat(node)
    os.unlink(node)
    os.mknod(node, st.st_mode, os.makedev(1, 5))
    os.utime(node, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_hard_link_parted_on_the_medium_as_its_disc_is_written_fails_it_offering_no_rewrite(tmp_path, monkeypatch):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000})
    os.link(lab.src / "data" / "f", lab.src / "data" / "g")
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    res, failed = _failed_changed_as_written(lab, cfg, store, number, monkeypatch,
                                             lambda: _parted(_on_medium(lab, "data/g")))
    assert "data/g (its hard links changed in the backup on the medium after the checkpoint was planned)" \
           in failed.text, failed.text
    assert REWRITE not in failed.choices and "The hard links of" in failed.text, failed.text
    assert res.status == "aborted"
