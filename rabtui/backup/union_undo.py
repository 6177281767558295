"""The undoing of a complete backup's union links (a cleanup deleting it), recorded on the medium
until the backup's tree is set aside (`.linking/.undoing-<backup name>`).

A run killed partway leaves the union without some of the backup's files (or with older versions
of them) while the backup is still there: a later cleanup may keep it after all (retention changed,
a checkpoint reads from it), and a checkpoint burned from the union would miss its versions. So the
next run that changes the union, or reads it for a checkpoint, first gives the union back the
backup's files that no complete backup made after it replaced (`settle`), as they were before the
undoing began; a cleanup that still deletes the backup undoes them again. A record whose backup is
no longer there, or not complete, is dropped: its undoing needs no going back.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable

from rabtui import privacy
from rabtui.backup.archive import _joined
from rabtui.backup.made_order import made_before
from rabtui.backup.union_link import link_into_union
from rabtui.config.model import directory_path_problem
from rabtui.errors import WorkFailed
from rabtui.media import below, medium_layout, opened_dirs
from rabtui.state.locks import marking, still
from rabtui.state.store import COMPLETE

PREFIX = medium_layout.UNDOING


def _record(medium_path, source_id: str, name: str) -> Path:
    return medium_layout.linking_dir(medium_path, source_id) / f"{PREFIX}{name}"


def begin(medium_path, source_id: str, name: str) -> None:
    """The undoing of backup `name`'s union links recorded, on the disk before any is undone."""
    record = _record(medium_path, source_id, name)
    try:
        privacy.private_dir(record.parent)
        _drop_planted(record)
        if not _linked(record, medium_layout.source_root(medium_path, source_id) / name):
            # O_NONBLOCK: a FIFO planted there meanwhile fails the open, never hangs it; no O_TRUNC:
            # one there already may be a link to a backup's backup.json, which is never written
            fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(record.parent)
    except OSError as exc:
        raise WorkFailed(f"cannot record the undoing of {name}'s archive links in {record.parent}:"
                         f" {exc.strerror}") from None


