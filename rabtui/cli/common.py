"""What every command needs: the config, the state database, output that suits cron or a terminal."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from rabtui import config as configmod
from rabtui.config import Config
from rabtui.errors import Cancelled
from rabtui.events import Question
from rabtui.store import Store


def load_config(args, *, check_media: bool = True) -> Config:
    cfg = configmod.load(getattr(args, "config", None), check_media=check_media)
    warning = configmod.permission_warning(cfg.path)
    if warning:
        print(f"rabtui: warning: {warning}", file=sys.stderr)
    return cfg


def open_store(cfg: Config) -> Store:
    return Store(cfg.state_dir)


def is_tty(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


class TerminalPrompter:
    """Asks on the terminal; with no terminal (cron) it cannot ask and cancels the work."""

    def __init__(self, auto: dict[str, str] | None = None):
        self.auto = auto or {}   # question kind -> answer given without asking (e.g. --yes)

    def ask(self, question: Question, cancel: threading.Event | None = None) -> str:
        if question.kind in self.auto:
            answer = self.auto[question.kind]
            print(f"{question.text}\n  -> {answer}", file=sys.stderr)
            return answer
        if not sys.stdin.isatty():
            raise Cancelled(f"needs an answer, but there is no terminal to ask on: {question.text}")
        choices = list(question.choices)
        while True:
            print(question.text, file=sys.stderr)
            reply = input(f"  [{'/'.join(choices)}] (default {choices[0]}): ").strip().lower()
            if not reply:
                return choices[0]
            matches = [c for c in choices if c.startswith(reply)]
            if len(matches) == 1:
                return matches[0]
            print(f"  please answer one of: {', '.join(choices)}", file=sys.stderr)
