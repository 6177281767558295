"""The xattrs of symlinks and special files rsync copied from the --link-dest base (or an archive's
--compare-dest union). Where such an entry's mode, owner or time alone changed on the source, rsync
(3.5.0) makes it anew from the base's (`cLc`, `cSc`, `cDc` without `x`) and sets no xattr on it: they
are the base's, it compares them with the source's and finds nothing to do. So a symlink's SELinux
label, or any trusted.* or security.* xattr of a symlink, FIFO, socket or device node, was lost from
the new backup (and an archive's union). Each is given here the xattrs of the base's entry of the
same kind, read and written part by part below the medium's directories (never through a symlink)."""

from __future__ import annotations

import os
import stat

from rabtui.media import below

# rsync -X carries them all as root (system.* are the ACLs, -A's), user.* only otherwise, which a
# symlink or special file cannot hold
_KEPT = (b"system.",)


def copied(code: bytes) -> bool:
    """Is the itemized `code` of a symlink or special file one that rsync made from the base's
    entry, its xattrs not set (no `x`)? `cLc.t......`, not a new one (`cL+++++++++`)."""
    return code[0] == ord("c") and code[2] != ord("+") and code[10:11] != b"x"


def _entry(root: bytes, rel: bytes) -> tuple[int, bytes, os.stat_result]:
    parent, name = os.path.split(rel)
    fd = below.open_dir(root, parent)
    try:
        return fd, name, os.stat(name, dir_fd=fd, follow_symlinks=False)
    except BaseException:
        os.close(fd)
        raise


def settle(dest: os.PathLike, base: os.PathLike, names: list[bytes]) -> list[tuple[bytes, OSError]]:
    """Give each of `names` (made by rsync in `dest` from the same name in `base`) the xattrs the
    base's entry has and it lacks. Returns the names whose xattrs could not be set, and why; one
    that is no longer such an entry (gone, another kind) is left. Only root's run does anything."""
    if os.geteuid() != 0:
        return []
    dest_b, base_b = os.fsencode(dest) + b"/", os.fsencode(base) + b"/"
    failed: list[tuple[bytes, OSError]] = []
    for rel in names:
        try:
            was_fd, was_name, was = _entry(base_b, rel)
        except (OSError, ValueError):
            continue
        try:
            if stat.S_ISDIR(was.st_mode) or stat.S_ISREG(was.st_mode):
                continue
            base_path = b"/proc/self/fd/%d/%s" % (was_fd, was_name)
            wanted = {n: os.getxattr(base_path, n, follow_symlinks=False)
                      for n in os.listxattr(base_path, follow_symlinks=False) if not os.fsencode(n).startswith(_KEPT)}
            if not wanted:
                continue
            try:
                fd, name, st = _entry(dest_b, rel)
            except (OSError, ValueError):
                continue
            try:
                if stat.S_IFMT(st.st_mode) != stat.S_IFMT(was.st_mode) or (st.st_dev, st.st_ino) == (was.st_dev, was.st_ino):
                    continue
                path = b"/proc/self/fd/%d/%s" % (fd, name)
                have = set(os.listxattr(path, follow_symlinks=False))
                for n, value in wanted.items():
                    if n not in have:
                        os.setxattr(path, n, value, follow_symlinks=False)
            except OSError as exc:
                failed.append((rel, exc))
            finally:
                os.close(fd)
        except OSError as exc:
            failed.append((rel, exc))
        finally:
            os.close(was_fd)
    return failed
