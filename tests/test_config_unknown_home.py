"""A path of the config that begins with ~USER of a user this machine does not know (a typo of the
user's name) is refused with its line (exit 2): expanduser left it as it was, a relative path, and
the state directory was made in a folder named "~USER" beside the config."""

from __future__ import annotations

import os
import pwd

import pytest

from rabtui.cli import main

NOBODY = "rabtui-no-such-user"

TEXT = """\
[rabtui]
state_dir = "{state_dir}"
[checkpoint]
drive = "{drive}"
[[media]]
id = "m"
path = "{medium}"
[[sources]]
id = "s"
host = "h"
identity_file = "{key}"
"""
GOOD = {"state_dir": "state", "drive": "images:iso", "medium": "media", "key": "~/.ssh/id_ed25519"}


@pytest.mark.parametrize("key, line, where", [("state_dir", 2, "rabtui.state_dir"), ("drive", 4, "checkpoint.drive"),
                                              ("medium", 7, "media[0].path"), ("key", 11, "sources[0].identity_file")])
def test_a_path_of_a_user_not_known_here_is_refused_with_its_line(tmp_path, capsys, key, line, where):
    with pytest.raises(KeyError):
        pwd.getpwnam(NOBODY)
    (tmp_path / "media").mkdir()
    path = tmp_path / "rabtui.toml"
    value = f"~{NOBODY}/x" if key != "drive" else f"images:~{NOBODY}/iso"
    path.write_text(TEXT.format(**{**GOOD, key: value}))
    path.chmod(0o600)
    for command in ("check-config", "status"):
        assert main(["--config", str(path), command]) == 2
        assert capsys.readouterr().err == (f"rabtui: {path}:{line}: {where}: ~{NOBODY} names no user of this machine"
                                           f" (~USER is that user's home folder; ./~{NOBODY} a folder so named)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media", "rabtui.toml"]


def test_a_path_of_a_known_users_home_is_taken(tmp_path, capsys):
    (tmp_path / "media").mkdir()
    path = tmp_path / "rabtui.toml"
    me = pwd.getpwuid(os.getuid())
    path.write_text(TEXT.format(**{**GOOD, "key": f"~{me.pw_name}/.ssh/id_ed25519"}))
    path.chmod(0o600)
    assert main(["--config", str(path), "check-config"]) == 0, capsys.readouterr().err
