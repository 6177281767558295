"""While rebuild-state runs, no command records anything in the database it is replacing: what it
wrote there (a job, a disc verified, a checkpoint abandoned, a directory asked for) would be lost
with the old database, kept aside. Each such command is refused, as a cleanup is, with "cannot run
now: rebuild-state is running"; those that only read go on. The rebuild is real, held (SIGSTOP)
at a fault point with every lock it takes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from rabtui.actions.checkpoint import asked_dirs
from rabtui.checkpoint import prepare
from rabtui.faults import STOP_ENV
from rabtui.state.store import Store
from tests import preloaded
from tests.test_rebuild_odd_records import ROOT, _rabtui
from tests.trees import Lab, write_files
from tests.held import stopped as _stopped

TABLES = ("jobs", "events", "prompts", "checkpoints", "discs", "checkpoint_dirs", "dir_state", "meta", "media",
          "backups")


def _dump(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        return {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}").fetchall()), key=repr) for t in TABLES}
    finally:
        conn.close()


def _held_rebuild(lab: Lab, point: str) -> subprocess.Popen:
    proc = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                           cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env={**os.environ, STOP_ENV: point})
    deadline = time.monotonic() + 60
    while not _stopped(proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def test_no_command_writes_the_database_rebuild_state_replaces(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a": b"one"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    assert _rabtui(lab, "checkpoint", "burn", "--now", "--yes").returncode == 0    # 1, complete
    store = Store(lab.state)
    try:                                                                          # 2, not written yet
        prepare.record(cfg, store, prepare.compute(cfg, store, asked=asked_dirs(cfg, store, [])),
                       drive=cfg.checkpoint.drive)
    finally:
        store.close()
    db = lab.state / "rabtui.db"
    before = _dump(db)

    rebuild = _held_rebuild(lab, "rebuild.media_read")
    try:
        for argv in (("checkpoint", "verify", "1", "--yes"), ("checkpoint", "abandon", "2"),
                     ("checkpoint", "resume", "2", "--yes"), ("checkpoint", "burn", "--now", "--yes", "--new"),
                     ("checkpoint", "plan", "--now"), ("media", "label", "m1"), ("run-due",),
                     ("jobs", "cancel", "1"), ("backup", "loc"),
                     ("restore", "loc", str(lab.src / "data" / "a"), "--to", str(tmp_path / "out"))):
            done = _rabtui(lab, *argv)
            said = done.stdout + done.stderr
            assert done.returncode != 0 and "cannot run now: rebuild-state is running" in said, (argv, said)
            assert "Traceback" not in said
        for argv in (("status",), ("checkpoint", "status"), ("find", "a")):      # they only read
            done = _rabtui(lab, *argv)
            assert done.returncode == 0, (argv, done.stdout + done.stderr)
    finally:
        rebuild.send_signal(signal.SIGCONT)
        out, err = rebuild.communicate(timeout=120)
    assert rebuild.returncode == 0, out + err
    aside = next(p for p in lab.state.iterdir() if p.name.startswith("rabtui.db.before-rebuild-")
                 and not p.name.endswith(("-wal", "-shm")))
    assert _dump(aside) == before


def test_the_ui_changes_nothing_in_the_database_rebuild_state_replaces(tmp_path):
    """The UI holds the database open for hours: each change it makes (a job started, a question
    answered, a job asked to stop, a medium labelled, directories asked for a checkpoint) is
    refused while rebuild-state runs."""
    import pytest

    from rabtui.actions import backup as backup_actions
    from rabtui.actions import checkpoint as checkpoint_actions
    from rabtui.actions import jobs as jobs_actions
    from rabtui.actions import media as media_actions
    from rabtui.errors import LockBusy

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a": b"one"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    db = lab.state / "rabtui.db"
    store = Store(lab.state)                 # opened before the rebuild, as the UI's
    try:
        store.one("SELECT 1")
        before = _dump(db)
        rebuild = _held_rebuild(lab, "rebuild.media_read")
        try:
            for change in (lambda: jobs_actions.start(store, lab.config_path, "backup", "loc", "backup loc",
                                                      ["backup", "loc"]),
                           lambda: jobs_actions.answer(store, 1, "ready"),
                           lambda: jobs_actions.cancel(store, 1),
                           lambda: media_actions.label(store, cfg.medium("m1")),
                           lambda: backup_actions.start_detached(cfg, store, "loc"),
                           lambda: checkpoint_actions.plan(cfg, store, now=[])):
                with pytest.raises(LockBusy, match="cannot run now: rebuild-state is running"):
                    change()
            jobs_actions.recent_jobs(store)          # it only reads meanwhile
        finally:
            rebuild.send_signal(signal.SIGCONT)
            out, err = rebuild.communicate(timeout=120)
        assert rebuild.returncode == 0, out + err
    finally:
        store.close()
    aside = next(p for p in lab.state.iterdir() if p.name.startswith("rabtui.db.before-rebuild-")
                 and not p.name.endswith(("-wal", "-shm")))
    assert _dump(aside) == before


def test_check_while_rebuild_state_runs_says_so_as_a_warning(tmp_path):
    """Monitoring runs `rabtui check --prometheus` every few minutes; while rebuild-state ran (hours,
    with discs to read) check was refused like a writer: no WARNING line, the textfile left with
    the figures from before, as if all were as then."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"one"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    prom = tmp_path / "rabtui.prom"
    assert _rabtui(lab, "check", "--prometheus", str(prom)).returncode == 1     # never checkpointed
    rebuild = _held_rebuild(lab, "rebuild.media_listed")
    try:
        done = _rabtui(lab, "check", "--prometheus", str(prom))
    finally:
        rebuild.send_signal(signal.SIGCONT)
        rebuild.communicate()
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("WARNING: ") and "rebuild-state is running" in done.stdout, done.stdout
    assert 'rabtui_check_status{check="state"} 1' in prom.read_text()
