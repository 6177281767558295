"""A hand edit a config save's exchange replaced (exchange_aside), kept beside the config as
`<name>.conflict-<time>`, private. Its name in the save's private directory stays (a second name,
linked; where the file system links no names, a note of where it was renamed) until the UI has said
where it is kept (`said`): a save killed before that leaves it for the next save, the console's
start and check-config to name (`unsaid`; root's names another user's too)."""

from __future__ import annotations

import errno
import os
import shlex
import stat
import time
from pathlib import Path

from rabtui import exchange_aside, faults, file_replace, privacy


def keep(path: Path, old: str) -> tuple[Path, str | None]:
    """The file a save's exchange replaced, which does not hold what the save read (a hand edit saved
    after the save's last look, by an editor, which takes no lock; or one a killed save left so),
    now named `old`: kept beside the config as `<name>.conflict-<time>`, private. Where it is kept,
    and its name still in the save's private directory (exchange_aside.marked_kept), for `said` to
    remove (where the file system links no names: it is renamed, and the note of that name)."""
    real = os.path.realpath(path)
    noted = exchange_aside.noted(old)
    if noted is not None:       # a note a killed save left, of the name it was renamed to
        return Path(noted), old
    kept = _kept_already(old, os.path.dirname(real))
    if kept is not None:
        privacy.tighten(kept, linked=True)
        return Path(kept), exchange_aside.marked_kept(old)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = os.fsencode(os.path.basename(real))
    for n in range(1, 1000):
        suffix = f".conflict-{stamp}" + (f"-{n}" if n > 1 else "")
        # a name of 255 bytes at most: a long one is cut
        aside = os.path.join(os.path.dirname(real), os.fsdecode(name[:255 - len(suffix)]) + suffix)
        try:
            os.link(old, aside, follow_symlinks=False)     # never over another one kept
        except FileExistsError:
            continue
        except OSError:     # no hard links here: renamed, once no file has the name
            if os.path.lexists(aside):
                continue
            note = exchange_aside.note_kept(old, aside)
            faults.point("config.conflict_noted")
            os.rename(old, aside)
            privacy.tighten(aside, linked=True)
            return Path(aside), note
        faults.point("config.conflict_linked")
        break
    else:
        raise FileExistsError(errno.EEXIST, "no free name to keep it under", old)
    privacy.tighten(aside, linked=True)
    return Path(aside), exchange_aside.marked_kept(old)


def _kept_already(old: str, directory: str) -> str | None:
    """The `<name>.conflict-<time>` name in `directory` that a save killed as it kept `old` aside
    gave it already (a second name, linked), or None."""
    st = os.lstat(old)
    if st.st_nlink < 2 or not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        return None
    with os.scandir(directory) as entries:
        for entry in entries:
            if ".conflict-" in entry.name and entry.inode() == st.st_ino:
                if entry.stat(follow_symlinks=False).st_dev == st.st_dev:
                    return entry.path
    return None


def unsaid(path: Path) -> list[tuple[str, Path]]:
    """The hand edits saves of the config at `path` kept aside and never said so (killed first, or
    the UI never told): (its name in the save's private directory, where it is kept), oldest first."""
    real = Path(os.path.realpath(path))
    found = []
    for entry in file_replace.leftovers(real):
        for old in exchange_aside.linked(entry.path):
            try:
                kept = exchange_aside.noted(old) or _kept_already(old, str(real.parent))
            except OSError:
                continue
            if kept is not None:
                found.append((old, Path(kept)))
    return sorted(found, key=lambda pair: pair[1].name)


def said(pending: list[tuple[str, Path]]) -> None:
    """Once the UI has named each kept file: its name in the save's private directory removed, where
    it is still a name of that file (and that directory once emptied)."""
    for old, kept in pending:
        try:
            a, b = os.lstat(exchange_aside.noted(old) or old), os.lstat(kept)
        except OSError:
            continue
        if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
            exchange_aside.forget(old)


def unsaid_note(path: Path, pending: list[tuple[str, Path]]) -> str:
    """What names the kept files of `unsaid` (one or more), to the console or on stderr."""
    kept = [str(k) for _, k in pending]
    return (f"a save of {path} kept a hand edit aside before it ended, in {', '.join(kept)}, which was not said"
            f" then: merge it by hand (diff {shlex.quote(kept[0])} {shlex.quote(str(path))})")
