"""`rabtui checkpoint status|plan|burn|verify|resume|abandon`: checkpoints onto write-once discs."""

from __future__ import annotations

import argparse
import sys
import time

from typing import TYPE_CHECKING

from rabtui import config as configmod
from rabtui import events, fmt
from rabtui.state import jobs
from rabtui.ops import notify
from rabtui.checkpoint import plan as planmod
from rabtui.checkpoint import prepare, run, triggers, xorriso
from rabtui.cli.common import TerminalPrompter, is_tty, load_config, open_store, print_json, warn_undelivered
from rabtui.config.disc_types import parse_disc
from rabtui.errors import EXIT_FAILED, EXIT_OK, Cancelled, RabtuiError, UsageError

if TYPE_CHECKING:
    from rabtui.events import Event


PLAN_QUESTION = "confirm_plan"


def register(sub) -> None:
    cp = sub.add_parser("checkpoint", help="checkpoints onto CD/DVD/BD: status, plan, burn, verify, resume, abandon")
    csub = cp.add_subparsers(dest="checkpoint_command", metavar="ACTION")
    cp.set_defaults(func=lambda args: cp.print_help() or EXIT_OK)

    p = csub.add_parser("status", help="every directory: counters, last checkpoint, why it is due or not")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = csub.add_parser("plan", help="show the per-disc plan of the next checkpoint (writes nothing)")
    p.add_argument("--now", nargs="*", metavar="SOURCE:PATH",
                   help="ask for a checkpoint of these directories (all when none are named)")
    p.add_argument("--disc", metavar="TYPE", help="disc type (cd-700, dvd+r, bd-r-25, ...) or a size like 700MiB")
    p.add_argument("--from-list", metavar="FILE", help='plan a "SIZE PATH" list (find -printf "%%s %%p\\n"); - for stdin')
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)

    for name, helptext, func in (("burn", "plan, then write and verify the discs of a new checkpoint", cmd_burn),
                                 ("resume", "go on with an unfinished checkpoint at its first unverified disc",
                                  cmd_resume),
                                 ("verify", "re-check the discs of a checkpoint (asks for each)", cmd_verify)):
        p = csub.add_parser(name, help=helptext)
        if name == "burn":
            p.add_argument("--now", nargs="*", metavar="SOURCE:PATH", help="include these directories (all when none are named)")
            p.add_argument("--disc", metavar="TYPE", help="disc type or size")
            p.add_argument("--new", action="store_true",
                           help="make a new checkpoint even though an earlier one is not finished")
        else:
            p.add_argument("number", nargs="?", type=int, help="checkpoint number (default: the newest)")
        if name == "verify":
            p.add_argument("--disc", type=int, metavar="K", help="only disc K")
        p.add_argument("--drive", help='a burner such as /dev/sr0, or "images:DIR" for ISO files')
        p.add_argument("--yes", action="store_true",
                       help='go on without asking: accept the plan, answer "ready" to the disc prompts (images: drives only)')
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--job-id", type=int, help=argparse.SUPPRESS)
        p.set_defaults(func=func)

    p = csub.add_parser("abandon", help="give up an unfinished checkpoint so that a new one can start")
    p.add_argument("number", type=int, help="checkpoint number")
    p.set_defaults(func=cmd_abandon)


# --- status ----------------------------------------------------------------------------------------


def _when(ts) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts)) if ts else "never"


