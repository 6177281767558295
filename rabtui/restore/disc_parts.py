"""A file cut into parts across the discs of a checkpoint (`NAME.partNN-of-MM`), joined again as
it comes off them: each part hashed against the catalog as it is read, runs of zeros left holes,
the whole file given what its first part came off the disc with."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat

from rabtui import fmt
from rabtui.errors import Cancelled, WorkFailed
from rabtui.events import LOG, Emit, Event
from rabtui.restore.disc_checks import disc_name
from rabtui.restore.disc_owners import CAPABILITY
from rabtui.filecopy import pwrite_all, read_xattrs
from rabtui.restore.staging import ACLS

BLOCK = 1 << 16          # a run of zeros this long is left a hole when cut parts are joined
_ZEROS = bytes(BLOCK)
CHUNK = 1 << 20


def _cancelled(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("restore cancelled while reading what came off the disc")


def join_parts(trees: dict[int, bytes], under: bytes, prs: list, sc, emit: Emit, cancel) -> list[tuple[bytes, str]]:
    """Join the parts `prs` of one cut file, each read from the tree of its own disc, into the
    tree of the first part's disc, as `under`. Each part is hashed as it is read and checked
    against the catalog; runs of zeros of BLOCK bytes stay holes. The file gets the owner, mode,
    ACL, xattrs and times of its first part, which holds the whole file's (discs written before
    rabtui gave parts the ACL and xattrs hold none). Returns what was wrong."""
    prs.sort(key=lambda r: r["part"])
    name = bytes(prs[0]["path"])
    where = os.path.dirname(under)
    pieces = [os.path.join(trees[r["disc"]], where, os.path.basename(bytes(r["disc_path"]))) for r in prs]
    missing = [p for p in pieces if not os.path.lexists(sc.path(p))]
    if missing or len(prs) != prs[0]["parts"]:
        raise WorkFailed(f"{fmt.name(name)}: parts missing ({len(prs) - len(missing)} of {prs[0]['parts']})")
    base_dir = sc.path(os.path.join(trees[prs[0]["disc"]], where))
    dirs = {sc.path(os.path.dirname(p)) for p in pieces} | {base_dir}
    times = {d: os.stat(d) for d in dirs}
    tmp, fd = _join_file(base_dir)
    bad: list[tuple[bytes, str]] = []
    try:
        pos = 0
        for p, r in zip(pieces, prs):
            h = hashlib.sha256()
            with open(sc.path(p), "rb") as pf:
                while chunk := pf.read(CHUNK):
                    _cancelled(cancel)
                    h.update(chunk)
                    view = memoryview(chunk)
                    for at in range(0, len(chunk), BLOCK):
                        block = view[at:at + BLOCK]
                        if block != _ZEROS[:len(block)]:
                            pwrite_all(fd, block, pos + at)
                    pos += len(chunk)
            if r["sha256"] is not None and h.hexdigest() != r["sha256"]:
                bad.append((name, f"part {r['part']} of {r['parts']} differs from the catalog on {disc_name(r)}"))
        os.ftruncate(fd, pos)   # the size, with a hole at the end where the file ends in zeros
        _as_extracted(fd, sc.path(pieces[0]), name)
    finally:
        os.close(fd)
    for p in pieces:
        os.unlink(sc.path(p))
    os.rename(tmp, os.path.join(base_dir, os.path.basename(name)))
    for d, st in times.items():   # the directories keep the times they came off the disc with
        with contextlib.suppress(PermissionError):   # another user's, without CAP_FOWNER: named (disc_refused)
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
    emit(Event(LOG, f"joined {len(prs)} parts of {fmt.name(name)}"))
    return bad


def _join_file(base_dir: bytes) -> tuple[bytes, int]:
    """A new file in `base_dir` to join parts in, under a name none of what came off the disc
    there has (a file of the source may bear any name)."""
    while True:
        tmp = os.path.join(base_dir, b".rabtui-join-" + secrets.token_hex(6).encode())   # fits beside a 255-byte name
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue


def _as_extracted(fd: int, part: bytes, name: bytes) -> None:
    """Give the joined file `fd` what its first part came off the disc with, as a whole file does:
    its mode, ACL and xattrs, times, and owner (as root). The mode before the ACL (whose mask sets
    the group bits); the owner last, which its owner's file needs no privilege over after (root
    without CAP_FOWNER may give a file away, then not set its mode nor its times): a chown clears
    setuid and the capability, set again then. ACLs the kernel gave the new file from its
    directory's default ACL are removed."""
    st = os.lstat(part)
    attrs = read_xattrs(part)
    have = {n for n, _ in attrs}
    for acl in ACLS:
        if os.fsencode(acl) not in have:
            with contextlib.suppress(OSError):
                os.removexattr(fd, acl)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    _set_xattrs(fd, attrs, name)
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    made = os.fstat(fd)
    if os.geteuid() == 0 and (made.st_uid, made.st_gid) != (st.st_uid, st.st_gid):
        os.fchown(fd, st.st_uid, st.st_gid)
        if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
        _set_xattrs(fd, [(n, v) for n, v in attrs if n == os.fsencode(CAPABILITY)], name)


def _set_xattrs(fd: int, attrs: list[tuple[bytes, bytes]], name: bytes) -> None:
    for n, value in attrs:
        with contextlib.suppress(OSError):
            if os.getxattr(fd, n) == value:     # a security module's label, given it already
                continue
        try:
            os.setxattr(fd, n, value)
        except OSError as exc:
            raise WorkFailed(f"{fmt.name(name)}: its parts joined, the xattr {fmt.name(n)} it came off the disc with"
                             f" cannot be set: {exc.strerror}") from None
