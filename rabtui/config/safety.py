"""Configurations that would destroy data, refused when the config is read (and so before any
backup): a local source directory that holds a medium, the state directory or an `images:` drive's
folder (it would back itself up, doubling each time), media nested in each other, a medium at `/`,
in the state directory or holding it, an `images:` folder in a folder of the state directory's own
(whose contents rabtui removes: a rebuild-state deleted the images it was to read) or on a medium
(the images would rotate away with it, fill it, and be taken for its backups). And a config
file that others can change, whose commands therefore must not run (as OpenSSH's StrictModes
refuses such files).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Iterator, Sequence

from rabtui import command_safety, fmt, mount_points, privacy

if TYPE_CHECKING:
    from rabtui.config import Config, Medium, Source


def _forms(path: str | os.PathLike) -> set[str]:
    """The path as written and, when it exists, with its symlinks resolved."""
    norm = os.path.normpath(os.path.abspath(path))
    return {norm, os.path.realpath(norm)}


def _inside(inner: str | os.PathLike, outer: str | os.PathLike) -> bool:
    """`inner` is `outer` or lies under it (by path, symlinks resolved too)."""
    for a in _forms(inner):
        for b in _forms(outer):
            if a == b or a.startswith(b.rstrip("/") + "/"):
                return True
    return False


def _up(form: str) -> Iterator[str]:
    """`form` (a path of _forms) and each directory above it, but /."""
    while form != "/":
        yield form
        form = os.path.dirname(form)


def _excluded(rel: str, excludes: Sequence[str]) -> bool:
    """An anchored exclude (`/REL` or `/REL/`, relative to the directory) covers REL or a parent of it."""
    parts = rel.split("/")
    anchored = {"/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return any(e.rstrip("/") in anchored for e in excludes if e.startswith("/"))


# the state directory's own folders, which rabtui makes, fills and empties: discs staged and verified
# (checkpoint/prepare.py, verify_scratch.py), a rebuild's new database (actions/rebuild.BUILDING,
# removed whole as each rebuild-state begins and ends), lock files, logs, kept labels; and the private
# directories of runs (temp_dirs.PREFIX, restore/staging.py), removed once their run is over
STATE_FOLDERS = ("checkpoints", "rabtui.db.rebuilding", "locks", "logs", "media")
STATE_RUN_PREFIXES = ("rabtui-", ".rabtui-restore-", ".rabtui-staging-")


def _state_own(name: str) -> bool:
    return name in STATE_FOLDERS or name.startswith(STATE_RUN_PREFIXES)


def in_state_folder(path: str | os.PathLike, state_dir: str | os.PathLike) -> str | None:
    """The folder of the state directory's own (STATE_FOLDERS, a run's private one) that `path`
    is or lies in, by path, symlinks resolved too, or by what is there (a bind mount of the state
    directory or of one of those folders, a name apart by case alone on a file system that ignores
    it); None when none."""
    for a in _forms(path):
        for b in _forms(state_dir):
            top = b.rstrip("/") + "/"
            if a.startswith(top):
                first = a[len(top):].split("/")[0]
                if _state_own(first):
                    return top + first
    return _same_folder(path, state_dir)


def _same_folder(path: str | os.PathLike, state_dir: str | os.PathLike) -> str | None:
    """in_state_folder by what is there: a folder of the state directory's own that `path` is or
    lies in, by whatever name it is reached (one not made yet holds no images to lose)."""
    try:
        own = [entry.path for entry in os.scandir(state_dir) if _state_own(entry.name) and entry.is_dir()]
    except OSError:       # not made yet: none of its folders is
        return None
    return next((folder for folder in own if _below_the_same(os.fspath(path), folder)), None)


def images_in_state(drive: str, state_dir: str | os.PathLike) -> str | None:
    """Why `drive`, an images: drive, cannot be used with this state directory: its folder lies in
    one of the state directory's own (in_state_folder), whose contents rabtui removes; else None."""
    folder = in_state_folder(drive[len("images:"):], state_dir) if drive.startswith("images:") else None
    if folder is None:
        return None
    return (f"the images of drive {drive} would lie in {folder}, a folder of the state directory's own, whose"
            " contents rabtui removes: keep them in a folder of their own")


