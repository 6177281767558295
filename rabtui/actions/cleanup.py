"""The cleanup verb: the killed runs on the media that are here recovered first (recover), then
retention applied across all media at once (the plan: backup/retention.py; doing it:
backup/deletion.py), then the event log pruned. The front shows the plan (plan_lines) before it is
applied."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator

from rabtui import faults, fmt, temp_dirs
from rabtui.backup import abandoned_left, deletion, records, recovery, removed_runs, retention, superseded
from rabtui.backup.run_lock import source_lock
from rabtui.checkpoint import old_scratch, verify_scratch
from rabtui.config import Config
from rabtui.errors import Cancelled, LockBusy, RabtuiError
from rabtui.events import LOG, WARNING, Emit, Event, no_emit
from rabtui.media import mounting
from rabtui.ops import notify
from rabtui.restore import staging
from rabtui.state import jobs
from rabtui.state.dir_lock import StateDirLock
from rabtui.state.locks import Lock, cleanup_lock
from rabtui.state.store import Store
from rabtui.state.store_check import state_failure
from rabtui.state.store_whole import check_pages

Plan = retention.Plan
Applied = deletion.Applied


class AnotherCleanup(LockBusy):
    """Another cleanup runs: this one deletes nothing (that one deletes what is due)."""


@contextmanager
def one_at_a_time(cfg: Config, what: str = "a cleanup") -> Iterator[Lock]:
    """The cleanup lock, held by a whole cleanup (its recovery, plan and deletions: `apply(held=)`),
    else AnotherCleanup naming the cleanup that runs now, before anything is done or said: a second one
    printed the deletions the first was making as its own plan, the first's half-done ones as
    interrupted ones to finish, then deleted nothing and ended with 0; one that began as the first
    made its plan (a look for it, not the lock) deleted then, and the first one after it. The state
    directory's flock first, as every command that changes the media takes it (RunsAlone), `what`
    taking it as a refusal names it."""
    lock = cleanup_lock(cfg.state_dir)
    with StateDirLock(cfg.state_dir, what):
        try:
            lock.acquire()
        except LockBusy as exc:
            raise AnotherCleanup(f"{exc}: this one deletes nothing (that one deletes what is due)",
                                 hint="run it again once that one has ended") from None
        try:
            yield lock
        finally:
            lock.release()


def recover(cfg: Config, store: Store, emit: Emit, cancel: threading.Event | None = None) -> None:
    """The killed runs on the media that are here (mounting those with a device), recovered as the
    next backup of their source onto their medium would (recovery.recover_abandoned), each source's
    under its lock, before the plan is made: one killed once its backup.json said complete, its
    medium away at the next run, waits `running` for a run that finds the medium there, and is
    recorded then; the record of one marked abandoned while its medium was away is made to say so
    (abandoned_left.say_left_abandoned). A source whose backup runs now is left to it (it recovers them itself). The
    staging directories killed restores left in the state directory go first (restore/staging.py),
    with the private directories of other killed runs there (temp_dirs.py: a rebuild-state's copy
    of a disc's database; in `checkpoints/`, the discs verifications extracted and the stand-ins
    plans and burns tried, and what verifications of earlier versions extracted into a checkpoint's
    own directory: old_scratch.py). Refused (RunsAlone) while a restore runs alone, as apply is.
    `cancel` (SIGTERM, SIGHUP, a first Ctrl-C) stops it before it begins and between sources, each
    source's recovery ended whole (Cancelled: no backup deleted); it ends a wait for another process's
    mount or unmount of a medium (Cancelled), as it does in plan and apply: each waits up to
    mounting.MOUNT_WAIT."""
    with StateDirLock(cfg.state_dir, "a cleanup"):
        faults.point("cleanup.begun")
        _go_on(cancel, "before it began", "nothing deleted")
        _recover(cfg, store, emit, cancel)


def _go_on(cancel: threading.Event | None, when: str, deleted: str = "no backup deleted") -> None:
    """Cancelled when `cancel` is set, at a point where the cleanup has deleted no backup yet (the
    partial directories of the interrupted runs it recovered, each said, may be gone: `deleted`
    says "nothing deleted" only before it began)."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"cleanup cancelled {when}: {deleted}, what is due is left for the next cleanup")


