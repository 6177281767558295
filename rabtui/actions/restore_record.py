"""A restore's job record, which never stops the restore: it is what an operator does in an emergency,
and the state database only records it. When the database cannot take the record (its directory
full, a writer holding it past the busy timeout) that is said once, as a warning of the restore,
and the restore goes on unrecorded (its questions asked only where the operator is)."""

from __future__ import annotations

import os
import sqlite3
import threading

from rabtui import fmt
from rabtui.events import WARNING, Emit, Event, Question
from rabtui.state.jobs import JobRecorder
from rabtui.state.store import Store
from rabtui.state.store_check import is_full, state_failure


class RestoreRecord:
    def __init__(self, store: Store, source: str, title: str, *, job_id: int | None, cancel: threading.Event | None,
                 emit: Emit):
        self.store, self._emit = store, emit
        self.cancel = cancel if cancel is not None else threading.Event()
        self.lost: str | None = None      # the warning said once the record could not be written
        self.job: JobRecorder | None = None
        try:
            self.job = JobRecorder(store, "restore", source, title, job_id=job_id, cancel=self.cancel)
        except sqlite3.Error as exc:
            self._lose(exc)
        else:
            self.cancel = self.job.cancel

    def _lose(self, exc: sqlite3.Error) -> None:
        if self.lost is None:
            why = (f"the state directory {fmt.name(os.fsencode(self.store.state_dir))} is full"
                   if is_full(self.store.state_dir) else state_failure(exc, self.store.path).message)
            listed = ("its job is listed as running, then as dead once it has ended" if self.job is not None
                      else "it is not among the jobs")
            self.lost = f"{why}: the restore's record could not be written ({listed})"
            self._emit(Event(WARNING, self.lost))

    def emit(self, event: Event) -> None:
        """The event recorded in the job while the database takes it, then given to the caller's emit."""
        if self.job is not None and self.lost is None:
            try:
                self.job.emit(event)
            except sqlite3.Error as exc:
                self._lose(exc)
        self._emit(event)

    def prompter(self, asking):
        """The job's prompter (recorder.prompter); once the record is lost, `asking` alone (None:
        nobody can answer, and the question fails as without a terminal)."""
        return _Asking(self, asking)

    def finish(self, status: str, exit_code: int, summary: str) -> None:
        if self.job is not None:
            try:
                self.job.finish(status, exit_code, summary)
            except sqlite3.Error as exc:
                self._lose(exc)

    def discard(self) -> None:
        if self.job is not None:
            try:
                self.job.discard()
            except sqlite3.Error:
                pass


class _Asking:
    def __init__(self, record: RestoreRecord, asking):
        self.record, self.asking = record, asking

    def ask(self, question: Question, cancel: threading.Event | None = None) -> str:
        record = self.record
        if record.job is not None and record.lost is None:
            try:
                return record.job.prompter(self.asking).ask(question, cancel)
            except sqlite3.Error as exc:
                record._lose(exc)
        if self.asking is None:
            from rabtui.errors import NoAnswer

            raise NoAnswer(f"needs an answer, but its question cannot be recorded for anyone to answer: {question.text}")
        return self.asking.ask(question, cancel)
