"""The short commands run beside rsync and xorriso, hung (a medium or a file system that answers
nothing, a process stopped): each ends by the same limit as the long ones (io_timeout) with the
reason said, instead of holding the night until someone cancels it, and the next run goes on. The
hangs are real processes that stop themselves (SIGSTOP) as they start."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from rabtui import proc_table
from rabtui.actions import checkpoint as checkpoint_actions
from rabtui.checkpoint import prepare, questions, run, triggers
from rabtui.cli import main
from rabtui.errors import Cancelled
from rabtui.events import ABORT, READY, RETRY, WARNING, ScriptedPrompter, no_emit
from rabtui.media import mounting
from rabtui.restore import run as restore_run
from rabtui.ssh import shared
from rabtui.ssh.shared import SharedConnection
from tests.procs import processes, signalled
from tests.trees import Lab, gate_command, next_second, ssh_source_lines, write_files

STALL = 3


def device_lab(tmp_path, disk_image) -> tuple[Lab, object, Path]:
    """A local source onto one medium whose `device` is `disk_image`: (the lab, its config, the
    medium's path, where rabtui mounts it)."""
    lab = Lab(tmp_path, media_count=1)
    mount_point = lab.media[0][1]
    lab.local()
    lab.on_device(mount_point, disk_image)
    write_files(lab.src / "data", {"a": b"on the usb disk"})
    return lab, lab.load(), mount_point


def cancelled_once_hung(tmp_path, program: str) -> threading.Event:
    """A cancel set as soon as the `program` that `hangs_once` stops has stopped itself."""
    cancel = threading.Event()

    def operator() -> None:
        while not (tmp_path / f"hung-{program}").exists():
            time.sleep(0.05)
        cancel.set()

    threading.Thread(target=operator, daemon=True).start()
    return cancel


def hung_left(tmp_path, program: str) -> bool:
    """Whether the `program` that `hangs_once` stopped is still there."""
    return proc_table.pid_alive(int((tmp_path / f"hung-{program}").read_text()))


@contextmanager
def hangs_once(tmp_path, monkeypatch, program: str, word: str):
    """Within: the first `program` whose arguments hold `word` and `tmp_path` stops itself as it
    starts; the others run as they are. It is killed if the block still runs STALL + 30 s on (a
    hang fails the test, not the run); the event given to the block is set then."""
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

    waited_for = threading.Event()
    watchdog = threading.Timer(STALL + 30, lambda: (waited_for.set(), kill_it()))
    watchdog.start()
    try:
        with monkeypatch.context() as patched:
            patched.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
            yield waited_for
    finally:
        watchdog.cancel()
        kill_it()      # one a failed test left behind
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
    assert not hung_left(tmp_path, "find")
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
    assert not hung_left(tmp_path, "xorriso")
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
    assert not hung_left(tmp_path, "xorriso")


def test_a_checkpoint_plan_stopped_by_sigterm_takes_its_hung_trial_xorriso_with_it(tmp_path, monkeypatch):
    """A process of its own, the trial's xorriso outlived a `checkpoint plan` killed by SIGTERM:
    hung, it stayed for ever. Now the plan is cancelled and its xorriso goes with it."""
    lab = _long_names_lab(tmp_path)
    lab.config_path.write_text(lab.config_path.read_text().replace(f"io_timeout = {STALL}\n", "io_timeout = 600\n"))
    marker = tmp_path / "hung-xorriso"
    with hangs_once(tmp_path, monkeypatch, "xorriso", "stdio:/dev/null"):
        plan = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint",
                                 "plan", "--now"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not (marker.exists() and marker.read_text().strip()) and plan.poll() is None:
            time.sleep(0.05)
        plan.send_signal(signal.SIGTERM)
        _out, err = plan.communicate(timeout=60)
        assert not hung_left(tmp_path, "xorriso"), "the plan's trial xorriso outlived it"
    assert plan.returncode not in (0, -signal.SIGTERM), (plan.returncode, err)
    assert "cancelled" in err, err


def test_a_cancel_while_the_mediums_mount_hangs_stops_it_at_once_and_the_next_backup_mounts_it(
        tmp_path, monkeypatch, disk_image):
    """A hung mount was waited for MOUNT_SILENCE (two minutes) whatever the cancel: a `jobs
    cancel`, or the SIGTERM of a shutdown, whose SIGKILL comes before that, left mount behind."""
    lab, cfg, mount_point = device_lab(tmp_path, disk_image)
    monkeypatch.setattr(mounting, "MOUNT_SILENCE", STALL + 60)
    cancel = cancelled_once_hung(tmp_path, "mount")
    with hangs_once(tmp_path, monkeypatch, "mount", mount_point.name):
        result = lab.backup(cfg, medium_id="m1", cancel=cancel)
    assert result.status == "cancelled", (result.status, result.reason)
    assert not hung_left(tmp_path, "mount")
    again = lab.backup(cfg, medium_id="m1")
    assert again.status == "completed", (again.status, again.reason)
    assert not os.path.ismount(mount_point)


def _mount_made_then_hung(tmp_path) -> tuple[Path, Path]:
    """A folder whose `mount` makes the mount, then, the first time its arguments hold `tmp_path`,
    stops itself (SIGSTOP) with its pid in the marker file: (the folder, the marker)."""
    bin_dir, marker = tmp_path / "hung-bin", tmp_path / "hung-mount"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text(f"""#!/bin/sh
'{shutil.which("mount")}' "$@"; made=$?
case "$*" in *{tmp_path}*) [ -e '{marker}' ] || {{ echo $$ > '{marker}'; kill -STOP $$; }} ;; esac
exit $made
""")
    (bin_dir / "mount").chmod(0o755)
    return bin_dir, marker


def test_a_cancel_as_the_mediums_mount_ends_says_the_mount_made_and_the_next_backup_unmounts_it(
        tmp_path, monkeypatch, disk_image):
    """mount stopped by the cancel once the kernel made the mount (here: it hangs after it): the
    medium stayed mounted, its note left for rabtui's next user of it, and the backup said only
    that it was cancelled (an operator then unplugs a disk that is mounted)."""
    lab, cfg, mount_point = device_lab(tmp_path, disk_image)
    bin_dir, marker = _mount_made_then_hung(tmp_path)
    cancel = cancelled_once_hung(tmp_path, "mount")
    try:
        with monkeypatch.context() as patched:
            patched.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
            result = lab.backup(cfg, medium_id="m1", cancel=cancel)
        assert result.status == "cancelled", (result.status, result.reason)
        assert not hung_left(tmp_path, "mount")
        assert os.path.ismount(mount_point)
        said = [m for m in lab.messages(WARNING) if f"medium m1 stays mounted at {mount_point}" in m]
        assert said and "next user of the medium unmounts it" in said[0], lab.messages()
        again = lab.backup(cfg, medium_id="m1")
        assert again.status == "completed", (again.status, again.reason)
        assert not os.path.ismount(mount_point)
    finally:
        if os.path.ismount(mount_point):
            subprocess.run(["umount", str(mount_point)])


def test_a_mount_killed_by_a_signal_is_said_so(tmp_path, monkeypatch):
    """Killed (the hung one above, by the operator), mount said nothing: the step's reason ended
    in "cannot mount DEVICE at PATH: " and no more."""
    lab, cfg, mount_point = device_lab(tmp_path, tmp_path / "usb.img")     # never mounted
    bin_dir = tmp_path / "killed-bin"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text("#!/bin/sh\nkill -KILL $$\n")
    (bin_dir / "mount").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed"
    assert result.reason.endswith(f"cannot mount {tmp_path / 'usb.img'} at {mount_point}: mount was killed by"
                                  " signal SIGKILL"), result.reason


def _masters(login: SharedConnection) -> list[int]:
    """The ssh processes that hold `login`'s shared connection: named by its own socket (a path of
    the run's, in the temporary directory or, that too long for a socket, a shorter one)."""
    control = os.fsencode(str(login.control))
    return [pid for pid, argv in processes() if os.path.basename(argv[0]) == b"ssh"
            and b"ControlMaster=yes" in argv and any(control in a for a in argv)]


def test_a_shared_ssh_connection_that_no_longer_answers_is_killed_as_the_backup_closes_it(tmp_path, sshd,
                                                                                          monkeypatch):
    """The ssh holding a backup's shared connection hung (stopped here): `ssh -O exit` got no
    answer, and the connection, a process of its own (ControlPersist), stayed for good."""
    monkeypatch.setattr(shared, "EXIT_WAIT", 1)                  # an `ssh -O exit` never answered here
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src}"\n')
    lab.trust(sshd)
    login = SharedConnection(cfg, cfg.source("web"))
    masters = []
    try:
        login.open()
        masters = _masters(login)
        assert len(masters) == 1, masters
        os.kill(masters[0], signal.SIGSTOP)
        login.close()
        assert not proc_table.pid_alive(masters[0]), "the hung shared connection was left behind"
    finally:
        for pid in masters:
            signalled(pid, signal.SIGKILL)      # unless it is gone


