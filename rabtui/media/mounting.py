"""Mounting a medium that has a `device` at its path for the duration of its use (mounts.py: what
the state remembers of where a medium was mounted)."""

from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterable, Iterator

from rabtui import faults, fmt, privacy, proc
from rabtui.config import Medium
from rabtui.media import alone_mounts, mount_notes
from rabtui.media.mount_argv import (bind_ro_argv, mount_argv, mount_ro_argv, remount_rw_argv, sync_argv,
                                     umount_argv)
from rabtui.media.device_mounts import (is_a_looks, loops_being_released, mount_at, mounted_elsewhere,
                                        mounted_there_only, shows_its_disk)
from rabtui.errors import Cancelled, LockBusy, MissingTool, Stalled, WorkFailed
from rabtui.events import LOG, WARNING, Emit, Event, no_emit
from rabtui.state import locks


class MountHung(WorkFailed):
    """mount did not answer, and was killed: the kernel may make the mount all the same, later."""


MOUNT_WAIT = 600     # seconds another rabtui process may take to mount or unmount the medium
READER_WAIT = 10     # the same, for a reader of it where it is at hand (all_mounted), which then reads it all the same
# seconds mount and umount may answer nothing before the disk is taken for hung (a mount that fails
# the step, an unmount left undone)
MOUNT_SILENCE = 120
UMOUNT_SILENCE = 300
# seconds the sync before an unmount may take (it prints nothing as it writes: a fixed limit),
# writing what a backup left cached to a slow disk included, before the disk is taken for hung
SYNC_SILENCE = 600
# seconds a loop device of the medium's image that an unmount left bound is waited for, to be released
LOOP_RELEASE_WAIT = 5


@contextmanager
def mounted(medium: Medium, emit: Emit = no_emit, state_dir: str | Path | None = None, wait: float = MOUNT_WAIT,
            mount: bool = True, reader: bool = False, read_only: bool = False,
            cancel: threading.Event | None = None, alone_in: str | Path | None = None) -> Iterator[Medium]:
    """Mount the medium's device at its path for the duration (no-op without a device, or when
    something other than rabtui mounted it there, which is then left mounted). `wait`: seconds
    another rabtui process mounting or unmounting it is waited for (LockBusy after).

    `state_dir`: rabtui's users of the medium are counted there (a shared lock each), and the last
    of them to end unmounts it, whichever mounted it: a backup that joined a night's run on its
    medium and ends after the run, a restore during the night. Without it, the one that mounted it
    unmounts it when it ends (a warning when another still uses it: "target is busy"), unless a
    checkpoint runs on the state directory `alone_in`, which may read it uncounted (said).

    `mount` False: for a reader of the medium where it cannot be mounted (a checkpoint), which
    counts as a user all the same (another user ending leaves it mounted under it) but mounts it
    only in place of a look's read-only mount left there; not mounted, it is left so. `reader`: a
    checkpoint, which says nothing of the medium left mounted for another checkpoint at its end.

    `read_only`: for a restore, which only reads it: mounted read-only (LOOK_OPTIONS), or, where its
    disk is mounted elsewhere, that mount shown read-only at its path. Another user that writes
    (not a `reader`) finds rabtui's read-only mount made writable for it (_made_writable). `cancel`
    ends the wait for another process's mount or unmount at once, and its own mount or remount,
    hung (Cancelled)."""
    if not medium.device or (not mount and state_dir is None):
        yield medium
        return
    if state_dir is None:
        with _mounted_alone(medium, emit, read_only, alone_in):
            yield medium
        return
    turn = locks.mounting_lock(state_dir, medium.id)
    users = locks.medium_users_lock(state_dir, medium.id)
    ours = users.path.with_suffix(".mounted")     # rabtui mounted it, and has not unmounted it since
    with turn.acquire_within(wait, cancel, say=_said(emit)):
        mount = mount or os.path.ismount(medium.path)
        _unmount_look(medium, emit, users, look_note(state_dir, medium.id))
        # left by a run that died: what is there now is not rabtui's, unless a restore that ran alone made it
        if not mount_notes.proves(ours, medium) and not alone_mounts.taken_over(medium, state_dir, ours, emit):
            mount_notes.remove(ours)
            if mount and not (read_only or reader) and not mount_notes.proves(look_note(state_dir, medium.id), medium):
                _say_read_only_unproved(medium, emit)
        elif mount and not (read_only or reader) and os.statvfs(medium.path).f_flag & os.ST_RDONLY:
            _made_writable(medium, emit, users, ours, cancel)
        users.acquire(shared=True)     # never busy: only the holder of `turn` takes it whole
        try:
            if mount and not os.path.ismount(medium.path):
                unnoted = _mounted_noted(medium, read_only, emit, ours, cancel)
                if unnoted:
                    emit(Event(WARNING, f"medium {medium.id} stays mounted at {medium.path} after use, as one mounted"
                                        f" by hand: what says rabtui mounted it cannot be written ({ours}: {unnoted})"))
                faults.point("medium.mounted")
        except BaseException:
            users.release()
            raise
    try:
        yield medium
    finally:
        _leave(medium, emit, turn, users, ours, reader)


