"""`rabtui checkpoint status|plan|burn|verify|resume|abandon`: checkpoints onto write-once discs."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from typing import TYPE_CHECKING

from rabtui import config as configmod
from rabtui import events, fmt
from rabtui.actions import checkpoint as actions
from rabtui.cli.common import (TerminalPrompter, cancel_on_term, given, is_tty, load_config, needs_action, number,
                               open_store, print_json, warn_undelivered)
from rabtui.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from rabtui.events import Event, Question

DISC = given("a disc type or size")


def register(sub) -> None:
    cp = sub.add_parser("checkpoint", help="checkpoints onto CD/DVD/BD: status, plan, burn, verify, resume, abandon")
    csub = cp.add_subparsers(dest="checkpoint_command", metavar="ACTION")
    cp.set_defaults(func=needs_action(cp))

    p = csub.add_parser("status", help="every directory: counters, last checkpoint, why it is due or not")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status, reports=True)

    p = csub.add_parser("plan", help="show the per-disc plan of the next checkpoint (writes nothing)")
    p.add_argument("--now", nargs="*", metavar="SOURCE:PATH",
                   help="ask for a checkpoint of these directories (all when none are named)")
    p.add_argument("--disc", metavar="TYPE", type=DISC,
                   help="disc type (cd-700, dvd+r, bd-r-25, ...) or a size like 700MiB")
    p.add_argument("--from-list", metavar="FILE", type=given("the list to plan"),
                   help='plan a "SIZE PATH" list (find -printf "%%s %%p\\n"); - for stdin')
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan, reports=True)

    for name, helptext, func in (("burn", "plan, then write and verify the discs of a new checkpoint", cmd_burn),
                                 ("resume", "go on with an unfinished checkpoint at its first unverified disc",
                                  cmd_resume),
                                 ("verify", "re-check the discs of a checkpoint (asks for each)", cmd_verify)):
        p = csub.add_parser(name, help=helptext)
        if name == "burn":
            p.add_argument("--now", nargs="*", metavar="SOURCE:PATH", help="include these directories (all when none are named)")
            p.add_argument("--disc", metavar="TYPE", type=DISC, help="disc type or size")
            p.add_argument("--new", action="store_true",
                           help="make a new checkpoint even though an earlier one is not finished")
        else:
            p.add_argument("number", nargs="?", type=number, help="checkpoint number (default: the newest)")
        if name == "verify":
            p.add_argument("--disc", type=number, metavar="K", help="only disc K")
        p.add_argument("--drive", help='a burner such as /dev/sr0, or "images:DIR" for ISO files')
        p.add_argument("--yes", action="store_true",
                       help='go on without asking: accept the plan, answer "ready" to the disc prompts, write an'
                            ' image that fails its verification again once, not one missing (images: drives only)')
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--job-id", type=number, help=argparse.SUPPRESS)
        p.set_defaults(func=func)

    p = csub.add_parser("abandon", help="give up an unfinished checkpoint so that a new one can start")
    p.add_argument("number", type=number, help="checkpoint number")
    p.set_defaults(func=cmd_abandon)


# --- status ----------------------------------------------------------------------------------------


def _when(ts) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts)) if ts else "never"


def cmd_status(args) -> int:
    cfg = load_config(args, check_media=False)
    st = actions.status(cfg, open_store(cfg, records=False))
    if args.json:
        print_json(st.as_json())
        return EXIT_OK
    if not st.directories:
        print("no directories configured")
    for s in st.directories:
        mark = "DUE" if s.due else "ok "
        last = f"checkpoint {s.last_checkpoint} on {_when(s.last_checkpoint_time)}" if s.last_checkpoint else actions.NEVER
        print(fmt.name(f"{mark} {s.key}  changed {s.changed}/{s.max_changed_files}  {last}"))
        reasons = [r for r in s.reasons if r != actions.NEVER]     # the line above says it
        if reasons:
            print(fmt.name(f"      {'; '.join(reasons)}"))
    for c in st.checkpoints:
        counts: dict[str, int] = {}
        for d in c["disc_rows"]:
            counts[d["state"]] = counts.get(d["state"], 0) + 1
        states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        print(fmt.name(f"checkpoint {c['number']} ({_when(c['created'])}): {c['status']}, {c['discs']} x {c['disc_type']}"
                       f" ({states}) on {c['drive']}"))
    return EXIT_OK


# --- plan ------------------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _print_plan(summary: dict, stream=None) -> None:
    out = stream or sys.stdout
    print(f"{'disc':>4}  {'files':>8}  {'data':>12}  {'filler':>12}  {'reserve':>12}  {'free':>12}  fill", file=out)
    for d in summary["per_disc"]:
        print(f"{d['disc']:>4}  {d['files']:>8}  {_mb(d['data_bytes']):>12}  {_mb(d['filler_bytes']):>12}"
              f"  {_mb(d['reserved_bytes']):>12}  {_mb(d['free_bytes']):>12}  {d['fill_percent']:5.1f}%", file=out)
    print(f"{fmt.count(summary['discs'], 'disc')} of {summary['disc_type']} ({_mb(summary['disc_bytes'])} each); "
          f"lower bound {summary['lower_bound']} (counting the reserve on every disc); {fmt.count(summary['files'], 'file')},"
          f" {_mb(summary['data_bytes'])} on the discs; {_mb(summary['reserved_bytes_per_disc'])} per disc kept for README,"
          f" rabtui/ and the catalog", file=out)
    for d in summary.get("directories", []):
        print(fmt.name(f"  {d['key']}: {fmt.count(d['files'], 'file')}, {_mb(d['bytes'])}, from {d['backup']} on {d['medium']}"
                       + (f" ({'; '.join(d['reasons'])})" if d.get("reasons") else "")), file=out)
        if d.get("unreadable") or d.get("unreadable_unnamed"):
            print(_not_read(d["unreadable"], d["unreadable_unnamed"], d["kind"], d.get("unmade") or []), file=out)
    for f in summary.get("filler", []):
        print(fmt.name(f"  add/{f['add']} = {f['key']} (filler on disc {f['disc']}, from {f['backup']} on {f['medium']})"),
              file=out)


def _not_read(names: list[str], unnamed: int, kind: str, unmade: list[str] = (), shown: int = 10) -> str:
    """The plan's lines for the paths a directory's backup could not read on the source, and for
    the files of them (`unmade`) it read there and could not write on the medium."""
    where = "on the discs only as saved before" if kind == "archive" else "not on the discs"
    unread, unmade = [n for n in names if n not in unmade], [n for n in names if n in unmade]

    def listed(shown_names: list[str], more: int) -> str:
        more += max(0, len(shown_names) - shown)
        return ", ".join(fmt.name(os.fsencode(n)) for n in shown_names[:shown]) + (f" and {more} more" if more else "")
    lines = [f"    could not read {fmt.count(len(unread) + unnamed, 'path')} on the source, {where}: {listed(unread, unnamed)}"
             ] if unread or unnamed else []
    if unmade:
        lines.append(f"    could not write {fmt.count(len(unmade), 'file')} on the medium (read on the source, refused by"
                     f" the medium's file system), {where}: {listed(unmade, 0)}")
    return "\n".join(lines)


def _show_plan(result: actions.PlanResult, as_json: bool) -> int:
    if as_json:
        print_json(result.summary)
    else:
        _print_plan(result.summary)
    result.raise_if_refused()
    return EXIT_OK


def cmd_plan(args) -> int:
    if args.from_list:
        return _plan_list(args)
    cfg = load_config(args, check_media=False)
    store = open_store(cfg, records=args.now is not None)    # --now: the directories stay asked for
    # said on stderr as it plans (stdout holds the plan, JSON perhaps): a wait for a union's lock
    said = lambda event: event.kind == events.WARNING and print(fmt.name(f"rabtui: warning: {event.message}"),  # noqa: E731
                                                                file=sys.stderr, flush=True)
    # SIGTERM stops the xorriso of its trials too (a process of its own, it outlived rabtui killed)
    return _show_plan(actions.plan(cfg, store, now=args.now, disc=args.disc, emit=said, cancel=cancel_on_term()),
                      args.json)


def _plan_list(args) -> int:
    if not args.disc:
        raise UsageError("--from-list needs --disc TYPE")
    limit = _list_max_discs(args)
    try:
        if args.from_list == "-":
            result = actions.plan_list(_lines(sys.stdin.buffer), args.disc, limit)
        else:
            with open(args.from_list, "rb") as f:
                result = actions.plan_list(_lines(f), args.disc, limit)
    except OSError as exc:
        raise UsageError(f"cannot read {args.from_list}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{args.from_list}: {exc}") from None
    return _show_plan(result, args.json)


LONGEST_LINE = 1 << 20     # bytes: far past any path (a line of /dev/zero would be read until memory ends)


def _lines(f):
    """The lines of `f`, each of at most LONGEST_LINE bytes (ValueError past it)."""
    for n, line in enumerate(iter(lambda: f.readline(LONGEST_LINE + 1), b""), 1):
        if len(line) > LONGEST_LINE:
            raise ValueError(f"line {n}: longer than 1 MiB: not a 'SIZE PATH' line")
        yield line


def _list_max_discs(args) -> int:
    """A list is planned without a configuration; when there is one, its max_discs holds."""
    path = args.config or configmod.default_path()
    if args.config is None and not path.exists():
        return actions.default_max_discs()
    return load_config(args, check_media=False).checkpoint.max_discs


# --- burn, resume, verify --------------------------------------------------------------------------


class _Printer:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = is_tty(self.stream)
        self._last = 0.0

    def emit(self, event: Event) -> None:
        if event.kind == events.PROGRESS:
            if self.tty and event.ts - self._last > 0.5:
                self._last = event.ts
                d = event.data
                cur = fmt.name(str(d.get("current", "")))[-40:]
                self.stream.write(f"\r  {d.get('percent', 0):5.1f}%  {cur:<40}")
                self.stream.flush()
            return
        if event.kind == events.STEP and event.data.get("state") == "running":
            return
        if self.tty:
            self.stream.write("\r" + " " * 60 + "\r")
        label = {events.WARNING: "warning: ", events.ERROR: "error: "}.get(event.kind, "")
        if event.kind in (events.LOG, events.STEP, events.DISC, events.RESULT, events.WARNING, events.ERROR):
            stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
            self.stream.write(f"{stamp} {label}{fmt.name(event.message)}\n")
            self.stream.flush()


class _PlanShown(TerminalPrompter):
    """Shows the per-disc plan (on stderr) before asking whether to write it. With --yes (`auto`, an
    images: drive) it gives the answer a question's data names for it (the rewrite of an image that
    failed its verification)."""

    def ask(self, question: Question, cancel: threading.Event | None = None) -> str:
        if question.kind == actions.PLAN_QUESTION:
            _print_plan(question.data["summary"], sys.stderr)
        if self.auto and (answer := question.data.get(actions.YES_ANSWER)) in question.choices:
            print(f"{fmt.lines(question.text)}\n  -> {answer}", file=sys.stderr)
            return answer
        return super().ask(question, cancel)


def _prompter(args, drive: str):
    """None for a detached job: it asks through the state database."""
    if args.job_id is not None:
        return None
    if args.yes and not actions.is_image_drive(drive):
        raise UsageError("--yes answers the disc prompts only for images: drives; a real burner needs an operator")
    yes = {actions.INSERT: events.READY, actions.PLAN_QUESTION: events.YES} if actions.is_image_drive(drive) else {}
    return _PlanShown(auto=yes if args.yes else None, yes_answers=yes)


def _print_outcome(outcome: actions.Outcome, as_json: bool) -> int:
    warn_undelivered(outcome.undelivered)
    if as_json:
        print_json(outcome.as_json())
    else:
        print(fmt.lines(outcome.message))
    return outcome.exit_code


def cmd_burn(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    prompter = _prompter(args, actions.drive_for(cfg, store, args.drive))
    outcome = actions.burn(cfg, store, _Printer().emit, cancel_on_term(), prompter, now=args.now, disc=args.disc,
                           drive=args.drive, new=args.new, confirm=args.job_id is None, job_id=args.job_id)
    return _print_outcome(outcome, args.json)


def cmd_resume(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    prompter = _prompter(args, actions.drive_for(cfg, store, args.drive, args.number, of_checkpoint=True))
    outcome = actions.resume(cfg, store, _Printer().emit, cancel_on_term(), prompter, number=args.number,
                             drive=args.drive, job_id=args.job_id)
    return _print_outcome(outcome, args.json)


def cmd_verify(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    prompter = _prompter(args, actions.drive_for(cfg, store, args.drive, args.number, of_checkpoint=True))
    outcome = actions.verify(cfg, store, _Printer().emit, cancel_on_term(), prompter, number=args.number,
                             disc=args.disc, drive=args.drive, job_id=args.job_id)
    return _print_outcome(outcome, args.json)


def cmd_abandon(args) -> int:
    cfg = load_config(args, check_media=False)
    print(actions.abandon(cfg, open_store(cfg), args.number))
    return EXIT_OK
