"""What the target, or the privileges of the restoring process, refuse of what comes off a disc: a
device node without CAP_MKNOD; an xattr without the privilege for its namespace (trusted.* takes
CAP_SYS_ADMIN, a file capability CAP_SETFCAP) or too large for the file system; without CAP_FOWNER,
the mode a setuid file of another user's loses as xorriso gives it its owner, and the times of
such a directory (the entry is left as it came off, without those bits). xorriso extracts
with `-abort_on NEVER` (restore/disc_extract.py), so that it goes on past such an entry and says which it
was (a FAILURE, then `Restoring failed: 'IMAGE PATH' = 'DISK PATH'`); an entry whose xattr was
refused is left incomplete there (a directory without what it holds), and is extracted again with
fewer xattrs (those of the user namespace, then none), a directory alone, then what it holds as
the disc has it. Each is named as not restored, as a restore from a medium names what the target
refuses (restore/metadata.py); anything else xorriso says went wrong still fails the restore."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from dataclasses import dataclass

from rabtui.checkpoint.xorriso_output import WORD, unquoted
from rabtui.restore.disc_drive import address
from rabtui.restore.disc_owners import Listed
from rabtui.restore.written import bits_left_off

_FAILURE = b"xorriso : FAILURE : "
_RESTORING = re.compile(rb"xorriso : SORRY : Restoring failed:\s+(" + WORD + rb") = (" + WORD + rb")")
_DEVICE = re.compile(rb"Cannot restore (?:character|block) device to disk filesystem: " + WORD + rb" : (.*)")
_XATTR = re.compile(rb"Disk file " + WORD + rb" , xattr (.*) '([^']*)'")
_ACL = re.compile(rb"Disk file " + WORD + rb" , ACL '([^']*)'")
# without CAP_FOWNER: xorriso gives an entry its owner, then may not give a setuid file its mode
# again (the chown cleared it) nor a directory its times (set once what it holds is in)
_MODE = re.compile(rb"Cannot change access permissions of disk file " + WORD + rb" : (.*)")
_TIME = re.compile(rb"Cannot change atime, mtime of disk file " + WORD + rb" : (.*)")
_DIR = re.compile(rb"Cannot change (access permissions|timestamps) of disk directory: (?:chmod [0-7]+ )?("
                  + WORD + rb") : (.*)")

# what is extracted of an entry's xattrs and ACLs, from all (root's) to none: each refusal takes it
# one step down. The image's tree is loaded with them (`-xattr` before `-indev`): with `-acl on`,
# xorriso sets every xattr it loaded, whatever `-xattr` says when it extracts
LEVELS = {"any": ["-acl", "on", "-xattr", "any"], "user": ["-acl", "on", "-xattr", "user"],
          "user_no_acl": ["-acl", "off", "-xattr", "user"],
          "bare": ["-acl", "off", "-xattr", "off"]}
ACL = "ACL"      # Refused.xattr of an entry whose ACL was refused (too large for ext4's room, say)
DEVICE_WHY = "device nodes need root with CAP_MKNOD"


class Unexpected(Exception):
    """xorriso said something went wrong that is no refusal of an entry (a disc it cannot read):
    raised from its stderr's reader, which stops it there, as `-abort_on FAILURE` would."""


@dataclass
class Refused:
    iso_path: bytes
    disk_path: bytes
    failure: str            # what xorriso said before it (its FAILURE), "" when nothing
    kind: str               # "device", "xattr", "mode", "time", or "other": the restore fails on that
    xattr: str = ""         # the xattr refused, its reason
    why: str = ""


