"""`rabtui backup [ID ...] [--all] [--medium ID]`, `rabtui status [--json]`, `rabtui media label ID`."""

from __future__ import annotations

import argparse
import os
import sys

from rabtui import fmt
from rabtui.actions import backup as backup_actions
from rabtui.actions import media as media_actions
from rabtui.actions import status as status_actions
from rabtui.errors import EXIT_OK, EXIT_WARNINGS, LockBusy
from rabtui.state.store import KEPT
from rabtui.state.store_check import StateUnusable

from . import progress
from .common import (TerminalPrompter, cancel_on_signals, cancel_on_term, load_config, needs_action, number, open_store,
                     print_json, say, warn_undelivered)


def register(sub) -> None:
    p = sub.add_parser("backup", help="back up sources now, in the foreground, with progress")
    p.add_argument("ids", nargs="*", metavar="ID", help="the sources to back up")
    p.add_argument("--all", action="store_true", help="every configured source")
    p.add_argument("--medium", metavar="ID", help="this medium instead of the next one of the rotation")
    p.add_argument("-v", "--verbose", action="store_true", help="show each source's log lines as well")
    p.add_argument("--job-id", type=number, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("status", help="sources, last backups, media, checkpoint counters, running jobs")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status, reports=True)

    p = sub.add_parser("media", help="media of the rotation")
    group = p.add_subparsers(dest="media_command", metavar="ACTION")
    p.set_defaults(func=needs_action(p))
    q = group.add_parser("label", help="write a medium's label file (.rabtui-medium)")
    q.add_argument("id", metavar="ID")
    q.add_argument("--force", action="store_true", help="label a medium that holds files but no label, or one rabtui has used"
                   " before whose label is gone")
    q.set_defaults(func=cmd_media_label)


# --- backup ----------------------------------------------------------------------------------------


def cmd_backup(args) -> int:
    cfg = load_config(args, check_media=False)
    ids = backup_actions.chosen_sources(cfg, args.ids, args.all)
    try:
        store = open_store(cfg)
    except (StateUnusable, LockBusy) as exc:    # its directory full, rebuild-state running: each failed, notified
        run = backup_actions.not_started(cfg, ids, exc)
    else:
        cancel = backup_actions.RunCancel()
        prompter = TerminalPrompter() if args.job_id is None else None
        with cancel_on_signals(cancel), progress.terminal_emit(verbose=args.verbose, several=len(ids) > 1) as display:
            run = backup_actions.backup(cfg, store, display.emit_for, cancel, prompter, ids=ids, medium=args.medium,
                                        job_id=args.job_id)
    for outcome in run.outcomes:
        if outcome.error:
            say(fmt.lines(f"rabtui: {outcome.source}: {outcome.error}"), sys.stderr)
        warn_undelivered(outcome.undelivered)
    warn_undelivered(run.undelivered)
    return run.exit_code


# --- status ----------------------------------------------------------------------------------------


def cmd_status(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg, records=False)
    data = status_actions.report(cfg, store)
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
            if good and good["id"] != last["id"]:
                line += f"; last complete {good['age']}" + (
                    " (kept: the data saved whole, then its run failed)" if good["status"] == KEPT else "")
        running = "  [running]" if s["running"] else ""
        print(fmt.name(f"  {s['id']} ({s['host']}): {line}{running}"))
    print("Media")
    for m in data["media"]:
        # an empty directory where its disk was mounted: not mounted, as a backup says it
        there = m["device"] or os.path.isdir(m["path"])
        state = "mounted" if m["mounted"] else ("not mounted" if there else "missing")
        # an empty mount point or a path that is not there holds no label: the disk's was not read
        label = m["label"] or ("no label" if m["mounted"] else "label not read")
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
                       f"{c['max_changed_files']} changed files, last checkpoint {last} (max {fmt.count(c['max_days'], 'day')}){extra}"))
    print("Running jobs")
    if not data["jobs"]:
        print("  none")
    for j in data["jobs"]:
        print(fmt.name(f"  #{j['id']} {j['title']} ({j['status']}, pid {j['pid']}, since {j['started']})"))
    return EXIT_OK


# --- media label -----------------------------------------------------------------------------------


def cmd_media_label(args) -> int:
    cfg = load_config(args, check_media=False)
    # SIGTERM stops the medium's mount with it (hung, it outlived rabtui killed)
    labelled = media_actions.label(open_store(cfg), cfg.medium(args.id), force=args.force, cancel=cancel_on_term())
    print(labelled.done)
    if labelled.warning:
        say(fmt.lines(f"rabtui: warning: {labelled.warning}"), sys.stderr)
        return EXIT_WARNINGS
    return EXIT_OK
