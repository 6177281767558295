"""A checkpoint reading a medium with a `device` that another rabtui process mounted (a backup, a
cleanup, a restore: media/mounting.py) holds the medium's users lock while it reads: that process
ending leaves it mounted, and the checkpoint, the last user then, unmounts it at its end. Real
mounts of an ext2 image (root), real rsync and xorriso (an images: drive)."""

from __future__ import annotations

import os
import subprocess
import threading
from contextlib import ExitStack
from datetime import datetime

from rabtui.actions import checkpoint as actions
from rabtui.actions.checkpoint import PLAN_QUESTION
from rabtui.checkpoint.questions import INSERT, INSERT_MEDIUM
from rabtui.events import ABORT, LOG, READY, WARNING, YES, ScriptedPrompter, no_emit
from rabtui.media import mount_argv, mounting
from rabtui.state import locks
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def _on_a_device(tmp_path, disk_image):
    """A backup of loc on m1, a medium with a `device` (left unmounted after it), and checkpoints
    onto an images: drive: (lab, cfg, m1)."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700")
    lab.on_device(lab.media[0][1], disk_image)
    cfg = lab.load()
    write_files(lab.src / "data", {"a.txt": b"a" * 5000, "b/c.txt": b"c" * 7000})
    assert lab.backup(cfg, now=T0).status == "completed"
    assert not os.path.ismount(lab.media[0][1])
    return lab, cfg, lab.media[0][1]


def _ends_at(kind: str, other: ExitStack):
    """Answers that end `other` (the other process's use of the medium) at the first question of
    `kind`, ready (yes) to each question but a failure's, which aborts."""
    def answer(question):
        if question.kind == kind:
            other.close()
        return ABORT if question.kind == "disc_failed" else (YES if question.kind == PLAN_QUESTION else READY)
    return answer


def _burnt(lab, cfg, answer, confirm=False):
    return actions.burn(cfg, lab.store(), no_emit, threading.Event(), ScriptedPrompter(answer),
                        now=[f"loc:{lab.src / 'data'}"], confirm=confirm)


def test_a_backup_ending_while_a_disc_is_written_leaves_the_medium_mounted_for_it(tmp_path, disk_image):
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    with ExitStack() as backup:    # what a backup onto m1 holds from its start to its end
        backup.enter_context(mounting.mounted(cfg.medium("m1"), no_emit, cfg.state_dir))
        result = _burnt(lab, cfg, _ends_at(INSERT, backup))
    assert (result.status, result.verified) == ("completed", [1]), result.message
    assert not os.path.ismount(m1), "the checkpoint, its last user, did not unmount it"


def test_a_backup_ending_while_a_checkpoint_is_planned_leaves_the_medium_mounted_for_it(tmp_path, disk_image):
    """Its files read for checksums after the plan is accepted."""
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    with ExitStack() as backup:
        backup.enter_context(mounting.mounted(cfg.medium("m1"), no_emit, cfg.state_dir))
        outcome = _burnt(lab, cfg, _ends_at(PLAN_QUESTION, backup), confirm=True)
    assert (outcome.status, outcome.verified) == ("completed", [1]), outcome.message
    assert not os.path.ismount(m1)


def test_a_backup_ending_while_a_disc_is_verified_again_leaves_the_medium_mounted_for_it(tmp_path, disk_image):
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    with ExitStack() as backup:
        backup.enter_context(mounting.mounted(cfg.medium("m1"), no_emit, cfg.state_dir))
        assert _burnt(lab, cfg, lambda q: READY).status == "completed"
        assert os.path.ismount(m1)
        result = actions.verify(cfg, lab.store(), no_emit, threading.Event(),
                                ScriptedPrompter(_ends_at(INSERT, backup)), number=1)
    assert (result.status, result.verified, result.unchecked) == ("completed", [1], {}), result.message
    assert not os.path.ismount(m1)


def test_a_checkpoint_waits_a_moment_only_for_a_medium_being_mounted_then_reads_it_saying_so(tmp_path, disk_image,
                                                                                              monkeypatch):
    """A hung mount of another process holds the medium's mount lock: the checkpoint goes on (its
    medium mounted by hand), saying that it does not count as a user of it."""
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    monkeypatch.setattr(mounting, "READER_WAIT", 0.3)
    subprocess.run(["mount", str(disk_image), str(m1)], check=True)
    try:
        with locks.mounting_lock(cfg.state_dir, "m1"):
            outcome = actions.burn(cfg, lab.store(), lab.emit, threading.Event(), ScriptedPrompter(lambda q: READY),
                                   now=[f"loc:{lab.src / 'data'}"], confirm=False)
        assert (outcome.status, outcome.verified) == ("completed", [1]), outcome.message
        assert any(m.startswith("medium m1 is not counted as in use while it is read (") for m in lab.messages(WARNING)), \
            lab.messages()
        assert os.path.ismount(m1), "a medium mounted by hand was unmounted"
    finally:
        subprocess.run(["umount", str(m1)], check=True)


def test_a_checkpoint_reading_a_killed_looks_mount_mounts_the_medium_as_its_users_do_then_unmounts_it(
        tmp_path, disk_image):
    """The read-only mount a killed look left (its note stays): replaced by the medium mounted as a
    backup mounts it, which a backup starting meanwhile joins instead of unmounting it under the
    checkpoint; unmounted at the checkpoint's end."""
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    medium = cfg.medium("m1")
    mounting.mount_noted(medium, mount_argv.mount_ro_argv(medium), no_emit, mounting.look_note(cfg.state_dir, "m1"))
    seen = []

    def a_backup_starts(question):
        if question.kind == INSERT and not seen:
            with mounting.mounted(medium, no_emit, cfg.state_dir):
                seen.append(os.path.ismount(m1))
        return READY

    outcome = _burnt(lab, cfg, a_backup_starts)
    assert (outcome.status, outcome.verified, seen) == ("completed", [1], [True]), outcome.message
    assert not os.path.ismount(m1)
    assert not mounting.look_note(cfg.state_dir, "m1").exists()


def test_a_backup_ending_while_a_checkpoint_waits_at_its_disc_question_says_the_medium_stays_mounted_for_it(
        tmp_path, disk_image):
    """A real backup onto the medium while the burn waits for its disc (which may wait all night):
    the backup, whose end unmounts the medium otherwise, says it is left mounted for the checkpoint,
    not to be unplugged before that ends (what the backup wrote is not synced to the disk yet)."""
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    done = []

    def a_backup_meanwhile(question):
        if question.kind == INSERT and not done:
            lab.events.clear()
            done.append(lab.backup(cfg, now=T0.replace(hour=3)).status)
            done.append(os.path.ismount(m1))
            other.close()
        return READY

    with ExitStack() as other:     # the medium mounted by a backup still running as the burn begins
        other.enter_context(mounting.mounted(cfg.medium("m1"), no_emit, cfg.state_dir))
        outcome = _burnt(lab, cfg, a_backup_meanwhile)
    assert (outcome.status, done) == ("completed", ["completed", True]), outcome.message
    said = [m for m in lab.messages(WARNING) if m.startswith(f"medium m1 stays mounted at {m1}")]
    assert len(said) == 1 and f"a checkpoint (pid {os.getpid()})" in said[0] and "do not unplug" in said[0], \
        lab.messages()
    assert not os.path.ismount(m1)


def test_a_checkpoint_ending_while_another_process_mounts_the_medium_says_that_it_waits_and_unmounts_it_after(
        tmp_path, disk_image, monkeypatch):
    """The last user's unmount waits for the mount lock another process holds (its mount or sync
    hung: up to MOUNT_WAIT, 10 minutes): the wait is said, naming the holder, and once it is let go
    the medium is unmounted."""
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    monkeypatch.setattr(mounting, "MOUNT_WAIT", 5)
    hung = locks.mounting_lock(cfg.state_dir, "m1")

    def emit(event):
        lab.emit(event)
        if event.message and event.message.startswith("waiting (at most 5 s) for "):
            hung.release()

    taken = []

    def a_mount_hangs(question):
        if question.kind == INSERT and not taken:
            backup.close()
            taken.append(hung.acquire())
        return READY

    with ExitStack() as backup:
        backup.enter_context(mounting.mounted(cfg.medium("m1"), no_emit, cfg.state_dir))
        outcome = actions.burn(cfg, lab.store(), emit, threading.Event(), ScriptedPrompter(a_mount_hangs),
                               now=[f"loc:{lab.src / 'data'}"], confirm=False)
    assert (outcome.status, outcome.verified) == ("completed", [1]), outcome.message
    assert any(m.startswith("waiting (at most 5 s) for another rabtui process (pid ") and
               m.endswith("to release the lock of mounting or unmounting medium m1") for m in lab.messages(LOG)), \
        lab.messages()
    assert not os.path.ismount(m1), lab.messages()


def test_a_checkpoint_mounts_a_plugged_in_medium_left_unmounted_and_unmounts_it_at_its_end(tmp_path, disk_image):
    """As rabtui leaves a medium with a `device` between runs: plugged in, not mounted. The burn
    asked to insert or mount it, and its disk plugged in, answered ready, asked again and again."""
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    asked = []

    def answer(question):
        asked.append(question.kind)
        return ABORT if question.kind == INSERT_MEDIUM and asked.count(INSERT_MEDIUM) > 2 else READY

    outcome = _burnt(lab, cfg, answer)
    assert (outcome.status, outcome.verified, INSERT_MEDIUM in asked) == ("completed", [1], False), outcome.message
    assert not os.path.ismount(m1)


def test_a_checkpoint_ending_while_another_reads_the_medium_says_nothing_of_it(tmp_path, disk_image):
    """A plan (or a refused verify) made while a burn holds the medium: it wrote nothing there, and
    warned all the same that the medium stays mounted for that checkpoint, not to be unplugged."""
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    with locks.checkpoints_lock(cfg.state_dir).acquire(shared=True), \
            mounting.all_mounted(cfg.media, no_emit, cfg.state_dir, reader=True):
        assert os.path.ismount(m1)
        actions.plan(cfg, lab.store(), now=[f"loc:{lab.src / 'data'}"], emit=lab.emit)
        assert os.path.ismount(m1)
    assert not lab.messages(WARNING), lab.messages(WARNING)
    assert not os.path.ismount(m1)


def test_a_medium_plugged_in_when_the_checkpoint_asks_for_it_is_mounted_at_ready(tmp_path, disk_image):
    """Its disk away as the checkpoint began (nothing to mount), plugged in at the question, ready
    answered: asked again and again, as nothing mounted it."""
    lab, cfg, m1 = _on_a_device(tmp_path, disk_image)
    away = disk_image.with_name("away.img")
    os.rename(disk_image, away)
    asked = []

    def plugged_in_then_ready(question):
        asked.append(question.kind)
        if question.kind == INSERT_MEDIUM:
            if asked.count(INSERT_MEDIUM) > 2:
                return ABORT
            if away.exists():
                os.rename(away, disk_image)
        return READY

    outcome = _burnt(lab, cfg, plugged_in_then_ready)
    assert (outcome.status, outcome.verified, asked.count(INSERT_MEDIUM)) == ("completed", [1], 1), \
        (outcome.message, asked)
    assert not os.path.ismount(m1)
