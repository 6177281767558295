"""What came off a checkpoint's discs checked against its catalog before anything is restored: each
file's sha256, each entry's kind, time, mode, owner (as root) and symlink target, and nothing that
the catalog does not hold."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from rabtui import fmt
from rabtui.checkpoint import closed_dirs, disc_tree
from rabtui.checkpoint.content import DIR_MARK, LINK_MARK, MARKS, SPECIAL_MARK, sha256_file
from rabtui.checkpoint.as_backed_up import beyond_disc, extracted_differs
from rabtui.errors import WorkFailed
from rabtui.restore import disc_owners


def extract_hint(why: str, number: int) -> str:
    """What to do when xorriso could not extract from a disc of checkpoint `number`, for `why`."""
    if "Operation not permitted" in why:   # root without a capability (in a container, say), not the disc
        return ("restoring it takes a privilege this process lacks (device nodes: CAP_MKNOD; trusted. and"
                " security. xattrs: CAP_SYS_ADMIN; file capabilities: CAP_SETFCAP; the modes and times of another"
                " user's files: CAP_FOWNER): restore as root with it, or from a backup on a medium (--backup),"
                " which restores the rest and names each thing it cannot")
    if ", xattr " in why:   # "Disk file '...' , xattr user.x 'No space left on device'"
        return ("the file system restored onto refuses that xattr (ext4 holds about 4 KiB of them a file; XFS,"
                " btrfs and tmpfs take values up to 64 KiB): restore onto one that takes it (--to)")
    return (f"`rabtui checkpoint verify {number}` tells whether its discs can still be read whole; other copies:"
            " a backup on a medium (--backup), another checkpoint (--checkpoint N)")


@contextmanager
def tree_bounded(store, number: int, disc: int, volid: str) -> Iterator[None]:
    """Within it, each xorriso reading disc `disc` of checkpoint `number` is stopped once it has
    read more entries of the disc's tree than the catalog holds there (disc_tree.py), which fails the
    restore naming the disc (`volid`): one whose tree loops, loaded without end, would otherwise end
    it only with xorriso's memory. Where the checkpoint was rebuilt from its discs (their filler not
    known), by the entries the disc's catalog lists, as rebuild-state counted them (none: unbounded)."""
    try:
        with disc_tree.bounded(_most(store, number, disc)):
            yield
    except disc_tree.TreeTooLarge as exc:
        raise WorkFailed(f"{volid} (checkpoint {number} disc {disc}) cannot be read: {exc}",
                         hint=extract_hint(str(exc), number)) from None


def _most(store, number: int, disc: int) -> int | None:
    if store.one("SELECT plan IS NULL AS rebuilt FROM checkpoints WHERE number=?", (number,))["rebuilt"]:
        listed = disc_tree.listed(store, number, disc)
        return None if listed is None else disc_tree.most_of(listed)
    return disc_tree.most(bytes(r["disc_path"]) for r in
                          store.all("SELECT disc_path FROM disc_files WHERE number=? AND disc=?", (number, disc)))


def in_tree(rel: bytes, path: bytes, is_file: bool) -> bytes:
    """Where the catalog's `path` (below the restored item `rel`) is in a disc's tree."""
    return os.path.basename(path) if is_file else path[len(rel):].lstrip(b"/")


def disc_name(r) -> str:
    return r["volid"] or f"disc {r['disc']}"


