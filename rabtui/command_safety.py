"""Could a user other than root and this one change what a configured command runs (notify.command,
a local source's pre/post commands and rsync_path)? Their code would run as this user, root often.
The command is read as its shell reads it (command_words); each program is looked for as exec looks
for it on PATH, and each file judged as privacy judges a path (the way to it, it, who may make it)."""

from __future__ import annotations

import dataclasses
import glob
import os
import pwd
import stat
from typing import Sequence

from rabtui import command_words, privacy, shell_line


# the way out of a refusal by command_changeable
FIX = "give it and the directories above it to root or this user (chown), closed to others (chmod go-w)"

# the working directory and PATH of the schedule's runs (ops/schedule.py writes them into its units):
# check-config and the console's form judge a command as the nightly run will run it
SCHEDULED_CWD = "/"
SCHEDULED_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def command_changeable(command: str, cwd: str | None = None, exec_path: Sequence[str] | None = None) -> str | None:
    """Why a user other than root and this one could change what a configured command runs, read
    as a shell would (command_words): each program as PATH finds it, what a wrapper runs (`sudo
    rsync`), the script an interpreter is given (`sh /srv/hooks/alert.sh`, relative ones from the
    working directory, or where the line's `cd` went) and the interpreter a script's `#!` line
    names; what a wrapper runs as another user (`sudo -u postgres ~postgres/dump.sh`) that user may
    change too, which gives them nothing. None (one that does not split, an open quote, is left to
    its run to say). Their code
    would run as this user (root, often). Other files it names (what it writes, a dump of another
    user's) are no code of it. `cwd` and `exec_path`: the working directory and PATH it would run
    with (SCHEDULED_CWD, SCHEDULED_PATH for the schedule's runs), else this process's own."""
    try:
        named = command_words.run_by(command)
        paths = [list(exec_path) if exec_path is not None else os.get_exec_path(),
                 *shell_line.path_assignments(command)]
    except ValueError:
        return None
    if cwd is not None:
        return _first_changeable(named, cwd, 0, paths)
    try:
        cwd = os.getcwd()
    except FileNotFoundError:   # removed: a relative name leads nowhere (its run does not find it)
        cwd = "/"
        named = [n for n in named if n.path("/") is None or os.path.isabs(os.path.join(n.at or "", n.word))]
        paths = [[f for f in folders if os.path.isabs(f)] for folders in paths]
    return _first_changeable(named, cwd, 0, paths)


def _first_changeable(named: list[command_words.Named], cwd: str, depth: int,
                      paths: list[list[str]]) -> str | None:
    for n in named:
        also = _uid(n.user)
        if shell_line.unread(n.word):
            return (f"{shell_line.shown(n.word)[:200]} is named by what only running the line expands (a variable it sets or one not"
                    " set here, $1, ${X:-Y}, $(...), a glob): name the program or script it runs by its path")
        # a path is judged whether there or not yet (whoever can change the way to it may put theirs there)
        path = n.path(cwd)
        if shell_line.globbed(n.word) and path:
            # the folder (where another user may add a match) and each file it matches now, as such
            why = _judged(path, also) or _first_changeable(
                [dataclasses.replace(n, word=m, at=None) for m in sorted(glob.glob(path))], cwd, depth, paths)
            if why:
                return why
            continue
        why = _judged(path, also) if path else None
        if n.each and path and not why:     # run-parts: each file it holds runs
            try:
                entries = sorted(os.listdir(path))
            except OSError:
                entries = []
            why = next(filter(None, (_judged(os.path.join(path, e), also) for e in entries)), None)
            if why:
                return why
            continue
        for folders in paths if path is None else ():      # each PATH the line may look it up in
            path, why = _on_path(n.word, cwd, folders, also)
            if why:
                break
        if not why and path and depth < 4:
            try:    # env -S with an open quote: left to its run to say, as a command's own
                named_there = command_words.run_by_words(command_words.shebang_words(_head(os.path.realpath(path))))
            except ValueError:
                named_there = []
            # a script's interpreter runs as the script does
            named_there = [m if m.user else dataclasses.replace(m, user=n.user) for m in named_there]
            why = _first_changeable(named_there, cwd, depth + 1, paths)
        if why:
            return why
    return None


def _uid(user: str | None) -> int | None:
    """The uid of the user a wrapper runs a command as (a name, or `#UID` as sudo takes it); None for
    the command's own user, or one not known here (whose run fails)."""
    if user is None:
        return None
    try:
        return int(user[1:]) if user.startswith("#") else pwd.getpwnam(user).pw_uid
    except (KeyError, ValueError):
        return None


def _judged(path: str, also: int | None = None) -> str | None:
    real = os.path.realpath(path)
    try:
        device = stat.S_ISCHR(os.stat(real).st_mode)    # sh < /dev/null: what others write there is not read
    except OSError:
        device = False
    return privacy.others_can_change(path, also) or privacy.others_can_make(path, also) or (
        None if device else privacy.others_can_write(real, also))


def _on_path(name: str, cwd: str, folders: list[str], also: int | None = None) -> tuple[str | None, str | None]:
    """The program `name` as exec finds it in the `folders` of a PATH, and why another user could
    change it: it, or the way to it, or a folder before it where they could put one of that name."""
    for folder in folders:
        path = os.path.join(cwd, folder, name)
        closed = _closed_on_the_way(os.path.dirname(path))
        if closed:      # exec passes it over (root's, kept in a PATH after su), unless another user may open it
            why = privacy.others_can_change(closed, also) or privacy.others_can_write(closed, also)
            if why:
                return path, _before(why, folder, name)
            continue
        found = os.path.isfile(path) and os.access(path, os.X_OK)
        why = _judged(path, also) if found else privacy.others_can_change(path, also) or privacy.others_can_make(path, also)
        if why:
            return path, why if found else _before(why, folder, name)
        if found:
            return path, None
    return None, None


def _before(why: str, folder: str, name: str) -> str:
    return (f"{why} (PATH's {folder[:200] or '.'}, looked in for {name[:100]} first: name the program by its full path,"
            " or close that folder)")


def _closed_on_the_way(folder: str) -> str | None:
    """The first directory on the way to `folder` that this user may not search, or None."""
    at = "/"
    for part in [p for p in folder.split("/") if p] + [""]:
        try:
            if stat.S_ISDIR(os.stat(at).st_mode) and not os.access(at, os.X_OK):
                return at
        except OSError:
            return None
        at = os.path.join(at, part)
    return None


def _head(path: str) -> bytes:
    """The first line's bytes of a regular file (a script's `#!`), or none."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):     # a device is not opened (a tape's rewinds)
            return b""
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        return os.read(fd, 256) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)
