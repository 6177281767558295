"""Restore onto a remote source with rsync, after the check on the source (restore/source_check):
no symlink there is written through, no file linked elsewhere changed in place, nothing that
differs replaced without --overwrite; what a failed transfer did not restore is named."""

from __future__ import annotations

import os
import stat

from rabtui import faults, fmt, proc_started, rsync, rsync_exit
from rabtui.config import safety as config_safety
from rabtui.ssh import endpoint as ssh_target
from rabtui.config import Config, Source
from rabtui.errors import Stalled, WorkFailed
from rabtui.restore import itemized, shared_inodes
from rabtui.restore.source_check import check_source, components, mounts_made_meanwhile, run_on, tree_modes
from rabtui.restore.written import Written, kept_directory, kind_of
from rabtui.state.catalog import rel_path


def rsync_to_source_argv(src: bytes, dest: str, *, rsh: str | None, overwrite: bool, dry_run: bool = False,
                         is_dir: bool, io_timeout: int | None = None, bwlimit: str | None = None,
                         rsync_path: str | None = None, exact_times: bool = False,
                         files_from: str | None = None, ignore_times: bool = False,
                         pretend: bool = False, excluded: bool = False) -> list[str]:
    """rsync of a restored item back to its place on the source (no --keep-dirlinks: a symlink is
    never taken for a directory). Without `overwrite`, a dry run with `--existing` first lists the
    files that would be replaced, and the real run adds --ignore-existing. `files_from`: a local
    file (or "-", rsync's standard input) of the NUL-separated paths below the item to send (see `paths_to_send`); the directories
    on the way to them are implied and left as they are on the source. The source's transfer
    options apply as in a backup: `io_timeout` (--timeout), `bwlimit` and `rsync_path` (the
    command run on the source, e.g. "sudo rsync" where only root may write there).
    `exact_times`: the copy comes from a medium that keeps nanoseconds, and times are compared to the
    nanosecond (a file rewritten on the source within the second of the backup's copy, its size
    unchanged, is replaced too). A copy with whole seconds (a disc, a medium that keeps no more)
    is compared by the second, or every unchanged file on the source would look different.
    `ignore_times`: every file sent is written anew, unchanged ones too (see shared_inodes).
    `pretend`: the same transfer as a dry run (-n), to list what it would still send.
    `excluded`: rsync's standard input holds NUL-separated rules of paths it leaves out (`kept_rules`)."""
    # --no-inc-recursive: with -H, rsync's incremental recursion waits for ever (its keep-alives
    # outlive --timeout) where the first name of a hard-linked file cannot be put in place (a
    # directory filled there since the check); with the whole list first it names it and goes on
    argv = ["rsync", "-aHAXS", "--no-inc-recursive", "--numeric-ids", "-s", "--outbuf=L", "-ii",
            "--out-format=%i|%l|%n"]
    argv += rsync.transfer_options(exact_times=exact_times, io_timeout=io_timeout, bwlimit=bwlimit,
                                   rsync_path=rsync_path)
    if rsh:
        argv += ["-e", rsh]
    if files_from is not None:
        # --files-from turns -a's recursion off: -r brings it back below the listed paths
        argv += ["-r", "--from0", f"--files-from={files_from}", "--no-implied-dirs"]
    if excluded:
        assert files_from is None, "one standard input: the paths to send or those left out"
        argv += ["--from0", "--exclude-from=-"]
    if ignore_times:
        argv.append("--ignore-times")
    if pretend:
        argv.append("-n")
    if dry_run:
        argv += ["-n", "--existing"]
    elif not overwrite:
        argv.append("--ignore-existing")
    s = os.fsdecode(src)
    argv += ["--", s + "/" if is_dir else s, dest]
    return argv


def rsync_dirs_to_source_argv(src: bytes, dest: str, *, rsh: str | None, io_timeout: int | None = None,
                              bwlimit: str | None = None, rsync_path: str | None = None) -> list[str]:
    """rsync of the directories named (NUL-separated, below `src`) on its standard input to `dest`
    on the source, each alone as the backup has it, not what it holds (--files-from turns -a's
    recursion off), nor `src` itself; one there already is left as it is."""
    argv = ["rsync", "-aAX", "--numeric-ids", "-s", "--outbuf=L", "-ii", "--out-format=%i|%l|%n",
            "--from0", "--files-from=-", "--ignore-existing"]
    argv += rsync.transfer_options(io_timeout=io_timeout, bwlimit=bwlimit, rsync_path=rsync_path)
    if rsh:
        argv += ["-e", rsh]
    return argv + ["--", os.fsdecode(src) + "/", dest]


