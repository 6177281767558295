"""The post-backup commands undo what the pre-backup commands did (a dump with secrets written on
the source, a service stopped): they run even when the transfer between them fails, and the backup
stays failed, with their own failure, if any, in its reason; after a cancel too (the backup stays
cancelled). Not when the pre-backup commands themselves failed. Real rsync (a failing one, or one
that waits to be cancelled, stands behind `rsync_path`), locally and over the test sshd."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import pytest

from tests.procs import ended, processes
from tests.trees import Lab, ssh_source_lines, write_files


FAILING = "#!/bin/sh\necho 'no room on the source' >&2\nexit 12\n"


def _lab(tmp_path, request, where: str, post: str | None, rsync: str = FAILING) -> tuple[Lab, object, str, object]:
    """`post`: the post-backup command (None: none)."""
    lab = Lab(tmp_path)
    dump = tmp_path / "db.sql"
    failing = tmp_path / "bin" / "rsync"          # what the source runs as rsync
    failing.parent.mkdir()
    failing.write_text(rsync)
    failing.chmod(0o755)
    keys = (f'rsync_path = "{failing}"\npre_backup_commands = ["echo secret > {dump}"]\n'
            + (f'post_backup_commands = ["{post.format(dump=dump)}"]\n' if post is not None else ""))
    data = lab.src / "data"
    write_files(data, {"a": b"1"})
    if where == "local":
        cfg = lab.write(f'[[sources]]\nid = "loc"\n{keys}[[sources.directories]]\npath = "{data}"\n')
        return lab, cfg, "loc", dump
    sshd = request.getfixturevalue("sshd")
    cfg = lab.write(ssh_source_lines(sshd) + keys + f'[[sources.directories]]\npath = "{data}"\n')
    lab.trust(sshd)
    return lab, lab.load(), "web", dump


@pytest.mark.parametrize("where", ["local", "ssh"])
def test_the_post_commands_run_after_a_failed_transfer(tmp_path, request, where):
    lab, cfg, sid, dump = _lab(tmp_path, request, where, "rm -f {dump}")
    result = lab.backup(cfg, sid, medium_id="m1")
    assert result.status == "failed" and "rsync" in result.reason, result.reason
    assert not dump.exists(), "the pre-backup command's dump stayed on the source"
    assert any(m.startswith("step 6/7") and m.endswith(": ok (1 command(s))") for m in lab.messages()), lab.messages()


def test_a_post_command_that_fails_after_a_failed_transfer_is_said_too(tmp_path, request):
    lab, cfg, sid, dump = _lab(tmp_path, request, "local", "rm -f {dump}; exit 5")
    result = lab.backup(cfg, sid, medium_id="m1")
    assert result.status == "failed" and "rsync" in result.reason
    assert "post-backup command failed (exit 5)" in result.reason, result.reason
    assert not dump.exists()


def test_no_post_command_runs_when_a_pre_command_failed(tmp_path):
    lab = Lab(tmp_path)
    marker = tmp_path / "post-ran"
    cfg = lab.local(extra=f'pre_backup_commands = ["exit 3"]\npost_backup_commands = ["touch {marker}"]')
    write_files(lab.src / "data", {"a": b"1"})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "pre-backup command failed (exit 3)" in result.reason
    assert not os.path.exists(marker)


@pytest.mark.parametrize("where", ["local", "ssh"])
def test_the_post_commands_run_after_a_cancel(tmp_path, request, where):
    started = tmp_path / "rsync-started"
    waiting = f"#!/bin/sh\ntouch {started}\nexec sleep 60\n"     # the transfer, until it is cancelled
    lab, cfg, sid, dump = _lab(tmp_path, request, where, "rm -f {dump}", rsync=waiting)
    cancel = threading.Event()
    done = []
    worker = threading.Thread(target=lambda: done.append(lab.backup(cfg, sid, medium_id="m1", cancel=cancel)))
    worker.start()
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), lab.messages()
    assert dump.exists()
    cancel.set()
    worker.join(60)
    assert done, "the backup did not end after its cancel"
    result = done[0]
    assert result.status == "cancelled", (result.status, result.reason)
    assert not dump.exists(), "the pre-backup command's dump stayed on the source after a cancel"
    assert any(m.startswith("step 6/7") and m.endswith(": ok (1 command(s))") for m in lab.messages()), lab.messages()


def test_a_post_command_that_fails_after_a_cancel_is_said_and_the_backup_stays_cancelled(tmp_path, request):
    started = tmp_path / "rsync-started"
    lab, cfg, sid, dump = _lab(tmp_path, request, "local", "exit 5",
                               rsync=f"#!/bin/sh\ntouch {started}\nexec sleep 60\n")
    cancel = threading.Event()
    threading.Thread(target=_set_when, args=(started, cancel), daemon=True).start()
    result = lab.backup(cfg, sid, medium_id="m1", cancel=cancel)
    assert result.status == "cancelled", (result.status, result.reason)
    assert "post-backup command failed (exit 5)" in result.reason, result.reason


def _set_when(path, cancel: threading.Event) -> None:
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    cancel.set()


def _until(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)


@dataclass
class HangingPost:
    """A backup job of `loc` whose transfer waits to be cancelled and whose post-backup command
    hangs (its shell's pid written in `pid_file`), run by the engine in a thread under its job row."""
    lab: Lab
    store: object
    job_id: int
    worker: threading.Thread
    pid_file: object
    dump: object

    def post_pid(self) -> int | None:
        text = self.pid_file.read_text().strip() if self.pid_file.exists() else ""
        return int(text) if text else None


HANG = "hang"


def hanging_post_job(tmp_path, request, where: str = "local", post: str | None = HANG,
                     transfer_ends: bool = False) -> HangingPost:
    """Started, its transfer begun; its cancels seen within a fifth of a second. `where`: as for
    _lab; `post`: a post-backup command of its own instead of the one that hangs (None: none);
    `transfer_ends`: the transfer is the real rsync's, that ends (its post-backup commands then run
    as a complete backup's), not one that waits to be cancelled."""
    from rabtui.actions import backup as backup_actions
    from rabtui.state import jobs
    from rabtui.state.jobs import JobRecorder

    request.getfixturevalue("monkeypatch").setattr(jobs, "HEARTBEAT_EVERY", 0.4)

    started, pid_file = tmp_path / "rsync-started", tmp_path / "post-pid"
    # the source's look (--list-only) real; over SSH the waiting transfer ends, as rsync does, once the
    # connection is gone (a cancel kills ssh: sleep alone outlived the test on the source)
    transfer = ('rsync "$@"' if transfer_ends
                else 'case " $* " in *" --server "*) exec cat >/dev/null;; *) exec sleep 60;; esac')
    lab, cfg, sid, dump = _lab(tmp_path, request, where, f"echo $$ > {pid_file}; exec sleep 600" if post == HANG else post,
                               rsync=f'#!/bin/sh\ncase " $* " in *" --list-only "*) exec rsync "$@";; esac\n'
                                     f"touch {started}\n{transfer}\n")
    store = lab.store()
    recorder = JobRecorder(store, "backup", sid, f"backup of {sid}")
    worker = threading.Thread(target=backup_actions.as_job, args=(cfg, store, sid, recorder),
                              kwargs={"emit": lab.emit, "prompter": None, "medium_id": "m1"}, daemon=True)
    worker.start()
    _until(started.exists, "the transfer began")
    return HangingPost(lab, store, recorder.job_id, worker, pid_file, dump)


def assert_stopped_by_a_second_cancel(job: HangingPost, pid: int) -> None:
    """The job ended cancelled, its reason naming the post commands stopped, their process gone,
    what they were to undo left as it was."""
    from rabtui.actions import jobs as jobviews

    job.worker.join(30)
    assert not job.worker.is_alive(), "the second cancel did not stop the post command"
    row = jobviews.job(job.store, job.job_id)
    assert row["status"] == "cancelled", dict(row)
    assert "post-backup commands were stopped by a second cancel" in row["summary"], row["summary"]
    _until(lambda: ended(pid), "the post command's process ended")     # its sleep is 600 s
    assert job.dump.exists(), "what the post command was to undo is left as it was"
    _until(lambda: not _running_naming(job.pid_file.parent), "the source's side of the transfer ended", 10)


def test_a_second_cancel_through_the_database_stops_the_post_commands(tmp_path, request, capsys):
    """The second cancel of a backup whose post-backup commands run (after its first cancel), as
    `rabtui jobs cancel --post-commands-too` gives it: a post command that hangs is killed, and the
    job ends cancelled, its reason naming the post commands stopped. Through the job's row, as a
    detached job is cancelled."""
    from rabtui.actions import jobs as jobviews
    from rabtui.cli import main

    job = hanging_post_job(tmp_path, request)
    jobviews.cancel(job.store, job.job_id)
    _until(job.post_pid, "the post command began")
    assert jobviews.job(job.store, job.job_id)["status"] == "running"
    assert main(["--config", str(job.lab.config_path), "jobs", "cancel", "--post-commands-too", str(job.job_id)]) == 0
    assert "its post-backup commands too" in capsys.readouterr().out
    assert_stopped_by_a_second_cancel(job, job.post_pid())


def _running_naming(directory) -> list[int]:
    """The live processes whose command line names `directory` (over SSH: the source's side too)."""
    return [pid for pid, argv in processes() if str(directory).encode() in b"\0".join(argv) and not ended(pid)]


def test_a_cancel_of_the_post_commands_after_a_failed_transfer_keeps_the_failure(tmp_path, request):
    """After a failed transfer the post-backup commands run under the backup's own cancel: one that
    stops them leaves the backup failed for its transfer, the commands' stop added to its reason
    (the cancel once left the failure's record to be made after the medium was let go)."""
    pid_file = tmp_path / "post-pid"
    lab, cfg, sid, dump = _lab(tmp_path, request, "local", f"echo $$ > {pid_file}; exec sleep 600")
    cancel = threading.Event()
    threading.Thread(target=_set_when, args=(pid_file, cancel), daemon=True).start()
    result = lab.backup(cfg, sid, medium_id="m1", cancel=cancel)
    assert result.status == "failed" and "rsync" in result.reason, (result.status, result.reason)
    assert "post-backup commands were stopped by a cancel" in result.reason, result.reason
    assert dump.exists()


def test_a_cancel_while_a_complete_backup_s_post_commands_run_keeps_its_data(tmp_path, request, capsys):
    """The transfer ended whole (real rsync) and the post-backup command runs as a complete
    backup's: a cancel then stops the command, and the data stays restorable, kept, as after a post
    command that failed (it was marked failed, and a later cleanup removed what rsync had copied
    whole). `jobs cancel` says so, and the job ends cancelled, not failed."""
    from rabtui.actions import jobs as jobviews
    from rabtui.cli import main
    from rabtui.state.store import KEPT

    job = hanging_post_job(tmp_path, request, transfer_ends=True)
    _until(job.post_pid, "the post command began")
    pid = job.post_pid()
    assert main(["--config", str(job.lab.config_path), "jobs", "cancel", str(job.job_id)]) == 0
    said = capsys.readouterr().out
    assert "the data it copied whole is kept" in said, said
    job.worker.join(30)
    assert not job.worker.is_alive(), "the cancel did not stop the post command"
    _until(lambda: ended(pid), "the post command's process ended")     # its sleep is 600 s
    backup = job.store.one("SELECT status, reason, path FROM backups WHERE source='loc'")
    assert backup["status"] == KEPT, dict(backup)
    assert "cancel" in backup["reason"] and "the data is kept" in backup["reason"], backup["reason"]
    row = jobviews.job(job.store, job.job_id)
    assert row["status"] == "cancelled" and row["exit_code"] == 1, dict(row)
    assert "the data is kept" in row["summary"], row["summary"]
    assert main(["--config", str(job.lab.config_path), "cleanup"]) in (0, 1)
    assert os.path.isdir(backup["path"]), "cleanup removed the kept data"
    restored = tmp_path / "restored"
    capsys.readouterr()
    code = main(["--config", str(job.lab.config_path), "restore", "loc", str(job.lab.src / "data"), "--to", str(restored)])
    assert code == 0, capsys.readouterr().err
    assert os.listdir(restored / str(job.lab.src / "data").lstrip("/")), "nothing restored from the kept backup"


def test_a_sigterm_while_a_complete_backup_s_post_commands_run_ends_it_cancelled_its_data_kept(tmp_path, request):
    """`rabtui backup` (a process of its own, real rsync) gets SIGTERM (a shutdown, systemd stopping
    its unit) while the post-backup command of a whole transfer runs: the command is stopped, the
    data kept, and the run ends cancelled (exit 1, as a cancel elsewhere), its reason saying both."""
    import signal
    import subprocess
    import sys

    from tests import preloaded

    pid_file = tmp_path / "post-pid"
    lab, _, _, _ = _lab(tmp_path, request, "local", f"echo $$ > {pid_file}; exec sleep 600",
                        rsync='#!/bin/sh\nexec rsync "$@"\n')
    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc",
                           "--medium", "m1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _until(lambda: pid_file.exists() and pid_file.read_text().strip(), "the post command began")
        post = int(pid_file.read_text())
        run.send_signal(signal.SIGTERM)
        out = run.communicate(timeout=60)[0].decode()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 1 and "Traceback" not in out, out
    _until(lambda: ended(post), "the post command's process ended")     # its sleep is 600 s
    store = lab.store()
    backup = store.one("SELECT status, reason, path FROM backups WHERE source='loc'")
    assert backup["status"] == "kept", dict(backup)
    assert "stopped by a cancel" in backup["reason"] and "the data is kept" in backup["reason"], backup["reason"]
    job = store.one("SELECT status, exit_code, summary FROM jobs ORDER BY id DESC LIMIT 1")
    assert job["status"] == "cancelled" and job["exit_code"] == 1, dict(job)
    assert "cancelled" in out, out
    assert os.listdir(os.path.join(backup["path"], "data")), "the kept backup holds nothing"
