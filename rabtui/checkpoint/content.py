"""What a checkpoint holds: the latest complete state of each directory, read from the media at
hand (the newest complete backup on a mounted medium; none mounted: the operator is asked).

Standard directories: `<backup>/data/<dir>` of the newest complete backup holding the directory.
Archive directories: the union tree `<medium>/<source>/.archive/<dir>` on that backup's medium
(every file ever saved there), with what kept data saved, never linked there (kept_data.py).
Never the sources themselves.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rabtui import fmt
from rabtui.checkpoint import (acl_names, holders, kept_data, kept_off, marks, not_as_saved, own_dirs, union_read,
                               xattr_sum, xorriso)
from rabtui.backup import recovery
from rabtui.checkpoint import union_as_saved
from rabtui.checkpoint.own_dirs import OwnDirs
from rabtui.checkpoint.marks import DIR_MARK, LINK_MARK, SPECIAL_MARK
from rabtui.media import medium_layout, mounting
from rabtui.media.at_hand import ask_in_turn, medium_problem
from rabtui.media.medium import labelled_nanoseconds
from rabtui.checkpoint.isosize import aaip_allowance, aaip_refused
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.config import Config
from rabtui.errors import UsageError, WorkFailed
from rabtui.events import ABORT, READY, SKIP, WARNING, Emit, Event, Question, no_emit
from rabtui.mtimes import seconds
from rabtui.state.catalog import rel_path
from rabtui.state.store import Store

INSERT_MEDIUM = "insert_medium"
MARKS = marks.MARKS   # the rows that are not regular files: DIR_MARK, LINK_MARK, SPECIAL_MARK


def locate(cfg: Config, store: Store, source: str, path: str, backup_id: int) -> tuple[str, Path]:
    """(medium id, root on the medium) of directory `path` in backup `backup_id`. An archive's union
    is read under its lock, settled (gather: union_read.as_complete)."""
    row = store.one("SELECT * FROM backups WHERE id=?", (backup_id,))
    kind = row and holders.kind_saved(store, backup_id, path, cfg.source(source).archive_paths)
    if kind is None:
        raise WorkFailed(f"backup {backup_id} of {source} does not hold {path}")
    if kind == "archive":
        medium = cfg.medium(row["medium"])
        root = medium_layout.archive_root(medium.path, source, path)
        # a symlink there a backup saved (union_settled refuses one planted), never read through
        link = medium_layout.symlink_to_union(medium.path, source, path)
        # (none there: a backup of it killed as it made way, union_place, between its two calls)
        if link is not None or _taken_by_another_entry(root) or not os.path.lexists(root):
            # a backup of a directory around it saved a FIFO, a file or a symlink there (the config
            # named that one then): the files saved up to this backup are read from the backups' own
            # trees (kept_data: those the union lost), this one's first, as a restore from the medium reads them
            own = medium_layout.backup_data_path(row["path"], path)
            if medium_layout.symlink_to_copy(row["path"], path) is None and own.is_dir():
                root = own
            elif link is not None:
                raise WorkFailed(f"backup {row['name']} of {source}: {path} is not read: {link} is a symlink a"
                                 " backup of a directory around it saved there, and nothing is read through it")
    else:
        planted = medium_layout.symlink_to_copy(row["path"], path)
        if planted is not None:
            raise WorkFailed(f"backup {row['name']} of {source}: " + medium_layout.planted_symlink(
                planted, f"{path} is not read through it (remove it, after checking what it points to)"))
        root = medium_layout.backup_data_path(row["path"], path)
    return row["medium"], Path(root)


def _taken_by_another_entry(root: Path) -> bool:
    """Does the union hold a file, FIFO or device at `root` (no symlink: refused where it is read)?"""
    try:
        mode = os.lstat(root).st_mode
    except OSError:
        return False
    return not stat.S_ISDIR(mode) and not stat.S_ISLNK(mode)


@dataclass
class Scanned:
    """A directory's tree as `scan` finds it, entry by entry (the lists run in step)."""

    paths: list[bytes] = field(default_factory=list)    # relative to the root; empty dirs and links too
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    marks: list[str | None] = field(default_factory=list)   # None: regular file; DIR_MARK; LINK_MARK; SPECIAL_MARK
    modes: list[int] = field(default_factory=list)          # st_mode as backed up
    owners: list[tuple[int, int]] = field(default_factory=list)   # (uid, gid) as backed up
    links: dict[int, bytes] = field(default_factory=dict)   # index of a symlink -> its target
    rdevs: dict[int, int] = field(default_factory=dict)     # index of a device node -> its st_rdev
    # index of an entry but a directory -> the sum of its xattrs (xattr_sum.py); none where unread
    xattr_sums: dict[int, bytes] = field(default_factory=dict)
    # ... the sum of its trusted.* xattrs, which only root reads: none of a plan made as another user
    trusted_sums: dict[int, bytes] = field(default_factory=dict)
    inodes: dict[int, tuple[int, int]] = field(default_factory=dict)    # index of a file with hard links -> (device, inode)
    skipped: list[bytes] = field(default_factory=list)      # sockets: osirrox does not extract them
    attr_bytes: int = 0             # what the xattrs and ACLs may add to the ISO (isosize.aaip_allowance); the rows
                                    # that record some in the state copy: placement.records_bytes
    attr_refused: list[tuple[bytes, str]] = field(default_factory=list)   # entries whose xattrs no disc takes
    # entries (the root too: b"") with xattrs of an empty value, carried beside the discs (kept_off.py)
    kept_off: dict[bytes, list[bytes]] = field(default_factory=dict)
    # directories (the root too: b"") with xattrs or ACLs: (st_mode, the xattrs a disc holds), recorded (dir_attrs.py)
    dir_attrs: dict[bytes, tuple[int, list[tuple[bytes, bytes]]]] = field(default_factory=dict)
    # index of an entry read elsewhere than below the root -> its path there (kept_data.py); and
    # those that kept data saved which its backup no longer holds as recorded (not on the discs)
    disks: dict[int, bytes] = field(default_factory=dict)
    kept_lost: list[bytes] = field(default_factory=list)
    kept_shadowed: list[bytes] = field(default_factory=list)   # below a symlink or file of the union (not on discs)
    kept_clashing: list[bytes] = field(default_factory=list)   # kept_data._clashing's (not on discs)
    # archive: the data/ folders of the backups its directories are read from (OwnDirs.used)
    own: list[bytes] = field(default_factory=list)

    def add(self, rel: bytes, st: os.stat_result, mark: str | None, size: int = 0) -> None:
        self.paths.append(rel)
        self.sizes.append(size)
        self.mtimes.append(seconds(st))
        self.marks.append(mark)
        self.modes.append(st.st_mode)
        self.owners.append((st.st_uid, st.st_gid))
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            self.rdevs[len(self.paths) - 1] = st.st_rdev


