"""A backup holds the hard links its source has, no more. rsync (3.5.0) `-H --link-dest` links each
unchanged name to the same name in the base: names that were one file in the base (hard links on the
source then) are one file in the new backup even where the source has made them files of their own
since, keeping size and time (`cp -p a a.t && mv a.t a`), and every restore would link them again.

Only a base that holds hard links can pass them on: each backup records how many it holds
(`DirSizes.hard_links`: rsync's `hf+++++++++` items, names linked to a file of the same transfer,
where its base held none), and only after a base that holds some, or does not say, is the new
copy looked at: its files of more than one name, by inode, and a dry run of rsync over those names
(`rsync.LISTING_OPTIONS`) says which are one file on the source. A name of another file there gets
a copy of its own (content, holes, owner, mode, ACLs, xattrs, times), put in its place with
rename(2) (copy_apart.py). rsync links symlinks, FIFOs, sockets and device nodes to the base's as it does files:
they are looked at alike, and one made apart is made anew (its target or device number, owner,
mode, xattrs, times): each name is there throughout, and a run killed meanwhile leaves the backup incomplete
(recovery's rules), at most a private temporary name beside each name."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Callable

from rabtui import faults, fmt, proc, rsync, rsync_exit
from rabtui.backup import copy_apart
from rabtui.backup.sizes import DirSizes
from rabtui.filecopy import tmp_name
from rabtui.errors import Cancelled, Stalled

_ARROW = b" => "
_POINTS = b" -> "
_KINDS = (b"f", b"L", b"D", b"S")      # %i's file types: a file, a symlink, a device, a FIFO or socket
LISTED_EXITS = (0, 23, 24)     # the list is whole but for files that could not be read, or vanished
# rsync (3.5.0) stops ("buffer overflow expanding %L", exit 13) on a line whose name and first pass
# 5,120 bytes between them: a longer name is not listed; nor a symlink's name that with a target of
# up to 4,095 bytes (the source's may be longer than the backup's, changed since) could pass them
LISTED_MAX = 2500
LISTED_LINK_MAX = 1000


def recorded(info: dict | None, dir_path: str) -> int | None:
    """How many hard links a backup's record (its backup.json) says its copy of a directory holds;
    None when it does not say (a record made before they were recorded, or not as rabtui writes it)."""
    dirs = info.get("directories") if isinstance(info, dict) else None
    for d in dirs if isinstance(dirs, list) else []:
        if isinstance(d, dict) and d.get("path") == dir_path:
            value = d.get("hard_links")
            if value == 0 and d.get("hard_links_all") is not True:
                return None     # regular files counted only: symlinks or special files may be linked
            return value if type(value) is int and value >= 0 else None
    return None


def find_argv(find: str, dest: bytes) -> list[str | bytes]:
    """find(1) listing the files, symlinks and special files of more than one name below `dest`:
    `type inode/path\\0` each, `l` a symlink's type (four times as fast as a walk in Python; never
    through a symlink, a path of any length)."""
    return [find, dest, "!", "-type", "d", "-links", "+1", "-printf", "%y%i/%P\\0"]


def shared(dest: bytes, *, cancel: threading.Event | None = None, symlinks: set[bytes] | None = None,
           silence: int | None = None) -> list[list[bytes]]:
    """The files of more than one name below `dest` (with its slash), directories aside: their
    names, one list per file; those of symlinks added to `symlinks`. Stalled when find has neither
    printed nor worked for `silence` seconds (a hung medium): a walk of new files prints nothing."""
    first: dict[bytes, bytes] = {}
    groups: dict[bytes, list[bytes]] = {}
    rest = [b""]

    def data(chunk: bytes) -> None:
        records = (rest[0] + chunk).split(b"\0")
        rest[0] = records.pop()
        for record in records:
            inode, _, name = record[1:].partition(b"/")
            if record[:1] == b"l" and symlinks is not None:
                symlinks.add(name)
            seen = first.setdefault(inode, name)
            if seen is not name:
                groups.setdefault(inode, [seen]).append(name)

    result = proc.run(find_argv(proc.which("find"), dest), on_stdout_data=data, env=rsync.ENV, cancel=cancel,
                      silence=silence, busy=True)
    if result.returncode != 0 or rest[0]:
        raise OSError(errno.EIO, "find could not list the files of the backup: "
                                 + fmt.name("; ".join(result.stderr_tail[-2:]) or f"exit {result.returncode}"))
    return list(groups.values())


def settle(dest: Path, sizes: DirSizes, listing: Callable[[str], list[str]], *, cancel: threading.Event,
           silence: int | None) -> str | None:
    """Make apart the names of `dest` (a directory's copy in a backup) that are one file there but
    not on the source; sets `sizes.hard_links`. Returns a warning, or None. `listing(d)`: the argv of
    rsync's dry run of the names on its standard input into `d`, a directory that is not there. Raises
    Cancelled when `cancel` is set."""
    dest_b = os.fsencode(dest) + b"/"
    symlinks: set[bytes] = set()
    try:
        groups = shared(dest_b, cancel=cancel, symlinks=symlinks, silence=silence)
    except (OSError, Stalled) as exc:
        sizes.hard_links = None
        why = f"{exc} (io_timeout) and was stopped" if isinstance(exc, Stalled) else exc.strerror or exc
        return (f"the hard links of its backup were not checked ({why}): names the source holds"
                " apart may be one file in it, as in the backup it was made from")
    if not groups:
        sizes.hard_links = 0
        return None
    firsts = _source_links(dest_b, [name for names in groups for name in names
                                    if len(name) <= (LISTED_LINK_MAX if name in symlinks else LISTED_MAX)],
                           listing, cancel=cancel, silence=silence)
    if isinstance(firsts, str):
        sizes.hard_links = None
        return (f"the hard links of its files could not be listed on the source ({firsts}): names the source"
                " holds apart may be one file in its backup, as in the backup it was made from")
    links, failed, partly = 0, [], []
    around: dict[bytes, os.stat_result] = {}     # the directories made apart in, as rsync left them
    try:
        for names in groups:
            files: dict[bytes, list[bytes]] = {}
            for name in names:
                if name in firsts:
                    files.setdefault(firsts[name], []).append(name)
            # a name rsync did not list (gone from the source since, not a file there now, too long) is
            # left as rsync made it: nothing says it is apart there, and a copy each could fill the medium
            kept = max(files.values(), key=len, default=[])
            kept += [name for name in names if name not in firsts]
            if len(files) < 2:
                links += len(names) - 1
                continue
            for names_of_one in files.values():
                links += len(names_of_one) - 1
                if names_of_one is kept:
                    continue
                if cancel.is_set():      # between copies: each may be of gigabytes
                    raise Cancelled("cancelled: while making apart the names the source holds apart")
                faults.point("backup.links_apart")
                try:
                    sizes.new_bytes += copy_apart.made_apart(dest_b, names_of_one, around)
                except copy_apart.NotApart as exc:
                    sizes.new_bytes += exc.size
                    (partly if exc.apart else failed).append((names_of_one[0], exc.error, exc, kept[0]))
                except OSError as exc:
                    failed.append((names_of_one[0], exc, None, kept[0]))
    finally:
        unset = copy_apart.set_back(dest_b, around)
    sizes.hard_links = links if not failed and not partly else None
    said = []
    if failed:
        name, exc, _, _ = failed[0]
        said.append(f"{fmt.count(len(failed), 'file')} that {fmt.are(len(failed))} two or more on the source could not be"
                    " made apart in this backup"
                    f" (one file there, as in the backup it was made from): {fmt.name(name)}: {exc.strerror or exc}"
                    + (f" and {len(failed) - 1} more" if len(failed) > 1 else ""))
    for _, exc, how, other in partly[:3]:
        said.append(f"{fmt.count(len(how.apart) + len(how.joined), 'name')} of one file on the source made apart in part in"
                    f" this backup: {copy_apart.listed(how.apart)} apart; {copy_apart.listed(how.joined)} still one"
                    f" file with {fmt.name(other)} (as in the backup it was made from): {exc.strerror or exc}")
    if len(partly) > 3:
        said.append(f"{len(partly) - 3} more files of the source made apart in part")
    left = [name for _, _, how, _ in failed + partly if how is not None for name in how.left]
    if left:
        said.append(f"{fmt.count(len(left), 'temporary name')} that could not be removed left in this backup (no name of"
                    f" the source): {copy_apart.listed(left)}")
    if unset:
        name, exc = unset
        said.append(f"the directory {fmt.name(name) or '.'} of the backup, where names were made apart, could not be"
                    f" given back its mode and times: {exc.strerror or exc}")
    return "; ".join(said) or None


def _source_links(dest: bytes, names: list[bytes], listing: Callable[[str], list[str]], *, cancel: threading.Event,
                  silence: int | None) -> dict[bytes, bytes] | str:
    """Each of `names` that rsync lists as a file on the source -> the first of that file's names
    listed (itself for the first); why not, escaped, when rsync could not list them."""
    wanted = set(names)
    firsts: dict[bytes, bytes] = {}

    def line(record: bytes) -> None:
        record = record.rstrip(b"\r\n")
        if len(record) < 13 or record[1:2] not in _KINDS:
            return
        if record[0:1] != b"h":
            name = _link_name(dest, record[12:], wanted, firsts) if record[1:2] == b"L" else rsync.unescape(record[12:])
            if name in wanted:
                firsts.setdefault(name, name)
            return
        found = _split(record[12:], wanted)
        if found is not None:
            firsts[found[0]] = found[1]

    # the dry run's destination: a name the backup's copy does not hold, which it does not make
    nowhere = os.path.join(dest, tmp_name())
    while os.path.lexists(nowhere):
        nowhere = os.path.join(dest, tmp_name())
    # each name after "./": rsync drops a listed name that starts with "#" or ";" as a comment (and
    # prints the names without it)
    try:
        result = proc.run(listing(os.fsdecode(nowhere)), on_stdout=line, env=rsync.ENV, cancel=cancel,
                          die_with_parent=True, stdin_data=b"".join(b"./" + name + b"\0" for name in names),
                          silence=silence)
    except Stalled:
        return f"rsync printed nothing for {silence} s (io_timeout) and was stopped"
    if result.returncode in LISTED_EXITS:
        return firsts
    return fmt.name(rsync_exit.interpret_exit(result.returncode, result.stderr_tail).reason or "")


def _split(text: bytes, wanted: set[bytes]) -> tuple[bytes, bytes] | None:
    """`name => first` as rsync prints it, both of `wanted`; each place a name holds " => " tried."""
    at = text.find(_ARROW)
    while at >= 0:
        name, first = rsync.unescape(text[:at]), rsync.unescape(text[at + len(_ARROW):])
        if name in wanted and first in wanted:
            return name, first
        at = text.find(_ARROW, at + 1)
    return None


def _link_name(dest: bytes, text: bytes, wanted: set[bytes], listed: dict[bytes, bytes]) -> bytes | None:
    """The name in `name -> target` as rsync prints a symlink, of `wanted`: where a name or target
    holds " -> ", the split whose name is a symlink to that target in the backup and not `listed`
    yet (`p` to `q -> r` and `p -> q` to `r` print alike)."""
    found = None
    at = text.find(_POINTS)
    while at >= 0:
        name = rsync.unescape(text[:at])
        if name in wanted and name not in listed:
            try:
                if os.readlink(dest + name) == rsync.unescape(text[at + len(_POINTS):]):
                    return name
            except OSError:
                pass
            found = found or name
        at = text.find(_POINTS, at + 1)
    return found
