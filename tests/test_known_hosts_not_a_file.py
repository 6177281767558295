"""A known_hosts that is not a regular file (a FIFO, a socket, a device other than /dev/null) is
refused with a message naming it and a non-zero exit, never opened in a way that waits for a writer:
`sources trust` and the host-key check of `sources test` (a backup's) hung on a FIFO for good. One
planted as a symlink where rabtui's own file is, is never written through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import preloaded
from tests.test_replace_file_leftovers import ROOT
from tests.test_sources_cli import conf  # noqa: F401  (the fixture)


def _rabtui(config, *args):
    run = preloaded.run([sys.executable, "-m", "rabtui", "--config", config, "sources", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize("where", ["own", "user's"])
def test_a_known_hosts_fifo_is_refused_not_waited_on(conf, tmp_path, where):  # noqa: F811
    config = conf()
    (tmp_path / "state").mkdir(mode=0o700)
    fifo = tmp_path / "state" / "known_hosts" if where == "own" else Path(os.path.expanduser("~/.ssh/known_hosts"))
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo, 0o600)
    for args in (("trust", "box", "--yes"), ("test", "box")):
        try:
            code, out = _rabtui(config, *args)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`sources {args[0]}` waited on the FIFO {fifo}")
        assert code == 1 and f"{fifo} is not a regular file (a FIFO)" in out, out
        assert "Traceback" not in out
    assert fifo.is_fifo()


def test_a_user_known_hosts_linked_to_dev_null_reads_as_empty(conf, tmp_path, sshd):  # noqa: F811
    """`ln -s /dev/null ~/.ssh/known_hosts` (no keys kept there) is read as empty, as ssh reads it."""
    config = conf()
    user = os.path.expanduser("~/.ssh/known_hosts")
    os.makedirs(os.path.dirname(user), exist_ok=True)
    os.symlink("/dev/null", user)
    code, out = _rabtui(config, "trust", "box", "--yes")
    assert code == 0, out
    assert (tmp_path / "state" / "known_hosts").read_text() == sshd.known_hosts_line()


def test_a_symlink_planted_as_rabtuis_known_hosts_is_not_written_through(conf, tmp_path):  # noqa: F811
    config = conf()
    (tmp_path / "state").mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("root's own\n")
    (tmp_path / "state" / "known_hosts").symlink_to(victim)
    code, out = _rabtui(config, "trust", "box", "--yes")
    assert code == 1 and f"{tmp_path / 'state' / 'known_hosts'} is not a regular file (a symlink)" in out, out
    assert victim.read_text() == "root's own\n"


@pytest.mark.parametrize("kind", ["directory", "socket", "device"])
def test_other_files_that_are_not_regular_are_refused_naming_what_they_are(tmp_path, kind):
    import socket

    from rabtui.errors import WorkFailed
    from rabtui.ssh import known_hosts

    path = tmp_path / "known_hosts"
    if kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
    else:
        path.symlink_to("/dev/zero")    # read until memory ends
    with pytest.raises(WorkFailed, match=f"{path} is not a regular file \\(a {kind if kind != 'device' else 'character device'}\\)"):
        known_hosts.read([path])
