"""What rebuild-state changes in the archive union trees of a medium it reads, under the source's
union lock (actions/rebuild.all_locks holds it for the whole rebuild): the undoing a cleanup killed
midway left recorded is settled, as the next backup, checkpoint or cleanup would settle it; a run
killed in step 7 is undone (scan.py). Its progress is marked on the lock (`moved`: Lock.moved) as it
goes, so that a run waiting for the union (a checkpoint plan settling it) waits on meanwhile."""

from __future__ import annotations

from rabtui.errors import WorkFailed
from rabtui.rebuild.report import Report
from rabtui.state.store import COMPLETE


def as_recorded(medium, source_id: str, listed: list, ids: dict) -> list:
    """The source's backups on the medium (list_backups), the id in each record the one the new
    database records it under: the order they were made in, as the records will say it once their
    new ids are written (scan.write_ids). `listed`: the backups found (backups_recorded.Listed)."""
    from rabtui.media import medium_layout

    written = {name for name, _, rec in listed if rec.on_medium}
    return [(name, path, {**info, "backup_id": ids[(medium.id, source_id, name)]} if info and name in written else info)
            for name, path, info in medium_layout.list_backups(medium.path, source_id)]


def settle(cfg, medium, source_id: str, listed: list, ids: dict, report: Report, moved) -> None:
    """A killed cleanup's undoing of backups' union links recorded on the medium (there: it is read)
    settled (history.settle_held), said in the report; what stops it is said too, and the record
    stays on the medium for the next backup, checkpoint or cleanup to settle (`rabtui check` warns
    of it until then)."""
    from rabtui.backup import history

    try:
        if not history.undoings(cfg, source_id, medium.path):
            return
        names, linked = history.settle_held(cfg, source_id, medium.path, as_recorded(medium, source_id, listed, ids),
                                            moved)
    except (WorkFailed, OSError) as exc:
        what = exc.message if isinstance(exc, WorkFailed) else exc.strerror or str(exc)
        report.unmatched.append(f"medium {medium.id}: {source_id}: the union links of a backup whose undoing an"
                                f" interrupted cleanup left half done could not be put back: {what}; the archive union (.archive) lacks some of that"
                                f" backup's files, or shows older versions, until the next backup of {source_id} onto"
                                f" {medium.id}, a checkpoint reading it, a cleanup or rebuild-state puts them back")
        return
    report.notes.append(f"medium {medium.id}: {source_id}: the undoing of backup {', '.join(names)}'s union links,"
                        f" left half done by an interrupted cleanup, is settled: {linked} file(s) linked back into"
                        " the archive union (.archive)")


def ran_as_archive(src, medium_path, bpath, rec, listed: list, report: Report | None = None) -> list[str]:
    """The directories a run to undo (at `bpath`) may have linked files into the unions of,
    whatever the config says of them now: those its record names as archive ones, and where it names
    none (or one with no kind it can read: edited by hand) those whose union holds one of its own
    files (killed_kinds.py), written into its record first; what stops that is said in `report`."""
    from rabtui.backup import killed_kinds

    kinds = {d["path"]: d["kind"] for d in rec.directories}
    candidates = {d.path for d in src.directories} | {d["path"] for _, _, r in listed for d in r.directories}
    complete = [p for _, p, r in reversed(listed) if r.status in COMPLETE and p != bpath]
    ran, problem = killed_kinds.ran_as_archive(medium_path, src.id, bpath, kinds, candidates, complete)
    if problem and report is not None:
        report.unmatched.append(f"{problem}: should this rebuild be stopped before it has undone the run,"
                                " the next may not find all of its links")
    return ran