def _recover(cfg: Config, store: Store, emit: Emit, cancel: threading.Event | None) -> None:
    staging.remove_abandoned(os.fsencode(cfg.state_dir), emit)
    checkpoints = os.fsencode(verify_scratch.scratch_place(cfg.state_dir))
    for path in (temp_dirs.remove_dead(os.fsencode(cfg.state_dir)) + temp_dirs.remove_dead(checkpoints)
                 + verify_scratch.remove_dead_scratch(cfg.state_dir)):
        emit(Event(LOG, f"removed {fmt.name(path)}, the private directory of a run that did not end"))
    for path in old_scratch.remove(cfg.state_dir):
        emit(Event(LOG, f"removed {fmt.name(path)}, what a verification by an earlier version extracted and left"))
    media = {m.id: m for m in cfg.media}
    sources = {s.id for s in cfg.sources}
    waiting: dict[str, list] = {}
    # a source no longer in the config's too: its partial runs go; and those marked abandoned while
    # their medium was away, whose record may say running still
    for r in records.running_rows(store) + abandoned_left.left_abandoned(store):
        if r["medium"] in media and media[r["medium"]] not in waiting.get(r["source"], ()):
            waiting.setdefault(r["source"], []).append(media[r["medium"]])
    for source_id, on in waiting.items():
        _go_on(cancel, "as it recovered interrupted backups")
        try:
            with source_lock(cfg, source_id, by=f"a cleanup recovering {source_id}'s interrupted backups"):
                for medium in on:
                    try:
                        with mounting.mounted(medium, emit, cfg.state_dir, cancel=cancel):
                            if retention.medium_present(store, medium):
                                faults.point("cleanup.recovering")
                                recovery.recover_abandoned(store, source_id, emit, cfg, medium=medium.id,
                                                           configured=source_id in sources)
                                abandoned_left.say_left_abandoned(store, medium, source_id, emit)
                    except Cancelled:
                        raise
                    except (RabtuiError, OSError) as exc:     # a device that cannot be mounted: the next run tries
                        why = exc if isinstance(exc, RabtuiError) else f"{exc.filename}: {exc.strerror}"
                        emit(Event(WARNING, f"{source_id}: its interrupted backups on medium {medium.id} are left"
                                            f" for the next run: {why}"))
        except LockBusy:
            continue


def plan(cfg: Config, store: Store, now: datetime | None = None, dry_run: bool = False,
         emit: Emit = no_emit, sources: list[str] | None = None,
         failed_grace: timedelta = retention.FAILED_GRACE, cancel: threading.Event | None = None) -> Plan:
    """What cleanup would delete now, judged across all media at once (writes nothing), with each
    medium that has a device mounted as the cleanup mounts it to delete: what is on it is read
    (a backup whose record cannot be read is kept, what it frees is counted), so that the plan, and
    a dry run, say what the cleanup does. A dry run recovers no killed run (recover): those the
    cleanup would recover first are named in its notes, with what that may change. `emit` hears
    of the mounting (a medium left mounted: its WARNING). `sources`: theirs only (default: all);
    `failed_grace`: how old a failed or abandoned run goes (one superseded goes at once). Every
    page of the database is read first (check_pages): what it deletes, for good, is judged from it.
    `cancel` set: Cancelled, before anything is read."""
    _go_on(cancel, "before its plan")
    check_pages(store.conn)
    with mounting.all_mounted(cfg.media, emit, state_dir=cfg.state_dir, cancel=cancel):
        made = retention.plan_cleanup(cfg, store, now=now, sources=sources, failed_grace=failed_grace)
        if sources is None:     # and the failed runs of the sources taken out of the config
            removed_runs.plan_removed(cfg, store, made, now or datetime.now(), failed_grace=failed_grace)
        else:     # what a killed deletion left is finished by the next deletion, whichever sources it plans
            made.leftovers = removed_runs.every_leftover(cfg, store)
        if dry_run:
            made.notes[:0] = recovery.would_recover(cfg, store) + _another_running(cfg)
        return made


def _another_running(cfg: Config) -> list[str]:
    """A dry run's note of the cleanup running now, if one does (the lock not taken): what that one
    is deleting shows in the plan too, as due or as the remains of an interrupted deletion."""
    lock = cleanup_lock(cfg.state_dir)
    if not lock.is_held():
        return []
    return [f"{lock.refusal()}: what it is deleting may show here too (due, or as the remains of an interrupted"
            " deletion), and a cleanup started now deletes nothing"]


# a failed run older than this is of a night before: it goes before the backups (a cleanup waits a
# day, but the night after begins a little less than a day later, and its data, on a full medium,
# would fail that night's backups too)
NIGHT_BEFORE = timedelta(hours=12)


