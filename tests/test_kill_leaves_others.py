"""What the kills of a run's processes must leave alone (real sshd, real rsync, real processes): a
daemon that a local command started and left running, on purpose, outlives the run, the close of
the shared SSH connections beside it and rabtui's normal exit; and a run that ends normally leaves
no process of its own behind (its shared connections' watchers included)."""

from __future__ import annotations

import random
import subprocess
import sys
import time

from tests import preloaded
from tests.procs import ended, kill_naming, processes, sleeping, stat_fields
from tests.test_parallel import _shared_logins
from tests.trees import Lab, ssh_source_lines, write_files


def _watchers(parent: int) -> set[int]:
    """The sh processes of rabtui `parent` that watch its shared connections
    (proc_lifeline.marked_die_with_stdin)."""
    found = set()
    for pid, argv in processes():
        if len(argv) > 2 and argv[1] == b"-c" and b"read -r _; marked TERM" in argv[2]:
            try:
                if int(stat_fields(pid)[1]) == parent:
                    found.add(pid)
            except OSError:
                continue
    return found


def test_a_daemon_a_command_left_outlives_the_run_and_its_ssh_connections(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    word = f"{1000 + random.random():.6f}".encode()
    write_files(lab.src / "loc", {"f": "loc"})
    write_files(lab.src / "web", {"f": "web"})
    loc, web = lab.src / "loc", lab.src / "web"
    lab.write(f'[[sources]]\nid = "loc"\npost_backup_commands = ["setsid sleep {word.decode()} </dev/null >/dev/null 2>&1 &"]\n'
              f'[[sources.directories]]\npath = "{loc}"\n'
              + ssh_source_lines(sshd, "web") + f'[[sources.directories]]\npath = "{web}"\n')
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\nmax_parallel = 1\n", 1))
    try:
        child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "--all"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        watchers: set[int] = set()
        while child.poll() is None:
            watchers |= _watchers(child.pid)
            time.sleep(0.02)
        out, err = child.communicate(timeout=120)
        assert watchers, "no watcher of the shared connection seen"
        assert child.returncode == 0, (out, err)
        time.sleep(3)       # past a watcher's grace, had one fired
        assert len(sleeping(word)) == 1, "the daemon the post-backup command left was killed"
        assert _shared_logins(child.pid) == []
        assert all(ended(pid) for pid in watchers), "a shared connection's watcher outlived the run"
    finally:
        kill_naming(word)
