"""The check that runs on an SSH source before a restore onto it writes anything.

rsync's receiver changes into the destination directory, following symlinks in its path; inside
the tree, without --keep-dirlinks, it replaces a symlink where the restored tree has a directory.
So before anything is written, a check that runs on the source (over the source's ssh, through
the one runner) walks the destination's path from `/` down, one component at a time, and lists
the symlinks on it (the restored file's own name included) and below the destination; one on the
way refuses the whole restore, by name, and one below it where the restored tree has a directory
or a file is left out of rsync's runs and named, as a restore onto a local source refuses it.

The check and rsync are two sessions: a symlink put on the path in between would be followed
(by root, where rsync_path is "sudo rsync"). So the same walk also refuses, naming the directory
and why, when anyone but root and the SSH user can change a directory on the path (the rules of
rabtui.privacy.others_can_change, judged on the source: another owner, write permission for
others or for a group other than root's or the SSH user's own, an ACL's mask, unless sticky).
Sending from / with relative paths (-R) would not let such a restore through safely: rsync 3.5.0's
receiver refuses another user's symlink only on the way to its destination (its chdir there);
below it, it follows any relative symlink that stays below, and below / that is anywhere.
"""

from __future__ import annotations

import os
import shlex
import stat
from typing import NamedTuple

from rabtui import fmt, mount_points, proc, proc_started
from rabtui.ssh import endpoint as ssh_target
from rabtui.config import Config, Source
from rabtui.errors import Stalled, UsageError, WorkFailed
from rabtui.checkpoint.xorriso import images_dir, is_image_drive
from rabtui.restore import target_places
from rabtui.restore.copies import directory_of

