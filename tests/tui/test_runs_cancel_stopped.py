"""The Runs screen's cancel of a job whose process is stopped (SIGSTOP, Ctrl-Z in its terminal),
which heeds no cancel until it is continued: said as `rabtui jobs cancel` says it. A real backup in a
process of its own, held in its pre-backup command, then stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.runs import RunsScreen
from tests.procs import processes
from tests.trees import Lab, gate_command, write_files
from tests.tui.conftest import kept_notes, ready, run, settled, texts, wait_for


def test_the_cancel_from_runs_of_a_job_whose_process_is_stopped_says_how_to_continue_it(tmp_path):
    """x on it said "cancel requested for job N" and nothing followed: the job ran on, stopped."""
    lab = Lab(tmp_path, media_count=1)
    gate = gate_command(tmp_path / "never")
    lab.local(extra=f'pre_backup_commands = ["{gate}"]\n')
    write_files(lab.src / "data", {"a": b"1"})
    backup = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stopped = (f"its process (pid {backup.pid}) is stopped (SIGSTOP, or Ctrl-Z in its terminal): it stops once"
               f" continued (kill -CONT {backup.pid}, or fg there)")
    try:
        deadline = time.monotonic() + 60      # until its pre-backup command runs (its job recorded before)
        while not any(a == gate.encode() for _, argv in processes() for a in argv) and time.monotonic() < deadline:
            time.sleep(0.05)
        backup.send_signal(signal.SIGSTOP)
        job_id = lab.store().one("SELECT id FROM jobs WHERE status='running'")["id"]

        async def go():
            app = make_app(lab.config_path, poll_interval=0.2)
            told = kept_notes(app)
            async with app.run_test(size=(120, 30)) as pilot:
                await pilot.press("4")
                await wait_for(pilot, lambda: ready(app, RunsScreen) and "running" in texts(app, "#runs-jobs")
                               and settled(app), what="the running job")
                await pilot.press("x")
                await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
                await pilot.press("y")
                said = f"cancel requested for job {job_id}; {stopped}"
                await wait_for(pilot, lambda: said in told, what=lambda: f"the notifications {told}")
                assert said in " ".join(texts(app, "#status-line").split()), texts(app, "#status-line")

        run(go())
    finally:
        backup.send_signal(signal.SIGCONT)
        out, _ = backup.communicate(timeout=60)
    assert backup.returncode == 1 and "backup of loc: cancelled" in out, out
