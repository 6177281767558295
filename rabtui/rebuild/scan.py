"""`rabtui rebuild-state`: recreate the state database from what the media and the discs hold.

- media: each configured medium's label; each `<source>/backup-*/backup.json` gives a backup row
  (keeping its original id, so that the catalog's ranges and the discs' references still agree,
  unless another backup holds it or it would break the order of its source's ids there: ids.py),
  its directories and sizes, each field checked (rebuild/record.py); a backup without a
  `backup.json` is recorded as abandoned; one whose record does not say what it is (damaged, or
  missing while its data/ holds files: a run writes the record before any file) may be complete:
  it is recorded as failed, kept (no cleanup deletes it, each names it; its archive links stay) and said;
- archive unions: a run killed in step 7 is undone, and the undoing of a backup's union links that
  a killed cleanup left half done is settled (rebuild/unions.py), on the media read, and said;
- catalog: the data trees of the complete backups are walked (this is a rare repair, so a walk
  is fine), each backup's directories as its record names them, in the kind it saved each as:
  on each medium, a file whose inode is the same as in the previous backup of the source
  extends that version, anything else is a new version; archive directories: every file in a
  backup is a version first saved there (backup/catalog_walk.py);
- checkpoint numbers: each medium's `.rabtui-checkpoints`, the state directory's
  `checkpoints/<number>/` folders and the database replaced name the numbers used, also of discs not read here: the highest
  is kept (media/checkpoint_numbers.py), so that a new checkpoint never takes one again; the
  checkpoints abandoned (`.rabtui-abandoned`, the state directory's record, the database
  replaced, the copies of the state on the discs read) are recorded abandoned again
  (rebuild/abandoned.py);
- checkpoints: `rabtui/catalog.tsv.gz` (older discs: `catalog.tsv`) from one disc of each checkpoint (an `images:` drive: every
  ISO is read directly; a real drive: the operator is asked for one disc of each checkpoint in
  turn); its README.txt gives the time the checkpoint was made and the backup each directory was
  taken from (kept when the media hold that backup of the source, started before then; without
  it, restore ranks the disc by what the catalog tells, rabtui/restore/copies.py). The discs of
  an `images:` drive are verified again and come back `verified` when they pass
  (rebuild/verify.py); any other disc known written comes back as `written`: run `rabtui
  checkpoint verify` to verify it again (until then, retention treats its files as not safe
  elsewhere); a disc not known written, as never written, its checkpoint unfinished
  (rebuild/discs_written.py).
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping

from rabtui import faults
from rabtui.media import checkpoint_numbers, medium_layout, mounts, unknown_backups
from rabtui.media.at_hand import label_problem
from rabtui.state import changes
from rabtui.config import ID_RE, Config
from rabtui.errors import LockBusy, MissingTool, WorkFailed
from rabtui.events import Emit, no_emit
from rabtui.backup import cancelled_by, id_writes
from rabtui.rebuild import copied, did_not_fit, nothing_read
from rabtui.rebuild import ids as backup_ids
from rabtui.rebuild import record, renamed
from rabtui.rebuild.backups_recorded import Listed, fill_medium
from rabtui.rebuild.checkpoints import read_discs
from rabtui.rebuild.report import Report
from rabtui.state.store import BACKUP_IDS_USED, KEPT, RESTORABLE, RESTORABLE_SQL, Store, as_made, made_first


def rebuild(cfg: Config, store: Store, *, emit: Emit = no_emit, prompter=None, cancel=None,
            known: dict[str, dict | None] | None = None,
            marks: Mapping[str, Callable[[], None]] | None = None, replacing: bool = False, drives=()) -> Report:
    """`known`: the media the database replaced knew (used, or labelled), with the label it used;
    `marks`: what marks the progress made under each source's union lock (Lock.moved), held by the caller;
    `replacing`: a database is in place, which the one made replaces (refused with no medium read);
    `drives`: where discs are read besides the configured drive."""
    known = known or {}
    report = Report()
    unwritten = write_old_ids(cfg, report, emit, known, cancel)
    source_ids = {s.id for s in cfg.sources}
    # every medium's records are read before any backup is recorded: the ids depend on them all
    found = {m.id: _with_medium(cfg.state_dir, m, report, emit,
                                lambda m=m: _read_medium(store, m, source_ids, report, known), cancel=cancel)
             for m in cfg.media}
    copied.set_aside(found, report.unmatched, source_ids)
    for medium in cfg.media:
        if found[medium.id] is None:
            _still_known(store, medium, known)
            if medium.id in known or not known:     # one this server never used holds none of its backups
                unknown_backups.mark_unread(store, medium.id)      # restore and find say so while it is away
    used = backup_ids.used_in(Path(cfg.state_dir) / "rabtui.db")
    ids = backup_ids.assign([[backup_ids.Found((mid, source, name), rec.started or 0, rec.backup_id,
                                               rec.status in RESTORABLE)
                              for name, _, rec in listed]
                             for mid, sources in found.items() if sources for source, listed in sources.items()],
                            used)
    if used:
        store.set_meta(BACKUP_IDS_USED, str(used))
    faults.point("rebuild.media_listed")
    for medium in cfg.media:
        if found[medium.id]:
            _with_medium(cfg.state_dir, medium, report, emit,
                         lambda m=medium: fill_medium(cfg, store, m, found[m.id], ids, report, emit, marks or {}),
                         cancel=cancel)
    _last_used(cfg, store, [m.id for m in cfg.media if found[m.id]])
    nothing_read.refuse(cfg, report, discs_read=False, in_place=replacing)
    faults.point("rebuild.media_read")
    # before the discs are asked for: with no one to answer, what these say decides whether the
    # rebuild lacks anything
    report.numbers_used |= (checkpoint_numbers.in_state_dir(cfg.state_dir)
                            | checkpoint_numbers.used_in(Path(cfg.state_dir) / "rabtui.db"))
    report.abandoned |= (checkpoint_numbers.kept_abandoned(cfg.state_dir, report.notes)
                         | checkpoint_numbers.abandoned_before(Path(cfg.state_dir) / "rabtui.db"))
    read_discs(cfg, store, report, emit, prompter, cancel, drives)
    nothing_read.refuse(cfg, report, discs_read=True, in_place=replacing)
    did_not_fit.record(store, report)
    if report.numbers_used:
        checkpoint_numbers.remember(store, max(report.numbers_used))
    _schedule_marks(cfg, store)
    with store.transaction() as conn:
        changes.rebuild(conn)
    # in the file put in place: written or still to write; and those of the database replaced on the
    # media not read now, which their next backup or rebuild-state writes (their backups keep the ids)
    carried = [w for w in unwritten if found.get(w.medium) is None]
    for m in sorted({w.medium for w in carried}):
        report.notes.append(f"medium {m}: {sum(w.medium == m for w in carried)} id(s) still to write into its"
                            " backup records kept: the next backup of their source onto it, or rebuild-state with"
                            " it here, writes them")
    id_writes.keep(store, report.to_write + carried)
    return report


def _schedule_marks(cfg: Config, store: Store) -> None:
    """A scheduled source counts as run for the slot before its newest backup that ended (complete,
    failed, or its data kept by the run itself: its step 7 ended, as its backup.json says), so that
    run-due after a rebuild does not start a backup at once for a slot that was already served. A
    run killed (found abandoned, or its data kept by a recovery or by this rebuild) served none: its
    slot stays due, as run-due leaves it (schedule._ENDED); nor did one that failed as its whole run
    was stopped (a shutdown's SIGTERM: its backup.json says `cancelled_by` run), which run-due leaves
    due too. A backup dated ahead (a clock that was wrong) is not its newest: its slot's mark would
    not count."""
    from rabtui.ops import schedule

    ahead = (datetime.now() + schedule.CLOCK_SLACK).timestamp()
    for s in cfg.sources:
        if not s.schedule:
            continue
        ended = next((r["started"] for r in store.all(
            f"SELECT started, status, path FROM backups WHERE source=? AND (status IN {RESTORABLE_SQL} OR"
            " status='failed') AND started<=? ORDER BY started DESC", (s.id, ahead))
            if _served(r["status"], r["path"])), None)
        slot = schedule.last_slot(s.schedule, datetime.fromtimestamp(ended)) if ended else None
        if slot is not None:
            schedule.mark_run(store, s.id, slot)


def _served(status: str, path: str | None) -> bool:
    """Whether a backup that ended as `status` (restorable, or failed) served its schedule time."""
    if status == KEPT:
        return _kept_ended(path)
    return status != "failed" or not cancelled_by.stopped_with_its_run(
        medium_layout.read_backup_json(path) if path else None)


def _kept_ended(path: str | None) -> bool:
    """Whether kept data's backup.json says its run ended its step 7 (its post-backup commands
    failed, or a link into a union did), not a recovery that kept a killed run's data."""
    info = medium_layout.read_backup_json(path) if path else None
    if not info or info.get("status") != KEPT:     # found running: kept by this rebuild (its record unwritten)
        return False
    steps = info.get("steps")
    return isinstance(steps, list) and any(isinstance(st, dict) and st.get("step") == 7 and st.get("state") == "ok"
                                           for st in steps)


