"""Restore onto a remote source with rsync, without writing through a symlink that is there.

rsync's receiver changes into the destination directory, following symlinks in its path; inside
the tree, without --keep-dirlinks, it replaces a symlink where the restored tree has a directory.
So before anything is written, a check that runs on the source (over the source's ssh, through
the one runner) walks the destination's path from `/` down, one component at a time, and lists
the symlinks on it (the restored file's own name included) and below the destination; any of them
in the restore's way refuses the whole restore, by name.

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

from rabtui import faults, fmt, proc, proc_started, rsync
from rabtui.config import safety as config_safety
from rabtui.ssh import endpoint as ssh_target
from rabtui.config import Config, Source
from rabtui.errors import Stalled, UsageError, WorkFailed
from rabtui.restore import itemized, shared_inodes, target_places
from rabtui.restore.written import Written, kind_of

# `sh -c SOURCE_CHECK sh WALK PATH [BOOT]`, run as the SSH user. Walks the absolute PATH from / down
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
#   !KIND:ID:NAME:DIR  an existing directory on the way (/ included) that someone other than root
#                    and the SSH user can change: KIND owner (ID:NAME its user), group (ID:NAME its
#                    group, which may write), everyone (writable by all), acl (an ACL's mask lets
#                    others write)
# then, with WALK = -r and PATH a real directory, every symlink below it (as /PATH records, and
# %PATH too for one with more than one link: rsync sets the time and owner of a symlink with the
# backup's target in place) and every other entry there but a directory with more than one link
# (#PATH), with
# a `.` record for each directory below (where find can print one: GNU's): the walk of a large tree
# goes on saying it is alive, and only a source that says nothing for io_timeout is taken as hung.
# A find without -printf (busybox's) has its `-exec ... {} +` in parentheses never run: the walk
# there keeps it at the top level, one sh telling the linked symlinks from the other entries.
# Last, `=`: the check ran to its end (an answer without it is not the check's).
SOURCE_CHECK = " ".join(line.strip() for line in r"""
    me=$(id -u) && mg=$(id -g) || exit 3;
    fin() { printf '=\0'; exit 0; };
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
        else printf '+%s\0' "$cur"; fi; fin; };
        look "$cur";
        up=$cur;
    done;
    if [ "$w" = -r ] && [ -n "$cur" ]; then
        if find -P / -maxdepth 0 -printf '' 2>/dev/null; then
            find -P "$cur" -mindepth 1 \( -type l -print0 \( -links 1 -o -printf '%%%p\0' \) -o -type d -printf '.\0' -o -links +1 -printf '#%p\0' \) || exit 4;
        else find -P "$cur" -mindepth 1 -type l -links 1 -print0 -o ! -type d -links +1 -exec sh -c 'for p; do
            if [ -L "$p" ]; then printf "%s\0%%%s\0" "$p" "$p"; else printf "#%s\0" "$p"; fi; done' sh {} + || exit 4; fi;
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
    args = ["sh", "-c", SOURCE_CHECK, "sh", "-r" if below else "-", os.fsdecode(path), _boot_id()]
    return ssh_target.client_argv(cfg, source) + ["--", source.host, " ".join(shlex.quote(a) for a in args)]


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


