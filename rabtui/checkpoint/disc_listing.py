"""A disc's entries as it holds them, listed in time linear in their number (xorriso 1.5.4), for a
restore and for a disc's verification: `-find -exec lsdl` looks each entry up again by its path,
walking its directory's list from the head (N²/2 steps for a directory of N), while `-find` alone
and a listing of the working directory (`-cd DIR -lsl --`) hold the nodes. So a first run names the
directories and, for a restore, the entries with an ACL (names_argv: a listing of the working
directory shows no `+` for an ACL; its mode bits are those `-exec lsdl` shows, the ACL's mask in
the group bits), and a second run lists each directory from within it (command_file), which
Listing reads. `-cd` still looks each directory up in its parent: a directory of very many
subdirectories costs the square of their number, as `-find -exec lsdl` did."""

from __future__ import annotations

import os
from typing import Callable

from rabtui.checkpoint.xorriso import ACLS_AS_READ, cd_steps, quote
from rabtui.checkpoint.xorriso_output import parse_lsdl, unquoted

ACL_MARK = b"rabtui: those with an ACL"
MARK = b"rabtui: a directory"      # before each directory's listing

# path in the image, the line as listed, parse_lsdl's (path as listed, st_mode, target, owner)
Keep = Callable[[bytes, bytes, tuple[bytes, int, bytes | None, tuple[int, int]]], None]


def names_argv(indev: str, start: bytes, exe: str = "xorriso", volid: str | None = None,
               acls: bool = True) -> list[str]:
    """xorriso printing each directory at or below `start`, then, with `acls`, ACL_MARK and each
    entry there but symlinks that has an ACL (Names). `indev`: xorriso's address of the disc;
    `volid`: the volume id it must have. Without `acls` (a verification, which compares the ACLs
    from their own listing, xorriso.attrs_argv) no second walk looks for them (-has_acl turns each
    ACL into text, ACLS_AS_READ)."""
    path = os.fsdecode(start)
    with_acl = ["-print", ACL_MARK.decode(), "-find", path, "-has_acl", "-not", "-type", "l", "--"]
    return [exe, "-no_rc", "-abort_on", "NEVER", *(["-assert_volid", volid, "FATAL"] if volid else []),
            "-backslash_codes", "encode_output", *ACLS_AS_READ, "-iso_rr_pattern", "off",
            "-indev", indev, "-find", path, "-type", "d", "--", *(with_acl if acls else [])]


class Names:
    """What names_argv printed: the directories (in its order) and the entries with an ACL."""

    def __init__(self) -> None:
        self.dirs: list[bytes] = []
        self.with_acl: set[bytes] = set()
        self._acl = False

    def take(self, line: bytes) -> None:
        line = line.rstrip(b"\r\n")
        if line == ACL_MARK:
            self._acl = True
        elif line.startswith(b"'") and line.endswith(b"'") and len(line) > 1:
            (self.with_acl.add if self._acl else self.dirs.append)(unquoted(line))


def _own_line(start: bytes) -> bool:
    """Is `start` listed by itself (from its parent)? The root is not: it has no parent to list it."""
    return bool(start.strip(b"/"))


def command_file(start: bytes, dirs: list[bytes]) -> bytes:
    """xorriso commands (read with `-backslash_codes in_double_quotes`) that list `start` itself
    from its parent (not the root), then each of `dirs` from within it, each after a line MARK."""
    lines = []
    if _own_line(start):
        parent, name = os.path.split(start.rstrip(b"/"))
        lines += [f"-print {quote(MARK)}", *[f"-cd {quote(a)}" for a, _ in cd_steps(None, parent or b"/")],
                  f"-lsdl {quote(name)} --"]
    for d in dirs:
        lines += [f"-print {quote(MARK)}", *[f"-cd {quote(a)}" for a, _ in cd_steps(None, d)], "-lsl --"]
    return "".join(line + "\n" for line in lines).encode("ascii")


class Listing:
    """The lines command_file's listings printed, read as they come: each entry's image path ->
    (line as listed, st_mode, a symlink's target, (uid, gid)) into `entries`, or handed to `keep`
    instead; `before`: the run's other lines, those before the first MARK."""

    def __init__(self, start: bytes, dirs: list[bytes], keep: Keep | None = None) -> None:
        self._start = start if _own_line(start) else None
        self._where = [os.path.dirname(start.rstrip(b"/")) or b"/", *dirs] if self._start else dirs
        self._n = -1
        self.entries: dict[bytes, tuple[bytes, int, bytes | None, tuple[int, int]]] = {}
        self._keep = keep or self._held
        self.before: list[bytes] = []

    def _held(self, path: bytes, line: bytes, entry: tuple[bytes, int, bytes | None, tuple[int, int]]) -> None:
        self.entries[path] = (line, *entry[1:])

    def take(self, line: bytes) -> None:
        if line.rstrip(b"\r\n") == MARK:
            self._n += 1
            return
        if self._n < 0:
            self.before.append(line)
            return
        entry = parse_lsdl(line)
        if entry is not None and self._n < len(self._where):    # the start keyed as -find names it
            own = self._start is not None and self._n == 0
            self._keep(self._start if own else os.path.join(self._where[self._n], entry[0]), line, entry)

    def complete(self) -> bool:
        """Was every directory listed (a MARK for each)?"""
        return self._n == len(self._where) - 1
