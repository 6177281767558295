"""Modes of what rabtui makes: private to the user it runs as (directories 0700, files 0600).

Backups, the state database (every backed-up path of every host), logs and checkpoint images hold
the secrets of every source. The program sets a umask of 077 once at start-up; the places that
create state, media directories and images also give their modes explicitly, so that the engine
used as a library keeps them private too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import tempfile
import re
import shlex
import stat
import time
from pathlib import Path
from typing import Callable, ContextManager, Iterable
from urllib.parse import parse_qsl, urlsplit

from rabtui import exchange_aside, faults, file_attrs, rename_exchange

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077
OTHERS = 0o077     # the group's and everyone else's bits


def restrict_umask() -> None:
    os.umask(UMASK)


def private_dir(path: str | os.PathLike) -> Path:
    """`path` as a directory, created 0700 when missing (its parents as the umask says); an existing
    one is left as it is (`check` reports it, a backup tightens a medium's)."""
    path = Path(path)
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:     # made by another process meanwhile; a file there is an error
            if not path.is_dir():
                raise
    return path


def create_private_file(path: str | os.PathLike) -> None:
    """An empty file of mode 0600, made before another program writes into it (xorriso keeps the
    mode of the file it finds; one it creates itself gets 0666 less the umask)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def write_new_file(path: str | os.PathLike, data: bytes, mode: int = 0o666) -> None:
    """`data` into a file made anew at `path` (`mode` less the umask), never through what is there:
    what another user made there first (in a sticky directory open to all), a symlink of theirs to
    any file say, or what a killed run of this process's name left, is removed first (they cannot
    remove ours)."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
            break
        except FileExistsError:
            os.unlink(path)
    else:
        raise FileExistsError(errno.EEXIST, "made again by another user as it was removed", os.fspath(path))
    with open(fd, "wb") as f:
        f.write(data)


class GroupNotKept(PermissionError):
    """replace_file, keeping the file's group: this user may not give a file that group."""


