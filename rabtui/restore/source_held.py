"""The backup lock of a source a restore writes onto (locks.source_lock): a backup meanwhile would
save a half-restored tree. Held from the restore's check to its end, except while the restore waits
at a question (a medium or a disc to insert, before anything is written onto the source): a night's
backup of the source runs then, rather than being refused for as long as nobody answers. After the
answer the lock is taken again, waiting (said) for a backup that began meanwhile; a backup of the
source made while the question waited is said, the copy chosen before it being the one restored.
The configuration is read again then: one that no longer names the source where it named it when
the restore began (its host, its directories; the source removed; a file that cannot be read, mid-
edit) refuses the restore, nothing written: it would write where the configuration no longer says."""

from __future__ import annotations

import os
import sqlite3
import threading

from rabtui import fmt
from rabtui import config as configmod
from rabtui.config import Config, Source
from rabtui.errors import Cancelled, LockBusy, RabtuiError, WorkFailed
from rabtui.events import LOG, WARNING, Emit, Event, Question
from rabtui.restore.locks_unmade import alone_for
from rabtui.state import locks
from rabtui.state.dir_lock import StateDirLock
from rabtui.state.store import RESTORABLE, Store


class SourceHeld:
    def __init__(self, cfg: Config, store: Store, source_id: str, emit: Emit, cancel: threading.Event | None,
                 alone: StateDirLock):
        """`alone`: taken whole instead where the lock file cannot be made (the state directory full:
        no backup runs then, at the question too)."""
        self.cfg, self.source_id, self.store, self.emit, self.alone = cfg, source_id, store, emit, alone
        self.cancel = cancel or threading.Event()
        self.lock = locks.source_lock(cfg.state_dir, source_id, by=f"a restore onto {source_id}")
        self.made: list = []    # rows of the backups made while a question waited

    def __enter__(self) -> "SourceHeld":
        self._acquire()
        return self

    def _acquire(self) -> None:
        try:
            self.lock.acquire()
        except locks.LockFileUnmade as exc:
            alone_for(self.alone, exc, self.emit)

    def __exit__(self, *exc) -> None:
        self.lock.release()

    def asking(self, prompter):
        """`prompter`, the lock let go while it waits for an answer (None stays None: nobody to ask)."""
        return None if prompter is None else _Unlocked(self, prompter)

    def _newest(self) -> int:
        try:
            row = self.store.one(f"SELECT max(id) AS id FROM backups WHERE source=?"
                                 f" AND status IN ({','.join('?' * len(RESTORABLE))})", (self.source_id, *RESTORABLE))
        except sqlite3.Error:
            return -1
        return row["id"] if row and row["id"] is not None else 0

    def _again(self, before: int) -> None:
        """The lock taken again after an answer, once a backup that began meanwhile has ended."""
        try:
            self._acquire()
        except LockBusy:
            self.emit(Event(LOG, f"{self.lock.holder_described()} began while the restore waited for an answer:"
                                 f" waiting for it to end before writing onto {self.source_id}"))
            while True:
                if self.cancel.wait(locks.WAIT_POLL):
                    raise Cancelled(f"cancelled while waiting for a backup of {self.source_id} to end; nothing"
                                    f" written onto {self.source_id}") from None
                try:
                    self._acquire()
                    break
                except LockBusy:
                    pass
        self._configured()
        if before < 0:
            return
        try:
            self.made += self.store.all(f"SELECT name, medium FROM backups WHERE source=? AND id>?"
                                        f" AND status IN ({','.join('?' * len(RESTORABLE))}) ORDER BY id",
                                        (self.source_id, before, *RESTORABLE))
        except sqlite3.Error:
            pass

    def _configured(self) -> None:
        """Refused, nothing written, when the configuration read again no longer names the source
        where it did when the restore began."""
        if self.cfg.path is None:
            return
        try:
            now = configmod.load(self.cfg.path, check_media=False)
        except (RabtuiError, OSError) as exc:
            why = f"it cannot be read now ({exc})"
        else:
            there = [s for s in now.sources if s.id == self.source_id]
            was = self.cfg.source(self.source_id)
            if there and _where(there[0]) == _where(was) and _how(there[0]) == _how(was):
                return
            if not there:
                why = f"it no longer names source {self.source_id}"
            elif _where(there[0]) != _where(was):
                why = f"it names {self.source_id} elsewhere now ({_said(there[0])}, not {_said(was)})"
            else:
                changed = [key for key, a, b in zip(_HOW, _how(there[0]), _how(was)) if a != b]
                why = f"it writes onto {self.source_id} otherwise now ({', '.join(changed)} changed)"
        raise WorkFailed(f"the configuration {fmt.name(os.fsencode(self.cfg.path))} was changed while the restore"
                         f" waited for an answer: {why}; nothing written onto {self.source_id}",
                         hint="restore again, with the configuration as it is now")

    def said(self, origin: str) -> list[str]:
        """The backups made while a question waited, each a warning (emitted too), the copy read being
        `origin` ("backup NAME on MEDIUM", "checkpoint N")."""
        out = [f"backup {fmt.name(row['name'])} of {self.source_id} on {row['medium']} was made while the restore"
               f" waited for an answer: the copy restored is {origin}, chosen before it; restore again to read the"
               f" newest" for row in self.made]
        for text in out:
            self.emit(Event(WARNING, text))
        return out


def _where(source: Source) -> tuple:
    """Where a restore onto `source` writes."""
    return source.host, source.user, source.port, tuple(sorted(d.path for d in source.directories))


_HOW = ("rsync_path", "one_file_system", "identity_file")


def _how(source: Source) -> tuple:
    """How a restore onto `source` writes there (reaches it, crosses its mounts)."""
    return tuple(getattr(source, key) for key in _HOW)


def _said(source: Source) -> str:
    host = f"{source.user + '@' if source.user else ''}{source.host}{':' + str(source.port) if source.port else ''}:"
    return fmt.name((host if source.host else "") + ", ".join(d.path for d in source.directories))


class _Unlocked:
    def __init__(self, held: SourceHeld, prompter):
        self.held, self.prompter = held, prompter

    def ask(self, question: Question, cancel: threading.Event | None = None) -> str:
        before = self.held._newest()
        self.held.lock.release()
        answer = self.prompter.ask(question, cancel)    # no answer (cancelled, failed): nothing is written
        self.held._again(before)
        return answer
