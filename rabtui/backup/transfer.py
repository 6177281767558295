"""Step 5 for one directory: run rsync, and turn its output stream into progress events, sizes,
and catalog rows, in one pass. (Archive directories' new files are linked into the medium's union
tree once the backup is complete: pipeline step 7.)

The per-file work is kept small: rsync's output is read every READ_EVERY seconds and scanned for
items with one regular expression, no event per file (ITEM and PROGRESS events are throttled),
catalog rows handed to the spool in batches.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import threading
import time
from pathlib import Path

from rabtui import faults, fmt, proc, proc_started, rsync, rsync_exit
from rabtui.ssh import endpoint as ssh_target
from rabtui.media import below, medium_layout
from rabtui.backup import (case_folded, holes, holes_again, links_apart, not_created, points_held, redone, source_top,
                           times_held, unmade_entries, via_symlinks, xattrs_again)
from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.backup.rsync_stream import Stream
from rabtui.backup.sizes import DirSizes
from rabtui.config import Config, Directory, Medium, Source, transfer_options
from rabtui.errors import Stalled
from rabtui.events import LOG, Emit, Event

_F = ord("f")
READ_EVERY = 0.02      # seconds: rsync's records gather in a roomy pipe between two reads (proc.run's nap)


def directory_argv(source: Source, directory: Directory, dest: Path, *, rsh: str | None,
                   link_dest: Path | None, compare_dest: Path | None, rsync_path: str = "rsync",
                   exact_times: bool = False, files_from: str | None = None, listing: bool = False,
                   remote_command: str | None = None, medium_links: bool = True) -> list[str]:
    """`rsync_path` is the local rsync program; the source's own `rsync_path` is the remote side's
    command (--rsync-path), or for a local source the command that runs rsync itself.
    `remote_command`: the remote side's command instead (source_top.Looks.rsync_path).
    `medium_links` False (a medium that holds no hard links: vfat, exFAT): without -H, each name of a
    group of hard links is a copy of its own there, where rsync -H would keep one name and fail the others."""
    command, remote_path = commands(source, rsync_path)
    remote_path = remote_command or remote_path
    extra = transfer_options.options_for(source.rsync_options, directory.kind)
    if listing:     # a listing compares nothing: with --checksum the source would read each file whole
        extra = tuple(o for o in extra if o not in transfer_options.CONTENT_COMPARED)
    return rsync.build_argv(
        ssh_target.rsync_read_location(source, directory.path), str(dest) + "/", rsh=rsh,
        excludes=(*source.excludes, *directory.excludes),
        link_dest=str(link_dest) if link_dest else None,
        compare_dest=str(compare_dest) if compare_dest else None,
        rsync=command,
        acls=source.acls,
        xattrs=source.xattrs,
        io_timeout=source.io_timeout,
        one_file_system=source.one_file_system,
        bwlimit=source.bwlimit,
        rsync_path=remote_path,
        extra=extra,
        exact_times=exact_times,
        files_from=files_from,
        hard_links=directory.kind != "archive" and medium_links,
        listing=listing,
    )


def commands(source: Source, rsync_path: str) -> tuple[list[str], str | None]:
    """The words of the local rsync command and the remote side's (--rsync-path), if any."""
    if source.is_local and source.rsync_path:
        return shlex.split(source.rsync_path), None
    return [rsync_path], source.rsync_path


def drop_copy(backup_path: Path, dir_path: str) -> None:
    """The backup's copy of the directory removed (rsync read it through a symlink of the source)."""
    dest = medium_layout.backup_data_path(backup_path, dir_path)
    # a link put on the way on the medium (rabtui never makes one) would have it remove a tree of this server
    if medium_layout.symlink_to_copy(backup_path, dir_path) is None and dest.is_dir():
        shutil.rmtree(dest)


