"""Whether a medium still holds a standard directory's files as the backup saved them: the catalog
says which files a backup holds, and their sizes; the medium may have lost some since (an fsck, a
hand, another server removed them) or hold them at another size (emptied by a crash before their
data reached the disk, written into in place). A restore names those, never passing them over, and
leaves out those of another size. So of its symlinks, FIFOs and device nodes (the catalog's
`others`): one gone, or another kind of entry in its place, is named, never passed over. A file,
symlink or special file the backup never saved (put into its tree on the medium since) is left out,
named (put_there)."""

from __future__ import annotations

import errno
import os
import stat
from itertools import chain

from rabtui import fmt
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.config import Source
from rabtui.errors import WorkFailed
from rabtui.media import points_to
from rabtui.mtimes import as_recorded, seconds
from rabtui.restore.copies import directory_of
from rabtui.restore.written import kind_of
from rabtui.state import catalog, others
from rabtui.state.catalog import rel_path
from rabtui.state.store import Store


def lost_on_medium(store: Store, source: Source, backup, rel: bytes, item: bytes,
                   sc: Shortcuts, times: bool = False) -> tuple[list[tuple[str, bytes, str]], "AsSaved | None"]:
    """The files of a standard directory that the catalog says the backup holds at or below `rel`
    (at `item` on its medium) and that the medium no longer has (an fsck, a hand, another server
    removed them): named as not restored, never passed over; and the copy_into `pick` that leaves
    out, and names, each one it holds at another size than the backup saved (a file alone: the
    restore fails here). An archive's are looked for by as_of. Each directory on the medium is
    listed once, not each file looked up by its path. `times`: the medium keeps times as rsync set
    them (labelled_nanoseconds): a file of its size but another mtime is another file as well (written
    into in place, another one hard-linked in its place), as a checkpoint's plan finds it."""
    d = directory_of(source, rel)
    if d.kind != "standard":
        return [], None
    top = os.lstat(sc.path(item))
    kind = others.held(store, backup, rel).get(rel)
    if kind is not None and not others.of_kind(kind, top.st_mode):
        # a symlink, FIFO or device node the backup saved: a file or a directory put in its place
        raise WorkFailed(f"/{fmt.name(rel)}: {other_kind(backup, kind)}", hint=OTHER_COPIES)
    if kind is not None:
        saved = others.pointing(store, backup, rel).get(rel)
        where, name = os.path.split(sc.path(item))
        if saved is not None and (why := points_to.elsewhere(where, name, *saved)):
            raise WorkFailed(f"/{fmt.name(rel)}: {why}: {NOT_AS_THERE}", hint=OTHER_COPIES)
        return [], None
    if not stat.S_ISDIR(top.st_mode):      # a file: it is there
        saved_below = catalog.contents(store, backup, prefix=rel, own=True)
        saved = saved_below.get(rel)
        if not stat.S_ISREG(top.st_mode) and (saved is not None or any(p.startswith(rel + b"/") for p in saved_below)):
            # a symlink put in the place of a file or a directory the backup saved
            raise WorkFailed(f"/{fmt.name(rel)}: {gone(backup)}: another kind of entry is there in its place",
                             hint=OTHER_COPIES)
        if saved is None and not saved_below and (stat.S_ISREG(top.st_mode) or others.recorded(store, backup)):
            raise WorkFailed(f"/{fmt.name(rel)}: {put_there(backup)}", hint=OTHER_COPIES)
        size, mtime = saved or (top.st_size, seconds(top))
        if stat.S_ISREG(top.st_mode) and size != top.st_size:
            raise WorkFailed(f"/{fmt.name(rel)}: {other_size(backup, top.st_size, size)}", hint=OTHER_COPIES)
        if stat.S_ISREG(top.st_mode) and times and not as_recorded(seconds(top), mtime):
            raise WorkFailed(f"/{fmt.name(rel)}: {other_time(backup, seconds(top), mtime)}", hint=OTHER_COPIES)
        return [], None
    # configured directories of their own inside this one
    inner = [r + b"/" for r in (rel_path(o.path) for o in source.directories) if len(r) > len(rel_path(d.path))]
    by_dir: dict[bytes, list[tuple[bytes, bytes]]] = {}    # directory below `item` -> (name, path below it)
    at = rel + b"/" if rel else b""
    pick = AsSaved(backup, times, [r[len(at):] for r in inner if r.startswith(at)])
    pick.entries_known = others.recorded(store, backup)
    # its files (their size and mtime), then its symlinks, FIFOs and device nodes (their kind)
    files = ((path, version, None) for path, version in catalog.contents(store, backup, prefix=rel, own=True).items())
    entries = ((path, None, kind) for path, kind in others.held(store, backup, rel).items())
    for path, version, kind in chain(files, entries):
        if inner and any((path + b"/").startswith(r) for r in inner):
            continue
        below = path[len(rel):].lstrip(b"/")
        parent, _, name = below.rpartition(b"/")
        if name:
            by_dir.setdefault(parent, []).append((name, below))
            if kind is None:
                pick.sizes[below], pick.mtimes[below] = version
            else:
                pick.others[below] = kind
            while parent and parent not in pick.dirs:
                pick.dirs.add(parent)
                parent = parent.rpartition(b"/")[0]
    for parent in pick.dirs | {b""}:     # each directory on the way, listed for entries put there too
        by_dir.setdefault(parent, [])
    lost = []
    for parent, entries in by_dir.items():
        where = os.path.join(item, parent) if parent else item
        try:
            sizes, modes = _files_in(sc.path(where))
        except (FileNotFoundError, NotADirectoryError):
            sizes, modes = {}, {}
        except OSError as exc:
            if exc.errno == errno.ELOOP:    # a symlink in the directory's place: it holds none of them
                sizes, modes = {}, {}
            else:   # not to be listed here: each looked up, as the restore will
                sizes = {n: None for n, _ in entries if _there(sc.path(os.path.join(where, n)))}
                modes = {}
        for name, below in entries:
            kind = pick.others.get(below)
            mode = modes.get(name)
            if kind is None:
                if name not in sizes:
                    lost.append(("file", below, gone(backup)))
            elif name in sizes:     # a file in its place (or not listed): the walk leaves it out, named
                pick.changed = pick.changed or sizes[name] is not None
            elif mode is None or stat.S_ISDIR(mode):
                lost.append((others.NAMES.get(kind, "special file"), below, gone(backup)))
            elif not others.of_kind(kind, mode):
                lost.append((others.NAMES.get(kind, "special file"), below, other_kind(backup, kind)))
        pick.changed = pick.changed or any(sizes[name] is not None and below in pick.sizes
                                           and not pick.as_saved(below, *sizes[name])
                                           for name, below in entries if name in sizes)
        # an entry the backup did not save, beside those it did: left out by the pick, named
        names = {name for name, _ in entries}
        pick.changed = pick.changed or any(name not in names for name in sizes) \
            or any(name not in names and not stat.S_ISDIR(mode) and pick.entries_known for name, mode in modes.items())
        # a directory holding no entry the backup saved: one put there holding any is left out, named
        pick.changed = pick.changed or any(
            stat.S_ISDIR(mode) and (below := os.path.join(parent, name)) not in pick.dirs
            and not pick._inside_inner(below) and _holds_entries(sc.path(os.path.join(where, name)), below, pick)
            for name, mode in modes.items())
    for path, (kind, target, rdev) in others.pointing(store, backup, rel).items():
        below = path[len(rel):].lstrip(b"/")
        if below in pick.others and not (inner and any((path + b"/").startswith(r) for r in inner)) \
                and (why := points_to.elsewhere(sc.path(item), below, kind, target, rdev)):
            lost.append((others.NAMES.get(kind, "special file"), below, f"{why}: {NOT_AS_THERE}"))
            pick.elsewhere.add(below)
            pick.changed = True
    return [(kind, os.path.join(rel, below), why) for kind, below, why in sorted(lost, key=lambda x: x[1])], pick


