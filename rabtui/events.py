"""What the engine tells its fronts: events through a callback, questions through a Prompter.

The engine is synchronous. Each long operation takes `emit`, a `threading.Event` for cancellation
and a `Prompter`; the command line, the job runner and the TUI each bring their own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

# Event kinds. `progress` events may replace each other (only the newest matters).
STEP = "step"          # data: step (1..7), name, state ("running"|"ok"|"failed"|"skipped"|"warning")
PROGRESS = "progress"  # data: done_bytes, total_bytes (may be None), rate (bytes/s), eta (s), percent, current
LOG = "log"            # message: one line for the log
ITEM = "item"          # data: one itemized change (for live "current file" display)
WARNING = "warning"    # message: something the operator should read; the work goes on
ERROR = "error"        # message: why the work failed
RESULT = "result"      # data: the final summary of the operation
DISC = "disc"          # data: disc, state ("planned"|"writing"|"written"|"verified"|"failed"|"skipped")


@dataclass(frozen=True)
class Event:
    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)


Emit = Callable[[Event], None]


def no_emit(event: Event) -> None:
    """An `emit` that drops everything."""


# Prompt answers. Every disc prompt offers the same four, as the design asks.
READY = "ready"
RETRY = "retry"
REWRITE = "rewrite"
SKIP = "skip"
ABORT = "abort"
YES = "yes"
NO = "no"


@dataclass(frozen=True)
class Question:
    kind: str                      # "insert_disc" | "trust_host" | "confirm" | ...
    text: str                      # the whole question, ready to show
    choices: Sequence[str]         # the answers allowed, first is the default
    data: dict[str, Any] = field(default_factory=dict)


class Prompter(Protocol):
    def ask(self, question: Question, cancel: threading.Event | None = None) -> str:
        """Return one of `question.choices`; raise `Cancelled` when `cancel` is set meanwhile."""
        ...


class ScriptedPrompter:
    """Answers from a list, in order (for tests and `--yes`); records the questions asked."""

    def __init__(self, answers: Sequence[str] | Callable[[Question], str]):
        self._answers = answers if callable(answers) else list(answers)
        self.asked: list[Question] = []

    def ask(self, question: Question, cancel: threading.Event | None = None) -> str:
        self.asked.append(question)
        if callable(self._answers):
            return self._answers(question)
        if not self._answers:
            from rabtui.errors import Cancelled

            raise Cancelled(f"no scripted answer for: {question.text}")
        return self._answers.pop(0)
