"""`rabtui find | diff | restore | cleanup | check | run-due | schedule install | rebuild-state`."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

from rabtui import fmt
from rabtui.actions import cleanup as cleanup_actions
from rabtui.actions import find as find_actions
from rabtui.actions import rebuild as rebuild_actions
from rabtui.actions import restore as restore_actions
from rabtui.actions import run_due as run_due_actions
from rabtui.actions import setup as setup_actions
from rabtui.actions import status as status_actions
from rabtui.actions.backup import RunCancel
from rabtui.errors import EXIT_FAILED, EXIT_OK, LockBusy, UsageError
from rabtui.events import LOG, WARNING, Event
from rabtui.state.store_check import StateUnusable

from .common import (TerminalPrompter, cancel_on_signals, cancel_on_term, load_config, needs_action, number, open_store,
                     print_json, read_until_term, say, warn_undelivered)


def register(sub) -> None:
    p = sub.add_parser("find", help="every version of matching files, on media and checkpoint discs")
    p.add_argument("pattern", metavar="PATTERN",
                   help="part of a file name (of the whole path if it holds a /), or a glob with * ? [")
    p.add_argument("-i", "--ignore-case", action="store_true", help="match upper and lower case alike")
    p.add_argument("--source", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_find, reports=True)

    p = sub.add_parser("diff", help="files added, removed and changed between two backups")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("backups", nargs="*", metavar="BACKUP", help="two backup names (default: the last two complete)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diff, reports=True)

    p = sub.add_parser("restore", help="restore a file or directory from a backup or a checkpoint")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("path", metavar="PATH", help="the path on the source (absolute)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--backup", metavar="NAME", help="this backup (default: the newest that holds PATH)")
    g.add_argument("--checkpoint", metavar="N", type=number, help="from checkpoint N's discs")
    t = p.add_mutually_exclusive_group(required=True)
    t.add_argument("--to", metavar="DIR", help="below this local directory (the original path is kept below it)")
    t.add_argument("--to-source", action="store_true", help="back onto the source, at the original path")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist already")
    p.add_argument("--json", action="store_true", help="what was restored and what not, by kind, as JSON")
    p.add_argument("--job-id", type=number, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("cleanup", help="apply retention: delete old backups (see --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="list what would go and the space it frees")
    p.add_argument("--now", metavar="ISO", type=moment, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_cleanup)

    p = sub.add_parser("check", help="health check: exit 0 ok, 1 warning, 2 critical")
    p.add_argument("--prometheus", metavar="FILE", help="also write node_exporter textfile metrics")
    p.add_argument("--now", metavar="ISO", type=moment, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_check, reports=True)

    p = sub.add_parser("run-due", help="for cron/systemd: due backups, cleanup, health check; names the checkpoints"
                                       " due (`checkpoint burn` writes them)")
    p.add_argument("--now", metavar="ISO", type=moment, help="pretend it is this time (testing)")
    p.set_defaults(func=cmd_run_due)

    p = sub.add_parser("schedule", help="timers that call run-due")
    g2 = p.add_subparsers(dest="schedule_command", metavar="ACTION")
    p.set_defaults(func=needs_action(p))
    q = g2.add_parser("install", help="print the systemd service and timer (and the crontab line) for run-due")
    q.add_argument("--write", action="store_true",
                   help="write the service and timer into systemd's unit directory (/etc/systemd/system as root,"
                        " else ~/.config/systemd/user), then print the systemctl line to enable them (and the"
                        " crontab line, for cron instead)")
    q.add_argument("--unit-dir", metavar="DIR", help=argparse.SUPPRESS)
    q.set_defaults(func=cmd_schedule_install)

    p = sub.add_parser("rebuild-state", help="recreate the state database from the media and checkpoint discs")
    p.add_argument("--drive", action="append", default=[], metavar="DRIVE",
                   help='read discs in this drive too (/dev/sr1, "images:DIR"), where checkpoints were burnt with'
                        ' --drive; may be given more than once')
    p.set_defaults(func=cmd_rebuild)


# --now within these: retention, schedules and the health check count days and years back and on from it
EARLIEST_NOW, LATEST_NOW = datetime(1000, 1, 1), datetime(9998, 12, 31, 23, 59, 59)


def moment(text: str) -> datetime:
    """The argparse type of `--now`: in local time as every time rabtui keeps (one with a UTC offset
    is that instant: in the hour an autumn DST change repeats, the pass its offset names, as the
    clock reads it then), from EARLIEST_NOW to LATEST_NOW."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not an ISO date-time (YYYY-MM-DDTHH:MM)") from None
    try:
        when = when.astimezone().replace(tzinfo=None, fold=_fold(when)) if when.tzinfo else when
    except (OverflowError, OSError, ValueError):       # beyond datetime's years once in local time
        when = None
    if when is None or not EARLIEST_NOW <= when <= LATEST_NOW:
        raise argparse.ArgumentTypeError(f"{text!r}: out of range: give a time from {EARLIEST_NOW:%Y-%m-%d}"
                                         f" to {LATEST_NOW:%Y-%m-%d}")
    return when