@contextmanager
def all_mounted(media: Iterable[Medium], emit: Emit = no_emit, state_dir: str | Path | None = None,
                reader: bool = False, cancel: threading.Event | None = None) -> Iterator[None]:
    """Each of `media` mounted for the duration, as `mounted` mounts one; one that cannot be (its
    disk not plugged in) is left as it is: not there, as a medium with no device that is away.
    `reader`: for a checkpoint, which reads them all the same: another process mounting or
    unmounting one is waited for READER_WAIT seconds, and one that cannot be mounted is counted as
    in use where it is (mounted by hand, or away); one that cannot be counted is said. `cancel`
    ends a wait for another process's mount or unmount (Cancelled), as `mounted`'s."""
    with ExitStack() as stack:
        for medium in media:
            try:
                stack.enter_context(mounted(medium, emit, state_dir, READER_WAIT if reader else MOUNT_WAIT,
                                            reader=reader, cancel=cancel))
            except (WorkFailed, LockBusy, MissingTool, OSError) as exc:
                if reader:
                    _counted_unmounted(stack, medium, emit, state_dir, exc)
        if not reader:
            yield
            return
        token = _READING.set((stack, emit, state_dir))
        try:
            yield
        finally:
            _READING.reset(token)


# the media a checkpoint reads (all_mounted, reader), in its thread: one asked for is mounted then
_READING: ContextVar[tuple | None] = ContextVar("rabtui_media_read", default=None)


def mount_asked(medium: Medium) -> None:
    """A medium with a `device` a checkpoint asks for (its disk away as it began, plugged in since)
    mounted for it to its end, where nothing is mounted at its path; what fails is left to the
    question, which asks again."""
    held = _READING.get()
    if held is None or not medium.device or os.path.ismount(medium.path) or not os.path.exists(medium.device):
        return
    stack, emit, state_dir = held
    try:
        stack.enter_context(mounted(medium, emit, state_dir, READER_WAIT, reader=True))
    except (WorkFailed, LockBusy, MissingTool, OSError) as exc:
        emit(Event(LOG, f"medium {medium.id} is not mounted for the checkpoint: {exc}"))


def _counted_unmounted(stack: ExitStack, medium: Medium, emit: Emit, state_dir, exc: Exception) -> None:
    if not isinstance(exc, LockBusy):     # not plugged in, say: counted as in use without a mount
        emit(Event(LOG, f"medium {medium.id} is not mounted for the checkpoint: {exc}"))
        try:
            stack.enter_context(mounted(medium, emit, state_dir, READER_WAIT, mount=False, reader=True))
            return
        except (WorkFailed, LockBusy, MissingTool, OSError) as again:
            exc = again
    emit(Event(WARNING, f"medium {medium.id} is not counted as in use while it is read ({exc}):"
                        " a backup or cleanup that mounted it and ends meanwhile unmounts it"))