def _linked(record: Path, backup: Path) -> bool:
    """The record made as a hard link to the backup's backup.json: a name only, no new inode (a
    cleanup is what frees a medium that has none left). False when it cannot be (the record is
    then made as a file of its own)."""
    try:
        fd = os.open(backup, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.link("backup.json", record, src_dir_fd=fd, follow_symlinks=False)
    except FileExistsError:     # recorded already (a cleanup killed as it undid these links)
        pass
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _drop_planted(record: Path) -> None:
    """What is at the record's name that no run of rabtui made there (a FIFO, whose opening would
    wait for a reader for ever; a symlink; a device node), removed; a directory is left (its open
    fails, saying so)."""
    try:
        mode = os.lstat(record).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        os.unlink(record)


def end(medium_path, source_id: str, name: str) -> None:
    """The record of backup `name`'s undoing removed: its tree is set aside (or its links are back)."""
    try:
        os.unlink(_record(medium_path, source_id, name))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise WorkFailed(f"cannot remove {_record(medium_path, source_id, name)}: {exc.strerror}") from None


def recorded_link(medium_path, source_id: str, name: str) -> tuple[tuple[int, int], ...]:
    """The (device, inode) of the record of backup `name`'s undoing, if there: a second link to its
    backup.json (_linked), which goes with its tree (FreedCounter's extra_links)."""
    try:
        st = os.lstat(_record(medium_path, source_id, name))
    except OSError:
        return ()
    return ((st.st_dev, st.st_ino),) if stat.S_ISREG(st.st_mode) else ()


def pending(medium_path, source_id: str) -> list[str]:
    """The names of the backups whose undoing is recorded on the medium."""
    try:
        names = os.listdir(medium_layout.linking_dir(medium_path, source_id))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise WorkFailed(f"cannot read {medium_layout.linking_dir(medium_path, source_id)}: {exc.strerror}") from None
    return sorted(n[len(PREFIX):] for n in names if n.startswith(PREFIX)
                  and medium_layout.BACKUP_NAME.match(n[len(PREFIX):]))


def settle(medium_path, source_id: str, dir_paths: list[str], listed: list | None = None,
           but: str | None = None, moved=still, looked: dict[str, dict[str, str]] | None = None) -> int:
    """Each recorded undoing (but that of `but`, which the caller undoes again now) gone back on:
    the backup's files linked into the union again where no complete backup made after it holds
    that path (or a file on the way there). The caller holds the source's union lock, and `moved()`
    marks the progress made under it (Lock.moved). `listed`: the source's backups on the medium
    (list_backups), when read already; `looked`: as taken_by. Returns how many."""
    names = [n for n in pending(medium_path, source_id) if n != but]
    if not names:
        return 0
    listed = medium_layout.list_backups(medium_path, source_id) if listed is None else listed
    linked = 0
    for name in names:
        at = next((i for i, (n, _, _) in enumerate(listed) if n == name), None)
        info = listed[at][2] if at is not None else None
        if info and info.get("status") in COMPLETE:
            newer = [(p, other) for i, (_, p, other) in enumerate(listed)
                     if i != at and other and other.get("status") in COMPLETE and made_before(listed, at, i)]
            # the directories it saved as archive ones the config made standard (or dropped) since
            # were undone too (history.unlink_archive)
            ran = [d["path"] for d in medium_layout.recorded_dirs(info)
                   if d.get("kind") == "archive" and isinstance(d.get("path"), str) and d["path"]
                   and not directory_path_problem(d["path"]) and d["path"] not in dir_paths]
            taken = taken_by(medium_path, source_id, [*dir_paths, *ran, *named_dirs(listed)], looked)
            if not records_kinds(info):
                ran += [d for d in sorted(taken(name)) if d not in dir_paths and d not in ran]
            planted = medium_layout.symlink_in_layout(medium_path, source_id, ran, saved_ok=True)
            if planted:
                raise WorkFailed(planted)
            for d in [*dir_paths, *ran]:
                if saved_as_archive(info, d, d in taken(name)):
                    linked += _relink(medium_path, source_id, listed[at][1], d,
                                      [os.fsencode(p) for p, other in newer
                                       if saved_as_archive(other, d, d in taken(Path(p).name))], moved)
        end(medium_path, source_id, name)
    return linked


def named_dirs(listed: list) -> list[str]:
    """The directories the records of `listed` (list_backups) name, each a path a directory can
    have (a record edited by hand names nothing else)."""
    return list(dict.fromkeys(d["path"] for _, _, info in listed for d in medium_layout.recorded_dirs(info)
                              if isinstance(d.get("path"), str) and d["path"]
                              and not directory_path_problem(d["path"])))


def taken_by(medium_path, source_id: str, dirs, looked: dict[str, dict[str, str]] | None = None
             ) -> Callable[[str], set[str]]:
    """backup name -> archive_taken of the backup of that name on the medium, `looked`: the state's
    looks at the medium, saved_kinds.looks (each backup's, asked for once)."""
    looked, memo = looked or {}, {}

    def taken(name: str) -> set[str]:
        if name not in memo:
            memo[name] = archive_taken(medium_path, source_id, dirs, looked.get(name))
        return memo[name]
    return taken


def archive_taken(medium_path, source_id: str, dirs, looked: dict[str, str] | None = None) -> set[str]:
    """Those of `dirs` a backup that records no kinds is taken to have saved as archive ones
    (saved_kinds.judged's rule, on the medium at hand): as the state's look at the medium found
    that backup (`looked`: path -> kind, of saved_kinds.looks), else those whose union it holds (an
    archive backup made the union after the look: those backups linked nothing there)."""
    looked = looked or {}
    return {d for d in dirs if looked.get(d) == "archive"
            or d not in looked and medium_layout.union_may_be_there(medium_path, source_id, d)}


def records_kinds(info) -> bool:
    """Whether the backup whose record (backup.json) is `info` records the kind it saved some
    directory as."""
    return any(d.get("kind") is not None for d in medium_layout.recorded_dirs(info))


def saved_as_archive(info: dict, dir_path: str, archive_now: bool) -> bool:
    """Did the backup whose record (backup.json) is `info` save `dir_path` as an archive one, its
    files linked into the union: as it records, or (it records no kinds, or one it cannot name)
    as `archive_now` says (archive_taken's: its medium holds the directory's union). A backup that
    records directories but not this one saved nothing of it."""
    dirs = [d for d in medium_layout.recorded_dirs(info) if d.get("kind") is not None]
    if not dirs:
        return archive_now
    kind = next((d.get("kind") for d in dirs if d.get("path") == dir_path), "standard")
    return kind == "archive" or (kind != "standard" and archive_now)



def _relink(medium_path, source_id: str, path: Path, dir_path: str, newer: list[bytes], moved) -> int:
    data = medium_layout.backup_data_path(path, dir_path)
    if not data.is_dir() or medium_layout.no_union_there(medium_path, source_id, dir_path):
        return 0
    data_b = os.fsencode(data)
    union = medium_layout.archive_root(medium_path, source_id, dir_path)
    union.mkdir(parents=True, exist_ok=True)
    union_b = os.fsencode(union)
    newer_b = [os.fsencode(medium_layout.backup_data_path(os.fsdecode(p), dir_path)) for p in newer]
    with opened_dirs.opened_to_read(data_b):
        rels = [rel for rel_dir, items in marking(below.walk(data_b), moved) for name, st in items
                if not stat.S_ISDIR(st.st_mode) for rel in [_joined(rel_dir, name)]
                if not below.is_file(union_b, rel, st) and not any(_holds(b, rel) for b in newer_b)]
        return link_into_union(data, union, rels, staging=medium_layout.linking_dir(medium_path, source_id),
                               moved=moved)


def _holds(base: bytes, rel: bytes) -> bool:
    """Whether the backup tree `base` has an entry at `rel`, or one other than a directory on the way."""
    return below.reach(base, rel) != below.MISSING


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
