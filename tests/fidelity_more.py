"""The corners of a file system past tests/fidelity.py: directory modes 0000, 1777 and setgid,
nanosecond times, a hole at a file's end, a file with 1000 names, symlinks to directories and in
loops, empty files, newlines and 255-byte non-UTF-8 names, names apart only by Unicode form or by
case; and a comparison of two trees by lstat, xattrs (ACLs included), content and hard-link
groups, independent of rsync."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

NS_MTIME = 1_700_000_000_123_456_789
LINKS = 1000
TAIL_HOLE = 8 * 1024 * 1024


def build(root: Path) -> None:
    root = Path(root)
    for d in ("modes/closed", "modes/tmp", "modes/setgid", "links/many", "links/other", "holes", "sym/dir", "names"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "modes/tmp/inside").write_text("x")
    (root / "modes/closed/secret").write_text("no one may look")
    os.chmod(root / "modes/tmp", 0o1777)
    os.chmod(root / "modes/setgid", 0o2775)
    (root / "empty").write_bytes(b"")
    (root / "ns").write_text("nanoseconds\n")
    os.utime(root / "ns", ns=(NS_MTIME, NS_MTIME))
    with open(root / "holes/tail", "wb") as f:
        f.write(b"start")
        f.truncate(TAIL_HOLE)
    first = root / "links/many/n0000"
    first.write_text("one inode, a thousand names\n")
    for i in range(1, LINKS):
        os.link(first, root / f"links/many/n{i:04d}")
    os.link(first, root / "links/other/far")
    os.symlink("dir", root / "sym/to-dir")
    os.symlink("loop-b", root / "sym/loop-a")
    os.symlink("loop-a", root / "sym/loop-b")
    os.symlink("self", root / "sym/self")
    os.symlink(str(root / "sym/dir"), root / "sym/absolute-dir")
    names = root.joinpath("names")
    os.open(bytes(names) + b"/new\nline", os.O_CREAT | os.O_WRONLY, 0o644)
    os.open(bytes(names) + b"/" + b"\xff" * 255, os.O_CREAT | os.O_WRONLY, 0o644)
    os.open(bytes(names) + b"/" + b"\xc3\xa9" * 127 + b"z", os.O_CREAT | os.O_WRONLY, 0o644)
    # names apart only by their Unicode form (NFC, NFD) or by case: each its own file, as Linux keeps them
    for i, name in enumerate((b"caf\xc3\xa9", b"cafe\xcc\x81", b"README", b"Readme", b"readme")):
        (names / os.fsdecode(name)).write_bytes(b"%d" % i)
    for dirpath, dirs, _ in os.walk(root, topdown=False):
        for d in dirs:
            os.utime(os.path.join(dirpath, d), ns=(NS_MTIME, NS_MTIME), follow_symlinks=False)
    os.chmod(root / "modes/closed", 0o000)


def _xattrs(path: bytes) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names)}


def _sha(path: bytes) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe(root: str | os.PathLike, *, skip: tuple[bytes, ...] = (), seconds: bool = False,
             every: bool = False) -> tuple[dict, list]:
    """relative name -> what a faithful copy must keep; and the hard-link groups (sorted names).
    `seconds`: times to the second (a disc's). `every`: the root itself too (as b"."), symlinks'
    times, and hard-link groups of every kind but directories (symlinks and FIFOs have them too)."""
    root_b = os.fsencode(root)
    entries, inodes = {}, {}
    names = [(root_b, b".")] if every else []
    for dirpath, dirs, files in os.walk(root_b):
        names += [(os.path.join(dirpath, n), os.path.relpath(os.path.join(dirpath, n), root_b)) for n in dirs + files]
    for full, rel in names:
        if rel in skip:
            continue
        st = os.lstat(full)
        kind = stat.S_IFMT(st.st_mode)
        e = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "xattrs": _xattrs(full)}
        if every or not stat.S_ISLNK(st.st_mode):
            e["mtime_ns"] = st.st_mtime_ns // 1_000_000_000 if seconds else st.st_mtime_ns
        if stat.S_ISREG(kind) or every and not stat.S_ISDIR(kind):
            inodes.setdefault(st.st_ino, []).append(rel)
        if stat.S_ISREG(kind):
            e["size"], e["sha"] = st.st_size, _sha(full)
            e["sparse"] = st.st_blocks * 512 < st.st_size
        elif stat.S_ISLNK(kind):
            e["target"] = os.readlink(full)
        elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
            e["rdev"] = st.st_rdev
        entries[rel] = e
    groups = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return entries, groups


def differences(a: str | os.PathLike, b: str | os.PathLike, *, skip: tuple[bytes, ...] = (),
                seconds: bool = False) -> list[str]:
    """Each way the tree `b` is not `a`: nothing when it is a faithful copy."""
    ea, ga = describe(a, skip=skip, seconds=seconds)
    eb, gb = describe(b, skip=skip, seconds=seconds)
    out = []
    for rel in sorted(set(ea) | set(eb)):
        if rel not in eb:
            out.append(f"missing {rel!r}")
        elif rel not in ea:
            out.append(f"extra {rel!r}")
        else:
            for key in sorted(set(ea[rel]) | set(eb[rel])):
                if ea[rel].get(key) != eb[rel].get(key):
                    out.append(f"{rel!r} {key}: {ea[rel].get(key)!r} != {eb[rel].get(key)!r}")
    if ga != gb:
        out.append(f"hard-link groups differ: {[len(g) for g in ga]} != {[len(g) for g in gb]}")
    return out