def _said(emit: Emit):
    """A wait for another process's mount or unmount (hung, it lasts minutes), said as it begins."""
    return lambda text: emit(Event(LOG, text))


def _leave(medium: Medium, emit: Emit, turn: locks.Lock, users: locks.Lock, ours: Path, reader: bool) -> None:
    """One user of the medium ends; the last one unmounts it, if rabtui mounted it. One that wrote
    there (not a `reader`) says it is left mounted for a checkpoint."""
    try:
        with turn.acquire_within(MOUNT_WAIT, say=_said(emit)):
            users.release()
            try:
                last = users.acquire()
            except LockBusy:   # another rabtui process uses it still: it unmounts it when it ends
                if not reader:
                    _say_kept_for_checkpoint(medium, emit, users)
                return
            with last:
                if not mount_notes.proves(ours, medium):     # unmounted by hand since, say: not rabtui's
                    if mount_notes.written(ours) and os.path.ismount(medium.path):
                        emit(Event(WARNING, f"medium {medium.id}: the mount at {medium.path} is not the one rabtui"
                                            " made (another mounted over it, or in its place, meanwhile): left as it"
                                            f" is; unmount it (umount {medium.path}) once it is not in use"))
                    mount_notes.remove(ours)
                elif _unmount(medium, emit):
                    mount_notes.remove(ours)
    except (LockBusy, WorkFailed) as exc:
        users.release()
        emit(Event(WARNING, f"medium {medium.id} is left mounted at {medium.path}: {exc}"))


def _say_read_only_unproved(medium: Medium, emit: Emit) -> None:
    """Its disk mounted read-only at its path by no mount rabtui can prove its own (a restore killed
    while it ran alone wrote no note): never unmounted, why a write there fails said."""
    try:
        read_only = os.path.ismount(medium.path) and os.statvfs(medium.path).f_flag & os.ST_RDONLY
    except OSError:
        return
    if read_only and shows_its_disk(medium):
        emit(Event(WARNING, f"medium {medium.id}: its disk {medium.device} is mounted read-only at {medium.path}, by"
                            " no mount rabtui can prove its own (a restore killed while it ran alone, its lock"
                            " files unmade, or a mount by hand): left as it is, nothing can be written there;"
                            f" unmount it (umount {medium.path}) once nothing uses it"))


def _say_kept_for_checkpoint(medium: Medium, emit: Emit, users: locks.Lock) -> None:
    """A checkpoint among the users left may hold the medium for hours (waiting for its disc): the
    disk, whose unmount syncs it, must not be unplugged before (a user ending meanwhile is short)."""
    pids = sorted((users.live_pids() or set()) & (locks.checkpoints_lock(users.dir.parent).live_pids() or set()))
    if pids:
        held = ", ".join(f"pid {pid}" for pid in pids)
        emit(Event(WARNING, f"medium {medium.id} stays mounted at {medium.path} for a checkpoint ({held}) that reads"
                            " it, which unmounts it when it ends: do not unplug the disk before (what was written"
                            " there may not be on it yet)"))


def look_note(state_dir: str | Path, medium_id: str) -> Path:
    """The file that says a look at the medium (look_mount.py) mounted it read-only and has not
    unmounted it since."""
    return locks.medium_users_lock(state_dir, medium_id).path.with_suffix(".looked")