def test_a_cancel_while_a_checkpoint_mounts_the_media_stops_a_mount_that_hangs(tmp_path, monkeypatch, disk_image):
    """A checkpoint mounts the media with a device as it begins: a hung mount held its cancel (a
    `jobs cancel`, SIGTERM) for MOUNT_SILENCE, then went on to the next medium."""
    lab = Lab(tmp_path, media_count=1)
    mount_point = lab.media[0][1]
    lab.with_discs("100MiB")
    lab.on_device(mount_point, disk_image)
    cfg = lab.load()
    write_files(lab.src / "data", {"a": b"on the usb disk"})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    monkeypatch.setattr(mounting, "MOUNT_SILENCE", 600)
    cancel, said = cancelled_once_hung(tmp_path, "mount"), []
    with hangs_once(tmp_path, monkeypatch, "mount", mount_point.name):
        with pytest.raises(Cancelled):
            checkpoint_actions.burn(cfg, lab.store(), said.append, cancel, None, now=[], confirm=False)
    # not waited for until it failed (killed here), the checkpoint then going on without the medium
    assert not [e.message for e in said if "is not mounted for the checkpoint" in e.message], said
    assert not hung_left(tmp_path, "mount")
    assert not os.path.ismount(mount_point)


def test_a_cancel_while_a_restore_looks_at_a_device_medium_stops_the_looks_mount_that_hangs(
        tmp_path, monkeypatch, disk_image):
    """A restore first looks at each device medium plugged in for backups the state database does
    not know, mounting it read-only: that mount, hung, held the cancel for MOUNT_SILENCE."""
    lab, cfg, mount_point = device_lab(tmp_path, disk_image)
    data = lab.src / "data"
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    monkeypatch.setattr(mounting, "MOUNT_SILENCE", 600)
    cancel = cancelled_once_hung(tmp_path, "mount")
    with hangs_once(tmp_path, monkeypatch, "mount", mount_point.name) as waited_for:
        with pytest.raises(Cancelled):
            restore_run.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out", cancel=cancel)
    assert not waited_for.is_set(), "the cancel waited for the hung mount"
    assert not hung_left(tmp_path, "mount")
    assert not os.path.ismount(mount_point)


