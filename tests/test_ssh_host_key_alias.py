"""A ~/.ssh/config Host alias with HostKeyAlias (a host reached at several addresses): OpenSSH
files and looks the host key up under the alias, and so do `rabtui sources trust` and the backup's
checks: trusted once, the host backs up. Real sshd and OpenSSH."""
import os
import sys

from pathlib import Path

from tests.trees import Lab
from tests import preloaded

ROOT = Path(__file__).resolve().parents[1]


def _cli(lab, *args):
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         cwd=ROOT, capture_output=True, text=True, env=dict(os.environ), timeout=120)


def test_a_host_trusted_under_its_host_key_alias_backs_up(tmp_path, sshd, isolated_home):
    lab = Lab(tmp_path, media_count=1)
    data = tmp_path / "data"
    data.mkdir(); (data / "f").write_text("x")
    (isolated_home / ".ssh").mkdir(exist_ok=True)
    (isolated_home / ".ssh" / "config").write_text(
        f"Host box\n  HostName {sshd.host}\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.identity_file}\n  HostKeyAlias box.example\n")
    lab.write(f'[[sources]]\nid = "web"\nhost = "box"\n[[sources.directories]]\npath = "{data}"\n')
    t = _cli(lab, "sources", "trust", "web", "--yes")
    assert t.returncode == 0, t.stdout + t.stderr
    b = _cli(lab, "backup", "web")
    assert b.returncode == 0, b.stdout[-800:] + b.stderr[-800:]
    assert "box.example " in (lab.state / "known_hosts").read_text() + ((isolated_home / ".ssh" / "known_hosts").read_text() if (isolated_home / ".ssh" / "known_hosts").exists() else "")