def images_on_medium(drive: str, media: Sequence[Medium]) -> str | None:
    """Why `drive`, an images: drive, cannot be used with these media: its folder is a medium or
    lies in one, by path (symlinks resolved too) or by what is there (a bind mount of the medium,
    or of the mount point a medium with a device is mounted at): the images would leave with the
    medium as it rotates away, fill it, and be read as its backups or removed by a cleanup and a
    rebuild. None when none."""
    if not drive.startswith("images:"):
        return None
    folder = drive[len("images:"):]
    for m in media:
        if _inside(folder, m.path) or _below_the_same(folder, m.path):
            return (f"the images of drive {drive} would lie on medium {m.id!r} ({m.path}), which rotates away and"
                    " holds backups only: keep them in a folder of their own, off the media")
    return None


def images_refused(drive: str, state_dir: str | os.PathLike, media: Sequence[Medium]) -> str | None:
    """Why an images: drive's folder cannot be used: in a folder of the state directory's own, or on
    a medium; None when it can (any other drive too)."""
    return images_in_state(drive, state_dir) or images_on_medium(drive, media)


def overlap_problem(media: Sequence[Medium], sources: Sequence[Source],
                    state_dir: Path, drive: str = "") -> tuple[tuple, str] | None:
    """The first dangerous overlap of paths: (key path of the config, message), or None. `drive`:
    the checkpoints' drive, whose images (an `images:` folder's) no local directory may hold either."""
    # the forms of the media before, and every directory above them: each medium is looked at once
    # (compared with each one before, a config of 1,000 media took 29 s to load, 2,000 two minutes)
    before: dict[str, int] = {}
    above: dict[str, int] = {}
    for i, m in enumerate(media):
        where = ("media", i, "path")
        forms = _forms(m.path)
        if "/" in forms:
            return where, "a medium cannot be the root directory /"
        if _inside(m.path, state_dir) or _inside(state_dir, m.path):
            return where, f"{m.path} and the state directory {state_dir} lie in each other: keep them apart"
        nested = [before[a] for f in forms for a in _up(f) if a in before] + [above[f] for f in forms if f in above]
        if nested:
            other = media[min(nested)]
            return where, f"{m.path} and medium {other.id!r} ({other.path}) lie in each other"
        for f in forms:
            before.setdefault(f, i)
            for a in _up(f):
                above.setdefault(a, i)
    refused = images_refused(drive, state_dir, media)
    if refused:
        return ("checkpoint", "drive"), refused
    for i, s in enumerate(sources):
        if not s.is_local:
            continue
        for j, d in enumerate(s.directories):
            where = ("sources", i, "directories", j, "path")
            held = [(f"medium {m.id!r} ({m.path})", m.path, "the backups") for m in media]
            held.append((f"the state directory ({state_dir})", state_dir, "the backups"))
            if drive.startswith("images:"):     # each checkpoint's images, of the backups, in the next ones
                held.append((f"the images of drive {drive}", drive[len("images:"):], "the checkpoints' disc images"))
            for what, path, copied in held:
                if not _inside(path, d.path):
                    continue
                rel = os.path.relpath(os.path.normpath(path), d.path)
                if rel != "." and _excluded(rel, (*s.excludes, *d.excludes)):
                    continue
                return where, (f"{d.path} holds {what}: each backup would copy {copied} too"
                               + (f" (exclude it with \"/{rel}/\")" if rel != "." else ""))
    return None


def restore_target_problem(media: Sequence[Medium], state_dir: Path, path: str | bytes,
                           images: str | None = None) -> str | None:
    """Why a restore must not write `path` (the target with the restored path below it): into a
    medium, whose backups are never changed and which holds backups only, the state directory, or
    the directory of an `images:` drive's images (`images`); nor a tree that would hold one (the
    restored directory's files would land in it). A place is known by its path, and by its
    directory itself too: another mount of a medium (a bind mount, an automount of its disk), also
    one inside the tree."""
    path = os.fsdecode(path)
    kept = [(f"medium {m.id!r} ({m.path})", m.path, ", whose backups are never changed") for m in media]
    kept.append((f"the state directory ({state_dir})", state_dir, ""))
    if images:
        kept.append((f"the images of drive images:{images}", images, ""))
    mounts = mount_points.table()
    for what, place, why in kept:
        if _inside(path, place) or _below_the_same(path, place):
            return f"it lies in {what}{why}"
        if _inside(place, path):
            return f"{what} lies in it{why}"
        shown = mount_points.showing_below(os.fsencode(path), place, mounts)
        if shown:
            return f"{what}, or a directory of it, is mounted in it at {fmt.name(shown)}{why}"
    return None