def _with_medium(state_dir, medium, report: Report, emit: Emit, work, *, writing: bool = False, cancel=None):
    """What `work` returns, run with the medium mounted as rabtui's other users of it mount it (a
    look's read-only mount left by a killed find unmounted first, a look meanwhile waited for);
    None, said, when it cannot be mounted.
    `writing` (once the new database is in place, where a failure must leave the rest written): its
    mount point no directory any more, or on a file system turned read-only, is said too. `cancel`
    ends a wait for another process's mount or unmount of it (Cancelled: the rebuild stops)."""
    from rabtui.media import mounting

    try:
        with mounting.mounted(medium, emit, state_dir, cancel=cancel):
            return work()
    except (WorkFailed, MissingTool, LockBusy) as exc:
        report.unmatched.append(f"medium {medium.id}: {exc}")
    except OSError as exc:
        if not writing:
            raise
        report.unmatched.append(f"medium {medium.id}: cannot be used at {medium.path}: {exc.strerror or exc}")
    return None


def _still_known(store: Store, medium, known: dict) -> None:
    """A medium the database replaced knew, not read now (its disk away, another disk at its path,
    not mountable): the new database knows it still, with the label of the disk it used as it, so
    that neither the empty directory at its path is labelled afresh nor another disk taken for it."""
    if known.get(medium.id):
        mounts.remember_label(store, medium, known[medium.id])
    elif medium.id in known:
        mounts.remember_away(store, medium.id)


