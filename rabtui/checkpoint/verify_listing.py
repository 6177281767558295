"""A disc's entries as xorriso lists them (`-exec lsdl`, `-exec report_lba`), compared with what
was written where they are not extracted (no room for it, or device nodes, which only root makes):
each entry's kind, mode, owner, symlink target and time as far as the listing shows it, and hard
links as the names sharing one file's data."""

from __future__ import annotations

import stat

from rabtui.checkpoint import disc_tree, xorriso, xorriso_output
from rabtui.checkpoint.as_backed_up import attributes_differ, hard_links, listed_time_differs, of_kind
from rabtui.checkpoint.content import MARKS
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.verify_result import VerifyResult

Listing = dict[bytes, tuple[int, bytes | None, tuple[int, int]]]


def listing(exe: str, indev: str, volid: str, res: VerifyResult, cancel, silence: float | None,
            dates: dict[bytes, str | None] | None = None,
            starts: dict[bytes, tuple[int, int]] | None = None) -> Listing | None:
    """Each entry of the disc: path -> (st_mode, a symlink's target, (uid, gid)) as xorriso lists
    them (`-exec lsdl`), into `dates` its time as shown there, and into `starts` each file's (first
    block, size); None, said in `res`, when it cannot."""
    listing: Listing = {}

    def take(line: bytes) -> None:
        entry = xorriso_output.parse_lsdl(line)
        if entry is not None and entry[0].strip(b"/"):
            listing[entry[0].lstrip(b"/")] = entry[1:]
            if dates is not None:
                dates[entry[0].lstrip(b"/")] = xorriso_output.lsdl_date(line)
        elif starts is not None and (data := xorriso_output.parse_report_lba(line)) is not None:
            starts[data[0].lstrip(b"/")] = data[1:]

    done = disc_tree.run(xorriso.list_argv(exe, indev, volid), on_stdout=take, cancel=cancel, env=xorriso.LIST_ENV,
                         silence=silence, busy=True)
    xorriso_output.raise_machine_failure(done, "listing the disc")
    if not done.ok:
        res.messages.append(f"listing the disc failed (exit {done.returncode}): {done.stderr_said(200)}")
        return None
    return listing


def compare_listed(rows: list[Row], listing: Listing, res: VerifyResult,
                   dates: dict[bytes, str | None] | None = None) -> None:
    """Without the entries extracted: each one's kind, mode, owner and symlink target as the disc
    lists them, and its time as far as `dates` show it (to the minute or the day)."""
    for r in rows:
        if r.disc_path not in listing:
            if r.disc_path not in res.missing:
                res.missing.append(r.disc_path)
            continue
        mode, target, owned = listing[r.disc_path]
        why = None if of_kind(r, mode) else "not of its kind"
        why = why or attributes_differ(mode, None, target, r.mtime, r.mode, r.link, owned, r.owner)
        if not why and not stat.S_ISLNK(mode):
            why = listed_time_differs((dates or {}).get(r.disc_path), r.mtime)
        res.note(r.disc_path, why)


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
