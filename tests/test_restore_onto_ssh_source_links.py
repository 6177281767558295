"""Restore with --overwrite onto a source reached over SSH (real ssh, rsync and the test sshd) of
files there that share their inode with a file elsewhere: rsync would change the mode, owner or
xattrs of such a file in place (chmod, chown), and so of the file elsewhere too. The restore puts
each back as a new file instead, and leaves the other name as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime

import pytest

from rabtui.errors import WorkFailed
from rabtui.restore import run as R
from tests.test_restore_onto_ssh_source import _lab
from tests.sshd import start_sshd
from tests.trees import HOSTILE_NAMES, snapshot

T0 = datetime(2026, 6, 1, 3, 0)
NAMES = [b"plain", b"x" * 255] + HOSTILE_NAMES


def _state(path) -> tuple:
    st = os.lstat(path)
    xattrs = {n: os.getxattr(path, n, follow_symlinks=False) for n in os.listxattr(path, follow_symlinks=False)}
    return st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, xattrs, open(path, "rb").read()


def test_a_file_linked_outside_the_target_is_replaced_not_changed_in_place(tmp_path, sshd):
    """Files of any name with the backup's content but not its mode (or owner, or xattrs), each
    also linked from a directory the restore does not touch: the restore gives each the backup's
    mode as a new file, the names outside keep theirs; two files linked in the backup (and, on the
    source, to a third name outside) come back linked to each other; a file as the backup has it
    (with one name, or linked inside the tree or out) is left as it is. One file alone, too."""
    files = {b"d/" + n: b"data of " + n for n in NAMES}
    files |= {b"d/pair1": b"pair", b"d/sub/other": b"o", b"d/still": b"as backed up", b"d/twin": b"t",
              b"d/same": b"s"}
    lab, cfg, remote_dir = _lab(tmp_path, sshd, files)
    d = os.fsencode(remote_dir / "d")
    os.link(os.path.join(d, b"pair1"), os.path.join(d, b"sub/pair2"))
    os.link(os.path.join(d, b"twin"), os.path.join(d, b"sub/twin"))
    for n in NAMES + [b"pair1", b"sub/other"]:
        os.chmod(os.path.join(d, n), 0o644)
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    outside = os.fsencode(tmp_path / "outside")
    os.mkdir(outside)
    for i, n in enumerate(NAMES + [b"pair1", b"sub/other"]):
        os.link(os.path.join(d, n), os.path.join(outside, b"%d" % i))
        os.chmod(os.path.join(d, n), 0o600)
    os.chown(os.path.join(d, NAMES[0]), 12345, 23456)
    os.setxattr(os.path.join(d, b"sub/other"), "user.kept", b"outside's own")
    os.link(os.path.join(d, b"same"), os.path.join(outside, b"same"))
    before = {n: _state(os.path.join(outside, n)) for n in os.listdir(outside)}
    kept = {n: os.lstat(os.path.join(d, n)).st_ino for n in (b"still", b"twin", b"sub/twin", b"same")}
    res = R.restore(cfg, lab.store(), "web", os.fsdecode(d), to_source=True, overwrite=True)
    assert not res.written.problems()
    assert {n: _state(os.path.join(outside, n)) for n in os.listdir(outside)} == before
    assert snapshot(d) == {k[2:]: v for k, v in files.items()} | {b"sub/pair2": b"pair", b"sub/twin": b"t"}
    for n in NAMES + [b"pair1", b"sub/other"]:
        st = os.lstat(os.path.join(d, n))
        assert (st.st_mode & 0o7777, st.st_uid, st.st_nlink) == (0o644, 0, 2 if n == b"pair1" else 1), n
    assert os.lstat(os.path.join(d, b"pair1")).st_ino == os.lstat(os.path.join(d, b"sub/pair2")).st_ino
    assert os.listxattr(os.path.join(d, b"sub/other")) == []
    # nor is any file there as the backup has it, linked inside the tree or out
    assert {n: os.lstat(os.path.join(d, n)).st_ino for n in kept} == kept
    # a file restored alone
    one = os.path.join(d, b"plain")
    os.unlink(os.path.join(outside, b"0"))
    os.link(one, os.path.join(outside, b"0"))
    os.chmod(one, 0o666)
    before = _state(os.path.join(outside, b"0"))
    res = R.restore(cfg, lab.store(), "web", os.fsdecode(one), to_source=True, overwrite=True)
    assert not res.written.problems()
    assert _state(os.path.join(outside, b"0")) == before
    assert (os.lstat(one).st_mode & 0o7777, os.lstat(one).st_nlink) == (0o644, 1)


def test_a_restore_stopped_before_the_linked_files_are_written_says_what_it_did_not_restore(tmp_path, sshd):
    """The source's rsync fails as the files linked elsewhere are written anew (the run before the
    rest): the restore says so, names each of them as not restored, and sends nothing else."""
    runs, wrapper = tmp_path / "runs", tmp_path / "rsync-wrap"      # the second run fails (the first: a dry run)
    wrapper.write_text(f"#!/bin/sh\n[ -e '{runs}' ] || exec rsync \"$@\"\necho >> '{runs}'\n"
                       f"[ $(wc -l < '{runs}') = 2 ] || exec rsync \"$@\"\necho no room >&2; exit 11\n")
    wrapper.chmod(0o755)
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/linked\nname": b"1", "d/own": b"2"},
                                extra=f'rsync_path = "{wrapper}"\n')
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    runs.touch()
    d = remote_dir / "d"
    os.link(d / "linked\nname", tmp_path / "elsewhere")
    for f in (d / "linked\nname", d / "own"):
        f.chmod(0o600)
    with pytest.raises(R.RestoreIncomplete, match=r"rsync exit \d+: no room.*; stopped before the rest was sent") as exc:
        R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    assert exc.value.result.written.not_restored == [
        ("file", os.fsencode(d / n)[1:], why + "; rsync stopped before it")
        for n, why in (("linked\nname", "linked elsewhere too"), ("own", "only its mode, owner or attributes not the"
                                                                      " backup's, to be written anew"))]
    assert {os.stat(f).st_mode & 0o777 for f in (d / "linked\nname", d / "own", tmp_path / "elsewhere")} == {0o600}


def test_a_fifo_linked_elsewhere_refuses_the_restore(tmp_path, sshd):
    """rsync sets the mode of a FIFO (device, socket) that is there in place, whatever its options:
    one with another name outside that is not as the backup has it is refused, naming it, and
    nothing is written; one as the backup has it is left as it is (it was refused too)."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/f": b"1"})
    d = remote_dir / "d"
    os.mkfifo(d / "pipe\nname", 0o644)
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    os.link(d / "pipe\nname", tmp_path / "elsewhere")
    (d / "pipe\nname").chmod(0o600)
    (d / "f").chmod(0o600)
    with pytest.raises(WorkFailed, match=r"1 special file there \(FIFO.* other names too .*nothing written.*/d/pipe\\nname"):
        R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    assert {os.stat(p).st_mode & 0o777 for p in (tmp_path / "elsewhere", d / "f")} == {0o600}
    # one as the backup has it is left as it is, with its other name, alone or in its directory
    (d / "pipe\nname").chmod(0o644)
    for what in (d / "pipe\nname", d):
        res = R.restore(cfg, lab.store(), "web", str(what), to_source=True, overwrite=True)
        assert not res.written.problems(), res.summary
    assert os.lstat(tmp_path / "elsewhere").st_nlink == 2 and os.stat(d / "f").st_mode & 0o777 == 0o644