NOT_AS_THERE = "not restored as it is there now"
# where a file the medium holds otherwise than saved may be found still
OTHER_COPIES = ("`rabtui find NAME` lists the other copies of it (older backups, other media, discs):"
                " `rabtui restore --backup NAME` or `--checkpoint N` takes one")


def gone(backup) -> str:
    """Why a file the medium no longer holds as a file (gone, a symlink in its place) is named."""
    return f"not on medium {backup['medium']} any more, though backup {backup['name']} held it"


def put_there(backup) -> str:
    """Why an entry of a standard directory's backup on the medium that the backup did not save (put
    into its tree since, by hand or by another program) is left out."""
    return (f"not saved by backup {backup['name']}: put there on medium {backup['medium']} since,"
            " not restored as if it were")


def other_kind(backup, kind: int) -> str:
    """Why an entry where `backup` saved a symlink, FIFO or device node (the catalog's letter
    `kind`) is left out: it is of another kind."""
    return (f"another kind of entry is there in the place of the {others.NAMES.get(kind, 'special file')} backup"
            f" {backup['name']} saved: not restored as it is there now")


def other_time(backup, now: int, mtime: int) -> str:
    """Why a file the medium holds at the size `backup` saved but modified at `now` (seconds), where
    it saved it as of `mtime`, is left out."""
    return (f"modified at {fmt.utc(now)} on medium {backup['medium']}, where backup {backup['name']} saved it as of"
            f" {fmt.utc(mtime)} (written into, or another file put in its place, since): not restored as it is there now")


