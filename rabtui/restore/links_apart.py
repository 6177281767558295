"""Files that may have been hard links of one file on the source, read from different discs of a
checkpoint (or joined each from its own parts): the discs cannot hold a hard link across discs,
and a checkpoint recorded before its rows held `link_group` (links_again.as_recorded links those
that do) records no inode, so they are not linked again on a guess; each is named, as restored as
a separate file."""

from __future__ import annotations

import os

from rabtui import fmt
from rabtui.checkpoint.content import MARKS
from rabtui.restore.disc_checks import disc_name, in_tree

CHUNK = 1 << 20


def links_apart(rows, rel: bytes, is_file: bool, top: bytes, sc, redone: frozenset[bytes] = frozenset()
                ) -> list[tuple[str, bytes, str]]:
    """Files of the same content, size and time on different discs, now separate files, of a
    checkpoint that recorded no hard links (nor modes: one recorded with its modes records which
    names were one file, linked again by links_again.as_recorded): they may have been hard links of one file, which the discs cannot hold across discs (the catalog
    records no inode, so they are not linked again on a guess); so are those below a directory
    that came off its disc again, alone, after an xattr of its was refused (disc_refused.py:
    what it holds came off in another xorriso run than the rest) and that links_again.py could
    not link again (the disc's data of each not listed). `redone`: those directories, by
    their path below /. One entry per file after the first of each group."""
    groups: dict[tuple, list] = {}
    for r in rows:      # one recorded with its mode is recorded with its hard links too: linked as they were
        if r["sha256"] not in MARKS and r["sha256"] is not None and r["size"] and not (r["parts"] and r["parts"] > 1) \
                and r["mode"] is None:
            groups.setdefault((r["sha256"], r["size"], r["mtime"]), []).append(r)
    again = lambda r: any(bytes(r["path"]).startswith(d + b"/") for d in redone)   # noqa: E731
    out = []
    for group in groups.values():
        discs = len({r["disc"] for r in group})
        if len(group) < 2 or discs < 2 and not any(again(r) for r in group):
            continue
        inodes = [os.lstat(sc.path(os.path.join(top, in_tree(rel, bytes(r["path"]), is_file)))).st_ino for r in group]
        first = group[0]
        for r, ino in zip(group[1:], inodes[1:]):
            if ino == inodes[0]:
                continue
            how = (f"read from {disc_name(r)}: if the two were hard links of one file, the link did not cross the discs"
                   if r["disc"] != first["disc"] else
                   f"on {disc_name(r)}: if the two were hard links of one file, the link was lost as the directory"
                   f" holding one came off again, after an xattr of its was refused")
            out.append(("hard link", bytes(r["path"]), f"same content and time as /{fmt.name(bytes(first['path']))}"
                                                         f" ({disc_name(first)}), {how}; restored as a separate file"))
    return out + _cut_links_apart(rows, lambda path: sc.path(os.path.join(top, in_tree(rel, path, is_file))))


def _cut_links_apart(rows, joined) -> list[tuple[str, bytes, str]]:
    """Files cut into parts of the same size, time and content (the parts of each are cut at
    their own offsets, so the joined files are compared, `joined(path)`, those alike only), of a
    checkpoint that recorded no hard links (nor modes; one that did links those that were one file,
    and a file alike that was not is no link lost): each was joined from its own parts, a separate
    file, whether or not they were hard links of one. Not linked on the likeness: a copy alike
    (`cp -a`) is so in content, owner, mode, times, ACL and xattrs too, and the discs hold no more
    (no part shares its data with another's), so a write to one would change the other."""
    sizes: dict[bytes, list[int]] = {}
    for r in rows:
        if r["parts"] and r["parts"] > 1 and r["mode"] is None:
            sizes.setdefault(bytes(r["path"]), [r["mtime"], 0])[1] += r["size"] or 0
    alike: dict[tuple, list[bytes]] = {}
    for path, (mtime, size) in sizes.items():
        alike.setdefault((mtime, size), []).append(path)
    out = []
    for group in alike.values():
        first = group[0]
        for path in group[1:]:
            if os.lstat(joined(first)).st_ino != os.lstat(joined(path)).st_ino and same_content(joined(first), joined(path)):
                out.append(("hard link", path, f"same content and time as /{fmt.name(first)}, both cut into parts"
                                               f" across the discs: if the two were hard links of one file, each"
                                               f" was joined from its own parts; restored as a separate file"))
    return out


def same_content(a: bytes, b: bytes) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(CHUNK), fb.read(CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True
