"""The rebuild-state verb: the state database made again from the media and the checkpoint discs
(rabtui/rebuild/scan.py), under every source's and the drive's lock, the old database kept aside,
recorded as a job in the new one."""

from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from rabtui.config import Config
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS
from rabtui.events import Emit, Event, Prompter
from rabtui.rebuild import scan
from rabtui.state.jobs import JobRecorder
from rabtui.state.locks import drive_lock, source_lock
from rabtui.state.store import Store


@dataclass
class RebuildResult:
    aside: Path | None     # where the old database was kept
    report: scan.Report

    @property
    def exit_code(self) -> int:
        return EXIT_WARNINGS if self.report.unmatched else EXIT_OK


def rebuild_state(cfg: Config, emit: Emit, cancel: threading.Event | None, prompter: Prompter) -> RebuildResult:
    """Rebuild the state database. It takes no store: the one there (if any) is moved aside and a
    new one is made and filled."""
    with all_locks(cfg):
        aside = move_aside(cfg.state_dir)
        store = Store(cfg.state_dir)
        recorder = JobRecorder(store, "rebuild", None, "rebuild-state", cancel=cancel)

        def both(event: Event) -> None:
            recorder.emit(event)
            emit(event)

        try:
            report = scan.rebuild(cfg, store, emit=both, prompter=prompter, cancel=recorder.cancel)
            result = RebuildResult(aside, report)
            recorder.finish("warnings" if result.exit_code else "completed", result.exit_code,
                            f"{report.backups} backups, checkpoints {report.checkpoints or 'none'}"
                            + (f", {len(report.unmatched)} not matched" if report.unmatched else ""))
        except BaseException as exc:
            recorder.finish("failed", getattr(exc, "exit_code", EXIT_FAILED), f"{type(exc).__name__}: {exc}")
            raise
        finally:
            store.close()
    return result


@contextmanager
def all_locks(cfg: Config) -> Iterator[None]:
    """Every source's lock and the drive's: no backup or burn writes the database while it is rebuilt
    (a running one is refused with its lock's "already running since ..., pid ..." message)."""
    with ExitStack() as stack:
        for source in cfg.sources:
            stack.enter_context(source_lock(cfg.state_dir, source.id))
        stack.enter_context(drive_lock(cfg.state_dir, cfg.checkpoint.drive))
        yield


def move_aside(state_dir: Path) -> Path | None:
    """Keep an existing database as rabtui.db.before-rebuild-<time> (with its WAL files)."""
    db = Path(state_dir) / "rabtui.db"
    if not db.exists():
        return None
    stamp = time.strftime("%Y%m%d%H%M%S")
    aside = db.with_name(f"rabtui.db.before-rebuild-{stamp}")
    n = 1
    while aside.exists():       # a second rebuild in the same second keeps the first one's copy too
        n += 1
        aside = db.with_name(f"rabtui.db.before-rebuild-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(db) + suffix)
        if p.exists():
            os.replace(p, str(aside) + suffix)
    return aside