def test_a_symlink_linked_elsewhere_that_rsync_would_change_in_place_refuses_the_restore(tmp_path, sshd):
    """A symlink with the backup's target has its time (and owner) set in place by rsync, whatever
    its options, as a FIFO has its mode: one with another name outside (a tree copied with `cp -al`)
    is refused, naming it, and nothing is written. One with another target is made anew (the
    other name keeps its own), one as the backup has it is left as it is, and one with one name
    is set as the backup has it."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/f": b"1"})
    d = remote_dir / "d"
    for name in ("link\nname", "retargeted", "same", "alone"):
        os.symlink("f", d / name)
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    os.unlink(d / "retargeted")
    os.symlink("elsewhere's", d / "retargeted")
    for i, name in enumerate(("link\nname", "retargeted", "same")):
        os.link(d / name, tmp_path / f"elsewhere{i}", follow_symlinks=False)
    for p in (d / "link\nname", d / "alone", d / "retargeted"):
        os.utime(p, ns=(10**18, 10**18), follow_symlinks=False)
    (d / "f").chmod(0o600)
    before = [os.lstat(tmp_path / f"elsewhere{i}") for i in range(3)]
    kept = os.lstat(d / "same").st_ino
    with pytest.raises(WorkFailed, match=r"1 symlink there has other names too .*nothing written.*/d/link\\nname;"):
        R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    assert os.stat(d / "f").st_mode & 0o777 == 0o600
    os.unlink(tmp_path / "elsewhere0")
    res = R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    assert not res.written.problems()
    for i in (1, 2):
        after = os.lstat(tmp_path / f"elsewhere{i}")
        assert (after.st_mtime_ns, after.st_ino) == (before[i].st_mtime_ns, before[i].st_ino)
    assert os.readlink(tmp_path / "elsewhere1") == "elsewhere's"
    assert [os.readlink(d / n) for n in ("link\nname", "retargeted", "same", "alone")] == ["f"] * 4
    assert os.lstat(d / "same").st_ino == kept
    assert {os.lstat(d / n).st_mtime_ns for n in ("link\nname", "retargeted", "alone")}.isdisjoint({10**18})

def test_a_linked_file_that_cannot_be_written_anew_is_named_as_not_restored(tmp_path, sshd):
    """rsync on the source cannot put one of the files linked elsewhere in place (its directory
    immutable): the restore names it as not restored, though rsync said it sent it."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/stuck/a": b"1", "d/b": b"2"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    d = remote_dir / "d"
    for i, f in enumerate((d / "stuck/a", d / "b")):
        os.link(f, tmp_path / f"elsewhere{i}")
        f.chmod(0o600)
    subprocess.run(["chattr", "+i", d / "stuck"], check=True)
    try:
        with pytest.raises(R.RestoreIncomplete) as exc:
            R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    finally:
        subprocess.run(["chattr", "-i", d / "stuck"], check=True)
    w = exc.value.result.written
    assert w.not_restored == [("file", os.fsencode(d / "stuck/a")[1:], "linked elsewhere too; rsync stopped before it")]
    assert (w.files, os.stat(d / "b").st_mode & 0o777, os.stat(d / "stuck/a").st_mode & 0o777) == (1, 0o644, 0o600)