# `sh -c SOURCE_CHECK sh WALK PATH [BOOT [-x]]`, run as the SSH user. Walks the absolute PATH from / down
# (no word splitting: every name stays in a quoted variable, a pattern's quoted part is literal) and
# prints NUL-terminated records:
#   @                the source runs the kernel whose boot id is BOOT: it is this machine (a host name
#                    or address of its own, localhost), whose media and state a restore must not write
#   /PATH            a component that is a symlink (the walk stops there)
#   ?PATH            a component it cannot examine (its directory is not searchable by the SSH
#                    user, while rsync may run as root through rsync_path); the walk stops
#   #PATH            an entry other than a directory or symlink (the restored file's own name, or one
#                    below) with more than one link: rsync would change its mode or owner in place,
#                    and so the other names'
#   -PATH            (WALK = -r) an entry other than a directory where the restored directory goes, or
#                    on the way to it: rsync cannot replace it with the directory
#   !KIND:ID:NAME:DIR  an existing directory on the way (/ included) that someone other than root
#                    and the SSH user can change: KIND owner (ID:NAME its user), group (ID:NAME its
#                    group, which may write), everyone (writable by all), acl (an ACL's mask lets
#                    others write)
# then, with WALK = -r and PATH a real directory, every symlink below it (as /PATH records, and
# %PATH too for one with more than one link: rsync sets the time and owner of a symlink with the
# backup's target in place) and every other entry there but a directory with more than one link
# (#PATH), with
# a `.` record for each empty directory below (where find can print one: GNU's) and `,PATH` for each
# other: the walk of a large tree goes on saying it is alive, and only a source that says nothing
# for io_timeout is taken as hung. Else (WALK = -), `,PATH` for PATH itself where it is a directory
# holding anything (a line of the listing, one named by line breaks only too): a directory
# holding files where the backup has another kind is kept (rsync
# would stop at it, and waits forever where it is the first name of a hard-linked file).
# A find without -printf (busybox's) has its `-exec ... {} +` in parentheses never run: the walk
# there keeps it at the top level, one sh telling the linked symlinks from the other entries.
# With -x, `^MOUNT` for each mount point there (as /proc/self/mountinfo writes it: \040 for a space).
# Last, `=`: the check ran to its end (an answer without it is not the check's).
SOURCE_CHECK = " ".join(line.strip() for line in r"""
    me=$(id -u) && mg=$(id -g) || exit 3; mx=${4-};
    fin() { if [ "$mx" = -x ]; then while read -r a b c d m e; do printf '^%s\0' "$m"; done < /proc/self/mountinfo; fi;
        printf '=\0'; exit 0; };
    [ -n "${3-}" ] && [ "$3" = "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" ] && printf '@\0';
    mn=$(id -un 2>/dev/null);
    alone() {
        [ "$1" = "$mg" ] && command -v getent >/dev/null 2>&1 || return 1;
        m=$(getent group "$1" | cut -d: -f4);
        [ -z "$m" ] || [ "$m" = "$mn" ] || return 1;
        getent passwd | awk -F: -v g="$1" -v u="$me" '$4 == g && $3 != u { n = 1 } END { exit n }';
    };
    look() {
        s=$(LC_ALL=C stat -c '%u:%g:%a:%U:%G' -- "$1") || { printf '?%s\0' "$1"; fin; };
        u=${s%%:*}; s=${s#*:}; g=${s%%:*}; s=${s#*:}; a=${s%%:*}; s=${s#*:}; un=${s%%:*}; gn=${s#*:};
        a=$((0$a));
        if [ "$u" != 0 ] && [ "$u" != "$me" ]; then printf '!owner:%s:%s:%s\0' "$u" "$un" "$1";
        elif [ $((a & 512)) -ne 0 ]; then :;
        elif [ $((a & 2)) -ne 0 ]; then printf '!everyone:::%s\0' "$1";
        elif [ $((a & 16)) -ne 0 ]; then
            l=$(LC_ALL=C ls -ld -- "$1");
            case ${l%% *} in
                *+) printf '!acl:::%s\0' "$1";;
                *) if [ "$g" != 0 ] && ! alone "$g"; then printf '!group:%s:%s:%s\0' "$g" "$gn" "$1"; fi;;
            esac;
        fi;
    };
    w=$1; rest=$2; cur=; up=/;
    look /;
    while :; do
        case $rest in /*) rest=${rest#/}; continue;; esac;
        [ -n "$rest" ] || break;
        c=${rest%%/*}; rest=${rest#"$c"}; cur=$cur/$c;
        if [ ! -x "$up/" ]; then printf '?%s\0' "$cur"; fin; fi;
        if [ -L "$cur" ]; then printf '%s\0' "$cur"; fin; fi;
        [ -d "$cur" ] || { if [ -e "$cur" ]; then
            n=$(LC_ALL=C stat -c %h -- "$cur") || { printf '?%s\0' "$cur"; fin; };
            [ "$n" -gt 1 ] && printf '#%s\0' "$cur";
            [ "$w" = -r ] && printf '%s%s\0' - "$cur";
        else printf '+%s\0' "$cur"; fi; fin; };
        look "$cur";
        up=$cur;
    done;
    if [ "$w" = -r ] && [ -n "$cur" ]; then
        if find -P / -maxdepth 0 -printf '' 2>/dev/null; then
            find -P "$cur" -mindepth 1 \( -type l -print0 \( -links 1 -o -printf '%%%p\0' \) -o -type d \( -empty -printf '.\0' -o -printf ',%p\0' \) -o -links +1 -printf '#%p\0' \) || exit 4;
        else find -P "$cur" -mindepth 1 -type l -links 1 -print0 -o ! -type d -links +1 -exec sh -c 'for p; do
            if [ -L "$p" ]; then printf "%s\0%%%s\0" "$p" "$p"; else printf "#%s\0" "$p"; fi; done' sh {} +
            -o -type d ! -empty -exec sh -c 'for p; do printf ",%s\0" "$p"; done' sh {} + || exit 4; fi;
    elif [ -n "$cur" ] && [ -d "$cur" ] && ls -A -- "$cur" 2>/dev/null | grep -q '^'; then printf ',%s\0' "$cur";
    fi;
    fin
""".splitlines() if line.strip())


def components(path: bytes) -> list[bytes]:
    """/a/b/c -> [/a, /a/b, /a/b/c]."""
    parts = [p for p in path.split(b"/") if p]
    return [b"/" + b"/".join(parts[: i + 1]) for i in range(len(parts))]


def source_check_argv(cfg: Config, source: Source, path: bytes, below: bool) -> list[str]:
    """ssh running SOURCE_CHECK on the source for the absolute `path` (sent once, quoted for the
    login shell: any depth of path fits one command line); `below`: list the symlinks below it too."""
    # the mount points always: one in the way of a file is kept (rsync cannot remove it), and with
    # one_file_system one written through refused
    args = ["sh", "-c", SOURCE_CHECK, "sh", "-r" if below else "-", os.fsdecode(path), _boot_id(), "-x"]
    return ssh_target.command_argv(cfg, source, args)


