"""What a restore onto a source reached over SSH (real ssh, rsync and the test sshd) says when it
is refused or stops: each entry in the way named, by what it is, and a transfer whose end cannot be
looked at names what it may have left undone."""

from __future__ import annotations

import os
import subprocess

import pytest

from rabtui.errors import WorkFailed
from rabtui.restore import run as R
from tests.test_restore_onto_ssh_source import T0, _lab


def test_directories_in_the_way_are_not_called_files(tmp_path, sshd):
    """Without --overwrite, where the backup has a symlink and the source an empty directory, or a
    file and the source a directory holding files: the refusal names both (the second as rsync says
    it: it itemizes none such), and calls no directory a file; nothing is written."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/x": b"backup's", "d/keep": b"k"})
    d = remote_dir / "d"
    os.symlink("keep", d / "l")
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    os.unlink(d / "l")
    os.mkdir(d / "l")
    os.unlink(d / "x")
    os.makedirs(d / "x" / "inner")
    (d / "x" / "inner" / "z").write_bytes(b"theirs")
    with pytest.raises(WorkFailed) as exc:
        R.restore(cfg, lab.store(), "web", str(d), to_source=True)
    said = str(exc.value)
    assert "file exist" not in said and "files exist" not in said, said
    assert ("2 entries exist on web already and differ: l (another target, or not a symlink, there),"
            " x (a directory holding files there)") in said, said
    assert sorted(os.listdir(d)) == ["keep", "l", "x"] and (d / "x" / "inner" / "z").read_bytes() == b"theirs"


def test_a_transfer_whose_end_cannot_be_looked_at_names_what_it_may_have_left(tmp_path, sshd):
    """rsync on the source stops at once (no room, say) and the dry run that would tell what it did
    not restore fails too: the restore names the directory it restored as possibly not restored,
    with why, where it named nothing."""
    wrapper = tmp_path / "rsync-wrap"
    failing = tmp_path / "failing"
    # once `failing` is there, each run after the first (--overwrite's dry run before) fails
    wrapper.write_text(f"#!/bin/sh\n[ -e '{failing}' ] || exec rsync \"$@\"\n"
                       f"[ -s '{failing}' ] || {{ echo 1 > '{failing}'; exec rsync \"$@\"; }}\necho no room >&2; exit 11\n")
    wrapper.chmod(0o755)
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/a": b"1", "d/sub/b": b"2"}, extra=f'rsync_path = "{wrapper}"\n')
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    d = remote_dir / "d"
    (d / "a").unlink()
    failing.touch()
    with pytest.raises(R.RestoreIncomplete, match=r"no room") as exc:
        R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    w = exc.value.result.written
    assert [(kind, name) for kind, name, _why in w.not_restored] == [("directory", os.fsencode(d)[1:])], w.not_restored
    assert "could not be looked at" in w.not_restored[0][2]
    assert "2 not restored" in exc.value.result.summary, exc.value.result.summary


def test_a_file_rsync_cannot_make_way_for_is_named_as_not_restored(tmp_path, sshd):
    """With --overwrite, where the backup has a file and the source a directory holding files,
    rsync cannot put the file in place (it deletes no directory that is not empty): the check
    finds the directory, rsync leaves the file out, and the restore names it as not restored
    (kept), and nothing else, as a local restore does (exit 3). The directory and its files stay."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/x\nname": b"backup's", "d/k": b"k"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    d = remote_dir / "d"
    (d / "x\nname").unlink()
    os.makedirs(d / "x\nname" / "inner")
    (d / "x\nname" / "inner" / "z").write_bytes(b"theirs")
    (d / "k").unlink()
    got = R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    w = got.written
    assert [(kind, name) for kind, name, _why in w.not_restored] == [("file", os.fsencode(d / "x\nname")[1:])], w
    assert ("a directory holding files was there when the restore looked (before rsync ran) where the backup has"
            " a file; kept") in w.not_restored[0][2], w
    assert not w.errors and (d / "k").read_bytes() == b"k" and "could not be looked at" not in got.summary
    assert (d / "x\nname" / "inner" / "z").read_bytes() == b"theirs"


def test_a_directory_emptied_after_the_check_is_not_said_to_hold_files(tmp_path, sshd, monkeypatch):
    """The directory holding files where the backup has a file is emptied after the check, before
    rsync: it is left out all the same (the check is what rsync's rules are made of), and the
    restore says what it saw and when, not that a directory holding files is there."""
    from rabtui import faults

    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/x": b"backup's", "d/k": b"k"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    d = remote_dir / "d"
    (d / "x").unlink()
    (d / "x").mkdir()
    (d / "x" / "z").write_bytes(b"theirs")
    real_point = faults.point

    def emptied(name):
        if name == "restore.sending" and (d / "x" / "z").exists():
            (d / "x" / "z").unlink()
        real_point(name)

    monkeypatch.setattr(faults, "point", emptied)
    w = R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True).written
    [(kind, name, why)] = w.not_restored
    assert (kind, name) == ("file", os.fsencode(d / "x")[1:]) and "is there" not in why, why
    assert "was there when the restore looked (before rsync ran)" in why and "restore again" in why, why


def test_a_file_rsync_could_not_put_in_place_is_not_counted_restored(tmp_path, sshd):
    """With --overwrite, a file on the source that rsync cannot replace (immutable: its new copy is
    not renamed over it, exit 23): named as not restored, and counted as restored too ("1 file"):
    rsync names each file as it begins to send it."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/a": b"1", "d/b": b"backup's"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    d = remote_dir / "d"
    (d / "a").unlink()
    (d / "b").write_bytes(b"theirs, changed")
    subprocess.run(["chattr", "+i", str(d / "b")], check=True)
    try:
        with pytest.raises(R.RestoreIncomplete) as exc:
            R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    finally:
        subprocess.run(["chattr", "-i", str(d / "b")], check=True)
    w = exc.value.result.written
    assert (d / "a").read_bytes() == b"1" and (d / "b").read_bytes() == b"theirs, changed"
    assert ("file", os.fsencode(d / "b")[1:]) in [(kind, name) for kind, name, _why in w.not_restored], w
    assert (w.files, w.bytes) == (1, 1), exc.value.result.summary
