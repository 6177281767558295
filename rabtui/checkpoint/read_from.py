"""Where each file of a checkpoint's disc is read on the media: below the root of its directory
as the plan recorded it, and, for an archive directory, in the backup that first saved the version
the checkpoint recorded (a backup may put a newer one into the union meanwhile)."""

from __future__ import annotations

import errno
import os
import stat

from rabtui.checkpoint import content, xattr_sum
from rabtui.checkpoint.as_backed_up import of_kind
from rabtui.checkpoint.layout import Row
from rabtui.errors import WorkFailed
from rabtui.media import below, medium_layout
from rabtui.mtimes import seconds
from rabtui.state import paths_below
from rabtui.state.store import RESTORABLE_SQL, Store

PART_SUFFIX_LEN = len(".part00-of-00")


class ChangedSincePlan(WorkFailed):
    """The backup changed after the plan so that the disc cannot pass its verification: writing it
    again does not help."""


def whole_path(r: Row) -> bytes:
    """The path on the discs of the entry `r` is, or is a part of (kept_off records a cut file whole)."""
    return r.disc_path[:-PART_SUFFIX_LEN] if r.part else r.disc_path


def _dirs(plan_json: dict) -> list[tuple[bytes, bytes, dict]]:
    """(disc prefix, root on the medium, plan entry) of each directory, longest prefix first."""
    dirs = [(os.fsencode(d["prefix"]), os.fsencode(d["root"]), d) for d in plan_json["dirs"]]
    return sorted(dirs, key=lambda t: -len(t[0]))


def _where(dirs: list[tuple[bytes, bytes, dict]], dp: bytes, part: int | None) -> tuple[bytes, dict | None, bytes]:
    """(path on the medium, plan entry, path below the directory) of a file on the disc."""
    for prefix, root, d in dirs:
        if dp.startswith(prefix + b"/"):
            rel = dp[len(prefix) + 1:]
            if part:
                rel = rel[:-PART_SUFFIX_LEN]
            return os.path.join(root, rel), d, rel
    return b"", None, b""


def load_rows(store: Store, number: int, disc: int | None = None, *, to_write: bool = False) -> list[Row]:
    """The files of a checkpoint (or of one disc). Read from the cursor, not fetched whole, and the
    few values many files have alike (source, mode, owner) held once: a disc may hold a million
    files. What only writing a disc needs is left out unless `to_write`: each file's original path
    (read_saved_versions), and where it is read on the medium (with_disk adds it)."""
    sql = ("SELECT disc, source, path, disc_path, size, mtime, sha256, part, parts, mode, link, link_group, uid, gid,"
           " rdev, xattr_sum, trusted_sum FROM disc_files WHERE number=?" + (" AND disc=?" if disc else "")
           + " ORDER BY disc, disc_path")
    alike: dict = {}
    rows = []
    parted: list[tuple[Row, bytes]] = []    # with the original path its parts' sizes are found by
    for d, source, path, dp, size, mtime, sha, part, parts, mode, link, group, uid, gid, rdev, xsum, tsum in store.execute(
            sql, (number, disc) if disc else (number,)):
        row = Row(d, alike.setdefault(source, source), bytes(path) if to_write else None, bytes(dp), size, mtime,
                  sha, part, parts, mode=alike.setdefault(mode, mode), link=None if link is None else bytes(link),
                  link_group=group, owner=None if uid is None else alike.setdefault((uid, gid), (uid, gid)), rdev=rdev,
                  xattr_sum=None if xsum is None else bytes(xsum), trusted_sum=None if tsum is None else bytes(tsum))
        rows.append(row)
        if part:
            parted.append((row, bytes(path)))
    if parted:
        sizes = _part_sizes(store, number)
        for row, path in parted:
            s = sizes[(row.source, path)]
            row.offset = sum(s[k] for k in range(1, row.part))
    return rows


def with_disk(plan_json: dict, rows: list[Row]) -> None:
    """Where each of `rows` is read on the medium, below the root of its directory as the plan
    recorded it, for those read_saved_versions did not put elsewhere."""
    dirs = _dirs(plan_json)
    for row in rows:
        if not row.disk:
            row.disk = _where(dirs, row.disc_path, row.part)[0]


def media_read(plan_json: dict, rows: list[Row]) -> dict[str, str]:
    """The media a disc's files are read from: medium id -> a directory read from it."""
    dirs = _dirs(plan_json)
    out: dict[str, str] = {}
    for row in rows:
        _disk, d, _rel = _where(dirs, row.disc_path, row.part)
        if d is not None:
            out.setdefault(d["medium"], f"{d['source']}:{d['path']}")
    return out