def _gone_unsent(item: bytes, is_dir: bool, before: dict[bytes, int], lines: list[bytes]) -> list[tuple[bytes, int]]:
    """(name below `item`, mode) of each entry there before rsync ran that is gone since and that
    rsync did not say it sent: a medium that lost it meanwhile (rsync lists only what is there
    when it starts, and says nothing of what it never saw)."""
    if not is_dir:
        return [] if os.path.lexists(item) else [(b"", m) for m in before.values()]
    after = tree_modes(item)
    sent = itemized.names_sent(lines)
    return [(name, mode) for name, mode in before.items() if name not in after and name not in sent]


def kept_in_the_way(full_dirs: set[bytes], dest: bytes, tree: dict[bytes, int]) -> list[bytes]:
    """The names below `dest` (b"" for `dest` itself) where `tree` (name -> mode in what is
    restored) has something other than a directory, and the source a directory holding anything
    (`full_dirs`, absolute; or a mount point): kept, as a local restore keeps one. rsync would stop
    at each (exit 23), and waits forever where it is the first name of a hard-linked file (rsync
    3.2-3.5)."""
    below = dest.rstrip(b"/") + b"/"
    out = []
    for path in full_dirs:
        under = b"" if path == dest else path[len(below):] if path.startswith(below) else None
        if under is not None and under in tree and not stat.S_ISDIR(tree[under]):
            out.append(under)
    return sorted(out)


def kept_rules(kept: list[bytes]) -> bytes | None:
    """rsync's rules leaving out the names `kept` (below the directory sent), NUL-separated, for
    `--from0 --exclude-from=-`; None for none. Anchored at the top of the transfer; a name holding a
    wildcard is a pattern, so that one's wildcards and backslashes are escaped."""
    if not kept:
        return None
    return b"".join(b"/" + os.fsencode(rsync.glob_escaped(os.fsdecode(name))) + b"\0" for name in kept)


def paths_to_send(item: bytes, existing: set[bytes]) -> list[bytes]:
    """What a restore of the directory `item` sends (below it) so that the directories there on the
    source already (`existing`) keep their own mode, owner, times and attributes, as a local
    restore leaves them: each directory that is not there (rsync recurses into it) and each other
    entry of one that is. The existing directories are only on the way to those, implied."""
    if b"" not in existing:
        return [b"."]
    out = []
    for dirpath, dirnames, filenames, _dfd in os.fwalk(item):
        under = dirpath[len(item):].lstrip(b"/")
        below = [(name, os.path.join(under, name) if under else name) for name in dirnames]
        dirnames[:] = [name for name, rel in below if rel in existing]
        out += [rel for _name, rel in below if rel not in existing]
        out += [os.path.join(under, name) if under else name for name in filenames]
    return out


_OTHER = {b"d": "not a directory there", b"L": "another target, or not a symlink, there"}


def _made_on_the_way(source: Source, rel: bytes, item: bytes, is_dir: bool, dest_dir: bytes, missing: bytes | None,
                     rsh: str, cancel) -> None:
    """The directories gone on the source on the way to the restored item (from `missing` down to
    the one holding it) made first as the backup has them: rsync makes only the last directory of
    its destination, and failed (mkdir: No such file or directory) where one above it was gone too,
    and made that one (the directory of a file restored alone) with its own mode, not the backup's;
    a restore onto a local source makes them so. Those above the source's directory are not in the
    backup: left to rsync."""
    from rabtui.restore.copies import directory_of

    way = components(dest_dir)[:-1] if is_dir else components(dest_dir)
    top = os.path.dirname(missing) if missing is not None else b""
    if missing not in way or len(missing) < len(b"/" + rel_path(directory_of(source, rel).path)):
        return
    names = [c[len(top):].lstrip(b"/") for c in way[way.index(missing):]]
    base = item
    for _ in range(len(components(b"/" + rel)) - len(components(top))):
        base = os.path.dirname(base)
    if not all(os.path.isdir(os.path.join(base, n)) and not os.path.islink(os.path.join(base, n)) for n in names):
        return      # not reached by its path on the medium (one past PATH_MAX): left to rsync's failure
    argv = rsync_dirs_to_source_argv(base, ssh_target.rsync_read_location(source, os.fsdecode(top)), rsh=rsh,
                                     io_timeout=source.io_timeout, bwlimit=source.bwlimit, rsync_path=source.rsync_path)
    done = _sending(source, argv, cancel=cancel, stdin_data=b"".join(n + b"\0" for n in names))
    if isinstance(done, str) or done.returncode != 0:
        raise WorkFailed(f"could not make {fmt.name(missing)} on {source.id}, gone on the way to"
                         f" {fmt.name(b'/' + rel)}: {_failure(done)}; nothing of it written")


