"""A hand edit a config save's exchange replaced (exchange_aside), kept beside the config as
`<name>.conflict-<time>`, private."""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

from rabtui import faults, privacy


def keep(path: Path, old: str) -> Path:
    """The file a save's exchange replaced, which does not hold what the save read (a hand edit saved
    after the save's last look, by an editor, which takes no lock; or one a killed save left so),
    now named `old`: kept beside the config as `<name>.conflict-<time>`, private; where it is kept."""
    real = os.path.realpath(path)
    kept = _kept_already(old, os.path.dirname(real))
    if kept is not None:
        os.unlink(old)
        privacy.tighten(kept)
        return Path(kept)
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
            os.rename(old, aside)
            break
        faults.point("config.conflict_linked")
        os.unlink(old)
        break
    else:
        raise FileExistsError(errno.EEXIST, "no free name to keep it under", old)
    privacy.tighten(aside)
    return Path(aside)


def _kept_already(old: str, directory: str) -> str | None:
    """The `<name>.conflict-<time>` name in `directory` that a save killed as it kept `old` aside
    gave it already (a second name, linked), or None."""
    st = os.lstat(old)
    if st.st_nlink < 2 or not stat.S_ISREG(st.st_mode):
        return None
    with os.scandir(directory) as entries:
        for entry in entries:
            if ".conflict-" in entry.name and entry.inode() == st.st_ino and not entry.is_symlink():
                if entry.stat(follow_symlinks=False).st_dev == st.st_dev:
                    return entry.path
    return None