def check_file(path: bytes, r, sc, cancel, mode: int | None = None,
               listed: disc_owners.Listed | None = None) -> list[tuple[bytes, str]]:
    """[(name, what is wrong)] for an entry of the catalog whose copy extracted at `path` is not
    as it was backed up: a regular file whose content differs from the catalog's sha256 (read
    once, in chunks) or that did not come off the disc; any entry whose time, mode or symlink
    target differs (as_backed_up.attributes_differ). `mode`: the mode of a directory opened up
    (closed_dirs.py), as it came off the disc; `listed`: the mode and owner the disc lists for an
    entry whose owner the file system refused (disc_owners.py)."""
    if r["sha256"] is None:
        return []
    if r["sha256"] in MARKS:    # its kind: `unrecorded`
        try:
            st = disc_owners.as_listed(closed_dirs.as_extracted(os.lstat(sc.path(path)), mode), listed)
        except OSError:
            return []
        return _attributes(path, st, r, sc)
    try:
        fd = os.open(sc.path(path), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        return [(bytes(r["path"]), f"not read from {disc_name(r)} ({os.strerror(exc.errno or 0)})")]
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return [(bytes(r["path"]), f"not a file on {disc_name(r)}")]
    if sha256_file(fd, cancel) != r["sha256"]:     # it reads and closes fd
        return [(bytes(r["path"]), f"differs from the catalog on {disc_name(r)}")]
    return _attributes(path, disc_owners.as_listed(st, listed), r, sc)


def _attributes(path: bytes, st: os.stat_result, r, sc) -> list[tuple[bytes, str]]:
    link = None if r["link"] is None else bytes(r["link"])
    owner = None if r["uid"] is None else (r["uid"], r["gid"])
    # a symlink's owner, as root, is the one the disc lists (disc_owners.give)
    why = extracted_differs(st, lambda: os.readlink(sc.path(path)), r["mtime"], r["mode"], link, owner, True)
    return [(bytes(r["path"]), f"{why} on {disc_name(r)}")] if why else []


def own_time(path: bytes, r, sc) -> None:
    """An entry extracted at `path` whose time no disc holds (written as the nearest one it does) is
    given its own, the catalog's to the second (a symlink's time is set from the catalog anyway)."""
    if r["sha256"] != LINK_MARK and beyond_disc(r["mtime"]):
        st = os.lstat(sc.path(path))
        os.utime(sc.path(path), ns=(st.st_atime_ns, r["mtime"] * 1_000_000_000), follow_symlinks=False)


def unrecorded(trees: dict[int, bytes], rows, rel: bytes, is_file: bool, parts: dict, sc) -> list[tuple[bytes, str]]:
    """[(name, what is wrong)] for each entry that is not a directory, came off a disc and is not in
    the catalog there as that kind (a file or symlink planted on a disc of the same volume id, a
    file where a symlink was written): the sha256 of each recorded file says nothing of those."""
    expected: dict[int, dict[bytes, str | None]] = {disc: {} for disc in trees}
    for r in rows:
        path = bytes(r["path"])
        if r["parts"] and r["parts"] > 1:     # joined into the first part's tree under its own name
            if r["part"] == min(p["part"] for p in parts[path]):
                expected[r["disc"]][in_tree(rel, path, is_file)] = None
        elif r["sha256"] != DIR_MARK:
            under = os.path.basename(bytes(r["disc_path"])) if is_file else in_tree(rel, path, False)
            expected[r["disc"]][under] = r["sha256"] if r["sha256"] in MARKS else None
    out = []
    for disc, tree in trees.items():
        top = sc.path(tree)
        for dirpath, dirnames, filenames, dfd in os.fwalk(top):
            under = dirpath[len(top):].lstrip(b"/")
            for name in dirnames + filenames:
                mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    continue
                r = os.path.join(under, name) if under else name
                shown = os.path.join(os.path.dirname(rel) if is_file else rel, r) if r else rel
                if r not in expected[disc]:
                    out.append((shown, f"not in the checkpoint's catalog, yet on disc {disc}"))
                    continue
                kind = LINK_MARK if stat.S_ISLNK(mode) else None if stat.S_ISREG(mode) else SPECIAL_MARK
                if kind != expected[disc][r]:
                    out.append((shown, f"a {_KIND[kind]} on disc {disc}, where the catalog has a"
                                       f" {_KIND[expected[disc][r]]}"))
    return out


_KIND = {None: "file", LINK_MARK: "symlink", SPECIAL_MARK: "special file"}


def refuse_damaged(number: int, bad: list[tuple[bytes, str]]) -> None:
    shown = "; ".join(f"/{fmt.name(name)}: {why}" for name, why in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    raise WorkFailed(
        f"checkpoint {number}: {fmt.count(len(bad), 'file')} read from the discs {fmt.are(len(bad))} not what the catalog recorded"
        f" (sha256, time, mode, owner, symlink target), nothing was restored: {shown}{more}",
        hint="the disc is damaged, or is another server's disc with the same volume id; restore from another"
             " copy: a backup on a medium (--backup), or another checkpoint's disc (--checkpoint N);"
             f" `rabtui checkpoint verify {number}` checks the whole of each disc")
