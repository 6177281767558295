"""A medium's `.rabtui-medium` label, and the checks that a directory is really the medium: before
a backup uses it (check_medium) and before it is labelled (label_medium). The layout of what it
holds is in medium_layout.py, the rotation in rotation.py, mounting in mounting.py.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import shlex
import stat
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from rabtui import __version__, faults, fmt, privacy, temp_dirs
from rabtui.media import mounts as media_state
from rabtui.media import checkpoint_numbers, medium_fs
from rabtui.media.medium_layout import read_regular
from rabtui.media.mounting import mounted
from rabtui.config import Medium
from rabtui.errors import Cancelled, RabtuiError, WorkFailed
from rabtui.events import LOG, Emit, Event, no_emit
from rabtui.state import queries
from rabtui.state.store import Store

LABEL = ".rabtui-medium"
# Left alone when deciding whether a medium without a label is empty.
IGNORED_ON_EMPTY = {"lost+found", LABEL}
LABEL_BYTES = 1 << 16      # a label of rabtui's is a few hundred bytes
ID_CHARS = 255
WRITE_TEST = ".rabtui-write-test-"
# what a labelling killed half-way leaves: the label's temporary file, its tries of the medium
OWN_TEMPORARIES = (f"{LABEL}.tmp-", WRITE_TEST, medium_fs.PROBE_PREFIX)
# the label's temporary file and the write test, named by their run's pid, its process's identity
# (temp_dirs.MARK: not by earlier versions) and a random part (_writer; older runs put their thread's
# number there)
_RUNS_FILE = re.compile(rb"(?:" + re.escape(f"{LABEL}.tmp-".encode()) + rb"|" + re.escape(WRITE_TEST.encode())
                        + rb")(\d+)" + temp_dirs.MARK + rb"-[0-9a-f]+")


# --- label -----------------------------------------------------------------------------------------


def read_label(path: str | os.PathLike) -> dict | None:
    """The label of the medium at `path`, or None when there is none.

    A label is JSON (`{"id": ...}`); a file holding just an id is accepted too.
    """
    label_path = Path(path) / LABEL
    try:
        # a FIFO there would be waited on for ever, a symlink to /dev/zero read into all memory
        text = read_regular(label_path, LABEL_BYTES, own=True).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except privacy.NotOwn as exc:    # made first on a medium open to all (sticky): theirs to change at will
        raise WorkFailed(f"the label {label_path} is {exc.strerror}: not trusted",
                         hint=f"one rabtui wrote as that user (run as another user before): chown {os.geteuid()}"
                              f" {shlex.quote(str(label_path))}; else move it away, then: rabtui media label ID") from None
    except OSError as exc:
        why = "a symlink" if exc.errno == errno.ELOOP else exc.strerror
        raise WorkFailed(f"cannot read the label {label_path}: {why}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):     # nested deeper than the JSON reader goes
        data = None
    if not isinstance(data, dict):
        if len(text.strip()) > ID_CHARS:        # no id written by hand: said whole in each refusal
            raise WorkFailed(f"cannot read the label {label_path}: not a label of rabtui's")
        data = {"id": text.strip()}
    return data


def said_id(label: dict | None) -> str:
    """The id `label` holds, quoted as a message says it: a long one (a label from elsewhere) cut."""
    return fmt.cut_middle(repr(label.get("id") if isinstance(label, dict) else None), 80)


def write_label(medium: Medium, *, first: bool = False, follows: dict | None = None, times: dict | None = None) -> dict:
    """Write (atomically) the label of `medium` at its path, with what its file system can hold.
    `first`: only where there is none yet; the label another process wrote first (two backups
    starting on a new medium at once) is returned then, so that both record the same. `follows`:
    the label this server used as the medium before (its disk labelled anew), named in the new one
    with those it followed, so that the copies of the state on its discs made before are still
    known as this server's (rebuild-state). `times`: what it says of its files' times (_times_said)."""
    label = {**(times or {}), "id": medium.id, "created": datetime.now().isoformat(timespec="seconds"), "serial": _serial(),
             "rabtui": __version__}
    if media_state.tells_apart(follows):
        label["follows"] = media_state.labellings(follows)
    return _store_label(medium, {**label, "holds": _probe(medium)}, first=first)


def _serial() -> str:
    """Tells this labelling of a disk from any other (another server's medium of the same id)."""
    return secrets.token_hex(8)


def _probe(medium: Medium, probe=medium_fs.probe):
    try:
        return probe(medium.path)
    except OSError as exc:
        raise WorkFailed(f"medium {medium.id}: cannot try what {medium.path} can hold: {exc.strerror}") from None


def labelled_nanoseconds(medium: Medium, started: float | None = None) -> bool:
    """Whether the files of a backup of the medium that began at `started` (None: of any backup, as
    an archive's union holds) have their times as rsync set them, to the nanosecond: as the medium's
    label says (its last backup tried it again), the label file's own time shows (_times_kept), and
    since the label says they are (`times_since`); for those who only read the medium, such as a
    restore."""
    try:
        label = read_label(medium.path)
    except WorkFailed:
        return False
    if label is None or not _times_kept(medium, label):
        return False
    if "times_since" not in label:
        return True
    since = label["times_since"]
    # one of another type (written by hand) said nothing of when: none compared
    return (isinstance(since, (int, float)) and not isinstance(since, bool)
            and started is not None and started >= since)


def _times_kept(medium: Medium, label: dict) -> bool:
    """Whether the medium keeps nanoseconds as `label`, its label, says, and its label file's time
    shows it kept them since it was written. A medium copied onto vfat or exFAT, its label with it,
    says nanoseconds until its next backup probes it, where the label's time lost its fraction
    (vfat's times are to 2 s: a file's second there is not the one rsync set); one copied without
    its times (cp -r) has the copy's own, not the fraction rabtui gave the label (`stamped_ns`)."""
    stamped = label.get("stamped_ns")
    return (medium_fs.keeps_nanoseconds(label.get("holds"))
            and medium_fs.time_finer_than_second(Path(medium.path) / LABEL, stamped if isinstance(stamped, int) else None))


def _store_label(medium: Medium, label: dict, first: bool = False) -> dict:
    path = Path(medium.path)
    tmp = path / f"{LABEL}.tmp-{_writer()}"
    label = {**label, "stamped_ns": medium_fs.STAMP_NS}     # its file's time (labelled_nanoseconds)
    text = json.dumps(label, indent=2) + "\n"
    if len(text.encode("utf-8", errors="surrogateescape")) > LABEL_BYTES:
        # a label found nested deep, indented level by level, would be one read_label refuses
        raise WorkFailed(f"medium {medium.id}: cannot write its label in {path}: it would hold more than a label"
                         f" may ({LABEL_BYTES} bytes); the label there is not one of rabtui's")
    try:
        # in a medium directory that is sticky and open to all (as /tmp), another user could still
        # have made it first, a symlink to any file
        privacy.write_new_file(tmp, text.encode("utf-8", errors="surrogateescape"))
        medium_fs.stamp(tmp)
        faults.point("medium.label_temporary")
        if first:
            try:
                _link_first(tmp, path / LABEL, text)     # fails where another process labelled it first
            except FileExistsError:
                label = read_label(path) or label
            os.unlink(tmp)
        else:
            os.replace(tmp, path / LABEL)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkFailed(f"medium {medium.id}: cannot write its label in {path}: {exc.strerror}") from None
    return label


def _link_first(tmp: Path, label_path: Path, text: str) -> None:
    """The label `tmp` (holding `text`) linked in as `label_path` where there is none yet;
    FileExistsError where there is. Without hard links it is created there exclusively instead,
    its text written at once (and removed again when that fails)."""
    try:
        os.link(tmp, label_path)
        return
    except OSError as exc:
        if exc.errno not in medium_fs.NO_HARD_LINKS:
            raise
    fd = os.open(label_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
        medium_fs.stamp(label_path)
    except OSError:
        label_path.unlink(missing_ok=True)
        raise


def foreign_files(path: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(path) if n not in IGNORED_ON_EMPTY and not n.startswith(OWN_TEMPORARIES))
    except OSError as exc:
        raise WorkFailed(f"cannot list {path}: {exc.strerror}") from None


# --- checks ----------------------------------------------------------------------------------------


def _others_can_change(medium: Medium, error: type[RabtuiError]) -> None:
    """Raises `error` when a user other than root and this one can change the medium's directory or
    one above it: rabtui writes there by name (the label, its temporary file, the probe's directory
    and its files), and they could rename what it made and put a symlink to any file of this
    server in its place, which root would then write (README: directories other users can change)."""
    why = privacy.others_can_change(medium.path)
    if why:
        raise error(f"medium {medium.id}: {why}, who could have rabtui write elsewhere through a symlink of theirs;"
                    " nothing written",
                    hint=f"give {medium.path} to this user or root, closed to others (chown, chmod go-w; a vfat or"
                         " exFAT file system keeps no owners or modes: mount it with uid= and gid= of this user and umask=077)")


def space(path: str | os.PathLike) -> dict:
    st = os.statvfs(path)
    return {
        "total_bytes": st.f_blocks * st.f_frsize,
        "free_bytes": st.f_bavail * st.f_frsize,
        "total_inodes": st.f_files,
        "free_inodes": st.f_favail,
    }


def check_medium(medium: Medium, emit: Emit = no_emit, store: Store | None = None) -> dict:
    """Check the medium before a backup: there, mounted as before, labelled as `medium.id` (an
    empty medium the state does not know is labelled now), writable. Returns its label and free
    space; raises WorkFailed with the reason otherwise."""
    path = Path(medium.path)
    if not path.is_dir():
        hint = " (not mounted?)" if medium.device else ""
        raise WorkFailed(f"medium {medium.id}: {path} does not exist or is not a directory{hint}")
    _others_can_change(medium, WorkFailed)
    problem = media_state.mount_problem(store, medium)
    if problem:
        raise WorkFailed(f"medium {medium.id}: {problem}; refusing to use it",
                         hint=f"mount the medium at {path}" + (f" ({medium.device})" if medium.device else "")
                         + f"; if the medium lives in this directory now: rabtui media label {medium.id} --force")
    label = read_label(path)
    known = media_state.known_because(store, medium.id) if store is not None and label is None else None
    if known:
        raise WorkFailed(
            f"medium {medium.id}: {path} has no {LABEL} label, but rabtui has used this medium before"
            f" ({known}): is the disk mounted? refusing to label it again",
            hint=f"mount it; if it really is medium {medium.id}, emptied on purpose: rabtui media label {medium.id} --force",
        )
    if label is None:
        others = foreign_files(path)
        if others:
            shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
            raise WorkFailed(
                f"medium {medium.id}: {path} holds files but no {LABEL} label ({shown}); refusing to use it",
                hint=f"if it really is this medium: rabtui media label {medium.id} --force",
            )
        remove_dead_runs_files(path)
        _check_writable(medium)
        faults.point("medium.labelling")
        label = write_label(medium, first=True)
        faults.point("medium.labelled")
        if label.get("id") != medium.id:
            raise WorkFailed(f"medium {medium.id}: {path} was labelled {said_id(label)} meanwhile: wrong medium")
        emit(Event(LOG, f"medium {medium.id}: empty, labelled now"))
    elif label.get("id") != medium.id:
        raise WorkFailed(
            f"medium {medium.id}: {path} is labelled {said_id(label)}, not {medium.id!r}: wrong medium"
        )
    elif other := media_state.other_labelling(store, medium, label):
        raise WorkFailed(f"medium {medium.id}: {other}; refusing to use it", hint=_other_disk_hint(medium))
    else:
        remove_dead_runs_files(path)
        _check_writable(medium)
        holds = label.get("holds")
        kept = _kept_as_written(medium, label, store)
        if (not isinstance(holds, dict) or not set(medium_fs.WHAT) <= holds.keys()
                or holds["nanoseconds"] is not _probe(medium, medium_fs.nanoseconds_now)):
            # labelled before media were probed (or before this probe), or moved to another file system
            label = _store_label(medium, _times_from_now({**label, "holds": _probe(medium)}, kept, store, medium))
        elif (holds["nanoseconds"] and not kept) or not isinstance(label.get("stamped_ns"), int):
            # copied without its times (cp -r) or with fewer (tar): its backups so far hold the copy's;
            # or labelled before labels were stamped: stamped now, for such a copy to be told
            try:
                label = _store_label(medium, _times_from_now(label, kept, store, medium))
            except WorkFailed:      # a full medium: its times are not compared, as before
                pass
    if store is not None:
        media_state.remember_mount(store, medium)
    root = path.stat()     # the disk a backup goes on: backup_place.py tells when another is in its place
    return {"label": label, "device": root.st_dev, "inode": root.st_ino, **space(path)}


def _kept_as_written(medium: Medium, label: dict, store: Store | None) -> bool:
    """_times_kept, and for a label written before labels were stamped (any fraction of a second),
    one written before the last of the medium's backups the state knows ended: a copy (cp -r) gives
    it the copy's time, after them all."""
    if not _times_kept(medium, label):
        return False
    if isinstance(label.get("stamped_ns"), int):
        return True
    end = queries.newest_end_on(store, medium.id) if store is not None else None
    try:
        return end is None or os.stat(Path(medium.path) / LABEL, follow_symlinks=False).st_mtime <= end
    except OSError:
        return False


def _times_from_now(label: dict, kept: bool, store: Store | None, medium: Medium) -> dict:
    """`label` to be written anew, saying its files' times are as rsync set them from now on only
    where they were not before (labelled_nanoseconds): after every backup the state knows of the
    medium too, one begun while the clock was ahead (since set back) holding the copy's times."""
    if medium_fs.keeps_nanoseconds(label.get("holds")) and not kept:
        return {**label, "times_since": _since_now(store, medium)}
    return label


def _since_now(store: Store | None, medium: Medium) -> float:
    newest = queries.newest_start_on(store, medium.id) if store is not None else None
    # just after it: a plan compares the times of a backup begun at times_since or after
    return max(time.time(), math.nextafter(newest, math.inf) if newest is not None else 0)


def _times_said(store: Store, medium: Medium, label: dict | None, others: list[str]) -> dict:
    """What a label written by `media label` over `label` (None: none there, `others` the files
    there) says of the times of the backups the medium holds: what `label` said where its own time
    shows it kept them, else that those before now are not as rsync set them (a medium copied with
    cp -r, or without its label, a dot file, by cp -r old/* new/: the label's hint is --force)."""
    if label is None and not others:
        return {}
    if label is not None and _kept_as_written(medium, label, store):
        return {"times_since": label["times_since"]} if "times_since" in label else {}
    return {"times_since": _since_now(store, medium)}


def _writer() -> str:
    """Names a temporary file apart from those of other processes and of this one's other backups
    (they check the same medium at once), by a part nobody can know in advance: on a sticky medium
    open to all, another user could make a known name first (failing the run, a write test as
    another user could not remove theirs)."""
    return f"{os.getpid()}{os.fsdecode(temp_dirs.own_mark())}-{secrets.token_hex(8)}"


def remove_dead_runs_files(path: str | os.PathLike) -> list[bytes]:
    """Remove the label's temporary files and the write tests that runs killed while they were
    there left in the medium's root (regular files of this user named by a process that runs no more:
    temp_dirs does the same with directories); returns their paths."""
    try:
        entries = [e for e in os.scandir(os.fsencode(path)) if _RUNS_FILE.fullmatch(e.name)]
    except OSError:
        return []
    removed = []
    for entry in entries:
        found = _RUNS_FILE.fullmatch(entry.name)
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or not temp_dirs.left_by_dead_run(int(found.group(1)), st,
                                                                           temp_dirs.marked_identity(found)):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(entry.path)
    return removed


def _check_writable(medium: Medium) -> None:
    # os.access says yes to root even on a read-only mount: try it
    probe = Path(medium.path) / f"{WRITE_TEST}{_writer()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            modes = _modes_refused(fd)
        finally:
            os.close(fd)
        faults.point("medium.write_testing")
        os.unlink(probe)
    except OSError as exc:
        raise WorkFailed(f"medium {medium.id}: {medium.path} is not writable: {exc.strerror}") from None
    if modes:
        raise WorkFailed(f"medium {medium.id}: its file system refuses to set a file's mode ({modes}): rabtui"
                         " closes what it writes there to other users, and every backup would fail",
                         hint="put the medium on a Linux file system (ext4, xfs, btrfs), or mount it with a driver"
                              " that takes chmod (fusefat refuses it)")


def _modes_refused(fd: int) -> str | None:
    """Why the file system of the new file `fd` refuses fchmod (vfat through fusefat: not
    implemented), or None."""
    try:
        os.fchmod(fd, 0o600)
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP):
            return exc.strerror
        raise
    return None


class Labelled(NamedTuple):
    """What `label_medium` did, and what it could not do (the label kept beside the state
    database, which rebuild-state needs, not written), if anything: the labelling completed with
    that warning."""
    done: str
    warning: str | None = None


def _stop_if(cancel: threading.Event | None, medium: Medium) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"the labelling of medium {medium.id}: cancelled before anything was written")