def _unmount_look(medium: Medium, emit: Emit, users: locks.Lock, looked: Path) -> None:
    """Unmount the read-only mount a look at the medium made and its process left (killed, or its
    unmount failed), to mount the medium as it is used; left while another rabtui process uses it."""
    if not os.path.lexists(looked):
        return
    if not (is_a_looks(medium) and mount_notes.proves(looked, medium)):
        mount_notes.remove(looked)       # unmounted since (by hand, a reboot), or mounted again by hand
        return
    try:
        alone = users.acquire()
    except LockBusy:
        return
    with alone:
        if not _unmount(medium, emit):
            raise WorkFailed(f"medium {medium.id}: {medium.path} is mounted read-only (by a look at it, left) and"
                             " cannot be unmounted to be mounted read-write")
        mount_notes.remove(looked)


def _made_writable(medium: Medium, emit: Emit, users: locks.Lock, ours: Path,
                   cancel: threading.Event | None = None) -> None:
    """rabtui's read-only mount at the medium's path (a restore's, killed or reading it now) made
    writable for a user that writes there: mounted again read-write where no other process uses
    it and it can be unmounted, else remounted read-write under its readers (said); WorkFailed
    where it cannot be (an image mounted read-only is on a read-only loop device). `cancel` stops
    the sync, the unmount and the remount, hung (Cancelled): they were waited for up to
    SYNC_SILENCE, UMOUNT_SILENCE and MOUNT_SILENCE seconds."""
    try:
        alone = users.acquire()
    except LockBusy:
        pass
    else:
        with alone:     # something still reading there (a shell in it, a process of the restore not yet gone) keeps
            if _unmount(medium, emit, cancel):     # it mounted: remounted read-write under it then
                mount_notes.remove(ours)
                return
    holders = users.pids_said() or "killed; something reads there still"
    try:
        done = proc.run(remount_rw_argv(medium, not mounted_there_only(medium)), silence=MOUNT_SILENCE, cancel=cancel)
        why = done.stderr_said() if not done.ok else "it stays read-only"
    except Stalled as exc:
        done, why = None, f"mount did not answer ({exc}); is the disk hung?"
    if done is not None and done.ok and not os.statvfs(medium.path).f_flag & os.ST_RDONLY:
        emit(Event(LOG, f"remounted {medium.path} read-write: a restore ({holders}) reads medium {medium.id}"))
        return
    raise WorkFailed(f"medium {medium.id} is mounted read-only for a restore that reads it ({holders}), and cannot"
                     f" be made writable while it does: {why}", hint="run it again once the restore has ended")


def mount_noted(medium: Medium, argv: list[str], emit: Emit, noted: Path,
                cancel: threading.Event | None = None) -> str | None:
    """Mount the medium by `argv` (mount_with), `noted` (mount_notes) written first: killed or
    interrupted while mount runs, or mount hung, the kernel may make the mount yet, which the note
    leaves to rabtui's next user of the medium to unmount. Removed where nothing was mounted. Why
    the note of the mount made cannot be written, if it cannot (None: written)."""
    mount_notes.write(noted)
    try:
        mount_with(medium, argv, emit, cancel)
    except (WorkFailed, OSError) as exc:     # refused, its mount point not made, or mount failed
        if not isinstance(exc, MountHung):
            mount_notes.remove(noted)
        raise
    except Cancelled:
        if mount_notes.proves(noted, medium):     # the kernel made the mount as mount was stopped
            emit(Event(WARNING, f"medium {medium.id} stays mounted at {medium.path}: its mount, cancelled, was made"
                                " all the same; rabtui's next user of the medium unmounts it (or umount"
                                f" {medium.path} once nothing uses it)"))
        raise
    return mount_notes.write(noted, medium)


def _mounted_noted(medium: Medium, read_only: bool, emit: Emit, ours: Path,
                   cancel: threading.Event | None) -> str | None:
    """mount_noted, by _mount_argv; a disk that cannot be mounted read-only (an image's journal to
    replay: its read-only loop device refuses it) is mounted read-write for a restore all the same."""
    argv = _mount_argv(medium, read_only, emit)
    try:
        return mount_noted(medium, argv, emit, ours, cancel)
    except WorkFailed as exc:
        if isinstance(exc, MountHung) or argv != mount_ro_argv(medium):
            raise
        emit(Event(WARNING, f"{exc}; mounting it read-write to be read instead (a journal to replay, say)"))
    return mount_noted(medium, mount_argv(medium), emit, ours, cancel)


