"""Entries on an SSH source that share their inode with another name (more than one link), which a
restore with --overwrite must not change in place: where a file's content is the backup's already,
rsync sets its mode, owner, xattrs and ACLs on the inode that is there, and so on the other names',
which may be anywhere outside what is restored. With --ignore-times rsync writes such a file anew
(a temporary file renamed over the name, as for a content that differs), and the other names keep
their inode as it was. A FIFO, device or socket of the same kind, and a symlink with the backup's
target, is changed in place whatever the options: one with other names is refused where it
differs from the backup's, and left as it is where it does not."""

from __future__ import annotations

import os
import stat

from rabtui import fmt
from rabtui.errors import WorkFailed
from rabtui.restore import itemized


def linked_in_the_way(found: dict[bytes, bool], dest: bytes, tree: dict[bytes, int]) -> list[tuple[bytes, int]]:
    """Of the entries `found` on the source with more than one link (absolute path -> whether it is
    a symlink), those the restore to `dest` would write: (name below it, b"" for `dest` itself;
    the backup's mode there) where `tree` (name -> mode in what is restored) has something other
    than a directory, or a symlink where one is (rsync makes a directory anew in the entry's place,
    and a symlink in another's, but sets a symlink's time and owner on the one that is there)."""
    below = dest.rstrip(b"/") + b"/"
    out = []
    for path, is_symlink in found.items():
        under = b"" if path == dest else path[len(below):] if path.startswith(below) else None
        mode = tree.get(under, 0) if under is not None else 0
        if mode and not stat.S_ISDIR(mode) and stat.S_ISLNK(mode) == is_symlink:
            out.append((under, mode))
    return out


def in_place(linked: list[tuple[bytes, int]]) -> set[bytes]:
    """The names of `linked` (see `linked_in_the_way`) that rsync changes in place whatever its
    options: symlinks and special files (FIFOs, devices, sockets)."""
    return {name for name, mode in linked if not stat.S_ISREG(mode)}


def differing(source_id: str, dest: bytes, shared: list[bytes], in_place: set[bytes], lines: list[bytes],
              special: set[bytes] = frozenset()) -> list[bytes]:
    """The names of `shared` but `in_place` that a dry run's `%i|%l|%n` lines show as other than
    the backup has them (content, times, mode, owner, ACL, xattrs), and those it does not show.
    Raises WorkFailed, naming them, for the `in_place` ones (symlinks; `special` files) it would
    change in place: one of another kind or target is made anew (`cL`, `cS`), one as the backup
    has it is left as it is."""
    same = itemized.names_sent([line for line in lines
                                if line[:1] == b"." and not line.split(b"|", 1)[0][2:].strip(b". ")])
    made_anew = itemized.names_sent([line for line in lines if line[:1] == b"c"])
    changed = [name for name in shared if name in in_place and name not in same | made_anew]
    at = lambda name: os.path.join(dest, name) if name else dest  # noqa: E731  (b"": a file restored alone)
    specials = [at(name) for name in changed if name in special]
    if specials:
        _refuse(source_id, specials, f"{fmt.count(len(specials), 'special file')} there (FIFO, device or socket)"
                f" {'has' if len(specials) == 1 else 'have'} other names too (hard links), and rsync would change"
                " their mode or owner in place")
    symlinks = [at(name) for name in changed if name not in special]
    if symlinks:
        _refuse(source_id, symlinks, f"{fmt.count(len(symlinks), 'symlink')} there"
                f" {'has' if len(symlinks) == 1 else 'have'} other names too (hard links) and the backup's"
                " target but not its time or owner, which rsync would set in place")
    return [name for name in shared if name not in same and name not in in_place]


def _refuse(source_id: str, paths: list[bytes], why: str):
    shown = ", ".join(fmt.name(p) for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
    raise WorkFailed(f"refusing to restore onto {source_id}: {why}, and so the other names' (nothing written): {shown}",
                     hint="remove them on the source (the restore makes them again), or restore with --to DIR")


def lines_not_of(lines: list[bytes], names: list[bytes]) -> list[bytes]:
    """The `%i|%l|%n` lines of `lines` that itemize none of `names`."""
    left = set(names)
    return [line for line in lines if itemized.names_sent([line]).isdisjoint(left)]