@dataclass(kw_only=True)
class DirContent(Scanned):
    """A directory a checkpoint takes: which backup's, where its latest state is, and its tree there."""

    source: str
    path: str                       # the directory on the source, e.g. "/etc"
    kind: str
    backup_id: int
    medium: str
    root: Path                      # where its latest state is on the medium
    backup_name: str = ""
    # what the backup could not read on the source (not on the discs: not_read.of_backup sets them)
    unread: list[str] = field(default_factory=list)
    unread_unnamed: int = 0
    unmade: list[str] = field(default_factory=list)    # of `unread`: not read on the source, not held on the medium

    @property
    def key(self) -> str:
        return f"{self.source}:{self.path}"

    @property
    def rel(self) -> bytes:
        return os.fsencode(self.path.strip("/"))

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)


class Unreadable(OSError):
    """A directory of the tree that `scan` cannot read (`rel` below the root, its `mode`)."""

    def __init__(self, rel: bytes, mode: int, why: str):
        super().__init__(why)
        self.rel, self.mode, self.why = rel, mode, why


def scan(root: Path, own: OwnDirs | None = None) -> Scanned:
    """Walk `root` in name order: files, symlinks (with their targets), FIFOs, device nodes and
    empty directories, as bytes relative to it; the sockets left out; and the bytes that xattrs
    and ACLs may take in the ISO. `own` (an archive's union): each directory's own mode, owner,
    times, ACLs and xattrs are read where it says, else in the union."""
    out = Scanned()
    base = os.fsencode(root)

    # depth first, names in byte order (no recursion: trees may be deep)
    stack: list[tuple[bytes, bytes]] = [(base, b"")]
    with Shortcuts() as short:
        while stack:
            dir_bytes, rel = stack.pop()
            dir_bytes = short.path(dir_bytes)
            try:
                with os.scandir(dir_bytes) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except PermissionError as exc:
                raise Unreadable(rel, os.lstat(dir_bytes).st_mode, exc.strerror) from None
            found = own.of(rel) if own is not None else None
            own_path = short.path(os.path.join(found[0], found[1])) if found is not None else dir_bytes
            if not entries and rel:
                out.add(rel, found[2] if found is not None else os.lstat(dir_bytes), DIR_MARK)
            subdirs = []
            _take_attrs(out, own_path, rel, directory=True)
            for e in entries:
                r = rel + b"/" + e.name if rel else e.name
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append((e.path, r))
                    continue
                attrs = _take_attrs(out, e.path, r)
                if attrs is not None and not stat.S_ISSOCK(st.st_mode):
                    out.xattr_sums[len(out.paths)] = xattr_sum.of(attrs)
                    if xattr_sum.as_root():
                        out.trusted_sums[len(out.paths)] = xattr_sum.trusted_of(attrs)
                if stat.S_ISREG(st.st_mode):
                    if st.st_nlink > 1:
                        out.inodes[len(out.paths)] = (st.st_dev, st.st_ino)
                    out.add(r, st, None, st.st_size)
                elif stat.S_ISLNK(st.st_mode):
                    try:
                        out.links[len(out.paths)] = os.readlink(e.path)
                    except OSError:     # gone meanwhile: the burn says so by name
                        pass
                    out.add(r, st, LINK_MARK)
                elif stat.S_ISSOCK(st.st_mode):
                    out.skipped.append(r)
                else:
                    out.add(r, st, SPECIAL_MARK)
            stack.extend(reversed(subdirs))
    # a file of a backup has other names in the backups beside it (--link-dest, the union): only
    # those of one inode within this directory are its hard links here
    names = Counter(out.inodes.values())
    out.inodes = {i: ino for i, ino in out.inodes.items() if names[ino] > 1}
    return out