def cmd_status(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    sts = triggers.statuses(cfg, store)
    cps = [dict(r) for r in store.all("SELECT number, created, status, disc_type, drive, discs, lower_bound"
                                      " FROM checkpoints ORDER BY number DESC LIMIT 10")]
    for c in cps:
        c["status"], rows = run.shown_discs(store, c["number"], c["status"], c["drive"])
        c["disc_states"] = {r["disc"]: r["state"] for r in rows}
    if args.json:
        print_json({"directories": [s.as_dict() for s in sts], "checkpoints": cps})
        return EXIT_OK
    if not sts:
        print("no directories configured")
    for s in sts:
        mark = "DUE" if s.due else "ok "
        last = f"checkpoint {s.last_checkpoint} on {_when(s.last_checkpoint_time)}" if s.last_checkpoint else "never checkpointed"
        print(fmt.name(f"{mark} {s.key}  changed {s.changed}/{s.max_changed_files}  {last}"))
        print(fmt.name(f"      {'; '.join(s.reasons)}"))
    for c in cps:
        status, discs = run.shown_discs(store, c["number"], c["status"], c["drive"])
        counts: dict[str, int] = {}
        for d in discs:
            counts[d["state"]] = counts.get(d["state"], 0) + 1
        states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        print(f"checkpoint {c['number']} ({_when(c['created'])}): {status}, {c['discs']} x {c['disc_type']}"
              f" ({states}) on {c['drive']}")
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
    print(f"{summary['discs']} discs of {summary['disc_type']} ({_mb(summary['disc_bytes'])} each); "
          f"lower bound {summary['lower_bound']} (counting the reserve on every disc); {summary['files']} files,"
          f" {_mb(summary['data_bytes'])}; {_mb(summary['reserved_bytes_per_disc'])} per disc kept for README,"
          f" rabtui/ and the catalog", file=out)
    for d in summary.get("directories", []):
        print(fmt.name(f"  {d['key']}: {d['files']} files, {_mb(d['bytes'])}, from {d['backup']} on {d['medium']}"
                       + (f" ({'; '.join(d['reasons'])})" if d.get("reasons") else "")), file=out)
    for f in summary.get("filler", []):
        print(fmt.name(f"  add/{f['add']} = {f['key']} (filler on disc {f['disc']}, from {f['backup']} on {f['medium']})"),
              file=out)


def _asked(cfg, store, now_args) -> tuple[set[str], bool]:
    if now_args is None:
        return set(), False
    if not now_args:
        return {s.key for s in triggers.statuses(cfg, store) if s.backup_id}, False
    keys = set()
    known = {s.key for s in triggers.statuses(cfg, store)}
    for k in now_args:
        if ":" not in k:
            raise UsageError(f"{k!r}: name a directory as SOURCE:PATH, e.g. web1:/etc")
        if k not in known:
            raise UsageError(f"{k!r} is not a configured directory",
                             hint="configured: " + ", ".join(sorted(known)))
        keys.add(k)
    return keys, True


def cmd_plan(args) -> int:
    if args.from_list:
        return _plan_list(args)
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    asked, _ = _asked(cfg, store, args.now)
    computed = prepare.compute(cfg, store, asked=asked, disc=args.disc)
    if asked:   # remembered: these directories stay due until a checkpoint holds them
        triggers.request(store, sorted(asked))
    summary = computed.summary()
    limit = cfg.checkpoint.max_discs
    summary["max_discs"] = limit
    if args.json:
        print_json(summary)
    else:
        _print_plan(summary)
    if summary["discs"] > limit:
        planmod.check_max_discs(computed.plan, limit, computed.disc_type)
    return EXIT_OK


def _plan_list(args) -> int:
    if not args.disc:
        raise UsageError("--from-list needs --disc TYPE")
    try:
        name, sectors = parse_disc(args.disc)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        if args.from_list == "-":
            group = planmod.parse_list(sys.stdin.buffer)
        else:
            with open(args.from_list, "rb") as f:
                group = planmod.parse_list(f)
        started = time.perf_counter()
        p = planmod.plan([group], sectors)
    except OSError as exc:
        raise UsageError(f"cannot read {args.from_list}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{args.from_list}: {exc}") from None
    seconds = time.perf_counter() - started
    limit = _list_max_discs(args)
    summary = {"disc_type": name, "disc_bytes": sectors * 2048, "discs": len(p.discs), "lower_bound": p.lower_bound,
               "files": p.files, "data_bytes": sum(group.sizes), "reserved_bytes_per_disc": p.reserve_sectors * 2048,
               "per_disc": p.summary(), "seconds": round(seconds, 3), "max_discs": limit}
    if args.json:
        print_json(summary)
    else:
        _print_plan(summary)
    planmod.check_max_discs(p, limit, name)
    return EXIT_OK


def _list_max_discs(args) -> int:
    """A list is planned without a configuration; when there is one, its max_discs holds."""
    path = args.config or configmod.default_path()
    if args.config is None and not path.exists():
        return configmod.CheckpointSettings().max_discs
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


def _prompter(args, recorder, drive: str):
    if args.job_id is not None:
        return recorder.prompter()
    if args.yes and not xorriso.is_image_drive(drive):
        raise UsageError("--yes answers the disc prompts only for images: drives; a real burner needs an operator")
    return TerminalPrompter(auto={run.INSERT: events.READY, PLAN_QUESTION: events.YES} if args.yes else None)


def _checkpoint_drive(store, number: int | None) -> str | None:
    row = store.one("SELECT drive FROM checkpoints WHERE number=?", (number,)) if number else \
        store.one("SELECT drive FROM checkpoints ORDER BY number DESC LIMIT 1")
    return row["drive"] if row else None


def _run_job(args, title: str, work) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    drive = args.drive or (None if not hasattr(args, "number") else _checkpoint_drive(store, args.number)) \
        or cfg.checkpoint.drive
    recorder = jobs.JobRecorder(store, "checkpoint", drive, title, job_id=args.job_id)
    recorder.handle_signals()
    printer = _Printer()

    def emit(event: Event) -> None:
        recorder.emit(event)
        printer.emit(event)

    try:
        prompter = _prompter(args, recorder, drive)
        result = work(cfg, store, drive, emit, recorder.cancel, prompter)
    except Cancelled as exc:           # the plan was not accepted, or nobody was there to accept it
        recorder.finish("cancelled", exc.exit_code, str(exc))
        raise
    except RabtuiError as exc:
        recorder.finish("failed", exc.exit_code, str(exc))
        if not isinstance(exc, UsageError):
            _notify_failed(cfg, f"{title} failed: {exc}")
        raise
    except KeyboardInterrupt:
        recorder.finish("cancelled", EXIT_FAILED, "interrupted")
        raise
    except BaseException as exc:
        recorder.finish("failed", EXIT_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    status = {"completed": "completed", "aborted": "cancelled"}.get(result.status, "failed")
    recorder.finish(status, result.exit_code, result.message)
    if result.status != "completed":   # an aborted one too: the checkpoint is left unfinished
        _notify_failed(cfg, f"{title} {result.number} {result.status}: {result.message}",
                       level="failed" if status == "failed" else "warning", number=result.number,
                       failed_discs=result.failed, skipped_discs=result.skipped)
    if getattr(args, "json", False):
        print_json({"number": result.number, "status": result.status, "verified": result.verified,
                    "skipped": result.skipped, "message": result.message})
    else:
        print(fmt.lines(result.message))
    return result.exit_code


def _notify_failed(cfg, message: str, level: str = "failed", **data) -> None:
    """A checkpoint left unfinished is worth a message: it may have run detached, or from cron."""
    warn_undelivered(notify.send(cfg, notify.make_event("checkpoint_failed", level, message, **data)))


def cmd_burn(args) -> int:
    def work(cfg, store, drive, emit, cancel, prompter):
        open_cp = store.one("SELECT number FROM checkpoints WHERE status NOT IN (?, ?) ORDER BY number DESC LIMIT 1",
                            run.FINISHED)
        if open_cp and not args.new:
            n = open_cp["number"]
            raise UsageError(f"checkpoint {n} is not finished",
                             hint=f"go on with `rabtui checkpoint resume {n}`, give it up with"
                                  f" `rabtui checkpoint abandon {n}`, or make a new one with `burn --new`")
        asked, _ = _asked(cfg, store, args.now)
        computed = prepare.compute(cfg, store, asked=asked, disc=args.disc, emit=emit, prompter=prompter, cancel=cancel)
        planmod.check_max_discs(computed.plan, cfg.checkpoint.max_discs, computed.disc_type)
        if args.job_id is None:    # a job from the UI was started from the plan shown there
            _confirm_plan(computed.summary(), prompter, cancel)
        number = prepare.record(cfg, store, computed, drive=drive, emit=emit, cancel=cancel)
        return run.burn_checkpoint(cfg, store, number, drive=drive, emit=emit, cancel=cancel, prompter=prompter)

    return _run_job(args, "checkpoint", work)


def _confirm_plan(summary: dict, prompter, cancel) -> None:
    """The per-disc plan, then whether to go on (`--yes` goes on)."""
    _print_plan(summary, sys.stderr)
    question = events.Question(PLAN_QUESTION, f"Write these {summary['discs']} discs of {summary['disc_type']}?",
                               (events.YES, events.NO))
    if prompter.ask(question, cancel) != events.YES:
        raise Cancelled("the plan was not accepted: nothing was written")


def cmd_resume(args) -> int:
    def work(cfg, store, drive, emit, cancel, prompter):
        number = args.number or run.latest_unfinished(store)
        return run.burn_checkpoint(cfg, store, number, drive=drive, emit=emit, cancel=cancel, prompter=prompter)

    return _run_job(args, "checkpoint resume", work)


def cmd_verify(args) -> int:
    def work(cfg, store, drive, emit, cancel, prompter):
        number = args.number
        if number is None:
            row = store.one("SELECT MAX(number) AS n FROM checkpoints")
            if row is None or row["n"] is None:
                raise UsageError("there is no checkpoint yet")
            number = row["n"]
        return run.verify_checkpoint(cfg, store, number, disc=args.disc, drive=drive, emit=emit,
                                     cancel=cancel, prompter=prompter)

    return _run_job(args, "checkpoint verify", work)


def cmd_abandon(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    print(run.abandon(cfg, store, args.number))
    return EXIT_OK
