"""The targets of the symlinks extracted from a disc, as the checkpoint recorded them. A disc's Rock
Ridge record drops a target's one trailing slash (as_backed_up.on_disc: 'sub/' comes off 'sub'):
such a symlink is made again with its recorded target, before it is given its time, owner and
xattrs (disc_extract.py). Any other target is left as it came off, for disc_checks to judge."""

from __future__ import annotations

import os
import stat

from rabtui import faults
from rabtui.checkpoint import shortpath
from rabtui.checkpoint.as_backed_up import on_disc
from rabtui.filecopy import tmp_name


def put_back(start: bytes, target: bytes, links: dict[bytes, bytes]) -> None:
    """`links`: image path -> the target recorded; each symlink at or below the image path `start`,
    extracted at `target`, whose target is the disc's form of the one recorded gets that one. Names
    that xorriso made hard links of one symlink stay so: the first is made again, the others linked to it."""
    made: dict[tuple[int, int], bytes] = {}    # (st_dev, st_ino) as extracted -> the path made again
    with shortpath.Shortcuts() as short:
        for disc_path, link in links.items():
            if on_disc(link) == link or (disc_path != start and not disc_path.startswith(start + b"/")):
                continue
            path = short.path(target + disc_path[len(start):])
            try:
                st = os.lstat(path)
                if not stat.S_ISLNK(st.st_mode) or os.readlink(path) != on_disc(link):
                    continue
            except OSError:    # not extracted: named by disc_checks
                continue
            again = made.get((st.st_dev, st.st_ino))
            parent, name = os.path.split(path)
            fd = os.open(parent or b".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                held = os.fstat(fd)    # its directory's times, as xorriso gave them, kept
                tmp = tmp_name()
                if again is not None and os.readlink(again) == link:
                    os.link(again, tmp, dst_dir_fd=fd, follow_symlinks=False)
                else:
                    os.symlink(link, tmp, dir_fd=fd)
                    made[(st.st_dev, st.st_ino)] = path
                faults.point("restore.link_target_made")
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
                os.utime(fd, ns=(held.st_atime_ns, held.st_mtime_ns))
            finally:
                os.close(fd)