def _mount_argv(medium: Medium, read_only: bool, emit: Emit) -> list[str]:
    if not read_only:
        return mount_argv(medium)
    elsewhere = mounted_elsewhere(str(medium.device))
    if elsewhere is None:
        return mount_ro_argv(medium)
    emit(Event(LOG, f"medium {medium.id}: {medium.device} is mounted at {fmt.name(os.fsencode(elsewhere))}:"
                    f" read there, shown read-only at {medium.path}"))
    return bind_ro_argv(medium, elsewhere)


@contextmanager
def _mounted_alone(medium: Medium, emit: Emit, read_only: bool, state_dir) -> Iterator[None]:
    if os.path.ismount(medium.path):
        yield
        return
    # noted in /run (the state directory is full): killed, its mount is rabtui's next user's to unmount
    note = alone_mounts.note_path(state_dir, medium.id) if state_dir else None
    alone_mounts.write(note)
    try:
        mount_with(medium, _mount_argv(medium, read_only, emit), emit)
    except BaseException:
        alone_mounts.remove(note)
        raise
    alone_mounts.write(note, medium)
    own = mount_at(medium.path)
    try:
        yield
    finally:
        _leave_alone(medium, emit, state_dir, own, note)


def _leave_alone(medium: Medium, emit: Emit, state_dir, own: int | None, note: Path | None) -> None:
    """The end of a lone user's mount: unmounted, its note gone; one umount leaves mounted (busy)
    keeps its note, for rabtui's next user of the medium to unmount. Left for the operator (said),
    its note goes: while a checkpoint runs, or under another mount made over it."""
    reading = _checkpoints_running(state_dir)
    if not reading and (own is None or mount_at(medium.path) == own):     # None: /proc does not say, as before
        if _unmount(medium, emit):
            alone_mounts.remove(note)
        return
    alone_mounts.remove(note)
    if reading:     # it may read the medium between two files (umount not busy then): a burn would fail
        emit(Event(WARNING, f"medium {medium.id} is left mounted at {medium.path}: a checkpoint runs"
                            f" ({', '.join(f'pid {pid}' for pid in reading)}), which may read it without"
                            " being counted as its user (the state directory full); unmount it"
                            f" (umount {medium.path}) once the checkpoint has ended"))
    else:     # unmounting the path would take away the mount made over it, not this one
        emit(Event(WARNING, f"medium {medium.id}: another mount was made at {medium.path} while it was used: it"
                            " is left as it is, and rabtui's own under it too: unmount both"
                            f" (umount {medium.path}, twice) once it is not in use"))


def _checkpoints_running(state_dir) -> list[int]:
    try:
        return sorted((locks.checkpoints_lock(state_dir).live_pids() or set()) - {os.getpid()}) if state_dir else []
    except OSError:     # its file cannot be looked at: none known to run
        return []