class Refusals:
    """The entries an xorriso run said it could not restore (`take`: each line of its stderr), each
    with the failure it said first; `failures`: every FAILURE it said, in order. Any other
    FAILURE raises Unexpected."""

    def __init__(self) -> None:
        self.refused: list[Refused] = []
        self.failures: list[str] = []
        self._last = b""

    def take(self, line: bytes) -> None:
        line = line.rstrip(b"\r\n")
        if line.startswith(_FAILURE):
            self._last = line[len(_FAILURE):]
            self.failures.append(self._last.decode("utf-8", "replace"))
            if (d := _DIR.fullmatch(self._last)) is not None:   # no "Restoring failed" follows
                self.refused.append(Refused(b"", unquoted(d.group(2)), self.failures[-1],
                                            "mode" if d.group(1) == b"access permissions" else "time",
                                            why=d.group(3).decode("utf-8", "replace")))
                self._last = b""
            elif not any(r.fullmatch(self._last) for r in (_DEVICE, _XATTR, _ACL, _MODE, _TIME)):
                raise Unexpected(self.failures[-1])
            return
        m = _RESTORING.match(line)
        if m is None:
            return
        said, self._last = self._last, b""
        shown = said.decode("utf-8", "replace")
        iso, disk = unquoted(m.group(1)), unquoted(m.group(2))
        if (d := _DEVICE.fullmatch(said)) is not None:
            self.refused.append(Refused(iso, disk, shown, "device", why=d.group(1).decode("utf-8", "replace")))
        elif (x := _XATTR.fullmatch(said)) is not None:
            self.refused.append(Refused(iso, disk, shown, "xattr", x.group(1).decode("utf-8", "replace"),
                                        x.group(2).decode("utf-8", "replace")))
        elif (a := _ACL.fullmatch(said)) is not None:
            self.refused.append(Refused(iso, disk, shown, "xattr", ACL, a.group(1).decode("utf-8", "replace")))
        elif (t := _MODE.fullmatch(said) or _TIME.fullmatch(said)) is not None:
            self.refused.append(Refused(iso, disk, shown, "mode" if t.re is _MODE else "time",
                                        why=t.group(1).decode("utf-8", "replace")))
        else:
            self.refused.append(Refused(iso, disk, shown, "other"))

    def unexpected(self) -> str | None:
        """The first thing xorriso said went wrong that is no refusal of an entry's device node or
        xattr (a disc it cannot read, a full target): the restore fails on it. None: nothing."""
        tolerated = {r.failure for r in self.refused if r.kind != "other"}
        for failure in self.failures:
            if failure not in tolerated:
                return failure
        other = [os.fsdecode(r.iso_path) + " not restored" for r in self.refused if r.kind == "other"]
        return other[0] if other else None


def again_argv(dev: str, jobs: list[tuple[bytes, bytes, bool]], level: str, as_root: bool) -> list[str]:
    """xorriso words that extract each (image path, disk path, alone) again, as the first
    extraction did but with the xattrs and ACLs of `level` (LEVELS), a directory `alone` without
    what it holds."""
    argv = ["xorriso", "-no_rc", "-abort_on", "NEVER", "-backslash_codes", "encode_output",
            "-osirrox", ("device_files" if as_root else "on") + ":sparse=65536", "-hardlinks", "on",
            *LEVELS[level], "-iso_rr_pattern", "off", "-indev", address(dev)]
    for iso, disk, alone in jobs:
        argv += ["-extract_single" if alone else "-extract", os.fsdecode(iso), os.fsdecode(disk)]
    return argv


def _lower(level: str, xattr: str) -> str | None:
    """The next level down from `level` for an entry whose xattr `xattr` was refused: those of the
    user namespace where it is another's, no ACL where it is its ACL, else none; None when none
    were set already."""
    if xattr == ACL and level in ("any", "user"):
        return "user_no_acl"     # with `-xattr any`, xorriso sets the ACL it loaded, whatever `-acl` says
    if level == "any" and not xattr.startswith("user."):
        return "user"
    return "bare" if level != "bare" else None


LEFT = {"user": "its xattrs other than user.*", "user_no_acl": "its ACLs and its xattrs other than user.*",
        "bare": "its xattrs and ACLs"}


def _children(iso: bytes, disc_paths: list[bytes]) -> list[bytes]:
    """The image paths of the entries directly in the directory `iso`, from the paths of all the
    disc holds below it (its catalog: a directory that holds something is not in it itself)."""
    top = iso.rstrip(b"/") + b"/"
    return sorted({top + p[len(top):].split(b"/", 1)[0] for p in disc_paths if p.startswith(top)})


