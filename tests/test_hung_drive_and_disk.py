"""A drive or disk that answers nothing is said as such, never taken for the operator cancelling:
a drive hanging as a restore or rebuild-state reads a disc's volume id (after checkpoint.io_timeout)
asks for the disc again, or fails naming the drive; a `mount` that hangs fails the backup's step as
a medium not there does; an `umount`, or the `sync` before it, that hangs after a complete backup
leaves it complete, with a warning. The hangs are real processes stopping themselves (SIGSTOP) as they start."""

from __future__ import annotations

import os
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from rabtui.actions import rebuild
from rabtui.config import Medium
from rabtui.errors import Cancelled, WorkFailed
from rabtui.events import READY, SKIP, WARNING, ScriptedPrompter, no_emit
from rabtui.media import mount_argv, mounting
from rabtui.restore import run as restore_run
from tests.test_checkpoint_stalls import STALL, _hangs_once
from tests.trees import Lab, burn_due, sandbox_fixtures, snapshot, write_files


def _disc_lab(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", more=f"io_timeout = {STALL}\n")
    write_files(lab.src / "data", {"a": b"on the disc", "sub/b": 100_000})
    assert lab.backup(cfg).status == "completed"
    return lab, cfg, lab.store(), burn_due(cfg, lab.store())


_sandbox_made, disc_lab = sandbox_fixtures(_disc_lab, "disc_lab")


def test_a_drive_hanging_as_a_restore_reads_the_volume_id_asks_for_the_disc_again(disc_lab, tmp_path, monkeypatch):
    lab, cfg, store, number = disc_lab
    data = str(lab.src / "data")
    prompter = ScriptedPrompter(lambda q: READY)
    cancel = threading.Event()
    with _hangs_once(tmp_path, monkeypatch, cancel, "-pvd_info"):
        restore_run.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out", cancel=cancel,
                            prompter=prompter)
    assert not cancel.is_set()
    [asked] = [q.text for q in prompter.asked]
    assert f"RAB{number}D01.iso did not answer as the volume id" in asked and f"for {STALL} s" in asked, asked
    assert snapshot(tmp_path / "out" / data.lstrip("/")) == snapshot(data)


def test_a_drive_hanging_as_a_restore_reads_the_volume_id_without_an_operator_fails_naming_it(disc_lab, tmp_path,
                                                                                              monkeypatch):
    lab, cfg, store, number = disc_lab
    cancel = threading.Event()
    with _hangs_once(tmp_path, monkeypatch, cancel, "-pvd_info"):
        with pytest.raises(WorkFailed) as failed:
            restore_run.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=tmp_path / "out",
                                cancel=cancel)
    assert not cancel.is_set()
    assert f"the drive {lab.tmp}/iso/RAB{number}D01.iso did not answer" in str(failed.value), str(failed.value)
    assert f"checkpoint {number} disc 1 (RAB{number}D01) was not read" in str(failed.value)


def test_a_drive_hanging_as_rebuild_state_reads_a_disc_asks_for_one_again(disc_lab, tmp_path, monkeypatch):
    """A real drive (xorriso's stdio: pseudo drive on the disc's image): the disc it hung on is said
    not matched, and the next one asked for; given again, it is read."""
    lab, cfg, store, number = disc_lab
    iso = lab.tmp / "iso" / f"RAB{number}D01.iso"
    text = lab.config_path.read_text()
    lab.config_path.write_text(text.replace(f'drive = "images:{lab.tmp / "iso"}"', f'drive = "stdio:{iso}"'))
    cfg = lab.load()
    answers = iter([READY, READY, SKIP])
    prompter = ScriptedPrompter(lambda q: next(answers))
    cancel = threading.Event()
    with _hangs_once(tmp_path, monkeypatch, cancel, "-pvd_info"):
        result = rebuild.rebuild_state(cfg, no_emit, cancel, prompter)
    assert not cancel.is_set() and len(prompter.asked) == 3
    [hung] = result.report.unmatched
    assert f"disc in stdio:{iso}: the drive stdio:{iso} did not answer" in hung and f"for {STALL} s" in hung, hung
    assert result.report.checkpoints == [number]


def test_a_cancel_as_the_drive_hangs_while_a_restore_looks_for_a_copy_at_hand_stops_the_restore(tmp_path,
                                                                                               monkeypatch):
    """The medium away, the restore looks for the disc in the drive, which hangs as its volume id
    is read, and the operator cancels: the restore stops. The look was given no cancel: it waited
    out the whole io_timeout, then failed as no copy at hand."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", more="io_timeout = 120\n")
    data = lab.src / "data"
    write_files(data, {"a": b"on the disc"})
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store())
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    cancel = threading.Event()
    hung = tmp_path / "hung-pvd_info"      # _hangs_once's mark: the xorriso reading it has stopped

    def operator() -> None:
        while not hung.exists() and not cancel.is_set():
            time.sleep(0.05)
        cancel.set()

    threading.Thread(target=operator, daemon=True).start()
    with _hangs_once(tmp_path, monkeypatch, cancel, "-pvd_info"):
        with pytest.raises(Cancelled):
            restore_run.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out", cancel=cancel)


@contextmanager
def _hanging(tmp_path, monkeypatch, program: str, medium_path):
    """Within: the first `program` (mount, umount) given `medium_path` stops itself as it starts;
    the others run as they are. Its limit of silence is STALL seconds."""
    bin_dir, marker = tmp_path / "hung-bin", tmp_path / f"hung-{program}"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / program).write_text(f"""#!/bin/sh
