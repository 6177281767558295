"""Checkpoints recorded again from their discs: the catalog, README.txt and the state copy (the
modes, owners and links recorded: disc_state.py) of one disc of each (an
`images:` drive: every ISO read directly, its discs verified again; a real drive: the operator
inserts one disc of each checkpoint in turn)."""

from __future__ import annotations

import glob
import os
import re
import time
from dataclasses import replace
from pathlib import Path

from rabtui.checkpoint import dir_attrs, disc_tree, images_mount, kept_off, layout, xorriso
from rabtui.config import Config
from rabtui.config.model import MOST_DISCS
from rabtui.media import checkpoint_numbers, unknown_backups
from rabtui.errors import NoAnswer, Stalled, WorkFailed
from rabtui.events import READY, SKIP, Emit, Question
from rabtui.rebuild.disc_text import (Catalog, each_original, read_disc_catalog_file, read_disc_readme,
                                     readme_backup, readme_made)
from rabtui.rebuild import abandoned, disc_state, discs_whose, discs_written, writing_left
from rabtui.rebuild.report import Report
from rabtui.rebuild.verify import reverify_images
from rabtui.restore.disc_drive import read_volid
from rabtui.state.store import Store

VOLID_RE = re.compile(r"^RAB(\d+)D(\d+)$")


def _taken_from(store: Store, readme: bytes | None, source: str, path: str, made: float | None,
                former: dict[tuple[str, int], list[int]]) -> int | None:
    """The backup checkpoint directory source:path was taken from, when its README names one that
    the database holds (that source's, started before the checkpoint was made). The id the README
    names may have been renumbered since, and given to an older backup: of the backups that had
    it, the newest started before the checkpoint was made."""
    bid = readme_backup(readme, source, path) if readme and made is not None else None
    if not bid:
        return None
    had = [bid, *former.get((source, bid), [])]
    row = store.one(f"SELECT id FROM backups WHERE source=? AND started<=? AND id IN ({','.join('?' * len(had))})"
                    " ORDER BY started DESC, id DESC LIMIT 1", (source, made + 1, *had))
    return row["id"] if row else None


def _taken_from_copy(cfg: Config, store: Store, recorded, number: int, source: str, path: str, report: Report) -> int | None:
    """The backup the copy of the state on the discs says source:path was read from (its medium and
    name: exact, whatever ids were renumbered since). One deleted since (not on its medium, which
    this rebuild read) is recorded as deleted, with the time it started, as the database lost had
    it: a restore ranks the discs' copy by that time. It keeps the id it had there, when no backup
    holds it now: under a new one, above the backups made after it, it would be taken for its
    source's last run (queries.last_run: a deleted run as failed)."""
    found = getattr(recorded, "taken", {}).get((source, path))
    if found is None:
        return None
    name, medium, bpath, started, finished, had = found
    row = store.one("SELECT id FROM backups WHERE source=? AND medium=? AND name=?", (source, medium, name))
    if row is not None:
        return row["id"]
    if medium not in report.media:     # away: not deleted; a restore ranks the discs' copy by its start
        known = getattr(recorded, "known", set())
        unknown_backups.remember_taken(store, number, source, path, {
            "name": name, "medium": medium, "started": started,
            "after": unknown_backups.first_after(store, known, source),
            "before": unknown_backups.newest_known(store, known, source)})
        return None
    if os.path.lexists(Path(cfg.medium(medium).path) / source / name):
        return None     # there but left out (its backup.json unusable): not deleted
    if had is not None and store.one("SELECT 1 FROM backups WHERE id=?", (had,)) is not None:
        had = None
    return store.execute(
        "INSERT INTO backups(id, source, medium, name, path, status, started, finished, reason)"
        " VALUES (?,?,?,?,?, 'deleted', ?,?,?)",
        (had, source, medium, name, bpath, started, finished,
         f"not on its medium; checkpoint {number} was taken from it (rebuild-state)")).lastrowid


def _filler_file(fillers: dict[bytes, tuple[str, str]], disc_path: bytes) -> tuple | None:
    """(source, original path, None, None, (source, directory)) of a file of the filler add/N/...,
    when the copy of the state says which directory add/N is; None otherwise."""
    top = disc_path.split(b"/", 2)
    if len(top) < 3 or top[0] != b"add":
        return None
    found = fillers.get(top[0] + b"/" + top[1])
    if found is None:
        return None
    source, dpath = found
    return source, os.fsencode(dpath).strip(b"/") + b"/" + top[2], None, None, (source, dpath)


