"""A disc's entries as xorriso lists them (`ls -l` of each directory, `-exec report_lba`),
compared with what was written where they are not extracted (no room for it, or device nodes,
which only root makes): each entry's kind, mode, owner, symlink target and time as far as the
listing shows it, and hard links as the names sharing one file's data."""

from __future__ import annotations

import contextlib
import os
import stat

from rabtui import temp_dirs
from rabtui.checkpoint import disc_listing, disc_tree, xorriso, xorriso_output
from rabtui.checkpoint.as_backed_up import attributes_differ, hard_links, listed_time_differs, numbers_differ, of_kind
from rabtui.checkpoint.content import MARKS
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.verify_result import VerifyResult
from rabtui.errors import WorkFailed

Listing = dict[bytes, tuple[int, bytes | None, tuple[int, int]]]


def listing(exe: str, indev: str, volid: str, res: VerifyResult, cancel, silence: float | None,
            dates: dict[bytes, str | None] | None = None,
            starts: dict[bytes, tuple[int, int]] | None = None,
            numbers: dict[bytes, int] | None = None) -> Listing | None:
    """Each entry of the disc: path -> (st_mode, a symlink's target, (uid, gid)) as xorriso lists
    them (`ls -dl`), into `dates` its time as shown there, into `starts` each file's (first
    block, size) and into `numbers` each device node's (as st_rdev); None, said in `res`, when it
    cannot. Each directory is listed from within it
    (disc_listing: linear in its entries), or, where no command file can be written for that,
    each entry by its path (list_argv)."""
    listing: Listing = {}

    def keep(path: bytes, line: bytes, entry) -> None:
        if path := path.lstrip(b"/"):
            listing[path] = entry[1:]
            if dates is not None:
                dates[path] = xorriso_output.lsdl_date(line)
            if numbers is not None and (rdev := xorriso_output.lsdl_rdev(line)) is not None:
                numbers[path] = rdev

    def take(line: bytes) -> None:
        if starts is not None and (data := xorriso_output.parse_report_lba(line)) is not None:
            starts[data[0].lstrip(b"/")] = data[1:]
        else:
            dirs.take(line)

    def run(argv: list[str], on_stdout) -> bool:
        done = disc_tree.run(argv, on_stdout=on_stdout, cancel=cancel, env=xorriso.LIST_ENV, silence=silence,
                             busy=True)
        xorriso_output.raise_machine_failure(done, "listing the disc")
        if not done.ok:
            res.messages.append(f"listing the disc failed (exit {done.returncode}): {done.stderr_said(200)}")
        return done.ok

    names = disc_listing.Names()
    if not run(disc_listing.names_argv(indev, b"/", exe, volid, acls=False), names.take):
        return None
    dirs: disc_listing.Listing | _Lines = disc_listing.Listing(b"/", names.dirs, keep)
    with contextlib.ExitStack() as stack:
        try:
            commands = os.path.join(stack.enter_context(temp_dirs.private()), b"listing")
            with open(commands, "wb") as f:
                f.write(disc_listing.command_file(b"/", names.dirs))
            argv = xorriso.listed_argv(exe, indev, volid, os.fsdecode(commands))
        except (OSError, WorkFailed):   # no command file (the temporary directory full, unsafe)
            dirs = _Lines(keep)
            argv = xorriso.list_argv(exe, indev, volid)
        if not run(argv, take):
            return None
    if not dirs.complete():
        res.messages.append("listing the disc failed: its listing of the directories ended early")
        return None
    return listing


class _Lines:
    """Lines of list_argv's `-exec lsdl`, each handed to `keep` as disc_listing.Listing does."""

    def __init__(self, keep: disc_listing.Keep) -> None:
        self._keep = keep

    def take(self, line: bytes) -> None:
        if (entry := xorriso_output.parse_lsdl(line)) is not None:
            self._keep(entry[0], line, entry)

    def complete(self) -> bool:
        return True


def compare_listed(rows: list[Row], listing: Listing, res: VerifyResult,
                   dates: dict[bytes, str | None] | None = None, numbers: dict[bytes, int] | None = None) -> None:
    """Without the entries extracted: each one's kind, mode, owner and symlink target as the disc
    lists them, its time as far as `dates` show it (to the minute or the day), and a device node's
    numbers as `numbers` give them, where the plan recorded them."""
    for r in rows:
        if r.disc_path not in listing:
            if r.disc_path not in res.missing:
                res.missing.append(r.disc_path)
            continue
        mode, target, owned = listing[r.disc_path]
        why = None if of_kind(r, mode) else "not of its kind"
        why = why or attributes_differ(mode, None, target, r.mtime, r.mode, r.link, owned, r.owner)
        if not why and numbers is not None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
            why = numbers_differ(numbers.get(r.disc_path), r.rdev)
        if not why and not stat.S_ISLNK(mode):
            why = listed_time_differs((dates or {}).get(r.disc_path), r.mtime)
        res.note(r.disc_path, why)


def compare_owners(rows: list[Row], listing: Listing, res: VerifyResult) -> None:
    """Each entry's owner as the disc lists it: extracted by a user other than root, the entries
    are that user's, and their owners are known only from the listing. An entry not listed is
    said missing by its extraction."""
    for r in rows:
        if r.owner is not None and r.disc_path in listing:
            mode, _target, owned = listing[r.disc_path]
            res.note(r.disc_path, attributes_differ(mode, None, None, r.mtime, None, None, owned, r.owner))


def compare_shared_data(rows: list[Row], starts: dict[bytes, tuple[int, int]], res: VerifyResult) -> None:
    """Without the entries extracted, hard links as far as the disc's listing shows them: the names
    of one file share its data, where it starts (files of size 0 share none, and are passed over)."""
    by_start: dict[tuple[int, int], list[Row]] = {}
    for r in rows:
        at = starts.get(r.disc_path)
        if r.mode is not None and r.sha256 not in MARKS and not r.part and at is not None and at[1] > 0:
            by_start.setdefault((0, at[0]), []).append(r)
    for path, why in hard_links(by_start).items():
        res.note(path, why)