def _take_attrs(out: Scanned, path: bytes, rel: bytes, directory: bool = False) -> list[tuple[bytes, bytes]] | None:
    """The room an entry's xattrs and ACLs may take on a disc, and why no disc takes them, if so;
    those of a directory, and those with an empty value, recorded. Its xattrs, as xattr_sum.read
    gives them (None: not read)."""
    attrs = xattr_sum.read(path)
    if not attrs:   # none, no xattrs on this file system, or gone meanwhile
        return attrs
    carried = kept_off.carried(attrs)
    out.attr_bytes += aaip_allowance(carried)     # those with an empty value are not on the disc
    if directory and carried:
        try:
            out.dir_attrs[rel] = (os.lstat(path).st_mode, carried)
        except OSError:   # gone meanwhile
            pass
    if empty := kept_off.empty_names(attrs):
        out.kept_off[rel] = empty
        if why := xorriso.too_long(carried):   # given from a list (kept_off.py), as to a part of a cut file
            out.attr_refused.append((rel, f"{why}, and it has one with an empty value (which no disc holds:"
                                          " the others are given to it as to a part of a file cut)"))
            return attrs
    if directory and xorriso.map_single_drops(n for n, _ in carried) and (why := xorriso.too_long(carried)):
        out.attr_refused.append((rel, f"{why}, and it has a trusted. or security. xattr (which xorriso gives a"
                                      " directory only from a list, as to a part of a file cut)"))
        return attrs
    if acl_names.by_id(carried) and not acl_names.refused(carried) and (why := xorriso.too_long(carried)):
        out.attr_refused.append((rel, f"{why}, and its ACL names a user or group by its id (a name with a space,"
                                      " tab or backslash: the others are given to it as to a part of a file cut)"))
        return attrs
    if why := aaip_refused(carried) or acl_names.refused(carried):
        out.attr_refused.append((rel, why))
    return attrs


