"""Restore with --overwrite onto a source reached over SSH (real ssh, rsync and the test sshd)
while someone changes it between the check on the source and rsync: a hard link made to a file
there, a mount made inside the target; and two restores onto one source at once. The changes are made by the source's rsync_path wrapper as
each rsync starts, i.e. after the check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from rabtui import faults
from rabtui.errors import LockBusy
from rabtui.restore import run as R
from tests import preloaded
from tests.test_restore_onto_ssh_source import T0, _lab
from tests.test_restore_onto_ssh_source_links import NAMES, _state
from tests.held import stopped as _stopped


def test_a_link_made_after_the_check_to_a_file_whose_mode_alone_differs_keeps_its_mode(tmp_path, sshd):
    """Files of any name (255 bytes, not UTF-8, a line break) with one name at the check, the
    backup's content but not its mode, and one alone restored likewise: another name made for each
    once rsync starts (outside what is restored) keeps its mode and content; each file there is the
    backup's, written anew; one as the backup has it is left as it is."""
    outside = tmp_path / "outside"
    outside.mkdir()
    wrapper, armed = tmp_path / "rsync-wrap", tmp_path / "armed"
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {b"d/" + n: b"data of " + n for n in NAMES} | {"d/one": b"alone",
                                                                                            "d/same": b"s"},
                                extra=f'rsync_path = "{wrapper}"\n')
    d = remote_dir / "d"
    # once armed, at the first rsync's start: each file of d with one name gets another in `outside`
    wrapper.write_text("#!/bin/sh\n"
                       f"if [ -e '{armed}' ] && [ ! -e '{armed}-done' ]; then : > '{armed}-done'; for f in '{d}'/*; do\n"
                       f"  [ \"$(stat -c %h \"$f\")\" = 1 ] && ln \"$f\" '{outside}'/\"$(stat -c %i \"$f\")\"; done; fi\n"
                       'exec rsync "$@"\n')
    wrapper.chmod(0o755)
    changed = [os.path.join(os.fsencode(d), n) for n in NAMES + [b"one"]]
    for f in changed:
        os.chmod(f, 0o644)
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    for f in changed:
        os.chmod(f, 0o600)
    same = os.lstat(d / "same").st_ino
    armed.touch()
    res = R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    assert not res.written.problems()
    linked = {open(outside / n, "rb").read(): _state(outside / n)[0] & 0o7777 for n in os.listdir(outside)}
    assert len(linked) == len(changed) + 1 and {m for c, m in linked.items() if c != b"s"} == {0o600}, linked
    assert {(os.lstat(f).st_mode & 0o7777, os.lstat(f).st_nlink) for f in changed} == {(0o644, 1)}
    assert os.lstat(d / "same").st_ino == same
    one = d / "one"
    os.chmod(one, 0o600)
    os.unlink(f"{armed}-done")
    for n in os.listdir(outside):
        os.unlink(outside / n)
    res = R.restore(cfg, lab.store(), "web", str(one), to_source=True, overwrite=True)
    assert not res.written.problems()
    linked = {open(outside / n, "rb").read(): _state(outside / n)[0] & 0o7777 for n in os.listdir(outside)}
    assert linked[b"alone"] == 0o600 and (os.lstat(one).st_mode & 0o7777, os.lstat(one).st_nlink) == (0o644, 1)


def test_a_mount_made_inside_the_target_while_rsync_runs_is_said(tmp_path, sshd, bind_mount):
    """A source kept on one file system (one_file_system): a directory the restore writes is made
    another mount (a bind mount) once rsync starts, after the check found none. rsync cannot be kept
    out of it; the restore looks again when rsync is done and fails, naming the mount and what it may
    have written there."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/mnt\nname/f": b"backup's", "d/g": b"g"},
                                extra="one_file_system = true\n")
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "f").write_bytes(b"elsewhere's")
    mnt = remote_dir / "d" / "mnt\nname"
    bind_mount(tmp_path / "unused", elsewhere)      # skipped where nothing can be mounted; unmounts at the end
    wrapper, armed = tmp_path / "rsync-wrap", tmp_path / "armed"
    wrapper.write_text(f"#!/bin/sh\n[ -e '{armed}' ] && ! mountpoint -q '{mnt}' && mount --bind '{elsewhere}' '{mnt}'\n"
                       'exec rsync "$@"\n')
    wrapper.chmod(0o755)
    lab.config_path.write_text(lab.config_path.read_text().replace("one_file_system = true\n",
                                                                   f'one_file_system = true\nrsync_path = "{wrapper}"\n'))
    armed.touch()
    try:
        with pytest.raises(R.RestoreIncomplete, match=r"mnt\\nname: another mount there now \(a file system or a bind mount\), made after the check") as exc:
            R.restore(lab.load(), lab.store(), "web", str(remote_dir / "d"), to_source=True, overwrite=True)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
    assert (elsewhere / "f").read_bytes() == b"backup's"      # written through it: said, not undone
    assert "one_file_system" in exc.value.result.summary


def _held_restore(config_path, point: str, *args: str) -> subprocess.Popen:
    """`rabtui restore ARGS` in a process of its own, stopped (SIGSTOP) at the fault point `point`."""
    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(config_path), "restore", *args],
                          env={**os.environ, faults.STOP_ENV: point}, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _stopped(run.pid):
        assert run.poll() is None and time.monotonic() < deadline, f"the restore never came to {point}"
        time.sleep(0.05)
    return run


def test_a_second_restore_onto_the_source_while_one_runs_is_refused(tmp_path, sshd):
    """Two restores onto one source at once (without --overwrite): each one's rsync keeps what is
    there already only as far as it looked before the other wrote, and each counted as restored the
    files the other wrote. The second is refused, naming the first, and nothing of it is written;
    the first finishes, and a restore --to DIR meanwhile runs."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/a": b"1", "d/b": b"2"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    d = remote_dir / "d"
    (d / "a").unlink()
    first = _held_restore(lab.config_path, "restore.sending", "web", str(d), "--to-source")
    try:
        with pytest.raises(LockBusy, match=r"a restore onto web is already running since .*, pid %d" % first.pid):
            R.restore(lab.load(), lab.store(), "web", str(d), to_source=True)
        assert not (d / "a").exists()
        R.restore(lab.load(), lab.store(), "web", str(d), to=str(tmp_path / "aside"))
    finally:
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert (d / "a").read_bytes() == b"1" and "1 file," in out, out


