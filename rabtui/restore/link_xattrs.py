"""The xattrs of the symlinks restored from a disc, and their times (their owners: disc_owners.py).
osirrox (xorriso 1.5.4) extracts a symlink without them, though the disc holds them (trusted. and
security. ones, which only root sets on a symlink; an empty-valued one is set again from the
checkpoint's record, kept_off.py). As root, they are read from the disc with `-find -type l -exec
getfattr` and set on each restored link through a descriptor of the link itself, never on what it
points to. One whose name and value take 4,096 bytes or more together cannot be read from the disc
(disc_xattrs.LINKS_UNREAD): it is named."""

from __future__ import annotations

import os
import stat

from rabtui import fmt
from rabtui.checkpoint import disc_tree, shortpath
from rabtui.checkpoint.disc_xattrs import LINKS_UNREAD
from rabtui.checkpoint.xorriso_output import ACL_KEY, AttrsListing
from rabtui.errors import Stalled
from rabtui.events import WARNING, Emit, Event


def argv(indev: str, start: bytes) -> list[str]:
    """The xattrs of every symlink of the disc at or below `start`, as `getfattr -d` shows them
    (`indev`: xorriso's address of the disc, restore.disc_drive.address)."""
    return ["xorriso", "-no_rc", "-xattr", "any", "-indev", indev, "-backslash_codes", "encode_results",
            "-iso_rr_pattern", "off", "-find", os.fsdecode(start), "-type", "l", "-exec", "getfattr", "--", "-end"]


def restore(indev: str, start: bytes, target: bytes, rel: bytes, volid: str, cancel,
            silence: float | None = None) -> list[tuple[str, bytes, str]]:
    """Give the symlinks extracted from `start` (a disc path; `rel` below /) into `target` their
    xattrs from the disc; [(kind, name, why)] of those that could not be. `silence`: the seconds
    without output after which a hung drive's xorriso is stopped."""
    listing = AttrsListing()
    try:
        done = disc_tree.run(argv(indev, start), on_stdout=listing.take, cancel=cancel, silence=silence, busy=True)
    except Stalled as exc:
        return [("attribute", rel, f"the xattrs of its symlinks could not be read from {volid}: {exc}"
                                   f" (checkpoint.io_timeout)")]
    if not done.ok:
        return [("attribute", rel, f"the xattrs of its symlinks could not be read from {volid}"
                                   f" (exit {done.returncode})")]
    top = start.strip(b"/")
    failed = []
    listed, oversized = listing.done()
    for path, sizes in oversized.items():
        listed.setdefault(path, {})
        failed += [("attribute", _name(rel, top, path), f"an xattr of {value} bytes (its name {name_len}) on {volid},"
                                                        f" which no xorriso command reads back: {LINKS_UNREAD}")
                   for name_len, value in sizes]
    with shortpath.Shortcuts() as short:
        for path, attrs in sorted(listed.items()):
            attrs.pop(ACL_KEY, None)
            if not attrs or not (path == top or path.startswith(top + b"/")):
                continue
            link = short.path(target + b"/" + path[len(top):].lstrip(b"/") if path != top else target)
            failed += _set(link, attrs, _name(rel, top, path))
    return failed


def _name(rel: bytes, top: bytes, path: bytes) -> bytes:
    under = path[len(top):].lstrip(b"/")
    return os.path.join(rel, under) if under else rel


def _set(link: bytes, attrs: dict[bytes, bytes], shown: bytes) -> list[tuple[str, bytes, str]]:
    try:
        fd = os.open(link, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        return [("attribute", shown, f"its xattrs: {exc.strerror}")]
    failed = []
    try:
        if not stat.S_ISLNK(os.fstat(fd).st_mode):
            return []
        for name, value in sorted(attrs.items()):
            try:
                os.setxattr(b"/proc/self/fd/%d" % fd, name, value)
            except OSError as exc:
                failed.append(("attribute", shown, f"xattr {fmt.name(name)}: {exc.strerror}"))
    finally:
        os.close(fd)
    return failed


def set_times(start: bytes, target: bytes, mtimes: dict[bytes, int], held: dict[bytes, tuple[int, tuple[int, int]]],
              volid: str, emit: Emit) -> None:
    """Give the symlinks extracted from `start` (a disc path) into `target` their time (the
    catalog's, in whole seconds as on the disc); as root, warn of those whose owner was not
    listed from the disc (`held`, which disc_owners.give gave the others)."""
    as_root = os.geteuid() == 0
    unknown: list[bytes] = []
    with shortpath.Shortcuts() as short:
        for disc_path, mtime in mtimes.items():
            if disc_path != start and not disc_path.startswith(start + b"/"):
                continue
            link = short.path(target + disc_path[len(start):])
            if not os.path.islink(link):
                continue
            if as_root and disc_path not in held:
                unknown.append(disc_path)
            os.utime(link, (mtime, mtime), follow_symlinks=False)
    if unknown:
        emit(Event(WARNING, f"{volid}: the owner of {len(unknown)} symlinks was not found on the disc, they"
                            f" keep the restoring user's, e.g. {fmt.name(unknown[0])}"))