def backup_at_hand(cfg: Config, store: Store, source: str, path: str, *, emit: Emit = no_emit,
                   prompter=None, cancel=None) -> int:
    """The backup a checkpoint takes directory `path` from: the newest complete one on a medium at
    hand (the newest complete state there). With none at hand: asks for each medium in turn,
    newest backup first, or (no `prompter`) says which to mount."""
    key = f"{source}:{path}"
    known = {m.id for m in cfg.media}
    newest: dict[str, object] = {}
    for r in holders.backups_holding(store, source, path):
        if r["medium"] in known:
            newest.setdefault(r["medium"], r)
    held = list(newest.values())
    if not held:
        raise WorkFailed(f"{key}: no complete backup on a configured medium")

    def problem(r) -> str | None:
        return read_problem(cfg.medium(r["medium"]), store)

    for r in held:
        if problem(r) is None:
            if r is not held[0]:
                emit(Event(WARNING, f"{key}: medium {held[0]['medium']} (its newest backup,"
                                    f" {held[0]['name']}) is not mounted: taken from {r['name']} on {r['medium']}"))
            return r["id"]
    where = ", ".join(f"{r['medium']} ({r['name']})" for r in held)
    if prompter is None:
        raise WorkFailed(f"{key}: no medium holding it is mounted; it is on {where} ({problem(held[0])})",
                         hint=f"mount medium {held[0]['medium']} at {cfg.medium(held[0]['medium']).path}")

    def question(r, k: int, n: int, why: str, following) -> Question:
        m = cfg.medium(r["medium"])
        then = f"skip to go on to medium {following['medium']}" if following else "skip to give up"
        return Question(INSERT_MEDIUM, f"The checkpoint reads {key} from medium {k} of {n} holding it:"
                                       f" {why}. Insert or mount medium {m.id} at {m.path} (backup {r['name']}),"
                                       f" then answer ready; {then}; abort to stop.", (READY, SKIP, ABORT),
                        {"medium": m.id, "path": m.path, "backup": r["name"], "copy": k, "copies": n})

    return ask_in_turn(held, problem, question, prompter, cancel, key)["id"]


def read_problem(medium, store: Store) -> str | None:
    """Why a checkpoint cannot read `medium` now (at_hand.medium_problem), its disk mounted first if
    it was plugged in since the checkpoint began."""
    mounting.mount_asked(medium)
    return medium_problem(medium, store)


def gather(cfg: Config, store: Store, source: str, path: str, backup_id: int, emit: Emit = no_emit,
           cancel=None) -> DirContent:
    """The directory's content in the backup; an archive's read in its union as the complete backups
    left it (union_read.as_complete: a wait for its lock said through `emit`, ended by `cancel`)."""
    row = store.one("SELECT medium FROM backups WHERE id=?", (backup_id,))
    if row is not None and holders.kind_saved(store, backup_id, path, cfg.source(source).archive_paths) == "archive":
        with union_read.as_complete(cfg, store, source, row["medium"], emit, cancel):
            return _gather(cfg, store, source, path, backup_id)
    return _gather(cfg, store, source, path, backup_id)


def _gather(cfg: Config, store: Store, source: str, path: str, backup_id: int) -> DirContent:
    medium, root = locate(cfg, store, source, path, backup_id)
    saved = store.one("SELECT name, path FROM backups WHERE id=?", (backup_id,))
    row = {"name": saved["name"], "kind": holders.kind_saved(store, backup_id, path, cfg.source(source).archive_paths)}
    if not root.is_dir():
        if row["kind"] == "standard" and saved["path"] and not os.path.isdir(saved["path"]) \
                and os.path.isdir(medium_layout.source_root(cfg.medium(medium).path, source)):
            raise WorkFailed(f"{source}:{path}: the directory of backup {saved['name']} on medium {medium},"
                             f" {fmt.name(saved['path'])}, is not there any more (renamed, moved or deleted by hand?)",
                             hint="put it back under its name, or run `rabtui rebuild-state` to record what the media"
                                  " hold")
        raise WorkFailed(f"{source}:{path}: {root} is not there (is medium {medium} mounted?)")
    covered = own_dirs.covered(store, source, medium, backup_id, path) if row["kind"] == "archive" else []
    own = OwnDirs(covered, os.fsencode(path.strip("/"))) if covered else None
    try:
        scanned = scan(root, own)
    except Unreadable as exc:
        # a backup made by a user other than root holds the directories closed on the source as
        # they were: xorriso could read neither them nor what is in them
        raise WorkFailed(f"{source}:{path}: cannot read {fmt.name(exc.rel or b'.')}"
                         f" (mode {stat.S_IMODE(exc.mode):04o}) in backup {row['name']} on medium {medium}:"
                         f" {exc.why.lower()}",
                         hint="a directory closed to the user rabtui runs as goes onto discs when root writes"
                              " the checkpoint") from None
    if row["kind"] == "standard":
        _refuse_not_as_saved(cfg, store, source, path, backup_id, scanned, root=root)
    if row["kind"] == "archive":    # what kept data saved is not in the union
        backup = store.one("SELECT * FROM backups WHERE id=?", (backup_id,))
        scanned.kept_lost = kept_data.add(store, scanned, backup, path, os.fsencode(root), _take_attrs, own)
        if root == medium_layout.archive_root(cfg.medium(medium).path, source, path):
            _refuse_not_as_saved(cfg, store, source, path, backup_id, scanned, union=True, own=own, root=root)
    scanned.own = own.used() if own is not None else []
    d = DirContent(source=source, path=path, kind=row["kind"], backup_id=backup_id, medium=medium,
                   root=root, backup_name=row["name"], **vars(scanned))
    if d.attr_refused:   # refused before anything is recorded (a filler candidate is left out)
        rel, why = d.attr_refused[0]
        raise UsageError(f"{d.key}: {fmt.count(len(d.attr_refused), 'entry')} {'holds' if len(d.attr_refused) == 1 else 'hold'} xattrs no disc can carry, e.g."
                         f" {os.fsdecode(rel or b'.')!r}: {why}",
                         hint="remove or shorten them (or that ACL's entry: setfacl -x) on the source (and back it up"
                              " again), or leave those entries out of the directory (exclude)")
    return d


