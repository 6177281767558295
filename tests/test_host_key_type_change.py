"""A host whose trusted ed25519 key is replaced by a key of another type (ECDSA here): a changed
key, refused loudly by `sources test` (paramiko) and by a backup (OpenSSH); `sources trust --yes`
never replaces it; `sources trust --replace` shows both fingerprints, asks, and then replaces."""

from __future__ import annotations

import io
import sys

import pytest

from rabtui.cli import main
from tests import preloaded
from tests.sshd import SshServer, keygen
from tests.trees import ssh_source_lines


@pytest.fixture
def swapped(tmp_path, sshd, write_config):
    """A config whose source is an sshd on its own port: first with an ed25519 host key (trusted),
    then restarted on the same port with only an ECDSA host key."""
    d = tmp_path / "sshd-swap"
    d.mkdir()
    keygen(d / "host_ed25519")
    keygen(d / "host_ecdsa", "ecdsa")
    (d / "authorized_keys").write_text(sshd.identity_file.with_suffix(".pub").read_text())
    from tests.sshd import free_port

    server = SshServer(dir=d, port=free_port(), user=sshd.user, identity_file=sshd.identity_file,
                       host_key=d / "host_ed25519")
    server.start()
    (tmp_path / "src").mkdir()
    (tmp_path / "medium").mkdir()
    path = write_config(f'[rabtui]\nstate_dir = "{tmp_path / "state"}"\n'
                        f'[[media]]\nid = "m1"\npath = "{tmp_path / "medium"}"\n'
                        + ssh_source_lines(server, "box") + f'[[sources.directories]]\npath = "{tmp_path / "src"}"\n')
    assert main(["--config", str(path), "sources", "trust", "box", "--yes"]) == 0
    old = server.fingerprint()
    server.stop()
    server.host_key = d / "host_ecdsa"
    server.start()
    try:
        yield str(path), server, old
    finally:
        server.stop()


def _medium(tmp_path) -> list:
    return sorted(p.relative_to(tmp_path) for p in (tmp_path / "medium").rglob("*"))


def test_sources_test_and_trust_yes_refuse_a_key_of_another_type(swapped, capsys, tmp_path):
    path, server, old = swapped
    kh = tmp_path / "state" / "known_hosts"
    before = kh.read_text()
    capsys.readouterr()
    assert main(["--config", path, "sources", "test", "box"]) == 1
    out = capsys.readouterr().out
    assert "HOST KEY CHANGED" in out and f"ssh-ed25519 {old}" in out and server.fingerprint() in out
    assert main(["--config", path, "sources", "trust", "box", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "HOST KEY CHANGED" in err and "--replace" in err and "Traceback" not in err
    assert kh.read_text() == before


def test_backup_over_openssh_refuses_a_key_of_another_type(swapped, tmp_path):
    path, server, old = swapped
    before = _medium(tmp_path)
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", path, "backup", "box"],
                         capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    text = done.stdout + done.stderr
    assert "HOST KEY CHANGED" in text and old in text and server.fingerprint() in text
    assert "Traceback" not in text
    assert _medium(tmp_path) == before


def test_trust_replace_shows_both_asks_and_replaces(swapped, capsys, monkeypatch, tmp_path):
    path, server, old = swapped
    kh = tmp_path / "state" / "known_hosts"
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    capsys.readouterr()
    assert main(["--config", path, "sources", "trust", "box", "--replace"]) == 1
    out = capsys.readouterr()
    assert f"ssh-ed25519 {old}" in out.out and server.fingerprint() in out.out
    assert "Replace the trusted host key" in out.err
    assert "ecdsa" not in kh.read_text()

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    assert main(["--config", path, "sources", "trust", "box", "--replace"]) == 0
    text = kh.read_text()
    assert "ecdsa" in text and "ssh-ed25519" not in text
    capsys.readouterr()
    assert main(["--config", path, "sources", "test", "box"]) == 0
