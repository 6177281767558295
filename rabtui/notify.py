"""Notifications: one JSON event per failure, warning or health change.

The event goes to `notify.command` on stdin (run through proc.run, never a shell), and, when the
optional `apprise` extra is installed and `notify.apprise_urls` is set, to those URLs. A source
whose `pause_notifications_until` lies in the future sends nothing. A notifier that fails is logged
by the caller, never raised: a broken alert script must not fail a backup.
"""

from __future__ import annotations

import json
import shlex
import socket
from datetime import date, datetime
from typing import Any

from rabtui import proc
from rabtui.config import Config

KINDS = ("backup_failed", "backup_warnings", "health", "cleanup_failed", "restore_failed", "checkpoint_due")


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


def send(cfg: Config, event: dict, today: date | None = None) -> list[str]:
    """Deliver one event; returns the problems met (empty when all went well or nothing is set)."""
    if paused(cfg, event.get("source"), today):
        return []
    problems: list[str] = []
    payload = (json.dumps(event, default=str) + "\n").encode()
    if cfg.notify.command:
        try:
            done = proc.run(command_argv(cfg.notify.command), stdin_data=payload, timeout=60)
            if not done.ok:
                problems.append(f"notify command exited {done.returncode}: {done.stderr_text()[-200:]}")
        except Exception as exc:  # missing program, timeout: report, never raise
            problems.append(f"notify command failed: {exc}")
    if cfg.notify.apprise_urls:
        problems += _apprise(cfg.notify.apprise_urls, event)
    return problems


def _apprise(urls, event: dict) -> list[str]:
    try:
        import apprise  # optional extra
    except ImportError:
        return []
    try:
        app = apprise.Apprise()
        for url in urls:
            app.add(url)
        title = f"rabtui {event['level']}: {event.get('source') or event['kind']}"
        ok = app.notify(title=title, body=event["message"])
        return [] if ok else ["apprise could not deliver to every URL"]
    except Exception as exc:
        return [f"apprise failed: {exc}"]


def backup_result(cfg: Config, result, now: datetime | None = None) -> list[str]:
    """The notification for a finished backup (pipeline.BackupResult): one event when it failed or
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