def _part_sizes(store: Store, number: int) -> dict[tuple[str, bytes], dict[int, int]]:
    sizes: dict[tuple[str, bytes], dict[int, int]] = {}
    for r in store.all("SELECT source, path, part, size FROM disc_files WHERE number=? AND part IS NOT NULL",
                       (number,)):
        sizes.setdefault((r["source"], bytes(r["path"])), {})[r["part"]] = r["size"]
    return sizes


def _original(d: dict, rel: bytes, row: Row) -> bytes:
    """The original path of `row` (loaded without it: load_rows), from its directory's and `rel` below it."""
    if row.path is not None:
        return row.path
    top = os.fsencode(d["path"].strip("/"))
    return os.path.join(top, rel) if top else rel


def read_saved_versions(store: Store, number: int, plan_json: dict, rows: list[Row], cancel=None, *,
                        strict: bool = True, away: dict[str, str] | None = None) -> int:
    """Before a disc is written: where each entry of an archive directory is read. A file from the
    backup that first saved the version the checkpoint recorded (the union's entry is a hard link
    to it while the union shows that version): a backup may put a newer version into the union
    while the disc is written, and xorriso opens each file only as it writes it. An entry that is
    no file (a symlink, a special file; xorriso reads them as it reads the command file) from the
    union when it shows it as recorded, else from a backup that holds it so; an empty directory the
    union lacks (kept data's, kept_entries.py) likewise. Returns how many the union holds otherwise
    now; raises WorkFailed if one is nowhere (not `strict`: it is read below the union's root, as
    with_disk says, for a verification to say it is not there). Nothing is read on the media of
    `away` (media_away.py): their entries are left where with_disk puts them."""
    dirs, away = _dirs(plan_json), away or {}
    whole = {key: sum(s.values()) for key, s in _part_sizes(store, number).items()}
    twins = _twins(store, plan_json)
    wanted: dict[str, tuple[dict, set[bytes]]] = {}    # per archive directory: the paths of its files here
    for row in rows:
        _disk, d, rel = _where(dirs, row.disc_path, row.part)
        if d is not None and d["kind"] == "archive" and d["medium"] not in away and row.sha256 not in content.MARKS:
            wanted.setdefault(d["prefix"], (d, set()))[1].add(_original(d, rel, row))
    first = {prefix: _first_saved(store, d, paths) for prefix, (d, paths) in wanted.items()}
    moved = 0
    held_in_order: dict[tuple[str, str], list[str]] = {}    # the restorable backups, newest first
    for row in rows:
        _disk, d, rel = _where(dirs, row.disc_path, row.part)
        if d is None or d["kind"] != "archive" or d["medium"] in away:
            continue
        row.disk = b""      # decided anew: a run that verified the disc first may have put it elsewhere
        path = _original(d, rel, row)
        size = whole.get((row.source, path), row.size)
        # a version the medium holds twice under one size and mtime is told apart by its content
        by_content = (path, size, row.mtime) in twins.get(d["medium"], ())
        union = os.fsencode(d["root"])
        if row.sha256 in content.MARKS and (row.sha256 != content.DIR_MARK or not _is_dir(union, rel)):
            # an empty directory the union holds is taken as it is there; one only kept data saved,
            # as a symlink or a special file, where a backup holds it as recorded: with the mode and
            # owner recorded too, where one does (a later backup saves a FIFO only chmod-ed anew,
            # its time the same, into the union), else the union's
            in_union = _as_recorded(union, rel, row, size, by_content, cancel)
            if in_union and _owned_as_recorded(union, rel, row):
                continue
            key = (row.source, d["medium"])
            if key not in held_in_order:
                held_in_order[key] = [b["path"] for b in store.all(
                    f"SELECT path FROM backups WHERE source=? AND medium=? AND status IN {RESTORABLE_SQL}"
                    " ORDER BY id DESC", key)]
            held = _held_in(held_in_order[key], d, rel, row, size, by_content, cancel)
            if in_union and (held is None or not _owned_as_recorded(held, rel, row)):
                continue
        elif row.sha256 == content.DIR_MARK:
            continue
        else:
            held = _held_in(first[d["prefix"]].get((path, size, row.mtime), ()), d, rel, row, size,
                            by_content, cancel)
            if held is None and _as_recorded(union, rel, row, size, by_content, cancel):
                continue     # its first backup is gone: the union's copy is the one left
        if held is None:
            if not strict:
                continue
            raise _gone(store, number, d, row, size)
        row.disk = os.path.join(held, rel)
        moved += below.exists(union, rel) and not _same_entry(union, held, rel)
    return moved