def _look_before(source: Source, item: bytes, dest: str, options: dict, cancel, kept: list[bytes],
                 links: list[bytes], in_use: set[bytes]) -> set[bytes]:
    """The dry run of a restore that does not overwrite: refuses, naming them, when files there
    already differ, or directories holding files (`kept`) or symlinks (`links`) are where the
    backup has another kind (left out of it); else the directories that are there (`existing_dirs`)."""
    seen: list[bytes] = []
    rules = kept_rules(sorted(kept + links))
    done = run_on(source, "rsync", rsync_to_source_argv(item, dest, overwrite=False, dry_run=True,
                                                        excluded=rules is not None, **options),
                  on_stdout=seen.append, cancel=cancel, stdin_data=rules)
    seen = itemized.items(seen)
    # with --existing, a directory or symlink made (`cd`, `cL`) is one in the place of an entry of
    # another kind there, or of a symlink with another target: kept without --overwrite
    clash = [(c, itemized.attributes_changed(c) if c[1:2] == b"f" else _OTHER.get(c[1:2], "another kind there"))
             for c in seen if b"|" in c and (c[1:2] == b"f" or c[:1] == b"c")]
    clash = [(c, changed) for c, changed in clash if c[:1] in b"<>" or c[:2] == b"cf" or changed]
    if done.returncode not in (0, 24) and not clash and not kept and not links:
        raise WorkFailed(f"rsync to {source.id} failed (exit {done.returncode}): {done.stderr_said(300)}")
    if clash or kept or links:
        names = [fmt.name(rsync.unescape(c.split(b"|", 2)[2]).removesuffix(b"/"))
                 + ("" if c[:1] in b"<>" or c[:2] == b"cf" else f" ({changed})") for c, changed in clash]
        names += [f"{fmt.name(name or os.path.basename(item))} (a"
                  f" {'mount point' if name in in_use else 'directory holding files'} there)" for name in kept]
        names += [f"{fmt.name(name)} (a symlink there)" for name in links]
        # only `<f`/`>f` and `.f` lines say a file is there: `c` ones, another kind (a directory, say)
        noun = "file" if all(c[:1] in b"<>." for c, _changed in clash) and not kept and not links else "entry"
        # an entry rsync could not make way for (a directory holding files where the backup has a
        # file) is not itemized: only rsync's own words name it
        also = f"; rsync said too: {done.stderr_said(300)}" if done.returncode not in (0, 24) else ""
        raise WorkFailed(f"{fmt.count(len(names), noun)} {'exists' if len(names) == 1 else 'exist'} on {source.id}"
                         f" already and {'differs' if len(names) == 1 else 'differ'}: {', '.join(names[:5])}{also}",
                         hint="use --overwrite to replace them" + ("; a directory holding files, or a symlink,"
                                                                   " stays even so: move it away first"
                                                                   if kept or links else ""))
    return itemized.existing_dirs(seen)