def test_a_file_restored_alone_as_the_backup_has_it_keeps_its_other_names(tmp_path, sshd):
    """A single file restored with --overwrite, as the backup has it and linked elsewhere, is left
    as it is (its other name stays one with it); one that differs only in its mode is written anew,
    and its other name keeps its own."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/same\nname": b"as backed up"})
    d = remote_dir / "d"
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    os.link(d / "same\nname", tmp_path / "elsewhere")
    kept = os.lstat(d / "same\nname").st_ino
    res = R.restore(cfg, lab.store(), "web", str(d / "same\nname"), to_source=True, overwrite=True)
    assert not res.written.problems()
    assert (os.lstat(d / "same\nname").st_ino, os.lstat(d / "same\nname").st_nlink) == (kept, 2)
    (tmp_path / "elsewhere").chmod(0o600)
    res = R.restore(cfg, lab.store(), "web", str(d / "same\nname"), to_source=True, overwrite=True)
    assert not res.written.problems() and res.written.files == 1
    assert [os.stat(p).st_mode & 0o777 for p in (d / "same\nname", tmp_path / "elsewhere")] == [0o644, 0o600]


def test_busybox_find_on_the_source_finds_the_linked_files_too(tmp_path):
    """A source whose find is busybox's (no -printf: the check's other walk): files and symlinks
    below the target with other names are found as with GNU find (a restore with --overwrite writes
    the file anew, its name elsewhere keeps its mode; a symlink rsync would change in place is
    refused), and a symlink in the restore's way is refused, named, the rest restored."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    server = start_sshd(tmp_path / "sshd")      # its own: its logins find busybox's find first
    try:
        bin_dir, ran = tmp_path / "bin", tmp_path / "busybox-ran"
        bin_dir.mkdir()
        (bin_dir / "find").write_text(f"#!/bin/sh\necho >> '{ran}'\nexec '{busybox}' find \"$@\"\n")
        (bin_dir / "find").chmod(0o755)
        (server.home / ".bashrc").write_text(f"PATH='{bin_dir}':$PATH\n")
        lab, cfg, remote_dir = _lab(tmp_path, server, {"d/sub/linked\nname": b"1", "d/own": b"2"})
        d = remote_dir / "d"
        os.symlink("own", d / "sub" / "link")
        assert lab.backup(cfg, "web", now=T0).status == "completed"
        os.link(d / "sub/linked\nname", tmp_path / "elsewhere")
        (d / "sub/linked\nname").chmod(0o600)
        os.link(d / "sub/link", tmp_path / "elsewhere-link", follow_symlinks=False)
        os.utime(d / "sub/link", ns=(10**18, 10**18), follow_symlinks=False)
        with pytest.raises(WorkFailed, match=r"1 symlink there has other names too .*/d/sub/link;"):
            R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
        assert ran.exists()
        os.unlink(tmp_path / "elsewhere-link")
        res = R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
        assert not res.written.problems()
        assert os.stat(tmp_path / "elsewhere").st_mode & 0o777 == 0o600
        assert os.stat(d / "sub/linked\nname").st_mode & 0o777 == 0o644
        shutil.rmtree(d / "sub")
        os.symlink(tmp_path / "outside", d / "sub")
        (tmp_path / "outside").mkdir()
        (d / "own").unlink()
        res = R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
        assert [os.path.basename(n) for n, _why in res.written.refused] == [b"sub"], res.written
        assert os.listdir(tmp_path / "outside") == [] and (d / "own").read_bytes() == b"2"
    finally:
        server.stop()