def other_size(backup, now: int, size: int, saved_by: str | None = None) -> str:
    """Why a file the medium holds at `now` bytes, where the catalog says `backup` (or, in an
    archive directory, the backup named `saved_by` before it) saved `size`, is left out."""
    return (f"{now} bytes on medium {backup['medium']}, where backup {saved_by or backup['name']} saved {size}:"
            f" not restored as it is there now")


class LeftOut:
    """What a copy_into `pick` leaves out of the files the walk finds, each named once with why,
    by its path below the item: the medium holds it as another file than the backup saved."""

    def __init__(self):
        self._left_out: dict[bytes, tuple[str, str]] = {}

    def leave_out(self, rel: bytes, why: str, kind: str = "file") -> None:
        self._left_out[rel] = kind, why

    def left_out(self):
        """(kind, path below the item, why) of each left out ("file", or another entry's name), as
        unseen() gives what is lost: read when copy_into reads them, after the walk that adds to them."""
        for under, (kind, why) in self._left_out.items():
            yield kind, under, why


class AsSaved(LeftOut):
    """A copy_into `pick` that takes each regular file below the item as the walk finds it, but one
    of another size than the backup saved (by its path below the item), or of another mtime where
    `times` says the medium keeps them, which it names instead (`unseen`). `changed`: whether one
    was so when the directories were listed."""

    def __init__(self, backup, times: bool = False, inner: list[bytes] = ()):
        super().__init__()
        self.backup = backup
        self.times = times
        self.inner = inner      # configured directories below the item ("NAME/"), read on their own
        self.entries_known = True   # the catalog holds the symlinks and special files it saved (others.recorded)
        self.sizes: dict[bytes, int] = {}
        self.mtimes: dict[bytes, int] = {}
        self.dirs: set[bytes] = set()      # the directories below the item that hold files saved
        self.others: dict[bytes, int] = {}  # the symlinks, FIFOs and device nodes saved -> their letter
        self.elsewhere: set[bytes] = set()  # those of them the medium holds pointing elsewhere
        self.changed = False

    def __call__(self, rel: bytes, path: bytes, st: os.stat_result):
        if rel in self.others:
            return self.leave_out(rel, other_kind(self.backup, self.others[rel]))
        size = self.sizes.get(rel)
        if size is None and not self._inside_inner(rel):
            return self.leave_out(rel, put_there(self.backup))
        if size is None or self.as_saved(rel, st.st_size, seconds(st)):
            return path, st
        if size != st.st_size:
            return self.leave_out(rel, other_size(self.backup, st.st_size, size))
        return self.leave_out(rel, other_time(self.backup, seconds(st), self.mtimes[rel]))

    def as_saved(self, rel: bytes, size: int, mtime: int) -> bool:
        """Is a file at `rel` of `size` and `mtime` (seconds) the one the backup saved there?"""
        return size == self.sizes[rel] and (not self.times or as_recorded(mtime, self.mtimes[rel]))

    def not_saved(self, rel: bytes, _path: bytes) -> bool:
        """Is the entry at `rel` (no regular file, no directory) where the backup saved a regular
        file, or a directory holding some? It is not what the backup saved (a symlink put in its
        place on the medium since, maybe to a file off it): left out, its files named as lost by
        lost_on_medium; so is one of another kind where the backup saved a symlink, FIFO or device
        node, and a symlink or device node pointing elsewhere than saved (`elsewhere`)."""
        if rel in self.elsewhere:
            return True
        kind = self.others.get(rel)
        if kind is not None:
            try:
                return not others.of_kind(kind, os.lstat(_path).st_mode)
            except OSError:     # gone meanwhile: the copy says so
                return False
        if rel in self.sizes or rel in self.dirs:
            return True
        if self._inside_inner(rel) or not self.entries_known:
            return False
        try:
            kind = kind_of(os.lstat(_path).st_mode)
        except OSError:     # gone meanwhile: the copy says so
            return False
        self.leave_out(rel, put_there(self.backup), kind)
        return True

    def _inside_inner(self, rel: bytes) -> bool:
        return bool(self.inner) and any((rel + b"/").startswith(i) for i in self.inner)

    def unseen(self):
        """No entry the walk does not see; the files it left out (left_out, read after the walk
        that adds to it), as AsOf.unseen gives them."""
        return [], self.left_out()


