"""The short commands run beside rsync and xorriso, hung (a medium or a file system that answers
nothing, a process stopped): each ends by the same limit as the long ones (io_timeout) with the
reason said, instead of holding the night until someone cancels it, and the next run goes on. The
hangs are real processes that stop themselves (SIGSTOP) as they start."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from contextlib import contextmanager

from rabtui.checkpoint import prepare, questions, run
from rabtui.cli import main
from rabtui.events import ABORT, READY, RETRY, ScriptedPrompter, no_emit
from tests.procs import processes
from tests.trees import Lab, next_second, write_files

STALL = 3


def left(tmp_path, program: str) -> list[int]:
    """The `program` processes still there whose arguments name a path below `tmp_path`."""
    below = os.fsencode(tmp_path)
    return [pid for pid, argv in processes()
            if os.path.basename(argv[0]) == program.encode() and any(below in a for a in argv)]


@contextmanager
def hangs_once(tmp_path, monkeypatch, program: str, word: str):
    """Within: the first `program` whose arguments hold `word` and `tmp_path` stops itself as it
    starts; the others run as they are. It is killed if the block still runs STALL + 30 s on (a
    hang fails the test, not the run)."""
    bin_dir, marker = tmp_path / "hung-bin", tmp_path / f"hung-{program}"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / program).write_text(f"""#!/bin/sh
case "$*" in *{word}*{tmp_path}*|*{tmp_path}*{word}*) [ -e '{marker}' ] || {{ echo $$ > '{marker}'; kill -STOP $$; }} ;; esac
exec '{shutil.which(program)}' "$@"
""")
    (bin_dir / program).chmod(0o755)

    def kill_it() -> None:
        try:
            os.kill(int(marker.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass

    watchdog = threading.Timer(STALL + 30, kill_it)
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
    with hangs_once(tmp_path, monkeypatch, "find", "-links"):
        result = lab.backup(cfg)
    assert result.status == "warnings", (result.status, result.reason)
    assert (f"the hard links of its backup were not checked (find wrote nothing for {STALL} s (io_timeout) and"
            " was stopped)") in result.reason, result.reason
    assert not left(tmp_path, "find")
    next_second()
    again = lab.backup(cfg)
    assert again.status == "completed", (again.status, again.reason)


def _long_names_lab(tmp_path) -> Lab:
    """A backup of a directory whose 12 names of 250 bytes make xorriso's trial of it run
    (continuation.py), and discs of an `images:` drive with checkpoint.io_timeout STALL."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("100MiB", more=f"io_timeout = {STALL}\n")
    write_files(lab.src / "data", {f"n{i:02d}" + "x" * 247: b"1" for i in range(12)})
    assert lab.backup(cfg).status == "completed"
    return lab


def test_a_trial_xorriso_that_hangs_as_a_checkpoint_is_planned_ends_it_by_io_timeout(tmp_path, monkeypatch, capsys):
    """The trial of the directories xorriso may stop on (written to /dev/null beforehand) had no
    limit: hung, `checkpoint plan` or `burn` waited for ever."""
    lab = _long_names_lab(tmp_path)
    with hangs_once(tmp_path, monkeypatch, "xorriso", "stdio:/dev/null"):
        code = main(["--config", str(lab.config_path), "checkpoint", "plan", "--now"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert ("the trial of the directories xorriso may stop on (written to /dev/null beforehand, from the state"
            f" directory) did not end: xorriso wrote nothing for {STALL} s (checkpoint.io_timeout)") in err, err
    assert not left(tmp_path, "xorriso")
    assert main(["--config", str(lab.config_path), "checkpoint", "plan", "--now"]) == 0


def test_a_trial_xorriso_that_hangs_before_a_disc_is_begun_fails_the_disc_and_a_retry_writes_it(tmp_path,
                                                                                               monkeypatch):
    lab = _long_names_lab(tmp_path)
    cfg, store = lab.load(), lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={f"loc:{lab.src / 'data'}"}),
                            drive=cfg.checkpoint.drive)
    asked = []

    def operator(q):
        if q.kind == questions.FAILED:
            asked.append(q.text)
            return RETRY if len(asked) == 1 else ABORT
        return READY

    with hangs_once(tmp_path, monkeypatch, "xorriso", "stdio:/dev/null"):
        result = run.burn_checkpoint(cfg, store, number, emit=no_emit, cancel=threading.Event(),
                                     prompter=ScriptedPrompter(operator))
    assert len(asked) == 1 and f"xorriso wrote nothing for {STALL} s (checkpoint.io_timeout)" in asked[0], asked
    assert {r["state"] for r in store.all("SELECT state FROM discs")} == {"verified"}, result
    assert not left(tmp_path, "xorriso")
