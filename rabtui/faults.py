"""Named fault points: the process kills itself with SIGKILL at the point that
`RABTUI_FAULT_POINT` names, as a power cut or the OOM killer would, so that tests can prove
that a kill anywhere in a backup or a burn loses nothing that was complete.

`RABTUI_FAULT_STOP` names a point where the process stops itself (SIGSTOP) instead, holding what
it holds, as a run hung on a dead medium would, until it gets SIGCONT.

A point may be named for one source, `POINT@SOURCE`: it acts only in a thread working for that
source (under its lock: backup/run_lock.py), not in the other sources' threads of the same run; and
for its Nth passage, `POINT#N` (`POINT#N@SOURCE`: the Nth in that source's threads).

`RABTUI_FAULT_HOLD` names a point (for one source: `POINT@SOURCE`) where the thread that passes it
waits for good while the process's other threads go on, until the process is killed; a kill point
named with it kills only once the held point is reached. So the tests kill a run of several sources
at once with each where they choose: one held at a point, another killed at its own.

Without the variables (always, outside the tests) a point does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

ENV = "RABTUI_FAULT_POINT"
STOP_ENV = "RABTUI_FAULT_STOP"
HOLD_ENV = "RABTUI_FAULT_HOLD"

_working = threading.local()      # .source: the source the thread works for now
_held = threading.Event()         # the held point is reached
_passed: dict[str, int] = {}      # passages of a point named with #N
_count_lock = threading.Lock()

# Every point, in the order a run passes them (tests/test_kill_anywhere.py kills at each).
BACKUP_POINTS = (
    "backup.step1", "backup.step2", "backup.step3", "backup.step4",
    "backup.rsync_ended",          # step 5: one directory's rsync has ended, before the catalog
    "backup.step5", "backup.step6",
    "backup.archive_linked",       # step 7: new archive files linked into the union trees, the
                                   # union lock not yet released
    "backup.catalog",              # step 7: catalog rows written
    "backup.step7_ended",          # step 7: its row says it ended, backup.json not yet complete
    "backup.json_written",         # step 7: backup.json says complete, the database row not yet
    "backup.step7",
)
# Passed by every backup, inside step 3: its directory made, the database not yet told so (it takes
# the name the run planned for that of another backup's there, and touches nothing).
DIR_POINTS = ("backup.dir_made",)
# Passed only by a backup that links new files into an archive directory's union: a file's link
# made under a temporary name there, not yet renamed to its own.
UNION_POINTS = ("backup.union_linking",)
# Passed only where the union gives an older shape's place to the backup's: a file of the union
# removed where the backup has a directory (not yet made), or a directory of the union being
# removed where the backup has a file (its link under a temporary name beside it).
RESHAPE_POINTS = ("backup.union_reshaping",)
# Passed only when a directory holds directories that were symlinks in the basis (transfer.py):
# the first rsync may have linked a file of this server below them.
COPY_AGAIN_POINTS = (
    "backup.copy_again",           # the first rsync has ended, the directories not yet removed
    "backup.copying_again",        # they are removed, the second rsync has not run
)
# Passed only where a file the source holds as two or more is one in the backup (links_apart.py):
# before each copy made to hold them apart, and once it has a temporary name beside each of its names.
LINKS_APART_POINTS = ("backup.links_apart", "backup.links_apart_made")
# Passed only where a file rsync copied whole from the base has its holes punched again
# (holes_again.py): punched, its setuid, capability and times not yet put back.
HOLES_AGAIN_POINTS = ("backup.holes_punched",)
BURN_POINTS = (
    "burn.before_write",           # the disc is marked writing, nothing written yet
    "burn.xorriso_started",        # xorriso runs (its first line), the image not written yet;
                                   # a half-written image: the test kills when the image grows
    "burn.written",                # written, before verifying
    "burn.verified",               # verified, before the disc's state row says so
    "burn.disc_done",              # a disc is verified, before the next one
)

RESTORE_POINTS = (
    "restore.extracted",           # what the discs hold is in the staging directory, nothing delivered
    "restore.file_written",        # a file's content and attributes written, not yet in place
    "restore.entries_put",         # every entry in place, the directories' modes and times not yet set
)
# Passed only by a restore from discs: each disc read into the staging directory through the short
# alias of the temporary directory (shortpath.alias), nothing checked yet.
DISC_READ_POINTS = ("restore.discs_read",)
# Passed only where a disc's symlink lost its target's one trailing slash: the symlink to the target
# recorded made beside it under a temporary name, not yet in its place (restore/link_targets.py).
LINK_TARGET_POINTS = ("restore.link_target_made",)
# Passed only by a restore onto a remote source, without --overwrite, into a directory that is there.
TO_SOURCE_POINTS = (
    "restore.sending",             # the paths to send are listed, rsync has not run
)

# Passed only on a medium's first use.
LABEL_POINTS = (
    "medium.labelling",            # found empty and unknown, its label not yet written
    "medium.labelled",             # its label written, not yet recorded in the state
    "medium.label_writing",        # `media label`: found without a label, its label not yet written
)

# Passed where a medium with a `device` was mounted by `mount` for its users (media/mounting.py).
MOUNT_POINTS = ("medium.mounted",)

# Passed by every backup's check of its medium: the write test's file made in the medium's root,
# not yet removed; and by each writing of a label: its temporary file written beside it, not yet
# linked or renamed into place.
MEDIUM_FILE_POINTS = ("medium.write_testing", "medium.label_temporary")

# Passed where what a medium's file system holds is tried (medium_fs.probe: at its labelling): the
# probe's directory made in its root, with a file in it.
PROBE_POINTS = ("medium.probing",)

# Passed by every file written whole through file_replace.replace_file (config, labels kept, settings).
REPLACE_POINTS = (
    "replace.written",             # the temporary file written and synced, not yet renamed
)
# Passed only by a save of the config where the file system exchanges two names: the new file in
# place, the one it replaced in the save's private directory (exchange_aside), not yet compared.
EXCHANGE_POINTS = ("replace.exchanged",)
# Passed only by a save of the config that keeps a hand edit aside: its `<name>.conflict-<time>` name
# linked, the name in the save's private directory not yet removed; then, the save done, before the
# UI is told where it is kept.
CONFLICT_POINTS = ("config.conflict_linked", "config.conflict_kept")
# Passed only where no second name can be linked to that file: the note of the name it is renamed to
# written in the save's private directory, the file not yet renamed.
NOTED_POINTS = ("config.conflict_noted",)
# Passed by `sources trust` (and a changed key's replacing) about to write rabtui's known_hosts: the
# file held and read again, nothing written yet.
KNOWN_HOSTS_POINTS = ("known_hosts.writing",)


CLEANUP_POINTS = (
    "cleanup.trees_emptied",       # a medium's doomed backups emptied, before the catalog forgets them
)
# Passed by a cleanup before each backup it deletes, its tree not yet set aside (a cancel that came
# meanwhile stops it there: deletion_left.py).
DELETE_EACH_POINTS = ("cleanup.deleting",)
# Passed only by a cleanup that finds killed runs on a medium that is here: the source's lock held,
# its killed runs there not yet recovered.
RECOVER_POINTS = ("cleanup.recovering",)
# Passed only where a backup that goes had files the union shows: the first of them undone (its
# link removed, or an older version put back), the others not yet.
UNDO_POINTS = ("union.undoing",)
# Passed there after each of those files undone (the first too, after union.undoing).
UNDO_EACH_POINTS = ("union.undone",)
# Passed after each file linked into a union (a backup's new files; an older version put back by an
# undoing): one waiting for the union lock sees the holder's progress.
LINK_EACH_POINTS = ("union.linked",)
# Passed only by a cleanup removing the union of a directory no archive one now that no backup on the
# medium needs (union_release.py): set aside under its .deleting-union- name, not yet emptied.
UNION_RELEASE_POINTS = ("cleanup.union_set_aside",)


REBUILD_POINTS = (
    "rebuild.locked",              # every lock taken, nothing made yet
    "rebuild.media_listed",        # every medium's backup records read, none recorded yet
    "rebuild.media_read",          # the new database holds the media's backups, the discs not read yet
    "rebuild.built",               # the new database is whole beside the old one
    "rebuild.kept_aside",          # the old one is linked aside too, its -wal still beside it
    "rebuild.old_wal_gone",        # its -wal and -shm are gone, the new one not yet in its place
    "rebuild.in_place",            # the new one is in place, the locks not yet released
)
# Passed only by a rebuild-state that reads checkpoint discs: a disc's catalog extracted into a
# private directory of the temporary directory, and its copy of the state database into one of the
# state directory (temp_dirs.py), neither read yet.
REBUILD_DISC_POINTS = ("rebuild.catalog_extracted", "rebuild.state_copy_extracted")
# Passed only by a plan, or a disc about to be written, with directories xorriso may not write
# (continuation.py): their stand-ins made in a private directory of the state directory, not yet tried.
TRIAL_POINTS = ("checkpoint.trial_made",)
# Passed by each verification that extracts a disc: its private directory of the state directory's
# checkpoints/ made (verify.py), xorriso not yet run; extracted into it, nothing compared yet.
VERIFY_POINTS = ("verify.extracting", "verify.extracted")
# Passed only by a verification that reads xattrs values too long for xorriso to print back from a
# disc (disc_xattrs.py): some read in their folder, which is not yet removed.
XATTRS_POINTS = ("verify.xattrs_read",)
# Passed by each id rebuild-state renumbered a backup to once written into its backup.json (by the
# rebuild, or by the next backup or rebuild after one killed), the others not yet.
ID_WRITE_POINTS = ("ids.written",)
# Passed only by the recovery of a run killed after its transfer ended whole (killed_kept.py): its
# catalog recorded again, its backup.json not yet saying `kept`; then that said, its row not yet.
KEEP_POINTS = ("recovery.kept_catalog", "recovery.kept_said")
# Passed by each backup run-due started once its job's row says how it ended, its schedule time not
# yet marked done (run_due.py).
RUN_DUE_POINTS = ("run_due.backup_ended",)
# Passed where a wait for a lock another process holds begins (Lock.acquire_within), said, not yet waited.
LOCK_WAIT_POINTS = ("lock.waiting",)
# Passed by a run about to wait at its end for notifications still being delivered (notify_outbox.py).
NOTIFY_POINTS = ("notify.waiting",)
# Passed after each write the state database commits (a statement outside a transaction, or a
# transaction): named with #N, a run is killed after its Nth write, between any two of its records.
STATE_POINTS = ("state.written",)
# Passed by a console (or any caller) starting a detached job: its row written, its process not yet
# started (state/jobs.py start_detached).
JOB_START_POINTS = ("jobs.detached_recorded",)


@contextmanager
def working_for(source_id: str) -> Iterator[None]:
    """The calling thread works for `source_id` meanwhile (a point named `POINT@SOURCE` acts in it)."""
    before = getattr(_working, "source", None)
    _working.source = source_id
    try:
        yield
    finally:
        _working.source = before


def _names(value: str | None, name: str, source: str | None) -> bool:
    """Whether a variable's `value`, `POINT` or `POINT@SOURCE`, names this point in this thread;
    `POINT#N` (`POINT#N@SOURCE`): its Nth passage (for that source) only."""
    if not value:
        return False
    at, _, named = value.partition("@")
    at, _, nth = at.partition("#")
    if at != name or (named and named != (source or getattr(_working, "source", None))):
        return False
    if not nth:
        return True
    with _count_lock:
        _passed[value] = _passed.get(value, 0) + 1
        return _passed[value] == int(nth)


def point(name: str, source: str | None = None) -> None:
    """`source`: the source the point is passed for, where the thread holds no lock of it."""
    if _names(os.environ.get(HOLD_ENV), name, source):
        _held.set()
        threading.Event().wait()       # for good: the process is killed meanwhile
    if _names(os.environ.get(ENV), name, source):
        if os.environ.get(HOLD_ENV):
            _held.wait()
        os.kill(os.getpid(), signal.SIGKILL)
    if _names(os.environ.get(STOP_ENV), name, source):
        os.kill(os.getpid(), signal.SIGSTOP)
# Passed by the kill of a process's group (proc_started._kill_group): its tree stopped, nothing of
# it signalled yet; then TERM and CONT sent, the grace before SIGKILL not yet waited.
KILL_POINTS = ("proc.tree_stopped", "proc.kill_grace")