def _to_write_anew(source: Source, rel: bytes, item: bytes, dest: str, shared: list[bytes], in_place: set[bytes],
                   special: set[bytes], options: dict, cancel, rules: bytes | None = None) -> list[bytes]:
    """The regular files a restore with --overwrite of `item` to /`rel` is to write anew (names below
    the directory `item`; b"" for `item` itself, a file restored alone), by a dry run of the whole:
    those of `shared` (linked elsewhere at the check) that are not as the backup has them, and any
    other whose content is the backup's but not its mode, owner, ACLs or xattrs: rsync would set
    those on the inode there, and so on any name made for it since the check. One as the backup has
    it stays as it is (with its other names). Those `in_place` (symlinks, and the `special` files)
    are refused where rsync would change them in place. `rules`: what is left out (kept_rules)."""
    seen: list[bytes] = []
    argv = rsync_to_source_argv(item, dest, overwrite=True, pretend=True, excluded=rules is not None, **options)
    done = run_on(source, "rsync", argv, on_stdout=seen.append, cancel=cancel, stdin_data=rules)
    # 23: some of it could not be read or looked at (a directory closed on the medium): what was
    # is listed, and the transfer itself names the rest as not restored
    if done.returncode not in (0, 23, 24):
        raise WorkFailed(f"rsync to {source.id} failed (exit {done.returncode}): {done.stderr_said(300)};"
                         f" nothing written")
    own = None if options["is_dir"] else os.path.basename(item)     # rsync names a file alone by its own name
    # `.f` with an attribute's letter: the content is the backup's, only the attributes would be set
    alone = {b"" if name == own else name for name in itemized.names_sent(
        [line for line in seen if line[:2] == b".f" and itemized.attributes_changed(line)])}
    if options["is_dir"]:
        linked = shared_inodes.differing(source.id, b"/" + rel, shared, in_place, seen, special)
    else:
        mine = {own} if in_place else set()
        linked = [b"" for _ in shared_inodes.differing(source.id, os.path.dirname(b"/" + rel), [own] if shared else [],
                                                       mine, seen, mine if special else set())]
    return linked + sorted(alone - set(linked))


_LETTER_KINDS = {b"f": "file", b"d": "directory", b"L": "symlink"}


def _left_undone(source: Source, rel: bytes, item: bytes, dest: str, overwrite: bool, listing: bytes | None,
                 before: dict[bytes, int], options: dict, cancel, kept: list[bytes]) -> list[tuple[str, bytes, str]] | str:
    """After rsync failed: what a dry run of the same transfer would still send or change (by
    kind, name and why), or why that cannot be told. `kept`: left out of it (named already)."""
    seen: list[bytes] = []
    rules = kept_rules(kept)
    argv = rsync_to_source_argv(item, dest, overwrite=overwrite, files_from=None if listing is None else "-",
                                pretend=True, excluded=rules is not None, **options)
    try:
        done = run_on(source, "rsync", argv, on_stdout=seen.append, cancel=cancel,
                      stdin_data=listing if rules is None else rules)
    except WorkFailed as exc:
        done, said = None, exc.message
    else:
        said = f"exit {done.returncode}: {done.stderr_said(200)}"
    if done is None or done.returncode not in ((0, 23, 24) if overwrite else (0, 24)):
        return said
    own = None if options["is_dir"] else os.path.basename(item)
    at = lambda name: os.path.join(rel, name) if name else rel  # noqa: E731
    out = [(kind_of(before[name]) if name in before else _LETTER_KINDS.get(letter, "special"), at(name),
            "rsync failed before it was restored as the backup has it") for letter, name in itemized.not_as_saved(seen, own)]
    if done.returncode == 23:
        # what rsync could not reach or make way for (a directory holding files where the backup has a
        # file) it itemizes not at all, dry run or not: each entry of the backup, still on the medium,
        # that it does not mention (with --overwrite it mentions every other, as it is or not; without,
        # --ignore-existing leaves those there unmentioned)
        mentioned = {b"" if name in (b".", own) else name for name in itemized.names_sent(seen)}
        now = tree_modes(item) if options["is_dir"] else {b"": mode for mode in before.values() if os.path.lexists(item)}
        out += [(kind_of(mode), at(name), f"rsync could not put it in place, nor look at it after ({said})")
                for name, mode in before.items() if name not in mentioned and name in now
                and not any(name == k or name.startswith(k + b"/") for k in kept)]
    return out


def rsync_onto_source(cfg: Config, source: Source, rel: bytes, item: bytes, overwrite: bool, cancel, *,
                      exact_times: bool = False) -> Written:
    """Without `overwrite`, a directory that is there on the source already keeps its own mode,
    owner, times and attributes (the dry run that looks for clashes finds them, and rsync is sent
    the paths below them only); with it, everything is put back as the backup has it."""
    is_dir = os.path.isdir(item) and not os.path.islink(item)
    w = _sent(cfg, source, rel, item, is_dir, overwrite, cancel, exact_times)
    if source.one_file_system:
        _said_mounts_made(cfg, source, rel, item, is_dir, w, cancel)
    return w


