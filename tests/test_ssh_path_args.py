"""The configured paths of an SSH source reach the source's rsync as they are: sent over rsync's
protocol (-s), not through the remote shell, whose quoting (rsync 3.5.0) drops a line break, so
"/srv/a\\nb" read "/srv/ab"; and with their wildcards escaped, which the source's rsync expands
(as the remote shell did), so "/srv/a*" read "/srv/ab". Real rsync over the test sshd."""

from __future__ import annotations

import os

import pytest

from tests.trees import Lab, ssh_source_lines, write_files


def _saved(lab: Lab) -> list[bytes]:
    names = []
    for _, medium in lab.media:
        for _, dirs, files in os.walk(os.fsencode(medium)):
            names += files + dirs
    return names


@pytest.mark.parametrize("name, toml", [(b"a\nb", "a\\nb"), (b"a*", "a*"), (b"[a]?", "[a]?")])
def test_a_path_is_read_as_configured_not_as_another(tmp_path, sshd, name, toml):
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    write_files(lab.src / "ab", {"other": b"o"})
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src}/{toml}"\n')
    missing = lab.backup(cfg, "web")
    assert missing.status == "failed" and "cannot be read on the source" in missing.reason, missing.reason
    assert b"other" not in _saved(lab)
    write_files(os.fsencode(lab.src) + b"/" + name, {"mine": b"m"})
    result = lab.backup(cfg, "web")
    assert result.status == "completed", result.reason
    assert b"mine" in _saved(lab) and b"other" not in _saved(lab)
