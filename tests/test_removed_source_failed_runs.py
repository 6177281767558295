"""The failed runs of a source taken out of the config: no backup of it comes to supersede them and
a cleanup judged configured sources only, so their partial data stayed on the medium for ever,
while a backup failing for want of room said that `rabtui cleanup` deletes it. A cleanup now deletes
them once a day old (they linked nothing into the unions: a run undoes its links before it records
itself failed); its complete backups stay. Real rsync, a directory medium."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.actions import cleanup
from rabtui.backup import partial_note
from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def _removed_after_a_failed_run(tmp_path):
    """gone backed up, then a run of it failed, then gone taken out of the config: (lab, its rows)."""
    lab = Lab(tmp_path, media_count=1)
    keep = lab._local_source([("keep", "standard")], "", "keep")
    gone = lab._local_source([("gone", "standard"), ("gone2", "archive")], "", "gone")
    cfg = lab.write(keep + gone)
    write_files(lab.src / "gone", {"g1": b"g" * 100})
    write_files(lab.src / "gone2", {"a1": b"a" * 100})
    assert lab.backup(cfg, "gone", now=T0).status == "completed"
    write_files(lab.src / "gone2", {"a2": b"b" * 100})
    os.rename(lab.src / "gone", lab.src / "gone.away")     # the run fails: a directory missing
    failed = lab.backup(cfg, "gone", now=T0 + timedelta(hours=1))
    assert failed.status == "failed"
    rows = lab.store().all("SELECT id, name, status, path FROM backups WHERE source='gone' ORDER BY id")
    assert [r["status"] for r in rows] == ["completed", "failed"] and os.path.isdir(rows[1]["path"])
    lab.write(keep)                                         # gone taken out of the config
    return lab, rows


def test_a_removed_sources_failed_run_goes_with_a_cleanup_its_complete_backup_stays(tmp_path, capsys):
    lab, rows = _removed_after_a_failed_run(tmp_path)
    store = lab.store()
    union = lab.media[0][1] / "gone" / ".archive"
    in_union = sorted(str(p.relative_to(union)) for p in union.rglob("*"))

    note = partial_note.partial_note(lab.load(), store, "m1", 0)
    assert rows[1]["name"] in note and "`rabtui cleanup` deletes" in note and "back in the config" not in note, note
    # had its step 7 begun (abandoned as its medium was away, say), it would stay, said with the way out
    store.execute("UPDATE backups SET status='abandoned' WHERE id=?", (rows[1]["id"],))
    store.execute("UPDATE backup_steps SET state='failed' WHERE backup_id=? AND step=7", (rows[1]["id"],))
    note = partial_note.partial_note(lab.load(), store, "m1", 0)
    assert f"gone {rows[1]['name']}: gone is no longer in the config, and it had begun its step 7" in note, note
    assert "put gone back in the config for a `rabtui cleanup` to undo it" in note, note
    plan = cleanup.plan(lab.load(), store)
    assert rows[1]["id"] not in {c.id for c in plan.delete}
    store.execute("UPDATE backups SET status='failed' WHERE id=?", (rows[1]["id"],))

    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "cleanup"]) == 0
    out = capsys.readouterr().out
    assert f"deleting gone {rows[1]['name']} on m1 (failed run older than a day" in out, out
    assert [r["status"] for r in store.all("SELECT status FROM backups WHERE source='gone' ORDER BY id")] == \
        ["completed", "deleted"]
    assert not os.path.lexists(rows[1]["path"]) and os.path.isdir(rows[0]["path"])
    assert sorted(str(p.relative_to(union)) for p in union.rglob("*")) == in_union
    assert partial_note.partial_note(lab.load(), store, "m1", 0) == ""


def test_a_cleanup_killed_as_it_emptied_a_removed_sources_run_is_finished_by_the_next(tmp_path, capsys):
    """Killed as it emptied the tree (renamed .deleting-<name>, part of it still there), the catalog
    not told: the next cleanup forgets the run and removes what is left, as it does a configured
    source's (the leftovers were looked for under the configured sources only, so they stayed)."""
    lab, rows = _removed_after_a_failed_run(tmp_path)
    run = rows[1]["path"]
    aside = os.path.join(os.path.dirname(run), ".deleting-" + os.path.basename(run))
    os.rename(run, aside)           # what _empty_tree does first; the kill comes before the rest is emptied
    assert main(["--config", str(lab.config_path), "cleanup"]) == 0
    out = capsys.readouterr().out
    assert not os.path.lexists(aside), out
    assert [r["status"] for r in lab.store().all("SELECT status FROM backups WHERE source='gone' ORDER BY id")] == \
        ["completed", "deleted"]
    assert os.path.isdir(rows[0]["path"])