def test_a_failed_transfer_names_what_it_did_not_restore(tmp_path, sshd):
    """The source's rsync cannot put one file in place (its directory immutable) and goes on with
    the rest: the restore names that file as not restored, and not the ones it wrote. Its rsync
    stopped at its start (no room, say), with --overwrite: every file is named; and where it
    cannot even be asked what it did not restore, the error says so."""
    runs, wrapper = tmp_path / "runs", tmp_path / "rsync-wrap"
    lost = {"d/stuck/a\nname": b"1", "d/stuck/b": b"2"}
    # once `runs` is there, the second run fails (the first: --overwrite's dry run), and with
    # `runs-all` each after it too
    wrapper.write_text(f"#!/bin/sh\n[ -e '{runs}' ] || exec rsync \"$@\"\necho >> '{runs}'\nn=$(wc -l < '{runs}')\n"
                       f"[ $n = 2 ] || {{ [ -e '{runs}-all' ] && [ $n -gt 2 ]; }} || exec rsync \"$@\"\n"
                       f"echo no room >&2; exit 11\n")
    wrapper.chmod(0o755)
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {**lost, "d/c": b"3"}, extra=f'rsync_path = "{wrapper}"\n')
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    d = remote_dir / "d"
    for name in lost:
        (remote_dir / name).unlink()
    subprocess.run(["chattr", "+i", d / "stuck"], check=True)
    try:
        with pytest.raises(R.RestoreIncomplete, match=r"rsync exit 23") as exc:
            R.restore(cfg, lab.store(), "web", str(d), to_source=True)
    finally:
        subprocess.run(["chattr", "-i", d / "stuck"], check=True)
    w = exc.value.result.written
    named = sorted((kind, name) for kind, name, why in w.not_restored if "rsync failed before" in why and kind == "file")
    assert named == sorted(("file", os.fsencode(remote_dir / n)[1:]) for n in lost), w.not_restored
    (d / "c").unlink()
    runs.touch()
    with pytest.raises(R.RestoreIncomplete, match=r"rsync exit \d+: no room") as exc:
        R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    w = exc.value.result.written
    named = sorted((kind, name) for kind, name, why in w.not_restored if "rsync failed before" in why and kind == "file")
    assert named == sorted(("file", os.fsencode(remote_dir / n)[1:]) for n in [*lost, "d/c"]), w.not_restored
    assert not (d / "c").exists()
    # nor can the source's rsync be asked what it did not restore: the error says so
    (tmp_path / "runs-all").touch()
    runs.write_text("")
    with pytest.raises(R.RestoreIncomplete, match=r"no room.*; what it did not restore could not be looked at \(exit"):
        R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)