def sha256_as_scanned(store: Store, source: str, medium: str, dir_path: str, kind: str, disk: bytes, rel: bytes,
                      row: Row, size: int, cancel=None, whole=None) -> str:
    """The sha256 of the file (or part) `row` as a plan found it, `size` bytes whole at `disk`
    (`rel` below the directory's root there). An archive directory's union may show a newer
    version by now (a backup saved one while the plan waited for its yes): the version the plan
    found is then read in a backup that first saved it, as its disc will be (read_saved_versions);
    WorkFailed when none holds it any more. Never read through a symlink (one a source saved in its
    place, or on the way), nor a FIFO opened (it waits for a writer): only the regular file.
    `whole`: a hashlib object given a part's bytes too (fed each part in order: the whole file's sha256)."""
    for at in (disk, None):
        if at is None:
            entry = {"source": source, "medium": medium, "path": dir_path}
            held = _held_in(_first_saved(store, entry, {row.path}).get((row.path, size, row.mtime), ()), entry, rel,
                            row, size, False, cancel)
            if held is None:
                raise WorkFailed(f"{os.fsdecode(row.path)}: the version the plan found ({size} bytes, mtime"
                                 f" {row.mtime}) is no longer on medium {medium}; nothing was recorded",
                                 hint="plan the checkpoint again")
            at = os.path.join(held, rel)
        in_union = kind == "archive" and at is disk
        fd = _open_regular(at, rel, replaced_is_none=in_union)
        if fd is None:      # the union lost it meanwhile (a killed run's links undone), or another shape took its place
            continue
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if in_union and (st.st_size, seconds(st)) != (size, row.mtime):
            os.close(fd)
            continue
        if row.part is None:
            return content.sha256_file(fd, cancel)
        return content.sha256_range(fd, row.offset, row.size, whole)
    raise AssertionError("unreachable")


def _open_regular(at: bytes, rel: bytes, replaced_is_none: bool) -> int | None:
    """A descriptor of the regular file `at` (`rel` below the root it is in: no symlink followed
    below that root, and paths of any length). Gone, or no regular file (a symlink, a FIFO, a
    directory): None with `replaced_is_none`, else OSError."""
    cut = len(at) - len(rel) - 1
    root, rel = (at[:cut], rel) if cut > 0 and at[cut:] == b"/" + rel else os.path.split(at)
    try:
        fd = below.open_file(root, rel)
    except (FileNotFoundError, NotADirectoryError):
        if replaced_is_none:
            return None
        raise
    except OSError as exc:
        if exc.errno != errno.ELOOP or not replaced_is_none:
            raise
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    if replaced_is_none:
        return None
    raise OSError(errno.EINVAL, "not a regular file", os.fsdecode(at))


def _is_dir(root: bytes, rel: bytes) -> bool:
    if below.symlink_on_the_way(root, rel) is not None:
        return False
    try:
        return stat.S_ISDIR(below.lstat(root, rel).st_mode)
    except OSError:
        return False


def _first_saved(store: Store, d: dict, paths: set[bytes]) -> dict[tuple[bytes, int, int], list[str]]:
    """(path, size, mtime) of each version of these files that an archive directory saved on its
    medium -> the backups that first saved it, newest first (a version saved again after it was
    gone). Asked in batches: a disc's files only, never the whole directory's history."""
    out: dict[tuple[bytes, int, int], list[str]] = {}
    ordered = sorted(paths)
    for i in range(0, len(ordered), 500):
        batch = ordered[i:i + 500]
        for r in store.all("SELECT p.path, v.size, v.mtime, b.path AS backup FROM paths p JOIN versions v"
                           " ON v.path_id=p.id JOIN backups b ON b.id=v.first_backup WHERE p.source=? AND v.medium=?"
                           f" AND b.status IN {RESTORABLE_SQL} AND p.path IN ({','.join('?' * len(batch))})"
                           " ORDER BY b.id DESC", (d["source"], d["medium"], *batch)):
            out.setdefault((bytes(r["path"]), r["size"], r["mtime"]), []).append(r["backup"])
    return out


