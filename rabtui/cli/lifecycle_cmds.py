"""`rabtui find | diff | restore | cleanup | check | run-due | schedule install | rebuild-state`."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from datetime import datetime
from pathlib import Path

from rabtui import fmt
from rabtui.state import catalog
from rabtui.ops import health
from rabtui.state import jobs
from rabtui.ops import notify
from rabtui.rebuild import scan as rebuild
from rabtui.ops import schedule
from rabtui.restore import run as restoremod
from rabtui.backup import batch, retention
from rabtui.media import medium as media
from rabtui.backup.as_job import run_backup_job
from rabtui.checkpoint import triggers
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_WARNINGS, LockBusy, RabtuiError, UsageError, worst_exit
from rabtui.state.store import Store

from .common import TerminalPrompter, cancel_on_signals, load_config, open_store, print_json, warn_undelivered


def register(sub) -> None:
    p = sub.add_parser("find", help="every version of matching files, on media and checkpoint discs")
    p.add_argument("pattern", metavar="PATTERN",
                   help="part of a file name (of the whole path if it holds a /), or a glob with * ? [")
    p.add_argument("-i", "--ignore-case", action="store_true", help="match upper and lower case alike")
    p.add_argument("--source", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_find)

    p = sub.add_parser("diff", help="files added, removed and changed between two backups")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("backups", nargs="*", metavar="BACKUP", help="two backup names (default: the last two complete)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("restore", help="restore a file or directory from a backup or a checkpoint")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("path", metavar="PATH", help="the path on the source (absolute)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--backup", metavar="NAME", help="this backup (default: the newest that holds PATH)")
    g.add_argument("--checkpoint", metavar="N", type=int, help="from checkpoint N's discs")
    t = p.add_mutually_exclusive_group(required=True)
    t.add_argument("--to", metavar="DIR", help="below this local directory (the original path is kept below it)")
    t.add_argument("--to-source", action="store_true", help="back onto the source, at the original path")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist already")
    p.add_argument("--json", action="store_true", help="what was restored and what not, by kind, as JSON")
    p.add_argument("--job-id", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("cleanup", help="apply retention: delete old backups (see --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="list what would go and the space it frees")
    p.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_cleanup)

    p = sub.add_parser("check", help="health check: exit 0 ok, 1 warning, 2 critical")
    p.add_argument("--prometheus", metavar="FILE", help="also write node_exporter textfile metrics")
    p.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run-due", help="for cron/systemd: due backups, cleanup, health check, due checkpoints")
    p.add_argument("--now", metavar="ISO", help="pretend it is this time (testing)")
    p.set_defaults(func=cmd_run_due)

    p = sub.add_parser("schedule", help="timers that call run-due")
    g2 = p.add_subparsers(dest="schedule_command", metavar="ACTION")
    p.set_defaults(func=lambda args: p.print_help() or EXIT_USAGE)
    q = g2.add_parser("install", help="print (or with --write install) a systemd service + timer and the crontab line")
    q.add_argument("--write", action="store_true")
    q.add_argument("--unit-dir", metavar="DIR", help=argparse.SUPPRESS)
    q.set_defaults(func=cmd_schedule_install)

    p = sub.add_parser("rebuild-state", help="recreate the state database from the media and checkpoint discs")
    p.set_defaults(func=cmd_rebuild)


def _now(args) -> datetime | None:
    if getattr(args, "now", None):
        try:
            return datetime.fromisoformat(args.now)
        except ValueError:
            raise UsageError(f"--now {args.now!r}: not an ISO date-time (YYYY-MM-DDTHH:MM)") from None
    return None


def _archive_dirs(cfg) -> dict[str, tuple[str, ...]]:
    return {s.id: tuple(d.path for d in s.directories if d.kind == "archive") for s in cfg.sources}


def _show(path: bytes) -> str:
    return "/" + fmt.name(path)


# --- find, diff ----------------------------------------------------------------------------------------


def cmd_find(args) -> int:
    if not args.pattern:
        raise UsageError("give a pattern: a file name, or a glob like '*.conf' or 'etc/*'")
    cfg = load_config(args, check_media=False)
    if args.source:
        cfg.source(args.source)
    store = open_store(cfg)
    found = catalog.find(store, args.pattern, args.source, _archive_dirs(cfg), ignore_case=args.ignore_case)
    found += catalog.find_on_discs(store, args.pattern, args.source, ignore_case=args.ignore_case)
    if args.json:
        print_json([v.as_json() for v in found])
        return EXIT_OK if found else EXIT_FAILED
    for v in found:
        when = datetime.fromtimestamp(v.mtime).strftime("%Y-%m-%d %H:%M")
        print(f"{fmt.name(v.source)}:{_show(v.path)}  {fmt.size(v.size)}  {when}")
        for loc in v.locations:
            print(f"    {fmt.name(loc.describe())}")
    if not found:
        print(f"nothing matches {fmt.name(repr(args.pattern))}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_diff(args) -> int:
    cfg = load_config(args, check_media=False)
    cfg.source(args.source)
    store = open_store(cfg)
    if len(args.backups) == 2:
        rows = [catalog.backup_row(store, args.source, b) for b in args.backups]
        for b, r in zip(args.backups, rows):
            if r is None:
                raise UsageError(f"source {args.source} has no backup {b}")
    elif not args.backups:
        done = catalog.complete_backups(store, args.source)
        if len(done) < 2:
            raise UsageError(f"source {args.source} has fewer than two complete backups")
        rows = done[-2:]
    else:
        raise UsageError("give two backups, or none for the last two")
    d = catalog.diff(store, rows[0], rows[1], _archive_dirs(cfg).get(args.source, ()))
    if args.json:
        print_json(d.as_json())
        return EXIT_OK
    print(fmt.name(f"{args.source}: {rows[0]['name']} ({rows[0]['medium']}) -> {rows[1]['name']} ({rows[1]['medium']})"))
    for p, s in d.added:
        print(f"+ {_show(p)}  {fmt.size(s)}")
    for p, s in d.removed:
        print(f"- {_show(p)}  {fmt.size(s)}")
    for p, o, n in d.changed:
        print(f"~ {_show(p)}  {fmt.size(o)} -> {fmt.size(n)}")
    print(f"{len(d.added)} added ({fmt.size(sum(s for _, s in d.added))}), {len(d.removed)} removed "
          f"({fmt.size(sum(s for _, s in d.removed))}), {len(d.changed)} changed")
    return EXIT_OK


# --- restore ------------------------------------------------------------------------------------------


def cmd_restore(args) -> int:
    cfg = load_config(args, check_media=False)
    cfg.source(args.source)
    store = open_store(cfg)
    shown = fmt.name(os.fsencode(args.path))
    recorder = jobs.JobRecorder(store, "restore", args.source, f"restore {shown} of {args.source}",
                                job_id=args.job_id)
    recorder.handle_signals()
    prompter = recorder.prompter() if args.job_id is not None else TerminalPrompter()

    def emit(event):
        recorder.emit(event)
        if event.kind in ("log", "warning", "error"):
            print(fmt.name(event.message), file=sys.stderr)

    try:
        result = restoremod.restore(
            cfg, store, args.source, args.path, backup=args.backup, checkpoint=args.checkpoint,
            to=args.to, to_source=args.to_source, overwrite=args.overwrite, emit=emit,
            cancel=recorder.cancel, prompter=prompter)
    except restoremod.RestoreIncomplete as exc:
        recorder.finish("failed", EXIT_FAILED, exc.result.summary)
        warn_undelivered(notify.send(cfg, notify.make_event("restore_failed", "failed", str(exc), source=args.source)))
        print_restore(exc.result, args.json, EXIT_FAILED)
        return EXIT_FAILED
    except RabtuiError as exc:
        recorder.finish("cancelled" if type(exc).__name__ == "Cancelled" else "failed", exc.exit_code, str(exc))
        warn_undelivered(notify.send(cfg, notify.make_event("restore_failed", "failed", str(exc), source=args.source)))
        raise
    except BaseException as exc:
        recorder.finish("failed", EXIT_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    code = EXIT_WARNINGS if result.incomplete() else EXIT_OK
    recorder.finish("warnings" if code else "completed", code, result.summary)
    print_restore(result, args.json, code)
    return code


def print_restore(result, as_json: bool, code: int) -> None:
    """The summary and one line per thing not restored (names escaped), or all of it as JSON."""
    if as_json:
        print_json(result.as_json(code))
        return
    print(result.summary)
    for line in result.written.problems() if result.written else []:
        print("  " + line)


# --- cleanup, check -------------------------------------------------------------------------------------


def print_plan(plan: retention.Plan, dry_run: bool) -> None:
    verb = "would delete" if dry_run else "deleting"
    for c in plan.delete:
        print(fmt.name(f"{verb} {c.source} {c.name} on {c.medium} ({c.why}), frees {fmt.size(c.freed_bytes)}"))
    for _, name, why in plan.guarded:
        print(fmt.name(f"keeping {name}: {why}"))
    for source, why in plan.refused:
        print(fmt.name(f"deleting no backup of {source}, as the plan cannot be proven safe: {why}"))
    for p in plan.leftovers:
        print(fmt.name(f"{verb} the remains of an interrupted deletion: {p}"))
    print(f"{len(plan.delete)} backups, {fmt.size(plan.freed_bytes)} freed"
          + (" (dry run: nothing deleted)" if dry_run else ""))


def cmd_cleanup(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    plan = retention.plan_cleanup(cfg, store, now=_now(args))
    print_plan(plan, args.dry_run)
    if not args.dry_run:
        retention.apply_cleanup(cfg, store, plan)
        jobs.prune_events(store)
    return EXIT_OK


def run_check(cfg, store, now=None, prometheus: str | None = None, quiet: bool = False) -> int:
    problems = health.run_checks(cfg, store, now)
    changes = health.record(store, problems, now)
    warn_undelivered(health.notify_changes(cfg, changes, now))
    if prometheus:
        health.write_prometheus(Path(prometheus), health.prometheus_text(cfg, store, problems, now))
    if not quiet:
        for p in problems:
            print(fmt.name(p.line()))
        if not problems:
            print("OK: all checks passed")
    return health.exit_code(problems)


def cmd_check(args) -> int:
    cfg = load_config(args, check_media=False)
    return run_check(cfg, open_store(cfg), _now(args), args.prometheus)


# --- run-due, schedule ------------------------------------------------------------------------------------


def cmd_run_due(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    now = _now(args)
    clock = now or datetime.now()
    due_now = list(schedule.due_sources(cfg, store, clock))
    codes = []
    if due_now:
        codes = _run_due_backups(cfg, store, due_now, now)
    worst = functools.reduce(worst_exit, codes, EXIT_OK)
    try:
        plan = retention.plan_cleanup(cfg, store, now=clock)
        if plan.delete or plan.leftovers or plan.refused:
            print_plan(plan, False)
            retention.apply_cleanup(cfg, store, plan)
        jobs.prune_events(store)
    except (RabtuiError, OSError) as exc:
        print(fmt.lines(f"rabtui: cleanup: {exc}"), file=sys.stderr)
        warn_undelivered(notify.send(cfg, notify.make_event("cleanup_failed", "failed", str(exc), now=now)))
    run_check(cfg, store, now, quiet=True)
    for st in triggers.due(cfg, store, now=clock.timestamp()):
        print(fmt.name(f"checkpoint due: {st.key}: {'; '.join(st.reasons)}"))
    return worst


def _run_due_backups(cfg, store, due_now: list, now: datetime | None) -> list[int]:
    """The due sources' backups, up to max_parallel at once, all onto the day's medium (picked
    once, before any starts); their exit codes."""
    medium = media.next_medium(cfg, store) if cfg.media else None   # none: each backup fails, said in its job
    run_cancel = batch.RunCancel()

    waiting: dict[str, int] = {}

    def work(due) -> int:
        print(f"{due.source}: due (schedule time {due.slot:%Y-%m-%d %H:%M})", flush=True)
        recorder = jobs.JobRecorder(store, "backup", due.source, f"scheduled backup of {due.source}",
                                    job_id=waiting.get(due.source))
        if run_cancel.not_started(recorder):   # still due: the next run-due takes it
            print(fmt.lines(f"{due.source}: {batch.NOT_STARTED}"), file=sys.stderr)
            return EXIT_FAILED
        schedule.mark_run(store, due.source, due.slot)
        try:
            with run_cancel.covering(recorder.cancel):
                outcome = run_backup_job(cfg, store, due.source, recorder, emit=recorder.emit,
                                         prompter=recorder.prompter(), medium_id=medium and medium.id, now=now)
        except LockBusy as exc:   # a backup of this source is running already: it covers this slot
            recorder.finish("cancelled", EXIT_OK, str(exc))
            print(fmt.lines(f"{due.source}: {exc}"), file=sys.stderr)
            return EXIT_OK
        if outcome.error:
            print(fmt.lines(f"{due.source}: {outcome.error}"), file=sys.stderr)
        else:
            print(fmt.name(f"{due.source}: {outcome.summary}"), flush=True)
        warn_undelivered(outcome.notify_problems)
        return outcome.exit_code

    with cancel_on_signals(run_cancel):
        if len(due_now) == 1 or medium is None:
            return [work(due) for due in due_now]
        titles = [(due.source, f"scheduled backup of {due.source}") for due in due_now]
        with jobs.queued(store, "backup", titles) as ids, batch.day_medium(store, medium) as together:
            waiting.update(ids)
            return batch.run_each(store, due_now, work, cfg.rabtui.max_parallel if together else 1)


def cmd_schedule_install(args) -> int:
    cfg = load_config(args, check_media=False)
    texts = schedule.units(cfg.path)
    if not args.write:
        for name, text in texts.items():
            print(f"# --- {name} ---")
            print(text)
        print("# install with: rabtui schedule install --write   (then: systemctl daemon-reload;"
              " systemctl enable --now rabtui-run-due.timer)")
        return EXIT_OK
    unit_dir = Path(args.unit_dir) if args.unit_dir else schedule.default_unit_dir()
    for path in schedule.install(texts, unit_dir):
        print(f"wrote {path}")
    user = "" if os.geteuid() == 0 else " --user"
    print(f"now: systemctl{user} daemon-reload && systemctl{user} enable --now rabtui-run-due.timer")
    print(f"or, with cron instead: {texts['crontab'].strip()}")
    return EXIT_OK


# --- rebuild ------------------------------------------------------------------------------------------


def cmd_rebuild(args) -> int:
    cfg = load_config(args, check_media=False)
    with rebuild.all_locks(cfg):
        aside = rebuild.move_aside(cfg.state_dir)
        if aside:
            print(f"kept the old database as {aside}")
        store = Store(cfg.state_dir)
        report = rebuild.rebuild(cfg, store, emit=lambda e: None, prompter=TerminalPrompter())
    for line in report.lines():
        print(line)
    return EXIT_WARNINGS if report.unmatched else EXIT_OK