case " $* " in *" {medium_path} "*) [ -e '{marker}' ] || {{ : > '{marker}'; kill -STOP $$; }} ;; esac
exec '{shutil.which(program)}' "$@"
""")
    (bin_dir / program).chmod(0o755)
    with monkeypatch.context() as patched:
        patched.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        patched.setattr(mounting, f"{program.upper()}_SILENCE", STALL)
        yield
    assert marker.exists(), f"{program} was never run"
    marker.unlink()


def test_a_mount_that_hangs_fails_the_backup_as_a_medium_not_there(tmp_path, monkeypatch):
    lab = Lab(tmp_path)
    mount_point = lab.media[0][1]
    lab.local()
    lab.on_device(mount_point, tmp_path / "usb.img")
    cfg = lab.load()
    write_files(lab.src / "data", {"a": b"1"})
    with _hanging(tmp_path, monkeypatch, "mount", mount_point):
        result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed", (result.status, result.reason)
    assert f"cannot mount {tmp_path / 'usb.img'} at {mount_point}: mount did not answer" in result.reason
    assert f"for {STALL} s" in result.reason, result.reason


def test_an_umount_that_hangs_after_a_backup_or_a_restore_leaves_it_done_with_a_warning(tmp_path, monkeypatch,
                                                                                     disk_image):
    """What was written is recorded, or delivered: the medium is only left mounted, said, and the
    next user of it unmounts it. (A restore whose backup was looked for on its medium, unmounted
    then, ended as cancelled; the backup was said to have been. Then that unmount hung unsaid.)"""
    lab = Lab(tmp_path)
    mount_point = lab.media[0][1]
    lab.local()
    lab.on_device(mount_point, disk_image)
    cfg = lab.load()
    data = lab.src / "data"
    write_files(data, {"a": b"on the usb disk"})
    with _hanging(tmp_path, monkeypatch, "umount", mount_point):
        result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", (result.status, result.reason)
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (result.backup_id,))["status"] == "completed"
    warned = [w for w in lab.messages("warning") if f"cannot unmount {mount_point}: umount did not answer" in w]
    assert warned and f"for {STALL} s" in warned[0], lab.messages("warning")
    assert os.path.ismount(mount_point)      # left mounted; the next user of it unmounts it
    with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir):
        pass
    assert not os.path.ismount(mount_point)
    said = []
    with _hanging(tmp_path, monkeypatch, "umount", mount_point):    # as the backup is looked for on its medium
        restored = restore_run.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out", emit=said.append)
    assert snapshot(tmp_path / "out" / str(data).lstrip("/")) == snapshot(data), restored
    # said, not left to nobody (the look for the copy unmounted with no one to tell)
    hung = [e.message for e in said if e.kind == WARNING and "umount did not answer" in e.message]
    assert hung and f"cannot unmount {mount_point}" in hung[0] and f"for {STALL} s" in hung[0], said
    assert not os.path.ismount(mount_point)      # by the restore's own end


def test_the_sync_before_an_umount_is_of_the_mediums_file_system_alone():
    medium = Medium(id="usb", path=Path("/srv/a medium"), device="/dev/sdz1")
    assert mount_argv.sync_argv(medium) == ["sync", "-f", "/srv/a medium"]


def test_a_sync_that_hangs_before_the_umount_leaves_the_medium_mounted_and_says_so(tmp_path, monkeypatch, disk_image):
    """The sync of the medium's file system before its unmount (a hung disk) is stopped after its
    limit: the backup stays complete, the medium is left mounted, said (never unmounted as if all
    were on the disk), and the next user of it unmounts it. os.sync() hung for ever there, with no
    process to stop and nothing said."""
    lab = Lab(tmp_path)
    mount_point = lab.media[0][1]
    lab.local()
    lab.on_device(mount_point, disk_image)
    cfg = lab.load()
    write_files(lab.src / "data", {"a": b"on the usb disk"})
    with _hanging(tmp_path, monkeypatch, "sync", mount_point):
        result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", (result.status, result.reason)
    warned = [w for w in lab.messages("warning") if f"medium m1 is left mounted at {mount_point}: sync did not answer" in w]
    assert warned and f"for {STALL} s" in warned[0] and "do not unplug it" in warned[0], lab.messages("warning")
    assert os.path.ismount(mount_point)
    with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir):
        pass
    assert not os.path.ismount(mount_point)
