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


def test_a_known_hosts_another_user_can_make_in_their_home_is_not_given_to_ssh(open_base, sshd, monkeypatch):
    """No ~/.ssh/known_hosts in their home when rabtui looks, one of theirs there when ssh reads it
    (made between the two, by an inotify watch of theirs): ssh took their key for the source's."""
    from rabtui.ssh import endpoint

    from tests.other_user import as_nobody
    from tests.trees import ssh_source_lines, write_files

    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    home = open_base / "alice"
    (home / ".ssh").mkdir(parents=True)
    for p in (home, home / ".ssh"):
        os.chown(p, NOBODY.pw_uid, NOBODY.pw_gid)
    monkeypatch.setenv("HOME", str(home))
    looked, line = endpoint.known_hosts_checked, sshd.known_hosts_line()

    def then_theirs(cfg):
        looked(cfg)
        as_nobody(lambda: (home / ".ssh" / "known_hosts").write_text(line))
    monkeypatch.setattr(endpoint, "known_hosts_checked", then_theirs)

    result = lab.backup(cfg, "web", medium_id="m1")

    assert (home / ".ssh" / "known_hosts").exists()
    assert result.status == "failed", "ssh trusted the key in their known_hosts"
    assert "rabtui sources trust web" in " ".join(lab.messages()), lab.messages()