def _sent(cfg: Config, source: Source, rel: bytes, item: bytes, is_dir: bool, overwrite: bool, cancel,
          exact_times: bool) -> Written:
    dest_dir = b"/" + rel if is_dir else b"/" + os.path.dirname(rel)
    missing, linked, full_dirs, links, mounts = check_source(cfg, source, rel, item, is_dir, cancel)
    if rsync.glob_escaped(os.fsdecode(dest_dir)) != os.fsdecode(dest_dir) and missing in components(dest_dir):
        # rsync there would take it as a pattern (another directory), or make it by its escaped name
        raise WorkFailed(f"refusing to restore onto {source.id}: {fmt.name(dest_dir)} holds a wildcard (* ? [) and"
                         f" {fmt.name(missing)} is not there; rsync on the source would take the name as a pattern;"
                         f" nothing written", hint="make the directory on the source, or restore with --to DIR")
    unsafe = config_safety.permission_problem(cfg.path) if source.rsync_path and cfg.path else None
    if unsafe:
        raise WorkFailed(f"refusing to run the source's rsync_path: {unsafe}; nothing written")
    dest = ssh_target.rsync_read_location(source, os.fsdecode(dest_dir))     # its wildcards escaped
    rsh = ssh_target.rsync_rsh(cfg, source)
    options = dict(rsh=rsh, is_dir=is_dir, io_timeout=source.io_timeout, bwlimit=source.bwlimit,
                   rsync_path=source.rsync_path, exact_times=exact_times)
    _made_on_the_way(source, rel, item, is_dir, dest_dir, missing, rsh, cancel)
    before = tree_modes(item) if is_dir else {b"": os.lstat(item).st_mode}
    # rmdir(2) refuses a mount point (EBUSY), holding files or not: kept as such, as locally
    in_use = set(kept_in_the_way(mounts, b"/" + rel, before))
    kept = sorted(set(kept_in_the_way(full_dirs, b"/" + rel, before)) | in_use)
    existing = None if overwrite else _look_before(source, item, dest, options, cancel, kept, links, in_use)
    w = Written(attributes=None)
    w.not_restored += [(kind_of(before[name]), os.path.join(rel, name) if name else rel,
                        kept_directory(kind_of(before[name]), "in use (a mount point)" if name in in_use
                                       else "holding files", looked=True))
                       for name in kept]
    w.refused += [(os.path.join(rel, name), f"{fmt.name(name)} is a symlink on the target, not followed nor replaced")
                  for name in links]
    if not is_dir and kept:
        return w
    kept = sorted(kept + links)     # left out of every run of rsync
    rules = kept_rules(kept)
    lines: list[bytes] = []
    listing = None
    if existing is not None and is_dir:
        # to rsync's standard input: a file for it would outlive a restore killed meanwhile
        listing = b"".join(p + b"\0" for p in paths_to_send(item, existing))
    in_way = shared_inodes.linked_in_the_way(linked, b"/" + rel, before) if overwrite else []
    in_place = shared_inodes.in_place(in_way)
    special = {name for name, mode in in_way if not stat.S_ISREG(mode) and not stat.S_ISLNK(mode)}
    shared = [name for name, _mode in in_way]
    faults.point("restore.sending")
    if overwrite:
        shared = _to_write_anew(source, rel, item, dest, shared, in_place, special, options, cancel, rules)
    if shared and is_dir:     # those first, written anew: the whole run then finds them as the backup has them
        done = _sending(source, rsync_to_source_argv(item, dest, overwrite=True, files_from="-",
                                                     ignore_times=True, **options),
                        on_stdout=lines.append, cancel=cancel, stdin_data=b"".join(p + b"\0" for p in shared))
        if isinstance(done, str) or done.returncode not in (0, 24):
            try:    # rsync (the sender, here) names what it sent, not what the source put in place
                left = [n for n in _to_write_anew(source, rel, item, dest, shared, set(), set(), options, cancel, rules)
                        if n in set(shared)]
            except WorkFailed:
                left = shared
            itemized.count_itemized(shared_inodes.lines_not_of(lines, left), w)
            w.errors.append((rel, f"{_failure(done)}; stopped before the rest was sent: nothing else of it restored"))
            linked_names = {name for name, _mode in in_way}
            w.not_restored += [("file", os.path.join(rel, name), ("linked elsewhere too" if name in linked_names else
                                "only its mode, owner or attributes not the backup's, to be written anew")
                                + "; rsync stopped before it") for name in left]
            return w
    done = _sending(source, rsync_to_source_argv(item, dest, overwrite=overwrite, ignore_times=bool(shared) and not is_dir,
                                                 files_from=None if listing is None else "-",
                                                 excluded=rules is not None, **options),
                    on_stdout=lines.append, cancel=cancel, stdin_data=listing if rules is None else rules)
    if isinstance(done, str) or done.returncode not in (0, 24):
        w.errors.append((rel, _failure(done)))
        # a source that hung (rsync's timeout), or a transfer that stalled, is not waited for again
        left = ("the transfer stalled" if isinstance(done, str) else
                "the source stopped answering" if done.returncode in (30, 35) else
                _left_undone(source, rel, item, dest, overwrite, listing, before, options, cancel, kept))
        itemized.count_itemized(itemized.whole_only(lines) if isinstance(left, str)
                                else _not_of(lines, rel, is_dir, item, {name for _kind, name, _why in left}), w)
        if isinstance(left, str):
            w.errors[-1] = (rel, f"{w.errors[-1][1]}; what it did not restore could not be looked at ({left})")
            w.not_restored.append(("directory" if is_dir else kind_of(before[b""]), rel,
                                   "rsync failed before it was all restored, and what it left undone could not be"
                                   " looked at: any entry of it may be missing or as it was before"))
        else:
            w.not_restored += left
    else:
        itemized.count_itemized(lines, w)
    w.not_restored += [(kind_of(mode), os.path.join(rel, name) if name else rel,
                        "gone from the medium while it was restored (not sent)")
                       for name, mode in _gone_unsent(item, is_dir, before, lines)]
    return w


