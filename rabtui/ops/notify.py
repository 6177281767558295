"""Notifications: one JSON event per failure, warning or health change.

The event goes to `notify.command` on stdin (run through proc.run, never a shell), and, when the
optional `apprise` extra is installed and `notify.apprise_urls` is set, to those URLs (type failure,
warning or success after the event's level; the body is the message and the event as JSON). A source
whose `pause_notifications_until` lies in the future sends nothing. A notifier that fails (apprise_urls
set without apprise installed included) is logged by the caller, never raised: a broken alert script
must not fail a backup.

Within `deferred()` (a run of backups), `send` only posts the event: it is delivered on a thread of
its own, in order, and the run collects what could not be delivered at its end (notify_outbox.py).
"""

from __future__ import annotations

import json
import logging
import shlex
import socket
import threading
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Iterator

from rabtui import command_safety, fmt, proc
from rabtui.config import safety as config_safety
from rabtui.config import Config
from rabtui.ops.notify_outbox import Outbox

KINDS = ("backup_failed", "backup_warnings", "health", "cleanup_failed", "restore_failed", "checkpoint_due",
         "run_due_failed")


def make_event(kind: str, level: str, message: str, *, source: str | None = None,
               now: datetime | None = None, **data: Any) -> dict:
    return {
        "kind": kind,
        "level": level,               # ok | warning | critical | failed
        "source": source,
        "message": message,
        "time": (now or datetime.now()).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "data": data,
    }


def paused(cfg: Config, source: str | None, today: date | None = None) -> bool:
    if not source:
        return False
    try:
        until = cfg.source(source).pause_notifications_until
    except Exception:
        return False
    return until is not None and (today or date.today()) < until


def command_argv(command: str) -> list[str]:
    """The configured command, split like a shell would split it (no shell runs it)."""
    return shlex.split(command)


COMMAND_TIMEOUT = 60     # seconds a notify command may take

_outbox: Outbox | None = None      # set by deferred() in the main thread, before any worker starts


@contextmanager
def deferred(cfg: Config, cancel: threading.Event | None = None) -> Iterator[list[str]]:
    """Within it, `send` posts its events to be delivered in order on a thread of their own; at its
    end the run waits for them (at most notify_outbox.WAIT_AT_END seconds, or until `cancel` is set
    meanwhile), and the list it yields gets the problems met, those not delivered by then among them.
    Within another, that one's. Left by an exception (a second Ctrl-C, a fault), the run does not
    wait, and what was not delivered goes with the exception (its `undelivered`), to be said."""
    global _outbox
    if _outbox is not None:
        yield []
        return
    outbox = _outbox = Outbox(lambda event, stop: deliver(cfg, event, stop), cancel)
    problems: list[str] = []
    try:
        yield problems
    except BaseException as exc:
        _outbox = None
        _carry(exc, outbox.close(waiting=False))
        raise
    _outbox = None
    try:
        problems += outbox.close()
    except KeyboardInterrupt as exc:     # a second Ctrl-C while the run waited for them
        _carry(exc, outbox.close(waiting=False))
        raise


def _carry(exc: BaseException, undelivered: list[str]) -> None:
    exc.undelivered = [*getattr(exc, "undelivered", []), *undelivered]


def delivered() -> None:
    """Within `deferred()`: waits until the events posted so far are delivered (within the run's
    bound), for a step that should come after them."""
    outbox = _outbox
    if outbox is not None:
        outbox.wait()


def send(cfg: Config, event: dict, today: date | None = None) -> list[str]:
    """Deliver one event; returns the problems met (empty when all went well or nothing is set).
    Within `deferred()`, only posts it: its problems are the run's, said at its end."""
    if paused(cfg, event.get("source"), today):
        return []
    outbox = _outbox
    if outbox is not None:
        # by the notify settings of the config that sent it (run-due's end: the config read then)
        outbox.post(event, lambda e, stop: deliver(cfg, e, stop))
        return []
    return deliver(cfg, event)


def deliver(cfg: Config, event: dict, stop: threading.Event | None = None) -> list[str]:
    """Send one event to the notify command and apprise URLs now; `stop` ends the command."""
    problems: list[str] = []
    payload = (json.dumps(event, default=str) + "\n").encode()
    # whoever can change the config could run their command, or read every event at a URL of theirs
    unsafe = config_safety.permission_problem(cfg.path) if cfg.path else None
    changeable = command_safety.command_changeable(cfg.notify.command) if cfg.notify.command else None
    if (unsafe or changeable) and cfg.notify.command:
        fix = "" if unsafe else f"; fix: {command_safety.FIX}"
        problems.append(f"refusing to run notify.command: {unsafe or changeable}{fix}")
    elif cfg.notify.command:
        try:
            # a mailer that queues in the background may keep the output open: its end is the command's
            done = proc.run(command_argv(cfg.notify.command), stdin_data=payload, timeout=COMMAND_TIMEOUT,
                            output_after_end=1.0, cancel=stop)
            if not done.ok:
                problems.append(f"notify command exited {done.returncode}: {done.stderr_said(200)}")
        except Exception as exc:  # missing program, timeout: report, never raise
            problems.append(f"notify command failed: {exc}")
    if unsafe and cfg.notify.apprise_urls:
        problems.append(f"refusing to send to notify.apprise_urls: {unsafe}")
    elif cfg.notify.apprise_urls:
        problems += _apprise(cfg.notify.apprise_urls, event)
    return problems


