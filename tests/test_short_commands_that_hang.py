"""The short commands run beside rsync and xorriso, hung (a medium or a file system that answers
nothing, a process stopped): each ends by the same limit as the long ones (io_timeout) with the
reason said, instead of holding the night until someone cancels it, and the next run goes on. The
hangs are real processes that stop themselves (SIGSTOP) as they start."""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager

from tests.procs import processes
from tests.trees import Lab, next_second, write_files

STALL = 3


def left(tmp_path, program: str) -> list[int]:
    """The `program` processes still there whose arguments name a path below `tmp_path`."""
    below = os.fsencode(tmp_path)
    return [pid for pid, argv in processes()
            if os.path.basename(argv[0]) == program.encode() and any(below in a for a in argv)]


@contextmanager
def hangs_once(tmp_path, monkeypatch, program: str, word: str, cancel: threading.Event):
    """Within: the first `program` whose arguments hold `word` and `tmp_path` stops itself as it
    starts; the others run as they are. `cancel` is set if the block still runs STALL + 60 s on
    (a hang fails the test, not the run)."""
    bin_dir, marker = tmp_path / "hung-bin", tmp_path / f"hung-{program}"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / program).write_text(f"""#!/bin/sh
case "$*" in *{word}*{tmp_path}*|*{tmp_path}*{word}*) [ -e '{marker}' ] || {{ : > '{marker}'; kill -STOP $$; }} ;; esac
exec '{shutil.which(program)}' "$@"
""")
    (bin_dir / program).chmod(0o755)
    watchdog = threading.Timer(STALL + 60, cancel.set)
    watchdog.start()
    try:
        with monkeypatch.context() as patched:
            patched.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
            yield
    finally:
        watchdog.cancel()
    assert marker.exists(), f"{program} was never run with {word}"


def test_a_find_that_hangs_below_a_new_backup_ends_by_io_timeout_and_the_next_backup_checks_again(
        tmp_path, monkeypatch):
    """After a base that holds hard links, find lists the new backup's files of more than one name:
    hung, it held the backup until a cancel (the night's run-due for ever)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local(extra=f"io_timeout = {STALL}\n")
    write_files(lab.src / "data", {"a": b"1"})
    os.link(lab.src / "data" / "a", lab.src / "data" / "b")
    assert lab.backup(cfg).status == "completed"
    next_second()
    cancel = threading.Event()
    with hangs_once(tmp_path, monkeypatch, "find", "-links", cancel):
        result = lab.backup(cfg, cancel=cancel)
    assert not cancel.is_set(), "the backup waited on the hung find until cancelled"
    assert result.status == "warnings", (result.status, result.reason)
    assert (f"the hard links of its backup were not checked (find wrote nothing for {STALL} s (io_timeout) and"
            " was stopped)") in result.reason, result.reason
    assert not left(tmp_path, "find")
    next_second()
    again = lab.backup(cfg)
    assert again.status == "completed", (again.status, again.reason)
