"""The directories of a medium that opened_dirs opens for a user other than root (a backup's
directories closed on the source), written down in the state directory before each is opened:
`<state_dir>/opened/<pid>-<random>`, locked (flock) while its run holds them open, removed once
each has its own mode back. A run killed meanwhile (SIGKILL) leaves its file, and the next run
that opens directories gives each the mode it had (give_back): else the older backup would keep
the opened mode for good, and every restore and checkpoint of it would hand that on. A directory
gone meanwhile (its backup deleted) is settled too; one on a medium that is away waits for it."""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat

from rabtui import privacy
from rabtui.media import below

DIR = "opened"


class Journal:
    """One run's record of the directories it opened; made when the first is written down."""

    def __init__(self, state_dir: str | os.PathLike | None):
        self.state_dir = state_dir
        self.fd: int | None = None
        self.path: str | None = None

    def note(self, top: bytes, under: bytes, st: os.stat_result, opened: int) -> None:
        """The directory `under` below `top` (b"": `top`), lstat `st`, is about to get the mode `opened`."""
        if self.state_dir is None:
            return
        if self.fd is None:
            where = privacy.private_dir(os.path.join(self.state_dir, DIR))
            self.path = os.path.join(where, f"{os.getpid()}-{secrets.token_hex(4)}")
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        os.write(self.fd, b"%d %d %o %o %s %s\n" % (st.st_dev, st.st_ino, stat.S_IMODE(st.st_mode), opened,
                                                   top.hex().encode(), under.hex().encode()))
        os.fsync(self.fd)

    def done(self) -> None:
        """Every directory written down has its mode back."""
        if self.fd is None:
            return
        os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


def give_back(state_dir: str | os.PathLike | None) -> None:
    """Each directory a killed run opened (its file's lock free) given its own mode back, where it
    is still that directory with the mode that run gave it; a file is removed once each of its
    directories is given back or gone for good, and kept for the next run while one is on a
    medium that is away (_gone)."""
    if state_dir is None or os.geteuid() == 0:
        return
    where = os.path.join(state_dir, DIR)
    try:
        names = os.listdir(where)
    except OSError:
        return
    for name in names:
        path = os.path.join(where, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with os.fdopen(os.dup(fd), "rb") as f:
                lines = f.read().splitlines()
            if all(_given_back(line) for line in reversed(lines)):     # the deepest first
                os.unlink(path)
        except OSError:
            pass      # held by a run that goes on, or unreadable: left as it is
        finally:
            os.close(fd)


def _given_back(line: bytes) -> bool:
    """False when the directory of `line` is not there now and may come back (its medium away)."""
    try:
        dev, ino, mode, opened, top, under = line.split(b" ")
        top, under = bytes.fromhex(top.decode()), bytes.fromhex(under.decode())
        dev, ino, mode, opened = int(dev), int(ino), int(mode, 8), int(opened, 8)
    except ValueError:
        return True
    try:
        if under:     # below `top` without following a symlink, as it was opened
            parent, name = os.path.split(under)
            fd = below.open_dir(top, parent)
        else:
            parent, name = os.path.split(top.rstrip(b"/"))
            fd = os.open(parent or b"/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        return exc.errno not in (errno.ENOENT, errno.ENOTDIR) or _gone(os.path.join(top, under), dev)
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if (st.st_dev, st.st_ino) == (dev, ino) and stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == opened:
            os.chmod(name, mode, dir_fd=fd)
    except FileNotFoundError:
        return _gone(os.path.join(top, under), dev)
    except OSError:
        pass
    finally:
        os.close(fd)
    return True


def _gone(path: bytes, dev: int) -> bool:
    """Whether the directory `path`, not there, is gone for good (a cleanup deleted its backup, the
    operator removed it): the nearest directory above it that is there is on its file system
    (`dev`). Else that file system is not mounted now (its medium away): it may come back."""
    while path not in (b"/", b""):
        path = os.path.dirname(path.rstrip(b"/"))
        try:
            return os.stat(path or b"/").st_dev == dev
        except OSError as exc:     # too long for one call: one higher tells the same
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
                return False
    return False