def _not_of(lines: list[bytes], rel: bytes, is_dir: bool, item: bytes, undone: set[bytes]) -> list[bytes]:
    """The `%i|%l|%n` lines of `lines` that itemize none of `undone` (named as the restore names
    them, below /`rel`): rsync names each file as it begins to send it, put in place or not."""
    own = None if is_dir else os.path.basename(item)     # rsync names a file alone by its own name
    at = lambda name: os.path.join(rel, name) if name not in (b".", own) else rel  # noqa: E731
    return [line for line in lines if not {at(name) for name in itemized.names_sent([line])} & undone]


def _sending(source: Source, argv: list, **kw) -> proc_started.Completed | str:
    """rsync sending to the source, ended after the source's io_timeout without output or work:
    rsync's own --timeout is not heard from a process that no longer runs (the medium it reads hung,
    stopped); why, when it was stopped so. Its output is a line per file: one large file, read
    and sent, is work (`busy`), not silence."""
    try:
        return run_on(source, "rsync", argv, die_with_parent=True, silence=source.io_timeout, busy=True, **kw)
    except Stalled:
        return rsync_exit.stalled(source.io_timeout)


# sshd leaves a session's processes when its connection ends: one stopped or hung there stays
LEFT_ON_SOURCE = ("; the source's rsync may stay there, stopped or waiting, after this restore (`ps -C rsync` on"
                  " the source): a kill ends it")


def _failure(done: proc_started.Completed | str) -> str:
    """What a failed rsync said; of one that stalled, or timed out itself (exit 30), that the
    source's rsync may be left running there, as a backup says it (backup/transfer)."""
    if isinstance(done, str):
        return done + LEFT_ON_SOURCE
    return f"rsync exit {done.returncode}: {done.stderr_said(300)}" + (LEFT_ON_SOURCE if done.returncode == 30 else "")


def _said_mounts_made(cfg: Config, source: Source, rel: bytes, item: bytes, is_dir: bool, w: Written, cancel) -> None:
    """The check refused a restore writing through another mount; one made there since is named
    once rsync is done (as an error: what went into it went onto another file system)."""
    made = mounts_made_meanwhile(cfg, source, rel, item, is_dir, cancel)
    if isinstance(made, str):
        w.errors.append((rel, f"could not look again for a mount made there while rsync wrote ({made}): the"
                              f" source's backups stay on one file system (one_file_system)"))
    for mount in made if isinstance(made, list) else []:
        w.errors.append((mount.lstrip(b"/"), "another mount there now (a file system or a bind mount), made after"
                         " the check; the source's backups stay on one file system (one_file_system), and what"
                         " rsync restored below it may have gone onto that file system: look there"))
