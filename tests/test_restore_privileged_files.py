"""Files restored setuid, setgid or with a file capability keep them (as rsync and tar do), but into
a --to directory other users can reach (an operator's 0755 /srv/restore, a /tmp/r another user made
first) the restore warns, counting them and naming the first: an old setuid-root program there runs
as root for every local user. A --to the restore makes is 0700: nothing to say."""

from __future__ import annotations

import os
import stat

import pytest

from rabtui.restore import run as R
from tests import fidelity
from tests.other_user import NOBODY
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def backed_up(open_base):
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"bin/su": b"#!/bin/sh\n", "bin/ping": b"#!/bin/sh\n", "notes.txt": b"x"})
    os.chmod(lab.src / "data/bin/su", 0o4755)
    os.setxattr(lab.src / "data/bin/ping", "security.capability", fidelity.CAPABILITY)
    # bits that give no rights: setuid on a file none may run, setgid without the group's x (a mark
    # for mandatory locking)
    write_files(lab.src / "data", {"odd/setuid-unrunnable": b"x", "odd/locking": b"x"})
    os.chmod(lab.src / "data/odd/setuid-unrunnable", 0o4644)
    os.chmod(lab.src / "data/odd/locking", 0o2745)
    cfg = lab.local()
    assert lab.backup(cfg).status == "completed"
    return lab, cfg


def _said(result) -> list[str]:
    return [w for w in result.warnings if "setuid, setgid or with a file capability" in w]


def test_privileged_files_restored_where_others_can_reach_are_warned_of(backed_up, open_base):
    lab, cfg = backed_up
    srv = open_base / "srv-restore"
    srv.mkdir(mode=0o755)                  # the operator's, open to all
    result = R.restore(cfg, lab.store(), "loc", str(lab.src / "data"), to=str(srv))
    su = srv / str(lab.src / "data/bin/su").lstrip("/")
    assert stat.S_IMODE(su.stat().st_mode) == 0o4755       # kept, as the backup has it
    said = _said(result)
    assert len(said) == 1 and said[0].startswith("2 files restored setuid"), result.warnings
    assert f"(the first: {srv}/" in said[0] and f"chmod 700 {srv}" in said[0], said

    theirs = open_base / "r"               # made first by another user: they may open it at will
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    result = R.restore(cfg, lab.store(), "loc", str(lab.src / "data/bin/su"), to=str(theirs))
    assert _said(result) and _said(result)[0].startswith("1 file restored setuid"), result.warnings


def test_privileged_files_restored_where_others_cannot_reach_are_not_warned_of(backed_up, open_base):
    lab, cfg = backed_up
    made = open_base / "new" / "r"          # made by the restore: 0700 (the program's umask)
    umask = os.umask(0o077)
    try:
        result = R.restore(cfg, lab.store(), "loc", str(lab.src / "data"), to=str(made))
    finally:
        os.umask(umask)
    assert not _said(result), result.warnings
    closed = open_base / "closed"
    closed.mkdir(mode=0o700)
    (closed / "r").mkdir(mode=0o755)        # open itself, below a closed one of root's
    result = R.restore(cfg, lab.store(), "loc", str(lab.src / "data"), to=str(closed / "r"))
    assert not _said(result), result.warnings
    open_dir = open_base / "open"
    open_dir.mkdir(mode=0o755)
    result = R.restore(cfg, lab.store(), "loc", str(lab.src / "data/notes.txt"), to=str(open_dir))
    assert not _said(result), result.warnings    # no privileged file among what was restored
    result = R.restore(cfg, lab.store(), "loc", str(lab.src / "data/odd"), to=str(open_dir))
    odd = open_dir / str(lab.src / "data/odd").lstrip("/")
    assert stat.S_IMODE((odd / "locking").stat().st_mode) == 0o2745     # kept, as the backup has it
    assert not _said(result), result.warnings    # their bits give no rights


def test_privileged_files_restored_onto_the_source_are_warned_of_only_where_another_user_can_move_them(
        backed_up, open_base):
    """Onto the source they are put back where they were, as they were: nothing to say of a
    directory of root's (a /usr/bin restored), nor of a setuid program of a user's own in their
    directory. In one another user can change since (theirs, or open to all), the restore warns:
    they can move the file aside and keep it, an old setuid-root program with its flaw."""
    lab, cfg = backed_up
    data = lab.src / "data"
    result = R.restore(cfg, lab.store(), "loc", str(data), to_source=True, overwrite=True)
    assert stat.S_IMODE((data / "bin/su").stat().st_mode) == 0o4755
    assert not _said(result), result.warnings

    os.chown(data, NOBODY.pw_uid, NOBODY.pw_gid)       # given to another user since
    result = R.restore(cfg, lab.store(), "loc", str(data / "bin"), to_source=True, overwrite=True)
    said = _said(result)
    assert len(said) == 1 and said[0].startswith("2 files restored setuid") and "onto the source" in said[0], said
    assert f"{data} belongs to user nobody" in said[0] and "chmod go-w" in said[0], said

    # a setuid program of their own, in a directory of theirs: it runs as them, that gives them nothing
    os.chown(data, 0, 0)
    os.chown(data / "bin/su", NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(data / "bin/su", 0o4755)
    lab.backup(cfg)
    os.chown(data / "bin", NOBODY.pw_uid, NOBODY.pw_gid)
    result = R.restore(cfg, lab.store(), "loc", str(data / "bin/su"), to_source=True, overwrite=True)
    assert (data / "bin/su").stat().st_uid == NOBODY.pw_uid
    assert not _said(result), result.warnings
    (data / "bin").chmod(0o777)     # open to all: any other user may move it
    result = R.restore(cfg, lab.store(), "loc", str(data / "bin/su"), to_source=True, overwrite=True)
    assert _said(result) and f"{data}/bin is writable by everyone" in _said(result)[0], result.warnings