def test_a_mount_inside_the_target_of_a_source_kept_on_one_file_system_refuses_the_restore(tmp_path, sshd, bind_mount):
    """The source's backups stay on one file system (one_file_system) and a directory the restore
    would write is another mount there (a bind mount): rsync cannot be kept out of it, so the
    restore is refused, naming it, and nothing is written; with backups that cross into mounts (the
    default), the files are put back through it."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/mnt\nname/f": b"backup's", "d/g": b"g"},
                                extra="one_file_system = true\n")
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "f").write_bytes(b"elsewhere's")
    bind_mount(remote_dir / "d" / "mnt\nname", elsewhere)
    (remote_dir / "d" / "g").write_bytes(b"changed")
    with pytest.raises(WorkFailed, match=r"refusing to restore onto web: .*/d/mnt\\nname is another mount .*nothing written"):
        R.restore(cfg, lab.store(), "web", str(remote_dir / "d"), to_source=True, overwrite=True)
    assert (elsewhere / "f").read_bytes() == b"elsewhere's" and (remote_dir / "d" / "g").read_bytes() == b"changed"
    R.restore(cfg, lab.store(), "web", str(remote_dir / "d" / "g"), to_source=True, overwrite=True)
    assert (remote_dir / "d" / "g").read_bytes() == b"g"
    lab.config_path.write_text(lab.config_path.read_text().replace("one_file_system = true\n", ""))
    res = R.restore(lab.load(), lab.store(), "web", str(remote_dir / "d"), to_source=True, overwrite=True)
    assert not res.written.problems() and (elsewhere / "f").read_bytes() == b"backup's"


def test_an_entry_of_another_kind_at_a_directorys_or_symlinks_place_refuses_a_restore_without_overwrite(tmp_path, sshd):
    """Without --overwrite, a FIFO where the backup has a directory, or a symlink with another
    target where it has a symlink, is named before anything is written, as a file that differs is
    (rsync stopped half-way with `Not a directory`, or kept the symlink saying nothing)."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/sub\nname/f": b"1", "d/h": b"3"})
    d = remote_dir / "d"
    os.symlink("h", d / "link")
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    (d / "sub\nname/f").unlink()
    (d / "sub\nname").rmdir()
    os.mkfifo(d / "sub\nname")
    os.unlink(d / "link")
    os.symlink("elsewhere", d / "link")
    (d / "h").unlink()
    with pytest.raises(WorkFailed, match=r"2 entries exist on web already and differ: link \(.*\), sub\\nname \(.*\)"):
        R.restore(cfg, lab.store(), "web", str(d), to_source=True)
    assert sorted(os.listdir(d)) == ["link", "sub\nname"] and os.readlink(d / "link") == "elsewhere"
