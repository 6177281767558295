"""An identity_file that is there but no regular file (a FIFO, a directory) is said so at the SSH
login (`sources test`, a backup's step 1), against the test's real sshd: it was said not to exist."""

from __future__ import annotations

import os

import pytest

from rabtui.config import Config, Settings, Source
from rabtui.ssh import remote


@pytest.mark.parametrize("kind", ["FIFO", "directory"])
def test_an_identity_file_that_is_no_file_is_said_what_it_is(sshd, tmp_path, kind):
    cfg = Config(path=None, rabtui=Settings(state_dir=tmp_path / "state"))
    cfg.state_dir.mkdir()
    (cfg.state_dir / "known_hosts").write_text(sshd.known_hosts_line())
    key = tmp_path / "key"
    os.mkfifo(key) if kind == "FIFO" else key.mkdir()
    src = Source(id="box", host=sshd.host, port=sshd.port, user=sshd.user, identity_file=key)
    with pytest.raises(remote.Unreachable) as exc:
        remote.whoami(cfg, src)
    assert f"identity file {key} is no key file but a {kind}" in str(exc.value)
