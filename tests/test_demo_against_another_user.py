"""`rabtui demo --dir` in a folder another user can change: they could put a symlink of theirs where
the sandbox's config is written (to any file of root's, once the folder was looked at), and the
demo's backups would go where they can read them. Refused before anything is written."""

from __future__ import annotations

import os

import pytest

from rabtui import demo
from rabtui.cli import main
from tests.other_user import NOBODY

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a folder to another user")


def test_a_sandbox_in_another_users_folder_is_refused_and_nothing_is_written_through_it(open_base, capsys):
    victim = open_base / "roots-own"     # a file of root's that begins as a sandbox's config does
    victim.write_text(demo.CONFIG)
    victim.chmod(0o644)
    theirs = open_base / "alice"
    base = theirs / "demo"
    base.mkdir(parents=True)
    (base / "rabtui.toml").symlink_to(victim)     # theirs: passes for a sandbox's config
    for d in (theirs, base):
        os.lchown(d, NOBODY.pw_uid, NOBODY.pw_gid)
    os.lchown(base / "rabtui.toml", NOBODY.pw_uid, NOBODY.pw_gid)

    assert main(["demo", "--no-open", "--dir", str(base)]) == 2
    err = capsys.readouterr().err
    assert f"{theirs} belongs to user nobody" in err and "nothing written" in err and "Traceback" not in err, err
    assert victim.read_text() == demo.CONFIG and victim.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in base.iterdir()) == ["rabtui.toml"]
