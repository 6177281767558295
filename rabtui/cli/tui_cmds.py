"""`rabtui` alone (the TUI), `rabtui demo`, and `rabtui jobs` (list, follow, answer, cancel).

textual is imported only when the UI opens, so the other commands stay quick and cron never
loads it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import time
from pathlib import Path

from rabtui import demo, fmt, privacy
from rabtui.actions import jobs as jobviews
from rabtui.errors import EXIT_FAILED, EXIT_OK, UsageError, WorkFailed, worst_exit

from .common import given, is_tty, load_config, number, open_store, print_json


def register(sub) -> None:
    p = sub.add_parser("demo", help="make a demo sandbox (local source, two media, images: drive) and open the TUI on it")
    p.add_argument("--dir", metavar="DIR", type=given("the folder to build it in"),
                   help="where to build it (default: the user data directory)")
    p.add_argument("--no-open", action="store_true", help="build it and print its config path; do not open the UI")
    p.add_argument("--fresh", action="store_true", help="remove an existing sandbox first")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("jobs", help="running and past jobs: list, follow, answer a question, cancel")
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    q = jsub.add_parser("list", help="the newest jobs (default)")
    q.add_argument("--json", action="store_true")
    q.add_argument("--all", action="store_true", help="not only the newest 20")
    q.set_defaults(func=cmd_jobs_list, reports=True)
    q = jsub.add_parser("follow", help="print a job's events as they come, until it ends")
    q.add_argument("job_id", type=number)
    q.set_defaults(func=cmd_jobs_follow)
    q = jsub.add_parser("answer", help="answer a job's open question (e.g. insert the next disc)")
    q.add_argument("prompt_id", type=number)
    q.add_argument("answer")
    q.set_defaults(func=cmd_jobs_answer)
    q = jsub.add_parser("cancel", help="ask a job to stop")
    q.add_argument("job_id", type=number)
    q.add_argument("--post-commands-too", action="store_true",
                   help="a backup's post-backup commands, run after a cancel to undo what the pre-backup"
                        " ones did, stop too (what they were to undo stays undone)")
    q.set_defaults(func=cmd_jobs_cancel)
    p.set_defaults(func=cmd_jobs_list, json=False, all=False, reports=True)


def _log_to_file(state_dir: Path) -> None:
    """Engine and UI logs go to a file, never over the screen."""
    logs = Path(state_dir) / "logs"
    path = logs / "tui.log"
    try:    # as a job's log: never through a symlink planted there (root runs the UI, often)
        privacy.private_dir(logs)
        fd = privacy.open_own(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            at = f"{exc.filename}: " if exc.filename not in (None, str(path)) else ""     # its folder
            raise WorkFailed(f"cannot write {path}: {at}{exc.strerror}") from None
        raise WorkFailed(f"{path} is a symlink: not followed; someone else may have changed the state directory",
                         hint="see `rabtui check`, then remove it") from None
    handler = logging.StreamHandler(open(fd, "a", encoding="utf-8", errors="backslashreplace"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def run_tui(config_path) -> int:
    if not (is_tty(sys.stdin) and is_tty(sys.stdout)):
        raise UsageError("the terminal UI needs a terminal; for scripts and cron use the commands (rabtui --help)")
    from rabtui.tui.app import make_app

    app = make_app(config_path)
    app.wait_for_reads_at_exit = False
    _log_to_file(app.cfg.state_dir)
    app.run()
    for line in app.said_at_exit:      # a cancel confirmed and not written, say
        print(fmt.name(f"rabtui: {line}"), file=sys.stderr)
    code = exit_code_of(app)
    if app.reads_left_waiting(2.0):    # a read on a mount that hangs: the interpreter would join its thread
        logging.getLogger("rabtui.tui").warning("quit while a read still waited (a file system that hangs?)")
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    return code


def exit_code_of(app) -> int:
    """The console's exit code: 1 (the work failed) where a cancel confirmed in it was not written,
    its job going on."""
    return worst_exit(EXIT_OK if app.return_code in (None, 0) else int(app.return_code), app.cancels_exit)


def open_tui(args) -> int:
    cfg = load_config(args, check_media=False)
    return run_tui(cfg.path)


def cmd_demo(args) -> int:
    where = Path(args.dir) if args.dir else demo.default_dir()
    try:
        path = demo.build(where, fresh=args.fresh, progress=lambda m: print(fmt.name(m), file=sys.stderr))
    except OSError as exc:      # a --dir that cannot be made (a file on the way, a name too long, read-only)
        raise WorkFailed(f"could not build the demo sandbox in {where}: {exc.strerror or exc}"
                         + (f" ({exc.filename})" if exc.filename else "")) from None
    print(fmt.name(f"demo config: {path}"))
    if args.no_open:
        return EXIT_OK
    if not (is_tty(sys.stdin) and is_tty(sys.stdout)):
        print(fmt.name(f"no terminal here: open it later with  rabtui --config {path}"), file=sys.stderr)
        return EXIT_OK
    return run_tui(path)


# --- jobs ----------------------------------------------------------------------------------------


def cmd_jobs_list(args) -> int:
    store = open_store(load_config(args, check_media=False))
    rows = jobviews.recent_jobs(store, -1 if getattr(args, "all", False) else 20)
    prompts = jobviews.prompts(store, raw=True)
    if getattr(args, "json", False):
        print_json({"jobs": rows, "open_prompts": prompts})
        return EXIT_OK
    if not rows:
        print("no jobs yet")
    for j in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j["started"])) if j["started"] else "-"
        pct = (j["progress"] or {}).get("percent")
        extra = f" {pct:.0f}%" if isinstance(pct, (int, float)) and j["status"] in ("running", "waiting") else ""
        print(f"{j['id']:>5}  {j['status']:<9} {j['kind']:<10} {started}  {fmt.name(j['title'] or '')}{extra}")
    for p in prompts:
        print(f"\nquestion {p['id']} of job {p['job_id']}: {fmt.lines(p['text'])}\n"
              f"  answer with: rabtui jobs answer {p['id']} {{{'|'.join(json.loads(p['choices']))}}}")
    return EXIT_OK


def cmd_jobs_follow(args) -> int:
    store = open_store(load_config(args, check_media=False))
    jobviews.job(store, args.job_id)
    after, asked = 0, set()
    while True:
        for e in jobviews.events_after(store, args.job_id, after):
            after = e["id"]
            if e["kind"] in ("log", "warning", "error", "result", "step", "disc"):
                msg = fmt.name(e["message"] or e["data"] or "")
                print(f"{time.strftime('%H:%M:%S', time.localtime(e['ts']))} {e['kind']:<7} {msg}", flush=True)
        for p in jobviews.prompts(store, args.job_id):
            if p["id"] not in asked:
                asked.add(p["id"])
                print(f"question {p['id']}: {fmt.lines(p['text'])}\n  answer with: rabtui jobs answer {p['id']} "
                      f"{{{'|'.join(p['choices'])}}}", flush=True)
        jobviews.refresh_dead(store)
        row = jobviews.job(store, args.job_id)
        if row["status"] in jobviews.FINAL_STATES:
            # a backup's summary begins with its status ("failed: ..."): said once
            said = row["summary"] or ""
            if said == row["status"] or said.startswith(f"{row['status']}: "):
                said = said[len(row["status"]) + 2:]
            print(fmt.name(f"job {args.job_id}: {row['status']}{': ' + said if said else ''}"))
            if row["exit_code"] is not None:
                return row["exit_code"]
            return EXIT_OK if row["status"] == "completed" else EXIT_FAILED
        time.sleep(0.5)


def cmd_jobs_answer(args) -> int:
    store = open_store(load_config(args, check_media=False))
    jobviews.answer(store, args.prompt_id, args.answer)
    print(f"answered question {args.prompt_id}: {args.answer}")
    return EXIT_OK


def cmd_jobs_cancel(args) -> int:
    cfg = load_config(args, check_media=False)
    store = open_store(cfg)
    jobviews.refresh_dead(store)     # a job whose process was killed is dead: nothing to stop
    first = not jobviews.job(store, args.job_id)["cancel_requested"]
    status = jobviews.cancel(store, args.job_id, post_commands_too=args.post_commands_too)
    print(f"cancel requested for job {args.job_id}" + cancel_said(cfg, store, jobviews.job(store, args.job_id),
                                                                  status, args.post_commands_too, first))
    return EXIT_OK


def cancel_said(cfg, store, job: dict, status: str, post_commands_too: bool, first: bool = False) -> str:
    """What a cancel written while the job was `status` does, as far as the request names more than
    the stop: post-backup commands are stopped only where some are to run, or run (as the job's
    backup records them; `first`: no cancel of the job before, the commands running stop too); a
    run-due's backup's scheduled time counts as done."""
    return (_post_commands_said(cfg, store, job, status, post_commands_too, first)
            + (f"; {jobviews.SCHEDULED_DONE}" if jobviews.scheduled(job) else "")
            + (f"; {stopped}" if (stopped := jobviews.stopped_said(job)) else ""))


def _post_commands_said(cfg, store, job: dict, status: str, post_commands_too: bool, first: bool) -> str:
    if status == "queued":
        return ": it has not begun, so it never starts" + (" (none of its commands run)" if post_commands_too else "")
    if not post_commands_too:     # commands running before any cancel (a complete backup's) stop with the job
        running = first and job["kind"] == "backup" and jobviews.post_commands_state(store, job["id"]) == "running"
        return (", its post-backup commands too: they were running (what they were to undo stays undone); the"
                " data it copied whole is kept" if running else "")
    if job["kind"] != "backup":
        return f" (a {job['kind']} job has no post-backup commands)"
    state = jobviews.post_commands_state(store, job["id"])
    if state != "running" and not jobviews.post_commands_of(cfg, job):    # (running: the config edited since)
        return " (its source has no post-backup commands)"
    if state == "pending":      # stopped as they start, if they start (not where the pre-backup ones did not all run)
        return ", its post-backup commands too: they have not begun (none of them runs to its end)"
    if state == "running":
        return ", its post-backup commands too: they are running"
    if state == "skipped":      # the config read at its start named none
        return " (its backup runs no post-backup commands)"
    return f" (its post-backup commands have ended ({state}): nothing of them is left to stop)"