def _read_medium(store, medium, source_ids, report: Report, known: dict) -> dict[str, Listed] | None:
    """The medium recorded, and the backups of each source on it with their records (None when it
    is not the labelled medium, or another disk than the one the database replaced used as it)."""
    from rabtui.media import medium as mediamod

    path = Path(medium.path)
    label = mediamod.read_label(path) if path.is_dir() else None
    if label is None:
        report.unmatched.append(f"medium {medium.id}: no labelled medium at {path}")
        return
    if label.get("id") != medium.id:
        report.unmatched.append(f"medium {medium.id}: {path} is labelled {mediamod.said_id(label)}")
        return
    other = mounts.labelled_otherwise(medium, label, known.get(medium.id))
    if other:     # its backups are not this server's: the medium's own disk is away
        report.unmatched.append(f"medium {medium.id}: {other}; not read (`rabtui media label {medium.id} --force`"
                                " takes it over, then rebuild-state reads it)")
        return
    if not mounts.tells_apart(known.get(medium.id)):
        when = label.get("created") or "an unknown date"
        report.notes.append(f"medium {medium.id}: the disk at {path} (labelled on {when}) is taken as it: no label"
                            f" of the disk this server used as {medium.id} was remembered to check it against (is it"
                            " not another server's?)")
    report.media.append(medium.id)
    report.numbers_used |= checkpoint_numbers.read_record(path, ignored=report.notes)
    report.abandoned |= checkpoint_numbers.read_record(path, checkpoint_numbers.ABANDONED, "abandoned",
                                                       report.notes)
    import json

    sp = mediamod.space(path)
    store.execute("INSERT OR REPLACE INTO media(id, label, last_seen, total_bytes, free_bytes, total_inodes,"
                  " free_inodes) VALUES (?,?,?,?,?,?,?)",
                  (medium.id, json.dumps(label), time.time(), sp["total_bytes"], sp["free_bytes"],
                   sp["total_inodes"], sp["free_inodes"]))
    # read where it is used: whether its path is a mount point, which a later backup checks
    mounts.remember_mount(store, medium)
    found: dict[str, Listed] = {}
    for name in sorted(os.listdir(path)):
        if name.startswith(".") or not (path / name).is_dir():
            continue
        if name not in source_ids:
            if medium_layout.list_backups(path, name):
                report.unmatched.append(f"medium {medium.id}: backups of {name}, a source not in the config"
                                        + (": not recorded, their files stay on the medium as they are (to find"
                                           " and restore them, put the source back into the config and run"
                                           " `rabtui rebuild-state` again)" if ID_RE.fullmatch(name) else ""))
            continue
        listed = [(bname, bpath, _record(medium.id, bname, bpath, bj, report))
                  for bname, bpath, bj in medium_layout.list_backups(medium.path, name)]
        order = backup_ids.made_order([n for n, _, _ in listed], [r.link_dest for _, _, r in listed],
                                       [r.backup_id for _, _, r in listed])
        found[name] = [listed[i] for i in order]
        report.unmatched += [f"medium {medium.id}: {said}" for said in renamed.renamed_backups(medium.path, name)]
    return found


