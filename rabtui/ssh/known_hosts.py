"""OpenSSH known_hosts files, read as ssh reads them.

paramiko's own reader stops at the first line it cannot decode and knows neither wildcards,
negations nor `@revoked`; one bad line in ~/.ssh/known_hosts must not stop every backup, so this
reader skips what it cannot parse (as ssh does) and matches host patterns the way ssh does:
comma-separated, `*` and `?` wildcards, `!negation`, hashed `|1|salt|hash` names.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import hmac
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from rabtui import file_replace, flock_turns, fmt, privacy
from rabtui.errors import WorkFailed

# rsa-sha2-* are signature algorithms of an "ssh-rsa" key
_KEY_TYPE_OF_ALGORITHM = {"rsa-sha2-512": "ssh-rsa", "rsa-sha2-256": "ssh-rsa"}


@dataclass(frozen=True)
class Entry:
    path: Path
    line: int
    patterns: tuple[str, ...]
    key_type: str
    blob: bytes
    marker: str = ""          # "" | "@revoked" (@cert-authority lines are not host keys: skipped)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def key_type_of(algorithm: str) -> str:
    return _KEY_TYPE_OF_ALGORITHM.get(algorithm, algorithm)


def read(paths: Iterable[Path]) -> list[Entry]:
    """Every usable line of the files that exist; unreadable files and lines are skipped, one that is
    not a regular file is refused (contents)."""
    entries: list[Entry] = []
    for path in paths:
        data = contents(path)
        for number, raw in enumerate(data.splitlines(), start=1):
            entry = _parse(path, number, raw.decode("utf-8", "replace"))
            if entry is not None:
                entries.append(entry)
    return entries


def contents(path: Path) -> bytes:
    """What the file holds; empty when it is not there or cannot be read. One that is not a regular
    file is refused (WorkFailed), as ssh would wait on a FIFO's open for a writer for ever, but for
    the null device (`ln -s /dev/null ~/.ssh/known_hosts`: no keys kept), which reads as empty. A
    device is refused before it is opened (a tape drive's open rewinds it); the look and the open
    each check, one swapped in between them is refused too."""
    try:
        looked = os.stat(path)
    except OSError:     # not there, or a directory on the way we may not search
        return b""
    if not stat.S_ISREG(looked.st_mode):
        if _null(looked):
            return b""
        raise not_a_file(path, looked.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return b""
    except OSError:     # a socket cannot be opened; a file we may not read is skipped
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return b""
        if stat.S_ISREG(mode):
            return b""
        raise not_a_file(path, mode) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if _null(st):
                return b""
            raise not_a_file(path, st.st_mode)
        _trusted(path)
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    except OSError:
        return b""
    finally:
        os.close(fd)


def _trusted(path: Path) -> None:
    """WorkFailed when a user other than root and this one can change the file: a key of theirs in
    it would let them stand in for a source (a restore onto it sent to them, their files taken for
    the source's)."""
    why = privacy.others_can_change(path) or privacy.others_can_write(os.path.realpath(path))
    if why:
        raise WorkFailed(f"{fmt.name(why)}: the host keys in it are not trusted (whoever can change it could"
                         " stand in for a source)", hint="give it to this user or root, closed to others"
                                                         " (chown, chmod go-w), once its keys are checked")


def _null(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.stat(os.devnull).st_rdev


def _parse(path: Path, number: int, line: str) -> Entry | None:
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = ""
    if fields[0].startswith("@"):
        marker, fields = fields[0], fields[1:]
        if marker != "@revoked":
            return None
    if len(fields) < 3:
        return None
    try:
        blob = base64.b64decode(fields[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    return Entry(path, number, tuple(fields[0].split(",")), fields[1], blob, marker)


def _glob(pattern: str, name: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.fullmatch(regex, name.lower()) is not None


def _hashed(pattern: str, name: str) -> bool:
    parts = pattern.split("|")   # "", "1", salt, hash
    if len(parts) != 4:
        return False
    try:
        salt, digest = base64.b64decode(parts[2]), base64.b64decode(parts[3])
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)


def host_matches(patterns: Iterable[str], name: str) -> bool:
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        hit = _hashed(pattern, name) if pattern.startswith("|1|") else _glob(pattern, name)
        if hit and negated:
            return False
        matched = matched or hit
    return matched


def for_host(entries: Iterable[Entry], name: str) -> Iterator[Entry]:
    return (e for e in entries if host_matches(e.patterns, name))


def line_for(name: str, key_type: str, blob: bytes) -> str:
    return f"{name} {key_type} {base64.b64encode(blob).decode()}\n"


def not_a_file(path: Path, mode: int) -> WorkFailed:
    return WorkFailed(f"{fmt.name(str(path))} is not a regular file (a {fmt.file_kind(mode)}): host keys are"
                      " kept in files only", hint="remove it, or put the known_hosts file itself in its place")


_OWN = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def open_own(path: Path, flags: int) -> int:
    """rabtui's own file opened once with `flags` (what is read and written goes through it; with
    O_CREAT, made 0600 when missing): one that is not a regular file is refused (not_a_file) as it
    is looked at, before any open (a device's has side effects), and as it is opened: a symlink is
    not followed, a FIFO put there after the look is not waited on (a writer's open of one waits for
    a reader for ever)."""
    try:
        looked = os.lstat(path).st_mode
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
        looked = stat.S_IFREG       # what the open makes
    if not stat.S_ISREG(looked):
        raise not_a_file(path, looked)
    try:
        fd = os.open(path, flags | _OWN, privacy.FILE_MODE)
    except OSError:   # ELOOP: a symlink; ENXIO: a FIFO no one reads
        try:
            now = os.lstat(path).st_mode
        except OSError:
            now = looked
        if not stat.S_ISREG(now):
            raise not_a_file(path, now) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_a_file(path, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def add_line(path: Path, line: bytes) -> None:
    """`line` at the end of `path` (after a line break when its last line has none)."""
    fd = open_own(path, os.O_RDWR | os.O_APPEND)
    try:
        st = os.fstat(fd)
        # a hard link to a file of root's (/etc/shadow), made in a state directory open to all; in one
        # closed to others, the other names are this user's (a copy of it made by `cp -al`)
        if st.st_nlink > 1 and privacy.others_can_name_in(path.parent) is not None:
            raise WorkFailed(f"{fmt.name(str(path))} has {st.st_nlink} names (a hard link to a file elsewhere): no"
                             " host key is added to it", hint="move it away, then trust the key again")
        size = st.st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        while line:
            line = line[os.write(fd, line):]
    finally:
        os.close(fd)


def remove_lines(path: Path, numbers: set[int], added: bytes = b"") -> None:
    """Rewrite `path` without the lines numbered `numbers` (1-based) and with the line `added` at
    its end, atomically, keeping its mode."""
    with os.fdopen(open_own(path, os.O_RDONLY), "rb") as f:
        data, mode = f.read(), os.fstat(f.fileno()).st_mode & 0o777
    kept = b"".join(line for n, line in enumerate(data.splitlines(keepends=True), start=1) if n not in numbers)
    if added and kept and not kept.endswith(b"\n"):
        kept += b"\n"
    file_replace.replace_file(path, kept + added, mode)


WRITE_WAIT = 10.0     # seconds a write of rabtui's known_hosts waits for another one to end


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """`path` (made 0600 when missing) to this writer alone while the block runs: an flock on the
    file there, taken again on the new one when another writer's rewrite (remove_lines: a rename)
    put one in its place meanwhile. A writer stopped or hung holding it is waited for WRITE_WAIT
    seconds (TimeoutError)."""
    deadline = time.monotonic() + WRITE_WAIT
    while True:
        fd = open_own(path, os.O_RDONLY | os.O_CREAT)
        try:
            if not flock_turns.take(fd, max(0.0, deadline - time.monotonic())):
                raise TimeoutError(errno.ETIMEDOUT, f"another rabtui held it for more than {WRITE_WAIT:g} s")
            held_now, there = os.fstat(fd), _identity(path)
            if (held_now.st_dev, held_now.st_ino) == there:
                yield
                return
        finally:
            os.close(fd)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
