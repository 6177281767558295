"""The files of an archive directory's union that its medium no longer holds as the complete backup
that saved them left them: of another size (emptied by a crash, written into in place), of its size
but another time (told only on a medium that keeps times as rsync set them), or a symlink, FIFO,
device or directory in the place of a file (one not empty holds files the catalog does not know,
which would go onto the discs). So are the symlinks, FIFOs and device nodes it shows (the catalog's
`others`) where it holds another kind of entry now; one it lost with nothing in its place (rsync -r,
a copy of the medium, leaves them out in silence) is read from the backup that saved it, as such a
file is (kept_data). The union's entries are hard links of the
backups' own files: one written into is so in the backup that saved it too, and a checkpoint would
have put it on its discs and verified them against it.

Each union entry is compared with the newest version a complete backup saved at its path up to the
one the checkpoint reads (catalog.archive_as_of). Not told: a path whose newest version kept data
saved, or whose newest entry kept data saved (read from its backup); an entry
read elsewhere than in the union (kept_data: `disks`); a directory where a backup after the one
that saved the file holds a directory there in its own tree (a newer shape of the path whose files
the catalog does not show, as an empty directory in it: own_dirs.dir_saved_after); a file the union lost (kept_data reads it from the backup that saved it)."""

from __future__ import annotations

from rabtui.checkpoint.marks import DIR_MARK
from rabtui.checkpoint.not_as_saved import changed
from rabtui.checkpoint.own_dirs import OwnDirs, backup_dirs, dir_saved_after
from rabtui.media import points_to
from rabtui.state import catalog, others, shapes
from rabtui.state.catalog import rel_path
from rabtui.state.known_paths import known
from rabtui.state.others import complete_ids
from rabtui.state.store import Store


# why an entry of the union no complete backup up to the one read saved is named
PUT_THERE = "not saved by any backup up to this one: put there since"
REMOVE_THEM = ("no backup saved them, and no backup takes them out of the archive's union on the medium: remove them"
               " there ({}), after looking at what they are")


def found(store: Store, backup, path: str, inner: list[str], scanned, times: bool,
          own: OwnDirs | None = None, settled: bool = True, root: bytes | None = None) -> list[tuple[bytes, str]]:
    """(path on the source without its first /, why) of each entry of `scanned` (content.Scanned of
    the union of directory `path`, kept data merged) that is not the file the newest complete
    backup saving it up to `backup` saved there; `inner`: configured directories inside it, read on
    their own. `times`: the medium keeps times as rsync set them. `own` (own_dirs.OwnDirs): a
    directory in a file's place (empty, or holding entries the catalog does not know) is that
    file's newer shape where a backup after the one that saved the file holds a directory there
    (dir_saved_after); not looked at without it. An entry of no directory's place that the catalog
    does not know at all (a newer backup's, completed while the plan waited for it, it knows), no
    directory itself, is one no backup saved (put into the union since: PUT_THERE), told where `own`
    is and the union `settled` (no run after the backup linked files into it and has not ended, or
    been recovered: those are its files). `root`: the union's, where a symlink or device node it
    shows must point where the backup that saved it recorded (points_to)."""
    top = rel_path(path)
    versions = catalog.archive_as_of(store, backup, (path,), top, others_too=True)
    linked = complete_ids(store, backup)
    folders = backup_dirs(store, backup)
    savers = {r["id"]: f"backup {r['name']}" for r in store.all(
        "SELECT id, name FROM backups WHERE source=? AND medium=?", (backup["source"], backup["medium"]))}
    skip = [rel_path(d) + b"/" for d in inner]
    at = top + b"/" if top else b""
    # the symlinks, FIFOs and device nodes it shows: path -> the catalog's letter
    kinds = {full: e[0] for full, e in others.archive_as_of(store, backup, path, top).items()
             if (v := versions.get(full)) is not None and v[0] is None and v[2] == e[2]} \
        if any(v[0] is None for v in versions.values()) else {}
    pointing = others.saved_pointing(store, backup, path, top) if kinds and root is not None else {}
    out, placed, unknown = [], set(), []
    entries_known = others.recorded(store, backup, union=True)     # else its symlinks, FIFOs, ... are not told
    for i, rel in enumerate(scanned.paths):
        full = at + rel
        version = versions.get(full)
        if version is None and own is not None and i not in scanned.disks:
            # an entry the catalog does not know, in a directory put where the newest saved is a file?
            entry, full = full, next((up for up in shapes.on_the_way(full) if up in versions and up.startswith(at)), None)
            if full is None and settled and (scanned.marks[i] is None or (entries_known and scanned.marks[i] != DIR_MARK)) \
                    and not (skip and any((entry + b"/").startswith(s) for s in skip)):
                unknown.append(entry)
            if full is None or full in placed:
                continue
            placed.add(full)
            version, mark = versions[full], DIR_MARK
        elif version is None or i in scanned.disks:
            continue
        else:
            mark = scanned.marks[i]
        if version[2] not in linked or (mark == DIR_MARK and own is None) \
                or (skip and any((full + b"/").startswith(s) for s in skip)):
            continue
        saver = savers.get(version[2]) or f"backup {version[2]}"
        if version[0] is None:      # a symlink, FIFO or device node saved there
            kind = kinds.get(full)
            what = f"the {others.NAMES.get(kind, 'entry')} {saver} saved"
            if mark == DIR_MARK:
                if not dir_saved_after(own, folders, full, version[2]):
                    out.append((full, f"a directory is in the place of {what}"))
            elif kind is not None and (mark is None or not others.of_kind(kind, scanned.modes[i])):
                out.append((full, f"another kind of entry is in the place of {what}"))
            elif (saved := pointing.get((full, version[2]))) and (why := points_to.differs(
                    (scanned.links.get(i), None) if saved[0] == points_to.SYMLINK else points_to.held(root, rel, saved[0]),
                    saved[1:])):
                out.append((full, why.replace("the backup", saver, 1)))
            continue
        if mark == DIR_MARK:
            if not dir_saved_after(own, folders, full, version[2]):
                out.append((full, f"a directory is in the place of the file {saver} saved"))
        elif mark is not None:
            out.append((full, f"another kind of entry is in the place of the file {saver} saved"))
        elif why := changed(saver, *version[:2], scanned.sizes[i], scanned.mtimes[i] if times else None):
            out.append((full, why))
    if unknown:
        found = known(store, backup["source"], unknown)
        out += [(entry, PUT_THERE) for entry in unknown if entry not in found]
    return out