def rsync_to_source_argv(src: bytes, dest: str, *, rsh: str | None, overwrite: bool, dry_run: bool = False,
                         is_dir: bool, io_timeout: int | None = None, bwlimit: str | None = None,
                         rsync_path: str | None = None, exact_times: bool = False,
                         files_from: str | None = None, ignore_times: bool = False,
                         pretend: bool = False) -> list[str]:
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
    `pretend`: the same transfer as a dry run (-n), to list what it would still send."""
    argv = ["rsync", "-aHAXS", "--numeric-ids", "-s", "--outbuf=L", "-ii", "--out-format=%i|%l|%n"]
    argv += rsync.transfer_options(exact_times=exact_times, io_timeout=io_timeout, bwlimit=bwlimit,
                                   rsync_path=rsync_path)
    if rsh:
        argv += ["-e", rsh]
    if files_from is not None:
        # --files-from turns -a's recursion off: -r brings it back below the listed paths
        argv += ["-r", "--from0", f"--files-from={files_from}", "--no-implied-dirs"]
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


def _tree(item: bytes) -> dict[bytes, int]:
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


def _gone_unsent(item: bytes, is_dir: bool, before: dict[bytes, int], lines: list[bytes]) -> list[tuple[bytes, int]]:
    """(name below `item`, mode) of each entry there before rsync ran that is gone since and that
    rsync did not say it sent: a medium that lost it meanwhile (rsync lists only what is there
    when it starts, and says nothing of what it never saw)."""
    if not is_dir:
        return [] if os.path.lexists(item) else [(b"", m) for m in before.values()]
    after = _tree(item)
    sent = itemized.names_sent(lines)
    return [(name, mode) for name, mode in before.items() if name not in after and name not in sent]


def symlinks_in_the_way(found: list[bytes], dest: bytes, item: bytes, is_dir: bool) -> list[bytes]:
    """The symlinks of `found` (on the source) that the restore would write through or replace:
    any on the path to `dest` (where the item goes, its own name included), and below a
    directory `dest` those where the restored tree has a directory or a file."""
    parents = set(components(dest))
    tree = _tree(item) if is_dir else {}
    out = []
    for link in found:
        if link in parents:
            out.append(link)
            continue
        under = link[len(dest):].lstrip(b"/")
        if under in tree and not stat.S_ISLNK(tree[under]):
            out.append(link)
    return out


def _run(source: Source, what: str, argv: list[str], **kw) -> proc_started.Completed:
    """proc.run, with a program that cannot be started (its command line too long, say) said as
    a WorkFailed."""
    try:
        return proc.run(argv, **kw)
    except OSError as exc:
        raise WorkFailed(f"could not start {what} for {source.id} ({argv[0]}):"
                         f" {exc.strerror or exc}; nothing written") from None


class _Records:
    """The NUL-terminated records of the check's answer as they come, the walk's `.` (alive) dropped."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.tail = b""

    def feed(self, data: bytes) -> None:
        parts = (self.tail + data).split(b"\0")
        self.tail = parts.pop()
        self.records += [p for p in parts if p and p != b"."]


def check_source(cfg: Config, source: Source, rel: bytes, item: bytes, is_dir: bool,
                 cancel) -> tuple[bytes | None, dict[bytes, bool]]:
    """Raises WorkFailed, before anything is written, when the restore of `item` to /`rel` on the
    remote source could write through a symlink: one is on the way or in the restore's way, the
    SSH user cannot see whether one is, or someone other than root and the SSH user can change a
    directory on the way (and so put one there once this check is done). Returns the first
    path on the way to /`rel` (itself included) that is not there, if one is not, and the entries
    but directories there (/`rel` and below it) with more than one link, each -> whether it is a
    symlink."""
    dest = b"/" + rel
    answer = _Records()
    try:    # as long as the source answers: a walk of a large tree says it is alive
        check = _run(source, "the check on the source", source_check_argv(cfg, source, dest, is_dir),
                     on_stdout_data=answer.feed, cancel=cancel, silence=source.io_timeout)
    except Stalled:
        raise WorkFailed(f"could not check {source.id} for symlinks before restoring: nothing from it for"
                         f" {source.io_timeout} s (io_timeout), the check was stopped; nothing written",
                         hint="is a command on the source waiting (a shell start-up file), or a file system"
                              " there hung?") from None
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
    if records[:1] == [b"@"]:     # this machine: what the restore writes must hold no medium, no state
        problem = target_places.target_problem(cfg, dest)
        if problem:
            raise UsageError(f"{fmt.name(dest)} is not restored onto {source.id} (this machine: the same kernel"
                             f" answers there): {problem}", hint=target_places.ONTO_KEPT_HINT)
        records.pop(0)
    odd = [p for p in records if p[:1] not in b"/?!+#%" or (p[:1] == b"!" and p.count(b":") < 3)]
    if odd:    # not what SOURCE_CHECK prints: the host ran something else (its own sh, a forced command)
        raise WorkFailed(f"refusing to restore onto {source.id}: its answer to the check for symlinks is of no"
                         f" known form ({fmt.name(odd[0][:200])}); nothing written")
    unseen = [p[1:] for p in records if p.startswith(b"?")]
    if unseen:     # a symlink there would be followed by an rsync that can see it: refuse
        raise WorkFailed(f"refusing to restore onto {source.id}: {fmt.name(unseen[0])} cannot be checked for a"
                         f" symlink by the SSH user (its directory is not searchable); nothing written",
                         hint="restore with --to DIR, or let the SSH user search that directory")
    refused = symlinks_in_the_way([p for p in records if p.startswith(b"/")], dest, item, is_dir)
    if refused:
        shown = ", ".join(fmt.name(p) for p in refused[:5]) + (" ..." if len(refused) > 5 else "")
        raise WorkFailed(f"refusing to restore onto {source.id}: {len(refused)} symlinks there are in the"
                         f" restore's way (not followed, nothing written): {shown}",
                         hint="remove them on the source, or restore with --to DIR")
    changeable = [_changeable(p) for p in records if p.startswith(b"!")]
    if changeable:
        where, why = changeable[0]
        more = f" (and {fmt.count(len(changeable) - 1, 'more directory')})" if len(changeable) > 1 else ""
        raise WorkFailed(f"refusing to restore onto {source.id}: {why}{more}, on the way to /{fmt.name(rel)};"
                         f" someone other than root and the SSH user could put a symlink in its place while"
                         f" rsync writes, and it would be followed; nothing written",
                         hint=f"restore with --to DIR and move the files in place, or let only root or the"
                              f" SSH user change {fmt.name(where)}")
    return (next((p[1:] for p in records if p.startswith(b"+")), None),
            {p[1:]: p[:1] == b"%" for p in records if p[:1] in b"#%"})


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