def _last_used(cfg: Config, store: Store, media: list[str]) -> None:
    """Each medium read was last used when the backup made last on it was made (store.as_made, once
    every medium's backups are recorded): by their dates, the medium of a backup dated ahead by a
    wrong clock was the one used last, and the rotation went on after it."""
    for medium_id in media:
        times = [store.one(f"{made_first()}SELECT MAX({as_made()}) AS t FROM backups b WHERE b.source=? AND b.medium=?",
                           (s.id, s.id, medium_id))["t"] for s in cfg.sources]
        store.execute("UPDATE media SET last_used=? WHERE id=?",
                      (max((t for t in times if t is not None), default=None), medium_id))


def _record(medium_id: str, name: str, bpath: Path, info: dict | None, report: Report) -> record.Record:
    """The backup's record from its backup.json; one that does not say what it is, said in the report."""
    rec = record.read(name, bpath, info)
    if rec.unread:
        report.unmatched.append(f"medium {medium_id}: {bpath / 'backup.json'}: {rec.unread}; the backup is recorded as"
                                " failed, kept, never deleted nor used as a base (it may be complete): correct the"
                                " file and run `rabtui rebuild-state` again, or delete the directory")
    if rec.notes:
        report.unmatched.append(f"medium {medium_id}: {bpath / 'backup.json'}: {'; '.join(rec.notes)};"
                                " the backup is recorded from the rest of the file")
    return rec


def write_ids(cfg: Config, store: Store, report: Report, emit: Emit = no_emit) -> None:
    """The ids the database in place (`store`) records backups under and their backup.json does not
    say yet (id_writes.py: rebuild-state's, once that database is in place; a rebuild that fails
    before leaves every record as the database kept in place knows it), each medium mounted again;
    each written is forgotten, what could not be is said, and stays to write."""
    todo = id_writes.pending(store)
    for medium in cfg.media:
        mine = [w for w in todo if w.medium == medium.id]
        if mine and _with_medium(cfg.state_dir, medium, report, emit,
                                 lambda m=medium, w=mine: _write_ids_on(m, w, store, report), writing=True) is None:
            report.unmatched += [f"medium {medium.id}: {w.path}: recorded as backup id {w.bid}; its backup.json could"
                                 " not be changed: the medium cannot be mounted" for w in mine]
    report.to_write = []


def write_old_ids(cfg: Config, report: Report, emit: Emit = no_emit,
                  known: dict | None = None, cancel=None) -> list[id_writes.Write]:
    """The ids the database about to be replaced records backups under and a rebuild-state killed
    before it wrote them left unwritten: written before the media are read, so that the records say
    the ids the discs' READMEs may name them by, and keep them as former ids if renumbered again.
    Those left unwritten, of media not in the config too (taken out of it meanwhile: kept for
    when it is back)."""
    todo = id_writes.pending_in(Path(cfg.state_dir) / "rabtui.db")
    configured = {m.id for m in cfg.media}
    left = [w for w in todo if w.medium not in configured]
    for medium in cfg.media:
        mine = [w for w in todo if w.medium == medium.id]
        if mine:
            rest = _with_medium(cfg.state_dir, medium, report, emit,
                                lambda m=medium, w=mine: _old_ids_on(m, w, report, known or {}), writing=True,
                                cancel=cancel)
            left += mine if rest is None else rest
    return left


def _old_ids_on(medium, writes: list, report: Report, known: dict) -> list:
    """_write_ids_on, on the disk the database replaced used as the medium only: another labelled as
    it (another server's, one labelled anew) holds none of these backups, which would be taken for
    gone and their writes dropped; they are left, and _read_medium says why it reads no backup there."""
    from rabtui.media import medium as mediamod

    path = Path(medium.path)
    label = mediamod.read_label(path) if path.is_dir() else None
    if mounts.labelled_otherwise(medium, label, known.get(medium.id)):
        return writes
    return _write_ids_on(medium, writes, None, report)


def _write_ids_on(medium, writes: list, store: Store | None, report: Report) -> list:
    """Those of `writes` left unwritten (_with_medium returns None for a medium it could not mount)."""
    problem = label_problem(medium, store)     # with the new database: another disk labelled as it is not it
    if problem is not None:
        report.unmatched += [f"medium {medium.id}: {w.path}: recorded as backup id {w.bid}; its backup.json"
                             f" could not be changed: {problem}" for w in writes]
        return writes
    left = []
    for w, finished, said in id_writes.write_in_order(medium, writes):
        (report.renumbered if finished else report.unmatched).append(said)
        if finished and store is not None:
            id_writes.done(store, w)
        if not finished:
            left.append(w)
    return left
