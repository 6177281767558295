"""The xattrs of a disc that xorriso holds but does not print. Its `-getfattr` writes a pair whose
name and value take 4,096 bytes or more together (SfileadrL) as `# oversized: name N , value M
bytes` (xorriso 1.5.4, Xorriso_getfattr), though the disc holds the value whole: libisofs records
any value the kernel gives (up to 64 KiB) in AAIP, and osirrox sets it again. So such an entry's
xattrs are read back by extracting what carries them, and not its content: one byte of a file
(`-extract_cut`), anything else without what is below it (`-extract_single`), into a scratch
directory, where the kernel gives them. A file system may refuse values that long (ext4 takes one
block's worth); the next place is tried then: /dev/shm, whose tmpfs takes them (those of user.
since Linux 6.6), in a private directory of the run (temp_dirs.py: one a killed run left there, in
memory, goes with the next that reads values there). Each value read is compared as those xorriso
prints are (backed_up_attrs.py); one that could not be read back fails the disc, with the reason.
The whole disc extracted for verification leaves those entries' xattrs out (strip_list): a value
its file system refused would leave the entry without its mode and times, and stop the extraction.

A symlink's long values (trusted. and security. ones: only root sets xattrs on a symlink) cannot be
read back at all: every xorriso command that prints xattrs (-getfattr, -getfattr_r, `-exec
getfattr`, `-exec get_any_xattr`, `-exec list_extattr`) prints such a pair by its lengths alone,
and osirrox extracts a symlink without setting any xattr on it (xorriso 1.5.4,
Xorriso_tree_restore_node). They are compared by their lengths (`by_length`), and that is said."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from rabtui import faults, privacy, temp_dirs
from rabtui.checkpoint import disc_tree, xorriso, xorriso_output
from rabtui.checkpoint.content import LINK_MARK, MARKS
from rabtui.checkpoint.layout import Row

OVERSIZED = 4096   # SfileadrL: a pair this long (name and value) is listed without being printed
ELSEWHERE = ("/dev/shm",)   # tried when the scratch's file system refuses a value
BATCH = 200        # entries per xorriso run: its arguments stay far below the system's limit
LINKS_UNREAD = ("xorriso prints a name and value of 4,096 bytes or more together only by their lengths, and osirrox"
                " sets no xattr on a symlink it extracts")


def listed(exe: str, indev: str, volid: str, problems: list[str], cancel,
           silence: float | None = None) -> tuple[dict, dict]:
    """Each entry's ACLs and xattrs as the disc lists them (xorriso_output.AttrsListing: its
    `attrs`), and the xattrs it lists without their values (its `oversized`); into `problems` when it
    cannot (xorriso_output.MachineFailed where this machine failed it)."""
    listing = xorriso_output.AttrsListing()
    done = disc_tree.run(xorriso.attrs_argv(exe, indev, volid), on_stdout=listing.take, cancel=cancel,
                         silence=silence, busy=True)
    xorriso_output.raise_machine_failure(done, "listing the ACLs and xattrs of the disc")   # the disc not judged
    if not done.ok:
        problems.append(f"reading the ACLs and xattrs of the disc failed (exit {done.returncode}):"
                        f" {done.stderr_said(200)}")
    return listing.done()


def read_back_argv(exe: str, indev: str, volid: str, jobs: Iterable[tuple[bytes, bool, bytes]]) -> list[str]:
    """Each (image path, holds data, target) extracted without its data: a file's first byte, an
    entry without what is below it; xattrs of every namespace as root, else of user.; a problem
    with one does not stop the others."""
    root = os.geteuid() == 0
    argv = [exe, "-no_rc", "-backslash_codes", "on", "-assert_volid", volid, "FATAL", "-acl", "off",
            "-xattr", "any" if root else "user", "-indev", xorriso.arg(indev), "-abort_on", "NEVER",
            "-osirrox", "on:device_files" if root else "on", "-iso_rr_pattern", "off"]
    for path, data, target in jobs:
        if data:
            argv += ["-extract_cut", xorriso.arg(b"/" + path), "0", "1", xorriso.arg(target)]
        else:
            argv += ["-extract_single", xorriso.arg(b"/" + path), xorriso.arg(target)]
    return argv + ["-end"]


def strip_list(paths: Iterable[bytes]) -> bytes:
    """A -setfattr_list file that replaces the xattrs of each entry (image paths, relative) with
    one short user. xattr (xorriso 1.5.4 removes none when given none to set, and an empty value
    leaves a node whose AAIP libisofs cannot decode): what extract_argv runs before it extracts
    the disc onto a file system that may refuse long values."""
    return b"".join(b"# file: " + xorriso.list_word(p) + b'\nuser.rabtui.verify="1"\n' for p in sorted(paths))


def write_strip_list(folder: bytes, oversized: dict[bytes, list[tuple[int, int]]]) -> str | None:
    """strip_list of the entries with long values written into `folder`; its path, None when none."""
    if not oversized:
        return None
    path = os.path.join(folder, b"strip")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(strip_list(oversized))
    return os.fsdecode(path)


def complete(exe: str, indev: str, volid: str, attrs: dict[bytes, dict[bytes, bytes]],
             oversized: dict[bytes, list[tuple[int, int]]], rows: list[Row], dirs: Iterable[bytes],
             scratch: Path | None, cancel, by_length: dict[bytes, list[tuple[int, int]]] | None = None,
             silence: float | None = None) -> dict[bytes, str]:
    """Put into `attrs` (parse_getfattr) the values `oversized` (parse_oversized) lists, of the
    entries compared: `rows` and the directories `dirs`; into `by_length`, those of the symlinks,
    which cannot be read back (LINKS_UNREAD). Returns why, by path, for those that could not be.
    They are read beside `scratch` (None: the disc is read as a stream, with no scratch), else in ELSEWHERE."""
    data = {r.disc_path: r.sha256 not in MARKS and r.size > 0 for r in rows}
    data.update((d, False) for d in dirs if d not in data)
    left = {p: sorted(sizes) for p, sizes in oversized.items() if p in data}
    for r in rows:
        if r.sha256 == LINK_MARK and r.disc_path in left:
            sizes = left.pop(r.disc_path)
            if by_length is not None:
                by_length[r.disc_path] = sizes
    why: dict[bytes, str] = {}
    beside = [] if scratch is None else [scratch.with_name(scratch.name + "-xattrs")]
    for place in [*beside, *map(Path, ELSEWHERE)]:
        if not left:
            break
        with ExitStack() as stack:
            try:
                folder = stack.enter_context(_folder(place, scratch))
            except OSError:   # not there, or not ours to write in
                continue
            for found, failed in _read(exe, indev, volid, left, data, folder, cancel, silence):
                if found:
                    faults.point("verify.xattrs_read")
                for path, values in found.items():
                    attrs.setdefault(path, {}).update(values)
                    del left[path]
                    why.pop(path, None)
                why.update(failed)
    for path, sizes in left.items():
        why.setdefault(path, f"xattr of {sizes[0][1]} bytes not read back from the disc")
    return why


@contextmanager
def _folder(place: Path, scratch: Path | None) -> Iterator[Path]:
    """A new private directory, removed afterwards: `place` itself beside the scratch (in the
    verification's private directory: verify_scratch.scratch), else one of this run in `place`
    (/dev/shm: one a killed run left goes with the next, temp_dirs)."""
    if scratch is None or place.parent != scratch.parent:
        why = privacy.others_can_change(place)
        if why:     # they could swap the folder for a symlink of theirs, and read the values there
            raise PermissionError(errno.EPERM, why, str(place))
        with temp_dirs.private(place) as folder:
            yield Path(os.fsdecode(folder))
        return
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir(mode=0o700, parents=True)
    try:
        yield place
    finally:
        shutil.rmtree(place, ignore_errors=True)


def _read(exe: str, indev: str, volid: str, left: dict[bytes, list[tuple[int, int]]], data: dict[bytes, bool],
          folder: Path, cancel, silence: float | None):
    """({path: its oversized xattrs}, {path: why not}) for each batch of `left` extracted into `folder`."""
    paths = sorted(left)
    for i in range(0, len(paths), BATCH):
        jobs = [(p, data[p], os.path.join(os.fsencode(folder), b"%d" % (i + k)))
                for k, p in enumerate(paths[i:i + BATCH])]
        done = disc_tree.run(read_back_argv(exe, indev, volid, jobs), cancel=cancel, silence=silence, busy=True)
        xorriso_output.raise_machine_failure(done, "reading xattrs back from the disc")
        complaint = _complaint(done.stderr_tail) or f"xorriso exited {done.returncode}"
        found, failed = {}, {}
        for path, _data, target in jobs:
            values = _oversized(target)
            if sorted((len(n), len(v)) for n, v in values.items()) == left[path]:
                found[path] = values
            else:
                failed[path] = f"xattr of {left[path][0][1]} bytes not read back from the disc: {complaint}"
        yield found, failed


def _oversized(target: bytes) -> dict[bytes, bytes]:
    """The xattrs of an extracted entry that xorriso does not print."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return {}
    if not stat.S_ISLNK(st.st_mode):   # a value of user. is read only with read permission
        os.chmod(target, 0o700 if stat.S_ISDIR(st.st_mode) else 0o600)
    names = os.listxattr(target, follow_symlinks=False)
    values = ((os.fsencode(n), os.getxattr(target, n, follow_symlinks=False)) for n in names)
    return {n: v for n, v in values if len(n) + len(v) >= OVERSIZED}


def _complaint(lines: list[str]) -> str | None:
    """xorriso's first word on a value it could not set (the file system's reason in it)."""
    for line in lines:
        if " : FAILURE : " in line and "xattr" in line:
            return line.split(" : FAILURE : ", 1)[1].strip()
    for line in lines:
        if " : FAILURE : " in line or " : SORRY : " in line:
            return line.split(" : ", 2)[-1].strip()
    return None
