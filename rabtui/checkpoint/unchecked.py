"""What a verification of a disc could not compare, said in its result and in the disc's record
instead of passed over: a disc that passes then is not called verified as a whole.

The state's catalog holds, for each entry, its content (sha256), time, kind and (since rabtui kept
them) mode, owner, symlink target and hard links: those are always compared with the disc; so are
(since rabtui records them) the ACLs and xattrs of its directories (dir_attrs.py) and the xattrs
kept off the discs (kept_off.py). It holds no other ACL or xattr and no mode, owner or time of a
directory that is not empty: those are compared with the backup the checkpoint was read from on
its medium (backed_up_attrs.py), and only while that is there; but the xattrs of each entry but
a directory, its access ACL among them, are also compared with the sum the plan recorded of them
(xattr_sum.py), with that backup or without it, trusted.* ones left out unless the plan and the
verification are root's (trusted_summed; and an entry the disc lists some of without their
values: unsummed). A checkpoint rebuilt from its discs (rebuild-state)
knows neither where it was read nor, from the discs' catalog, any mode, owner, symlink target or
hard link."""

from __future__ import annotations

import os
from typing import Container

from rabtui import fmt
from rabtui.checkpoint import xattr_sum
from rabtui.checkpoint.backed_up_attrs import Origin, unreachable
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.marks import DIR_MARK

BACKUP_ONLY = "the ACLs and xattrs of its entries and the mode, owner, time, ACLs and xattrs of its directories"
# the same, of a checkpoint that recorded the ACLs and xattrs of its directories (dir_attrs.py)
BACKUP_ONLY_RECORDED = "the ACLs and xattrs of its entries and the mode, owner and time of its directories"
# the xattrs of its entries that their sums leave out (xattr_sum.py), where each entry's was recorded: the
# others are compared with the sums
UNSUMMED = "the trusted.* xattrs of its entries"


def not_checked(rows: list[Row], origins: list[Origin] | None, filler_known: bool = True,
                dirs_recorded: bool = False) -> list[str]:
    """What a verification of the disc of `rows` leaves out (verify_disc's `origins` and
    `filler_known`; `dirs_recorded`: the ACLs and xattrs of its directories were recorded), each
    with the reason; [] when it compares everything."""
    out = []
    backup_only = BACKUP_ONLY_RECORDED if dirs_recorded else BACKUP_ONLY
    if summed(rows):
        backup_only = (backup_only.replace("the ACLs and xattrs of its entries and ", "") if trusted_summed(rows)
                       else backup_only.replace("the ACLs and xattrs of its entries", UNSUMMED))
    if not origins:
        out.append(f"{backup_only} (the state does not record where they were backed up: a checkpoint rebuilt"
                   " from its discs)")
    else:
        away = unreachable(origins)
        if away:
            shown = ", ".join(os.fsdecode(root) for root in away[:3]) + (" ..." if len(away) > 3 else "")
            which = "" if len(away) == len(origins) else f", of what was read from {shown}"
            whys = "; ".join(dict.fromkeys(o.away for o in origins if o.away))
            out.append(f"{backup_only}{which}: the backup they are compared with is not at hand ({shown}: "
                       + (f"{whys})" if whys else "its medium is not mounted, or the backup was deleted since)"))
    bare = sum(1 for r in rows if r.mode is None)
    if bare:
        out.append(f"the mode, owner, symlink target and hard links of {fmt.count(bare, 'entry')} (the catalog does not hold"
                   " them: read back from the discs by rebuild-state, or recorded before rabtui kept them)")
    if not filler_known:
        out.append("what fills the disc (add/), which the catalog read back from the discs does not list")
    return out


def summed(rows: list[Row]) -> bool:
    """Was the sum of the xattrs of each entry of the disc but its directories recorded (none of
    a plan made before they were, nor of one whose xattrs could not be read)?"""
    return all(r.xattr_sum is not None for r in rows if r.sha256 != DIR_MARK)


def trusted_summed(rows: list[Row]) -> bool:
    """Are the trusted.* xattrs of each entry of the disc but its directories compared with their
    sums too: recorded by a plan made as root (not by one made before they were summed, nor
    rebuilt from its discs), and this process root's (xattr_sum.trusted_changed)?"""
    return xattr_sum.as_root() and all(r.trusted_sum is not None for r in rows if r.sha256 != DIR_MARK)


def unsummed(rows: list[Row], oversized: Container[bytes]) -> list[str]:
    """The entries whose xattrs are not compared with their sums, the disc listing some of them
    without their values (`oversized`: verify_attrs.xattrs_changed_since_plan passes them over),
    said where no backup is at hand to compare them with instead."""
    found = [r.disc_path for r in rows if r.xattr_sum is not None and r.disc_path in oversized]
    if not found:
        return []
    return [f"the xattrs of {fmt.count(len(found), 'entry')}, e.g. {_shown(found[0])}, which the disc lists without"
            " their values (too long for xorriso to print), against the sums recorded of them"]


def passed_over(entries: list[bytes], directories: list[bytes], dirs_recorded: bool = False) -> list[str]:
    """What the comparison with the backup passed over, though it was there: `entries` and
    `directories` it no longer holds as recorded (the ACLs and xattrs of those compared with the
    record instead, when `dirs_recorded`)."""
    out = []
    if entries:
        out.append(f"the ACLs and xattrs of {fmt.count(len(entries), 'entry')}, e.g. {_shown(entries[0])}: the backup no"
                   " longer holds them as they were recorded (a newer version in the archive's union, or"
                   " changed since)")
    if directories:
        what = "the mode, owner and time" if dirs_recorded else "the mode, owner, time, ACLs and xattrs"
        out.append(f"{what} of {fmt.count(len(directories), 'directory')}, e.g."
                   f" {_shown(directories[0])}: no longer in the backup")
    return out


def by_length(found: dict[bytes, list[tuple[int, int]]], why: str) -> str:
    """The xattrs compared with the backup by their lengths alone (`found`: path -> (name, value)
    lengths), and `why`."""
    count = sum(map(len, found.values()))
    return (f"the values of {count} xattrs of {len(found)} symlinks, e.g. {_shown(min(found))}, compared by their"
            f" lengths only ({why})")


def _shown(path: bytes) -> str:
    return fmt.name(b"/" + path)


def said(volid: str, gaps: list[str]) -> str:
    """A disc that passed all but `gaps`, as its record and the result say it."""
    return f"{volid}: verified, but not checked: " + "; ".join(gaps) if gaps else f"{volid} verified"


def recorded(volid: str, message: str | None) -> list[str]:
    """What the verification of a disc left out as its record says it (`said`), [] for one verified
    whole: a run that goes on with discs an earlier one verified."""
    head = f"{volid}: verified, but not checked: "
    return message[len(head):].split("; ") if message and message.startswith(head) else []


def result_message(number: int, discs: list[int], gaps: dict[int, list[str]], written: bool = False) -> str:
    """The result of verifying `discs` (`written`: writing them too), every one passed, those of
    `gaps` all but what it says."""
    named = "disc" if len(discs) == 1 else "discs"
    head = (f"checkpoint {number}: {named} {', '.join(map(str, discs))} {'written and ' if written else ''}passed"
            " what could be checked, which is not all")
    by_text: dict[str, list[int]] = {}
    for disc, texts in sorted(gaps.items()):
        for text in texts:
            by_text.setdefault(text, []).append(disc)
    parts = [text if on == discs else f"on disc{'s' if len(on) > 1 else ''} {', '.join(map(str, on))}: {text}"
             for text, on in by_text.items()]
    return f"{head}; not checked: " + "; ".join(parts)