def _boot_id() -> str:
    """This machine's kernel's boot id ("" where /proc does not say)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            return f.read().strip().decode("ascii", "replace")
    except OSError:
        return ""


def _changeable(record: bytes) -> tuple[bytes, str]:
    """(the directory, why others can change it) from a `!KIND:ID:NAME:DIR` record."""
    kind, num, name, path = record[1:].split(b":", 3)
    shown = fmt.name(path)
    who = name.decode("utf-8", "backslashreplace")
    if kind == b"owner":
        why = f"{shown} belongs to user {who} (uid {fmt.name(num)})"
    elif kind == b"group":
        why = f"{shown} is writable by its group {who} (gid {fmt.name(num)})"
    elif kind == b"everyone":
        why = f"{shown} is writable by everyone"
    else:
        why = f"{shown} has an ACL that lets others write in it (getfacl {shlex.quote(os.fsdecode(path))})"
    return path, why


def tree_modes(item: bytes) -> dict[bytes, int]:
    """Every name below the directory `item` -> its mode there (gone meanwhile: left out)."""
    out = {}
    try:     # fwalk raises for `item` itself gone
        for dirpath, dirnames, filenames, dfd in os.fwalk(item):
            under = dirpath[len(item):].lstrip(b"/")
            for name in dirnames + filenames:
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                out[os.path.join(under, name) if under else name] = st.st_mode
    except FileNotFoundError:
        pass
    return out



def symlinks_in_the_way(found: list[bytes], dest: bytes, item: bytes, is_dir: bool) -> list[bytes]:
    """The symlinks of `found` (on the source) that the restore would write through or replace:
    any on the path to `dest` (where the item goes, its own name included), and below a
    directory `dest` those where the restored tree has a directory or a file."""
    parents = set(components(dest))
    tree = tree_modes(item) if is_dir else {}
    out = []
    for link in found:
        if link in parents:
            out.append(link)
            continue
        under = link[len(dest):].lstrip(b"/")
        if under in tree and not stat.S_ISLNK(tree[under]):
            out.append(link)
    return out


def mounts_in_the_way(mounts: list[bytes], top: bytes, dest: bytes, item: bytes, is_dir: bool) -> list[bytes]:
    """The mount points of `mounts` below the source's directory `top` that a restore to `dest` would
    write through: one `dest` is at or below, or one below `dest` where the restored tree has an entry."""
    mounts = [m for m in mounts if m.startswith(top.rstrip(b"/") + b"/")]
    below = [m for m in mounts if m.startswith(dest + b"/")]
    tree = tree_modes(item) if is_dir and below else {}     # the backup's tree walked only when needed
    return [m for m in mounts if (dest + b"/").startswith(m + b"/") or m in below and m[len(dest) + 1:] in tree]


def run_on(source: Source, what: str, argv: list[str], **kw) -> proc_started.Completed:
    """proc.run, with a program that cannot be started (its command line too long, say) said as
    a WorkFailed."""
    try:
        return proc.run(argv, **kw)
    except OSError as exc:
        raise WorkFailed(f"could not start {what} for {source.id} ({argv[0]}):"
                         f" {exc.strerror or exc}; nothing written") from None


# `sh -c SAME_PLACES sh PATH...`: for each absolute PATH, the nearest of it and the directories above
# it that the SSH user can look at (stat), and `DEV:INODE` of what that leads to, NUL-terminated
SAME_PLACES = ('for p; do q=$p; until i=$(stat -L -c %d:%i -- "$q" 2>/dev/null); do'
               ' [ "$q" = / ] && exit 3; q=$(dirname -- "$q"); done; printf "%s\\0%s\\0" "$q" "$i"; done')


def _same_places(cfg: Config, source: Source, dest: bytes, cancel) -> bool:
    """On a source whose kernel is this one (its boot id), whether a medium, the state directory or
    the images' directory that lies in `dest` or holds it, or a mount below `dest`, may be there
    what it is here: its path there, or the nearest directory above it the SSH user can look at
    (one closed to it, where rsync may write as root), is the same device and inode as here. False
    for a tree of its own, as a container's (its /srv is not this /srv); True where that cannot
    be told, or where the place is not known by its path (reached by another name)."""
    drive = cfg.checkpoint.drive
    kept = [os.fsencode(m.path) for m in cfg.media] + [os.fsencode(cfg.state_dir)]
    kept += [os.fsencode(images_dir(drive))] if is_image_drive(drive) else []
    ways = {dest.rstrip(b"/") + b"/", os.path.realpath(dest).rstrip(b"/") + b"/"}
    places = [p for p in kept if any(f.startswith(w) or w.startswith(f)
                                     for f in {p.rstrip(b"/") + b"/", os.path.realpath(p).rstrip(b"/") + b"/"}
                                     for w in ways)]
    places += [p for _i, _d, _r, p in mount_points.table() if any(p.startswith(w) for w in ways)]
    if not places:
        return True
    args = ["sh", "-c", SAME_PLACES, "sh", *(os.fsdecode(os.path.abspath(p)) for p in places)]
    answer = _Records()
    try:
        done = run_on(source, "the check on the source", ssh_target.command_argv(cfg, source, args),
                      on_stdout_data=answer.feed, cancel=cancel, silence=source.io_timeout)
    except (Stalled, WorkFailed):
        return True
    there = answer.records
    if not done.ok or answer.tail or len(there) != 2 * len(places):
        return True
    for looked, ident in zip(there[::2], there[1::2]):
        try:
            st = os.stat(looked)
        except OSError:     # nothing of this machine's there
            continue
        if ident == b"%d:%d" % (st.st_dev, st.st_ino):
            return True
    return False


class _Records:
    """The NUL-terminated records of the check's answer as they come, the walk's `.` (alive) dropped."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.tail = b""

    def feed(self, data: bytes) -> None:
        parts = (self.tail + data).split(b"\0")
        self.tail = parts.pop()
        self.records += [p for p in parts if p and p != b"."]