_READING = """
import signal, sys, time
from rabtui.config.parse import load
from rabtui.media import mounting
signal.signal(signal.SIGINT, signal.default_int_handler)   # Python leaves it ignored if so given (tests run by sh's &)
cfg = load(sys.argv[1], check_media=False)
with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir, read_only=True):
    open(sys.argv[2], "w").close()
    time.sleep(120)
"""


def _restore_reading(tmp_path, lab: Lab, mount_point: Path) -> subprocess.Popen:
    """A restore in a process of its own that reads the medium, mounted read-only for it (_READING)."""
    reading = tmp_path / "reading"
    restore = subprocess.Popen([sys.executable, "-c", _READING, str(lab.config_path), str(reading)],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    deadline = time.monotonic() + 60
    while not reading.exists() and restore.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not (reading.exists() and os.statvfs(mount_point).f_flag & os.ST_RDONLY):
        restore.kill()
        restore.wait(timeout=60)
        pytest.fail("the restore's mount was not made")
    return restore


def test_a_cancel_while_the_remount_under_a_restores_readers_hangs_stops_it_at_once(
        tmp_path, monkeypatch, disk_image):
    """A backup finds the medium mounted read-only for a restore that reads it still: it remounts it
    read-write under the restore. That remount, hung, held the backup's cancel for MOUNT_SILENCE."""
    lab, cfg, mount_point = device_lab(tmp_path, disk_image)
    restore = _restore_reading(tmp_path, lab, mount_point)
    try:
        monkeypatch.setattr(mounting, "MOUNT_SILENCE", 600)
        cancel = cancelled_once_hung(tmp_path, "mount")
        with hangs_once(tmp_path, monkeypatch, "mount", "remount") as waited_for:
            result = lab.backup(cfg, medium_id="m1", cancel=cancel)
        assert not waited_for.is_set(), "the cancel waited for the hung remount"
        assert result.status == "cancelled", (result.status, result.reason)
        assert not hung_left(tmp_path, "mount")
    finally:
        restore.send_signal(signal.SIGINT)      # its mount unmounted as it ends, by its last user
        restore.wait(timeout=60)
    again = lab.backup(cfg, medium_id="m1")
    assert again.status == "completed", (again.status, again.reason)
    assert not os.path.ismount(mount_point)


def test_a_cancel_while_the_sync_before_a_killed_restores_mount_is_made_writable_hangs_stops_it_at_once(
        tmp_path, monkeypatch, disk_image):
    """A backup finds the read-only mount of a restore killed meanwhile: it syncs and unmounts it, to
    mount it read-write. That sync, hung, held the backup's cancel for SYNC_SILENCE (ten minutes); the
    medium stays as it was, mounted read-only, for the next backup to make writable."""
    lab, cfg, mount_point = device_lab(tmp_path, disk_image)
    restore = _restore_reading(tmp_path, lab, mount_point)
    restore.kill()     # its mount left, and its note
    restore.wait(timeout=60)
    monkeypatch.setattr(mounting, "SYNC_SILENCE", 600)
    cancel = cancelled_once_hung(tmp_path, "sync")
    with hangs_once(tmp_path, monkeypatch, "sync", mount_point.name) as waited_for:
        result = lab.backup(cfg, medium_id="m1", cancel=cancel)
    assert not waited_for.is_set(), "the cancel waited for the hung sync"
    assert result.status == "cancelled", (result.status, result.reason)
    assert not hung_left(tmp_path, "sync")
    assert os.statvfs(mount_point).f_flag & os.ST_RDONLY
    again = lab.backup(cfg, medium_id="m1")
    assert again.status == "completed", (again.status, again.reason)
    assert not os.path.ismount(mount_point)


@contextmanager
def a_stopped_backup(tmp_path):
    """A backup of a local source in a process of its own, held in its pre-backup command, then
    stopped (SIGSTOP, as Ctrl-Z in its terminal stops it): (the lab, the process, its job's id, what
    the cancel of it says of the stop). Continued as the block ends, it must end cancelled."""
    lab = Lab(tmp_path, media_count=1)
    gate = gate_command(tmp_path / "never")
    lab.local(extra=f'pre_backup_commands = ["{gate}"]\n')
    write_files(lab.src / "data", {"a": b"1"})
    run_ = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60      # until its pre-backup command runs (its job recorded before)
        while not any(a == gate.encode() for _, argv in processes() for a in argv) and time.monotonic() < deadline:
            time.sleep(0.05)
        run_.send_signal(signal.SIGSTOP)
        job_id = lab.store().one("SELECT id FROM jobs WHERE status='running'")["id"]
        yield lab, run_, job_id, (f"its process (pid {run_.pid}) is stopped (SIGSTOP, or Ctrl-Z in its terminal):"
                                  f" it stops once continued (kill -CONT {run_.pid}, or fg there)")
    finally:
        run_.send_signal(signal.SIGCONT)
        out, _ = run_.communicate(timeout=60)
    assert run_.returncode == 1 and "backup of loc: cancelled" in out, out


def test_the_cancel_of_a_job_whose_process_is_stopped_says_it_waits_until_it_is_continued(tmp_path, capsys):
    """A run stopped (Ctrl-Z in its terminal, a SIGSTOP) heeds no cancel: `jobs cancel` said
    "cancel requested" and nothing followed."""
    with a_stopped_backup(tmp_path) as (lab, _run, job_id, stopped):
        assert main(["--config", str(lab.config_path), "jobs", "cancel", str(job_id)]) == 0
        said = capsys.readouterr().out
        assert stopped in said, said


@pytest.mark.parametrize("argv", [["find", "a"], ["media", "label", "m1"]])
def test_a_command_stopped_by_sigterm_as_it_mounts_a_device_medium_takes_the_hung_mount_with_it(
        tmp_path, monkeypatch, disk_image, argv):
    """`rabtui find` looks at each device medium plugged in for backups the state database does not
    know, mounting it read-only; `media label` mounts its medium: killed by SIGTERM meanwhile, each
    left that mount, hung, for good (a process of its own)."""
    lab, cfg, mount_point = device_lab(tmp_path, disk_image)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    with hangs_once(tmp_path, monkeypatch, "mount", mount_point.name):
        run_ = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not (tmp_path / "hung-mount").exists() and run_.poll() is None:
            time.sleep(0.05)
        run_.send_signal(signal.SIGTERM)
        _out, err = run_.communicate(timeout=60)
        assert not hung_left(tmp_path, "mount"), f"the hung mount of {argv} outlived it"
    assert run_.returncode not in (0, -signal.SIGTERM) and "cancelled" in err, (run_.returncode, err)
    assert not os.path.ismount(mount_point)


def test_a_restore_onto_an_ssh_source_whose_rsync_hangs_here_ends_by_io_timeout(tmp_path, sshd, monkeypatch):
    """The rsync sending the backup's copy, stopped here (as one reading a hung medium is): rsync's
    own --timeout is heard only from a process that runs, and the restore waited for ever."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"a": b"1", "b": b"2"})
    cfg = lab.write(ssh_source_lines(sshd) + f'io_timeout = {STALL}\n[[sources.directories]]\npath = "{data}"\n')
    lab.trust(sshd)
    assert lab.backup(cfg, "web").status == "completed"
    (data / "b").unlink()
    with hangs_once(tmp_path, monkeypatch, "rsync", "--ignore-existing") as waited_for:
        with pytest.raises(restore_run.RestoreIncomplete) as failed:
            restore_run.restore(cfg, lab.store(), "web", str(data), to_source=True)
    assert not waited_for.is_set(), "the restore waited for the hung rsync until it was killed"
    assert (f"the transfer stalled: nothing from rsync for {STALL} s (io_timeout), rsync was stopped"
            in str(failed.value)), str(failed.value)
    assert not hung_left(tmp_path, "rsync")
    again = restore_run.restore(cfg, lab.store(), "web", str(data), to_source=True)
    assert not again.incomplete() and (data / "b").read_bytes() == b"2", again.summary


def _stopped_once_sending(tmp_path, into: Path, name: str) -> threading.Thread:
    """A thread that stops (SIGSTOP) the local rsync of a restore of the test as soon as its file
    `name` is begun in `into` on the source (rsync's temporary file there): rsync hung mid-file, as
    on a medium that stops answering."""
    def stop() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(f.startswith(f".{name}.") for f in os.listdir(into)):
                for pid, argv in processes():
                    if (argv and argv[0].endswith(b"rsync") and b"--server" not in argv
                            and any(os.fsencode(tmp_path) in a for a in argv)):
                        if signalled(pid, signal.SIGSTOP):
                            (tmp_path / "hung-rsync").write_text(str(pid))
                return
            time.sleep(0.01)

    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    return stopper


def test_a_restore_onto_an_ssh_source_that_stalls_mid_file_does_not_count_that_file_restored(tmp_path, sshd):
    """rsync names each file as it begins to send it: the file it was sending when the transfer
    stalled was counted restored ("2 files") though only its temporary file was ever on the source."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"a": b"1", "big": os.urandom(4 << 20)})
    directory = f'[[sources.directories]]\npath = "{data}"\n'
    cfg = lab.write(ssh_source_lines(sshd) + f'io_timeout = {STALL}\n' + directory)
    lab.trust(sshd)
    assert lab.backup(cfg, "web").status == "completed"
    # sent slowly (8 s for big): its temporary file is seen on the source long before its end
    cfg = lab.write(ssh_source_lines(sshd) + f'io_timeout = {STALL}\nbwlimit = "512K"\n' + directory)
    (data / "a").unlink()
    (data / "big").unlink()
    stopper = _stopped_once_sending(tmp_path, data, "big")
    try:
        with pytest.raises(restore_run.RestoreIncomplete) as failed:
            restore_run.restore(cfg, lab.store(), "web", str(data), to_source=True)
    finally:
        stopper.join(60)
        if (tmp_path / "hung-rsync").exists():
            signalled(int((tmp_path / "hung-rsync").read_text()), signal.SIGCONT)    # unless the stall's stop ended it
    assert (tmp_path / "hung-rsync").exists(), "rsync was not stopped as it sent big"
    assert "the transfer stalled" in str(failed.value), str(failed.value)
    assert not (data / "big").exists() and (data / "a").read_bytes() == b"1"
    written = failed.value.result.written
    assert written.files == 1 and written.bytes == 1, str(failed.value)
    assert "restored /" in str(failed.value) and ": 1 file, " in str(failed.value), str(failed.value)
    assert not hung_left(tmp_path, "rsync")


def _works_in(pid: int, directory: Path) -> bool:
    """Whether process `pid`'s working directory is `directory` (rsync's receiver names no path in its
    arguments, `-s`, and goes there)."""
    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(directory)
    except OSError:
        return False


def test_a_restore_whose_rsync_is_stopped_on_the_source_says_it_may_stay_there(tmp_path, sshd):
    """The source's rsync (the receiver, `rsync --server`) stopped there mid-transfer: the restore
    fails by io_timeout, and sshd leaves that rsync stopped when the connection ends; the failure
    says so and how to find it, as a backup's does (`ps -C rsync`)."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"big": os.urandom(4 << 20)})
    directory = f'[[sources.directories]]\npath = "{data}"\n'
    lab.trust(sshd)
    assert lab.backup(lab.write(ssh_source_lines(sshd) + directory), "web").status == "completed"
    cfg = lab.write(ssh_source_lines(sshd) + f'io_timeout = {STALL}\nbwlimit = "512K"\n' + directory)
    (data / "big").unlink()
    servers: list[int] = []

    def stop_servers() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(f.startswith(".big.") for f in os.listdir(data)):
            time.sleep(0.01)
        for pid, argv in processes():
            if argv and argv[0].endswith(b"rsync") and b"--server" in argv and _works_in(pid, data):
                if signalled(pid, signal.SIGSTOP):
                    servers.append(pid)

    stopper = threading.Thread(target=stop_servers, daemon=True)
    stopper.start()
    try:
        with pytest.raises(restore_run.RestoreIncomplete) as failed:
            restore_run.restore(cfg, lab.store(), "web", str(data), to_source=True)
        stopper.join(60)
        assert servers, "the source's rsync was not stopped as it received big"
        assert any(proc_table.pid_alive(pid) for pid in servers)      # left there, stopped
    finally:
        for pid in servers:
            signalled(pid, signal.SIGKILL)
    assert "(`ps -C rsync` on the source)" in str(failed.value), str(failed.value)


def test_a_backup_whose_shared_ssh_connection_no_longer_answers_leaves_it_not_behind(tmp_path, sshd, monkeypatch):
    """A backup starts closing its shared connection after its transfer (`release`, overlapping
    steps 6 and 7) and waits for it at its end (`close`): the hung connection was killed only by a
    `close` alone, and a backup's, which had forgotten its socket at the `release`, left it for good."""
    monkeypatch.setattr(shared, "EXIT_WAIT", 1)                  # an `ssh -O exit` never answered here
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src}"\n')
    lab.trust(sshd)
    write_files(lab.src, {"a": b"over ssh"})
    masters: list[int] = []
    release = SharedConnection.release

    def hung_then_released(login: SharedConnection) -> None:
        if login.control is not None:     # the first release: the connection still open
            masters.extend(_masters(login))
            for pid in masters:
                os.kill(pid, signal.SIGSTOP)
        release(login)

    monkeypatch.setattr(SharedConnection, "release", hung_then_released)
    try:
        result = lab.backup(cfg, "web")
        assert result.status == "completed", result.reason
        assert len(masters) == 1, masters
        assert not proc_table.pid_alive(masters[0]), "the hung shared connection was left behind"
    finally:
        for pid in masters:
            signalled(pid, signal.SIGKILL)      # unless it is gone


def _catches_sigterm(pid: int) -> bool:
    """Whether process `pid` has set a handler of SIGTERM (its status's SigCgt)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def test_find_stopped_by_sigterm_says_it_was_cancelled(tmp_path):
    """SIGTERM sets `find`'s cancel, which its search of the catalog heeds: it ended saying
    "rabtui: superseded", the console's word for a search another replaced."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"x"})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    with sqlite3.connect(lab.state / "rabtui.db") as conn:     # a catalog that takes its time to search
        conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000)"
                     " INSERT INTO paths(source, dir, path) SELECT 'loc', dir, CAST(path || '/x' || i AS BLOB)"
                     " FROM paths, n")
    run_ = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "find", "zz*q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while run_.poll() is None and not _catches_sigterm(run_.pid):
        time.sleep(0.01)
    run_.send_signal(signal.SIGTERM)
    out, err = run_.communicate(timeout=120)
    assert run_.returncode == 1 and "find: cancelled" in err and "superseded" not in err, (run_.returncode, out, err)


