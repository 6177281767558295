"""A cleanup that runs while another command reads the backups it would delete: a restore from
one of them, a checkpoint burning from them. The reader finishes with everything it promised, or
fails and says why; the cleanup keeps what is being read for a later run. Real backups, the real
`rabtui cleanup` process started at a chosen moment of the reader's work."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from rabtui.actions import restore as restore_actions
from rabtui.state import locks
from rabtui.events import no_emit
from tests.trees import Lab, snapshot, write_files

ROOT = Path(__file__).resolve().parent.parent
LATER = "2031-01-01T00:00"


def _rabtui(lab, *args):
    return subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                          capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)


class _CleanupAtFirstLook(threading.Event):
    """A cancel flag that, the first time the copy looks at it (between two entries it copies),
    runs `rabtui cleanup` to its end: a deterministic race between the two processes."""

    def __init__(self, lab):
        super().__init__()
        self.lab = lab
        self.cleanup: subprocess.CompletedProcess | None = None

    def is_set(self) -> bool:
        if self.cleanup is None and sys._getframe(1).f_code.co_name == "copy_into":
            self.cleanup = _rabtui(self.lab, "cleanup", "--now", LATER)
        return super().is_set()


def _two_backups(tmp_path) -> tuple[Lab, str]:
    """Two backups of `loc`; the older (returned by name) is due for deletion at LATER."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"sub/deep/f1": b"one" * 100, "sub/deep/f2": b"two", "sub/g": b"g"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    old = sorted(os.listdir(lab.media[0][1] / "loc"))[0]
    write_files(lab.src / "data", {"later": b"later"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    plan = _rabtui(lab, "cleanup", "--dry-run", "--now", LATER)
    assert f"would delete loc {old}" in plan.stdout, plan.stdout
    return lab, old


def test_a_restore_is_never_cut_short_by_a_cleanup_of_its_backup(tmp_path):
    lab, old = _two_backups(tmp_path)
    want = {k: v for k, v in snapshot(lab.src / "data").items() if not k.startswith(b"later")}
    to = tmp_path / "restored"
    cancel = _CleanupAtFirstLook(lab)
    outcome = restore_actions.restore(lab.load(), lab.store(), no_emit, cancel, None, source="loc",
                                      path=str(lab.src / "data"), backup=old, to=str(to))
    assert cancel.cleanup is not None and cancel.cleanup.returncode == 0, cancel.cleanup
    assert "Traceback" not in cancel.cleanup.stderr
    # the restore got every file of the backup ...
    assert outcome.exit_code == 0, outcome.result.summary
    assert snapshot(to / str(lab.src / "data").lstrip("/")) == want
    # ... and the cleanup kept that backup for a later run, and says why
    assert old in os.listdir(lab.media[0][1] / "loc")
    assert "a restore or a checkpoint reads loc's backups now" in cancel.cleanup.stdout, cancel.cleanup.stdout
    again = _rabtui(lab, "cleanup", "--now", LATER)
    assert again.returncode == 0 and old not in os.listdir(lab.media[0][1] / "loc"), again.stdout


def test_a_restore_started_during_a_cleanup_of_its_source_refuses_and_says_why(tmp_path):
    """The cleanup holds the source's reading lock while it deletes (taken here as it would)."""
    lab, old = _two_backups(tmp_path)
    with locks.reading_lock(lab.state, "loc"):
        done = _rabtui(lab, "restore", "loc", str(lab.src / "data"), "--backup", old, "--to", str(tmp_path / "to"))
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert f"a cleanup of loc's backups is already running since " in done.stderr, done.stderr
    assert f"pid {os.getpid()}" in done.stderr
    assert not (tmp_path / "to").exists()