def _look_before(source: Source, item: bytes, dest: str, options: dict, cancel) -> set[bytes]:
    """The dry run of a restore that does not overwrite: refuses, naming them, when files there
    already differ; else the directories that are there (`existing_dirs`)."""
    seen: list[bytes] = []
    done = _run(source, "rsync", rsync_to_source_argv(item, dest, overwrite=False, dry_run=True, **options),
                on_stdout=seen.append, cancel=cancel)
    clash = [(c, itemized.attributes_changed(c)) for c in seen if b"|" in c and c[1:2] == b"f"]
    clash = [(c, changed) for c, changed in clash if c[:1] in b"<>c" or changed]
    if done.returncode not in (0, 24) and not clash:
        raise WorkFailed(f"rsync to {source.id} failed (exit {done.returncode}): {done.stderr_said(300)}")
    if clash:
        names = [fmt.name(rsync.unescape(c.split(b"|", 2)[2])) + ("" if c[:1] in b"<>c" else f" ({changed})")
                 for c, changed in clash]
        raise WorkFailed(f"{fmt.count(len(names), 'file')} {'exists' if len(names) == 1 else 'exist'} on {source.id} already and {'differs' if len(names) == 1 else 'differ'}: {', '.join(names[:5])}",
                         hint="use --overwrite to replace them")
    return itemized.existing_dirs(seen)


def _differing(source: Source, rel: bytes, item: bytes, dest: str, shared: list[bytes], options: dict, cancel) -> list[bytes]:
    """The entries of `shared` (names below the directory `item`, restored to /`rel`; b"" for
    `item` itself, a file restored alone) that are not as the backup has them on the source, by a
    dry run of those alone: one as it is stays as it is (with its other names). Its symlinks are
    refused where rsync would change them in place."""
    seen: list[bytes] = []
    if options["is_dir"]:
        argv = rsync_to_source_argv(item, dest, overwrite=True, dry_run=True, files_from="-", **options)
        listing, names = b"".join(p + b"\0" for p in shared), shared
    else:     # rsync names it by its own name
        argv, listing, names = rsync_to_source_argv(item, dest, overwrite=True, dry_run=True, **options), None, [os.path.basename(item)]
    done = _run(source, "rsync", argv, on_stdout=seen.append, cancel=cancel, stdin_data=listing)
    if done.returncode not in (0, 24):
        raise WorkFailed(f"rsync to {source.id} failed (exit {done.returncode}): {done.stderr_said(300)};"
                         f" nothing written")
    if options["is_dir"]:
        return shared_inodes.differing(source.id, b"/" + rel, names,
                                       {n for n in names if os.path.islink(os.path.join(item, n))}, seen)
    return [b"" for _ in shared_inodes.differing(source.id, os.path.dirname(b"/" + rel), names,
                                                  set(names) if os.path.islink(item) else set(), seen)]


_LETTER_KINDS = {b"f": "file", b"d": "directory", b"L": "symlink"}