def test_a_second_restore_into_one_directory_while_one_runs_is_refused(tmp_path, sshd):
    """Two restores --to one directory at once: the second found the first's directories not yet
    given their modes and said each was kept with 0700, and named every file the first wrote as
    one there already. It is refused, naming the first (reached by another spelling of the
    directory too); one into another directory runs."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/sub/a": b"1", "d/b": b"2"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(out, tmp_path / "also-out")
    first = _held_restore(lab.config_path, "restore.entries_put", "web", str(remote_dir / "d"), "--to", str(out))
    try:
        for to in (out, tmp_path / "also-out", str(out) + "/"):
            with pytest.raises(LockBusy, match=r"a restore into .*out is already running since .*, pid %d" % first.pid):
                R.restore(lab.load(), lab.store(), "web", str(remote_dir / "d"), to=str(to))
        R.restore(lab.load(), lab.store(), "web", str(remote_dir / "d"), to=str(tmp_path / "aside"))
    finally:
        first.send_signal(signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 0 and "not restored" not in stdout, stdout + stderr


def test_a_restore_into_slash_while_one_onto_the_same_local_source_runs_is_refused(tmp_path):
    """Onto a local source, `--to /` writes where `--to-source` does: the two at once each took
    their own lock and wrote over what the other wrote. The second is refused, naming the first."""
    from tests.trees import Lab, write_files

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"d/a": b"1", "d/b": b"2"})
    assert lab.backup(cfg, now=T0).status == "completed"
    for name in ("a", "b"):
        (lab.src / "data/d" / name).unlink()
    first = _held_restore(lab.config_path, "restore.entries_put", "loc", str(lab.src / "data/d"), "--to-source")
    try:
        with pytest.raises(LockBusy, match=r"is already running since .*, pid %d" % first.pid):
            R.restore(lab.load(), lab.store(), "loc", str(lab.src / "data/d"), to="/")
    finally:
        first.send_signal(signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stdout + stderr


def test_a_directory_filled_after_the_check_where_a_linked_file_goes_ends_the_restore(tmp_path, sshd):
    """--overwrite: an empty directory on the source where the backup has the first name of a
    hard-linked file (to be replaced), given a file once rsync starts (after the check): rsync
    keeps it (it removes no directory holding anything) and the restore ends, naming it, the
    file's other names restored linked together; rsync's incremental recursion waited there
    for ever (its keep-alives outlive io_timeout; the source's rsync is cut off after 30 s)."""
    wrapper, armed = tmp_path / "rsync-wrap", tmp_path / "armed"
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/x": b"linked", "d/other": b"o"},
                                extra=f'rsync_path = "{wrapper}"\nio_timeout = 5\n')
    wrapper.write_text('#!/bin/sh\nexec rsync "$@"\n')
    wrapper.chmod(0o755)
    d = remote_dir / "d"
    os.link(d / "x", d / "y")
    os.mkdir(d / "sub")
    os.link(d / "x", d / "sub" / "z")
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    for name in ("x", "y", "sub/z"):
        os.unlink(d / name)
    os.mkdir(d / "x")
    wrapper.write_text("#!/bin/sh\n"
                       f"if [ ! -e '{armed}' ]; then : > '{armed}'; echo theirs > '{d}/x/theirs'; fi\n"
                       'exec timeout 30 rsync "$@"\n')
    with pytest.raises(R.RestoreIncomplete) as failed:
        R.restore(cfg, lab.store(), "web", str(d), to_source=True, overwrite=True)
    named = [(kind, os.path.relpath(b"/" + path, os.fsencode(d))) for kind, path, _why in failed.value.result.written.not_restored]
    # (rsync's dry run after it itemizes a name linked already as one to be linked: `hf` either way)
    assert ("file", b"x") in named and set(named) <= {("file", b"x"), ("file", b"y"), ("file", b"sub/z")}, named
    assert os.listdir(d / "x") == ["theirs"] and (d / "x" / "theirs").read_bytes() == b"theirs\n"
    assert (d / "y").read_bytes() == b"linked" and os.path.samefile(d / "y", d / "sub" / "z")