def _files_in(path: bytes) -> tuple[dict[bytes, tuple[int, int]], dict[bytes, int]]:
    """The names of the regular files in the directory `path` (itself no symlink), as its listing
    tells their kinds (a symlink or anything else in the place of a file the backup saved is not
    it), with their sizes and mtimes (seconds); and the st_mode of each of its other entries."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    out, modes = {}, {}
    try:
        with os.scandir(fd) as listing:
            for e in listing:
                try:
                    if e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        out[os.fsencode(e.name)] = (st.st_size, seconds(st))
                    else:
                        modes[os.fsencode(e.name)] = e.stat(follow_symlinks=False).st_mode
                except OSError:      # gone since it was listed: not there
                    continue
    finally:
        os.close(fd)
    return out, modes


def _holds_entries(path: bytes, below: bytes, pick: "AsSaved") -> bool:
    """Whether the directory `path` (`below` the item) holds anything but directories (only regular
    files, where the catalog lacks the backup's symlinks and special files: AsSaved.entries_known),
    those of the configured directories inside it (read on their own) left out; True where it
    cannot be listed (the copy looks at it, and says why)."""
    try:
        for dirpath, dirnames, filenames, dfd in os.fwalk(path, onerror=_raise):
            at = os.path.join(below, dirpath[len(path):].lstrip(b"/"))
            if any(pick.entries_known or stat.S_ISREG(os.lstat(name, dir_fd=dfd).st_mode) for name in filenames) \
                    or (pick.entries_known and any(stat.S_ISLNK(os.lstat(name, dir_fd=dfd).st_mode) for name in dirnames)):
                return True
            dirnames[:] = [name for name in dirnames if not pick._inside_inner(os.path.join(at, name))]
    except OSError:
        return True
    return False


def _raise(exc: OSError) -> None:
    raise exc


def _there(path: bytes) -> bool:
    """False only when `path` is not there; True when it cannot be looked at (the copy says why)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        pass
    return True