def _named_in(cfg: Config, readme: bytes | None) -> list[tuple[str, str]]:
    """The configured directories README.txt names as data of its checkpoint: those the discs hold
    no file of too (empty, or holding only what is left off the discs), which were in it all the same."""
    if not readme:
        return []
    return [(src.id, d.path) for src in cfg.sources for d in src.directories
            if readme_backup(readme, src.id, d.path) is not None]


def load_checkpoint(cfg: Config, store: Store, number: int, catalog: bytes, image_dir: str | None,
                    report: Report, readme: bytes | None = None, recorded: disc_state.Recorded | None = None,
                    inserted: set[int] = frozenset()) -> None:
    """`catalog`: the catalog's file, compressed or not (disc_text.Catalog). `recorded`: what the
    state copy on the disc holds of the entries beside the catalog. `inserted`: its discs read in a
    real drive (an `images:` drive's: the images in its folder). Only the discs known written are
    recorded so; the others as never written, and the checkpoint then as unfinished, its
    directories as due as they were (discs_written.py). With `image_dir`, it is left unfinished:
    the caller verifies its discs again, then settles it."""
    rows = Catalog(catalog)
    report.numbers_used.add(number)     # never given again, whether its catalog can be read or not
    named = {r["disc"] for r in rows}
    if named - set(range(1, MOST_DISCS + 1)):    # each disc would be recorded: millions, a hang
        raise WorkFailed(f"checkpoint {number}: its catalog names disc {max(named - set(range(1, MOST_DISCS + 1)))},"
                         f" and a checkpoint has discs 1 to {MOST_DISCS}: a damaged catalog, or none of rabtui's;"
                         " not recorded")
    ndiscs = max(named, default=1)
    written = discs_written.known(number, ndiscs, image_dir, inserted, recorded)
    image0 = os.path.join(image_dir, f"{layout.volid(number, 1)}.iso") if image_dir else None
    made = readme_made(readme, number) if readme else None
    exact = getattr(recorded, "created", None)
    if exact is not None and made is not None and int(exact) != made:
        exact = None       # a copy that does not agree with the README's second: the README's
    created = exact or made or (os.path.getmtime(image0) if image0 and os.path.exists(image0) else time.time())
    reasons = getattr(recorded, "reasons", {})
    not_ours = discs_whose.whose(cfg, store, number, readme, recorded)
    if not_ours:
        report.unmatched.append(not_ours)
        if recorded is not None:
            recorded.taken = {}
    else:
        report.abandoned |= getattr(recorded, "abandoned", set())
    from rabtui.config.disc_types import parse_disc

    try:
        dtype, sectors = parse_disc(cfg.checkpoint.disc)
    except ValueError:
        dtype, sectors = cfg.checkpoint.disc, 0
    with store.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO checkpoints(number, created, status, disc_type, disc_sectors, drive,"
                     " discs, lower_bound) VALUES (?,?, 'aborted', ?,?,?,?,?)",
                     (number, created, dtype, sectors, cfg.checkpoint.drive, ndiscs,
                      getattr(recorded, "lower_bound", None)))
        for k in range(1, ndiscs + 1):
            volid = layout.volid(number, k)
            image = os.path.join(image_dir, f"{volid}.iso") if image_dir else None
            # the entries its catalog lists, filler too, which bound the tree of the disc (disc_tree.py)
            listed = disc_tree.entries(r["disc_path"] for r in rows.of_disc(k))
            conn.execute("INSERT OR REPLACE INTO discs(number, disc, volid, state, written, message, image, entries)"
                         " VALUES (?,?,?,?,?,?,?,?)",
                         (number, k, volid, *discs_written.state(k in written, image_dir, created),
                          image if image and os.path.exists(image) else None, listed))
        conn.execute("DELETE FROM disc_files WHERE number=?", (number,))
        dirs: dict[tuple[str, str], None] = {}
        count = [0]

        fillers = getattr(recorded, "fillers", {})
        filler_dirs: dict[tuple[str, str], None] = {}

        def files():   # one at a time, as they are inserted
            for r, orig in each_original(rows):
                if orig is None:
                    orig = _filler_file(fillers, r["disc_path"])
                    if orig is None:
                        continue
                    filler_dirs[orig[4]] = None
                    orig = orig[:4]
                    count[0] += 1
                    yield (number, r["disc"], *orig[:2], r["disc_path"], r["size"], r["mtime"], r["sha256"],
                           None, None, *disc_state.of(recorded or {}, r["disc"], r["disc_path"], r["size"],
                                                      r["mtime"], r["sha256"]))
                    continue
                source, path, part, parts = orig
                count[0] += 1
                yield (number, r["disc"], source, path, r["disc_path"], r["size"], r["mtime"], r["sha256"],
                       part, parts, *disc_state.of(recorded or {}, r["disc"], r["disc_path"], r["size"],
                                                   r["mtime"], r["sha256"]))
                try:
                    for d in cfg.source(source).directories:
                        pre = d.path.strip("/").encode()
                        if path == pre or path.startswith(pre + b"/"):
                            dirs[(source, d.path)] = None
                except Exception:
                    pass
        conn.executemany("INSERT INTO disc_files(number, disc, source, path, disc_path, size, mtime, sha256,"
                         " part, parts, mode, link, link_group, uid, gid, rdev, xattr_sum, trusted_sum)"
                         " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         files())
        for key in _named_in(cfg, readme if made is not None else None):
            dirs[key] = None
        conn.execute("DELETE FROM disc_xattrs_off WHERE number=?", (number,))
        kept_off.record(store, number, getattr(recorded, "kept_off", []))   # in this transaction: one connection
        conn.execute("DELETE FROM disc_dir_attrs WHERE number=?", (number,))
        dir_rows = getattr(recorded, "dir_attrs", None)
        if dir_rows is not None:
            dir_attrs.record(store, number, dir_rows)
        for source, dpath in dirs:
            conn.execute("INSERT OR IGNORE INTO checkpoint_dirs(number, source, path, role, backup_id, reason)"
                         " VALUES (?,?,?, 'data', ?,?)",
                         (number, source, dpath, _taken_from_copy(cfg, store, recorded, number, source, dpath, report)
                          or _taken_from(store, readme, source, dpath, made, report.former),
                          reasons.get((source, dpath))))
        for source, dpath in filler_dirs:
            conn.execute("INSERT OR IGNORE INTO checkpoint_dirs(number, source, path, role, backup_id, reason)"
                         " VALUES (?,?,?, 'filler', ?, 'filler')",
                         (number, source, dpath, _taken_from_copy(cfg, store, recorded, number, source, dpath, report)))
        if image_dir is None:     # an images: drive's discs are verified again first (_read_discs)
            discs_written.settle(conn, number)
    report.checkpoints.append(number)
    report.disc_files += count[0]


def read_discs(cfg: Config, store: Store, report: Report, emit: Emit, prompter, cancel, drives=()) -> None:
    """The discs in the configured drive, then in each of `drives` (where checkpoints were burnt
    with `--drive`), each recorded as burnt in the drive it was read in."""
    for drive in dict.fromkeys([cfg.checkpoint.drive, *drives]):
        _read_discs(replace(cfg, checkpoint=replace(cfg.checkpoint, drive=drive)), store, report, emit, prompter,
                    cancel)
    abandoned.honour(store, report)
    discs_written.say_unfinished(store, report, cfg.checkpoint.drive)
    unknown_backups.remember_ids(store)


def _read_discs(cfg: Config, store: Store, report: Report, emit: Emit, prompter, cancel) -> None:
    drive = cfg.checkpoint.drive
    if xorriso.is_image_drive(drive):
        image_dir = xorriso.images_dir(drive)
        seen: set[int] = set()
        for iso in sorted(glob.glob(os.path.join(glob.escape(image_dir), "RAB*D*.iso"))):
            m = VOLID_RE.match(Path(iso).stem)
            if not m or int(m.group(1)) in seen or int(m.group(1)) in report.checkpoints:    # read in a drive before
                continue
            if _disc_of(Path(iso).stem) is None:
                report.unmatched.append(f"{iso}: {_NOT_OURS}")
                continue
            number = int(m.group(1))
            try:
                volid, why = read_volid(iso, cfg.checkpoint.io_timeout, cancel)
            except Stalled as exc:     # a hung file system: the image is left unread, said
                report.unmatched.append(f"{iso}: {exc}")
                continue
            if volid != Path(iso).stem:
                said = (_unread(why) if why else f"volume id {volid}, not {Path(iso).stem}" if volid
                        else xorriso.no_image(iso) or "blank: nothing is written on it")
                report.unmatched.append(f"{iso}: {said}")
                continue
            try:
                catalog = read_disc_catalog_file(iso, emit, cfg.checkpoint.io_timeout)
                recorded = _state_of(iso, number, cfg.state_dir, report, cfg.checkpoint.io_timeout)
                load_checkpoint(cfg, store, number, catalog, image_dir, report,
                                read_disc_readme(iso, cfg.checkpoint.io_timeout), recorded)
                seen.add(number)
                try:
                    passed, failed, gaps, unjudged = reverify_images(cfg, store, number, Catalog(catalog), emit,
                                                                     cancel, recorded)
                finally:     # a disc that failed is no good copy: the checkpoint is unfinished
                    with store.transaction() as conn:
                        discs_written.settle(conn, number)
                report.lacking += unjudged
                report.verified += passed
                report.unchecked += [gap for gap in gaps if gap not in report.unchecked]
                report.failed += failed
            except WorkFailed as exc:
                report.unmatched.append(f"{iso}: {exc}")
        if seen:     # read on the disk they are on: a later image is not written below its mount point
            images_mount.remember(store, drive)
        writing_left.remove_unowned(image_dir, report)
        return
    if prompter is None:
        return
    copies_read: set[int] = set()    # the checkpoints whose copy of the state was read from a disc inserted
    unread_on: dict[int, list[tuple[str, str]]] = {}   # checkpoint -> (volume id, why) of the copies that were not
    loaded: dict[int, int] = {}      # checkpoint -> the disc files it counted
    inserted: dict[int, set[int]] = {}   # checkpoint -> its discs read in the drive
    said: dict[int, set[int]] = {}       # checkpoint -> its discs the copies read say were written
    while True:
        try:
            answer = prompter.ask(Question(
                "insert_disc", f"Insert one disc of a checkpoint not read yet into {drive} and answer ready"
                f" (read so far: {', '.join(map(str, report.checkpoints)) or 'none'}); answer skip when done.",
                (READY, SKIP)), cancel)
        except NoAnswer:
            _not_asked(drive, report)
            return
        if answer != READY:
            return
        try:
            volid, why = read_volid(drive, cfg.checkpoint.io_timeout, cancel)
        except Stalled as exc:     # a hung drive: said, and the next disc asked for
            report.unmatched.append(f"disc in {drive}: {exc}")
            continue
        named = _disc_of(volid)
        if named is None:
            report.unmatched.append(f"disc in {drive}: {_unread(why)}" if why else
                                    f"disc in {drive}: volume id {volid!r}: {_NOT_OURS}")
            continue
        number, disc = named
        try:
            recorded = disc_state.read(drive, number, cfg.state_dir, cfg.checkpoint.io_timeout)
            inserted.setdefault(number, set()).add(disc)
            if recorded.unread and number in copies_read:   # what an earlier disc's copy gave stays
                report.notes.append(f"checkpoint {number}: the copy of the state on {volid} cannot be read"
                                    f" ({recorded.unread}); that of a disc read before is kept")
                discs_written.also_written(store, number, disc)
                continue
            catalog = read_disc_catalog_file(drive, emit, cfg.checkpoint.io_timeout)
            readme = read_disc_readme(drive, cfg.checkpoint.io_timeout)
            _unlacking(report, number)
            if recorded.unread:
                unread_on.setdefault(number, []).append((volid, recorded.unread))
                _lacking(report, number, unread_on[number], "; another of its discs inserted now (or in a new"
                         " `rabtui rebuild-state`) may hold a copy that can be read")
            elif number in unread_on:
                report.notes.append(f"checkpoint {number}: the copy of the state on"
                                    f" {', '.join(v for v, _ in unread_on[number])} cannot be read; that on {volid}"
                                    " was read instead")
            before = report.disc_files
            # what the copies read before said was written stays so
            said[number] = said.get(number, set()) | discs_written.said(recorded)
            load_checkpoint(cfg, store, number, catalog, None, report, readme, recorded, inserted[number] | said[number])
            added = report.disc_files - before
            if number in loaded:      # loaded again, from this disc: counted once
                report.checkpoints.remove(number)
                report.disc_files -= loaded[number]
            loaded[number] = added
            if not recorded.unread:
                copies_read.add(number)
        except WorkFailed as exc:
            report.unmatched.append(f"disc {volid}: {exc}")


_NOT_OURS = (f"no rabtui checkpoint disc's volume id (RAB<checkpoint>D<disc>, checkpoints 1 to"
             f" {checkpoint_numbers.LARGEST}, discs 1 to {MOST_DISCS})")


def _disc_of(volid: str | None) -> tuple[int, int] | None:
    """(checkpoint, disc) the volume id of a rabtui disc names; None for any other (a number past
    those rabtui gives would not even fit the database)."""
    m = VOLID_RE.fullmatch(volid or "")
    if m is None or len(volid) > 32:     # an ISO volume id's longest
        return None
    number, disc = int(m.group(1)), int(m.group(2))
    return (number, disc) if 1 <= number <= checkpoint_numbers.LARGEST and 1 <= disc <= MOST_DISCS else None


def _unread(why: str) -> str:
    """A disc whose volume id xorriso failed to read for this machine (`why`), said: before its
    catalog is read, its tree is bounded by nothing (checkpoint/disc_tree.py)."""
    return (f"{why}: this machine's failure, or a disc whose directory tree loops, which xorriso loads until"
            " its memory runs out (`rabtui checkpoint verify` tells, once the checkpoint is read from another of"
            " its discs)")


def _state_of(iso: str, number: int, state_dir, report: Report, silence: float) -> disc_state.Recorded:
    """What the state copy of the disc `iso` recorded; where it cannot be read, that of the next
    image of the checkpoint that can (each disc holds the whole record). Warned of in `report` when
    none can."""
    images = [iso] + sorted(p for p in glob.glob(os.path.join(glob.escape(os.path.dirname(iso)), f"RAB{number}D*.iso"))
                            if p != iso and VOLID_RE.match(Path(p).stem))
    unread: list[tuple[str, str]] = []
    for image in images:
        recorded = disc_state.read(image, number, state_dir, silence)
        if not recorded.unread:
            if unread:
                report.notes.append(f"checkpoint {number}: the copy of the state on {', '.join(v for v, _ in unread)}"
                                    f" cannot be read; that on {Path(image).stem} was read instead")
            return recorded
        unread.append((Path(image).stem, recorded.unread))
    _lacking(report, number, unread, "")
    return recorded


def _unlacking(report: Report, number: int) -> None:
    """Take back the warning that checkpoint `number` lacks what its copies of the state hold (a
    disc of it inserted again: said anew, or no more)."""
    report.lacking[:] = [w for w in report.lacking if not w.startswith(f"checkpoint {number}: the copy of the state")]


def _lacking(report: Report, number: int, unread: list[tuple[str, str]], hint: str) -> None:
    """Warn that checkpoint `number` is recorded without what only the copies of the state on its
    discs hold (`unread`: volume id, why not)."""
    which = "; ".join(f"{volid} ({why})" for volid, why in unread)
    report.lacking.append(
        f"checkpoint {number}: the copy of the state cannot be read on disc{'s' if len(unread) > 1 else ''} {which}."
        f" The checkpoint is recorded from its catalog alone,"
        f" without the mode, owner, symlink target and hard links of its entries, the xattrs with an empty value"
        f" kept off its discs and the ACLs and xattrs of its directories: a later restore from its discs does not"
        f" set those empty-valued xattrs again nor check the directories' ACLs and xattrs, and its verification"
        f" does not check them{hint}")


def _not_asked(drive: str, report: Report) -> None:
    """Nothing could answer the question for a disc (no terminal): the rebuild goes on with what
    the media hold. It lacks something only where a checkpoint is known to have been made."""
    unread = sorted(report.numbers_used - set(report.checkpoints))
    why = f"the discs in {drive} were not read: there is no terminal to ask for them on"
    if unread:
        report.unmatched.append(f"{why}; checkpoints up to {unread[-1]} were made: run `rabtui rebuild-state` on a"
                                " terminal, with one disc of each at hand, to record their files")
    else:
        report.notes.append(f"{why}; no checkpoint is recorded on the media, in the state directory or in the database replaced")
