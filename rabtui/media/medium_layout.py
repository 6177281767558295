"""The layout on a medium: where a source's backups and archive unions lie, the backups' names,
listing and making them, and the directories that keep other users out.

```
<medium>/.rabtui-medium
<medium>/<source-id>/backup-YYYYmmddHHMMSS[-N]/{backup.json, backup.log, data/...}
<medium>/<source-id>/.archive/<dir>/...      union tree of an archive directory on this medium
<medium>/<source-id>/.linking/               links on their way into a union (what a kill left there)
```
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from datetime import datetime
from pathlib import Path

from rabtui import privacy
from rabtui.media import below
from rabtui.config import Source
from rabtui.errors import WorkFailed
from rabtui.state.store import RESTORABLE, STATUSES

ARCHIVE = ".archive"
# what a run killed before its record can leave in its directory, besides that record's temporary
# files (RECORD_LEFTOVER: the room kept, and tempfile's names beside it)
RUN_NAMES = ("data", "backup.log")
RECORD_LEFTOVER = re.compile(r"backup\.json\.(?:[a-z0-9_]{8}\.)?tmp")
# the record of the undoing of a backup's union links, below linking_dir (union_undo.py)
UNDOING = ".undoing-"
LINKING = ".linking"     # beside .archive: links made under a temporary name, renamed into a union from there
BACKUP_NAME = re.compile(r"backup-([0-9]{14})(?:-([0-9]+))?\Z")   # \Z: $ takes a newline at the end
BACKUP_ID_MAX = 2**63 - 1          # the largest integer the state database holds


def is_backup_ref(ref: str) -> bool:
    """Whether the operator named a backup as it can be: by its name (backup-YYYYmmddHHMMSS[-N]) or
    by its id. Anything else names none (and text that is not UTF-8 cannot even be looked up)."""
    if ref.isascii() and ref.isdigit():
        return 1 <= int(ref) <= BACKUP_ID_MAX
    return ref.isascii() and BACKUP_NAME.fullmatch(ref) is not None


def _rel(dir_path: str) -> str:
    return dir_path.lstrip("/")


def source_root(medium_path: str | os.PathLike, source_id: str) -> Path:
    return Path(medium_path) / source_id


def archive_root(medium_path: str | os.PathLike, source_id: str, dir_path: str) -> Path:
    """<medium>/<source>/.archive/<dir without leading slash>: the union tree of an archive directory."""
    return Path(medium_path) / source_id / ARCHIVE / _rel(dir_path)


def union_may_be_there(medium_path: str | os.PathLike, source_id: str, dir_path: str) -> bool:
    """Whether the medium holds an archive union of `dir_path` (some backup saved it as an archive
    one there), or it cannot be looked at (past PATH_MAX, a directory on the way not searchable, a
    symlink on the way: a backup of a directory around it may have saved one there, and what it
    leads to, off the medium, decides nothing): only one found missing is not."""
    try:
        if below.symlink_on_the_way(os.fsencode(medium_path),
                                    os.fsencode(f"{source_id}/{ARCHIVE}/{_rel(dir_path)}")) is not None:
            return True
        os.lstat(archive_root(medium_path, source_id, dir_path))
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def archive_base(medium_path: str | os.PathLike, source_id: str) -> Path:
    """<medium>/<source>/.archive, made 0700 when missing."""
    return privacy.private_dir(Path(medium_path) / source_id / ARCHIVE)


def linking_dir(medium_path: str | os.PathLike, source_id: str) -> Path:
    """<medium>/<source>/.linking: where a link into one of the source's unions is made under a
    temporary name before it is renamed into place (what a kill leaves there is in no union)."""
    return Path(medium_path) / source_id / LINKING


def symlink_in_layout(medium_path: str | os.PathLike, source_id: str, archive_paths=(),
                      saved_ok: bool = False) -> str | None:
    """What of the source's layout on the medium is a symlink (walked part by part below the
    medium): its directory, an archive's union or a directory on the way there, `.linking`. Each
    write or removal there would go through it, off the medium (a backup's new files linked into
    another directory, the files there removed). None when there is none. `saved_ok`: for a reader
    that reads nothing through one, or a writer that writes nothing where one stands
    (no_union_there), a symlink a backup saved in the union of a directory around an archive one
    (saved_in_union) is none planted."""
    medium_b = os.fsencode(medium_path)
    rels = [f"{source_id}/{LINKING}/"] + [f"{source_id}/{ARCHIVE}/{_rel(d)}/" for d in archive_paths]
    for rel in rels:
        found = below.symlink_on_the_way(medium_b, os.fsencode(rel))
        if found is not None and saved_ok and saved_in_union(medium_path, source_id, found):
            continue
        if found is not None:
            where = Path(medium_path) / os.fsdecode(found)
            return planted_symlink(where, "nothing is written or removed through it, off the medium"
                                          " (remove it, after checking what it points to)")
    return None


def saved_in_union(medium_path: str | os.PathLike, source_id: str, found: bytes) -> str | None:
    """The name of a restorable backup of the source on the medium whose own tree holds the very
    entry (one inode) at `found` (a path below the medium, reached with no symlink on the way) in
    the source's unions, at the same place: a backup of a directory around an archive one saved it
    there (the source had a symlink, file or FIFO there then) and linked it into the union, none
    planted. None when no backup does."""
    prefix = os.fsencode(f"{source_id}/{ARCHIVE}/")
    if not found.startswith(prefix) or len(found) == len(prefix):
        return None
    place = found[len(prefix):].rstrip(b"/")
    try:
        st = below.lstat(os.path.join(os.fsencode(medium_path), prefix.rstrip(b"/")), place)
    except OSError:
        return None
    for name, path, info in reversed(list_backups(medium_path, source_id)):
        if info and info.get("status") in RESTORABLE and symlink_to_entry(path, place) is None \
                and below.is_file(os.path.join(os.fsencode(path), b"data"), place, st):
            return name
    return None


def saved_symlink_to_union(medium_path: str | os.PathLike, source_id: str, dir_path: str) -> Path | None:
    """The symlink on the way to the union of the archive directory `dir_path`, or at its place,
    that a backup of a directory around it saved there (saved_in_union): that union is none, what
    was saved there is read from the backups' own trees. None when there is none (or one planted:
    symlink_to_union)."""
    found = below.symlink_on_the_way(os.fsencode(medium_path), os.fsencode(f"{source_id}/{ARCHIVE}/{_rel(dir_path)}/"))
    if found is None or saved_in_union(medium_path, source_id, found) is None:
        return None
    return Path(medium_path) / os.fsdecode(found)


def no_union_there(medium_path: str | os.PathLike, source_id: str, dir_path: str) -> bool:
    """For a writer into the union of the archive directory `dir_path` (the undoing of a backup's
    links, their linking back): True where a symlink a backup saved stands at (or on the way to)
    its place (saved_symlink_to_union: there is no union of it to write into, nothing is written
    through it), WorkFailed where one planted does, False where there is none."""
    link = symlink_to_union(medium_path, source_id, dir_path)
    if link is None:
        return False
    if saved_symlink_to_union(medium_path, source_id, dir_path) is None:
        raise WorkFailed(planted_symlink(link, "nothing is written or removed through it, off the medium"
                                               " (remove it, after checking what it points to)"))
    return True


def planted_symlink(where, then: str) -> str:
    """What is said of a symlink found on the way to what rabtui reads or writes on a medium
    (symlink_to_copy, symlink_to_union), and `then`, what is (not) done through it."""
    return f"{where} is a symlink, which rabtui never makes: {then}"


def symlink_to_copy(backup_path: str | os.PathLike, dir_path: str) -> Path | None:
    """What on the way from the medium to the backup's copy of the directory `dir_path` (the
    source's directory, the backup's, its data/, the directories above the copy, the copy itself)
    is a symlink, which rabtui never makes: put on the medium, it may lead anywhere on this server.
    None when there is none."""
    backup_path = Path(backup_path)
    medium = backup_path.parent.parent
    found = below.symlink_on_the_way(os.fsencode(medium), os.fsencode(
        f"{backup_path.parent.name}/{backup_path.name}/data/{_rel(dir_path)}/"))
    return None if found is None else medium / os.fsdecode(found)


def symlink_to_entry(backup_path: str | os.PathLike | bytes, full: bytes) -> Path | None:
    """What on the way from the medium to the directory of a backup's entry `full` (its path
    without the leading slash) is a symlink (symlink_to_copy, down to the entry's directory): a
    file read there through it may be this server's, passing for the one saved when its size
    and time are those recorded. None when there is none."""
    return symlink_to_copy(os.fsdecode(backup_path), "/" + os.fsdecode(os.path.dirname(full)))


def symlink_to_union(medium_path: str | os.PathLike, source_id: str, dir_path: str) -> Path | None:
    """What on the way from the medium to the union of the archive directory `dir_path` (the
    source's directory, `.archive`, the directories above the union, the union itself) is a
    symlink (as symlink_to_copy): a restore, Browse or a checkpoint reading the union through it
    would read this server's files where it points. None when there is none."""
    found = below.symlink_on_the_way(os.fsencode(medium_path), os.fsencode(f"{source_id}/{ARCHIVE}/{_rel(dir_path)}/"))
    return None if found is None else Path(medium_path) / os.fsdecode(found)


def symlink_in_backup(backup_path: str | os.PathLike, archive_paths=()) -> str | None:
    """What on the way to an archive directory's copy in a backup is a symlink (symlink_to_copy):
    the undoing of the backup's union links would walk where it points and take the files of other
    backups out of the union, the space it frees would count theirs. None when there is none."""
    for d in archive_paths:
        where = symlink_to_copy(backup_path, d)
        if where is not None:
            return planted_symlink(where, "the backup is kept, nothing is removed through it (remove it, after"
                                          " checking what it points to)")
    return None


def inside_any(dir_path: str, dirs) -> bool:
    """Whether the directory `dir_path` lies strictly inside one of `dirs` (directories of a source)."""
    inner = dir_path.rstrip("/") + "/"
    return any(inner != d.rstrip("/") + "/" and inner.startswith(d.rstrip("/") + "/") for d in dirs)


def others_can_change_backups(medium_path: str | os.PathLike, source: Source) -> str | None:
    """Could a user other than root and this one change where the source's backups go on the
    medium: the medium's directory and those above it, the source's, its archive unions? The owner
    of `.archive` would get a hard link of every new archive file, for instance."""
    paths = [source_root(medium_path, source.id)] + [archive_root(medium_path, source.id, d)
                                                     for d in source.archive_paths]
    return next(filter(None, map(privacy.others_can_change, paths)), None)


def private_dirs(medium_path: str | os.PathLike) -> list[Path]:
    """What must stay closed to other users on a medium: each `<source>` directory (one that holds
    backups or an archive) and its `.archive`. Backups keep the sources' modes and owners (their
    uids may be other people of this machine): these directories are what keeps them out. Only
    this user's (rabtui's): another user's directory on a medium open to all (sticky) is theirs."""
    out = []
    try:
        entries = [e for e in os.scandir(medium_path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return out
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
            names = os.listdir(entry.path)
        except OSError:
            continue
        if ARCHIVE in names or any(BACKUP_NAME.match(n) for n in names):
            out.append(Path(entry.path))
            if ARCHIVE in names:
                out.append(Path(entry.path) / ARCHIVE)
    return out


def close_private_dirs(medium_path: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """Take other users' access away from `private_dirs` (media made by earlier versions were
    0755): those that were open, and why some could not be closed."""
    closed, errors = [], []
    for path in private_dirs(medium_path):
        try:
            if privacy.tighten(path):
                closed.append(path)
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror}")
    return closed, errors


def recorded_path(medium_path: str | os.PathLike, source_id: str, name: str) -> str:
    """Where the catalog records the backup `name` of a source on the medium at `medium_path`
    (backups.path): its place in the layout, as a run and rebuild-state record it. Another path is
    stale (the medium's path changed in the config): what is there now is not that medium."""
    return str(source_root(medium_path, source_id) / name)


# recorded_path in SQL, true for the rows of `backups` recorded elsewhere (parameter: the medium's path)
OFF_PATH_SQL = "path <> rtrim(?, '/') || '/' || source || '/' || name"


def stale_path(recorded: str, medium_id: str, medium_path: str | os.PathLike, nothing_is: str) -> str:
    """What a backup recorded off its medium's path (recorded_path) says: nothing is read or
    deleted there (another disk may be mounted at the old path), until rebuild-state records it."""
    return (f"the catalog has it at {recorded}, not on medium {medium_id} at {medium_path} (was the medium's"
            f" path changed?): nothing is {nothing_is} there; `rabtui rebuild-state` records the backups where they are")


def backup_data_path(backup_path: str | os.PathLike, dir_path: str) -> Path:
    """<backup>/data/<dir without leading slash>."""
    return Path(backup_path) / "data" / _rel(dir_path)


def _name_key(name: str) -> tuple[str, int]:
    m = BACKUP_NAME.match(name)
    return (m.group(1), int(m.group(2) or 1)) if m else (name, 0)


def list_backups(medium_path: str | os.PathLike, source_id: str) -> list[tuple[str, Path, dict | None]]:
    """Backups of a source on a medium, oldest first: (name, path, backup.json or None). A symlink
    of a backup's name is none (rabtui never makes one): it may point off the medium, where a
    --link-dest base would give a new backup hard links to files others can change."""
    root = source_root(medium_path, source_id)
    try:
        names = [n for n in os.listdir(root) if BACKUP_NAME.match(n)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in sorted(names, key=_name_key):
        path = root / name
        if not path.is_dir() or path.is_symlink():
            continue
        out.append((name, path, read_backup_json(path)))
    return out


def recorded_dirs(info) -> list[dict]:
    """The entries of a backup.json's `directories` that are objects: none where it holds no list
    (edited by hand)."""
    dirs = info.get("directories") if isinstance(info, dict) else None
    return [d for d in dirs if isinstance(d, dict)] if isinstance(dirs, list) else []


def read_backup_json(backup_path: str | os.PathLike) -> dict | None:
    """The backup's record, None when it is no record of rabtui's (see read_regular) or no JSON
    object (nested too deep for the JSON reader included)."""
    try:
        data = json.loads(read_regular(Path(backup_path) / "backup.json"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


LAST_STEP = 7     # of a backup run (backup/records.STEPS): sizes, its record written
TO_DO = "(correct the file and run `rabtui rebuild-state`, or delete the directory)"   # for such a backup


def not_a_run(backup_path: str | os.PathLike, info: dict | None) -> str | None:
    """Why the backup at `backup_path`, its backup.json read as `info` (read_backup_json), may be
    more than what a killed run left, said of its backup.json; None when it is no more. A run writes
    its record before its first file, by atomic replace: a record that cannot be read (an entry at
    its name that is no record, or none beside files in data/), or says no status of rabtui's, or
    `failed` as no run writes it (_failed_unsaid), was damaged, lost or edited since, and its
    backup may be complete. Such a backup is never deleted: not by the recovery of its run, nor by
    a cleanup, and rebuild-state records it as failed, kept."""
    path = Path(backup_path)
    if info is not None:
        other = _names_another(path, info)
        if other:
            return other
        status = info.get("status")
        if status == "failed" and _failed_unsaid(info):
            return ("status \"failed\", with no reason, while each of its steps ended well: no run of rabtui"
                    " writes that (its status edited?)")
        if status in STATUSES:
            return None
        return f"status {json.dumps(status)[:80]} is none of {', '.join(STATUSES)}"
    if os.path.lexists(path / "backup.json"):
        return "it cannot be read as a JSON object"
    try:
        foreign = sorted(n for n in os.listdir(path) if n not in RUN_NAMES and not RECORD_LEFTOVER.fullmatch(n))
    except OSError:
        foreign = []     # not to be listed: as data/ below says
    if foreign:
        return (f"missing, and it holds {json.dumps(foreign[0])[:80]}{' and more' if foreign[1:] else ''}, which no"
                " run of rabtui leaves (a directory of someone else's?)")
    try:
        with os.scandir(path / "data") as entries:
            empty = not any(True for _ in entries)
    except (FileNotFoundError, NotADirectoryError):
        empty = True
    except OSError:
        empty = False     # cannot tell: never taken for an empty run
    if empty:
        return None
    return "missing, but its data/ holds files: no run of rabtui left it so (was the file lost or moved?)"


def _failed_unsaid(info: dict) -> bool:
    """A record saying `failed` that no run writes: a run that fails says why, and marks the step it
    failed in (completion.py: one under way fails, those not begun are skipped); one that failed
    once its last step, 7, ended well fails that step as its final record cannot be written, and
    never rewrites a final record written. A record without a reason, its step 7 ended well and
    none failed, had its status changed since."""
    steps = info.get("steps")
    steps = [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
    return (info.get("reason") in (None, "")
            and any(s.get("step") == LAST_STEP and s.get("state") in ("ok", "warning") for s in steps)
            and not any(s.get("state") in ("failed", "running", "pending") for s in steps))


def _names_another(path: Path, info: dict) -> str | None:
    """Why a record is another backup's (copied in by hand from a neighbour's directory): its
    status, id, start and link base are that one's, not this directory's. A record that names no
    backup (edited) is taken as this directory's; its source is not checked: a source's directory
    renamed on the medium along with the config holds its own records still."""
    said = info.get("name")
    if isinstance(said, str) and said != path.name:
        return f"name {json.dumps(said)[:80]} is not its directory's: it is another backup's record"
    return None


RECORD_BYTES = 1 << 24   # a record of rabtui's on a medium is smaller: a larger one is none of its


def read_regular(path: Path, largest: int = RECORD_BYTES, own: bool = False) -> bytes:
    """The bytes of the record `path` when it is a regular file of a record's size (`largest`): a FIFO
    planted in its place would be waited on for ever (the backup's locks held), a symlink is not
    followed (to /dev/zero: all memory), and neither is a record; OSError otherwise. `own`: only a
    file of this user's or its directory's owner's (privacy.own_regular), privacy.NotOwn for
    another user's."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > largest:
            raise OSError(errno.EINVAL, "not a record of rabtui's")
        if own and not privacy.own_regular(st, os.stat(path.parent).st_uid):
            raise privacy.NotOwn(errno.EPERM, f"a file of user {privacy.user_named(st.st_uid)}, not of this one")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(largest + 1)
    finally:
        os.close(fd)


def backup_name(when: datetime) -> str:
    return "backup-" + when.strftime("%Y%m%d%H%M%S")


def make_backup_dir(medium_path: str | os.PathLike, source_id: str, when: datetime,
                    taken: set[str] = frozenset()) -> Path:
    """Create <medium>/<source>/backup-<YmdHis>[-N] (a new directory, never an existing one)."""
    root = source_root(medium_path, source_id)
    try:
        privacy.private_dir(root)
    except OSError as exc:
        raise WorkFailed(f"cannot create {root}: {exc.strerror}") from None
    base = backup_name(when)
    for n in range(1, 1000):
        name = base if n == 1 else f"{base}-{n}"
        if name in taken:
            continue
        path = root / name
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise WorkFailed(f"cannot create the backup directory {path}: {exc.strerror}") from None
        return path
    raise WorkFailed(f"too many backups named {base}-N in {root}")