def partial_data_first(cfg: Config, store: Store, emit: Emit, clock: datetime,
                       cancel: threading.Event | None = None) -> None:
    """Before the backups of run-due, and of `backup` of several sources: what killed deletions left
    (.deleting-<name>) finished, and the failed and abandoned runs of a night before (NIGHT_BEFORE)
    or that later complete backups supersede (superseded.py) deleted, as a cleanup would delete
    them: they may take the room the backups need (of the configured sources only: a cleanup plans
    no other's). Each line is said as LOG through `emit`; what fails is left to the next cleanup,
    which says it again and notifies it. Another cleanup running, all is left to it (said)."""
    def said(event: Event) -> None:
        emit(Event(LOG, event.message))

    try:
        # under the cleanup lock from its plan on: it said another's deletions as its own, then made
        # them (over what was gone) once that one ended
        with one_at_a_time(cfg, "the cleanup before the backups") as held:
            configured = {s.id for s in cfg.sources}
            sources = [s for s in superseded.sources_with(store, (clock - NIGHT_BEFORE).timestamp()) if s in configured]
            made = plan(cfg, store, now=clock, emit=said, sources=sources, failed_grace=NIGHT_BEFORE, cancel=cancel)
            going = Plan(delete=[c for c in made.delete if c.status in ("failed", "abandoned")],
                         leftovers=made.leftovers)
            if not going.delete and not going.leftovers:
                return
            going.freed_bytes = sum(c.freed_bytes for c in going.delete)
            for line in plan_lines(going, False):
                emit(Event(LOG, line))
            done = deletion.apply_cleanup(cfg, store, going, cancel=cancel, held=held)
    except (RabtuiError, OSError, sqlite3.Error) as exc:
        failure = state_failure(exc, cfg.state_dir / "rabtui.db") if isinstance(exc, sqlite3.Error) else exc
        emit(Event(LOG, f"cleanup before the backups: {failure}"))
        return
    stopped = [f"cleanup before the backups: {cancelled_line(going, done)}"] if done.cancelled else []
    for line in done_lines(going, done) + [f"cleanup before the backups: {p}" for p in done.failed] + stopped:
        emit(Event(LOG, line))


def apply(cfg: Config, store: Store, plan: Plan, now: datetime | None = None,
          cancel: threading.Event | None = None, held: Lock | None = None) -> Applied:
    """Delete what the plan says, then prune the event log. Returns what was deleted, what was
    kept for a later cleanup and what failed (a read-only medium, say); failures are notified.
    Refused (RunsAlone) while a restore runs alone (dir_lock.py): without its lock files, a cleanup
    would see neither what it reads nor that it mounted the medium. A dry run (plan alone) deletes
    nothing, and may run meanwhile. `held`: the cleanup lock, taken by the caller (one_at_a_time)."""
    with StateDirLock(cfg.state_dir, "a cleanup"):
        done = deletion.apply_cleanup(cfg, store, plan, cancel=cancel, held=held)
    jobs.prune_events(store)
    if done.failed:
        done.undelivered = notify.send(cfg, notify.make_event("cleanup_failed", "failed", "; ".join(done.failed),
                                                              now=now))
    return done


def has_work(plan: Plan) -> bool:
    """Whether applying the plan changes anything on the media (run-due says the plan only then)."""
    return bool(plan.delete or plan.leftovers or plan.refused or plan.notes or plan.unions)


def plan_lines(plan: Plan, dry_run: bool) -> list[str]:
    """What the plan deletes and keeps, one line each (names escaped for a terminal); a dry run
    ends with what the plan would free, a real one says it after it ran (done_lines)."""
    verb = "would delete" if dry_run else "deleting"
    out = [fmt.name(note) for note in plan.notes]
    out += [fmt.name(f"{verb} {c.source} {c.name} on {c.medium} ({c.why}), frees {fmt.size(c.freed_bytes)}")
            for c in plan.delete]
    out += [fmt.name(f"{verb} the .archive/ view of {u.dir} of {u.source} on {u.medium} (no backup there is an"
                     f" archive one of it now), frees {fmt.size(u.freed_bytes)}") for u in plan.unions]
    out += [fmt.name(f"keeping {name}: {why}") for _, name, why in plan.guarded]
    out += [fmt.name(f"deleting no backup of {source}, as the plan cannot be proven safe: {why}")
            for source, why in plan.refused]
    out += [fmt.name(f"{verb} the remains of an interrupted deletion: {p}") for p in plan.leftovers]
    if dry_run:
        out.append(f"{fmt.count(len(plan.delete), 'backup')}, {fmt.size(plan.freed_bytes)} freed (dry run: nothing deleted)")
    return out


def done_lines(plan: Plan, done: Applied) -> list[str]:
    """After a cleanup: the planned deletions it left and why, then what it deleted and freed
    (names escaped for a terminal). Its failures are in done.failed."""
    out = [fmt.name(line) for line in done.kept]
    deleted = fmt.count(len(done.deleted), "backup") if len(done.deleted) == len(plan.delete) else \
        f"{len(done.deleted)} of {fmt.count(len(plan.delete), 'backup')}"
    views = f", {fmt.count(len(done.unions), '.archive/ view')} removed" if done.unions else ""
    out.append(f"{deleted} deleted{views}, {fmt.size(done.freed_bytes)} freed")
    return out


def cancelled_line(plan: Plan, done: Applied) -> str:
    """What a cancelled cleanup left (done.cancelled): said once, after its done_lines."""
    return (f"cancelled: {len(done.deleted)} of {fmt.count(len(plan.delete), 'planned deletion')} made (each one"
            " begun ended whole), the others left for the next cleanup")