def _held_in(backups, d: dict, rel: bytes, row: Row, size: int, by_content: bool, cancel) -> bytes | None:
    """The directory's root in the first of `backups` (their paths) that holds `rel` as recorded,
    reached through no symlink from the medium down (one planted in place of its data/ would hand
    this server's file of the recorded size and time to the disc). One that holds it with the mode,
    owner, device numbers and xattrs recorded too comes first: a later backup saves an entry anew
    that was only chmod-ed, given other xattrs or (a device node) made again with other numbers (its
    size and time the same), and a disc written from that copy fails against the record."""
    first = None
    for path in backups:
        root = os.fsencode(medium_layout.backup_data_path(path, d["path"]))
        if medium_layout.symlink_to_copy(path, d["path"]) is None and below.symlink_on_the_way(root, rel) is None \
                and _as_recorded(root, rel, row, size, by_content, cancel):
            if len(backups) == 1 or _owned_as_recorded(root, rel, row):    # one: nothing to choose
                return root
            first = first or root
    return first


def _owned_as_recorded(root: bytes, rel: bytes, row: Row) -> bool:
    """Does `root/rel` have the mode, owner, device numbers and xattrs (their sum) the checkpoint
    recorded for `row` (where it did)?"""
    try:
        st = below.lstat(root, rel)
    except OSError:
        return False
    return ((row.mode is None or st.st_mode == row.mode)
            and (row.owner is None or (st.st_uid, st.st_gid) == tuple(row.owner))
            and (row.rdev is None or st.st_rdev == row.rdev)
            and (row.xattr_sum is None or not xattr_sum.changed(row.xattr_sum, xattr_sum.read_below(root, rel))))


def _same_entry(union: bytes, root: bytes, rel: bytes) -> bool:
    try:
        a, b = below.lstat(union, rel), below.lstat(root, rel)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _twins(store: Store, plan_json: dict) -> dict[str, set[tuple[bytes, int, int]]]:
    """Per medium, the (path, size, mtime) that the checkpoint's archive directories saved more
    than once there: a file rewritten with the same size and its mtime set to the same value (a
    fixed date from an archive or build tool)."""
    out: dict[str, set[tuple[bytes, int, int]]] = {}
    for d in plan_json["dirs"]:
        if d["kind"] != "archive":
            continue
        # below the directory, whichever one the catalog first knew the path in (/data made /data/photos)
        within, args = paths_below.below_sql("p.path", (d["path"],))
        for r in store.all("SELECT p.path, v.size, v.mtime FROM paths p JOIN versions v ON v.path_id=p.id"
                           f" WHERE p.source=? AND {within} AND v.medium=? GROUP BY v.path_id, v.size, v.mtime"
                           " HAVING COUNT(*) > 1", (d["source"], *args, d["medium"])):
            out.setdefault(d["medium"], set()).add((bytes(r["path"]), r["size"], r["mtime"]))
    return out


def _as_recorded(root: bytes, rel: bytes, row: Row, size: int, by_content: bool = False, cancel=None) -> bool:
    """Is `root/rel` what the checkpoint recorded for `row`: a regular file of that size (and, with
    `by_content`, that sha256), a symlink (to its target, where recorded), or a special file, with
    that mtime? (Paths of any length.)"""
    try:
        st = below.lstat(root, rel)
        target = below.readlink(root, rel) if stat.S_ISLNK(st.st_mode) and row.link is not None else None
    except OSError:     # gone meanwhile
        return False
    kind = of_kind(row, st.st_mode) and (
        target == row.link if row.sha256 == content.LINK_MARK and row.link is not None
        else row.sha256 in content.MARKS or st.st_size == size)
    if not kind or seconds(st) != row.mtime:
        return False
    if not by_content or row.sha256 in content.MARKS:
        return True
    try:
        fd = below.open_file(root, rel)
    except OSError:
        return False
    if row.part:
        return content.sha256_range(fd, row.offset, row.size) == row.sha256
    return content.sha256_file(fd, cancel) == row.sha256


def _gone(store: Store, number: int, d: dict, row: Row, size: int) -> WorkFailed:
    done = store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "completed"
    return ChangedSincePlan(
        f"{os.fsdecode(row.path)}: the version checkpoint {number} holds ({size} bytes, mtime {row.mtime}) is no"
        f" longer on medium {d['medium']}",
        hint=("this disc cannot be written again from the media; `rabtui checkpoint burn --now` makes a new"
              f" checkpoint, `rabtui checkpoint abandon {number}` gives up this one") if done else
             f"`rabtui checkpoint abandon {number}`, then `rabtui checkpoint burn` makes a new checkpoint")