def test_find_stopped_by_sigterm_as_its_looks_mount_ends_says_the_mount_made(tmp_path, disk_image):
    """`find` looks at a device medium left unmounted, mounting it read-only; SIGTERM came as mount
    hung once the kernel had made the mount: find said only that it was cancelled, not that the
    medium stays mounted (an operator then unplugs a disk that is mounted)."""
    lab, cfg, mount_point = device_lab(tmp_path, disk_image)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    assert not os.path.ismount(mount_point)
    bin_dir, marker = _mount_made_then_hung(tmp_path)
    try:
        run_ = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "find", "a"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
        deadline = time.monotonic() + 60
        while run_.poll() is None and not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "find did not mount the medium"
        run_.send_signal(signal.SIGTERM)
        out, err = run_.communicate(timeout=120)
        assert not hung_left(tmp_path, "mount")
        assert run_.returncode == 1 and "find: cancelled" in err, (run_.returncode, out, err)
        assert os.path.ismount(mount_point)
        assert f"medium m1 stays mounted at {mount_point}" in err, err
        again = lab.backup(cfg, medium_id="m1")      # rabtui's next user of it unmounts it
        assert again.status == "completed", (again.status, again.reason)
        assert not os.path.ismount(mount_point)
    finally:
        if marker.exists():
            signalled(int(marker.read_text()), signal.SIGKILL)
        if os.path.ismount(mount_point):
            subprocess.run(["umount", str(mount_point)])


