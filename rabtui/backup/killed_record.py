"""The backup.json of a killed run that a recovery recorded abandoned while its directory stays on
the medium (rebuild-state; a recovery that could not delete it, or that leaves it for the complete
backup made after it): made to say what the database records of it, so that the record on the
medium and the database agree (as a recovery that deletes the directory leaves them: nothing on the
medium says otherwise). Only a record that still says `running` is changed: anything else was
written by the run itself (complete, failed) or cannot be read (medium_layout.not_a_run: kept as
it is, it may be a complete backup). Written atomically (records.write_json_atomic: a temporary
file beside it, synced, renamed over it), and never through a symlink on the way from the medium to
the backup's directory, which rabtui never makes (planted, it may lead anywhere on this server)."""

from __future__ import annotations

import os
from pathlib import Path

from rabtui.backup.records import iso_time, write_json_atomic
from rabtui.media import below, medium_layout

ABANDONED = "abandoned"


def say_abandoned(medium_path: str | os.PathLike, source_id: str, name: str, reason: str | None,
                  finished: float | None = None) -> str | None:
    """The backup.json of the run `name` of the source on the medium made to say it was abandoned,
    with `reason` (and `finished`, when given), its steps ended as the database ends them
    (records.end_steps). Why it could not be, said as of its backup.json; None when it says so now
    or is no `running` record (or the directory is gone)."""
    return say_ended(medium_path, source_id, name, ABANDONED, reason, finished)


def say_ended(medium_path: str | os.PathLike, source_id: str, name: str, status: str, reason: str | None,
              finished: float | None = None) -> str | None:
    """say_abandoned with another status: `kept`, for a run whose transfer had ended whole (killed_kept.py)."""
    def ended(info: dict) -> dict:
        steps = info.get("steps")
        said = {**info, "status": status, "reason": reason,
                "finished": iso_time(finished) if finished else info.get("finished")}
        if isinstance(steps, list):
            said["steps"] = [_ended(s) for s in steps]
        return said

    return _rewritten(medium_path, source_id, name, ended)


def say_ran_as_archive(medium_path: str | os.PathLike, source_id: str, name: str, dirs: list[str]) -> str | None:
    """The backup.json of the run `name` (still `running`) made to name `dirs` as directories it
    ran as archive ones, before its links are undone there: rebuild-state found them by the run's
    own files in their unions (its record named no kind of them), and killed midway, the next
    rebuild would find none of those it undid (an older shape not yet put back stays lost). Why it
    could not be, as say_abandoned."""
    def named(info: dict) -> dict:
        listed = medium_layout.recorded_dirs(info)
        listed = [{**d, "kind": "archive"} if d.get("path") in dirs else d for d in listed]
        known = {d.get("path") for d in listed}
        return {**info, "directories": listed + [{"path": d, "kind": "archive"} for d in dirs if d not in known]}

    return _rewritten(medium_path, source_id, name, named)


def _rewritten(medium_path, source_id: str, name: str, change) -> str | None:
    """The run's backup.json rewritten as `change(info)` says, if it still says `running`."""
    path = medium_layout.source_root(medium_path, source_id) / name
    try:
        link = below.symlink_on_the_way(os.fsencode(medium_path), os.fsencode(f"{source_id}/{name}/"))
    except OSError as exc:
        return f"{path}/backup.json could not be changed: {exc.strerror or exc}"
    if link is not None:
        return f"{path}/backup.json is not changed: " + medium_layout.planted_symlink(
            Path(medium_path) / os.fsdecode(link), "nothing is written through it (remove it, after checking what it"
                                                   " points to)")
    info = medium_layout.read_backup_json(path)
    if info is None or info.get("status") != "running":
        return None
    try:
        write_json_atomic(path / "backup.json", change(info))
    except OSError as exc:
        return f"{path}/backup.json could not be changed: {exc.strerror or exc}"
    return None


def _ended(step):
    """A step of the record as records.end_steps ends it in the database: the one under way failed,
    those not begun skipped; and a step 7 said ended (a record written as the state directory
    filled up by an earlier rabtui: its row could not say it) failed, as killed_kept.keep ends it
    in the database: the run never wrote its final record."""
    if not isinstance(step, dict):
        return step
    state = step.get("state")
    if step.get("step") == 7 and state == "ok":
        return {**step, "state": "failed", "message": "interrupted before its final record"}
    return {**step, "state": "failed" if state == "running" else "skipped"} if state in ("running", "pending") else step
