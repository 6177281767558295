"""`rabtui backup [ID ...] [--all] [--medium ID]`, `rabtui status [--json]`, `rabtui media label ID`."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from rabtui import fmt
from rabtui.state import jobs
from rabtui.state import locks
from rabtui.ssh import shared as shared_ssh
from rabtui.backup import batch
from rabtui.media import medium as media
from rabtui.backup.as_job import run_backup_job
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, LockBusy, RabtuiError, UsageError, worst_exit
from rabtui.state.store import COMPLETE_SQL

from . import progress
from .common import TerminalPrompter, cancel_on_signals, load_config, open_store, print_json, warn_undelivered


def register(sub) -> None:
    p = sub.add_parser("backup", help="back up sources now, in the foreground, with progress")
    p.add_argument("ids", nargs="*", metavar="ID", help="the sources to back up")
    p.add_argument("--all", action="store_true", help="every configured source")
    p.add_argument("--medium", metavar="ID", help="this medium instead of the next one of the rotation")
    p.add_argument("-v", "--verbose", action="store_true", help="show the log lines as well")
    p.add_argument("--job-id", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("status", help="sources, last backups, media, checkpoint counters, running jobs")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("media", help="media of the rotation")
    group = p.add_subparsers(dest="media_command", metavar="ACTION")
    p.set_defaults(func=lambda args: p.print_help() or EXIT_USAGE)
    q = group.add_parser("label", help="write a medium's label file (.rabtui-medium)")
    q.add_argument("id", metavar="ID")
    q.add_argument("--force", action="store_true", help="label a medium that holds files but no label, or one rabtui has used"
                   " before whose label is gone")
    q.set_defaults(func=cmd_media_label)


# --- backup ----------------------------------------------------------------------------------------


def cmd_backup(args) -> int:
    cfg = load_config(args, check_media=False)
    if not cfg.sources:
        raise UsageError(f"no sources in {cfg.path}")
    if not cfg.media:
        raise UsageError(f"no media in {cfg.path}: add a [[media]] table")
    if args.all:
        if args.ids:
            raise UsageError("give source ids or --all, not both")
        ids = [s.id for s in cfg.sources]
    elif args.ids:
        ids = list(dict.fromkeys(args.ids))
        for sid in ids:
            cfg.source(sid)   # unknown id: exit 2 before anything runs
    else:
        raise UsageError("name the sources to back up, or use --all",
                         hint="sources: " + ", ".join(s.id for s in cfg.sources))
    if args.job_id is not None and len(ids) != 1:
        raise UsageError("--job-id goes with exactly one source")
    first_login = _start_login(cfg, ids[0])
    try:
        store = open_store(cfg)
        # One medium for the whole run, as RAB does: all sources of the day on the same medium.
        medium = cfg.medium(args.medium) if args.medium else media.next_medium(cfg, store)
        run_cancel = batch.RunCancel()
        several = len(ids) > 1
        with cancel_on_signals(run_cancel), progress.terminal_emit(verbose=args.verbose, several=several) as display:

            if not several:
                return _backup_one(cfg, store, ids[0], medium.id, display.emit_for(ids[0]), args.job_id,
                                   run_cancel, first_login)
            with jobs.queued(store, "backup", [(sid, f"backup of {sid}") for sid in ids]) as waiting:

                def work(sid: str) -> int:
                    login = first_login if sid == ids[0] else None
                    return _backup_one(cfg, store, sid, medium.id, display.emit_for(sid), None, run_cancel, login,
                                       queued_id=waiting[sid])

                with batch.day_medium(store, medium, display.emit_for(None)) as together:
                    codes = batch.run_each(store, ids, work, cfg.rabtui.max_parallel if together else 1)
        return functools.reduce(worst_exit, codes, EXIT_OK)
    finally:
        if first_login is not None:
            first_login.close()


def _start_login(cfg, sid: str):
    """The first source's SSH login (step 1), started now: it overlaps the rest of the start-up.
    Should it not even start, step 1 tries again and records why."""
    source = cfg.source(sid)
    if source.is_local:
        return None
    login = shared_ssh.SharedConnection(cfg, source)
    try:
        login.start()
    except (RabtuiError, OSError):
        login.close()
        return None
    return login


def _backup_one(cfg, store, sid: str, medium_id: str, emit, job_id: int | None, run_cancel, login=None,
                queued_id: int | None = None) -> int:
    """One source's backup as its own job (`queued_id`: its row while it waited its turn); its
    outcome said on stderr when it failed. Runs in a thread of its own when several sources run
    at once."""
    recorder = jobs.JobRecorder(store, "backup", sid, f"backup of {sid}",
                                job_id=job_id if job_id is not None else queued_id)
    if run_cancel.not_started(recorder):
        if login is not None:
            login.close()
        print(fmt.lines(f"rabtui: {sid}: {batch.NOT_STARTED}"), file=sys.stderr)
        return EXIT_FAILED
    prompter = recorder.prompter() if job_id is not None else TerminalPrompter()
    try:
        with run_cancel.covering(recorder.cancel):
            outcome = run_backup_job(cfg, store, sid, recorder, emit=progress.combine(recorder.emit, emit),
                                     prompter=prompter, medium_id=medium_id, ssh=login)
    except LockBusy as exc:
        print(fmt.lines(f"rabtui: {sid}: {exc}"), file=sys.stderr)
        recorder.finish("failed", exc.exit_code, str(exc))
        return exc.exit_code
    if outcome.error:
        print(fmt.lines(f"rabtui: {sid}: {outcome.error}"), file=sys.stderr)
    warn_undelivered(outcome.notify_problems)
    return outcome.exit_code


# --- status ----------------------------------------------------------------------------------------


def _age(ts: float | None) -> str:
    if not ts:
        return "never"
    seconds = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts).isoformat(timespec="seconds") if ts else None


def gather_status(cfg, store) -> dict:
    sources = []
    for s in cfg.sources:
        last = store.one("SELECT * FROM backups WHERE source=? ORDER BY started DESC, id DESC LIMIT 1", (s.id,))
        good = store.one(f"SELECT * FROM backups WHERE source=? AND status IN {COMPLETE_SQL}"
                         " ORDER BY started DESC, id DESC LIMIT 1", (s.id,))
        running = locks.source_lock(cfg.state_dir, s.id).is_held()
        sources.append({
            "id": s.id,
            "host": s.host or "local",
            "running": running,
            "last": _backup_dict(last),
            "last_complete": _backup_dict(good),
        })
    try:
        next_id = media.next_medium(cfg, store).id if cfg.media else None
    except RabtuiError:
        next_id = None
    media_out = []
    for m in cfg.media:
        row = store.one("SELECT * FROM media WHERE id=?", (m.id,))
        present = Path(m.path).is_dir()
        mounted = os.path.ismount(m.path) if m.device else present
        label = free = None
        if present:
            try:
                label = media.read_label(m.path)
                free = media.space(m.path)["free_bytes"]
            except (RabtuiError, OSError):
                pass
        if free is None and row is not None:
            free = row["free_bytes"]
        media_out.append({
            "id": m.id,
            "path": str(m.path),
            "device": m.device,
            "mounted": mounted,
            "label": (label or {}).get("id") if label else None,
            "label_ok": bool(label) and label.get("id") == m.id,
            "free_bytes": free,
            "last_used": _iso(row["last_used"]) if row else None,
            "next": m.id == next_id,
        })
    counters = []
    for s in cfg.sources:
        for d in s.directories:
            row = store.one("SELECT * FROM dir_state WHERE source=? AND path=?", (s.id, d.path))
            counters.append({
                "source": s.id,
                "path": d.path,
                "kind": d.kind,
                "changed_since_checkpoint": row["changed_since_checkpoint"] if row else 0,
                "max_changed_files": cfg.max_changed_files(d),
                "last_checkpoint": row["last_checkpoint"] if row else None,
                "last_checkpoint_time": _iso(row["last_checkpoint_time"]) if row else None,
                "max_days": cfg.max_days(d),
                "did_not_fit": _iso(row["did_not_fit"]) if row else None,
            })
    running_jobs = [
        {"id": j["id"], "kind": j["kind"], "target": j["target"], "title": j["title"], "status": j["status"],
         "pid": j["pid"], "started": _iso(j["started"])}
        for j in jobs.running_jobs(store)
    ]
    return {"sources": sources, "media": media_out, "checkpoint_counters": counters, "jobs": running_jobs}


def _backup_dict(row) -> dict | None:
    if row is None:
        return None
    return {
        "id": row["id"], "name": row["name"], "medium": row["medium"], "status": row["status"],
        "started": _iso(row["started"]), "finished": _iso(row["finished"]), "age": _age(row["started"]),
        "total_bytes": row["total_bytes"], "new_bytes": row["new_bytes"], "reason": row["reason"],
    }


def cmd_status(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    data = gather_status(cfg, store)
    if args.json:
        print_json(data)
        return EXIT_OK
    print("Sources")
    if not data["sources"]:
        print("  (none configured)")
    for s in data["sources"]:
        last = s["last"]
        if last is None:
            line = "never backed up"
        else:
            line = (f"{last['status']} {last['age']} on {last['medium']}, total {fmt.size(last['total_bytes'])},"
                    f" new {fmt.size(last['new_bytes'])}")
            if last["reason"]:
                line += f" ({last['reason']})"
            good = s["last_complete"]
            if last["status"] not in ("completed", "warnings") and good:
                line += f"; last complete {good['age']}"
        running = "  [running]" if s["running"] else ""
        print(fmt.name(f"  {s['id']} ({s['host']}): {line}{running}"))
    print("Media")
    for m in data["media"]:
        state = "mounted" if m["mounted"] else ("not mounted" if m["device"] else "missing")
        label = m["label"] or "no label"
        if m["label"] and not m["label_ok"]:
            label = f"WRONG LABEL {m['label']!r}"
        nxt = "  <- next" if m["next"] else ""
        print(fmt.name(f"  {m['id']}: {m['path']}, {state}, {label}, free {fmt.size(m['free_bytes'])},"
                       f" last used {m['last_used'] or 'never'}{nxt}"))
    print("Checkpoint counters")
    for c in data["checkpoint_counters"]:
        extra = f", did not fit {c['did_not_fit']}" if c["did_not_fit"] else ""
        last = c["last_checkpoint_time"] or "never"
        print(fmt.name(f"  {c['source']}:{c['path']} ({c['kind']}): {c['changed_since_checkpoint']}/"
                       f"{c['max_changed_files']} changed files, last checkpoint {last} (max {c['max_days']} days){extra}"))
    print("Running jobs")
    if not data["jobs"]:
        print("  none")
    for j in data["jobs"]:
        print(fmt.name(f"  #{j['id']} {j['title']} ({j['status']}, pid {j['pid']}, since {j['started']})"))
    return EXIT_OK


# --- media label -----------------------------------------------------------------------------------


def cmd_media_label(args) -> int:
    cfg = load_config(args, check_media=False)
    print(media.label_medium(open_store(cfg), cfg.medium(args.id), force=args.force))
    return EXIT_OK
