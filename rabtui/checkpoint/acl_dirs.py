"""Directories with an access ACL, as they come off a disc. osirrox (xorriso 1.5.4) gives such a
directory its ACL and then, once its contents are extracted, the mode of the ACL's `group::`
entry in the group bits, which chmod makes the ACL's mask: a directory backed up 0775 with
`user:1234:rwx` (mask rwx, group:: r-x) came off 0755, every named entry of its ACL cut to r-x.
The disc holds it right (its mode shows the mask). In the same xorriso run, each such directory's
ACL is listed as `getfacl` writes it (find_argv), and its mask is given back (give_masks)."""

from __future__ import annotations

import os
import stat
from typing import Iterable

from rabtui.checkpoint import shortpath
from rabtui.checkpoint.xorriso_output import ACL_KEY, payload, parse_getfattr


def find_argv(iso_path: str) -> list[str]:
    """xorriso words that list the ACL of each directory at or below `iso_path` that has one."""
    return ["-find", iso_path, "-type", "d", "-has_acl", "-exec", "getfacl", "--"]


def masks(lines: Iterable[bytes]) -> dict[bytes, int]:
    """Image path (absolute) -> the permission bits of its access ACL's mask, from what find_argv
    printed (other lines, and `-pkt_output` packets' heads, are passed over)."""
    texts = (payload(line.decode("utf-8", "surrogateescape"))[1].encode("utf-8", "surrogateescape")
             for line in lines)
    out: dict[bytes, int] = {}
    for path, attrs in parse_getfattr(texts).items():
        for entry in attrs.get(ACL_KEY, b"").split(b"\n"):
            if entry.startswith(b"mask::") and len(entry) == 9:
                out[b"/" + path] = sum(bit for ch, bit in zip(entry[6:], (4, 2, 1)) if ch != ord("-"))
    return out


def give_masks(found: dict[bytes, int], start: bytes, target: bytes, kept: dict[bytes, int] | None = None) -> None:
    """Each directory of `found` extracted from the image path `start` into `target`, given group
    bits that are its mask (chmod sets the mask of an ACL from them); so is the mode `kept` aside
    for it (by its path below `target`: checkpoint/closed_dirs.py)."""
    start = b"/" + start.strip(b"/")
    with shortpath.Shortcuts() as short:
        for path, bits in found.items():
            if start != b"/" and path != start and not path.startswith(start + b"/"):
                continue
            under = path[len(start):].lstrip(b"/") if start != b"/" else path.lstrip(b"/")
            extracted = short.path(os.path.join(target, under) if under else target)
            try:
                node = os.open(extracted, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                st = os.fstat(node)
                if stat.S_ISDIR(st.st_mode):
                    # by the descriptor: chmod follows a symlink, and this is none
                    os.chmod(b"/proc/self/fd/%d" % node, stat.S_IMODE(st.st_mode) & ~0o070 | bits << 3)
                    if kept is not None and under in kept:
                        kept[under] = kept[under] & ~0o070 | bits << 3
            finally:
                os.close(node)