def _refuse_not_as_saved(cfg: Config, store: Store, source: str, path: str, backup_id: int, scanned: Scanned,
                         union: bool = False, own: OwnDirs | None = None, root: Path | None = None) -> None:
    """Refuse the directory when its medium holds files of the backup otherwise than it saved them
    (not_as_saved; `union`: an archive's union, scanned with kept data merged, its `own` directories
    in the backups' trees: union_as_saved; `root`: the directory's copy or union, where its symlinks
    and device nodes are read for where they point)."""
    top = rel_path(path) + b"/"
    inner = [d.path for d in cfg.source(source).directories if rel_path(d.path).startswith(top)]
    backup = store.one("SELECT * FROM backups WHERE id=?", (backup_id,))
    # times compared only where the medium holds them as rsync set them (not vfat's 2 s, local time);
    # a union holds files of backups of any time
    exact = labelled_nanoseconds(cfg.medium(backup["medium"]), None if union else backup["started"])
    times = scanned.mtimes if exact else None
    killed = _killed_in_step7(store, backup) if union else None
    if union:
        lost = union_as_saved.found(store, backup, path, inner, scanned, times is not None, own, killed is None,
                                    None if root is None else os.fsencode(root))
    else:
        lost = not_as_saved.found(store, backup, path, inner, scanned.paths, scanned.sizes, scanned.marks, times,
                                  scanned.modes, scanned.skipped, None if root is None else os.fsencode(root),
                                  {scanned.paths[i]: target for i, target in scanned.links.items()})
    if not lost:
        return
    hint = f"the next backup of {source} copies them anew from the source, and the checkpoint then takes that backup"
    if union:   # the archive keeps files the source removed: no backup copies those anew
        hint = (f"the next backup of {source} copies anew those the source still has, and the checkpoint then takes"
                " that backup; one it no longer has is on its other copies alone (`rabtui find NAME` lists them):"
                " taken out of the archive's union on the medium by hand, it is left off the discs, said")
        if all(why == union_as_saved.PUT_THERE for _, why in lost):
            hint = union_as_saved.REMOVE_THEM.format(medium_layout.archive_root(cfg.medium(backup["medium"]).path, source, path))
        if killed:
            hint = (f"backup {killed} of {source} on medium {backup['medium']}, running or killed, linked its new"
                    f" files into the union: once it ends, or the next backup of {source} (or `rabtui cleanup`)"
                    f" recovers it, the checkpoint takes the union as it leaves it")
    raise WorkFailed(not_as_saved.said(f"{source}:{path}", backup, lost, killed), hint=hint)


def _killed_in_step7(store: Store, backup) -> str | None:
    """The name of a run of the backup's source on its medium, after it, still `running` once its
    step 7 began: killed, it may have linked its files into the union (recovery undoes or keeps them)."""
    for row in store.all("SELECT * FROM backups WHERE source=? AND medium=? AND status='running' AND id>?"
                         " ORDER BY id", (backup["source"], backup["medium"], backup["id"])):
        if recovery.step7_began(store, row):
            return row["name"]
    return None


def sha256_file(path: bytes | str | int, cancel=None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            if cancel is not None and cancel.is_set():
                from rabtui.errors import Cancelled

                raise Cancelled("cancelled while computing checksums")
            chunk = f.read(1 << 20)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


def sha256_range(path: bytes | str | int, offset: int, length: int, also=None) -> str:
    """The sha256 of `length` bytes at `offset`; `also` (a hashlib object) is given them too: the
    whole file's, of a file read part by part, in the one read."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = length
        while left > 0:
            chunk = f.read(min(1 << 20, left))
            if not chunk:
                break
            h.update(chunk)
            if also is not None:
                also.update(chunk)
            left -= len(chunk)
    return h.hexdigest()