def _left_undone(source: Source, rel: bytes, item: bytes, dest: str, overwrite: bool, listing: bytes | None,
                 before: dict[bytes, int], options: dict, cancel) -> list[tuple[str, bytes, str]] | str:
    """After rsync failed: what a dry run of the same transfer would still send or change (by
    kind, name and why), or why that cannot be told."""
    seen: list[bytes] = []
    argv = rsync_to_source_argv(item, dest, overwrite=overwrite, files_from=None if listing is None else "-",
                                pretend=True, **options)
    try:
        done = _run(source, "rsync", argv, on_stdout=seen.append, cancel=cancel, stdin_data=listing)
    except WorkFailed as exc:
        done, said = None, exc.message
    else:
        said = f"exit {done.returncode}: {done.stderr_said(200)}"
    if done is None or done.returncode not in (0, 24):
        return said
    own = None if options["is_dir"] else os.path.basename(item)
    return [(kind_of(before[name]) if name in before else _LETTER_KINDS.get(letter, "special"),
             os.path.join(rel, name) if name else rel, "rsync failed before it was restored as the backup has it")
            for letter, name in itemized.not_as_saved(seen, own)]


def rsync_onto_source(cfg: Config, source: Source, rel: bytes, item: bytes, overwrite: bool, cancel, *,
                      exact_times: bool = False) -> Written:
    """Without `overwrite`, a directory that is there on the source already keeps its own mode,
    owner, times and attributes (the dry run that looks for clashes finds them, and rsync is sent
    the paths below them only); with it, everything is put back as the backup has it."""
    is_dir = os.path.isdir(item) and not os.path.islink(item)
    dest_dir = b"/" + rel if is_dir else b"/" + os.path.dirname(rel)
    missing, linked = check_source(cfg, source, rel, item, is_dir, cancel)
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
    existing = None if overwrite else _look_before(source, item, dest, options, cancel)
    w = Written(attributes=None)
    lines: list[bytes] = []
    listing = None
    if existing is not None and is_dir:
        # to rsync's standard input: a file for it would outlive a restore killed meanwhile
        listing = b"".join(p + b"\0" for p in paths_to_send(item, existing))
    before = _tree(item) if is_dir else {b"": os.lstat(item).st_mode}
    shared = shared_inodes.files_to_write_anew(source.id, b"/" + rel, shared_inodes.linked_in_the_way(
        linked, b"/" + rel, before)) if overwrite else []
    faults.point("restore.sending")
    if shared:
        shared = _differing(source, rel, item, dest, shared, options, cancel)
    if shared and is_dir:     # those first, written anew: the whole run then finds them as the backup has them
        done = _run(source, "rsync", rsync_to_source_argv(item, dest, overwrite=True, files_from="-",
                                                          ignore_times=True, **options),
                    on_stdout=lines.append, cancel=cancel, die_with_parent=True,
                    stdin_data=b"".join(p + b"\0" for p in shared))
        if done.returncode not in (0, 24):
            try:    # rsync (the sender, here) names what it sent, not what the source put in place
                left = _differing(source, rel, item, dest, shared, options, cancel)
            except WorkFailed:
                left = shared
            itemized.count_itemized(shared_inodes.lines_not_of(lines, left), w)
            w.errors.append((rel, f"rsync exit {done.returncode}: {done.stderr_said(300)}; stopped before the"
                                  f" rest was sent: nothing else of it restored"))
            w.not_restored += [("file", os.path.join(rel, name), "linked elsewhere too; rsync stopped before it")
                               for name in left]
            return w
    done = _run(source, "rsync", rsync_to_source_argv(item, dest, overwrite=overwrite, ignore_times=bool(shared) and not is_dir,
                                                      files_from=None if listing is None else "-", **options),
                on_stdout=lines.append, cancel=cancel, die_with_parent=True, stdin_data=listing)
    itemized.count_itemized(lines, w)
    if done.returncode not in (0, 24):
        w.errors.append((rel, f"rsync exit {done.returncode}: {done.stderr_said(300)}"))
        # a source that hung (rsync's timeout) is not waited for again
        left = ("the source stopped answering" if done.returncode in (30, 35) else
                _left_undone(source, rel, item, dest, overwrite, listing, before, options, cancel))
        if isinstance(left, str):
            w.errors[-1] = (rel, f"{w.errors[-1][1]}; what it did not restore could not be looked at ({left})")
        else:
            w.not_restored += left
    w.not_restored += [(kind_of(mode), os.path.join(rel, name) if name else rel,
                        "gone from the medium while it was restored (not sent)")
                       for name, mode in _gone_unsent(item, is_dir, before, lines)]
    return w