class Found(NamedTuple):
    """What the check found on the source, for a restore to /`rel`."""
    missing: bytes | None          # the first path on the way to it (itself included) that is not there
    linked: dict[bytes, bool]      # entries but directories there, itself and below, with more than one
                                   # link (absolute path -> whether it is a symlink)
    full_dirs: set[bytes]          # directories there (itself and below, absolute) holding anything
    symlinks: list[bytes]          # symlinks below it where the restored tree has a directory or file
                                   # (names below it): left out, never followed nor replaced
    mounts: set[bytes]             # the mount points there (absolute)


def check_source(cfg: Config, source: Source, rel: bytes, item: bytes, is_dir: bool,
                 cancel) -> Found:
    """Raises WorkFailed, before anything is written, when the restore of `item` to /`rel` on the
    remote source could write through a symlink: one is on the way (the item's own name
    included), the SSH user cannot see whether one is, or someone other than root and the SSH user
    can change a directory on the way (and so put one there once this check is done). Returns
    what it found (Found)."""
    dest = b"/" + rel
    ssh_target.known_hosts_checked(cfg)     # this check's ssh and the restore's rsync read them
    answer = _Records()
    try:    # as long as the source answers: a walk of a large tree says it is alive
        check = run_on(source, "the check on the source", source_check_argv(cfg, source, dest, is_dir),
                     on_stdout_data=answer.feed, cancel=cancel, silence=source.io_timeout)
    except Stalled:
        raise WorkFailed(f"could not check {source.id} for symlinks before restoring: nothing from it for"
                         f" {source.io_timeout} s (io_timeout), the check was stopped; nothing written",
                         hint="is a command on the source waiting (a shell start-up file), or a file system"
                              " there hung?") from None
    # `@` comes before the walk: a walk that then fails (a directory closed to the SSH user, holding
    # a medium) still says the restore would write into a medium, which no access given mends
    if answer.records[:1] == [b"@"]:     # this machine: what the restore writes must hold no medium, no state
        problem = target_places.target_problem(cfg, dest)
        if problem and _same_places(cfg, source, dest, cancel):
            raise UsageError(f"{fmt.name(dest)} is not restored onto {source.id} (this machine: the same kernel"
                             f" answers there): {problem}", hint=target_places.ONTO_KEPT_HINT)
    if check.returncode == 4:     # find could not read a directory below: a symlink there goes unseen
        raise WorkFailed(f"refusing to restore onto {source.id}: what is below {fmt.name(dest)} there cannot all be"
                         f" checked for symlinks by the SSH user ({check.stderr_said(300)}); nothing written",
                         hint="restore with --to DIR, or let the SSH user read those directories")
    if not check.ok:
        raise WorkFailed(f"could not check {source.id} for symlinks before restoring (exit {check.returncode}):"
                         f" {check.stderr_said(300)}; nothing written")
    records = answer.records
    if records[-1:] != [b"="] or answer.tail:
        raise WorkFailed(f"refusing to restore onto {source.id}: its answer to the check for symlinks ended before"
                         f" the check did; nothing written")
    records.pop()
    if records[:1] == [b"@"]:
        records.pop(0)
    mounts = [mount_points.mountinfo_name(p[1:]) for p in records if p[:1] == b"^"]
    records = [p for p in records if p[:1] != b"^"]
    odd = [p for p in records if p[:1] not in b"/?!+#%,-" or (p[:1] == b"!" and p.count(b":") < 3)]
    if odd:    # not what SOURCE_CHECK prints: the host ran something else (its own sh, a forced command)
        raise WorkFailed(f"refusing to restore onto {source.id}: its answer to the check for symlinks is of no"
                         f" known form ({fmt.name(odd[0][:200])}); nothing written")
    unseen = [p[1:] for p in records if p.startswith(b"?")]
    if unseen:     # a symlink there would be followed by an rsync that can see it: refuse
        raise WorkFailed(f"refusing to restore onto {source.id}: {fmt.name(unseen[0])} cannot be checked for a"
                         f" symlink by the SSH user (its directory is not searchable); nothing written",
                         hint="restore with --to DIR, or let the SSH user search that directory")
    in_way = symlinks_in_the_way([p for p in records if p.startswith(b"/")], dest, item, is_dir)
    # one below the destination is left out of rsync's runs and named, as a local restore does; one
    # on the way to it (the item's own name too) would be followed, or replaced: all is refused
    refused = [p for p in in_way if p in components(dest)]
    if refused:
        shown = ", ".join(fmt.name(p) for p in refused[:5]) + (" ..." if len(refused) > 5 else "")
        raise WorkFailed(f"refusing to restore onto {source.id}: {len(refused)} symlinks there are in the"
                         f" restore's way (not followed, nothing written): {shown}",
                         hint="remove them on the source, or restore with --to DIR")
    not_dirs = [p[1:] for p in records if p[:1] == b"-"]
    if not_dirs:
        raise WorkFailed(f"refusing to restore onto {source.id}: {fmt.name(not_dirs[0])} is not a directory there, where"
                         f" the backup has one (rsync cannot put the directory in its place); nothing written",
                         hint="move it away on the source, then restore again, or restore with --to DIR")
    crossed = mounts_in_the_way(mounts, os.fsencode(directory_of(source, rel).path), dest, item, is_dir) \
        if source.one_file_system else []
    if crossed:
        raise WorkFailed(f"refusing to restore onto {source.id}: {fmt.name(crossed[0])} is another mount there (a file"
                         f" system or a bind mount) and its backups stay on one file system (one_file_system);"
                         f" rsync would write through it; nothing written",
                         hint="restore what lies beside it one by one, or with --to DIR")
    changeable = [_changeable(p) for p in records if p.startswith(b"!")]
    if changeable:
        where, why = changeable[0]
        more = f" (and {fmt.count(len(changeable) - 1, 'more directory')})" if len(changeable) > 1 else ""
        raise WorkFailed(f"refusing to restore onto {source.id}: {why}{more}, on the way to /{fmt.name(rel)};"
                         f" someone other than root and the SSH user could put a symlink in its place while"
                         f" rsync writes, and it would be followed; nothing written",
                         hint=f"restore with --to DIR and move the files in place, or let only root or the"
                              f" SSH user change {fmt.name(where)}")
    return Found(next((p[1:] for p in records if p.startswith(b"+")), None),
                 {p[1:]: p[:1] == b"%" for p in records if p[:1] in b"#%"}, {p[1:] for p in records if p[:1] == b","},
                 [p[len(dest):].lstrip(b"/") for p in in_way if p not in refused], set(mounts))


def mounts_made_meanwhile(cfg: Config, source: Source, rel: bytes, item: bytes, is_dir: bool, cancel) -> list[bytes] | str:
    """After rsync wrote onto a source kept on one file system: the mounts there now that a restore
    of `item` to /`rel` writes through (made since the check, which refused any; rsync cannot be
    kept out of one), or why that could not be looked at. A mount made and gone meanwhile is unseen."""
    dest = b"/" + rel
    answer = _Records()
    try:
        done = run_on(source, "the check on the source", source_check_argv(cfg, source, dest, False),
                      on_stdout_data=answer.feed, cancel=cancel, silence=source.io_timeout)
    except (Stalled, WorkFailed) as exc:
        return exc.message if isinstance(exc, WorkFailed) else "the source stopped answering"
    if not done.ok or answer.records[-1:] != [b"="]:
        return f"exit {done.returncode}: {done.stderr_said(200)}"
    mounts = [mount_points.mountinfo_name(p[1:]) for p in answer.records if p[:1] == b"^"]
    return mounts_in_the_way(mounts, os.fsencode(directory_of(source, rel).path), dest, item, is_dir)

