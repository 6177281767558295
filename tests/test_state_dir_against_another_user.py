"""A state directory that another user owns or may write in: root never writes through a symlink
planted there (the lock of a source, say), `check` says so as CRITICAL, and a run that meets the
symlink stops with a message, not a traceback."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys

import pytest

from tests.trees import Lab, write_files
from tests import preloaded
from tests.other_user import root_logging_kept

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _rabtui(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True)


def test_a_state_dir_of_another_user_is_said_and_its_lock_symlink_not_followed(open_base):
    nobody = pwd.getpwnam("nobody")
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    # the user got there first (e.g. state_dir under /tmp or /srv, or a leftover of a test run): 0700, theirs
    victim = open_base / "shadow"                 # stands for /etc/shadow
    victim.write_bytes(b"root:$6$secret\n")
    victim.chmod(0o600)
    locks = lab.state / "locks"
    locks.mkdir(parents=True, mode=0o700)
    os.symlink(victim, locks / "source-loc.lock")
    for p in (lab.state, locks, locks / "source-loc.lock"):
        os.lchown(p, nobody.pw_uid, nobody.pw_gid)
    lab.state.chmod(0o700)

    done = _rabtui(lab, "backup", "loc")
    check = _rabtui(lab, "check")

    assert victim.read_bytes() == b"root:$6$secret\n", f"root wrote through the lock symlink: {victim.read_bytes()!r}"
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert "CRITICAL" in check.stdout and "belongs to user nobody" in check.stdout, check.stdout


def test_a_lock_symlink_planted_in_a_state_dir_open_to_all_is_not_followed(open_base):
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    assert _rabtui(lab, "backup", "loc").returncode == 0
    # an operator's `chmod 0777` (or an old install): every run refuses it, and the symlink is never followed
    for d in (lab.state, lab.state / "locks"):
        d.chmod(0o777)
    victim = open_base / "shadow"
    victim.write_bytes(b"root:$6$secret\n")
    victim.chmod(0o600)
    nobody = pwd.getpwnam("nobody")
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([]); os.setgid(nobody.pw_gid); os.setuid(nobody.pw_uid)
            os.rename(lab.state / "locks", lab.state / "locks.old")
            os.mkdir(lab.state / "locks")
            os.symlink(victim, lab.state / "locks" / "source-loc.lock")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    done = _rabtui(lab, "backup", "loc")
    assert victim.read_bytes() == b"root:$6$secret\n", (
        f"backup exit {done.returncode}; root wrote through the lock symlink: {victim.read_bytes()!r}")
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout, done.stderr


def test_the_uis_log_is_not_written_through_a_symlink_planted_in_the_state_dir(open_base):
    """The UI logs to logs/tui.log: a symlink another user put there (a state directory of theirs,
    or open to all: `check` says CRITICAL, the UI opens all the same) is not followed by root."""
    import logging

    from rabtui.cli import tui_cmds
    from rabtui.errors import WorkFailed

    nobody = pwd.getpwnam("nobody")
    state = open_base / "state"
    (state / "logs").mkdir(parents=True, mode=0o700)
    victim = open_base / "crontab"               # stands for /etc/crontab
    victim.write_bytes(b"# root's\n")
    os.symlink(victim, state / "logs" / "tui.log")
    for p in (state, state / "logs", state / "logs" / "tui.log"):
        os.lchown(p, nobody.pw_uid, nobody.pw_gid)

    with root_logging_kept():
        with pytest.raises(WorkFailed, match="logs: it belongs to user nobody"):   # their folder: refused
            tui_cmds._log_to_file(state)
        logging.getLogger("rabtui.tui").warning("* * * * * root sh /tmp/theirs")
    assert victim.read_bytes() == b"# root's\n"
