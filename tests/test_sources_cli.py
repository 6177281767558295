"""`rabtui sources list|test|trust` through rabtui.cli.main, against the real test sshd."""

from __future__ import annotations

import getpass
import io
import json
import textwrap

import pytest

from rabtui import proc
from rabtui.cli import main
from tests.sshd import free_port
from tests.trees import ssh_source_lines


@pytest.fixture
def conf(write_config, sshd):
    """Writes the config of the source `box` on the test sshd, then `extra_sources` (TOML); its path."""
    def make(*extra_sources: str, state_dir: str = "state") -> str:
        text = (f'[rabtui]\nstate_dir = "{state_dir}"\n\n' + ssh_source_lines(sshd, "box")
                + '\n[[sources.directories]]\npath = "/srv/data"\n')
        for s in extra_sources:
            text += textwrap.dedent(s)
        return str(write_config(text))

    return make


LOCAL = """
            [[sources]]
            id = "here"

            [[sources.directories]]
            path = "/etc"
            kind = "archive"
"""


def closed(port: int) -> str:
    return f"""
            [[sources]]
            id = "down"
            host = "127.0.0.1"
            port = {port}
            user = "nobody"
"""


def test_list(conf, capsys, sshd):
    path = conf(LOCAL)
    assert main(["--config", path, "sources", "list"]) == 0
    out = capsys.readouterr().out
    assert f"box   {sshd.user}@127.0.0.1:{sshd.port}  /srv/data (standard)" in out
    assert "here  local machine  /etc (archive)" in out
    assert main(["sources", "list", "--json", "--config", path]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in data] == ["box", "here"] and data[0]["port"] == sshd.port


