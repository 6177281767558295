"""A source's rsync_path, a wrapper that hangs before it runs rsync (a `sudo` asking for a password
nobody types, a script waiting on a lock): nothing comes on rsync's output, rabtui stops it after
io_timeout seconds, and the directory fails saying that the source's rsync did not start or answer,
not that a FIFO or a device put in a file's place blocked its read of one (no file was listed yet).
Over SSH, what hangs there stays after the backup, which is said, without a FIFO's writer as what
ends it. Real rsync behind a real script, over a real sshd."""

from __future__ import annotations

import os
import random
import time

from tests.procs import kill_naming, processes, sleeping
from tests.trees import Lab, ssh_source_lines, write_files


def test_a_wrapper_that_hangs_before_rsync_runs_is_said_not_a_fifo(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"one": b"1"})
    wrapper = tmp_path / "slow-rsync"
    wrapper.write_text('#!/bin/sh\nsleep 1000\nexec rsync "$@"\n')
    os.chmod(wrapper, 0o755)
    cfg = lab.write(f'[[sources]]\nid = "loc"\nio_timeout = 2\nrsync_path = "{wrapper}"\n'
                    f'[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    failed = lab.backup(cfg)
    assert failed.status == "failed", failed.reason
    stalled = f"{lab.src / 'data'}: the transfer stalled: nothing from rsync for 2 s (io_timeout), rsync was stopped"
    assert f"{stalled} (nothing at all came from it, not the start of its file list: the source's rsync did not" \
           " start or answer, its rsync_path hung" in failed.reason, failed.reason
    assert "FIFO" not in failed.reason, failed.reason


def _ended_on_the_source(*words: bytes) -> None:
    """The processes naming `words` killed, those started meanwhile included: the session's command
    on the source runs rsync_path twice, its look first (source_top), and the killed sleep of the
    one lets the next begin."""
    quiet_since = time.monotonic()
    deadline = quiet_since + 30
    while time.monotonic() - quiet_since < 2 and time.monotonic() < deadline:
        if any(any(word in arg for word in words for arg in argv) for pid, argv in processes() if pid != os.getpid()):
            quiet_since = time.monotonic()
            for word in words:
                kill_naming(word)
        time.sleep(0.1)


def test_over_ssh_a_rsync_path_that_hangs_before_rsync_runs_is_said_not_a_fifo(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    write_files(lab.src / "data", {"one": b"1"})
    word = f"{1000 + random.random():.6f}"
    wrapper = tmp_path / "slow-rsync"      # on the source (the sshd's machine)
    wrapper.write_text(f'#!/bin/sh\nsleep {word}\nexec rsync "$@"\n')
    os.chmod(wrapper, 0o755)
    cfg = lab.write(ssh_source_lines(sshd, "web") + f'io_timeout = 2\nrsync_path = "{wrapper}"\n'
                    f'[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    try:
        failed = lab.backup(cfg, "web")
        assert sleeping(word.encode()), "the rsync_path's sleep did not run"
    finally:
        _ended_on_the_source(word.encode(), os.fsencode(wrapper))
    assert failed.status == "failed", failed.reason
    stalled = f"{lab.src / 'data'}: the transfer stalled: nothing from rsync for 2 s (io_timeout), rsync was stopped"
    assert f"{stalled} (nothing at all came from it, not the start of its file list: the source's rsync did not" \
           " start or answer, its rsync_path hung" in failed.reason, failed.reason
    assert "FIFO" not in failed.reason, failed.reason
    assert "may stay there after this backup" in failed.reason, failed.reason