def _removed(path: bytes) -> bool:
    """What an extraction left at `path` (in the private staging directory) removed; whether it
    was a directory."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
        return True
    os.unlink(path)
    return False


def extract_again(refusals: Refusals, dev: str, start: bytes, target: bytes, rel: bytes, disc_paths: list[bytes],
                  volid: str, run, fail, sc, listed: dict[bytes, Listed], unheld: dict[bytes, Listed],
                  again: list[bytes]) -> list[tuple[str, bytes, str]]:
    """Each entry of `refusals` whose xattr was refused, extracted again with fewer, until none is
    refused (`run(argv, refusals)`: an xorriso run, its stderr taken by them, proc.Completed; `fail(why)` raises
    where xorriso says something else went wrong, or an entry is refused with no xattr set).
    `disc_paths`: the image paths the disc holds below `start`, extracted at `target` (`rel`: the
    restored item's name); `sc`: the Shortcuts that make a path deeper than the kernel takes
    usable. `listed`: the modes and owners the disc lists (disc_owners.give's `held`); into
    `unheld`: those of the entries whose mode was refused, by their path there, which the checks
    against the catalog then compare; into `again`: the paths there of the entries that came off
    again (links_again.py). Returns (kind, name, why) of each refused entry."""
    as_root = os.geteuid() == 0
    first = "any" if as_root else "user"
    named: dict[tuple[str, bytes], str] = {}
    levels: dict[bytes, str] = {}
    disks: dict[bytes, bytes] = {}       # where each of them is extracted
    around: dict[bytes, os.stat_result] = {}    # the directories holding them, their times as they came off
    while True:
        if (why := refusals.unexpected()) is not None:
            fail(why)
        alone: dict[str, list[tuple[bytes, bytes, bool]]] = {}
        within: list[tuple[bytes, bytes, bool]] = []
        for r in refusals.refused:
            under = r.disk_path[len(target):].lstrip(b"/")
            name = os.path.join(rel, under) if under else rel
            if r.kind == "device":
                named[("device", name)] = f"not made: {r.why} ({DEVICE_WHY})"
                continue
            inside = (r.disk_path == target or r.disk_path.startswith(target.rstrip(b"/") + b"/")) \
                and b"/../" not in r.disk_path + b"/"
            if r.kind in ("mode", "time"):    # what it holds came off; the entry is left as it is
                if not inside:
                    fail(r.failure)
                named[(r.kind, name)] = _not_set(r, listed.get(start + r.disk_path[len(target):]), volid)
                if r.kind == "mode" and start + r.disk_path[len(target):] in listed:
                    unheld[r.disk_path] = listed[start + r.disk_path[len(target):]]
                continue
            level = _lower(levels.get(r.iso_path, first), r.xattr)
            if level is None or not inside:
                fail(r.failure)
            levels[r.iso_path] = level
            disks[r.iso_path] = r.disk_path
            said = "ACL" if r.xattr == ACL else f"xattr {r.xattr}"
            named[("attribute", name)] = f"{said} not set ({r.why}) as it came off {volid}: restored without {LEFT[level]}"
            parent = os.path.dirname(r.disk_path)
            if parent not in around and parent != os.path.dirname(target):
                around[parent] = os.lstat(sc.path(parent))
            is_dir = _removed(sc.path(r.disk_path))
            again.append(r.disk_path)
            alone.setdefault(level, []).append((r.iso_path, r.disk_path, is_dir))
            if is_dir:
                within += [(c, r.disk_path + c[len(r.iso_path):], False) for c in _children(r.iso_path, disc_paths)]
        if not alone:
            break
        refusals = Refusals()
        for level, jobs in alone.items():
            _run(run, again_argv(dev, jobs, level, as_root), refusals, fail)
        # the directories' times as they came off, before what they hold is put in
        times = {disk: os.lstat(sc.path(disk)) for jobs in alone.values() for _, disk, is_dir in jobs
                 if is_dir and os.path.isdir(sc.path(disk))}
        if within:
            _run(run, again_argv(dev, within, first, as_root), refusals, fail)
        for disk, st in times.items():
            os.utime(sc.path(disk), ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    for iso, level in levels.items():
        if LEVELS[level][1] == "off" and iso in listed and not stat.S_ISLNK(listed[iso][0]):
            # without its ACL, the mode the disc lists (the ACL's mask as its group bits), not its
            # owning group's bits that xorriso gives it then
            with contextlib.suppress(OSError):    # else its mode differs: the checks against the catalog say so
                os.chmod(sc.path(disks[iso]), stat.S_IMODE(listed[iso][0]), follow_symlinks=False)
    for disk, st in around.items():    # removing and putting an entry back changed its directory's
        if os.path.isdir(sc.path(disk)):
            os.utime(sc.path(disk), ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    return [(kind, name, why) for (kind, name), why in named.items()]


def _not_set(r: Refused, listed: Listed | None, volid: str) -> str:
    """Why the mode or time of `r` (as the disc lists it: `listed`) was not set."""
    if r.kind == "time":
        return f"time not set: {r.why} (as on {volid})"
    if listed is None:
        return f"mode not set: {r.why} (as on {volid})"
    return f"mode {stat.S_IMODE(listed[0]):04o} not set: {r.why} (as on {volid}){bits_left_off(listed[0])}"


def _run(run, argv: list[str], refusals: Refusals, fail) -> None:
    done = run(argv, refusals)
    if not done.ok and (done.killed_by or not refusals.refused):
        fail(f"xorriso was killed by signal {done.killed_by}" if done.killed_by
             else (refusals.failures or done.stderr_tail or ["xorriso failed"])[0])
