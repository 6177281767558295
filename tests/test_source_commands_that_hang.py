"""A source whose SSH login works but whose commands then hang (a shell start-up file waiting for
input, a hung file system): the check on the source before a restore onto it ends by the source's
io_timeout (nothing from it for that long), and `sources test` says that `whoami` hung, not the
login. Real ssh to a test sshd whose forced command holds the matching commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from rabtui.cli import main
from rabtui.ssh import endpoint
from tests.sshd import ssh_children_to, start_sshd
from tests.trees import Lab, ssh_source_lines, write_files

T0 = datetime(2026, 6, 1, 3, 0)


@pytest.fixture(scope="module")
def holding_sshd(tmp_path_factory):
    """An sshd whose commands that contain the text in `server.hold` (none while it is empty) wait
    instead of running, silent, until their session ends (30 s at most): a command that hangs once
    logged in."""
    where = tmp_path_factory.mktemp("holding")
    server = start_sshd(where / "sshd")
    server.hold = where / "hold"
    server.hold.write_text("")
    forced = where / "forced"
    forced.write_text('#!/bin/sh\nh=$(cat "$1")\n'
                      'if [ -n "$h" ]; then case "$SSH_ORIGINAL_COMMAND" in *"$h"*)\n'
                      '  i=0; while [ $i -lt 30 ] && kill -0 $PPID 2>/dev/null; do sleep 1; i=$((i+1)); done; exit 0;;\n'
                      'esac; fi\n'
                      'exec sh -c "$SSH_ORIGINAL_COMMAND"\n')
    forced.chmod(0o755)
    keys = server.dir / "authorized_keys"
    keys.write_text(f'command="{forced} {server.hold}" ' + keys.read_text())
    yield server
    server.stop()


def test_a_check_on_a_source_that_hangs_ends_by_its_io_timeout(tmp_path, holding_sshd, capsys):
    """The check for symlinks before a restore onto the source prints nothing: the restore fails
    after io_timeout (2 s here), said so, instead of waiting a fixed 600 s."""
    lab = Lab(tmp_path, media_count=1)
    remote_dir = tmp_path / "remote"
    write_files(remote_dir, {"f": b"1"})
    cfg = lab.write(ssh_source_lines(holding_sshd) + "io_timeout = 2\n"
                    + f'[[sources.directories]]\npath = "{remote_dir}"\n')
    lab.trust(holding_sshd)
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    holding_sshd.hold.write_text("alone")     # a word of the check's script
    try:
        started = time.monotonic()
        code = main(["--config", str(lab.config_path), "restore", "web", str(remote_dir / "f"), "--to-source",
                     "--overwrite"])
        took = time.monotonic() - started
    finally:
        holding_sshd.hold.write_text("")
    err = capsys.readouterr().err
    assert code == 1 and "nothing from it for 2 s (io_timeout)" in err and "nothing written" in err, err
    assert took < 20, took
    assert not ssh_children_to(holding_sshd.port)


def test_the_walk_below_the_destination_says_it_is_alive_for_each_directory(tmp_path):
    """The check's walk of a large tree below the destination may find no symlink for longer than
    io_timeout: it prints a record for each directory it enters (`.` for an empty one, `,PATH` for
    one holding anything), so that only a source saying nothing at all is stopped; the symlinks are
    listed as before, and `=` ends the answer."""
    from rabtui.restore.source_check import SOURCE_CHECK

    for i in range(3):
        (tmp_path / "t" / f"d{i}" / "e").mkdir(parents=True)
    os.symlink("/etc", tmp_path / "t" / "d1" / "ln")
    done = subprocess.run(["sh", "-c", SOURCE_CHECK, "sh", "-r", str(tmp_path / "t")], capture_output=True,
                          check=True)
    records = [p for p in done.stdout.split(b"\0") if p]
    assert records[-1] == b"=" and records.count(b".") == 3, records
    assert sorted(p for p in records if p.startswith(b",")) == [b",%s/t/d%d" % (os.fsencode(tmp_path), i)
                                                                for i in range(3)], records
    assert [p for p in records if p.startswith(b"/")] == [os.fsencode(tmp_path / "t" / "d1" / "ln")], records


def test_sources_test_says_that_whoami_hung_not_the_login(tmp_path, holding_sshd, monkeypatch, capsys):
    """The login works and `whoami` after it does not end: the test of the source says so, not that
    the SSH login did not end (which sends the operator to look at the port)."""
    monkeypatch.setattr(endpoint, "CONNECT_TIMEOUT", 2)
    lab = Lab(tmp_path, media_count=1)
    lab.write(ssh_source_lines(holding_sshd) + '[[sources.directories]]\npath = "/etc"\n')
    lab.trust(holding_sshd)
    holding_sshd.hold.write_text("whoami")
    try:
        code = main(["--config", str(lab.config_path), "sources", "test", "web"])
    finally:
        holding_sshd.hold.write_text("")
    out = capsys.readouterr().out
    assert code == 1 and "logged in, but `whoami` there did not end" in out and "login did not end" not in out, out
    assert not ssh_children_to(holding_sshd.port)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to run the check as another user)")
def test_a_directory_below_that_the_ssh_user_cannot_read_refuses_the_restore():
    """find cannot list a directory below the destination (the SSH user may not read it, while rsync
    runs as root through rsync_path): a symlink there would go unseen, so the restore is refused,
    said, as one on the way that cannot be checked is; its failure was taken as nothing found."""
    from rabtui.restore.source_check import SOURCE_CHECK

    base = Path(tempfile.mkdtemp(prefix="rabtui-check-", dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "shut").mkdir(mode=0o700)
        os.symlink("/etc", base / "shut" / "ln")
        done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               "sh", "-c", SOURCE_CHECK, "sh", "-r", str(base)], capture_output=True)
    finally:
        shutil.rmtree(base)
    assert done.returncode == 4 and b"Permission denied" in done.stderr and b"=" not in done.stdout.split(b"\0"), done