def test_list_escapes_terminal_controls_in_paths_and_json_keeps_them(conf, capsys):
    """A directory written with \\u escapes (a title-setting OSC, a bell): shown as `ls -b` shows it,
    so that listing the sources sets no terminal's title and moves no cursor."""
    path = conf(LOCAL.replace('path = "/etc"', 'path = "/srv/x\\u001b]0;owned\\u0007y"'))
    assert main(["--config", path, "sources", "list"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out, out
    assert "here  local machine  /srv/x\\033]0;owned\\ay (archive)" in out
    assert main(["--config", path, "sources", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[1]["directories"][0]["path"] == "/srv/x\x1b]0;owned\x07y"


def test_test_unknown_key_prints_fingerprint_and_the_trust_command(conf, capsys, sshd):
    path = conf(LOCAL)
    assert main(["--config", path, "sources", "test"]) == 1
    out = capsys.readouterr().out
    box = next(line for line in out.splitlines() if line.startswith("box "))
    assert "FAILED" in box and sshd.fingerprint() in box
    assert "rabtui sources trust box" in out
    here = next(line for line in out.splitlines() if line.startswith("here "))
    assert "ok" in here and f"whoami: {getpass.getuser()}" in here and " s)" in here


def test_trust_with_yes_then_test_succeeds(conf, capsys, sshd, tmp_path):
    path = conf()
    assert main(["--config", path, "sources", "trust", "box", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"127.0.0.1 port {sshd.port}" in out and "ssh-ed25519" in out and sshd.fingerprint() in out
    assert (tmp_path / "state" / "known_hosts").read_text() == sshd.known_hosts_line()
    assert (tmp_path / "state" / "known_hosts").stat().st_mode & 0o777 == 0o600   # rabtui's own, as all its state
    assert main(["--config", path, "sources", "test", "box"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("box  ok  ") and f"whoami: {sshd.user}" in out
    # once more: already known, nothing written
    assert main(["--config", path, "sources", "trust", "box"]) == 0
    assert "already trusted" in capsys.readouterr().out
    assert (tmp_path / "state" / "known_hosts").read_text().count("\n") == 1


def test_trust_before_the_key_to_log_in_with_is_made(write_config, capsys, sshd, tmp_path):
    """The README's first steps trust a source's host key before its key is copied there: the
    trust stops before authentication, and a missing identity_file refused it as unreachable."""
    key = tmp_path / "not-made-yet"
    path = str(write_config(f'[rabtui]\nstate_dir = "state"\n\n[[sources]]\nid = "box"\nhost = "{sshd.host}"\n'
                            f'port = {sshd.port}\nuser = "{sshd.user}"\nidentity_file = "{key}"\n\n'
                            '[[sources.directories]]\npath = "/srv/data"\n'))
    assert main(["--config", path, "sources", "trust", "box", "--yes"]) == 0, capsys.readouterr().err
    assert (tmp_path / "state" / "known_hosts").read_text() == sshd.known_hosts_line()
    capsys.readouterr()
    assert main(["--config", path, "sources", "test", "box"]) == 1      # logging in still needs it
    assert f"identity file {key} does not exist" in capsys.readouterr().out


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_trust_asks_and_no_writes_nothing(conf, capsys, monkeypatch, tmp_path):
    path = conf()
    monkeypatch.setattr("sys.stdin", _Tty("no\n"))
    assert main(["--config", path, "sources", "trust", "box"]) == 1
    captured = capsys.readouterr()
    assert "Trust this host key for box" in captured.err and "not trusted" in captured.out
    assert not (tmp_path / "state" / "known_hosts").exists()
    monkeypatch.setattr("sys.stdin", _Tty("y\n"))
    assert main(["--config", path, "sources", "trust", "box"]) == 0
    assert (tmp_path / "state" / "known_hosts").exists()


def test_trust_without_a_terminal_or_yes_cannot_ask(conf, capsys, tmp_path):
    assert main(["--config", conf(), "sources", "trust", "box"]) == 1
    err = capsys.readouterr().err
    assert "no terminal" in err and "--yes answers it" in err     # what to write in a script instead
    assert not (tmp_path / "state" / "known_hosts").exists()


def test_changed_key_is_refused(conf, capsys, sshd, tmp_path):
    path = conf()
    key = tmp_path / "other"
    proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    (tmp_path / "state").mkdir()
    kh = tmp_path / "state" / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    assert main(["--config", path, "sources", "trust", "box", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "HOST KEY CHANGED" in err and sshd.fingerprint() in err and str(kh) in err
    assert "Traceback" not in err
    assert kh.read_text() == f"[127.0.0.1]:{sshd.port} {kind} {blob}\n"
    assert main(["--config", path, "sources", "test"]) == 1
    assert "HOST KEY CHANGED" in capsys.readouterr().out


def test_test_reports_each_source_and_fails_if_any_fails(conf, capsys, sshd):
    port = free_port()
    path = conf(closed(port))
    assert main(["--config", path, "sources", "trust", "box", "--yes"]) == 0
    capsys.readouterr()
    assert main(["--config", path, "sources", "test"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("box   ok")
    down = next(line for line in out.splitlines() if line.startswith("down "))
    assert "FAILED" in down and f"cannot reach 127.0.0.1:{port} as user nobody: connection refused" in down
    assert main(["--config", path, "sources", "test", "box"]) == 0
    capsys.readouterr()


def test_unknown_source_id_and_local_trust_are_usage_errors(conf, capsys):
    path = conf(LOCAL)
    assert main(["--config", path, "sources", "test", "nope"]) == 2
    assert "no source with id 'nope'" in capsys.readouterr().err
    assert main(["--config", path, "sources", "trust", "here"]) == 2
    assert "local machine" in capsys.readouterr().err


def test_revoked_key_is_refused_without_asking(conf, capsys, sshd, tmp_path):
    path = conf()
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "known_hosts").write_text("@revoked " + sshd.known_hosts_line())
    assert main(["--config", path, "sources", "trust", "box", "--yes"]) == 1
    captured = capsys.readouterr()
    assert "revoked" in captured.err and "Trust this host key" not in captured.err


def test_trust_says_the_known_hosts_file_escaped(conf, capsys):
    """A state directory whose name holds an escape sequence is shown escaped, never obeyed."""
    path = conf(state_dir="st\\u001b[31mate")
    assert main(["--config", path, "sources", "trust", "box", "--yes"]) == 0
    assert main(["--config", path, "sources", "trust", "box", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "\033" not in out
    assert out.count("st\\033[31mate/known_hosts") == 2, out     # trusted: added ...; already trusted (in ...)


def test_no_sources_names_the_config_escaped(write_config, capsys):
    path = str(write_config('[rabtui]\nstate_dir = "state"\n', name="r\033[31m.toml"))
    assert main(["--config", path, "sources", "test"]) == 0
    out = capsys.readouterr().out
    assert "\033" not in out and "no sources in" in out and "r\\033[31m.toml" in out