def _fold(when: datetime) -> int:
    """1 when the instant `when` falls in the second pass of an hour local time repeats."""
    local = when.astimezone().replace(tzinfo=None)
    return 1 if local.replace(fold=1).timestamp() == when.timestamp() != local.timestamp() else 0


def _show(path: bytes) -> str:
    return "/" + fmt.name(path)


# --- find, diff ----------------------------------------------------------------------------------------


def cmd_find(args) -> int:
    cfg = load_config(args, check_media=False)
    # SIGTERM stops the look at a device medium's backups with the mount it made (hung, it stayed)
    with read_until_term("find") as cancel:
        found = find_actions.find(cfg, open_store(cfg, records=False), args.pattern, source=args.source,
                                  ignore_case=args.ignore_case, cancel=cancel)
    for line in found.not_listed():     # what is listed may not be all there is
        say(fmt.name(f"rabtui: find: {line}"), sys.stderr)
    if args.json:
        print_json(found.as_json())
        return EXIT_OK if found.versions else EXIT_FAILED
    for v in found.versions:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(v.mtime))    # any year (datetime: 1 to 9999)
        kind = f"  {v.kind}" if v.kind != "file" else ""
        print(f"{fmt.name(v.source)}:{_show(v.path)}{kind}  {fmt.size(v.size)}  {when}")
        for loc in v.locations:
            away = found.out_of_reach(loc)
            print(f"    {fmt.name(found.describe(v, loc))}{f' ({away})' if away else ''}")
    if not found.versions:
        print(f'nothing matches "{fmt.name(os.fsencode(args.pattern))}"', file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_diff(args) -> int:
    cfg = load_config(args, check_media=False)
    rows, d = find_actions.diff(cfg, open_store(cfg, records=False), args.source, args.backups)
    if args.json:
        print_json(d.as_json())
        return EXIT_OK
    print(fmt.name(f"{args.source}: {rows[0]['name']} ({rows[0]['medium']}) -> {rows[1]['name']} ({rows[1]['medium']})"))
    for e in d.added:
        print(f"+ {_show(e.path)}  {_what(e.size, e.kind)}")
    for e in d.removed:
        print(f"- {_show(e.path)}  {_what(e.size, e.kind)}")
    for c in d.changed:
        was, now = _what(c.old_size, c.old_kind), _what(c.size, c.kind)
        # a symlink re-pointed says its kind once; a file its sizes, even the same two
        print(f"~ {_show(c.path)}  {now if was == now and c.kind != 'file' else f'{was} -> {now}'}")
    for u in d.unreadable:
        # not in the later backup, yet not deleted on the source: older backups keep it
        was = f" ({_what(u.size, u.kind)} before)" if u.size is not None or u.kind != "file" else ""
        print(f"! {_show(u.path)}  {'not written on the medium (its file system refused it)' if u.unmade else 'unreadable'}{was}")
    for r in d.readable_again:
        # the earlier backup could not read it on the source: there all along, not added
        print(f"* {_show(r.path)}  readable again ({_what(r.size, r.kind)})")
    unmade = sum(u.unmade for u in d.unreadable)
    unread = f", {len(d.unreadable) - unmade} unreadable" if len(d.unreadable) > unmade else ""
    unread += f", {unmade} not written on the medium" if unmade else ""
    unread += f", {len(d.readable_again)} readable again" if d.readable_again else ""
    print(f"{len(d.added)} added ({fmt.size(sum(e.size for e in d.added))}), {len(d.removed)} removed "
          f"({fmt.size(sum(e.size for e in d.removed))}), {len(d.changed)} changed{unread}")
    if d.unnamed:
        print(f"{rows[1]['name']} could not read {fmt.count(d.unnamed, 'more path')} on the source than it names:"
              " some of those removed may be among them (its backup.log lists rsync's errors)")
    if d.again_unnamed:
        print(f"{rows[0]['name']} could not read {fmt.count(d.again_unnamed, 'more path')} on the source than it names:"
              " some of those added may be among them (readable again)")
    return EXIT_OK


def _what(size: int, kind: str) -> str:
    """A diff line's last field: a file's size, else its kind (a symlink, a FIFO, ...), as find says."""
    return fmt.size(size) if kind == "file" else kind


# --- restore ------------------------------------------------------------------------------------------


def cmd_restore(args) -> int:
    cfg = load_config(args, check_media=False)
    if args.backup is not None:
        find_actions.check_backup_ref(args.backup)
    store = open_store(cfg, full_ok=True)     # a full state directory leaves the restore unrecorded

    def emit(event):
        if event.kind in ("log", "warning", "error"):
            say(fmt.name(event.message), sys.stderr)

    outcome = restore_actions.restore(
        cfg, store, emit, cancel_on_term(), TerminalPrompter() if args.job_id is None else None,
        source=args.source, path=args.path, backup=args.backup, checkpoint=args.checkpoint, to=args.to,
        to_source=args.to_source, overwrite=args.overwrite, job_id=args.job_id)
    warn_undelivered(outcome.undelivered)
    print_restore(outcome, args.json)
    return outcome.exit_code


def print_restore(outcome: restore_actions.RestoreOutcome, as_json: bool) -> None:
    """The summary and one line per thing not restored (names escaped), or all of it as JSON."""
    if as_json:
        print_json(outcome.as_json())
        return
    say(outcome.result.summary)
    for line in outcome.problems():
        say("  " + line)


# --- cleanup, check -------------------------------------------------------------------------------------


def cmd_cleanup(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    # SIGTERM, SIGHUP and a first Ctrl-C stop it at its next safe point (a second Ctrl-C at once)
    with cancel_on_signals(threading.Event()) as cancel:
        return _cleanup(cfg, store, args, cancel)


def _cleanup(cfg, store, args, cancel: threading.Event) -> int:
    # the whole cleanup under its lock: a second one is refused before it says a plan, whatever the instant
    with nullcontext() if args.dry_run else cleanup_actions.one_at_a_time(cfg) as held:
        if not args.dry_run:
            cleanup_actions.recover(cfg, store, lambda event: print(fmt.name(event.message)), cancel)
        plan = cleanup_actions.plan(cfg, store, now=args.now, dry_run=args.dry_run,
                                    emit=lambda event: event.kind == WARNING and print(fmt.name(event.message)),
                                    cancel=cancel)
        for line in cleanup_actions.plan_lines(plan, args.dry_run):
            print(line)
        if args.dry_run:
            return EXIT_OK
        done = cleanup_actions.apply(cfg, store, plan, now=args.now, cancel=cancel, held=held)
    for line in cleanup_actions.done_lines(plan, done):
        print(line)
    for problem in done.failed:
        print(fmt.name(f"rabtui: cleanup: {problem}"), file=sys.stderr)
    if done.cancelled:
        print(f"rabtui: cleanup: {cleanup_actions.cancelled_line(plan, done)}", file=sys.stderr)
    warn_undelivered(done.undelivered)
    return EXIT_FAILED if done.failed or done.cancelled else EXIT_OK


def cmd_check(args) -> int:
    if args.prometheus == "":
        raise UsageError("give the file to write after --prometheus")
    result = status_actions.check_command(lambda: load_config(args, check_media=False), open_store, args.now,
                                          args.prometheus)
    warn_undelivered(result.undelivered)
    for p in result.problems:
        print(fmt.name(p.line()))
    if not result.problems:
        print("OK: all checks passed")
    return result.exit_code


# --- run-due, schedule ------------------------------------------------------------------------------------


def cmd_run_due(args) -> int:
    cfg = load_config(args, check_media=False)

    def emit(event: Event) -> None:
        if event.kind == LOG:
            say(fmt.name(event.message))
        elif event.kind == WARNING:
            warn_undelivered([event.message])
        else:
            say(fmt.lines(event.message), sys.stderr)

    try:
        store = open_store(cfg)
    except StateUnusable as exc:
        return run_due_actions.without_state(cfg, exc, emit, args.now)
    except LockBusy as exc:      # rebuild-state running: the night's run refused, notified
        return run_due_actions.refused(cfg, exc, emit, args.now)
    cancel = RunCancel()
    with cancel_on_signals(cancel):
        return run_due_actions.run_due(cfg, store, emit, cancel, now=args.now)


def cmd_schedule_install(args) -> int:
    cfg = load_config(args, check_media=False)
    texts = setup_actions.schedule_units(cfg.path)
    # root's units go into /etc/systemd/system, another user's into their own systemd (--user)
    user = "" if os.geteuid() == 0 else " --user"
    enable = f"systemctl{user} daemon-reload && systemctl{user} enable --now rabtui-run-due.timer"
    if not args.write:
        for name, text in texts.items():
            print(f"# --- {name} ---")
            print(text)
        print(f"# install with: rabtui schedule install --write   (then: {enable})")
        return EXIT_OK
    unit_dir = Path(args.unit_dir) if args.unit_dir else setup_actions.default_unit_dir()
    for path in setup_actions.install_units(texts, unit_dir):
        print(f"wrote {path}")
    print(f"now: {enable}")
    print(f"or, with cron instead: {texts['crontab'].strip()}")
    return EXIT_OK


# --- rebuild ------------------------------------------------------------------------------------------


def cmd_rebuild(args) -> int:
    cfg = load_config(args, check_media=False)
    result = rebuild_actions.rebuild_state(cfg, lambda e: None, cancel_on_term(), TerminalPrompter(), drives=args.drive)
    if result.aside:
        print(fmt.name(f"kept the old database as {result.aside}"))
    for line in result.report.lines():     # names found on the media and discs, as they are there
        print(fmt.name(line))
    return result.exit_code