def replace_file(path: str | os.PathLike, data: bytes, mode: int = FILE_MODE,
                 owner: tuple[int, int] | None = None,
                 renaming: Callable[[], ContextManager[None]] | None = None, keep: bool = False,
                 replaced: Callable[[str], None] | None = None, was: bytes = b"") -> None:
    """Put `data` in place of `path` atomically, with `mode` (and `owner`, uid and gid, where this
    user may give it), or with `keep` those of the file there and its ACL and xattrs (`mode` and
    `owner` are then for a file made anew): a temporary file beside it, fsync, rename, fsync of the
    directory. A crash leaves the old file or the new one, never half of one; the temporary file a
    killed write left is removed by the next write of the same file. `renaming()` is entered once
    the data is on disk, and the rename made in it: what it raises as it is entered leaves the file
    as it is. With `replaced`, the rename is an exchange where the file system makes one
    (rename_exchange, exchange_aside): the file it replaced, as it was at that instant, is removed
    when it holds `was` (what the caller read), else given to `replaced(name)` to keep aside, as is
    such a file a killed write of `path` left (once this one is in place: one refused leaves it).
    With `keep`, a group this user may not give (not one of theirs) is GroupNotKept, the file left
    as it was."""
    path = Path(path)
    _remove_leftovers(path)
    attrs: list[tuple[str, bytes]] = []
    if keep:
        mode, owner, attrs = _kept(path, mode, owner)
    aside = None
    if replaced is None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    else:
        aside = exchange_aside.Aside(path, data, was, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
        fd, tmp = aside.fd, aside.new
    swapped = False
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(fd, fcntl.LOCK_EX)      # held until renamed: another write's sweep keeps it
            made = os.fstat(fd)     # in a setgid directory, with the directory's group
            if owner is not None and owner != (made.st_uid, made.st_gid):
                try:
                    os.fchown(fd, *owner)
                except PermissionError:     # only root gives a file away, or a group one is not in
                    if keep:    # who may read it would change
                        raise GroupNotKept(errno.EPERM, "its group cannot be given to a new file", str(path)) from None
                    mode &= ~OTHERS     # what the old group and others could read, no other group may
                    attrs = [(n, v) for n, v in attrs if not n.startswith(_ACL)]
            os.fchmod(fd, mode)
            why = file_attrs.give(fd, attrs, leave=_SYSTEMS)
            if why:
                raise OSError(errno.EPERM, f"its xattrs cannot be kept on a new file ({why})")
            f.write(data)
            f.flush()
            os.fsync(fd)
            if aside is not None:
                aside.mark()
            faults.point("replace.written")
            with renaming() if renaming is not None else contextlib.nullcontext():
                swapped = aside is not None and rename_exchange.exchange(tmp, path)
                if swapped:
                    faults.point("replace.exchanged")
                    aside.settle(replaced)
                else:
                    os.replace(tmp, path)
    except BaseException:
        if not swapped:     # else it is the file replaced, which stays until compared
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if aside is not None:
            aside.close()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    if replaced is not None:    # once saved: a hand edit a killed write left is kept aside and said
        with contextlib.suppress(OSError):     # else left for the next write
            _remove_leftovers(path, replaced)


_ACL = "system.posix_acl_"
_SYSTEMS = ("security.", "trusted.")    # the system's own labels: a new file gets its own


def _kept(path: Path, mode: int, owner: tuple[int, int] | None):
    """The mode, owner and xattrs of the file at `path` (not followed), or those given when none is there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return mode, owner, []
    try:
        st = os.fstat(fd)
        attrs = [(n, v) for n, v in file_attrs.read(fd) if not n.startswith(_SYSTEMS)]
        return stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid), attrs
    finally:
        os.close(fd)


_TMP_SUFFIX = ".tmp"
_MKSTEMP_PART = re.compile(r"[a-z0-9_]{8}")    # the random part of mkstemp's names
_STARTED = time.time()


def _remove_leftovers(path: Path, replaced: Callable[[str], None] | None = None) -> None:
    """Remove the temporary files that writes of `path` killed between their write and their rename
    left beside it: named as replace_file names those of `path` (not those of another file whose
    name begins alike), older than this process, and locked by no live writer. With `replaced`,
    the directories of killed exchanges too (exchange_aside.sweep: what may hold a hand edit is
    given to `replaced`)."""
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)
                and _MKSTEMP_PART.fullmatch(name[len(prefix):-len(_TMP_SUFFIX)])):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if st.st_mtime >= _STARTED:
                continue
            if stat.S_ISDIR(st.st_mode):
                if replaced is not None:
                    exchange_aside.sweep(entry.path, replaced)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(entry.path)
        except OSError:     # a live writer holds it, or it is gone meanwhile
            pass
        finally:
            os.close(fd)


def open_mode(path: str | os.PathLike) -> int | None:
    """The mode of `path` when the group or others have any bit on it, else None (a symlink is not
    followed; a missing path is not open)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if not stat.S_ISLNK(st.st_mode) and st.st_mode & OTHERS else None


def tighten(path: str | os.PathLike) -> bool:
    """Take the group's and others' bits away from `path` when it is this user's own (rabtui made
    it); True when it had any. What is looked at is what is changed (by a descriptor): a symlink
    another user put in its place meanwhile (a sticky medium lets them rename their own entries)
    is never followed, and their own files and directories are left alone."""
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:     # gone, or not to be looked at (as open_mode): nothing to close
        return False
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or not st.st_mode & OTHERS:
            return False
        os.chmod(b"/proc/self/fd/%d" % fd, stat.S_IMODE(st.st_mode) & ~OTHERS)   # chmod follows a name
        return True
    finally:
        os.close(fd)


def others_can_change(path: str | bytes | os.PathLike) -> str | None:
    """Could a user other than root and this one replace what `path` names, or what rabtui makes in
    it (a symlink put where it made a directory or a file)? The owner of a directory on the way can,
    and anyone allowed to write in one that is not sticky, and the owner of a symlink in a sticky one.
    Every directory from `/` down to `path` (or to its nearest existing part) is looked at, as named
    and as each symlink met resolves it (a symlink's own directory too, wherever it lies). None when
    nobody can, else the first such directory and why."""
    for d in _looked_at(os.path.abspath(os.fsencode(path))):
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            continue
        except OSError as exc:      # past PATH_MAX, say: what cannot be looked at is not known safe
            return f"{os.fsdecode(d)[:200]} cannot be looked at ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode) and st.st_uid not in (0, os.geteuid()) and sticky(os.path.dirname(d)):
            # its owner may replace it: a sticky directory (as /tmp) lets others make entries
            # and keeps each one its owner's
            return f"{os.fsdecode(d)} is a symlink of user {user_named(st.st_uid)} in a sticky directory"
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            continue    # a symlink cannot be changed, only replaced in the directory above
        why = others_can_change_dir(st, d, os.fsdecode(d))
        if why:
            return why
    return None


def _looked_at(named: bytes) -> list[bytes]:
    """`/` and each entry the kernel looks up as it resolves the absolute path `named`, part by
    part and symlink by symlink (as realpath does), up to the first part missing: the directories
    on the way as named, those a symlink's target leads through, and each symlink met."""
    seen, at, todo, hops = [b"/"], b"/", [p for p in named.split(b"/") if p], 0
    while todo:
        part = todo.pop(0)
        if part == b".":
            continue
        if part == b"..":
            at = os.path.dirname(at)
            continue
        entry = os.path.join(at, part)
        seen.append(entry)
        try:
            st = os.lstat(entry)
        except OSError:     # missing, or not to be looked at: others_can_change says which
            break
        if not stat.S_ISLNK(st.st_mode):
            at = entry
            continue
        hops += 1
        try:
            target = os.readlink(entry)
        except OSError:
            break
        if hops > 40:        # a loop: what the kernel would refuse (ELOOP) is looked at no further
            break
        at = b"/" if target.startswith(b"/") else at
        todo = [p for p in target.split(b"/") if p] + todo
    return seen


def sticky(d: bytes | str) -> bool:
    """Whether the directory `d` is sticky (as /tmp); one that cannot be looked at counts as sticky."""
    try:
        return bool(os.stat(d).st_mode & stat.S_ISVTX)
    except OSError:
        return True


def others_can_change_dir(st: os.stat_result, d: bytes | int, shown: str) -> str | None:
    """Can a user other than root and this one change the entries of the directory `d` (a path, or
    an open descriptor) whose stat is `st`? Why, or None."""
    if st.st_uid not in (0, os.geteuid()):
        return f"{shown} belongs to user {user_named(st.st_uid)}"
    if st.st_mode & stat.S_ISVTX:
        return None
    if st.st_mode & stat.S_IWOTH:
        return f"{shown} is writable by everyone"
    if st.st_mode & stat.S_IWGRP:
        if _has_acl(d):     # the group's bits are then the mask of what the ACL grants
            return f"{shown} has an ACL that lets others write in it (getfacl {shlex.quote(shown)})"
        if not _root_and_mine_alone(st.st_gid):
            return f"{shown} is writable by its group {group_named(st.st_gid)}"
    return None


def _root_and_mine_alone(gid: int) -> bool:
    """Is `gid` root's group or this user's own, with nobody but root and this user in it (as a
    member, or as a user whose primary group it is)? Root's group holds only root on most systems,
    and a user private group (Debian gives every user one, whose umask 002 makes their directories
    group-writable) only its user; where another user is in either, that user can write there."""
    if gid not in (0, os.getegid()):
        return False
    trusted = {0, os.geteuid()}
    try:
        members = set(grp.getgrgid(gid).gr_mem)
        users = pwd.getpwall()
    except KeyError:
        return False
    names = {p.pw_name for p in users if p.pw_uid in trusted}
    return members <= names and not any(p.pw_gid == gid and p.pw_uid not in trusted for p in users)


def _has_acl(path: bytes | int) -> bool:
    try:
        if isinstance(path, int):
            os.getxattr(path, "system.posix_acl_access")
        else:
            os.getxattr(path, "system.posix_acl_access", follow_symlinks=False)
    except OSError:
        return False
    return True


def user_named(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def group_named(gid: int) -> str:
    try:
        return f"{grp.getgrgid(gid).gr_name} (gid {gid})"
    except KeyError:
        return f"gid {gid}"


def fix_command(paths: Iterable[str | os.PathLike], recursive: bool = False) -> str:
    """The command that makes `paths` private: each path itself, or with `recursive` all it holds
    (never for a medium, whose backups keep the modes of their sources)."""
    return f"chmod {'-R ' if recursive else ''}go-rwx " + " ".join(shlex.quote(os.fspath(p)) for p in paths)


# Apprise URLs carry their credentials: `mailto://user:password@host`, `tgram://BOT_TOKEN/CHAT`,
# `slack://TOKEN_A/TOKEN_B/TOKEN_C`, `json://host/?token=...`.
_SECRET_KEYS = re.compile(r"(token|key|secret|pass|auth|webhook|sig)", re.IGNORECASE)
_TOKEN = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_:-]{16,}$")


def url_has_secret(url: str) -> bool:
    """True when an apprise URL holds a password or a token (a long run of letters and digits)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    netloc = parts.netloc
    if "@" in netloc and ":" in netloc.rpartition("@")[0]:
        return True
    if any(_SECRET_KEYS.search(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True)):
        return True
    words = re.split(r"[@/]", netloc) + parts.path.split("/")
    return any(_TOKEN.match(w) for w in words)


def exposed_config(path: str | os.PathLike, apprise_urls: Iterable[str]) -> str | None:
    """Why the config at `path` must not stay as it is: it holds secrets and others can read it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if not mode & (stat.S_IRGRP | stat.S_IROTH) or not any(url_has_secret(u) for u in apprise_urls):
        return None
    return (f"{path} holds credentials (notify.apprise_urls) and is readable by other users"
            f" (mode {stat.S_IMODE(mode):04o}): chmod 600 {shlex.quote(os.fspath(path))}")
