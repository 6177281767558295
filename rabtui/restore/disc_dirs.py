"""The directories that came off a disc, checked against the disc itself. The catalog holds no
directory that is not empty (disc_checks.py checks everything it holds): a directory's own mode
(setgid and sticky bits, an ACL's mask in the group bits), owner and time are on the disc only.
The extraction lists each directory of the disc as `lsdl` shows it (after MARK, in the same
xorriso run); each one extracted is compared with that, its owner as root, its time as far as
the listing shows it (to the minute or the day). One that differs is named in what the restore
did not restore as it was, and why, instead of being handed out as restored."""

from __future__ import annotations

import os
import stat

from rabtui.checkpoint import closed_dirs, shortpath
from rabtui.checkpoint.as_backed_up import listed_time_differs
from rabtui.checkpoint.xorriso_output import lsdl_date, parse_lsdl
from rabtui.mtimes import seconds

MARK = b"rabtui: the directories"


def list_argv(iso_path: str) -> list[str]:
    """xorriso words that print MARK, then each directory at or below `iso_path` (parse_lsdl)."""
    return ["-print", MARK.decode(), "-find", iso_path, "-type", "d", "-exec", "lsdl", "--"]


class Listed:
    """The directories list_argv printed: image path -> (st_mode, (uid, gid), its time as shown)."""

    def __init__(self) -> None:
        self.dirs: dict[bytes, tuple[int, tuple[int, int], str | None]] = {}
        self._on = False

    def take(self, line: bytes) -> bool:
        """Is `line` list_argv's (taken), and not for the other readers of the run's output?"""
        if line.rstrip(b"\r\n") == MARK:
            self._on = True
            return True
        if not self._on:
            return False
        entry = parse_lsdl(line)
        if entry is not None and stat.S_ISDIR(entry[1]):
            self.dirs[entry[0]] = (entry[1], entry[3], lsdl_date(line))
        return True


def differing(listed: Listed, start: bytes, target: bytes, rel: bytes, volid: str,
              kept: dict[bytes, int]) -> list[tuple[str, bytes, str]]:
    """(kind, name, why) of each directory extracted from the image path `start` into `target`
    that is not as the disc lists it; `rel`: the restored item's name, for `start`; `kept`: the
    modes of those opened up (closed_dirs.py), by their path below `target`."""
    as_root = os.geteuid() == 0
    out = []
    with shortpath.Shortcuts() as short:
        for path, (mode, owner, shown) in sorted(listed.dirs.items()):
            if path != start and not path.startswith(start.rstrip(b"/") + b"/"):
                continue
            under = path[len(start):].lstrip(b"/")
            try:
                st = closed_dirs.as_extracted(os.lstat(short.path(os.path.join(target, under) if under else target)),
                                              kept.get(under))
            except OSError as exc:
                out.append(("directory", _name(rel, under), f"not extracted from {volid}: {exc.strerror}"))
                continue
            why = None
            if stat.S_IMODE(st.st_mode) != stat.S_IMODE(mode):
                why = f"mode {stat.S_IMODE(st.st_mode):04o} as it came off {volid}, which holds {stat.S_IMODE(mode):04o}"
            elif as_root and (st.st_uid, st.st_gid) != tuple(owner):
                why = f"owner {st.st_uid}:{st.st_gid} as it came off {volid}, which holds {owner[0]}:{owner[1]}"
            elif listed_time_differs(shown, seconds(st)) is not None:
                why = f"a time other than {volid} holds ({shown}) as it came off"
            if why:
                out.append(("directory", _name(rel, under), why))
    return out


def _name(rel: bytes, under: bytes) -> bytes:
    return os.path.join(rel, under) if under else rel