def label_medium(store: Store, medium: Medium, force: bool = False, cancel: threading.Event | None = None) -> Labelled:
    """Write the medium's label when that is safe, or with `force`; says what was done. Refused
    (RabtuiError with the reason): a path that is not mounted where the medium was, a medium
    labelled as another, files without a label, a medium the state knows found unlabelled, or
    another disk labelled with this medium's id (taken over as this medium with `force`). What runs
    killed meanwhile left in the medium's root (remove_dead_runs_files) goes first. `cancel` stops it
    before it writes anything (Cancelled), the medium then unmounted as it was found."""
    with mounted(medium, state_dir=store.state_dir, cancel=cancel):
        _stop_if(cancel, medium)
        path = medium.path
        if not os.path.isdir(path):
            raise RabtuiError(f"medium {medium.id}: {path} does not exist or is not a directory")
        _others_can_change(medium, RabtuiError)
        label = read_label(path)
        unmounted = media_state.mount_problem(store, medium)
        if unmounted and not force:
            raise RabtuiError(f"medium {medium.id}: {unmounted}",
                              hint=f"mount it; if the medium lives in this directory now: rabtui media label {medium.id} --force")
        remove_dead_runs_files(path)     # a labelling killed with its temporary file there: the next one
        if label is not None and label.get("id") == medium.id:
            other = media_state.other_labelling(store, medium, label)
            if other and not force:
                raise RabtuiError(f"medium {medium.id}: {other}", hint=_other_disk_hint(medium))
            if other:
                _stop_if(cancel, medium)
                _check_writable(medium)     # as for a disk labelled anew (below)
                media_state.remember_mount(store, medium)
                _take_over(medium, store)
                earlier = media_state.remembered_label(store, medium.id)
                times = _times_said(store, medium, label, [])
                if not media_state.tells_apart(label):    # written by hand: labelled anew, to be told apart
                    label = write_label(medium, follows=earlier, times=times)
                elif (taken := media_state.following(label, earlier)) != label:
                    # this server's earlier labellings added to the disk's
                    label = _store_label(medium, {**taken, **times})
                return _said(f"the disk at {path} is medium {medium.id} from now on",
                             media_state.remember_label(store, medium, label))
            # the label the database records kept beside it again (`check` asks for this when not)
            media_state.remember_mount(store, medium)
            return _said(f"medium {medium.id} is already labelled", media_state.keep_recorded_label(store, medium.id))
        if label is not None and not force:
            raise RabtuiError(f"{path} is labelled {said_id(label)}, not {medium.id!r}",
                              hint="use --force to relabel it")
        others = foreign_files(path)
        if label is None and others and not force:
            raise RabtuiError(f"{path} holds files but no label ({', '.join(others[:5])})",
                              hint=f"if it really is medium {medium.id}: rabtui media label {medium.id} --force")
        known = media_state.known_because(store, medium.id)
        if label is None and known and not force:
            raise RabtuiError(f"medium {medium.id}: {path} has no label, but rabtui has used this medium before"
                              f" ({known}): is the disk mounted?",
                              hint=f"mount it; to label this directory as medium {medium.id} anyway:"
                                   f" rabtui media label {medium.id} --force")
        _stop_if(cancel, medium)
        _check_writable(medium)     # as a backup does before labelling: one it would refuse is not labelled
        if force and (label is not None or others):
            _take_over(medium, store)
        faults.point("medium.label_writing")
        # found without a label: only where none is yet (a backup starting on the new medium may
        # label it meanwhile, and record the label it wrote)
        written = write_label(medium, first=label is None, follows=media_state.remembered_label(store, medium.id)
                              if known else None, times=_times_said(store, medium, label, others))
        if written.get("id") != medium.id:
            raise RabtuiError(f"{path} was labelled {said_id(written)} meanwhile, not {medium.id!r}",
                              hint="use --force to relabel it")
        not_kept = media_state.remember_label(store, medium, written)
        media_state.remember_mount(store, medium)
    return _said(f"labelled {path} as medium {medium.id}", not_kept)


def _take_over(medium: Medium, store: Store) -> None:
    """Before the label that makes the disk this medium: its records of checkpoints made this
    server's (checkpoint_numbers.take_over); a disk that cannot take them is not taken over."""
    try:
        checkpoint_numbers.take_over(medium.path, store)
    except OSError as exc:
        raise WorkFailed(f"medium {medium.id}: cannot replace the records of checkpoints of the disk's old life in"
                         f" {medium.path} ({exc.strerror or exc}); it is not taken over") from None


def _said(done: str, not_kept: str | None) -> Labelled:
    return Labelled(done, not_kept)


def _other_disk_hint(medium: Medium) -> str:
    return (f"put medium {medium.id}'s own disk at {medium.path}; if this disk is medium {medium.id} from now on"
            f" (the other is gone): rabtui media label {medium.id} --force")