def mount_with(medium: Medium, argv: list[str], emit: Emit, cancel: threading.Event | None = None) -> None:
    """Mount the medium's device at its path by `argv` (mount_argv, or read-only for a look).
    `cancel` stops mount (Cancelled): hung, it was waited for up to MOUNT_SILENCE seconds."""
    why = privacy.others_can_change(medium.path)
    if why:     # mount follows their symlinks, and the directories are made on the way to where they lead
        raise WorkFailed(f"medium {medium.id}: {why}, who could have its disk mounted elsewhere (over a system"
                         " directory) through a symlink of theirs; nothing mounted",
                         hint=f"give the directories on the way to {medium.path} to root (chown), closed to"
                              " others (chmod go-w)")
    if os.path.islink(medium.path):     # mounted where it leads: never seen mounted at the path, never unmounted
        raise WorkFailed(f"medium {medium.id}: {medium.path} is a symlink: its disk would be mounted where it leads,"
                         " which is not the medium's path; nothing mounted",
                         hint=f"give the directory {medium.path} leads to as the medium's path")
    Path(medium.path).mkdir(parents=True, exist_ok=True)
    _loops_released(medium, emit, cancel)
    try:
        result = proc.run(argv, silence=MOUNT_SILENCE, cancel=cancel)
    except Stalled as exc:    # a hung disk fails the step as one not there does; nobody cancelled
        raise MountHung(f"medium {medium.id}: cannot mount {medium.device} at {medium.path}: mount did not"
                         f" answer ({exc}); is the disk hung?") from None
    if not result.ok:
        why = (f"mount was killed by signal {result.killed_by}" if result.killed_by
               else result.stderr_said() or f"mount exit {result.returncode}")
        raise WorkFailed(f"medium {medium.id}: cannot mount {medium.device} at {medium.path}: {why}")
    emit(Event(LOG, f"mounted {medium.device} at {medium.path}"))


def _loops_released(medium: Medium, emit: Emit, cancel: threading.Event | None) -> None:
    """Wait, LOOP_RELEASE_WAIT seconds at most, for the loop devices of the medium's image that an
    unmount just made left bound (loops_being_released) to go: mount would use one again as it is,
    and a backup's mount after a look's was made read-only, a look's after a backup's failed as it
    went. One still there after the wait is left to mount, as before."""
    if not medium.device:
        return
    left = loops_being_released(str(medium.device))
    if not left:
        return
    emit(Event(LOG, f"medium {medium.id}: {', '.join(left)}, a loop device of {medium.device} left by an unmount,"
                    f" is being released: waiting for it (at most {LOOP_RELEASE_WAIT} s)"))
    cancel = cancel or threading.Event()
    deadline = time.monotonic() + LOOP_RELEASE_WAIT
    while loops_being_released(str(medium.device)) and time.monotonic() < deadline:
        if cancel.wait(0.01):
            raise Cancelled(f"medium {medium.id}: cancelled while waiting for a loop device of its image to be"
                            " released")


def _unmount(medium: Medium, emit: Emit, cancel: threading.Event | None = None) -> bool:
    """Sync the medium's file system, then unmount it; False when it is left mounted (said). A
    sync that fails or hangs leaves it mounted: unmounted then, it would be taken away as if all
    were written on it. `cancel` stops sync or umount (Cancelled), for a user that only wants the
    medium unmounted to mount it again: stopped, either leaves the file system as it was or the
    kernel's unmount made (the mount's note then proves nothing, and goes at the next use)."""
    try:
        synced = proc.run(sync_argv(medium), silence=SYNC_SILENCE, cancel=cancel)
    except Stalled as exc:    # a hung disk: nothing to stop but this process
        emit(Event(WARNING, f"medium {medium.id} is left mounted at {medium.path}: sync did not answer ({exc});"
                            " is the disk hung? What was written there may not be on the disk yet: do not unplug it"))
        return False
    if not synced.ok:
        emit(Event(WARNING, f"medium {medium.id} is left mounted at {medium.path}: sync failed:"
                            f" {synced.stderr_said()}; what was written there may not be on the disk:"
                            " do not unplug it"))
        return False
    try:
        done = proc.run(umount_argv(medium), silence=UMOUNT_SILENCE, cancel=cancel)
    except Stalled as exc:    # what was written there is recorded: the medium is only left mounted
        emit(Event(WARNING, f"cannot unmount {medium.path}: umount did not answer ({exc}); is the disk hung?"))
        return False
    if done.ok:
        emit(Event(LOG, f"unmounted {medium.path}"))
    else:
        emit(Event(WARNING, f"cannot unmount {medium.path}: {done.stderr_said()}"))
    return done.ok
