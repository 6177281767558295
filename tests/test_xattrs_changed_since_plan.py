"""An entry whose xattrs were set, changed or removed in the backup on the medium after the
checkpoint was planned: the disc would hold them so and pass its verification (which compares
xattrs with the medium as it is), holding xattrs the backup never had. The plan sums each entry's
xattrs (disc_files.xattr_sum); the burn compares them before the disc is begun, and nothing is
written. Nothing changed, every kind of entry passes. Real backups, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from rabtui.events import READY, REWRITE
from tests import fidelity
from tests.test_attrs_changed_since_plan import _failed, _failed_changed_as_written, _on_medium
from tests.test_checkpoint import _burn, _lab, _record
from tests.trees import write_files


def _with_xattr(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000, "g": 500})
    os.setxattr(lab.src / "data" / "f", "user.x", b"as backed up")
    os.symlink("f", lab.src / "data" / "link")
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    return lab, cfg, store, _record(lab, cfg, store)


CHANGES = {
    "set": ("data/g", lambda p: os.setxattr(p, "user.y", b"set since")),
    "changed": ("data/f", lambda p: os.setxattr(p, "user.x", b"changed since")),
    "removed": ("data/f", lambda p: os.removexattr(p, "user.x")),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_xattrs_changed_on_the_medium_after_the_plan_are_found_before_the_disc_is_written(tmp_path, change):
    lab, cfg, store, number = _with_xattr(tmp_path)
    name, make = CHANGES[change]
    make(_on_medium(lab, name))
    res, failed = _failed(lab, cfg, store, number)
    assert f"{name} (its xattrs changed in the backup on the medium after the checkpoint was planned" \
           in failed.text, failed.text
    assert "nothing was written" in failed.text and "xattrs the backup never had" in failed.text, failed.text
    assert "getfattr -d" in failed.text, failed.text
    assert REWRITE not in failed.choices, failed.choices
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


def test_a_security_xattr_set_on_a_symlink_on_the_medium_after_the_plan_is_found(tmp_path):
    if not fidelity.is_root():
        pytest.skip("only root sets an xattr on a symlink")
    lab, cfg, store, number = _with_xattr(tmp_path)
    os.setxattr(_on_medium(lab, "data/link"), "security.rabtui", b"set since", follow_symlinks=False)
    _res, failed = _failed(lab, cfg, store, number)
    assert "data/link (its xattrs changed in the backup" in failed.text, failed.text


def test_a_plan_recorded_before_xattrs_were_summed_compares_none(tmp_path):
    lab, cfg, store, number = _with_xattr(tmp_path)
    store.execute("UPDATE disc_files SET xattr_sum=NULL WHERE number=?", (number,))
    os.setxattr(_on_medium(lab, "data/g"), "user.y", b"set since")
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message


def test_every_kind_of_entry_planned_then_burnt_unchanged_passes(tmp_path):
    """Files with user., security. (a capability) and trusted. xattrs, an ACL'd file and directory,
    hard links, symlinks, a FIFO and (as root) device nodes: each summed, none found changed."""
    lab, cfg = _lab(tmp_path)
    fidelity.build(lab.src / "data")
    os.unlink(lab.src / "data" / fidelity.SOCKET_NAME)
    os.unlink(lab.src / "data" / fidelity.SPARSE_NAME)    # 40 MB: more discs than the test needs
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    summed = {bytes(r[0]).rsplit(b"/data/", 1)[-1]: bytes(r[1]) for r in store.all(
        "SELECT disc_path, xattr_sum FROM disc_files WHERE number=? AND xattr_sum IS NOT NULL", (number,))}
    assert summed[b"etc/conf"] and summed[b"run/fifo"] == b"" and b"etc/absolute-link" in summed, summed
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_xattrs_changed_on_the_medium_as_the_disc_is_written_fail_it_offering_no_rewrite(tmp_path, monkeypatch,
                                                                                        change):
    """Changed after the burn looked, before xorriso read them: the disc holds them as the medium
    does, and only the plan's sum tells them from the backup's."""
    lab, cfg, store, number = _with_xattr(tmp_path)
    name, make = CHANGES[change]
    res, failed = _failed_changed_as_written(lab, cfg, store, number, monkeypatch,
                                             lambda: make(_on_medium(lab, name)))
    assert "verification failed" in failed.text, failed.text
    assert f"{name} (its xattrs changed in the backup on the medium after the checkpoint was planned)" \
           in failed.text, failed.text
    assert REWRITE not in failed.choices and "ACLs or xattrs" in failed.text, failed.text
    assert res.status == "aborted"


def test_an_archive_entry_whose_xattrs_alone_a_backup_changed_after_the_plan_is_read_where_saved_as_planned(
        tmp_path):
    """A backup made while the plan waited saves anew, into the union, a file or FIFO of an archive
    directory whose xattrs alone changed on the source (its size and time the same): the disc is
    written from the backup that holds it as planned, as one only chmod-ed is, not refused."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 100})
    write_files(lab.src / "other", {"o": 100})
    entries = {"other/o": "user.x"}
    if fidelity.is_root():      # only root sets an xattr but of user. on a FIFO
        os.mkfifo(lab.src / "other" / "fifo")
        entries["other/fifo"] = "security.rabtui"
    for name, attr in entries.items():
        os.setxattr(lab.src / name, attr, b"as-planned")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    for name, attr in entries.items():
        os.setxattr(lab.src / name, attr, b"saved-after-the-plan")
    assert lab.backup(cfg).status == "completed"
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    [iso] = (lab.tmp / "iso").glob("*.iso")
    listed = subprocess.run(["xorriso", "-no_rc", "-xattr", "any", "-indev", str(iso), "-find", "/", "-name", "o",
                             "-or", "-name", "fifo", "-exec", "getfattr", "--"], capture_output=True, check=True).stdout
    assert listed.count(b'="as-planned"') == len(entries) and b"saved-after" not in listed, listed


