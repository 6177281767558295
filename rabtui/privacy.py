"""Modes of what rabtui makes: private to the user it runs as (directories 0700, files 0600).

Backups, the state database (every backed-up path of every host), logs and checkpoint images hold
the secrets of every source. The program sets a umask of 077 once at start-up; the places that
create state, media directories and images also give their modes explicitly, so that the engine
used as a library keeps them private too.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import re
import shlex
import stat
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qsl, urlsplit

from rabtui import mount_points

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077
OTHERS = 0o077     # the group's and everyone else's bits


def restrict_umask() -> None:
    os.umask(UMASK)


def private_dir(path: str | os.PathLike) -> Path:
    """`path` as a directory, created 0700 when missing (its parents as the umask says); an existing
    one is left as it is (`check` reports it, a backup tightens a medium's), but for one of another
    user (made first where all may make entries, as a sticky state directory), or a symlink of
    theirs, refused (PermissionError naming them): what rabtui writes there, they could read or swap."""
    path = Path(path)
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:     # made by another process meanwhile; a file there is an error
            if not path.is_dir():
                raise
    link = path.lstat()     # a symlink of theirs, to a directory of root's (/etc/cron.d) say
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in (os.geteuid(), 0):
        raise PermissionError(errno.EPERM, f"it is a symlink of user {user_named(link.st_uid)}", os.fspath(path))
    owner = path.stat().st_uid
    if owner not in (os.geteuid(), 0):
        raise PermissionError(errno.EPERM, f"it belongs to user {user_named(owner)}", os.fspath(path))
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


def open_own(path: str | os.PathLike, flags: int, mode: int = FILE_MODE) -> int:
    """`os.open(path, flags)` of a file of this user's (made `mode` when missing): never through a
    symlink (ELOOP), and a file another user made there first (in a state directory of theirs, or
    open to all) is refused (PermissionError naming them): what is written into it, they read."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    owner = os.fstat(fd).st_uid
    if owner != os.geteuid():
        os.close(fd)
        raise PermissionError(errno.EPERM, f"it belongs to user {user_named(owner)}", os.fspath(path))
    return fd


def own_regular(st: os.stat_result | None, folder_owner: int | None = None) -> bool:
    """Whether `st` (lstat's) is a regular file of this user's own: only such a file at a name rabtui
    keeps a record under tells anything. Another user's, made first in a directory open to all but
    sticky (a state directory or medium chmod 1777), or a symlink of theirs to any file, is none of
    rabtui's. `folder_owner`: the owner of the directory it is in, whose files are taken too (they
    could replace any file there; a vfat or exFAT medium mounted for a desktop's user shows every
    file as theirs, what rabtui wrote included)."""
    return st is not None and stat.S_ISREG(st.st_mode) and st.st_uid in (os.geteuid(), folder_owner)


class NotOwn(OSError):
    """A record's name holds another user's file (see own_regular)."""


def open_mode(path: str | os.PathLike) -> int | None:
    """The mode of `path` when the group or others have any bit on it, else None (a symlink is not
    followed; a missing path is not open)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if not stat.S_ISLNK(st.st_mode) and st.st_mode & OTHERS else None


def open_key(path: str | os.PathLike) -> int | None:
    """The mode of the private key file `path` when others may read it: any bit for its group or
    others on a key of this user's own (OpenSSH refuses it, as the transport of rsync), or read for
    everyone whoever owns it, in a folder they can reach (OpenSSH takes a key of root's 0644 in a
    folder of keys closed to all but a dedicated user's group). None otherwise, or when it cannot be
    looked at (the login says why)."""
    try:
        st = os.stat(path)      # as ssh, through a symlink
    except OSError:
        return None
    if st.st_uid == os.getuid() and st.st_mode & OTHERS or (
            st.st_mode & stat.S_IROTH and others_can_reach(os.path.dirname(os.path.realpath(path)))):
        return stat.S_IMODE(st.st_mode)
    return None


def tighten(path: str | os.PathLike, linked: bool = False) -> bool:
    """Take the group's and others' bits away from `path` when it is this user's own (rabtui made
    it); True when it had any. What is looked at is what is changed (by a descriptor): a symlink
    another user put in its place meanwhile (a sticky medium lets them rename their own entries)
    is never followed, and their own files and directories are left alone. So is a file of several
    names, unless `linked` (one rabtui linked itself): another user may have made it a hard link of
    a file of this user's elsewhere (/etc/shadow, where the kernel lets them: protected_hardlinks off)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:     # gone, or not to be looked at (as open_mode): nothing to close
        return False
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or not st.st_mode & OTHERS:
            return False
        if not linked and not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            return False
        os.chmod(b"/proc/self/fd/%d" % fd, stat.S_IMODE(st.st_mode) & ~OTHERS)   # chmod follows a name
        return True
    finally:
        os.close(fd)


def others_can_change(path: str | bytes | os.PathLike, also: int | None = None) -> str | None:
    """Could a user other than root and this one (and `also`, the uid of a user trusted too: the one
    a command runs as) replace what `path` names, or what rabtui makes in it (a symlink put where it
    made a directory or a file)? The owner of a directory on the way can,
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
        if stat.S_ISLNK(st.st_mode) and st.st_uid not in _trusted(also) and sticky(os.path.dirname(d)) \
                and not frozen(os.path.dirname(d)):
            # its owner may replace it: a sticky directory (as /tmp) lets others make entries
            # and keeps each one its owner's
            return f"{os.fsdecode(d)} is a symlink of user {user_named(st.st_uid)} in a sticky directory"
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            continue    # a symlink cannot be changed, only replaced in the directory above
        why = others_can_change_dir(st, d, os.fsdecode(d), also)
        if why and not frozen(d):
            return why
    return None


def frozen(path: str | bytes, depth: int = 0) -> bool:
    """Whether nobody but root can change `path` (not followed) whatever its mode and owner: it lies
    on a local file system that is read-only itself (mount_points.read_only_device: a disc, an image
    mounted ro), whose device no other user may write (a loop device's file included)."""
    found = mount_points.read_only_device(path)
    if found is None or depth > 4:
        return False
    # btrfs shows its files on a number of its own; any other's must be its source's (a FUSE file
    # system's source is what its user names: fsname=/dev/sda1)
    return _device_closed(*found, depth, btrfs=mount_points.fs_type(path) == "btrfs")


def _device_closed(node: bytes, device: int, depth: int, btrfs: bool = False) -> bool:
    """Whether no user other than root and this one may change what the block device `device` (its
    node `node`) holds: its node, the whole disk a partition is of, the devices one mapped onto
    others is made of (sysfs's slaves: device-mapper, md), and a loop device's file; `btrfs`: the
    device is a btrfs's own number, `node` one of the devices it is made of."""
    try:
        st = os.stat(node)
    except OSError:
        return False
    if btrfs and stat.S_ISBLK(st.st_mode) and st.st_rdev != device:     # its devices, as sysfs lists them
        members = _btrfs_devices(st.st_rdev)
        return bool(members) and all(_device_closed(*m, depth + 1) for m in members) if depth <= 4 else False
    if not stat.S_ISBLK(st.st_mode) or st.st_rdev != device or st.st_uid not in (0, os.geteuid()) \
            or st.st_mode & stat.S_IWOTH or st.st_mode & stat.S_IWGRP and (
                _has_acl(node) or not _root_and_mine_alone(st.st_gid, trusted_groups=("staff", "disk"))):
        return False
    block = f"/sys/dev/block/{os.major(device)}:{os.minor(device)}"
    try:    # a partition reads its whole disk (a loop device's: its file)
        below = [os.path.dirname(os.path.realpath(block))] if os.path.exists(f"{block}/partition") else \
            [os.path.realpath(f"{block}/slaves/{name}") for name in os.listdir(f"{block}/slaves")]
        for d in below:
            with open(f"{d}/dev") as f:
                major, minor = map(int, f.read().split(":"))
            if depth > 4 or not _device_closed(os.fsencode(f"/dev/{os.path.basename(d)}"), os.makedev(major, minor),
                                               depth + 1):
                return False
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        return False
    try:    # a loop device reads its file: whoever can change that file changes what it holds
        with open(f"{block}/loop/backing_file", "rb") as f:
            backing = f.read().rstrip(b"\n")
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return not (others_can_change(backing) or _others_write_file(backing, depth + 1))


def _btrfs_devices(device: int) -> list[tuple[bytes, int]]:
    """(node, device number) of each device of the btrfs the block device `device` is one of (sysfs's
    /sys/fs/btrfs/UUID/devices); none when it is none's."""
    name = os.path.basename(os.path.realpath(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}"))
    try:
        for fs in os.listdir("/sys/fs/btrfs"):
            listed = f"/sys/fs/btrfs/{fs}/devices"
            if os.path.isdir(listed) and name in os.listdir(listed):
                members = []
                for member in os.listdir(listed):
                    with open(f"{listed}/{member}/dev") as f:
                        major, minor = map(int, f.read().split(":"))
                    members.append((os.fsencode(f"/dev/{member}"), os.makedev(major, minor)))
                return members
    except (OSError, ValueError):
        pass
    return []


def _others_write_file(path: bytes, depth: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return True
    return (st.st_uid not in (0, os.geteuid()) or _writable_by_others(st, path, os.fsdecode(path)) is not None) \
        and not frozen(path, depth)


def others_can_reach(path: str | bytes | os.PathLike) -> bool:
    """Could a user other than root and this one reach what the directory `path` holds? Every
    directory from `/` down to it is searchable by them (its bit for others, or for its group when
    that is not root's and this user's alone, or it has an ACL), or belongs to them (they may chmod
    it). One that cannot be looked at is taken as closed."""
    d = os.path.abspath(os.fsencode(path))
    while True:
        try:
            st = os.stat(d)
        except OSError:
            return False
        if st.st_uid in (0, os.geteuid()) and not st.st_mode & stat.S_IXOTH and not (
                st.st_mode & stat.S_IXGRP and (_has_acl(d) or not _root_and_mine_alone(st.st_gid))):
            return False
        if d == b"/":
            return True
        d = os.path.dirname(d)


def others_can_make(path: str | os.PathLike, also: int | None = None) -> str | None:
    """Could a user other than root and this one (and `also`) make `path`, missing now: the nearest
    folder above it is sticky and open to them (as /tmp)? Why, or None."""
    path = os.path.abspath(path)
    if os.path.lexists(path):
        return None
    folder = os.path.dirname(path)
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    try:
        st = os.stat(folder)
    except OSError:
        return None     # what cannot be reached cannot be made there
    if not st.st_mode & stat.S_ISVTX or not stat.S_ISDIR(st.st_mode) or frozen(folder):
        return None
    why = _writable_by_others(st, os.fsencode(folder), folder, also)
    return f"{path} is not there, and another user may make it: {why} (sticky)" if why else None


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


def others_can_change_dir(st: os.stat_result, d: bytes | int, shown: str, also: int | None = None) -> str | None:
    """Can a user other than root and this one (and `also`) change the entries of the directory `d`
    (a path, or an open descriptor) whose stat is `st`? Why, or None."""
    if st.st_uid not in _trusted(also):
        return f"{shown} belongs to user {user_named(st.st_uid)}"
    if st.st_mode & stat.S_ISVTX:
        return None
    return _writable_by_others(st, d, shown, also)


def others_can_write(path: str | bytes | os.PathLike, also: int | None = None) -> str | None:
    """Can a user other than root and this one (and `also`) change `path` itself: a file's contents, or a
    directory's entries (as others_can_change_dir)? A symlink is not (only replaced, which
    others_can_change judges, in the directory above); a missing path is not. Why, or None."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{os.fsdecode(path)[:200]} cannot be looked at ({exc.strerror})"
    shown = os.fsdecode(path)
    if stat.S_ISLNK(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        why = others_can_change_dir(st, os.fsencode(path), shown, also)
    elif st.st_uid not in _trusted(also):
        why = f"{shown} belongs to user {user_named(st.st_uid)}"
    else:
        why = _writable_by_others(st, os.fsencode(path), shown, also)
    return None if why is None or frozen(path) else why


def others_can_name_in(d: str | os.PathLike) -> str | None:
    """Can a user other than root and this one make a name in the directory `d`, sticky or not (a
    hard link of theirs among rabtui's files)? Why, or None; one that cannot be looked at: they can."""
    shown = os.fsdecode(d)
    try:
        st = os.stat(d)
    except OSError as exc:
        return f"{shown[:200]} cannot be looked at ({exc.strerror})"
    if st.st_uid not in (0, os.geteuid()):
        return f"{shown} belongs to user {user_named(st.st_uid)}"
    return _writable_by_others(st, os.fsencode(d), shown)


def _trusted(also: int | None) -> tuple[int, ...]:
    """The uids whose changes are no other user's: root's, this user's, and `also`."""
    return (0, os.geteuid()) if also is None else (0, os.geteuid(), also)


def _writable_by_others(st: os.stat_result, d: bytes | int, shown: str, also: int | None = None) -> str | None:
    if st.st_mode & stat.S_IWOTH:
        return f"{shown} is writable by everyone"
    if st.st_mode & stat.S_IWGRP:
        if _has_acl(d):     # the group's bits are then the mask of what the ACL grants
            return f"{shown} has an ACL that lets others write in it (getfacl {shlex.quote(shown)})"
        if not _root_and_mine_alone(st.st_gid, also):
            return f"{shown} is writable by its group {group_named(st.st_gid)}"
    return None


def _root_and_mine_alone(gid: int, also: int | None = None, trusted_groups: tuple[str, ...] = ("staff",)) -> bool:
    """Is `gid` root's group, this user's own or Debian's staff, with nobody but root and this user
    in it (as a member, or as a user whose primary group it is)? Root's group holds only root on most
    systems, and a user private group (Debian gives every user one, whose umask 002 makes their
    directories group-writable) only its user; staff owns /usr/local and /usr/local/bin (2775) where
    /etc/staff-group-for-usr-local is, with nobody in it unless root put them there. Where another
    user is in one, that user can write there. `also`: a user trusted too, whose own group is taken
    as this user's is."""
    if gid not in (0, os.getegid(), _primary_gid(also)) and _group_name(gid) not in trusted_groups:
        return False
    trusted = set(_trusted(also))
    try:
        members = set(grp.getgrgid(gid).gr_mem)
        users = pwd.getpwall()
    except KeyError:
        return False
    names = {p.pw_name for p in users if p.pw_uid in trusted}
    return members <= names and not any(p.pw_gid == gid and p.pw_uid not in trusted for p in users)


def _primary_gid(uid: int | None) -> int | None:
    try:
        return None if uid is None else pwd.getpwuid(uid).pw_gid
    except KeyError:
        return None


def _group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


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
    return any(_TOKEN.match(w) for w in words) or _hidden_by_apprise(url)


def _hidden_by_apprise(url: str) -> bool:
    """Whether apprise, where installed, hides part of `url` in its privacy form: the tokens its
    services carry that look like no token here (Pushbullet's `o.` ones, Home Assistant's JWT, a
    Gotify app token of 15 characters). Loaded only for a config others can read."""
    try:
        import apprise  # optional extra
    except ImportError:
        return False
    try:
        service = apprise.Apprise.instantiate(url)
        return service is not None and service.url(privacy=True) != service.url(privacy=False)
    except Exception:  # a plugin's own bug: judged by the words alone
        return False


def exposed_config(path: str | os.PathLike, apprise_urls: Iterable[str], command: str | None = None) -> str | None:
    """Why the config at `path` must not stay as it is: it holds secrets and others can read it (an
    apprise URL's, or a URL's in the notify `command`: a webhook's token given to curl, say)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    mode = st.st_mode
    if not _others_can_read(path, st):
        return None
    if any(url_has_secret(u) for u in apprise_urls):
        where = "notify.apprise_urls"
    elif any(url_has_secret(u) for u in _urls_in(command or "")):
        where = "a URL in notify.command"
    else:
        return None
    return (f"{path} holds credentials ({where}) and is readable by other users"
            f" (mode {stat.S_IMODE(mode):04o}): chmod 600 {shlex.quote(os.fspath(path))}")


def _others_can_read(path: str | os.PathLike, st: os.stat_result) -> bool:
    """Could a user other than root and this one read the file `path` (stat `st`): its read bit for
    others, or for its group when that is not root's and this user's alone (or it has an ACL), in a
    folder they can reach (root's ~/.config is under /root, 0700)?"""
    real = os.path.realpath(path)
    readable = st.st_mode & stat.S_IROTH or st.st_mode & stat.S_IRGRP and (
        _has_acl(os.fsencode(real)) or not _root_and_mine_alone(st.st_gid))
    return bool(readable) and others_can_reach(os.path.dirname(real))


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def _urls_in(command: str) -> list[str]:
    """The URLs written in a command line (`curl -d @- https://hooks.example/T/B/TOKEN`, `--url=...`)."""
    return _URL.findall(command)