def test_a_checkpoint_plan_stopped_by_sigterm_as_it_reads_the_backups_ends_cancelled(tmp_path):
    """SIGTERM sets the plan's cancel, which only its trial xorriso and its waits for a lock heed:
    come as it read the backups it plans, the signal was swallowed, and the plan went on to print
    itself, exit 0, its directories asked for (--now) recorded; before, SIGTERM ended it at once."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("100MiB")
    write_files(lab.src / "data", {f"d{i // 500}/f{i}": b"" for i in range(20000)})   # a while to read
    assert lab.backup(lab.load(), medium_id="m1").status == "completed"
    plan = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", "plan",
                             "--now"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while plan.poll() is None and not _catches_sigterm(plan.pid):
        time.sleep(0.01)
    plan.send_signal(signal.SIGTERM)
    out, err = plan.communicate(timeout=120)
    assert plan.returncode == 1 and "cancelled" in err and not out, (plan.returncode, out, err)
    assert not triggers.requested(lab.store()), "the cancelled plan's --now was recorded"


def test_find_stopped_by_sigterm_as_its_output_waits_for_its_reader_ends(tmp_path):
    """`find | less`, less not reading: find waits to write. SIGTERM set its cancel, which nothing
    heard then: find waited on for good (Python writes again after a signal's handler); before
    SIGTERM handled a cancel, it ended find at once."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {f"f{i}": b"" for i in range(2000)})    # lines beyond a pipe's room
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    run_ = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "find", "f*"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        give_up = time.monotonic() + 60     # a test that hangs fails
        while run_.poll() is None and not Path(f"/proc/{run_.pid}/wchan").read_text().endswith("pipe_write"):
            assert time.monotonic() < give_up, "find never waited to write"
            time.sleep(0.02)
        run_.send_signal(signal.SIGTERM)
        try:
            run_.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("find waited on to write its output after SIGTERM")
        assert run_.returncode != 0
    finally:
        run_.kill()
        run_.communicate()
