"""Several sources on one host backed up at once: sshd refuses logins past its MaxStartups (by
default, at random past 10 at once: 10:30:100), closing the connection before its greeting. Such a
login is tried again a moment later, OpenSSH's (step 1) as paramiko's (pre- and post-backup
commands); each source failed instead, told to compare ~/.ssh/config with the key files. A real
sshd that takes 2 logins at once."""

from __future__ import annotations

import pytest

from rabtui.cli import main
from rabtui.ssh import dropped
from tests.sshd import start_sshd
from tests.trees import Lab, ssh_source_lines, write_files

NAMES = [f"h{i}" for i in range(4)]


@pytest.fixture
def busy_sshd(tmp_path):
    server = start_sshd(tmp_path / "sshd", max_startups="2")
    yield server
    server.stop()


def test_sources_on_one_host_past_its_logins_at_once_all_complete(tmp_path, busy_sshd, capsys, monkeypatch):
    monkeypatch.setattr(dropped, "PAUSES", (0.2,) * 10)     # short pauses, more of them: a quick test
    lab = Lab(tmp_path, media_count=1)
    lab.trust(busy_sshd)
    text = ""
    for name in NAMES:
        write_files(lab.src / name, {"f": name})
        text += (ssh_source_lines(busy_sshd, name) + 'pre_backup_commands = ["true"]\npost_backup_commands = ["true"]\n'
                 + f'[[sources.directories]]\npath = "{lab.src / name}"\n')
    lab.write(text)
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\nmax_parallel = 4\n", 1))
    assert main(["--config", str(lab.config_path), "backup", "--all"]) == 0, capsys.readouterr()
    rows = lab.store().all("SELECT source, status FROM backups ORDER BY source")
    assert [(r["source"], r["status"]) for r in rows] == [(name, "completed") for name in NAMES]
