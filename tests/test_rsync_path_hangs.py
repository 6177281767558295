"""A local source's rsync_path, a wrapper that hangs before it runs rsync (a `sudo` asking for a
password nobody types, a script waiting on a lock): nothing comes on rsync's output, rabtui stops it
after io_timeout seconds, and the directory fails saying that the source's rsync did not start or
answer, not that a FIFO or a device put in a file's place blocked its read of one (no file was
listed yet). Real rsync behind a real script."""

from __future__ import annotations

import os

from tests.trees import Lab, write_files


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