# The event's level as an apprise notification type (the names of apprise.NotifyType's members).
APPRISE_TYPES = {"failed": "FAILURE", "critical": "FAILURE", "warning": "WARNING", "ok": "SUCCESS"}


def apprise_title(event: dict) -> str:
    """A short title: what happened, to which source, on which host."""
    what = event["kind"].replace("_", " ")
    if event["kind"] == "health":
        what = f"health {event['level']}"
    where = f": {event['source']}" if event.get("source") else ""
    return f"rabtui {what}{where} on {event.get('host') or socket.gethostname()}"


def apprise_body(event: dict) -> str:
    """The message, its names escaped as on a terminal (a mail shows a bidi override as the
    terminal would), then the whole event as indented JSON, exact (readable in a mail or a chat)."""
    return f"{fmt.lines(event['message'])}\n\n{json.dumps(event, indent=2, default=str)}"


_NOT_INSTALLED = "notify.apprise_urls is set but apprise is not installed (pip install 'rabtui[apprise]')"


def _apprise_for(apprise, n: int, url: str):
    """(an Apprise object for this one URL, None), or (None, the problem) when apprise does not understand it."""
    app = apprise.Apprise()
    if not app.add(url) or len(app) == 0:
        return None, f"apprise URL #{n} ({_scheme(url)}://...) is not one apprise understands"
    return app, None


def apprise_url_problems(urls) -> list[str]:
    """What is wrong with the configured apprise URLs, found without sending anything (check-config)."""
    if not urls:
        return []
    try:
        import apprise  # optional extra
    except ImportError:
        return [_NOT_INSTALLED]
    problems = []
    for n, url in enumerate(urls, 1):
        problem = _apprise_for(apprise, n, url)[1]
        if problem:
            problems.append(problem)
    return problems


def _apprise(urls, event: dict) -> list[str]:
    """Send the event to each apprise URL on its own, so a failure names its URL (with apprise's
    own privacy form: passwords and tokens hidden) and apprise's reason, and never stops the others."""
    try:
        import apprise  # optional extra
    except ImportError:
        return [_NOT_INSTALLED]
    kind = getattr(apprise.NotifyType, APPRISE_TYPES.get(event["level"], "INFO"))
    title, body = apprise_title(event), apprise_body(event)
    problems: list[str] = []
    for n, url in enumerate(urls, 1):
        try:
            app, problem = _apprise_for(apprise, n, url)
            if problem:
                problems.append(problem)
                continue
            shown = app[0].url(privacy=True).split("?", 1)[0]
            with _AppriseLog() as log:
                ok = app.notify(body=body, title=title, notify_type=kind, body_format=apprise.NotifyFormat.TEXT)
            if not ok:
                problems.append(f"apprise could not deliver to {shown}" + (f": {log.text()}" if log.text() else ""))
        except Exception as exc:  # a plugin's own bug: report, never raise
            problems.append(f"apprise URL #{n} ({_scheme(url)}://...) failed: {type(exc).__name__}: {exc}")
    return problems


def _scheme(url: str) -> str:
    url = str(url)
    return url.split("://", 1)[0] if "://" in url else "?"


class _AppriseLog(logging.Handler):
    """Collects apprise's warnings and errors during one notify: they say why a delivery failed.
    (Apprise gives its logger a NullHandler, so they never reach stderr on their own.)"""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def text(self) -> str:
        return "; ".join(dict.fromkeys(self.lines))[-300:]

    def __enter__(self):
        logging.getLogger("apprise").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("apprise").removeHandler(self)
        return False


def backup_result(cfg: Config, result, now: datetime | None = None) -> list[str]:
    """The notification for a finished backup (backup.records.BackupResult): one event when it failed or
    completed with warnings, nothing when all went well."""
    if result.status == "failed":
        kind, level = "backup_failed", "failed"
    elif result.status == "warnings":
        kind, level = "backup_warnings", "warning"
    else:
        return []
    message = f"backup of {result.source} {result.status}" + (f": {result.reason}" if result.reason else "")
    return send(cfg, make_event(kind, level, message, source=result.source, now=now, backup_id=result.backup_id,
                                medium=result.medium, exit_code=result.exit_code),
                today=now.date() if now else None)
