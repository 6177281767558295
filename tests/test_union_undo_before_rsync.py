"""A cleanup killed as it undid a complete backup's union links leaves the union without some of
that backup's files, or with older versions of them: the next backup gives them back before its
rsync compares the source with the union (--compare-dest), under the union's lock. It settled them
only in step 7, after rsync: a source file back at a version an older backup saved (restored from
it) matched the older version the undoing had put back, was neither copied nor linked, and the
settling then showed the undone backup's newer version in the union as the source's latest (burned
so onto discs; the older backup holding the right one went with the next cleanup). Real rsync,
real processes holding the lock."""

from __future__ import annotations

import os

from rabtui.backup import union_undo
from rabtui.backup.union_link import link_into_union
from rabtui.media import medium_layout
from tests import invariants
from tests.test_kill_anywhere import _files, rabtui
from tests.test_union_undo_lock import _Holder
from tests.trees import Lab, write_files


def _undoing_killed(tmp_path, extra: str = ""):
    """x saved by a first backup, then a newer x and a new w by a second; then what a cleanup
    deleting the second leaves when killed once it undid two of its links (archive.unlink_from_union:
    the older x linked back into the union, w taken out, the undoing recorded). (lab, cfg, union,
    x's stat then)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")], extra=extra)
    arch = lab.src / "arch"
    _files(arch, {"x": b"x1" * 50, "y": b"y1"})
    first = os.stat(arch / "x")
    for change in ({"x": b"x2" * 50, "w": b"w2"}, {}):      # x: the same size, a newer time
        done = rabtui(lab, "backup", "loc")
        assert done.returncode == 0, done.stdout + done.stderr
        _files(arch, change)
    m1 = lab.media[0][1]
    (_, older, _), (newer, _, _) = medium_layout.list_backups(m1, "loc")
    union = medium_layout.archive_root(m1, "loc", str(arch))
    assert (union / "x").read_bytes() == b"x2" * 50
    union_undo.begin(m1, "loc", newer)
    link_into_union(medium_layout.backup_data_path(older, str(arch)), union, [b"x"],
                    staging=medium_layout.linking_dir(m1, "loc"))
    os.unlink(union / "w")
    assert (union / "x").read_bytes() == b"x1" * 50 and union_undo.pending(m1, "loc") == [newer]
    return lab, cfg, union, first


def test_the_next_backup_settles_the_union_before_rsync_compares_with_it(tmp_path):
    lab, cfg, union, first = _undoing_killed(tmp_path)
    arch = lab.src / "arch"
    write_files(arch, {"x": b"x1" * 50})      # back at the first version, its time too
    os.utime(arch / "x", ns=(first.st_atime_ns, first.st_mtime_ns))
    done = rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    m1 = lab.media[0][1]
    assert not union_undo.pending(m1, "loc")
    latest = medium_layout.backup_data_path(medium_layout.list_backups(m1, "loc")[-1][1], str(arch))
    assert (union / "x").read_bytes() == b"x1" * 50
    # compared with the second backup's x (what the union shows once settled): copied, and linked in
    assert (latest / "x").read_bytes() == b"x1" * 50, sorted(os.listdir(latest))
    assert os.stat(union / "x").st_ino == os.stat(latest / "x").st_ino
    # unchanged since the backups that saved them (w: the second, given back to the union first): not copied
    assert not (latest / "y").exists() and not (latest / "w").exists(), sorted(os.listdir(latest))
    assert (union / "w").read_bytes() == b"w2"
    invariants.check_catalog_is_media(cfg, lab.store())


def test_a_backup_that_cannot_settle_the_union_writes_nothing(tmp_path):
    """The union's lock held by another process past the source's io_timeout while an undoing is
    recorded: the backup fails in step 3 naming the holder, before rsync, its directory never made.
    It ran rsync against the union as the killed undoing left it, then waited in step 7."""
    lab, cfg, union, _ = _undoing_killed(tmp_path, extra="io_timeout = 1")
    store = lab.store()
    before = {r["id"] for r in store.all("SELECT id FROM backups")}
    holder = _Holder(lab)
    try:
        done = rabtui(lab, "backup", "loc")
    finally:
        holder.release()
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    assert f"a cleanup (pid {holder.run.pid}" in out and "for more than 1 s" in out, out
    row = store.one("SELECT * FROM backups WHERE id NOT IN (%s)" % ",".join(map(str, before)))
    assert row["status"] == "failed" and not os.path.exists(row["path"]), dict(row)
    steps = {r["step"]: r["state"] for r in store.all("SELECT step, state FROM backup_steps WHERE backup_id=?",
                                                      (row["id"],))}
    assert steps[3] == "failed" and steps[5] == "skipped", steps
    assert union_undo.pending(lab.media[0][1], "loc")       # for the next run
    again = rabtui(lab, "backup", "loc")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not union_undo.pending(lab.media[0][1], "loc")
    assert (union / "x").read_bytes() == b"x2" * 50 and (union / "w").read_bytes() == b"w2"


def test_a_medium_others_can_change_is_refused_before_the_union_is_settled(tmp_path):
    """The source's directory on the medium writable by everyone (another user could put a symlink
    where the settling links files): the backup fails in step 3 with what the check says, and the
    recorded undoing is left as it was, no link made. The settling ran before that check."""
    lab, cfg, union, _ = _undoing_killed(tmp_path)
    m1 = lab.media[0][1]
    root = medium_layout.source_root(m1, "loc")
    os.chmod(root, 0o777)
    try:
        done = rabtui(lab, "backup", "loc")
    finally:
        os.chmod(root, 0o700)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    assert "is writable by everyone" in out and "nothing written" in out, out
    assert union_undo.pending(m1, "loc") and not (union / "w").exists()
    assert (union / "x").read_bytes() == b"x1" * 50