def _below_the_same(path: str, place: str | os.PathLike) -> bool:
    """`path` is at or below a directory that is `place` itself, by whatever name it is reached."""
    try:
        st = os.stat(place)
    except OSError:
        return False
    at = os.path.normpath(os.path.abspath(path))
    while True:
        try:
            here = os.stat(at)
            if (here.st_dev, here.st_ino) == (st.st_dev, st.st_ino):
                return True
        except OSError:       # not there yet (or too long a path): what is above it is
            pass
        if at == os.path.dirname(at):
            return False
        at = os.path.dirname(at)


def commands_refused(cfg: Config) -> str | None:
    """Why the commands `cfg` holds are not run (its file others can change), or None: none held,
    or the file closed. check-config refuses such a file, and the UI's form does not save one."""
    if not (any(s.has_commands for s in cfg.sources) or cfg.notify.command):
        return None
    unsafe = permission_problem(cfg.path)
    if unsafe is None:
        return None
    return (f"{unsafe}: the commands of a file others can change (pre/post commands, rsync_path,"
            " notify.command) are not run")


def local_commands(source: Source) -> list[tuple[tuple, str]]:
    """The pre/post commands and rsync_path a local source runs here, each with its key in the
    source; none for a remote source (its commands run there)."""
    if not source.is_local:
        return []
    commands = [(("pre_backup_commands", i), c) for i, c in enumerate(source.pre_backup_commands)]
    commands += [(("post_backup_commands", i), c) for i, c in enumerate(source.post_backup_commands)]
    return commands + ([(("rsync_path",), source.rsync_path)] if source.rsync_path else [])


def source_command_changeable(source: Source, held: Collection[tuple[str, str]] = (),
                              scheduled: bool = False) -> tuple[tuple, str] | None:
    """The first pre/post command or rsync_path of a local source that runs what another user can
    change (command_safety.command_changeable, the rule its backup refuses them by): (its key in the
    source, why), or None. A remote source's commands run there, and are not judged here; nor are
    those in `held`, (source id, command). `scheduled`: judged from the working directory and with
    the PATH of the schedule's runs, not this process's."""
    for key, command in local_commands(source):
        changeable = None if (source.id, command) in held else judged(command, scheduled)
        if changeable:
            return key, changeable
    return None


def judged(command: str, scheduled: bool) -> str | None:
    """command_safety.command_changeable, as the schedule's runs would run `command` when `scheduled`."""
    if scheduled:
        return command_safety.command_changeable(command, command_safety.SCHEDULED_CWD, command_safety.SCHEDULED_PATH)
    return command_safety.command_changeable(command)


def commands_changeable(cfg: Config, held: Collection[tuple[str, str]] = (),
                        scheduled: bool = False) -> tuple[tuple, str] | None:
    """The first local source's command that runs what another user can change, as check-config and
    the UI's form refuse it (its backups would fail before running it): (its key path, message).
    `held`: (source id, command) of those the file held already, not judged (the form's edit of
    one source, or its removal, is not refused for another's command it does not change).
    `scheduled`: as source_command_changeable."""
    for i, s in enumerate(cfg.sources):
        found = source_command_changeable(s, held, scheduled)
        if found:
            key, changeable = found
            return (("sources", i, *key), f"source {s.id} runs what another user can change: {changeable};"
                    f" its backups refuse it (fix: {command_safety.FIX})")
    return None


def permission_problem(path: Path) -> str | None:
    """Why others could change the config file (and so the commands it runs as root), with the fix."""
    try:
        st = path.stat()
        parent = path.resolve().parent.stat()
    except OSError:
        return None
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        return f"{path} is owned by uid {st.st_uid}, not by you (uid {me}) or root: chown {me} {path}"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by its group or by everyone: chmod go-w {path}"
    if parent.st_uid not in (me, 0):
        return f"{path.resolve().parent} is owned by uid {parent.st_uid}, not by you or root: chown {me} {path.resolve().parent}"
    if parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not parent.st_mode & stat.S_ISVTX:
        return (f"{path.resolve().parent} (which holds {path.name}) is writable by its group or by everyone:"
                f" chmod go-w {path.resolve().parent}")
    # whoever can change a directory on the way can put a config of theirs in its place: on the way
    # as named (a symlink of theirs, or in a directory of theirs, leads where they like, whenever
    # they like: to their own file as it is read, to root's as it is checked) and as it resolves
    above = privacy.others_can_change(path)
    if above:
        return f"{above} (on the way to {path}): chown it to you or root, chmod go-w"
    return None
