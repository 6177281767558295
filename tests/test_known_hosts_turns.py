"""Writes of rabtui's own known_hosts take turns: `sources trust --replace` rewrites the file (a new
file renamed over it) while another rabtui trusts another host's key (appended to the old one):
each waits for the other, so that neither line is lost. Real processes and the real test sshd;
the first is held between the write of its new file and its rename (a fault stop)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rabtui import faults, proc
from tests.test_replace_file_leftovers import ROOT, _leftovers, _stopped
from tests.trees import ssh_source_lines


def _rabtui(config, home, *args, env=None):
    env = {k: v for k, v in os.environ.items() if k not in (faults.ENV, faults.STOP_ENV)} | {"HOME": str(home)} \
        | (env or {})
    return subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(config), "sources", "trust", *args],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _holds(pid: int, path) -> bool:
    """Has the process `pid` the file `path` open (waiting for its turn on it)?"""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:       # it ended (ENOENT, or ESRCH as it is read), or closed that one meanwhile
        return False


def test_a_key_trusted_while_another_is_replaced_is_kept(tmp_path, sshd):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    # a second source on the same server, whose key is filed under another name
    (home / ".ssh" / "config").write_text("Host other\n  HostName 127.0.0.1\n  HostKeyAlias other-alias\n")
    config = tmp_path / "rabtui.toml"
    config.write_text('[rabtui]\nstate_dir = "state"\n' + "".join(
        ssh_source_lines(sshd, sid, host) + '[[sources.directories]]\npath = "/srv"\n'
        for sid, host in (("box", "127.0.0.1"), ("other", "other"))))
    config.chmod(0o600)
    old = tmp_path / "old"
    proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(old)])
    kind, blob = old.with_suffix(".pub").read_text().split()[:2]
    (tmp_path / "state").mkdir(mode=0o700)
    kh = tmp_path / "state" / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    replacing = _rabtui(config, home, "box", "--replace", "--yes", env={faults.STOP_ENV: "replace.written"})
    trusting = None
    try:
        deadline = time.monotonic() + 60
        while not _stopped(replacing.pid):
            assert replacing.poll() is None and time.monotonic() < deadline, replacing.stdout.read()
            time.sleep(0.02)
        trusting = _rabtui(config, home, "other", "--yes")
        while trusting.poll() is None and not _holds(trusting.pid, kh):   # done, or waiting its turn
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        replacing.send_signal(signal.SIGCONT)
        out = replacing.communicate(timeout=120)[0]
        said = trusting.communicate(timeout=120)[0] if trusting else ""
    assert replacing.returncode == 0 and trusting.returncode == 0, (out, said)
    lines = kh.read_text().splitlines()
    assert sorted(lines) == sorted([sshd.known_hosts_line().strip(),
                                    f"other-alias {sshd.known_hosts_line().split(' ', 1)[1].strip()}"]), lines
    assert _leftovers(kh) == []


def test_a_key_filed_under_a_name_not_in_ascii_is_trusted(tmp_path, sshd, monkeypatch, capsys):
    """A HostKeyAlias of ~/.ssh/config not in ASCII: the line was written as ASCII, and trust ended
    with a traceback (UnicodeEncodeError)."""
    from rabtui.cli import main

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host box\n  HostName 127.0.0.1\n  HostKeyAlias hôte-sûr\n")
    monkeypatch.setenv("HOME", str(home))
    config = tmp_path / "rabtui.toml"
    config.write_text('[rabtui]\nstate_dir = "state"\n' + ssh_source_lines(sshd, "box", "box")
                      + '[[sources.directories]]\npath = "/srv"\n')
    config.chmod(0o600)
    assert main(["--config", str(config), "sources", "trust", "box", "--yes"]) == 0, capsys.readouterr()
    assert (tmp_path / "state" / "known_hosts").read_text().startswith("hôte-sûr ")
    assert main(["--config", str(config), "sources", "trust", "box", "--yes"]) == 0
    assert "already trusted" in capsys.readouterr().out
