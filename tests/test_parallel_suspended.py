"""rabtui itself suspended while its backups copy (Ctrl-Z and `fg` in the operator's terminal, the
backup server's VM paused) for longer than io_timeout: rsync went on, its output waiting in the
pipe, yet on waking rabtui counted its own absence as rsync's silence and stopped every rsync under
way as stalled. Real rsync, a real SIGSTOP and SIGCONT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests import preloaded
from tests.test_parallel import _sources
from tests.trees import Lab, write_files

IO_TIMEOUT = 2


def test_backups_of_a_run_suspended_past_io_timeout_go_on_when_it_resumes(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    _sources(lab, ["a", "b"], files=2, extra={n: f'bwlimit = "200K"\nio_timeout = {IO_TIMEOUT}' for n in "ab"})
    for name in "ab":
        write_files(lab.src / name, {"big": os.urandom(1_000_000)})
    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "--all"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        medium = lab.media[0][1]
        deadline = time.monotonic() + 60
        while len(list(medium.glob("*/backup-*/data/**/.big.*"))) < 2:
            assert run.poll() is None and time.monotonic() < deadline, "the two rsyncs never began their big file"
            time.sleep(0.05)
        run.send_signal(signal.SIGSTOP)
        time.sleep(IO_TIMEOUT + 2)
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        if run.poll() is None:
            run.kill()
            run.send_signal(signal.SIGCONT)
            run.wait()
    assert run.returncode == 0 and "stalled" not in out, out
    rows = lab.store().all("SELECT source, status FROM backups ORDER BY source")
    assert [(r["source"], r["status"]) for r in rows] == [("a", "completed"), ("b", "completed")]
