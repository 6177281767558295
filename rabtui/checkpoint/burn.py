"""Writing one disc with xorriso: stage README.txt and rabtui/, write the command file, run it.

Drives: `images:DIR` writes `DIR/RAB<n>D<nn>.iso`; a real burner (`/dev/sr0`) is first checked
(blank, large enough), then written, closed and ejected.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import time
from pathlib import Path

from rabtui import faults, fmt, privacy, proc, proc_records
from rabtui.checkpoint import (acl_mask, acl_names, backed_up_attrs, continuation, cut_attrs, dir_attrs, kept_off,
                               layout, own_dirs, shortpath, verify_attrs, xattr_sum, xorriso, xorriso_output)
from rabtui.checkpoint.content import DIR_MARK, MARKS
from rabtui.checkpoint.read_from import ChangedSincePlan, load_rows, whole_path, with_disk
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.verify import read_volid
from rabtui.checkpoint.verify_result import LINKS_CHANGED, XATTRS_CHANGED
from rabtui.errors import Stalled, WorkFailed
from rabtui.media import medium_fs, mounts
from rabtui.events import LOG, PROGRESS, WARNING, Emit, Event
from rabtui.state.store import Store


def load_plan(store: Store, number: int) -> tuple[dict, dict]:
    row = store.one("SELECT * FROM checkpoints WHERE number=?", (number,))
    if row is None:
        from rabtui.errors import UsageError

        raise UsageError(f"there is no checkpoint {number}")
    if row["plan"] is None:
        # rebuilt from its discs (rebuild-state): what they hold is known, not where it came from
        return dict(row), {"dirs": [], "created": row["created"], "rebuilt": True}
    return dict(row), json.loads(row["plan"])


def stage(cfg, store: Store, number: int, disc: int, cp: dict, plan_json: dict, rows: list[Row],
          cancel=None) -> tuple[Path, Path]:
    """README.txt and rabtui/ of the disc, and its xorriso command file."""
    from rabtui.checkpoint.prepare import checkpoint_dir

    folder = checkpoint_dir(cfg, number)
    staging = folder / f"disc-{disc:02d}"
    filler = [d for d in plan_json["dirs"] if d["role"] == "filler" and d.get("disc") == disc]
    readme = layout.readme_text(number=number, created=plan_json["created"], disc=disc, discs=cp["discs"],
                                disc_type=cp["disc_type"], dirs=plan_json["dirs"],
                                on_disc=plan_json.get("on_disc", {}), filler=filler,
                                media=mounts.made_by(cfg.media, store), joined=plan_json.get("joined"))
    if not (folder / "catalog.tsv").exists():   # the recording process was killed before it wrote it
        privacy.private_dir(folder.parent)      # or the folder was removed since (room made)
        privacy.private_dir(folder)
        layout.write_catalog(folder / "catalog.tsv", load_rows(store, number))
    if not (folder / layout.CATALOG_ON_DISC).exists():
        layout.gzip_catalog(folder / "catalog.tsv", folder / layout.CATALOG_ON_DISC)
    layout.stage_disc(staging, readme, cfg.path, folder / layout.CATALOG_ON_DISC, store)
    if _sectors_needed(staging, plan_json, disc) > cp["disc_sectors"]:
        # the backups made since the plan grew the state: its copy without their catalog
        layout.stage_disc(staging, readme, cfg.path, folder / layout.CATALOG_ON_DISC, store, backups_catalog=False)
    _check_room(staging, cp, plan_json, disc)
    _check_as_recorded(store, number, plan_json, disc, rows)
    prefixes = {os.fsencode(d["prefix"]): os.fsencode(d["root"]) for d in plan_json["dirs"]}
    with_disk(plan_json, rows)
    own = {os.fsencode(d["prefix"]): o for d in plan_json["dirs"] if (o := own_dirs.from_plan(d)) is not None}
    entries = layout.disc_entries(rows, prefixes, staging, own)
    bare = kept_off.disc_paths(store, number)
    for e in entries:
        e.bare = e.kind in ("file", "dir") and e.iso in bare
    _check_present(entries, number, disc)
    _check_writable(entries, folder, number, disc, cancel, cfg.checkpoint.io_timeout)
    short = shortpath.fresh(folder / f"links-{disc:02d}")   # kept until the disc is written again
    for e in entries:
        e.disk = short.path(e.disk)
    _check_kept_off(entries, number, disc)
    for e in entries:
        e.bare = e.bare or (e.kind == "dir" and cut_attrs.map_single_drops(e.disk)) or (
            e.kind in ("file", "dir") and acl_names.by_id_at(e.disk))
    try:
        cut_attrs.prepare(entries, folder / f"lists-{disc:02d}")
    except ValueError as exc:
        raise WorkFailed(f"the part of a file cut for disc {disc} cannot be given the file's xattrs: {exc}",
                         hint="shorten that xattr on the source (xorriso reads it as one line), back it up again,"
                              " then plan the checkpoint again") from None
    cmdfile = folder / f"disc-{disc:02d}.xorriso"
    cmdfile.write_text(xorriso.command_file(layout.volid(number, disc), entries), encoding="ascii")
    return staging, cmdfile


def _check_present(entries: list, number: int, disc: int) -> None:
    """An entry removed from the backup on the medium after the plan, or held there with another
    kind, mode, owner, time, size or device numbers than the plan recorded (a chmod, a mknod on the
    medium), fails the disc and any rewrite (verify_attrs.held_otherwise, as its verification would
    find it), and so do files
    linked there otherwise than recorded (verify_attrs.linked_otherwise): it is named
    before the disc is begun, from the one lstat of each entry. (A medium away looks removed too:
    the run then says that instead, run.py.)"""
    first, changed = None, 0     # the first entry held otherwise, and how many are
    files: list[tuple[Row, int, int]] = []     # each file's inode and links, for its hard links
    with shortpath.Shortcuts() as short:
        for e in entries[2:]:     # after README.txt and rabtui/
            path = short.path(e.disk)
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                raise ChangedSincePlan(
                    f"{fmt.name(e.iso.lstrip(b'/'))} (removed from the backup on the medium after the checkpoint was"
                    f" planned, at {fmt.name(e.disk)}): disc {disc} would not hold it as checkpoint {number}"
                    f" recorded, nor would any rewrite; nothing was written",
                    hint=f"`rabtui checkpoint abandon {number}`, then `rabtui checkpoint burn` plans a new checkpoint"
                         " from the backup as it is now; or put it back on the medium as recorded and retry") from None
            if e.row is not None and (what := verify_attrs.held_otherwise(e.row, st, path)):
                changed += 1
                first = first or (e, verify_attrs.said(e.row, st, what), medium_fs.modes_of_mount(path))
            elif e.kind == "file" and e.row is not None:
                files.append((e.row, verify_attrs.inode_of(st), st.st_nlink))
    if first is None and (linked := verify_attrs.linked_otherwise(files)):
        path, how = next(iter(linked.items()))
        more = f", and {fmt.count(len(linked) - 1, 'other file')} of the disc so" if len(linked) > 1 else ""
        raise ChangedSincePlan(
            f"{fmt.name(path)} ({how}: {LINKS_CHANGED} in the backup on the medium after the checkpoint was"
            f" planned){more}: disc {disc} would fail its verification against checkpoint {number}'s record, and"
            f" so would any rewrite; nothing was written",
            hint=f"`rabtui checkpoint abandon {number}`, then `rabtui checkpoint burn` plans a new checkpoint from the"
                 " backup as it is now; or link its names on the medium again as recorded and retry")
    if first is not None:
        e, what, of_mount = first
        more = f", and {fmt.count(changed - 1, 'other entry')} of the disc so" if changed > 1 else ""
        raise ChangedSincePlan(
            f"{fmt.name(e.iso.lstrip(b'/'))} ({what}, at {fmt.name(e.disk)}){more}: disc {disc} would fail its"
            f" verification against checkpoint {number}'s record, and so would any rewrite; nothing was written",
            hint=f"`rabtui checkpoint abandon {number}`, then `rabtui checkpoint burn` plans a new checkpoint from the"
                 f" backup as it is now; or put it back on the medium as recorded ({_recorded(e.row)}) and retry"
                 + (_MOUNT_GIVES if of_mount and re.search(r"\b(mode|owner)\b", what) else "")
                 + (f" ({acl_mask.put_back(e.row.mode)})" if re.search(r"\bACL\b", what) else ""))


# an exFAT medium's modes and owners are its mount's (chmod, chown do nothing there): mounted again
# with another umask, every entry is found so; said only there (a chmod on ext4 is put back by one)
_MOUNT_GIVES = (" (a file system that keeps no modes or owners, as exFAT, shows those of its mount: mount it again"
                " with the uid=, gid= and umask= it had)")


def _recorded(r: Row) -> str:
    """The mode, owner, time, size, target and device numbers the plan recorded for `r`, as an operator
    puts them back."""
    said = [f"mode {stat.S_IMODE(r.mode):04o}"] if r.mode is not None and not stat.S_ISLNK(r.mode) else []
    said += [f"owner {r.owner[0]}:{r.owner[1]}"] if r.owner is not None else []
    said += [] if r.mode is not None and stat.S_ISLNK(r.mode) else [f"mtime {fmt.utc(r.mtime)}"]
    said += [f"size {r.size} bytes"] if r.sha256 not in MARKS and not r.part else []
    said += [f"target '{fmt.name(r.link)}'"] if r.link is not None else []
    said += [f"device {os.major(r.rdev)},{os.minor(r.rdev)}"] if r.rdev is not None else []
    return ", ".join(said)


def _check_kept_off(entries: list, number: int, disc: int) -> None:
    """An entry that holds an xattr with an empty value the plan did not record (its backup changed
    since) would stop xorriso half-way (kept_off.py): it is named before the disc is begun. One on a
    file system that lists no xattrs at all (vfat and exFAT through FUSE: ENOTSUP), which libisofs
    fails on as on an unreadable one, is mapped bare, with none to give. So is one whose xattrs are
    not those the plan summed (xattr_sum.py: one set, changed or removed on the medium since; its
    trusted.* ones where the plan and this burn are root's): the
    disc would hold them so, and its verification, which compares them with the medium as it is,
    would pass it, holding xattrs the backup never had. Where the first shows none at all, or its
    file system refuses user.* ones, its medium may be mounted without them: said so too."""
    first, changed, none = None, 0, False    # the first entry whose xattrs changed, how many did, it shows none
    for e in entries:
        summed = e.row is not None and (e.row.xattr_sum is not None or e.row.trusted_sum is not None)
        given = not e.bare and e.kind in ("file", "dir")    # its xattrs read by libisofs as it maps it
        if not summed and not given:
            continue
        try:
            attrs = [(n, os.getxattr(e.disk, n, follow_symlinks=False))
                     for n in os.listxattr(e.disk, follow_symlinks=False)]
        except OSError as exc:   # unreadable: xorriso says so
            unheld = exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP)
            if given:
                e.bare = unheld
            attrs = [] if unheld else None
        if given and (empty := [n for n, v in attrs or () if not v]):
            raise WorkFailed(
                f"{os.fsdecode(e.iso)} holds xattr {empty[0]} with an empty value, which it had not when checkpoint"
                f" {number} was planned: its backup changed since, and xorriso cannot write it so onto disc {disc};"
                f" nothing was written",
                hint=f"`rabtui checkpoint abandon {number}` and plan again: the new plan keeps such values off the"
                     " discs")
        held = None if attrs is None else [(os.fsencode(n), v) for n, v in attrs]
        if summed and ((attrs or e.row.xattr_sum) and xattr_sum.changed(e.row.xattr_sum, held)
                       or xattr_sum.trusted_changed(e.row.trusted_sum, held)):
            changed += 1
            if first is None:
                first, none = e, attrs == []
    if first is not None:
        more = f", and {fmt.count(changed - 1, 'other entry')} of the disc so" if changed > 1 else ""
        raise ChangedSincePlan(
            f"{fmt.name(first.iso.lstrip(b'/'))} ({XATTRS_CHANGED} in the backup on the medium after the checkpoint"
            f" was planned, at {fmt.name(first.disk)}){more}: disc {disc} would hold xattrs the backup never had,"
            f" and pass its verification against checkpoint {number}'s record; nothing was written",
            hint=f"`rabtui checkpoint abandon {number}`, then `rabtui checkpoint burn` plans a new checkpoint from the"
                 " backup as it is now; or give it back on the medium the xattrs it had (`getfattr -d` shows them on"
                 " another copy of it, `getfacl` its ACL) and retry"
                 + (_USER_XATTRS_OFF if none or xattr_sum.users_refused(first.disk) else ""))


# ext4 mounted nouser_xattr lists no user.* xattrs and reads none (where a kernel still takes it)
_USER_XATTRS_OFF = ("; it shows no user xattrs now: if the medium is mounted without them (`nouser_xattr`), mount it"
                    " again with `user_xattr` as well")


def _check_as_recorded(store: Store, number: int, plan_json: dict, disc: int, rows: list[Row]) -> None:
    """A directory whose ACLs or xattrs, or a file whose xattrs kept off the discs, changed in the
    backup after the plan recorded them would fail the disc's verification, whenever it is written
    (dir_attrs.changed_since, dir_attrs.kept_off_changed_since): it is named before the disc is
    begun. (An archive's directories as its backups hold them, where the plan recorded those: own_dirs.py.)"""
    record = dir_attrs.load(store, number)
    found = backed_up_attrs.origins(plan_json, disc)
    kept = kept_off.by_disc_path(store, number)
    dirs = {r.disc_path for r in rows if r.sha256 == DIR_MARK}
    for r in rows:
        path = r.disc_path
        while b"/" in path and path not in dirs:
            path = path.rsplit(b"/", 1)[0]
            dirs.add(path)
    for path in sorted(dirs):
        if (gone := backed_up_attrs.gone_since_plan(found, path)) is not None:
            raise _gone_since_plan(path, gone, number, disc)
    if record is not None:
        for path in sorted(p for p in dirs if dir_attrs.subject(p)):
            what = dir_attrs.changed_since(path, record, kept.get(path, set()), found)
            if what:
                raise _changed_since_plan(path, "directory", what, number, disc)
    for r in rows:
        whole = whole_path(r)
        what = dir_attrs.kept_off_changed_since(r, kept[whole], found) if kept.get(whole) and whole not in dirs else None
        if what:
            raise _changed_since_plan(whole, "file", what, number, disc)


def _changed_since_plan(path: bytes, kind: str, what: str, number: int, disc: int) -> ChangedSincePlan:
    return ChangedSincePlan(
        f"{os.fsdecode(path)} ({what} in the backup on the medium after the checkpoint was planned): disc {disc}"
        f" would fail its verification against checkpoint {number}'s record, and so would any rewrite; nothing was"
        f" written",
        hint=f"`rabtui checkpoint abandon {number}`, then `rabtui checkpoint burn` plans a new checkpoint from the"
             f" backup as it is now; or put the {kind}'s ACLs and xattrs back on the medium as recorded and retry")


def _gone_since_plan(path: bytes, gone: bytes, number: int, disc: int) -> ChangedSincePlan:
    return ChangedSincePlan(
        f"{fmt.name(path)}: checkpoint {number} was planned with this directory's mode, owner, times, ACLs and"
        f" xattrs as backup {fmt.name(os.path.dirname(gone))} held them, and that backup has been deleted since;"
        f" disc {disc} would not hold them as recorded; nothing was written",
        hint=f"`rabtui checkpoint abandon {number}`, then `rabtui checkpoint burn` plans a new checkpoint from"
             " the backups there now")


def _check_writable(entries: list, folder: Path, number: int, disc: int, cancel, silence: float) -> None:
    """A plan refuses directories that xorriso stops on (continuation.py); one recorded before
    rabtui checked for them would spoil its disc half-way: it is found before the disc is begun."""
    found = continuation.check(entries, folder, cancel, silence)
    if found.bad:
        iso_dir, why = next(iter(found.bad.items()))
        raise WorkFailed(
            f"xorriso cannot write directory {os.fsdecode(iso_dir)!r} of disc {disc} ({why}): this checkpoint"
            f" was planned before rabtui checked for such directories; nothing was written",
            hint=f"skip this disc, or `rabtui checkpoint abandon {number}` and plan again: the new plan names"
                 f" the directory and what to do")


def unstage(cfg, number: int, disc: int) -> None:
    """What `stage` made for a disc, once the disc is verified: README.txt and rabtui/ (a copy of
    the state database, for each disc), the shortcuts, the command file and the lists it reads
    (cut_attrs.py). A rewrite stages it anew; the checkpoint's catalog stays for that."""
    from rabtui.checkpoint.prepare import checkpoint_dir

    folder = checkpoint_dir(cfg, number)
    for name in (f"disc-{disc:02d}", f"links-{disc:02d}", f"lists-{disc:02d}"):
        shutil.rmtree(folder / name, ignore_errors=True)
    (folder / f"disc-{disc:02d}.xorriso").unlink(missing_ok=True)


def _staged_sectors(staging: Path) -> int:
    staged = 0
    for dirpath, _dirs, names in os.walk(staging):
        staged += sum(-(-os.path.getsize(os.path.join(dirpath, n)) // 2048) + 1 for n in names)
    return staged


def _sectors_needed(staging: Path, plan_json: dict, disc: int) -> int:
    """The sectors of the disc: its files as planned, README.txt and rabtui/ as staged now."""
    from rabtui.checkpoint.isosize import FIXED_SECTORS, PADDING_SECTORS

    per = plan_json["summary"]["per_disc"][disc - 1]
    files = (per["data_bytes"] + per["filler_bytes"]) // 2048
    return files + _staged_sectors(staging) + FIXED_SECTORS + PADDING_SECTORS


def _check_room(staging: Path, cp: dict, plan_json: dict, disc: int) -> None:
    """README.txt and rabtui/ (the database copy grows) must still fit with this disc's files."""
    need = _sectors_needed(staging, plan_json, disc)
    if need > cp["disc_sectors"]:
        staged = _staged_sectors(staging)     # what grew, said: read again only then
        raise WorkFailed(
            f"disc {disc} would need {need * 2048 / 1e6:.1f} MB, more than the {cp['disc_sectors'] * 2048 / 1e6:.1f} MB"
            f" of a {cp['disc_type']}: README.txt and rabtui/ ({staged * 2048 / 1e6:.1f} MB) grew beyond the room"
            f" kept for them", hint="make a new plan (`rabtui checkpoint burn`) or use a larger disc type")


def reason(exc: Exception) -> str:
    """One line for the operator: a WorkFailed as it is, an OS error with its file."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{exc.strerror}: {os.fsdecode(where)}" if where else exc.strerror
    return str(exc)


def check_blank(drive: str, need_sectors: int, cancel, silence: float | None = None) -> str | None:
    """For a real burner: None when a blank medium of at least `need_sectors` is in; else why not.
    A drive that answers nothing for `silence` seconds (checkpoint.io_timeout) is one reason: the
    operator frees it and is asked again, as for a disc that is not blank."""
    if xorriso.is_image_drive(drive):
        return None
    exe = proc.which("xorriso")
    try:
        done = proc.run(xorriso.media_argv(exe, drive), capture=True, cancel=cancel,
                        silence=silence or xorriso.DRIVE_SILENCE, busy=True)
    except Stalled as exc:
        return f"{drive} did not answer ({exc}): take the disc out and put it back in"
    info = xorriso_output.parse_media(proc_records.split_records(done.stdout))
    if not info["blank"]:
        return f"the disc in {drive} is not blank ({info['status'] or 'no disc?'})"
    if info["free_sectors"] is not None and info["free_sectors"] < need_sectors:
        return (f"the disc in {drive} is too small: {info['free_sectors'] * 2048 / 1e6:.0f} MB free,"
                f" {need_sectors * 2048 / 1e6:.0f} MB needed")
    return None


def image_in_the_way(drive: str, volid: str, ours: str | None, cancel=None, silence: float | None = None) -> str | None:
    """For an images: drive, what a disc that is not blank is to a burner: an image at the disc's
    path that this disc did not write (`ours`: the one it did, if any), or one there that holds
    another disc (moved onto it by hand). It may be the only copy of another checkpoint with this
    number (another server's writing into the same folder, or one made before the state database
    was made anew), or of that other disc: it is never replaced."""
    if not xorriso.is_image_drive(drive):
        return None
    image = xorriso.image_path(drive, volid)
    try:
        if not stat.S_ISREG(os.lstat(image).st_mode):
            return None   # what is not a file (a directory in the way) fails the write, with its reason
    except FileNotFoundError:
        return None
    if image == ours:
        found, _why = read_volid(xorriso.device_of(drive, volid), cancel, silence)
        if found is None or found == volid:   # this disc's, or no disc at all (an attempt cut short)
            return None
        return (f"{image} holds disc {found}, not {volid} (moved there by hand?); it may be that disc's only copy"
                f" and is not replaced: move it away, then answer ready")
    return (f"{image} is already there, an image this checkpoint did not write (another server's checkpoint,"
            f" or one made before the state database was new?); it is not replaced: move it away, then"
            f" answer ready")


def _made_here(folder: Path) -> list[Path]:
    """What rabtui made in an images folder: its disc images (and those a killed run began), and
    the folder itself when it holds nothing else and is no shared one (sticky, as /tmp). An earlier
    version left them open to other users; anything else there is the operator's, never chmod-ed."""
    names = os.listdir(folder)
    images = [folder / n for n in sorted(names) if xorriso.IMAGE_NAME.fullmatch(n.removesuffix(xorriso.WRITING))]
    if len(images) == len(names) and not folder.stat().st_mode & stat.S_ISVTX:
        return [folder, *images]
    return images


def write_disc(drive: str, volid: str, cmdfile: Path, *, emit: Emit, cancel, total_sectors: int,
               disc_sectors: int | None = None, io_timeout: float | None = None) -> None:
    """Run xorriso on the command file; `UPDATE` lines become progress events. xorriso is stopped
    (Stalled) once it has gone `io_timeout` seconds without adding a file or writing a sector."""
    exe = proc.which("xorriso")
    into = None
    if xorriso.is_image_drive(drive):
        image = Path(xorriso.image_path(drive, volid))
        into = Path(xorriso.writing_path(drive, volid))
        try:
            others = privacy.others_can_change(image.parent)
            if not others:      # (another user's folder is not used: refused below)
                privacy.private_dir(image.parent)
            closed = [p for p in _made_here(image.parent) if privacy.tighten(p)] if image.parent.is_dir() else []
            if closed:    # made by an earlier version
                emit(Event(WARNING, "closed to other users (chmod go-rwx, they could read the images): "
                                    + ", ".join(map(str, closed))))
            if others:
                raise WorkFailed(f"checkpoint images folder {image.parent}: {others}, who could put a file of their"
                                 " own in place of the image before xorriso writes it; nothing written",
                                 hint="give the folder and those above it to this user or root (chown), closed to"
                                      " others (chmod go-w)")
            if os.path.lexists(image):   # never a verified disc: the caller checks
                other = xorriso.no_image(str(image))
                image.unlink()
                if other:
                    emit(Event(WARNING, f"{fmt.name(str(image))}: {other}, removed to write the disc there"))
            into.unlink(missing_ok=True)   # what a killed run began
            privacy.create_private_file(into)   # xorriso keeps the mode of the file it finds
        except OSError as exc:
            raise WorkFailed(f"cannot make {image}: {exc.strerror}") from None
    started = time.time()
    notes: list[str] = []
    progress = proc.Progress(io_timeout, "wrote no sector") if io_timeout else None
    written = [-1]
    first_line = [True]

    def on_line(line: bytes) -> None:
        if first_line[0]:
            first_line[0] = False
            faults.point("burn.xorriso_started")
        _, text = xorriso_output.payload(line)
        upd = xorriso_output.parse_update(text)
        if progress is not None and (upd["sectors"] > written[0] if upd else not _WAITING.search(text)):
            # a drive (or an image's file system) that takes no data leaves xorriso repeating the
            # same sector count, or saying it is still working, every second
            progress.moved()
            written[0] = upd["sectors"] if upd else written[0]
        if upd:
            done = upd["sectors"] * 2048
            elapsed = max(time.time() - started, 1e-6)
            emit(Event(PROGRESS, data={"done_bytes": done, "total_bytes": total_sectors * 2048,
                                       "percent": upd["percent"], "rate": done / elapsed,
                                       "current": volid}))
        elif any(w in text for w in ("FAILURE", "SORRY", "FATAL", "WARNING")) and not _ROCK_RIDGE_ONLY.fullmatch(text.strip()):
            notes.append(text.strip())
            emit(Event(LOG, text.strip()))

    try:
        # dies with rabtui: a killed run's disc is written again by the next run, which must not meet
        # this xorriso still writing it (or holding the burner)
        done = proc.run(xorriso.burn_argv(exe, drive, volid, str(cmdfile), into and str(into)), on_stdout=on_line,
                        cancel=cancel, progress=progress, die_with_parent=True)
        if done.killed_by:
            raise WorkFailed(f"xorriso was killed by signal {done.killed_by} while it wrote {volid}")
        if not done.ok:
            raise WorkFailed(f"xorriso could not write {volid} (exit {done.returncode}): "
                             f"{_failure(notes) or done.stderr_said(300)}")
        if into is not None:
            size = into.stat().st_size
            if disc_sectors and size > disc_sectors * 2048:
                raise WorkFailed(f"{volid}: the image is {size / 1e6:.1f} MB, larger than the disc"
                                 f" ({disc_sectors * 2048 / 1e6:.1f} MB)")
            os.rename(into, image)
    except BaseException:
        # a half-written image would look like a disc to burn later (and to rebuild-state) under
        # the disc's name, and takes the room of one: the next attempt writes it anew
        if into is not None:
            try:
                into.unlink(missing_ok=True)
            except OSError:
                pass
        raise


# said once per symlink, FIFO and device node (Joliet, the tree Windows reads, holds none): expected
_ROCK_RIDGE_ONLY = re.compile(r"libisofs: WARNING : Cannot add .* to Joliet tree\."
                              r" (Symlinks|Special files) can only be added to a Rock Ridge tree\.")
_WAITING = re.compile(r"Working since [0-9]+ seconds")   # "Thank you for being patient.", "Closing track/session."


def _failure(notes: list[str]) -> str:
    """Why xorriso failed, from its messages: the first of libisofs's own (the cause; libburn's and
    xorriso's that follow only say the write stopped), then the last two."""
    cause = [n for n in notes if n.startswith("libisofs") and any(w in n for w in ("FATAL", "FAILURE", "SORRY"))]
    return "; ".join(dict.fromkeys(cause[:1] + notes[-2:]))


def eject(cfg, drive: str, emit: Emit, cancel) -> None:
    """Eject a burner's disc. A drive that answers nothing for checkpoint.io_timeout is said, and
    the run goes on: the operator takes the disc out, as the next question asks."""
    if xorriso.is_image_drive(drive):
        return
    try:
        proc.run(xorriso.eject_argv(proc.which("xorriso"), drive), cancel=cancel, silence=cfg.checkpoint.io_timeout,
                 busy=True)
    except Stalled as exc:
        emit(Event(WARNING, f"{drive} did not eject the disc ({exc}): take it out by hand"))
