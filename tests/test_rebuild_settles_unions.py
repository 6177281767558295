"""rebuild-state and the union of an archive directory that a killed cleanup left half undone
(backup/union_undo.py): the rebuild holds the source's union lock for its whole run, so it settles
the union itself on the media that are here, and says so. The union stayed half undone (`rabtui
check` warning) until a backup, checkpoint or cleanup touched the medium. Real rsync, real
processes killed at their fault points."""

from __future__ import annotations

from rabtui.backup import union_undo
from tests import invariants
from tests.test_kill_anywhere import rabtui
from tests.test_union_undo_interrupted import _killed_undoing, _undoing_said


def test_rebuild_state_settles_a_union_a_killed_cleanup_left_half_undone(tmp_path):
    lab, cfg, store, copies, union = _killed_undoing(tmp_path)
    first = store.one("SELECT name FROM backups WHERE medium='m1' ORDER BY id")["name"]
    assert _undoing_said(cfg, store) and len({p for p in ("x", "y", "d/w") if (union / p).exists()}) == 2
    done = rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert [(union / p).read_bytes() for p in ("x", "y", "d/w", "z")] == [b"x1" * 50, b"y1" * 60, b"w1", b"z2"]
    assert not union_undo.pending(lab.media[0][1], "loc")
    said = [line for line in done.stdout.splitlines() if first in line]     # what it settled, named
    assert said and said[0].startswith("medium m1: loc:") and "interrupted cleanup" in said[0], out
    assert "1 file(s) linked back" in said[0], said
    store = lab.store()
    assert not _undoing_said(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_backups_hold(cfg, store, copies)

