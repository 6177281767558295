"""Symlinks restored from checkpoint discs keep their owner and time (issue 20): osirrox makes them
as the restoring user at the time of extraction; the restore gives them the owner the disc holds and
the time the catalog holds. Hostile names, a foreign uid/gid, old times, a deep path; a directory,
a single symlink, and a single symlink again after the state database is rebuilt from the discs."""

from __future__ import annotations

import os
import threading

from rabtui.rebuild import scan as rebuild
from rabtui.restore import run as R
from rabtui.checkpoint import prepare, run
from rabtui.events import READY, ScriptedPrompter
from rabtui.state.store import Store
from tests import fidelity
from tests.trees import HOSTILE_NAMES, Lab

OLD = 946_684_800 + 7          # 2000-01-01 00:00:07: whole seconds count
DEEP = [b"d" * 250 + b"%02d" % i for i in range(15)]   # 3,780 bytes below the source directory


def _links(root: bytes) -> dict[bytes, tuple[bytes, int, int, int]]:
    """Make the symlinks below `root`; returns relative path -> (target, uid, gid, mtime)."""
    made = {}
    names = [b"links/" + n for n in HOSTILE_NAMES + [b"x' -> 'y", b"it's"]]
    names += [b"dir new\nline \xff/" + HOSTILE_NAMES[0], b"/".join(DEEP) + b"/at the bottom"]
    for i, rel in enumerate(names):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        target = b"../target of " + rel.rpartition(b"/")[2] + b" -> 'there'"
        os.symlink(target, path)
        uid, gid = (12345 + i, 23456 + i) if fidelity.is_root() else (os.getuid(), os.getgid())
        os.lchown(path, uid, gid)
        mtime = OLD + i * 86_401
        os.utime(path, (mtime, mtime), follow_symlinks=False)
        made[rel] = (target, uid, gid, mtime)
    with open(os.path.join(root, b"links/plain"), "wb") as f:
        f.write(b"a file beside them\n")
    return made


def _check(restored: bytes, want: dict) -> None:
    for rel, (target, uid, gid, mtime) in want.items():
        st = os.lstat(os.path.join(restored, rel))
        assert os.readlink(os.path.join(restored, rel)) == target, rel
        assert (st.st_uid, st.st_gid, int(st.st_mtime)) == (uid, gid, mtime), rel


def test_symlinks_from_discs_keep_owner_and_time(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("dvd+r")
    data = os.fsencode(lab.src / "data")
    want = _links(data)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message

    out = tmp_path / "out"
    got = R.restore(cfg, store, "loc", os.fsdecode(data), checkpoint=number, to=out)
    assert not got.written.problems(), got.summary
    restored = os.path.join(os.fsencode(out), data.lstrip(b"/"))
    _check(restored, want)
    assert fidelity.differences(os.fsdecode(data), os.fsdecode(restored), acls=False, xattrs=False) == []

    one = b"links/" + HOSTILE_NAMES[3]
    R.restore(cfg, store, "loc", data + b"/" + one, checkpoint=number, to=tmp_path / "one")
    _check(os.path.join(os.fsencode(tmp_path / "one"), data.lstrip(b"/")), {one: want[one]})

    store.close()
    lab.lose_database()
    store = Store(lab.state)
    assert rebuild.rebuild(cfg, store).checkpoints == [number]
    deep = b"/".join(DEEP) + b"/at the bottom"
    R.restore(cfg, store, "loc", data + b"/" + deep, checkpoint=number, to=tmp_path / "again")
    _check(os.path.join(os.fsencode(tmp_path / "again"), data.lstrip(b"/")), {deep: want[deep]})
