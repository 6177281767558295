"""A run killed after its transfer ended whole (its backup.json says so: records.transfer_whole), in
step 6 (the post-backup commands) or step 7 (sizes, archive links, catalog), before it was
complete: its data is a whole copy of the source, kept as a backup whose post-backup commands
failed keeps it (status `kept`: restorable, retained, never a --link-dest base, its archive files
not linked into the unions). Its recovery undoes what step 7 linked into the unions and the catalog
rows it wrote, records its catalog again from its tree (versions of its own, as step 7 records kept
data: catalog_walk.py) with the changes the checkpoint trigger counts, then its backup.json says
`kept`, then its row. Killed midway, the next recovery does it all again: the catalog rows it made
are forgotten first."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rabtui import faults
from rabtui.backup import killed_kinds, killed_record
from rabtui.backup.catalog_walk import catalog_backups, outermost
from rabtui.backup.history import forget_catalog, union_held, unlink_archive
from rabtui.backup.records import end_steps
from rabtui.errors import WorkFailed
from rabtui.events import Emit
from rabtui.media import medium_layout
from rabtui.state import changes, saved_kinds
from rabtui.state.paths_below import under_sql
from rabtui.state.store import KEPT, Store

_VERSIONS = ("SELECT :d, v.path_id, p.path, v.size, v.mtime FROM versions v JOIN paths p ON p.id=v.path_id"
             " WHERE v.medium=:m AND v.first_backup=:b AND " + under_sql("p.path", ":d"))


def keep(store: Store, cfg, row, path: Path, info: dict, emit: Emit,
         cancel: threading.Event | None = None, ended: str | None = None) -> tuple[str | None, str]:
    """The killed run of `row`, its directory at `path` and its backup.json read as `info`, kept
    (`cfg`: None when its source is no longer in the config: no union is touched). `ended`: how
    it ended, for a run that failed in step 7 and keeps its own data (completion.py); else as its
    step rows say. Returns (why it is left as it is for the next run, or None; what was done, said)."""
    source_id = row["source"]
    try:       # as for a run undone (recovery.py): left as it is, its catalog rows too, the next run tries again
        with union_held(cfg, source_id, emit, cancel) as moved:
            undone = unlink_archive(cfg, source_id, path, moved=moved, ran=killed_kinds.of_run(
                store, cfg, source_id, row["id"], path, info, emit=emit),
                looked=saved_kinds.looks(store, source_id, row["medium"]))
    except (WorkFailed, OSError) as exc:
        return f"its archive links cannot be undone now: {exc}", ""
    forget_catalog(store, row)
    dirs = _saved_dirs(store, cfg, row, info)
    planted: list[str] = []
    catalog_backups(store, source_id, row["medium"], [(row["id"], path, dirs)], planted)
    with store.transaction() as conn:
        for dir_path, _kind in outermost(dirs):
            changes.record(conn, source_id, row["id"], _VERSIONS, {"d": dir_path, "m": row["medium"]}, [dir_path])
        # killed after its step 7's row said ok, before its backup.json said complete: what that step
        # linked is undone now, and a step 7 ended would count the backup done for its schedule time;
        # said before its backup.json says kept (killed between the two, the next recovery records it
        # as that says, with its steps as they are)
        conn.execute("UPDATE backup_steps SET state='failed', message=? WHERE backup_id=? AND step=7 AND state='ok'",
                     ("interrupted before its final record: its archive links undone, its data kept", row["id"]))
    faults.point("recovery.kept_catalog")
    reason = f"{ended or _how_it_ended(store, row['id'], info)}; its transfer had ended whole: the data is kept"
    reason += "".join(f"; {said}" for said in planted)
    finished = time.time()
    not_said = killed_record.say_ended(path.parent.parent, source_id, path.name, KEPT, reason, finished)
    faults.point("recovery.kept_said")
    with store.transaction() as conn:
        conn.execute("UPDATE backups SET status=?, reason=?, finished=? WHERE id=?",
                     (KEPT, reason, finished, row["id"]))
        end_steps(conn, row["id"])
    done = (f"{undone} archive link(s) undone, " if undone else "") + \
        "its transfer had ended whole: kept (restorable, retained, never a base)"
    return None, done + (f"; {not_said}" if not_said else "")


def _how_it_ended(store: Store, backup_id: int, info: dict) -> str:
    """What the killed run had done of steps 6 and 7, as its rows say (its step 6 as its backup.json
    says where its row could not say it begun: the state directory full). A run the state database
    stopped wrote why in its backup.json, with its steps as it knew them (completion._whole_left):
    that reason is said too, and its step 6 read there first (its row may say it running still)."""
    own = info.get("reason") if isinstance(info.get("reason"), str) and info["reason"] else None
    states = {r["step"]: r["state"] for r in store.all(
        "SELECT step, state FROM backup_steps WHERE backup_id=? AND step IN (6, 7)", (backup_id,))}
    post = None if own else states.get(6)
    if post in (None, "pending"):
        post = next((s.get("state") for s in info.get("steps", ()) if isinstance(s, dict) and s.get("step") == 6),
                    states.get(6))
    if own and post == "failed" and own.startswith("post-backup"):    # their failure (or stop) named first
        return own
    how = _post_said(post)
    return f"{how}; {own}" if own else how


def _post_said(post: str | None) -> str:
    if post in (None, "pending"):
        return "interrupted before its post-backup commands: they did not run (what they undo stays undone)"
    if post == "running":
        return ("interrupted while its post-backup commands ran: they may not have run to their end (what they"
                " undo may stay undone)")
    if post == "failed":
        return "its post-backup commands failed; interrupted in step 7 (sizes, catalog)"
    return "interrupted in step 7 (sizes, catalog), its post-backup commands done"


def _saved_dirs(store: Store, cfg, row, info: dict) -> list[tuple[str, str]]:
    """(directory, kind) the run saved: as its rows record them (step 5 wrote them), else its
    backup.json, else the config's."""
    rows = store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?", (row["id"],))
    if rows:
        return [(r["path"], r["kind"]) for r in rows]
    recorded = [(d["path"], d["kind"]) for d in medium_layout.recorded_dirs(info)
                if isinstance(d.get("path"), str) and d.get("kind") in killed_kinds.KINDS]
    if recorded or cfg is None:
        return recorded
    return [(d.path, d.kind) for d in cfg.source(row["source"]).directories]
