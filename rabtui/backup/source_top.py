"""Which configured directories of a source are symlinks there, asked of the source's own rsync.

rsync reads `dir/` through a symlink at `dir` (also `dir/.`, and with --no-implied-dirs: checked
with rsync 3.5.0), so a user who owns the directory's parent could put a link to /etc or /root in
its place, and a backup pulling as root would save those files under the directory's name. rsync
lists `dir` (no slash, no recursion) as the entry itself: the same command, over the same
connection and with the same rights as the transfer, says what is there, on a local source too.
rsync follows a link on the way to the directory as well (`www` of /home/alice/www/site): each
directory on the way is listed too. Not by its whole path: rsync -R drops a link of the listing
that is on the way to another name of it, for the directory it implies there (even with
--no-implied-dirs, rsync 3.5.0), so each is named `parent/./name` (-R lists `name`), and names
alike go in listings of their own (usually one: a listing asks of many directories at once).
Each look is made before the first transfer and after the last (rsync takes the last name it is
given for a destination, so it gets one: in the backup's own directory, below one that does not
exist, which rsync could not make without --mkpath; with --list-only it makes nothing there,
checked with strace): a link put in place after the first look and left there is seen by the
second, which therefore must not fail unseen. One put there and taken away while rsync runs is not
(rsync reaches every directory of the tree by its path again, below the top too), and the
transfer's own output cannot say it: its item of the top (`cd+++++++++ ./`, with -R the implied
`name/` too) is the directory the path led to, with that one's mode, owner and time, never the link.

Over SSH a session costs the source account's shell start-up (~/.bashrc, PAM: 0.2 s and more), so the
looks go into the transfers' own sessions: rsync's remote command (--rsync-path, which the source's
shell runs) becomes `sh -c '<listings> exec "$@"' sh <rsync_path>`, the listings those of a look apart
made by the source's own rsync in local mode (the same program, with the same rights), and sh exits
with SAW_BEFORE instead of starting rsync when one shows a link or fails; in the last directory's
session they list again once rsync has ended, exiting SAW_AFTER (the client rsync takes the remote
command's exit status for its own). A session holds one listing before and one after at most:
rsync's --timeout and rabtui's io_timeout see its listings as one wait (a look apart gives each its
own), so a path repeating a name makes the looks apart, names alike on the way of two directories
the look after. When the source's shell could not take the command as written
(a path holding a quote, `$`, `!`, a backslash or a character outside printable ASCII), or rsync did
not start in it (a link, a sudoers or forced command that runs rsync's server only), the looks are
made apart from there on.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Callable, Sequence

from rabtui import fmt, proc, rsync, rsync_exit
from rabtui.errors import Stalled, WorkFailed

# one entry of --list-only: mode, size, date, time, name (rsync escapes what cannot be printed)
_ENTRY = re.compile(rb"^([-a-zA-Z]{10}) +[\d,]+ \d{4}/\d\d/\d\d \d\d:\d\d:\d\d (.*)$", re.M)


def list_argv(command: Sequence[str], locations: Sequence[str], dest: str, *, rsh: str | None,
              rsync_path: str | None, io_timeout: int | None) -> list[str]:
    """rsync listing the entries `locations` (rsync_location's names of directories) themselves.
    `command`: the local rsync's words; `rsync_path` the remote side's; `dest` a local directory
    that does not exist."""
    argv = [*command, "--list-only", "-R", "-d", "-l",
            *rsync.transfer_options(io_timeout=io_timeout, rsync_path=rsync_path)]
    if rsh:
        argv += rsync.remote_shell(rsh)
    return argv + ["--", *(location.rstrip("/") for location in locations), dest]


def on_the_way(paths: Sequence[str]) -> list[str]:
    """The directories `paths` and every directory above them but /, each once."""
    names: dict[str, None] = {}
    for path in paths:
        parts = [part for part in path.split("/") if part]
        for n in range(1, len(parts) + 1):
            names["/" + "/".join(parts[:n])] = None
    return list(names)


def _groups(names: Sequence[str]) -> list[list[str]]:
    """`names` in lists whose last components differ (what each listing names them): each in the
    first list without its last component, which is the one after those holding it already."""
    groups: list[list[str]] = []
    held: dict[bytes, int] = {}
    for name in names:
        index = held.get(_rel(name), 0)
        held[_rel(name)] = index + 1
        if index == len(groups):
            groups.append([])
        groups[index].append(name)
    return groups


def _dotted(path: str) -> str:
    """`path` as rsync -R is to list it: by its last component."""
    parent, name = path.rsplit("/", 1)
    return f"{parent}/./{name}"


def _rel(path: str) -> bytes:
    """How the listing names `path` (_dotted: its last component)."""
    return path.rsplit("/", 1)[-1].encode("utf-8", "surrogateescape")


def symlink_targets(listing: bytes, paths: Sequence[str]) -> dict[str, bytes]:
    """Of `paths` (last components unlike), those the listing shows as symlinks, with their targets."""
    # the longest first: of "a -> b" and "a", both wanted, the entry "a -> b -> c" is the first's
    wanted = {_rel(path): path for path in sorted(paths, key=len, reverse=True) if path.strip("/")}
    entries = [(mode, rsync.unescape(rest)) for mode, rest in _ENTRY.findall(listing)]
    # of "a", a link to "b -> c", and "a -> b", a directory, the entry "a -> b -> c" is the first's
    not_links = {entry for mode, entry in entries if not mode.startswith(b"l")}
    found = {}
    for mode, entry in entries:
        if not mode.startswith(b"l"):
            continue
        # by the wanted names, not at the first " -> ": a name may hold one
        for rel, path in wanted.items():
            if rel not in not_links and path not in found and entry.startswith(rel + b" -> "):
                found[path] = entry[len(rel) + 4:]
                break
    return found


_UNKNOWN = "could not look again, after the transfers, whether a configured directory was made a symlink"
UNSEEN_AFTER = (f"{_UNKNOWN}: the listing in the last transfer's own session showed a symlink or failed, the look after"
                " it found none; what that transfer ended with is not known (the listing's exit status took its place)")


def message(link: str, target: bytes, path: str | None = None) -> str:
    """Why the directory `path` (`link` itself when None) is not backed up: `link`, it or a
    directory above it, is a symlink to `target`; with the path to configure instead (a relative
    target taken from the link's directory: lib -> usr/lib says /usr/lib)."""
    path = link if path is None else path
    raw_link = os.fsencode(link)
    to = os.path.normpath(os.path.join(os.path.dirname(raw_link), target) + os.fsencode(path)[len(raw_link):])
    to = b"/" + to.lstrip(b"/")       # normpath keeps "//" at the start (POSIX leaves its meaning open)
    return (f"{fmt.name(link)} is a symlink on the source (to {fmt.name(target)}): not followed;"
            f" configure the directory it points to by its own path ({fmt.name(to)}) if that is to be backed up")


def symlinked(command: Sequence[str], locate: Callable[[str], str], paths: Sequence[str], backup_path: str, *,
              rsh: str | None, rsync_path: str | None, io_timeout: int | None,
              cancel: threading.Event, after: bool = False) -> dict[str, str]:
    """Why each of the directories `paths` that is, or has on its way, a symlink on the source is
    not backed up (`locate`: rsync's name of a directory of the source; `backup_path`: the
    backup's directory). A listing that fails says nothing of the directories it missed: their
    transfer meets what made it fail; `after` the transfers, it raises WorkFailed (whether rsync
    read one through a link is not known)."""
    links: dict[str, bytes] = {}
    dest = os.path.join(backup_path, "none", "none", "")
    for group in _groups(on_the_way(paths)):
        argv = list_argv(command, [locate(_dotted(name)) for name in group], dest, rsh=rsh,
                         rsync_path=rsync_path, io_timeout=io_timeout)
        try:
            listed = proc.run(argv, capture=True, env=rsync.ENV, cancel=cancel, die_with_parent=True,
                              silence=io_timeout)
        except Stalled:
            if after:
                raise WorkFailed(f"{_UNKNOWN}: nothing from rsync's listing for {io_timeout} s (io_timeout)") from None
            continue
        if after and listed.returncode not in (0, 23, 24):    # 23, 24: a directory missing (removed)
            raise WorkFailed(f"{_UNKNOWN}: {rsync_exit.interpret_exit(listed.returncode, listed.stderr_tail).reason}")
        links.update(symlink_targets(listed.stdout, group))
    why = {}
    for path in paths:
        # the first link on the way (on_the_way names the directories above a path before it)
        link = next((name for name in on_the_way([path]) if name in links), None)
        if link is not None:
            why[path] = message(link, links[link], path)
    return why


# --- the looks in the transfers' own sessions ------------------------------------------------------

# What the source's shell runs, wrapped around a transfer's rsync, exits with when a listing shows a
# link, or fails: before rsync starts, and after it ends (rsync's own exit codes are below 36 and
# from 124; the client rsync takes the remote command's as its own)
SAW_BEFORE = 93
SAW_AFTER = 94
# words and paths the source's shell (sh, bash, zsh, csh, fish) takes as written, in the wrapper's
# single quotes and, for a path, in sh's double quotes: no quote, $, `, \ (fish), ! (csh) nor control
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./-][A-Za-z0-9_./:=+,@%-]*")
_PLAIN_PATH = re.compile(r"[^\"'$`\\!\x00-\x1f\x7f-\U0010ffff]*")
SESSION_COMMAND_MAX = 32 * 1024   # longer: the looks apart
# rsync_path's leading NAME=value words: the shell's assignments for the command, which sh's exec
# "$@" would take for the command's name (env takes them as the shell does)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
# what the client rsync says when the remote command ended before rsync's server spoke (its exit
# status, SAW_BEFORE, lost when the client did not wait for it)
_NOTHING_RECEIVED = "rsync: connection unexpectedly closed (0 bytes received so far)"


def _session_listings(words: Sequence[str], paths: Sequence[str], code: int) -> str | None:
    """sh commands exiting with `code` when the source's own rsync (`words`), listing the
    directories `paths` and those on the way to them as a look apart does, shows a link or fails
    (23, 24: one missing, as a look apart takes it; its output goes nowhere but to the check).
    None when that takes more than one listing (names alike): rsync's --timeout and io_timeout
    watch the session's listings as one wait, a look apart each listing alone."""
    groups = _groups(on_the_way(paths))
    if len(groups) > 1:
        return None
    commands = []
    for group in groups:
        listing = " ".join([*words, "--list-only", "-R", "-d", "-l", "--", *(f'"{_dotted(name)}"' for name in group),
                            "/dev/null/none/"])
        # grep's 1 only (no line of a link): its 2, or 127 on a source without it, said nothing
        commands.append(f"l=$({listing} </dev/null 2>/dev/null); case $? in 0|23|24) ;; *) exit {code};; esac;"
                        f' printf %s "$l" | grep -q ^l; case $? in 1) ;; *) exit {code};; esac;')
    return " ".join(commands)


def session_command(words: Sequence[str], path: str, after: Sequence[str] | None) -> str | None:
    """The --rsync-path of the transfer of the directory `path` that looks at it in the transfer's
    own session first (SAW_BEFORE), and with `after` (all the source's directories) at those once
    rsync has ended (SAW_AFTER, for the transfer's own exit status); `words`: the source's rsync.
    None when the source's shell would not take the words or a path as written, or it is too long."""
    if not _plain(words, [path, *(after or ())]):
        return None
    listings = None if after is None else _session_listings(words, after, SAW_AFTER)
    return None if after is not None and listings is None else _command(words, path, listings)


def _plain(words: Sequence[str], paths: Sequence[str]) -> bool:
    """Whether the source's shell takes `words` and `paths` as written in a session's command."""
    return all(_PLAIN_WORD.fullmatch(w) for w in words) and all(_PLAIN_PATH.fullmatch(p) for p in paths)


def _command(words: Sequence[str], path: str, after: str | None) -> str | None:
    """session_command of plain `words` and `path`, `after` the listings after rsync (None: none)."""
    script = _session_listings(words, [path], SAW_BEFORE)
    if script is None:
        return None
    if after is None:
        script += ' exec "$@"'
    else:
        script += f' "$@"; c=$?; {after} exit $c'
    lead = next((i for i, w in enumerate(words) if not _ASSIGNMENT.fullmatch(w)), len(words))
    if lead and (lead == len(words) or "=" in words[lead]):
        return None
    command = f"sh -c '{script.strip()}' sh {' '.join(['env', *words] if lead else words)}"
    return command if len(command) <= SESSION_COMMAND_MAX else None


class Looks:
    """The looks of one backup: made in the transfers' own sessions when `words` (the source's rsync
    over SSH) is given and every directory's session can look (session_command), else apart
    (`look(after)`: symlinked of all the source's directories; the look after too when the last
    session cannot make it). `before`: why each directory refused by a look apart is not backed
    up; `after_seen`: whether the look in the last transfer's session found no link (True), found
    one or could not look (False), or was not made (None)."""

    def __init__(self, words: Sequence[str] | None, paths: Sequence[str],
                 look: Callable[[bool], dict[str, str]]):
        self.paths = list(paths)
        self._look = look
        self.words = list(words) if words is not None else None
        if self.words is not None and (not _plain(self.words, self.paths)
                                       or any(_command(self.words, p, None) is None for p in self.paths)):
            self.words = None
        # the listings after, made once for the last directory's command (the look after is made apart
        # when there are none: more than one listing, or a command too long with them)
        self._after = None if self.words is None else _session_listings(self.words, self.paths, SAW_AFTER)
        self._after_held = False        # whether the last transfer's command holds them
        self.before: dict[str, str] = {}
        self.after_seen: bool | None = None

    def begin(self) -> None:
        """Before the first transfer: the look apart, unless the transfers' sessions look."""
        if self.words is None:
            self.before = self._look(False)

    def rsync_path(self, path: str, last: bool) -> str | None:
        """The --rsync-path of the transfer of `path` (the last directory's: the look after too)."""
        if self.words is None:
            return None
        command = _command(self.words, path, self._after) if last and self._after is not None else None
        self._after_held = command is not None
        return command or _command(self.words, path, None)

    def started(self, returncode: int, stderr_tail: Sequence[str]) -> bool:
        """Whether the source's rsync started in a session that looks first. When it did not (a
        link, a listing the source's rsync refused, a shell that did not take the command, or the
        source's rsync not there), the looks go apart from here on, the first now: `before`."""
        # rsync's own line, not a name of the source's within another (a file it could not read)
        if returncode == 0 or (returncode != SAW_BEFORE and not any(line.startswith(_NOTHING_RECEIVED) for line in stderr_tail)):
            return True
        self.words = None
        self.before = self._look(False)
        return False

    def ended(self, returncode: int | None) -> None:
        """The last transfer's rsync ended with `returncode` (None: stopped): whether its session's
        look after found no link (the client rsync's status is the larger of the remote command's and
        its own: 0, 23 or 24 say that command ended with rsync's own, past that look)."""
        if self.words is not None and self._after_held and returncode is not None:
            self.after_seen = None if returncode not in (0, 23, 24, SAW_AFTER) else returncode != SAW_AFTER

    def read_again(self) -> None:
        """rsync reads the source once more after the look in the last transfer's session."""
        if self.after_seen:
            self.after_seen = None

    def after(self) -> dict[str, str]:
        """After the last transfer: the look apart, unless the last transfer's session found no link."""
        return {} if self.after_seen else self._look(True)