def test_an_archive_device_node_a_backup_saved_anew_with_other_numbers_after_the_plan_is_read_where_saved(
        tmp_path):
    """Made again on the source with other numbers, its mode, owner and time kept, and saved so
    into the union by a backup made while the plan waited: the disc holds the numbers planned."""
    if not fidelity.is_root():
        pytest.skip("only root makes device nodes")
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 100})
    node = lab.src / "other" / "node"
    node.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    st = node.stat(follow_symlinks=False)
    node.unlink()
    os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    os.utime(node, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    assert lab.backup(cfg).status == "completed"
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    [iso] = (lab.tmp / "iso").glob("*.iso")
    listed = subprocess.run(["xorriso", "-no_rc", "-indev", str(iso), "-find", "/", "-name", "node", "-exec", "lsdl",
                             "--"], capture_output=True, check=True).stdout
    assert b" 1,3 " in listed, listed


TRUSTED = {
    "set": ("data/g", lambda p: os.setxattr(p, "trusted.y", b"set since")),
    "changed": ("data/f", lambda p: os.setxattr(p, "trusted.x", b"changed since")),
    "removed": ("data/f", lambda p: os.removexattr(p, "trusted.x")),
}


def _with_trusted(tmp_path):
    """As _with_xattr, data/f holding a trusted.* xattr too (only root sets and reads them; a disc
    written by root holds them, and a restore as root gives them back)."""
    if not fidelity.is_root():
        pytest.skip("only root reads trusted.* xattrs")
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000, "g": 500})
    os.setxattr(lab.src / "data" / "f", "trusted.x", b"as backed up")
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    return lab, cfg, store, _record(lab, cfg, store)


@pytest.mark.parametrize("change", sorted(TRUSTED))
def test_trusted_xattrs_changed_on_the_medium_after_the_plan_are_found_before_the_disc_is_written(tmp_path, change):
    lab, cfg, store, number = _with_trusted(tmp_path)
    name, make = TRUSTED[change]
    make(_on_medium(lab, name))
    res, failed = _failed(lab, cfg, store, number)
    assert f"{name} (its xattrs changed in the backup on the medium after the checkpoint was planned" \
           in failed.text, failed.text
    assert res.status == "aborted" and not list((lab.tmp / "iso").glob("*.iso*"))


@pytest.mark.parametrize("change", sorted(TRUSTED))
def test_trusted_xattrs_changed_on_the_medium_as_the_disc_is_written_fail_it(tmp_path, monkeypatch, change):
    lab, cfg, store, number = _with_trusted(tmp_path)
    name, make = TRUSTED[change]
    res, failed = _failed_changed_as_written(lab, cfg, store, number, monkeypatch,
                                             lambda: make(_on_medium(lab, name)))
    assert "verification failed" in failed.text, failed.text
    assert f"{name} (its xattrs changed in the backup on the medium after the checkpoint was planned)" \
           in failed.text, failed.text
    assert REWRITE not in failed.choices
    assert res.status == "aborted"


def test_a_plan_recorded_before_trusted_xattrs_were_summed_compares_none_of_them(tmp_path):
    lab, cfg, store, number = _with_trusted(tmp_path)
    store.execute("UPDATE disc_files SET trusted_sum=NULL WHERE number=?", (number,))
    os.setxattr(_on_medium(lab, "data/g"), "trusted.y", b"set-since")
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    [iso] = (lab.tmp / "iso").glob("*.iso")
    listed = subprocess.run(["xorriso", "-no_rc", "-xattr", "any", "-indev", str(iso), "-find", "/", "-name", "g",
                             "-exec", "getfattr", "--"], capture_output=True, check=True).stdout
    assert b'trusted.y="set-since"' in listed, listed


def test_a_disc_whose_trusted_xattr_is_not_as_planned_fails_its_verification_with_the_medium_away(tmp_path):
    """Its trusted.* xattr changed on the disc, every medium away: the plan's sum of them tells, and
    nothing is said of the backup on the medium, which was not read."""
    import threading

    from rabtui.checkpoint import run
    from rabtui.events import SKIP, ScriptedPrompter
    from tests.test_disc_verify_metadata import alter

    lab, cfg, store, number = _with_trusted(tmp_path)
    res, _prompter, _seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    [iso] = [p for p in (lab.tmp / "iso").glob("*.iso") if p.name.endswith("D01.iso")]
    on_disc = "/data/loc/" + str(lab.src / "data").lstrip("/") + "/f"
    alter(iso, "-setfattr", "trusted.x", "changed on the disc", on_disc, "--")
    for m in [p for p in lab.tmp.iterdir() if p.name.startswith("m")]:
        m.rename(m.with_name(m.name + "-away"))
    prompter = ScriptedPrompter([READY, SKIP])
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=prompter)
    assert out.verified == [], out.message
    said = prompter.asked[-1].text
    assert "data/f (its xattrs on the disc are not those recorded when the checkpoint was planned)" in said, said
    assert "on the medium" not in said, said