def transfer_directory(cfg: Config, source: Source, directory: Directory, medium: Medium, backup_path: Path, *,
                       base_path: Path | None, rsh: str | None, spool: CatalogSpool, emit: Emit,
                       cancel: threading.Event, index: int = 0, count: int = 1,
                       last_files: int | None = None, exact_times: bool = False, medium_links: bool = True,
                       folds_case: bool = False, looks: source_top.Looks | None = None) -> DirSizes:
    """rsync one directory into the backup; returns its sizes with state ok / warning / failed.

    A directory missing on the source, or a standard one found empty while its last complete
    backup held `last_files` files, fails unless it has `allow_empty`. `exact_times`: the medium
    keeps nanoseconds (see rsync.build_argv); `medium_links`: it holds hard links (directory_argv);
    `folds_case`: it takes one name for another differing in case (case_folded.py). `looks`: the
    backup's looks for symlinks on the source,
    made in this transfer's own session when they can be (the last directory's: the look after too).

    Raises Cancelled when `cancel` is set (rsync's process group is killed). The caller has checked
    that the backup's directory is still on the medium (backup_place.py).
    """
    sizes = DirSizes(directory.path, directory.kind, excludes=[*source.excludes, *directory.excludes])
    dest = medium_layout.backup_data_path(backup_path, directory.path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    link_dest = compare_dest = union = None
    if directory.kind == "archive":
        union = medium_layout.archive_root(medium.path, source.id, directory.path)
        if union.is_dir():
            compare_dest = union
    elif base_path is not None:
        candidate = medium_layout.backup_data_path(base_path, directory.path)
        # through a symlink planted on the way, rsync would hard-link files of wherever it points
        if candidate.is_dir() and medium_layout.symlink_to_copy(base_path, directory.path) is None:
            link_dest = candidate
    base_info = medium_layout.read_backup_json(base_path) if link_dest else None
    basis = (f", linking unchanged files to {link_dest}" if link_dest
             else f", copying only what {compare_dest} lacks" if compare_dest else ", full copy")
    last = index == count - 1

    def transfer(remote_command: str | None) -> tuple[Stream, proc_started.Completed | None]:
        argv = directory_argv(source, directory, dest, rsh=rsh, link_dest=link_dest, compare_dest=compare_dest,
                              rsync_path=proc.which("rsync"), exact_times=exact_times, remote_command=remote_command,
                              medium_links=medium_links)
        emit(Event(LOG, f"rsync {directory.path} ({directory.kind}) -> {dest}{basis}", {"argv": argv}))
        stream = Stream(sizes, spool, emit, archive=directory.kind == "archive", index=index, count=count,
                        basis=link_dest or compare_dest, sender_names=rsync.SENDER_NAMES in argv)
        return stream, _rsync(argv, stream, source, cancel)

    started = time.monotonic()
    free_before = holes.free_bytes(dest.parent)
    session = looks.rsync_path(directory.path, last) if looks is not None else None
    stream, result = transfer(session)
    if session is not None and result is not None and not looks.started(result.returncode, result.stderr_tail):
        # the source's rsync did not start: a link, or a session that could not look (looked at apart now)
        emit(Event(LOG, f"{directory.path}: the source's rsync did not start in the session that looks first"
                        f" (rsync exit {result.returncode}): looked at apart"))
        sizes = DirSizes(directory.path, directory.kind, excludes=[*source.excludes, *directory.excludes])
        if directory.path in looks.before:
            sizes.state, sizes.message = "failed", looks.before[directory.path]
            return sizes
        stream, result = transfer(None)
    elif last and looks is not None:
        looks.ended(None if result is None else result.returncode)
    first = result
    spool.became_dirs.setdefault(directory.path, []).extend(stream.were_files)
    warning = None
    if result is not None and stream.via_symlinks:
        if looks is not None:
            looks.read_again()
        again, warning = _copy_again(source, directory, dest, link_dest or compare_dest, stream, rsh=rsh,
                                     exact_times=exact_times, medium_links=medium_links, cancel=cancel)
        if again is None or again.returncode != 0:
            result = again
    if result is None:
        sizes.state, sizes.message = "failed", rsync_exit.stalled(source.io_timeout) + _stalled_on(source, stream)
    else:
        outcome = rsync_exit.interpret_exit(
            result.returncode, stream.without_copies_given_up(result.stderr_tail) if result is first else result.stderr_tail,
            stream.errors - stream.sent_instead if result is first else None)
        sizes.rsync_exit = result.returncode
        sizes.state = outcome.state
        sizes.message = outcome.reason
        if result.returncode == 30:      # rsync's own --timeout
            sizes.message += _stalled_on(source, stream)
        if result.returncode == source_top.SAW_AFTER and looks is not None and looks.after_seen is False:
            sizes.message = source_top.UNSEEN_AFTER
        if warning and sizes.state == "ok":
            sizes.state, sizes.message = "warning", warning
    if sizes.state == "failed":
        stream.unwritten(dest)
        copied = holes_again.holes_of(link_dest or compare_dest, stream.copied) if stream.copied else (0, 0)
        if result is not None and outcome.no_space and copied[1]:
            sizes.message += (f"; rsync's whole copies of {fmt.count(copied[0], 'file')} whose attributes alone changed"
                              f" took {fmt.size(copied[1])} more than their data meanwhile (their holes, punched again after"
                              " the transfer): the medium needs that much more free while this backup runs")
    elif stream.redone:
        lost = redone.settle(dest, directory.path, spool, sizes, stream.redone)
        if lost:
            text = (f"{fmt.count(len(lost), 'file')} could not be read whole on the source (a read error there), not in this"
                    f" backup: {_some(lost)}; older backups keep them")
            sizes.message = f"{sizes.message}; {text}" if sizes.message else text
        elif result is first and result.returncode == 23 and not warning and stream.only_retried():
            # rsync's 23 said only that: each file is in the backup whole, read on its second try
            sizes.state, sizes.message, sizes.whole_on_retry = "ok", None, True
            emit(Event(LOG, f"{directory.path}: {fmt.count(len(stream.redone), 'file')} read with an error on the source the"
                            f" first time, whole the second (rsync's exit 23 for it): {_some(sorted(stream.redone))}"))
    elif result is first and result.returncode == 23 and stream.only_sent_instead():
        # nothing left out: the directory's warning is that of its copying again, if one
        sizes.state, sizes.message = ("warning", warning) if warning else ("ok", None)
        emit(Event(LOG, f"{directory.path}: {fmt.count(stream.sent_instead, 'file')} whose attributes alone changed did not"
                        " fit on the medium as rsync's copy of the older one (written whole, holes and all): rsync sent"
                        " each instead, written with its holes (rsync's exit 23 for it)"))
    if sizes.state != "failed" and result is not None and result.returncode == 23:
        unmade = not_created.settle(dest, directory.path, spool, sizes)
        if unmade:
            text = (f"{fmt.count(len(unmade), 'file')} rsync could not write on the medium (see its error above), not in"
                    f" this backup: {_some(unmade)}; older backups keep them")
            sizes.warn(text)
        unmade = unmade_entries.settle(dest, stream.unmade_entries, sizes) if stream.unmade_entries else []
        if unmade:
            what = "symlink or special file" if len(unmade) == 1 else "symlinks or special files"
            text = (f"{len(unmade)} {what} rsync could not make on the medium (see its error above), not in this"
                    f" backup: {_some(unmade)}")
            sizes.warn(text)
    if sizes.state != "failed" and folds_case:
        lost, taken = case_folded.settle(dest, directory.path, spool, sizes, base=link_dest or compare_dest,
                                         copied=stream.copied)
        unmade = [rel for rel in lost if rel not in taken]
        if unmade:
            sizes.warn(f"{fmt.count(len(unmade), 'file')} not written on the medium, whose file system takes a name for"
                       f" another of its directory differing only in case (a file's or a directory's): {_some(unmade)};"
                       " the medium holds one of each such set under its name (rename the others on the source to back"
                       " them up)")
        if taken:
            sizes.warn(f"{fmt.count(len(taken), 'file')} not written on the medium, taken by rsync as unchanged from the"
                       f" base under a name differing only in case (renamed so, or another's of the same size and time):"
                       f" {_some(taken)}; the next backup writes them")
    points_held.settle(dest, directory.path, spool)
    if sizes.state != "failed" and (link_dest or compare_dest) is not None and stream.copied:
        # before a copy apart is made of one (its holes counted by count_holes); an archive's new
        # version before it is linked into the union
        unkept = holes_again.settle(dest, link_dest or compare_dest, stream.copied, cancel=cancel)
        if unkept:
            text = (f"{len(unkept)} files whose holes were punched again lost an attribute (mode, xattrs or"
                    f" times) in this backup: {fmt.name(unkept[0][0])}: {unkept[0][1].strerror or unkept[0][1]}")
            sizes.warn(text)
    if sizes.state != "failed" and (link_dest or compare_dest) is not None and stream.copied_others and source.xattrs:
        unset = xattrs_again.settle(dest, link_dest or compare_dest, stream.copied_others)
        if unset:
            text = (f"{len(unset)} symlinks or special files whose mode, owner or time alone changed lost their xattrs in"
                    f" this backup: {fmt.name(unset[0][0])}: {unset[0][1].strerror or unset[0][1]}")
            sizes.warn(text)
    if sizes.state != "failed" and stream.far_times:
        found = times_held.unheld(dest, stream.far_times)
        if found:
            spool.held_times(directory.path, {stream.prefix + name: held for name, _, held in found})
            sizes.warn(times_held.said(found))
    if sizes.state == "failed":
        sizes.hard_links = None
    elif link_dest is not None and links_apart.recorded(base_info, directory.path) != 0:
        # the base holds hard links (or does not say): rsync may have joined names the source holds apart
        def listing(empty: str) -> list[str]:
            if looks is not None:
                looks.read_again()
            return directory_argv(source, directory, Path(empty), rsh=rsh, link_dest=None, compare_dest=None,
                                  rsync_path=proc.which("rsync"), files_from="-", listing=True)
        apart = links_apart.settle(dest, sizes, listing, cancel=cancel, silence=source.io_timeout)
        if apart:
            sizes.warn(apart)
    if sizes.state != "failed" and _read_at_another_size(sizes.stats):
        resized = _held_sizes(dest, directory.path, spool, sizes)
        if resized:
            text = (f"{fmt.count(len(resized), 'file')} changed size while rsync read them, saved as read: {_some(resized)};"
                    " the next backup saves them as they are then")
            sizes.warn(text)
    if sizes.state != "failed":
        free_after = holes.free_bytes(dest.parent)
        holes.count_holes(dest, sizes, spool, fell=None if None in (free_before, free_after) else free_before - free_after,
                          base=link_dest, base_holes=holes.recorded(base_info, directory.path) if link_dest else {})
    emptied = None if directory.allow_empty else _emptied(directory, sizes, stream.top_missing, last_files)
    if emptied:
        sizes.state, sizes.message = "failed", emptied
    emit(Event(LOG, f"{directory.path}: rsync exit {result.returncode if result else 'none (stopped)'} after {time.monotonic() - started:.1f} s;"
                    f" {fmt.count(sizes.files, 'file')}, {sizes.total_bytes} bytes, {sizes.modified} new or modified"
                    f" ({sizes.new_bytes} bytes written)"))
    return sizes


def _rsync(argv: list[str], stream: Stream, source: Source, cancel: threading.Event,
           stdin_data: bytes | None = None) -> proc_started.Completed | None:
    """Run one rsync into `stream` (`stdin_data` on its standard input); None when it stalled and
    was stopped."""
    try:
        # rsync's own --timeout misses a source that stalls while rsync's keep-alives still fit
        # into the pipe and socket buffers towards it: rsync printing nothing is the sure sign
        result = proc.run(argv, on_stdout_data=stream.data, on_stderr=stream.err, env=rsync.ENV, cancel=cancel,
                          die_with_parent=True, stdin_data=stdin_data,
                          nap=READ_EVERY, silence=source.io_timeout)
    except Stalled:
        result = None
    stream.finish()
    return result


def _copy_again(source: Source, directory: Directory, dest: Path, basis: Path, first: Stream, *,
                rsh: str | None, exact_times: bool, medium_links: bool, cancel: threading.Event) -> tuple[proc_started.Completed | None, str | None]:
    """The directories that are symlinks in the basis (the older backup, or the archive's union)
    and directories on the source now: rsync looked for their files through those symlinks, which
    came from the source and may point anywhere, outside the medium too. So it may have linked a
    file of this server into the backup (--link-dest), or left out a file of the source because a
    file out there looked the same (--compare-dest). They are removed from the backup and copied
    again with no basis (the stream left their items out). Returns this rsync's result and the
    warning of the directory, if any."""
    rels = first.via_symlinks
    faults.point("backup.copy_again")
    first.emit(Event(LOG, f"{directory.path}: copying again {_some(rels)}: symlinks in {basis}, directories on"
                          " the source now (rsync would look for their files through the symlinks)"))
    outside = [rel for rel in rels if via_symlinks.points_out(os.fsencode(basis), rel)]
    dest_b = os.fsencode(dest)
    followers = via_symlinks.linked_to(dest_b, first.linked, via_symlinks.inodes_below(dest_b, rels))
    for rel in rels:
        path = os.path.join(dest_b, rel)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
    for rel in followers:
        os.unlink(os.path.join(dest_b, rel))
    # the regular files among the followers were counted and handed to the catalog: taken back
    counted = {rel: size for rel, size in followers.items() if size is not None}
    if counted:
        first.spool.forget(directory.path, [first.prefix + rel for rel in counted])
        first.sizes.add_files(rsync.LINKED, -len(counted), -sum(counted.values()))
    first.spool.became_dirs.setdefault(directory.path, []).extend(rels)
    listed = [*rels, *followers]
    changed = []
    if source.is_local:
        # the source is on this server: a directory on the way there (or one to copy again) that
        # became a symlink since the first rsync would lead the second one anywhere here; what
        # changed so waits for the next backup
        root = os.fsencode(directory.path)
        changed = [rel for rel in listed
                   if below.symlink_on_the_way(root, rel + b"/" if rel in rels else rel) is not None]
        listed = [rel for rel in listed if rel not in changed]
    # the list goes to rsync's standard input: a file for it would outlive a run killed meanwhile
    argv = directory_argv(source, directory, dest, rsh=rsh, link_dest=None, compare_dest=None,
                          rsync_path=proc.which("rsync"), exact_times=exact_times, files_from="-",
                          medium_links=medium_links)
    first.emit(Event(LOG, f"rsync {directory.path}: {fmt.count(len(listed), 'path')} again -> {dest}", {"argv": argv}))
    faults.point("backup.copying_again")
    again = Stream(first.sizes, first.spool, first.emit, archive=first.archive,
                    index=first.where["dir_index"], count=first.where["dirs"], sender_names=rsync.SENDER_NAMES in argv)
    again.redone = first.redone
    result = _rsync(argv, again, source, cancel, stdin_data=b"".join(rel + b"\0" for rel in listed))
    first.reading = again.reading
    warnings = []
    if outside:
        warnings.append(f"{fmt.count(len(outside), 'directory')} of the source {'was a symlink' if len(outside) == 1 else 'were symlinks'} out of {basis} ({_some(outside)}):"
                        " they are directories now, copied in full from the source; nothing was taken from"
                        " where the symlinks pointed")
    if changed:
        warnings.append(f"{fmt.count(len(changed), 'path')} became symlinks on the source while it was backed up"
                        f" ({_some(changed)}): left out until the next backup")
    return result, "; ".join(warnings) or None


def _stalled_on(source: Source, stream: Stream) -> str:
    """What may hold a stalled rsync up; over SSH, that the source's rsync may stay so: sshd leaves
    it when the connection ends, and nothing rabtui runs can end it there (README)."""
    if source.is_local:
        return stream.reading_said()
    if not stream.heard:     # no file listed yet: no FIFO's open holds it
        return (stream.reading_said() + "; what hangs there may stay there after this backup (its rsync_path"
                " or rsync: `ps` on the source), until killed")
    return (stream.reading_said() + "; the source's rsync may stay waiting there after this backup"
            " (`ps -C rsync` on the source): a writer to the FIFO, or a kill, ends it")


def _read_at_another_size(stats: dict) -> bool:
    """rsync's --stats: the data it sent of the files it wrote (literal and matched) is not what
    their listed sizes add up to. A file shrank or grew while rsync read it (rsync ends well, and
    writes it as read), or one could not be read."""
    listed = stats.get("Total transferred file size")
    return listed is not None and stats.get("Literal data", 0) + stats.get("Matched data", 0) != listed


def _held_sizes(dest: Path, dir_path: str, spool: CatalogSpool, sizes: DirSizes) -> list[bytes]:
    """The files the backup wrote that it holds at another size than rsync listed, recorded at the
    size held (the catalog says what the medium holds: a restore refuses a file of another size as
    one the medium lost), the sizes counted so; their paths returned. Looked for only when
    rsync's statistics say there are some: no walk of the written files otherwise."""
    cut = len(dir_prefix(dir_path))
    dest_b = os.fsencode(dest) + b"/"
    held = []
    for path, ftype, size in spool.new_items(dir_path):
        if ftype != _F:
            continue
        try:
            st = below.lstat(dest_b, path[cut:])
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size != size:
            held.append((path, st.st_size, size))
    if held:
        spool.resize(dir_path, [(path, size) for path, size, _ in held])
    more = sum(size - listed for _, size, listed in held)
    sizes.total_bytes += more
    sizes.new_bytes += more
    sizes.source_bytes += more
    return [path[cut:] for path, _, _ in held]


def _some(rels: list[bytes]) -> str:
    """The first few of `rels`, for a message."""
    return ", ".join(fmt.name(rel) for rel in rels[:5]) + (f" and {len(rels) - 5} more" if len(rels) > 5 else "")


def _emptied(directory: Directory, sizes: DirSizes, top_missing: str | None, last_files: int | None) -> str | None:
    """Why the directory looks like a file system that is not mounted on the source, or None."""
    fix = "set allow_empty = true for this directory if that is expected"
    if top_missing:
        return f"the directory cannot be read on the source ({top_missing}): is its file system mounted? ({fix})"
    if (directory.kind == "standard" and sizes.state != "failed" and sizes.source_files == 0
            and last_files):
        return (f"the directory is empty on the source, but its last backup held {fmt.count(last_files, 'file')}:"
                f" is its file system mounted? ({fix})")
    return None
