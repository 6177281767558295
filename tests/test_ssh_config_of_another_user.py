"""`sudo rabtui` keeping the user's HOME (sudo -E, or a sudoers that keeps it): root read that
user's ~/.ssh/config and gave it to ssh (-F), whose ProxyCommand ran as root, and whose Host lines
chose where root connects. A ~/.ssh/config another user than root and rabtui's user can change is
refused before ssh starts."""

from __future__ import annotations

import os

import pytest

from tests.other_user import NOBODY
from tests.trees import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a home to another user")


def test_the_ssh_config_in_another_users_home_is_not_used_by_root(open_base, monkeypatch):
    lab = Lab(open_base, media_count=1)
    cfg = lab.write('[[sources]]\nid = "web"\nhost = "web.example"\nuser = "root"\n'
                    '[[sources.directories]]\npath = "/srv"\n')
    home = open_base / "alice"
    (home / ".ssh").mkdir(parents=True)
    ran = open_base / "ran-as-root"
    (home / ".ssh" / "config").write_text(f"Host web.example\n  ProxyCommand touch {ran}; exit 1\n")
    for p in (home, home / ".ssh", home / ".ssh" / "config"):
        os.chown(p, NOBODY.pw_uid, NOBODY.pw_gid)
    monkeypatch.setenv("HOME", str(home))

    result = lab.backup(cfg, "web", medium_id="m1")

    assert not ran.exists(), "root ran their ProxyCommand"
    assert result.status == "failed"
    said = " ".join(lab.messages())
    assert f"{home} belongs to user nobody" in said and ".ssh/config" in said, said
